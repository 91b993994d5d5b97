#!/usr/bin/env bash
# The standard load set (../shared/bench/run-loads.sh) against the real mailgate binary, and,
# with PEERS=1, against Dovecot (IMAP) and Postfix (submission) in the same run on the same box,
# then mailgate's resident memory after the load and with IDLE_SESSIONS idle IMAP sessions.
#
# usage: testdata/bench/loads.sh [OUTDIR]            (default: a new temp dir)
# Env (optional):
#   BENCH         the shared bench tools (default: <repo>/../shared/bench)
#   PEERS=1       also measure the peers (needs root, dovecot-core, dovecot-imapd,
#                 dovecot-lmtpd, postfix; see $BENCH/README.md)
#   CACHE_SIZE    mailgate's --cache-size (e.g. 256MiB; default: the binary's default)
#   STORE         postgres://… to run mailgate on PostgreSQL (default: the embedded database);
#                 STORE=local-postgres starts a fresh PostgreSQL for the run (Debian's postgresql
#                 package; fsync and synchronous_commit on; as the postgres user when root) and
#                 removes it after
#   NODES=2       with STORE: after the one-node load, start a second node on the same database
#                 and run the load set against both at once, half the clients on each
#                 (OUTDIR/node-a, OUTDIR/node-b, and OUTDIR/two-nodes.md with their sums)
#   IDLE_SESSIONS idle IMAP sessions held open for the second RSS reading (default 100)
#   RUNS DURATION WARMUP CLIENTS CONNS PER_CONN CORPUS_N SKIP_IMAP SKIP_SMTP: run-loads.sh knobs
# Writes OUTDIR/mailgate/ and OUTDIR/peers/ (run-loads.sh results, summary.md in each),
# OUTDIR/rss.txt and OUTDIR/compare.md (ours / the peer's, per headline figure).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BENCH=${BENCH:-$root/../shared/bench}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mailgate-bench.XXXXXX")}
IDLE_SESSIONS=${IDLE_SESSIONS:-100}
[ -x "$BENCH/run-loads.sh" ] || { echo "no $BENCH/run-loads.sh (set BENCH)" >&2; exit 2; }
mkdir -p "$OUT"
export RUNS=${RUNS:-3} DURATION=${DURATION:-20s} CLIENTS=${CLIENTS:-10} CONNS=${CONNS:-10}
RCPTS=$(for i in $(seq 5 20); do printf 'u%04d@example.test,' "$i"; done); RCPTS=${RCPTS%,}

