#!/usr/bin/env bash
# End-to-end suite: the real mailgate binary on free loopback ports with a
# fresh data dir and the demo tenant, driven by real mail programs:
# swaks, curl, Python's imaplib and smtplib, mutt (under tmux), mbsync and Thunderbird (its
# folder view, and its account wizard through client autoconfiguration).
# Each check prints PASS/FAIL with its name; the suite ends with
# "N passed, N failed" and exits non-zero on any failure.
#
# usage: testdata/e2e/run.sh [path/to/mailgate]    (default: builds one)
# With CI set, a missing client program is a failure, never a skip.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
work=$(mktemp -d /tmp/mailgate-e2e.XXXXXX)
server_pid=

cleanup() {
	tmux -L mailgate-e2e kill-server 2>/dev/null
	stop_server_and_clean
}
trap cleanup EXIT
build_bin "${1:-}"

read -r P_SUB P_SUBS P_MX P_IMAP P_IMAPS P_METRICS P_WEB P_DAV < <(free_ports 8)
data="$work/data"
"$bin" serve --demo --data "$data" --insecure-auth --hostname mail.example.test \
	--submission-addr "127.0.0.1:$P_SUB" --submissions-addr "127.0.0.1:$P_SUBS" --mx-addr "127.0.0.1:$P_MX" \
	--imap-addr "127.0.0.1:$P_IMAP" --imaps-addr "127.0.0.1:$P_IMAPS" --metrics-addr "127.0.0.1:$P_METRICS" \
	--admin-http-addr "127.0.0.1:$P_WEB" --dav-addr "127.0.0.1:$P_DAV" >"$work/banner.txt" 2>"$work/server.log" &
server_pid=$!
if ! wait_banner "$work/banner.txt" "$server_pid"; then
	bad "server starts" "no banner within 30s"; echo "$pass passed, $fail failed"; exit 1
fi
ok "server starts with --demo and prints its banner"

pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$data/demo-logins.txt"; }
ALICE=$(pw alice) BOB=$(pw bob) CAROL=$(pw carol) DAVE=$(pw dave)
[ -n "$ALICE" ] && [ -n "$BOB" ] && [ -n "$CAROL" ] && [ -n "$DAVE" ] && ok "demo-logins.txt has the four logins" || bad "demo logins" "missing in $data/demo-logins.txt"
[ "$(stat -c %a "$data/demo-logins.txt")" = 600 ] && ok "demo-logins.txt is mode 0600" || bad "demo-logins mode" "$(stat -c %a "$data/demo-logins.txt")"

IMAP="imap://127.0.0.1:$P_IMAP"
DELEG="Other%20Users/alice@example.test/INBOX"

# ---- swaks: the three send rows ------------------------------------------
send() { # send NAME USER PASS FROM SUBJECT [extra swaks args]
	local name=$1 user=$2 pass=$3 from=$4 subject=$5; shift 5
	swaks --server "127.0.0.1:$P_SUB" --auth PLAIN --auth-user "$user" --auth-password "$pass" \
		--from "$from" --to dave@example.test --header "Subject: $subject" --header "From: $from" \
		--body "e2e body for $subject" --timeout 20 "$@" >"$work/swaks-$name.log" 2>&1
}
find_msg() { imap_find "$IMAP" "$@"; } # find_msg USER PASS FOLDER SUBJECT → the header block of that message

