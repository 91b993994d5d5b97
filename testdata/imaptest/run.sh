#!/usr/bin/env bash
# IMAP conformance: Dovecot's imaptest scripted tests against the real mailgate binary.
# One imaptest process per test file, on a fresh data dir with one tenant and one user,
# only the plain IMAP listener (loopback, --insecure-auth). Prints one line per test,
#   PASS|FAIL|SKIP name (N commands)
# (a FAIL also shows imaptest's error lines, indented), then "N passed, N failed, N skipped".
#
# usage: testdata/imaptest/run.sh [path/to/mailgate]    (default: builds one)
# Env (optional):
#   IMAPTEST           the imaptest binary (default: <repo>/../shared/tools/imaptest/imaptest)
#   IMAPTEST_TESTS     its test scripts (default: $(dirname $IMAPTEST)/tests)
#   IMAPTEST_TIMEOUT   seconds per test file, a hang is a failure (default 30)
#   IMAPTEST_MIN_PASS  fewer passed tests is a failure too (default 67, Dovecot's result: 67 of 71)
#   IMAPTEST_XFAIL     known failures, space-separated (default none)
#   IMAPTEST_ONLY      run only these tests (space-separated names), for debugging
#   IMAPTEST_VERBOSE=1 imaptest's whole output for failed tests
#   KEEP=1             keep the work dir (server log, per-test output) also when all pass
# Without imaptest (or without libdovecot, Debian's dovecot-core): "SKIP imaptest: ..." and
# exit 0; with CI set that is a failure (exit 1).
# A test is SKIP when imaptest ran 0 commands in it: the server lacks a capability named
# in its "capabilities:" header (this imaptest prints "0 skipped" even then).
# Exit status: 0 only if no test failed and at least IMAPTEST_MIN_PASS passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TIMEOUT=${IMAPTEST_TIMEOUT:-30}
MIN_PASS=${IMAPTEST_MIN_PASS:-67}
# Known failures, each with its reason in the closing note of the session
# that listed it; a listed test that passes is reported (XPASS) so the list
# shrinks. None today.
XFAIL=" ${IMAPTEST_XFAIL-} "
xfailed=0
start=$(date +%s)

# ---- find imaptest -------------------------------------------------------------
absent() { # absent REASON: SKIP outside CI, failure in CI
	if [ -n "${CI:-}" ]; then
		echo "FAIL imaptest: $1"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "SKIP imaptest: $1"
	exit 0
}
IMAPTEST=${IMAPTEST:-$root/../shared/tools/imaptest/imaptest}
[ -f "$IMAPTEST" ] && [ -x "$IMAPTEST" ] || absent "not found (set IMAPTEST)"
IMAPTEST=$(cd "$(dirname "$IMAPTEST")" && pwd)/$(basename "$IMAPTEST")
TESTS=${IMAPTEST_TESTS:-$(dirname "$IMAPTEST")/tests}
[ -f "$TESTS/default.mbox" ] || absent "no test scripts in $TESTS (set IMAPTEST_TESTS)"
# With no arguments but --help imaptest prints its usage and exits 0: that proves it
# starts (the dynamic loader finds libdovecot.so.0 in /usr/lib/dovecot).
if ! probe=$(LC_ALL=C timeout 10 "$IMAPTEST" --help 2>&1); then
	absent "$IMAPTEST does not start ($(echo "$probe" | grep -m1 -iE 'error|not found' || echo "$probe" | head -1); libdovecot comes with Debian's dovecot-core)"
fi