# --- mailgate ------------------------------------------------------------------------------
bin=$OUT/mailgate-bin
(cd "$root" && go build -o "$bin" ./cmd/mailgate)
data=$OUT/data
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IMAP_PORT=$(port); SUB_PORT=$(port); METRICS_PORT=$(port)
extra=()
[ -n "${CACHE_SIZE:-}" ] && extra+=(--cache-size "$CACHE_SIZE")
# STORE=postgres://…: the server (and the CLI here) on that PostgreSQL database instead of the
# embedded one; it must be empty or hold only an earlier run's demo tenant.
store=()
pgdir=
if [ "${STORE:-}" = local-postgres ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pgdir=$(mktemp -d /tmp/mailgate-bench-pg.XXXXXX)
  pgrun() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
  [ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
  pgport=$(port)
  pgrun "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --no-locale > "$OUT/postgres-init.log"
  pgrun "$pgbin/pg_ctl" start -D "$pgdir/data" -w -l "$pgdir/log" -o "-h 127.0.0.1 -p $pgport -k $pgdir -c max_connections=200" > /dev/null
  pgstop() { pgrun "$pgbin/pg_ctl" stop -D "$pgdir/data" -m fast > /dev/null 2>&1 || true; rm -rf "$pgdir"; }
  STORE="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
  echo "# PostgreSQL for this run: $STORE ($pgdir)" >&2
fi
[ -n "${STORE:-}" ] && store=(--store "$STORE")
"$bin" "${store[@]}" serve --demo --data "$data" --insecure-auth --imap-addr "127.0.0.1:$IMAP_PORT" \
  --submission-addr "127.0.0.1:$SUB_PORT" --submissions-addr "" --mx-addr "" --imaps-addr "" \
  --metrics-addr "127.0.0.1:$METRICS_PORT" --admin-http-addr "" --dav-addr "" "${extra[@]}" > "$OUT/server.log" 2>&1 &
pid=$!
stop() { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
trap 'stop; [ -n "$pgdir" ] && pgstop' EXIT
for _ in $(seq 1 100); do [ -S "$data/admin.sock" ] && break; sleep 0.1; done
mg() { "$bin" "${store[@]}" --data "$data" "$@" > /dev/null; }
for u in alice bob carol dave; do mg user passwd "$u@example.test" --password "$u-pw"; done
for i in $(seq 1 20); do mg user add "$(printf 'u%04d' "$i")@example.test" --password bench-pw; done

cat > "$OUT/mailgate.env" <<EOF
IMAP_HOST=127.0.0.1
IMAP_PORT=$IMAP_PORT
OWNER_USER=alice@example.test
OWNER_PASS=alice-pw
CORPUS_MAILBOX=INBOX
DELEGATE_USER=bob@example.test
DELEGATE_PASS=bob-pw
DELEGATED_MAILBOX='Other Users/alice@example.test/INBOX'
SMTP_HOST=127.0.0.1
SMTP_PORT=$SUB_PORT
SENDER_USER=bob@example.test
SENDER_PASS=bob-pw
RCPT=$RCPTS
SENDAS_ALLOWED=alice@example.test
SENDAS_FORBIDDEN=dave@example.test
EOF
# rss: VmRSS and its anonymous and file-backed parts (mmapped database files count), in MiB
rss() {
  awk '/^VmRSS/ {t=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2}
       END {printf "%.0f MiB (anon %.0f MiB, file %.0f MiB)", t/1024, a/1024, f/1024}' "/proc/$pid/status"
}
echo "# mailgate: IMAP $IMAP_PORT, submission $SUB_PORT, data $data" >&2
"$BENCH/run-loads.sh" "$OUT/mailgate.env" "$OUT/mailgate" > /dev/null
{
  echo "mailgate RSS after the load: $(rss)"
  python3 - "$IMAP_PORT" "$IDLE_SESSIONS" "$pid" "$METRICS_PORT" "$OUT/metrics-idle.txt" <<'EOF'
import imaplib, socket, sys, time, urllib.request
port, n, pid, mport, mout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
class IMAP4From(imaplib.IMAP4):
    """IMAP4 from a given loopback source address: the server takes 50 connections per address."""
    def __init__(self, src, *a):
        self.src = src
        super().__init__(*a)
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.src, 0))
conns = []
for i in range(n):
    c = IMAP4From(f"127.0.0.{2 + i // 40}", "127.0.0.1", port)
    c.login("alice@example.test", "alice-pw")
    c.select("INBOX", readonly=True)
    conns.append(c)
time.sleep(2)
kb = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
print(f"mailgate RSS with {n} idle IMAP sessions (each SELECTed the 10k INBOX): {kb['VmRSS']//1024} MiB "
      f"(anon {kb['RssAnon']//1024} MiB, file {kb['RssFile']//1024} MiB)")
with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics") as r, open(mout, "wb") as f:
    f.write(r.read())  # the Go runtime's view of the same moment (go_memstats_*, go_gc_gomemlimit_bytes)
for c in conns:
    c.logout()
EOF
  # the peak over the whole run (seed, loads, idle sessions): what the machine must have for it
  awk '/^VmHWM/ {printf "mailgate peak RSS over the run (VmHWM): %.0f MiB\n", $2/1024}' "/proc/$pid/status"
  # the server's CPU over the whole run (seed and loads) and its major page faults (reads of mapped
  # files that were not in memory): fields 10, 12, 14, 15 of /proc/PID/stat
  awk -v hz="$(getconf CLK_TCK)" '{printf "mailgate CPU: user %.1f s, system %.1f s, major faults %d\n", $14/hz, $15/hz, $12}' "/proc/$pid/stat"
} | tee "$OUT/rss.txt" >&2

# --- two nodes on one database (NODES=2) -----------------------------------------------------
if [ "${NODES:-1}" = 2 ]; then
  [ -n "${STORE:-}" ] || { echo "NODES=2 needs STORE=postgres://…" >&2; exit 2; }
  IMAP_B=$(port); SUB_B=$(port); METRICS_B=$(port)
  "$bin" "${store[@]}" serve --data "$OUT/data-b" --insecure-auth --imap-addr "127.0.0.1:$IMAP_B" \
    --submission-addr "127.0.0.1:$SUB_B" --submissions-addr "" --mx-addr "" --imaps-addr "" \
    --metrics-addr "127.0.0.1:$METRICS_B" --admin-http-addr "" --dav-addr "" "${extra[@]}" > "$OUT/server-b.log" 2>&1 &
  pid_b=$!
  stop() { kill "$pid" "$pid_b" 2>/dev/null; wait "$pid" "$pid_b" 2>/dev/null || true; }
  for _ in $(seq 1 100); do [ -S "$OUT/data-b/admin.sock" ] && break; sleep 0.1; done
  [ -S "$OUT/data-b/admin.sock" ] || { echo "node B did not start (see $OUT/server-b.log)" >&2; exit 1; }
  sed -e "s/^IMAP_PORT=.*/IMAP_PORT=$IMAP_B/" -e "s/^SMTP_PORT=.*/SMTP_PORT=$SUB_B/" "$OUT/mailgate.env" > "$OUT/node-b.env"
  echo "# two nodes: A (IMAP $IMAP_PORT, submission $SUB_PORT) and B (IMAP $IMAP_B, submission $SUB_B)" >&2
  # the corpus is in the database already (the one-node run seeded it through A)
  half() { echo $(( ($1 + 1) / 2 )); }
  export SEED=no CLIENTS=$(half "$CLIENTS") CONNS=$(half "$CONNS")
  "$BENCH/run-loads.sh" "$OUT/mailgate.env" "$OUT/node-a" > /dev/null 2> "$OUT/node-a.log" &
  load_a=$!
  "$BENCH/run-loads.sh" "$OUT/node-b.env" "$OUT/node-b" > /dev/null 2> "$OUT/node-b.log" &
  load_b=$!
  wait "$load_a" && wait "$load_b" || { echo "a two-node load failed (see $OUT/node-a.log, node-b.log)" >&2; exit 1; }
  python3 "$here/sum_nodes.py" "$OUT/node-a" "$OUT/node-b" | tee "$OUT/two-nodes.md" >&2
fi
stop
[ -n "$pgdir" ] && pgstop
trap - EXIT

# --- peers ---------------------------------------------------------------------------------
if [ "${PEERS:-0}" = 1 ]; then
  DD= PD=
  down() {
    [ -n "$PD" ] && { "$BENCH/peers/postfix-down.sh" "$PD" > /dev/null 2>&1 || true; }
    [ -n "$DD" ] && { "$BENCH/peers/dovecot-down.sh" "$DD" > /dev/null 2>&1 || true; }
  }
  trap down EXIT
  DD=$("$BENCH/peers/dovecot-up.sh")
  PD=$("$BENCH/peers/postfix-up.sh" "$DD")
  # shellcheck disable=SC1091
  . "$DD/peer.env" # IMAP_PORT
  # shellcheck disable=SC1091
  . "$PD/peer.env" # SMTP_PORT
  sed -e "s/^IMAP_PORT=.*/IMAP_PORT=$IMAP_PORT/" -e "s/^SMTP_PORT=.*/SMTP_PORT=$SMTP_PORT/" \
    -e "s|^DELEGATED_MAILBOX=.*|DELEGATED_MAILBOX='Other Users/alice'|" "$OUT/mailgate.env" > "$OUT/peers.env"
  SETTLE_CMD="for _ in \$(seq 1 1200); do postqueue -c '$PD/etc' -p 2>/dev/null | grep -q 'Mail queue is empty' && break; sleep 0.5; done; sleep 2" \
    "$BENCH/run-loads.sh" "$OUT/peers.env" "$OUT/peers" > /dev/null
  down
  trap - EXIT
  python3 "$here/compare.py" "$OUT/mailgate" "$OUT/peers" | tee "$OUT/compare.md"
fi
echo "$OUT"