if need swaks "swaks bob sends as alice"; then
	if send sendas bob@example.test "$BOB" alice@example.test "e2e send-as"; then
		h=$(find_msg dave@example.test "$DAVE" INBOX "e2e send-as")
		if echo "$h" | grep -qi '^From: alice@example.test' && ! echo "$h" | grep -qi '^Sender:'; then
			ok "swaks bob sends as alice: delivered From alice, no Sender"
		else bad "swaks bob sends as alice" "delivered header: $(echo "$h" | grep -iE '^(from|sender):' | tr '\r\n' '  ')"; fi
	else bad "swaks bob sends as alice" "$(grep -E '^<(\*\*|-|~) +[45]' "$work/swaks-sendas.log" | tail -1)"; fi

	if send onbehalf carol@example.test "$CAROL" alice@example.test "e2e on-behalf" --header "Sender: mallory@evil.test"; then
		h=$(find_msg dave@example.test "$DAVE" INBOX "e2e on-behalf")
		if echo "$h" | grep -qiE '^Sender: (.*<)?carol@example.test>?' && ! echo "$h" | grep -qi mallory; then
			ok "swaks carol sends on behalf of alice: delivered with Sender: carol"
		else bad "swaks carol on behalf" "delivered header: $(echo "$h" | grep -iE '^(from|sender):' | tr '\r\n' '  ')"; fi
	else bad "swaks carol on behalf" "$(grep -E '^<(\*\*|-|~) +[45]' "$work/swaks-onbehalf.log" | tail -1)"; fi

	swaks --server "127.0.0.1:$P_SUB" --auth PLAIN --auth-user dave@example.test --auth-password "$DAVE" \
		--from dave@example.test --to bob@example.test --h-From alice@example.test --header "Subject: e2e refused" \
		--timeout 20 >"$work/swaks-refused.log" 2>&1
	if grep -qE '^<(\*\*|-|~) +550 5\.7\.1 .*alice@example.test' "$work/swaks-refused.log"; then
		ok "swaks dave (no rights) is refused with 550 5.7.1 naming alice"
	else bad "swaks dave refused" "$(grep -E '^<[-~]' "$work/swaks-refused.log" | tail -2 | tr '\n' ' ')"; fi

	if swaks --server "127.0.0.1:$P_SUBS" --tls-on-connect --auth PLAIN --auth-user bob@example.test --auth-password "$BOB" \
		--from bob@example.test --to alice@example.test --header "Subject: e2e over tls" --timeout 20 >"$work/swaks-tls.log" 2>&1; then
		ok "swaks over implicit TLS (self-signed certificate)"
	else bad "swaks implicit TLS" "$(tail -3 "$work/swaks-tls.log" | tr '\n' ' ')"; fi
fi

# ---- curl: IMAP listing and reading ------------------------------------------
if need curl "curl lists alice's delegated INBOX"; then
	list=$(curl -sS --max-time 20 --user "bob@example.test:$BOB" "$IMAP/" 2>&1)
	if echo "$list" | grep -q '"Other Users/alice@example.test/INBOX"'; then
		ok "curl: bob's LIST shows Other Users/alice@example.test/INBOX"
	else bad "curl LIST bob" "$(echo "$list" | tr '\r\n' '  ' | cut -c1-300)"; fi
	msg=$(curl -sS --max-time 20 --user "bob@example.test:$BOB" "$IMAP/$DELEG;UID=1" 2>&1)
	if echo "$msg" | grep -q 'Subject: Welcome to mailgate'; then
		ok "curl: bob reads alice's message in Other Users/alice@example.test/INBOX"
	else bad "curl read delegated" "$(echo "$msg" | head -5 | tr '\r\n' '  ')"; fi
	list=$(curl -sS --max-time 20 --user "dave@example.test:$DAVE" "$IMAP/" 2>&1)
	if echo "$list" | grep -q 'INBOX' && ! echo "$list" | grep -q 'Other Users'; then
		ok "curl: dave (no rights) sees no Other Users folder"
	else bad "curl LIST dave" "$(echo "$list" | tr '\r\n' '  ' | cut -c1-300)"; fi
	out=$(curl -v --max-time 20 --user "dave@example.test:$DAVE" "$IMAP/$DELEG;UID=1" 2>&1)
	# dave logs in, and SELECT answers as for a folder that does not exist.
	if echo "$out" | grep -q '^< A002 OK ' &&
		echo "$out" | grep -q '^< A[0-9]* NO \[NONEXISTENT\]' && ! echo "$out" | grep -q 'Welcome'; then
		ok "curl: dave cannot read alice's INBOX (NO [NONEXISTENT] after a good login)"
	else bad "curl dave read" "$(echo "$out" | grep '^< A' | tr '\r\n' '  ')"; fi
	out=$(curl -sS --max-time 20 --insecure --user "bob@example.test\\alice@example.test:$BOB" "imaps://127.0.0.1:$P_IMAPS/INBOX;UID=1" 2>&1)
	if echo "$out" | grep -q 'Subject: Welcome to mailgate'; then
		ok "curl over IMAPS: delegate login bob\\alice opens alice's INBOX"
	else bad "curl delegate login" "$(echo "$out" | head -3 | tr '\r\n' '  ')"; fi
