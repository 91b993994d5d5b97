#!/usr/bin/env bash
# End-to-end suite for several nodes: a PostgreSQL server of its own (Debian's
# postgresql, initdb/pg_ctl in a temp dir on a free loopback port, fsync on), two
# `mailgate serve --store postgres://…` nodes A and B on it, each with every listener
# and its own --data (admin socket, certificate), and real mail programs talking to
# different nodes: swaks, curl, Python's imaplib/smtplib (nodes_check.py), the
# mailgate CLI on the database and through each node's admin socket, and Thunderbird.
# Each check prints PASS/FAIL with its name; the suite ends with "N passed, N failed"
# and exits non-zero on any failure. PostgreSQL and both nodes are stopped on exit,
# also on failure (then the logs' tails are printed and the work dir is kept).
#
# usage: testdata/e2e/nodes.sh [path/to/mailgate]    (default: builds one)
# With CI set, a missing program (PostgreSQL included) is a failure, never a skip.
# As root (CI) PostgreSQL runs as the postgres user (runuser), which it insists on.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
started=$(date +%s)
work=$(mktemp -d /tmp/mailgate-nodes.XXXXXX)
pgdir= pg_bin= pid_a= pid_b=
via_a= # the subject of a message submitted through node A and read on node B

pgrun() { # pgrun PROGRAM ARGS...: one of the server's programs, as postgres when we are root
	if [ "$(id -u)" = 0 ]; then
		(cd "$pgdir" && runuser -u postgres -- "$pg_bin/$1" "${@:2}")
	else
		"$pg_bin/$1" "${@:2}"
	fi
}