# ---- work dir, server, cleanup ---------------------------------------------------
work=$(mktemp -d /tmp/mailgate-imaptest.XXXXXX)
server_pid=
failed=0
keep=     # set: keep the work dir and show the server log's tail
shown=
show_log() {
	[ -n "$shown" ] && return
	shown=1
	echo "--- server log (last 20 lines) ---"
	tail -n 20 "$work/server.log" 2>/dev/null
	echo "(work dir kept: $work: server.log, out/<test> = imaptest's output per test)"
}
child=     # the running imaptest (its timeout wrapper)
cleanup() {
	if [ -n "$child" ]; then # interrupted: timeout passes the signal on to imaptest
		kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
	fi
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		timeout 10 tail --pid="$server_pid" -f /dev/null 2>/dev/null || kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	if [ "$failed" -gt 0 ] || [ -n "$keep" ] || [ "${KEEP:-0}" = 1 ]; then
		show_log
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'keep=1; exit 1' INT TERM

bin=${1:-}
if [ -z "$bin" ]; then
	bin="$work/mailgate"
	(cd "$root" && go build -o "$bin" ./cmd/mailgate) || { failed=1; echo "FAIL build"; echo "0 passed, 1 failed"; exit 1; }
fi

data="$work/data" user=tester@imaptest.test pass=imaptest-pw-$$
mkdir -p "$work/out"
# No server runs yet: the CLI opens the data dir itself.
if ! { "$bin" --data "$data" tenant add imaptest.test &&
	echo "$pass" | "$bin" --data "$data" user add "$user" --password-stdin; } >"$work/setup.log" 2>&1; then
	failed=1; echo "FAIL imaptest setup: $(tail -1 "$work/setup.log")"; echo "0 passed, 1 failed"; exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$data" --insecure-auth --imap-addr "127.0.0.1:$port" --submission-addr "" \
	--submissions-addr "" --mx-addr "" --imaps-addr "" --metrics-addr "" --admin-http-addr "" --dav-addr "" \
	>"$work/banner.txt" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do
	grep -q '^mailgate is running' "$work/banner.txt" 2>/dev/null && break
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^mailgate is running' "$work/banner.txt"; then
	failed=1; echo "FAIL imaptest: the server did not start (no banner within 30s)"; echo "0 passed, 1 failed"; exit 1
fi

# ---- one imaptest process per test file --------------------------------------------
if [ -n "${IMAPTEST_ONLY:-}" ]; then
	names=$IMAPTEST_ONLY
else
	names=$(cd "$TESTS" && LC_ALL=C ls -1 | while IFS= read -r n; do
		[ -f "$n" ] && [ "${n%.mbox}" = "$n" ] && echo "$n"; done)
fi
passed=0 skipped=0 cmds=0 cmds_failed=0 failed_names=()
for name in $names; do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "FAIL $name (0 commands): the server is no longer running"
		failed=$((failed + 1)) failed_names+=("$name"); continue
	fi
	out="$work/out/$name"
	# In the background, so that a signal to this script is handled at once (see cleanup).
	LC_ALL=C timeout -k 5 "$TIMEOUT" "$IMAPTEST" host=127.0.0.1 port="$port" user="$user" pass="$pass" \
		box=imaptest test="$TESTS/$name" >"$out" 2>&1 </dev/null &
	child=$!
	wait "$child"
	rc=$?
	child=
	groups=$(sed -nE 's/^[0-9]+ test groups: ([0-9]+) failed.*/\1/p' "$out")
	read -r bf bt < <(sed -nE 's#^base protocol: ([0-9]+)/([0-9]+) .*#\1 \2#p' "$out")
	read -r ef et < <(sed -nE 's#^extensions: ([0-9]+)/([0-9]+) .*#\1 \2#p' "$out")
	n=$((${bt:-0} + ${et:-0})) nf=$((${bf:-0} + ${ef:-0}))
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		verdict=FAIL why=": timeout after ${TIMEOUT}s"
	elif [ -z "$groups" ]; then
		verdict=FAIL why=": no summary from imaptest (exit $rc)"
	elif [ "$groups" != 0 ]; then
		verdict=FAIL why=": $nf failed"
	elif [ "$n" = 0 ]; then
		verdict=SKIP why=": 0 commands run (a capability it needs is missing)"
	else
		verdict=PASS why=""
	fi
	cmds=$((cmds + n)) cmds_failed=$((cmds_failed + nf))
	echo "$verdict $name ($n commands)$why"
	case "$verdict:$XFAIL" in
	FAIL:*" $name "*) verdict=XFAIL ;;
	PASS:*" $name "*) echo "XPASS $name: remove it from IMAPTEST_XFAIL" ;;
	esac
	case $verdict in
	PASS) passed=$((passed + 1)) ;;
	XFAIL) xfailed=$((xfailed + 1)); echo "    (known failure, listed in IMAPTEST_XFAIL)" ;;
	SKIP) skipped=$((skipped + 1)) ;;
	FAIL)
		failed=$((failed + 1)) failed_names+=("$name")
		if [ "${IMAPTEST_VERBOSE:-0}" = 1 ]; then
			sed 's/^/    | /' "$out"
		else # the first failure in full: which test line, what failed, the command
			grep -E '^\*\*\* Test|^ - |^Error|[Ee]rror:|timeout' "$out" | head -8 | cut -c1-240 | sed 's/^/    | /'
		fi ;;
	esac
done

echo "commands: $cmds_failed/$cmds failed; $(($(date +%s) - start))s"
[ "${#failed_names[@]}" -gt 0 ] && echo "failed tests: ${failed_names[*]}"
short=
if [ "$passed" -lt "$MIN_PASS" ]; then
	short=1
	echo "FAIL imaptest: only $passed tests passed, at least $MIN_PASS must (IMAPTEST_MIN_PASS)"
fi
status=0
if [ "$failed" -gt 0 ] || [ -n "$short" ]; then
	status=1 keep=1
	show_log # before the closing line, which stays the last line
fi
[ "$xfailed" -gt 0 ] && echo "known failures (IMAPTEST_XFAIL): $xfailed"
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