fi

# ---- Python imaplib and smtplib ------------------------------------------
if need python3 "python imaplib"; then
	if out=$(python3 "$here/imaplib_check.py" 127.0.0.1 "$P_IMAP" "$BOB" "$DAVE" 2>&1); then
		echo "$out" | sed 's/^/  /'
		ok "python imaplib: bob flags and moves alice's message; dave is refused"
	else bad "python imaplib" "$(echo "$out" | tail -3 | tr '\n' ' ')"; fi
	if out=$(python3 "$here/imaplib_delegate_login.py" 127.0.0.1 "$P_IMAP" "$BOB" 2>&1); then
		ok "python imaplib: plain login('bob@example.test\\alice@example.test') opens alice's mailbox as INBOX"
	else bad "python imaplib delegate login (backslash atom)" "$(echo "$out" | tail -1 | sed "s/^FAIL: //")"; fi
	if out=$(python3 "$here/smtplib_check.py" 127.0.0.1 "$P_SUB" "$CAROL" "$DAVE" 2>&1); then
		ok "python smtplib: carol on behalf accepted, dave as alice refused 550 5.7.1"
	else bad "python smtplib" "$(echo "$out" | tail -3 | tr '\n' ' ')"; fi
fi

# ---- mutt under tmux: open the delegated INBOX, then send on a right -------
if need mutt "mutt" && need tmux "mutt"; then
	mkdir -p "$work/mutt"
	cat >"$work/mutt/muttrc" <<MUTTRC
set imap_user = "bob@example.test"
set imap_pass = "$BOB"
set imap_delim_chars = "/"  # owner addresses contain dots: "/" is the only separator
set smtp_url = "smtp://bob%40example.test@127.0.0.1:$P_SUB/"
set smtp_pass = "$BOB"
set ssl_starttls = no
set ssl_force_tls = no
set folder = "imap://127.0.0.1:$P_IMAP/"
set spoolfile = "+Other Users/alice@example.test/INBOX"
set record = ""
set header_cache = ""
set message_cachedir = ""
set imap_check_subscribed = yes
set mail_check = 5
set timeout = 5
set sort = date
set confirmappend = no
set use_from = yes
set envelope_from = no
set charset = "utf-8"
MUTTRC
	mutt_screen() { # mutt_screen SESSION MUTTRC: run mutt in tmux until alice's message shows (20s); screen in $screen
		local _
		tmux -L mailgate-e2e new-session -d -s "$1" -x 200 -y 50 "mutt -n -F $2; sleep 2"
		seen=
		for _ in $(seq 1 100); do
			screen=$(tmux -L mailgate-e2e capture-pane -p -t "$1" 2>/dev/null)
			if echo "$screen" | grep -q 'Welcome to mailgate'; then seen=1; break; fi
			echo "$screen" | grep -qE 'NONEXISTENT|no such mailbox' && break
			sleep 0.2
		done
		echo "$screen" >"$work/mutt/screen-$1.txt"
		tmux -L mailgate-e2e send-keys -t "$1" q 2>/dev/null; tmux -L mailgate-e2e send-keys -t "$1" y 2>/dev/null
	}
	mutt_screen mutt "$work/mutt/muttrc"
	if [ -n "$seen" ] && echo "$screen" | grep -q 'Other Users/alice@example.test/INBOX'; then
		ok "mutt (tmux): bob opens Other Users/alice@example.test/INBOX and sees alice's messages"
	else bad "mutt open delegated INBOX" "screen: $(echo "$screen" | grep -v '^$' | head -5 | tr '\n' '|')"; fi
	# The same with mutt's stock imap_delim_chars ("/."): mutt turns every "." of the path into
	# the server's delimiter before sending it (imap_fix_path), so the server receives
	# "Other Users/alice@example/test/INBOX" and must read it as alice's INBOX.
	grep -v imap_delim_chars "$work/mutt/muttrc" >"$work/mutt/muttrc-stock"
	mutt_screen mutt-stock "$work/mutt/muttrc-stock"
	if [ -n "$seen" ] && echo "$screen" | grep -q 'Other Users/alice@example.test/INBOX' &&
		echo "$screen" | grep -q 'e2e over tls'; then
		ok "mutt (tmux, stock imap_delim_chars): bob opens Other Users/alice@example.test/INBOX and sees alice's messages"
	else bad "mutt stock config, delegated INBOX" "screen: $(echo "$screen" | grep -v '^$' | head -5 | tr '\n' '|')"; fi
	echo "sent by mutt on behalf of a right" | mutt -n -F "$work/mutt/muttrc" -e 'set from="Alice <alice@example.test>"' \
		-s "e2e mutt send-as" -- dave@example.test >"$work/mutt/send.log" 2>&1
	h=$(find_msg dave@example.test "$DAVE" INBOX "e2e mutt send-as")
	if echo "$h" | grep -qi '^From: Alice <alice@example.test>' && ! echo "$h" | grep -qi '^Sender:'; then
		ok "mutt: bob sends as alice (Send As), delivered without Sender"
	else bad "mutt send as alice" "$(cat "$work/mutt/send.log" | tail -2 | tr '\n' ' ') header: $(echo "$h" | grep -iE '^(from|sender):' | tr '\r\n' '  ')"; fi