stop_node() { # stop_node PID: SIGTERM, then SIGKILL after 20 s
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	timeout 20 tail --pid="$1" -f /dev/null || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cleanup() {
	stop_node "$pid_a"; stop_node "$pid_b"
	if [ -n "$pgdir" ] && [ -d "$pgdir/data" ]; then
		pgrun pg_ctl stop -D "$pgdir/data" -m fast -w -t 30 >/dev/null 2>&1 ||
			pgrun pg_ctl stop -D "$pgdir/data" -m immediate -w -t 30 >/dev/null 2>&1
	fi
	[ -n "$pgdir" ] && cp "$pgdir/log" "$work/postgres.log" 2>/dev/null
	[ -n "$pgdir" ] && rm -rf "$pgdir"
	if [ "$fail" -gt 0 ]; then
		local f
		for f in a.log b.log postgres.log; do
			[ -s "$work/$f" ] || continue
			echo "--- $f (last 30 lines) ---"
			tail -n 30 "$work/$f"
		done
		echo "(work dir kept: $work)"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

finish() {
	echo "nodes.sh took $(($(date +%s) - started))s"
	echo "$pass passed, $fail failed${skip:+, $skip skipped}"
	[ "$fail" -eq 0 ]
	exit
}

bin=${1:-}
if [ -z "$bin" ]; then
	bin="$work/mailgate"
	(cd "$root" && go build -o "$bin" ./cmd/mailgate) || { bad build "go build failed"; finish; }
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# ---- PostgreSQL: Debian's newest in /usr/lib/postgresql/*/bin, else PATH -------------
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pg_bin" ] && PATH="$pg_bin:$PATH"
need initdb "postgresql" || finish
need python3 "python3" || finish
pg_bin=$(dirname "$(command -v initdb)")
read -r P_PG P_SUB_A P_SUBS_A P_MX_A P_IMAP_A P_IMAPS_A P_MET_A P_SUB_B P_SUBS_B P_MX_B P_IMAP_B P_IMAPS_B P_MET_B < <(free_ports 13)
if [ "$(id -u)" = 0 ]; then
	# The postgres user must reach its files: /tmp, whatever TMPDIR says.
	pgdir=$(mktemp -d /tmp/mailgate-nodes-pg.XXXXXX) && chown postgres: "$pgdir" ||
		{ bad postgresql "cannot give a temp dir to the postgres user"; finish; }
else
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/mailgate-nodes-pg.XXXXXX")
fi
if ! pgrun initdb -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$work/initdb.log" 2>&1; then
	bad postgresql "initdb: $(tail -2 "$work/initdb.log" | tr '\n' ' ')"; finish
fi
# fsync and synchronous_commit on (the defaults, said out loud): a 250 means committed.
if ! pgrun pg_ctl start -D "$pgdir/data" -w -t 60 -l "$pgdir/log" \
	-o "-h 127.0.0.1 -p $P_PG -k $pgdir -c fsync=on -c synchronous_commit=on" >"$work/pg_ctl.log" 2>&1; then
	bad postgresql "pg_ctl start: $(tail -2 "$work/pg_ctl.log" | tr '\n' ' ')"; finish
fi
psql() { "$pg_bin/psql" -X -q -At -h 127.0.0.1 -p "$P_PG" -U postgres "$@"; }
version=$(psql -d postgres -c 'SHOW server_version' 2>&1)
fsync=$(psql -d postgres -c 'SHOW fsync' 2>&1)
if [ "$fsync" = on ] && psql -d postgres -c 'CREATE DATABASE mailgate' >"$work/createdb.log" 2>&1; then
	ok "postgresql $version on 127.0.0.1:$P_PG (fsync $fsync), database mailgate created"
else bad postgresql "fsync=$fsync; $(cat "$work/createdb.log")"; finish; fi
DSN="postgres://postgres@127.0.0.1:$P_PG/mailgate?sslmode=disable"

# ---- migrate (idempotent) --------------------------------------------------------
m1=$("$bin" --store "$DSN" migrate 2>&1) m2=$("$bin" --store "$DSN" migrate 2>&1)
if echo "$m1" | grep -q 'postgres database migrated to schema version' && echo "$m2" | grep -q 'nothing to do'; then
	ok "mailgate migrate: $m1; again: $m2"
else bad "mailgate migrate" "first: $m1; second: $m2"; fi

# ---- two nodes: A seeds the demo tenant, B joins ----------------------------------
start_node() { # start_node NAME SUB SUBS MX IMAP IMAPS METRICS [serve args]: sets pid_NAME
	local n=$1
	"$bin" --data "$work/$n" --store "$DSN" serve --insecure-auth --hostname "mail-$n.example.test" \
		--submission-addr "127.0.0.1:$2" --submissions-addr "127.0.0.1:$3" --mx-addr "127.0.0.1:$4" \
		--imap-addr "127.0.0.1:$5" --imaps-addr "127.0.0.1:$6" --metrics-addr "127.0.0.1:$7" --admin-http-addr "" --dav-addr "" "${@:8}" \
		>"$work/$n.banner" 2>"$work/$n.log" &
	eval "pid_$n=$!"
	wait_banner "$work/$n.banner" "$!"
}
if start_node a "$P_SUB_A" "$P_SUBS_A" "$P_MX_A" "$P_IMAP_A" "$P_IMAPS_A" "$P_MET_A" --demo; then
	ok "node A starts on PostgreSQL with --demo (seeds example.test) and prints its banner"
else bad "node A starts" "no banner within 30s"; finish; fi
if start_node b "$P_SUB_B" "$P_SUBS_B" "$P_MX_B" "$P_IMAP_B" "$P_IMAPS_B" "$P_MET_B"; then
	ok "node B starts on the same database (no --demo) and prints its banner"
else bad "node B starts" "no banner within 30s"; finish; fi

pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$work/a/demo-logins.txt"; }
ALICE=$(pw alice) BOB=$(pw bob) CAROL=$(pw carol) DAVE=$(pw dave)
if [ -n "$ALICE" ] && [ -n "$BOB" ] && [ -n "$CAROL" ] && [ -n "$DAVE" ]; then
	ok "node A's demo-logins.txt has the four logins"
else bad "demo logins" "missing in $work/a/demo-logins.txt"; finish; fi

IMAP_A="imap://127.0.0.1:$P_IMAP_A" IMAP_B="imap://127.0.0.1:$P_IMAP_B"
hdrs() { echo "$1" | grep -iE '^(from|sender):' | tr '\r\n' '  '; }
swaks_err() { grep -E '^<(\*\*|-|~) +[45]' "$1" | tail -1; }

# ---- swaks + curl: the send rows, submitted to one node, read on the other -----------
if need swaks "swaks across nodes" && need curl "curl across nodes"; then
	send() { # send PORT NAME USER PASS SUBJECT [extra swaks args]: From alice, To alice
		swaks --server "127.0.0.1:$1" --auth PLAIN --auth-user "$3" --auth-password "$4" \
			--from "$3" --to alice@example.test --header "Subject: $5" --header "From: alice@example.test" \
			--body "nodes e2e: $5" --timeout 20 "${@:6}" >"$work/swaks-$2.log" 2>&1
	}
	if send "$P_SUB_B" sendas bob@example.test "$BOB" "nodes send-as via B"; then
		h=$(imap_find "$IMAP_A" alice@example.test "$ALICE" INBOX "nodes send-as via B")
		if echo "$h" | grep -qi '^From: alice@example.test' && ! echo "$h" | grep -qi '^Sender:'; then
			ok "swaks: bob sends as alice through node B; curl as alice on node A: From alice, no Sender"
		else bad "send as across nodes" "on A: $(hdrs "$h")"; fi
	else bad "send as across nodes" "node B: $(swaks_err "$work/swaks-sendas.log")"; fi

	if send "$P_SUB_A" onbehalf carol@example.test "$CAROL" "nodes on-behalf via A"; then
		h=$(imap_find "$IMAP_B" alice@example.test "$ALICE" INBOX "nodes on-behalf via A")
		if echo "$h" | grep -qiE '^Sender: (.*<)?carol@example.test>?'; then
			via_a="nodes on-behalf via A"
			ok "swaks: carol sends on behalf of alice through node A; curl as alice on node B: Sender: carol"
		else bad "send on behalf across nodes" "on B: $(hdrs "$h")"; fi
	else bad "send on behalf across nodes" "node A: $(swaks_err "$work/swaks-onbehalf.log")"; fi

	send "$P_SUB_B" refused dave@example.test "$DAVE" "nodes refused via B"
	if grep -qE '^<(\*\*|-|~) +550 5\.7\.1 .*alice@example.test' "$work/swaks-refused.log"; then
		ok "swaks: dave (no rights) as alice through node B is refused with 550 5.7.1"
	else bad "dave refused on node B" "$(grep -E '^<[-~]' "$work/swaks-refused.log" | tail -2 | tr '\n' ' ')"; fi
fi

# ---- imaplib/smtplib: IDLE on A sees B's delivery; a flag set on B is seen on A --------
check() { # check NAME SUBCOMMAND ARGS...: nodes_check.py, its lines indented on PASS
	local name=$1 out
	shift
	if out=$(python3 "$here/nodes_check.py" "$@" 2>&1); then
		echo "$out" | sed 's/^/  /'; ok "$name"
	else bad "$name" "$(echo "$out" | tail -1 | sed 's/^FAIL: //')"; fi
}
check "imaplib: bob's IDLE on node A in Other Users/alice@example.test/INBOX shows mail delivered through node B's MX (smtplib)" \
	idle "127.0.0.1:$P_IMAP_A" "$BOB" "127.0.0.1:$P_MX_B" "nodes idle via B MX"
check "imaplib: bob\\alice on node B flags a message; alice's session on node A sees \\Flagged" \
	flag "127.0.0.1:$P_IMAP_B" "$BOB" "127.0.0.1:$P_IMAP_A" "$ALICE" "nodes idle via B MX"

# ---- grants: revoked on the database directly, granted again through A's socket --------
check "CLI on the database (--store): grant remove refuses bob's next command in his open session on node A" \
	revoke "127.0.0.1:$P_IMAP_A" "$BOB" -- "$bin" --store "$DSN" grant remove alice@example.test bob@example.test --right full-access
check "CLI through node A's admin socket: grant add --now lets bob open alice's INBOX on node B" \
	regrant "127.0.0.1:$P_IMAP_B" "$BOB" -- "$bin" --data "$work/a" grant add alice@example.test bob@example.test --right full-access --now
# Through the socket, not on a database of its own in --data:
[ -e "$work/a/db" ] && bad "grant through node A's socket" "the CLI made $work/a/db instead of using admin.sock"

# ---- Thunderbird as bob on node B: alice's INBOX with the mail submitted on node A -------
# (without swaks, outside CI, there is no such message: then the folder and its messages alone)
if need Xvfb "thunderbird" && need thunderbird "thunderbird" && need import "thunderbird"; then
	out=$(IMAP_HOST=127.0.0.1 IMAP_PORT=$P_IMAPS_B IMAP_TLS=ssl TLS_CERT="$work/b/tls/cert.pem" USER=bob@example.test \
		PASS="$BOB" OWNER=alice@example.test EXPECT_SUBJECT="$via_a" "$here/thunderbird.sh" 2>"$work/thunderbird.log")
	tb_report "$out" "$work/thunderbird.log"
fi

# ---- one audit trail: what happened on either node, read through node B's socket -------
"$bin" --data "$work/b" audit --jsonl >"$work/audit.jsonl" 2>&1
missing=$(python3 - "$work/audit.jsonl" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    seen.add((r["actor"], r["proto"], r["action"], r["decision"]))
want = [("bob@example.test", "smtp", "send", "allowed"), ("carol@example.test", "smtp", "send", "allowed"),
        ("dave@example.test", "smtp", "send", "refused"), ("bob@example.test", "imap", "login", "allowed"),
        ("bob@example.test", "imap", "folder_bind", "allowed"),
        ("bob@example.test", "imap", "folder_bind", "refused")]
print(" ".join("/".join(w) for w in want if w not in seen))
for action in ("grant_remove", "grant_add"):
    if not any(a == action for _, _, a, _ in seen):
        print("admin/" + action)
PY
)
if [ -z "$missing" ] && [ -s "$work/audit.jsonl" ]; then
	ok "audit --jsonl through node B's socket: sends and opens on both nodes, the refusals, the grant changes ($(wc -l <"$work/audit.jsonl") records)"
else bad "audit across nodes" "missing: $missing $(head -c 200 "$work/audit.jsonl")"; fi

# ---- logs never carry passwords; both nodes stop cleanly --------------------------------
for n in a b; do
	if [ ! -s "$work/$n.log" ]; then bad "node ${n^^} log" "empty"
	elif grep -qF -e "$ALICE" -e "$BOB" -e "$CAROL" -e "$DAVE" "$work/$n.log"; then bad "node ${n^^} log" "a password appears in it"
	else ok "node ${n^^}: no password in its log"; fi
done
for n in a b; do
	pid_var=pid_$n pid=${!pid_var}
	kill -TERM "$pid"
	if timeout 20 tail --pid="$pid" -f /dev/null; then
		wait "$pid"; rc=$?
		eval "pid_$n="
		[ "$rc" = 0 ] && [ ! -e "$work/$n/admin.sock" ] && ok "node ${n^^}: SIGTERM, clean shutdown, admin.sock removed" ||
			bad "node ${n^^} shutdown" "exit $rc"
	else bad "node ${n^^} shutdown" "still running 20s after SIGTERM"; fi
done
finish
