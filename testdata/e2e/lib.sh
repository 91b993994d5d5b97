# Helpers shared by the end-to-end suites (run.sh, dav.sh, nodes.sh); sourced, not run.
# The suite counts its checks in pass/fail/skip and ends with "N passed, N failed".
pass=0 fail=0 skip=0

ok()   { echo "PASS $1"; pass=$((pass + 1)); }
bad()  { echo "FAIL $1: $2"; fail=$((fail + 1)); }
need() { # need PROGRAM CHECKNAME: true if present; else FAIL in CI, SKIP outside
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ -n "${CI:-}" ]; then bad "$2" "$1 is not installed"; else echo "SKIP $2: $1 is not installed"; skip=$((skip + 1)); fi
	return 1
}

# stop_server_and_clean: the EXIT cleanup of a one-server suite: stop $server_pid;
# after a failure print the end of $work/server.log and keep $work, else remove it.
stop_server_and_clean() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	if [ "$fail" -gt 0 ]; then
		echo "--- server log (last 40 lines) ---"
		tail -n 40 "$work/server.log" 2>/dev/null
		echo "(work dir kept: $work)"
	else
		rm -rf "$work"
	fi
}

# build_bin [PATH]: set $bin to PATH, or build one into $work (exits on failure).
build_bin() {
	bin=${1:-}
	[ -n "$bin" ] && return 0
	bin="$work/mailgate"
	(cd "$root" && go build -o "$bin" ./cmd/mailgate) || { echo "FAIL build"; echo "0 passed, 1 failed"; exit 1; }
}

# free_ports N: N free loopback ports on one line (bound to port 0 and released; the
# server binds them right after).
free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

# wait_banner BANNER_FILE PID: true once `mailgate serve` has printed its banner
# (at most 30 s; false at once if the process exits).
wait_banner() {
	local _
	for _ in $(seq 1 300); do
		grep -q '^mailgate is running' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^mailgate is running' "$1" 2>/dev/null
}

# imap_find URL USER PASS FOLDER SUBJECT: print the header block of the message
# with that subject in FOLDER (curl, IMAP); false if there is none.
imap_find() {
	local uid
	uid=$(curl -sS --max-time 20 --user "$2:$3" "$1/$4" -X "UID SEARCH SUBJECT \"$5\"" | tr -d '\r' | awk '/^\* SEARCH/ { print $NF }')
	[ -n "$uid" ] || return 1
	curl -sS --max-time 20 --user "$2:$3" "$1/$4;UID=$uid;SECTION=HEADER"
}

# report CHECK OUTPUT STDERR_FILE: count the one "PASS CHECK: ..." or "FAIL CHECK: ..."
# line a script printed (OUTPUT); no such line is a failure.
report() {
	case $2 in
	"PASS $1: "*) ok "${2#PASS }" ;;
	"FAIL $1: "*) bad "$1" "${2#FAIL "$1": }" ;;
	*) bad "$1" "no result line: $(tail -2 "$3" | tr '\n' ' ')" ;;
	esac
}

# tb_report OUTPUT STDERR_FILE [sharing]: count the PASS/FAIL lines thunderbird.sh
# printed (OUTPUT); a missing result line is a failure, and with "sharing" so is a
# missing "thunderbird sharing" line.
tb_report() {
	local line
	echo "$1" | grep -q '^PASS thunderbird:\|^FAIL thunderbird:' || bad thunderbird "no result line: $(tail -2 "$2" | tr '\n' ' ')"
	if [ "${3:-}" = sharing ]; then
		echo "$1" | grep -q '^PASS thunderbird sharing:\|^FAIL thunderbird sharing:' ||
			bad "thunderbird sharing" "no result line: $(echo "$1" | tail -1)"
	fi
	while IFS= read -r line; do
		case $line in
		PASS\ thunderbird*) ok "${line#PASS }" ;;
		FAIL\ thunderbird*:*) line=${line#FAIL }; bad "${line%%:*}" "${line#*: }" ;;
		esac
	done <<<"$1"
}