fi

# ---- mbsync: sync the delegated INBOX to a Maildir -------------------------
if need mbsync "mbsync"; then
	mkdir -p "$work/maildir/alice-inbox/cur" "$work/maildir/alice-inbox/new" "$work/maildir/alice-inbox/tmp"
	cat >"$work/mbsyncrc" <<MBSYNC
IMAPAccount bob
Host 127.0.0.1
Port $P_IMAP
User bob@example.test
Pass $BOB
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bob

MaildirStore local
Path $work/maildir/
Inbox $work/maildir/INBOX

Channel alice-inbox
Far :remote:"Other Users/alice@example.test/INBOX"
Near :local:alice-inbox
Create Near
Sync Pull
Expunge None
SyncState *
MBSYNC
	# -Dn logs the IMAP traffic (mbsync masks the password): it shows that mbsync switched on
	# COMPRESS=DEFLATE, whose partial flushes the server must inflate block by block.
	if timeout 60 mbsync -Dn -c "$work/mbsyncrc" alice-inbox >"$work/mbsync.log" 2>&1; then
		n=$(ls "$work/maildir/alice-inbox/cur" "$work/maildir/alice-inbox/new" 2>/dev/null | grep -c ',U=')
		if [ "$n" -ge 1 ] && grep -rq 'Welcome to mailgate' "$work/maildir/alice-inbox" &&
			grep -q '^>>> [0-9]* COMPRESS DEFLATE' "$work/mbsync.log"; then
			ok "mbsync: bob syncs alice's delegated INBOX to a Maildir over COMPRESS=DEFLATE ($n messages)"
		else bad "mbsync" "maildir has $n messages; COMPRESS: $(grep -c 'COMPRESS DEFLATE' "$work/mbsync.log")"; fi
	else bad "mbsync" "$(tail -3 "$work/mbsync.log" | tr '\n' ' ')"; fi
fi

# ---- Thunderbird (headless, under Xvfb): alice's INBOX under Other Users --------
if need Xvfb "thunderbird" && need thunderbird "thunderbird" && need import "thunderbird"; then
	# Two lines: the delegated folder is found and cached; its Properties "Sharing" tab
	# says "shared by the user 'alice@example.test'" with bob's rights (ACL, MYRIGHTS).
	out=$(IMAP_HOST=127.0.0.1 IMAP_PORT=$P_IMAPS IMAP_TLS=ssl TLS_CERT="$data/tls/cert.pem" USER=bob@example.test \
		PASS="$BOB" OWNER=alice@example.test EXPECT_SHARED_BY=alice@example.test "$here/thunderbird.sh" 2>"$work/thunderbird.log")
	tb_report "$out" "$work/thunderbird.log" sharing
fi

# ---- Thunderbird's account wizard: client autoconfiguration ----------------------
# Given only bob's address, the wizard must find the IMAPS and submissions listeners (the
# first ones advertised: implicit TLS) through autoconfig, and again through autodiscover;
# then, given bob's password, log in with them and create the account.
if need Xvfb "thunderbird wizard" && need thunderbird "thunderbird wizard"; then
	for m in autoconfig autodiscover; do
		out=$(AUTOCONFIG_ADDR="127.0.0.1:$P_WEB" TLS_CERT="$data/tls/cert.pem" EMAIL=bob@example.test PASSWORD="$BOB" METHOD=$m \
			EXPECT_IMAP="mail.example.test:$P_IMAPS:SSL" EXPECT_SMTP="mail.example.test:$P_SUBS:SSL" \
			"$here/autoconfig.sh" 2>>"$work/autoconfig.log")
		report "thunderbird wizard ($m)" "$out" "$work/autoconfig.log"
	done
fi

# ---- metrics and health ----------------------------------------------------
if need curl "metrics"; then
	m=$(curl -sS --max-time 10 "http://127.0.0.1:$P_METRICS/metrics")
	if echo "$m" | grep -q 'mailgate_smtp_submissions_total{decision="send_as"}' && echo "$m" | grep -q 'mailgate_imap_'; then
		ok "metrics: /metrics counts submissions by decision and IMAP activity"
	else bad "metrics" "$(echo "$m" | grep -c '^mailgate_') mailgate series"; fi
	[ "$(curl -sS --max-time 10 "http://127.0.0.1:$P_METRICS/healthz")" = ok ] && ok "metrics: /healthz" || bad "healthz" "not ok"
fi

# ---- audit through the admin socket ---------------------------------------
a=$("$bin" --data "$data" audit --mailbox alice@example.test --json 2>&1)
if echo "$a" | grep -q '"send-as"' && echo "$a" | grep -q '"refused"'; then
	ok "audit: Send As and the refusal are recorded (read through admin.sock)"
else bad "audit" "$(echo "$a" | head -c 300)"; fi
# Every kind of event this session made about another person's mailbox, exported as JSON lines:
# sends allowed (bob as, carol on behalf) and refused (dave), folder opens allowed (bob) and
# refused (dave), delegate logins allowed (bob\alice) and refused (dave\alice), admin changes.
"$bin" --data "$data" audit --jsonl >"$work/audit.jsonl" 2>&1
missing=$(python3 - "$work/audit.jsonl" <<'PY'
import json, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    seen.add((r["proto"], r["action"], r["decision"]))
want = [("smtp", "send", "allowed"), ("smtp", "send", "refused"), ("imap", "folder_bind", "allowed"),
        ("imap", "folder_bind", "refused"), ("imap", "login", "allowed"), ("imap", "login", "refused"),
        ("admin", "grant_add", "allowed"), ("admin", "user_add", "allowed")]
print(" ".join("/".join(w) for w in want if w not in seen))
PY
)
if [ -z "$missing" ] && [ -s "$work/audit.jsonl" ]; then
	ok "audit --jsonl: the session's sends, folder opens and delegate logins, allowed and refused, and the admin changes ($(wc -l <"$work/audit.jsonl") records)"
else bad "audit --jsonl" "missing: $missing"; fi

# ---- logs never carry passwords -------------------------------------------
if [ ! -s "$work/server.log" ]; then
	bad "logs" "the server log is empty"
elif grep -qF -e "$BOB" -e "$CAROL" -e "$DAVE" "$work/server.log"; then
	bad "logs" "a password appears in the server log"
else ok "logs: no password in the server log"; fi

# ---- clean shutdown ----------------------------------------------------------
kill -TERM "$server_pid"
if timeout 20 tail --pid="$server_pid" -f /dev/null; then
	wait "$server_pid"; rc=$?
	server_pid=
	[ "$rc" = 0 ] && [ ! -e "$data/admin.sock" ] && ok "SIGTERM: clean shutdown, admin.sock removed" || bad "shutdown" "exit $rc"
else bad "shutdown" "still running 20s after SIGTERM"; fi

echo "$pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
