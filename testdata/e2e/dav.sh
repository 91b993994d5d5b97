#!/usr/bin/env bash
# End-to-end suite for calendars: the real mailgate binary (serve --demo, free
# loopback ports, a fresh data dir) driven over CalDAV by real clients:
#   - curl: the discovery chain from /.well-known/caldav (each request and answer
#     saved as a transcript in the work dir, dav-NN-name.txt), the delegate's
#     reach to alice's calendars, dave's 404s, and the delegate\owner login;
#   - vdirsyncer, as bob, syncing alice's default calendar both ways with a local
#     directory (TLS verified against the server's self-signed certificate); and
#     a second vdirsyncer pair that discovers from the server root as
#     bob@example.test\alice@example.test, with a time range (calendar-query);
#   - khal listing the synced events from vdirsyncer's directory.
# Each check prints PASS/FAIL with its name; the suite ends with
# "N passed, N failed" and exits non-zero on any failure.
#
# usage: testdata/e2e/dav.sh [path/to/mailgate]    (default: builds one)
# With CI set, a missing client program is a failure, never a skip.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
work=$(mktemp -d /tmp/mailgate-e2e-dav.XXXXXX)
server_pid=

trap stop_server_and_clean EXIT
build_bin "${1:-}"

read -r P_SUB P_SUBS P_MX P_IMAP P_IMAPS P_DAV < <(free_ports 6)
data="$work/data"
"$bin" serve --demo --data "$data" --hostname mail.example.test \
	--submission-addr "127.0.0.1:$P_SUB" --submissions-addr "127.0.0.1:$P_SUBS" --mx-addr "127.0.0.1:$P_MX" \
	--imap-addr "127.0.0.1:$P_IMAP" --imaps-addr "127.0.0.1:$P_IMAPS" --metrics-addr "" --admin-http-addr "" \
	--dav-addr "127.0.0.1:$P_DAV" >"$work/banner.txt" 2>"$work/server.log" &
server_pid=$!
if ! wait_banner "$work/banner.txt" "$server_pid"; then
	bad "server starts" "no banner within 30s"; echo "$pass passed, $fail failed"; exit 1
fi
grep -q "CalDAV (HTTPS) *127.0.0.1:$P_DAV" "$work/banner.txt" && ok "server starts; its banner names the CalDAV listener" ||
	bad "banner" "no CalDAV line for port $P_DAV"

pw() { awk -v a="$1@example.test" '$1 == a { print $2 }' "$data/demo-logins.txt"; }
ALICE=$(pw alice) BOB=$(pw bob) CAROL=$(pw carol) DAVE=$(pw dave)
CERT="$data/tls/cert.pem"
BASE="https://127.0.0.1:$P_DAV"
AHOME=/dav/alice@example.test/calendars/
ACAL=${AHOME}default/

# ics UID SUMMARY START END [EXTRA_LINE...]: one VEVENT (times as 20261210T100000Z).
ics() {
	local uid=$1 summary=$2 start=$3 end=$4 x; shift 4
	printf 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailgate//e2e//EN\r\nBEGIN:VEVENT\r\n'
	printf 'UID:%s\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\n' "$uid" "$start" "$end" "$summary"
	for x in "$@"; do printf '%s\r\n' "$x"; done
	printf 'END:VEVENT\r\nEND:VCALENDAR\r\n'
}

# dav NAME LOGIN PASS METHOD PATH [DEPTH [BODY [CURL_ARGS...]]]: one request with curl (TLS
# verified against the server's certificate); prints the answer's status code. Its transcript
# is $work/dav-NAME.txt (the request line and body, then the answer's status line, headers
# and body), the answer's body alone $work/dav-NAME.body.
dav() {
	local name=$1 login=$2 pass=$3 method=$4 path=$5 depth=${6:-} body=${7:-} f="$work/dav-$1"
	shift 5; [ $# -gt 0 ] && shift; [ $# -gt 0 ] && shift
	local args=(-sS --max-time 20 --cacert "$CERT" -u "$login:$pass" -X "$method" -D "$f.head" -o "$f.body" -w '%{http_code}')
	[ -n "$depth" ] && args+=(-H "Depth: $depth")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/xml; charset=utf-8' --data-binary "$body")
	{ echo "> $method $path (as $login${depth:+, Depth: $depth})"; [ -n "$body" ] && echo "$body"; echo; } >"$f.txt"
	local code
	code=$(curl "${args[@]}" "$@" "$BASE$path" 2>>"$f.txt") || code=000
	{ tr -d '\r' <"$f.head"; cat "$f.body"; echo; } >>"$f.txt" 2>/dev/null; rm -f "$f.head"
	echo "$code"
}
location() { awk 'tolower($1) == "location:" { print $2 }' "$work/dav-$1.txt"; }
short() { tr '\n' ' ' <"$work/dav-$1.txt" | cut -c1-400; }

# xml NAME WHAT [PROPERTY]: read the multistatus answer of request NAME, whatever prefixes it
# uses: "hrefs PROPERTY" prints the hrefs inside that property (namespace:local, such as
# {DAV:}current-user-principal); "text PROPERTY" its text; "calendars" the hrefs of the responses whose resourcetype is
# a calendar; "data" the calendar-data of every response, decoded.
xml() {
	python3 - "$work/dav-$1.body" "$2" "${3:-}" <<'PY'
import sys, xml.etree.ElementTree as ET
body, what, prop = sys.argv[1:4]
D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
root = ET.parse(body).getroot()
if what == "hrefs":
    for el in root.iter(prop):
        for h in el.iter(D + "href"):
            print(h.text)
elif what == "text":
    for el in root.iter(prop):
        print(el.text or "")
elif what == "calendars":
    for r in root.iter(D + "response"):
        if any(True for _ in r.iter(C + "calendar")):
            print(r.find(D + "href").text)
elif what == "data":
    for el in root.iter(C + "calendar-data"):
        print(el.text.replace("\r\n", "\n"))
PY
}

NS_C=urn:ietf:params:xml:ns:caldav NS_CS=http://calendarserver.org/ns/
PF_PRINCIPAL='<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>'
PF_HOME='<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-home-set/></d:prop></d:propfind>'
PF_LIST='<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><d:displayname/><cs:getctag/><d:sync-token/></d:prop></d:propfind>'
PF_PROXY='<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:calendar-proxy-write-for/></d:prop></d:propfind>'
PF_TYPE='<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>'

# ---- curl: the discovery chain, as alice then as bob ------------------------
if need curl "curl discovery chain"; then
	c=$(dav 01-wellknown-get alice@example.test "$ALICE" GET /.well-known/caldav)
	[ "$c" = 301 ] && [ "$(location 01-wellknown-get)" = /dav/alice@example.test/ ] &&
		ok "curl: GET /.well-known/caldav as alice redirects (301) to her principal" ||
		bad "curl well-known GET" "$c $(short 01-wellknown-get)"
	c=$(dav 02-wellknown-propfind alice@example.test "$ALICE" PROPFIND /.well-known/caldav 0 "$PF_PRINCIPAL")
	P=$(location 02-wellknown-propfind)
	[ "$c" = 301 ] && [ "$P" = /dav/alice@example.test/ ] &&
		ok "curl: PROPFIND /.well-known/caldav as alice redirects (301) to her principal" ||
		bad "curl well-known PROPFIND" "$c $(short 02-wellknown-propfind)"
	c=$(dav 03-current-user-principal alice@example.test "$ALICE" PROPFIND "${P:-/dav/}" 0 "$PF_PRINCIPAL")
	[ "$c" = 207 ] && [ "$(xml 03-current-user-principal hrefs "{DAV:}current-user-principal")" = /dav/alice@example.test/ ] &&
		ok "curl: PROPFIND current-user-principal on the redirect target names alice's principal" ||
		bad "curl current-user-principal" "$c $(short 03-current-user-principal)"
	c=$(dav 04-calendar-home-set alice@example.test "$ALICE" PROPFIND /dav/alice@example.test/ 0 "$PF_HOME")
	[ "$c" = 207 ] && [ "$(xml 04-calendar-home-set hrefs "{$NS_C}calendar-home-set")" = "$AHOME" ] &&
		ok "curl: PROPFIND calendar-home-set on alice's principal gives $AHOME" ||
		bad "curl calendar-home-set" "$c $(short 04-calendar-home-set)"
	c=$(dav 05-home-depth1 alice@example.test "$ALICE" PROPFIND "$AHOME" 1 "$PF_LIST")
	[ "$c" = 207 ] && [ "$(xml 05-home-depth1 calendars)" = "$ACAL" ] &&
		[ -n "$(xml 05-home-depth1 text "{$NS_CS}getctag")" ] && [ -n "$(xml 05-home-depth1 text "{DAV:}sync-token")" ] &&
		ok "curl: PROPFIND Depth 1 on alice's home lists her default calendar (resourcetype calendar, getctag, sync-token)" ||
		bad "curl home Depth 1" "$c $(short 05-home-depth1)"

	# bob, Full Access on alice: his own principal, then alice's.
	c=$(dav 06-bob-wellknown bob@example.test "$BOB" PROPFIND /.well-known/caldav 0 "$PF_PRINCIPAL")
	[ "$c" = 301 ] && [ "$(location 06-bob-wellknown)" = /dav/bob@example.test/ ] &&
		ok "curl: /.well-known/caldav as bob redirects to bob's own principal" || bad "curl bob well-known" "$c $(short 06-bob-wellknown)"
	c=$(dav 07-bob-proxy-for bob@example.test "$BOB" PROPFIND /dav/bob@example.test/ 0 "$PF_PROXY")
	[ "$c" = 207 ] && [ "$(xml 07-bob-proxy-for hrefs "{$NS_CS}calendar-proxy-write-for" | sort | tr '\n' ' ')" = "/dav/alice@example.test/ /dav/info@example.test/ " ] &&
		ok "curl: bob's principal lists alice and info@ (through sales) in calendar-proxy-write-for" || bad "curl bob proxy-write-for" "$c $(short 07-bob-proxy-for)"
	c=$(dav 08-bob-alice-home-set bob@example.test "$BOB" PROPFIND /dav/alice@example.test/ 0 "$PF_HOME")
	[ "$c" = 207 ] && [ "$(xml 08-bob-alice-home-set hrefs "{$NS_C}calendar-home-set")" = "$AHOME" ] &&
		ok "curl: as bob, alice's principal gives her calendar home set" || bad "curl bob alice home set" "$c $(short 08-bob-alice-home-set)"
	c=$(dav 09-bob-alice-home bob@example.test "$BOB" PROPFIND "$AHOME" 1 "$PF_LIST")
	[ "$c" = 207 ] && [ "$(xml 09-bob-alice-home calendars)" = "$ACAL" ] &&
		ok "curl: as bob, PROPFIND Depth 1 on alice's home lists her default calendar" || bad "curl bob alice home" "$c $(short 09-bob-alice-home)"

	# dave, no rights: alice's principal, home and calendar are 404, as what does not exist.
	c1=$(dav 10-dave-alice-calendar dave@example.test "$DAVE" PROPFIND "$ACAL" 1 "$PF_TYPE")
	c2=$(dav 11-dave-alice-home dave@example.test "$DAVE" PROPFIND "$AHOME" 1 "$PF_TYPE")
	c3=$(dav 12-dave-alice-principal dave@example.test "$DAVE" PROPFIND /dav/alice@example.test/ 0 "$PF_HOME")
	c4=$(dav 13-dave-nonexistent dave@example.test "$DAVE" PROPFIND /dav/alice@example.test/calendars/nosuch/ 1 "$PF_TYPE")
	c5=$(dav 14-dave-own dave@example.test "$DAVE" PROPFIND /dav/dave@example.test/calendars/ 1 "$PF_TYPE")
	[ "$c1$c2$c3$c4$c5" = 404404404404207 ] &&
		ok "curl: as dave, alice's calendar, home and principal are 404 (like a calendar that does not exist); his own home is 207" ||
		bad "curl dave" "calendar $c1, home $c2, principal $c3, nonexistent $c4, own home $c5"

	# delegate\owner: bob's password opens alice's principal as the login's own.
	c=$(dav 15-login-wellknown 'bob@example.test\alice@example.test' "$BOB" PROPFIND /.well-known/caldav 0 "$PF_PRINCIPAL")
	c2=$(dav 16-login-principal 'bob@example.test\alice@example.test' "$BOB" PROPFIND /dav/ 0 "$PF_PRINCIPAL")
	c3=$(dav 17-login-home 'bob@example.test\alice@example.test' "$BOB" PROPFIND "$AHOME" 1 "$PF_TYPE")
	[ "$c" = 301 ] && [ "$(location 15-login-wellknown)" = /dav/alice@example.test/ ] && [ "$c2" = 207 ] &&
		[ "$(xml 16-login-principal hrefs "{DAV:}current-user-principal")" = /dav/alice@example.test/ ] &&
		[ "$c3" = 207 ] && [ "$(xml 17-login-home calendars)" = "$ACAL" ] &&
		ok "curl: login bob@example.test\\alice@example.test: well-known and current-user-principal are alice's, her home lists her calendar" ||
		bad "curl delegate login" "well-known $c ($(location 15-login-wellknown)), principal $c2, home $c3"
	c=$(dav 18-login-dave 'dave@example.test\alice@example.test' "$DAVE" PROPFIND /.well-known/caldav 0 "$PF_PRINCIPAL")
	c2=$(dav 19-login-carol 'carol@example.test\alice@example.test' "$CAROL" PROPFIND /.well-known/caldav 0 "$PF_PRINCIPAL")
	c3=$(dav 20-login-bad-password 'bob@example.test\alice@example.test' "$ALICE" PROPFIND /.well-known/caldav 0 "$PF_PRINCIPAL")
	[ "$c$c2$c3" = 401401401 ] &&
		ok "curl: dave\\alice (no rights), carol\\alice (Send on Behalf only) and bob\\alice with a wrong password get 401" ||
		bad "curl refused delegate logins" "dave $c, carol $c2, wrong password $c3"
fi

# ---- vdirsyncer as bob: alice's default calendar both ways ------------------
VDIR="$work/vdir" KHAL_CONF="$work/khal.conf"
put_event() { # put_event NAME UID SUMMARY START END [curl args]: alice PUTs an event; prints the status
	local name=$1 uid=$2 summary=$3 start=$4 end=$5; shift 5
	ics "$uid" "$summary" "$start" "$end" >"$work/$uid.ics"
	dav "$name" alice@example.test "$ALICE" PUT "$ACAL$uid.ics" "" "" -H 'Content-Type: text/calendar; charset=utf-8' \
		--data-binary "@$work/$uid.ics" "$@"
}
# query NAME LOGIN PASS START END: calendar-query on alice's calendar for VEVENTs in [START, END), with their data.
query() {
	dav "$1" "$2" "$3" REPORT "$ACAL" 1 "<c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\">
<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name=\"VCALENDAR\"><c:comp-filter name=\"VEVENT\">
<c:time-range start=\"$4\" end=\"$5\"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
}
local_file() { grep -l "^UID:$1" "$VDIR"/default/*.ics 2>/dev/null | head -1; } # bob's local file of an event
vsync() { # vsync NAME [CONFIG]: vdirsyncer sync, its output in $work/vdirsyncer-NAME.log
	timeout 30 vdirsyncer -c "${2:-$work/vdirsyncer.conf}" sync >"$work/vdirsyncer-$1.log" 2>&1
}

if need vdirsyncer "vdirsyncer as bob" && need curl "vdirsyncer as bob"; then
	c=$(put_event 21-alice-put-standup e2e-alice-standup "Standup with the board" 20261210T100000Z 20261210T110000Z)
	[ "$c" = 201 ] && ok "curl: alice PUTs an event in her calendar (201)" || bad "curl alice PUT" "$c $(short 21-alice-put-standup)"

	mkdir -p "$VDIR"
	cat >"$work/vdirsyncer.conf" <<EOF
[general]
status_path = "$work/vdirsyncer-status/"

[pair alice_calendar]
a = "alice_remote"
b = "alice_local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage alice_remote]
type = "caldav"
url = "$BASE$AHOME"
username = "bob@example.test"
password = "$BOB"
verify = "$CERT"

[storage alice_local]
type = "filesystem"
path = "$VDIR/"
fileext = ".ics"
EOF
	# discover answers "create the local collection?" with y.
	if yes | timeout 30 vdirsyncer -c "$work/vdirsyncer.conf" discover >"$work/vdirsyncer-discover.log" 2>&1 &&
		grep -q '"default" ("Calendar")' "$work/vdirsyncer-discover.log" && [ -d "$VDIR/default" ]; then
		ok "vdirsyncer discover as bob on alice's home ($AHOME) finds her default calendar, TLS verified against cert.pem"
	else bad "vdirsyncer discover" "$(tail -3 "$work/vdirsyncer-discover.log" | tr '\n' ' ')"; fi

	if vsync 1 && f=$(local_file e2e-alice-standup) && grep -q '^SUMMARY:Standup with the board' "$f"; then
		ok "vdirsyncer sync: alice's event is in bob's local directory"
	else bad "vdirsyncer sync down" "$(tail -3 "$work/vdirsyncer-1.log" | tr '\n' ' ')"; fi

	# bob writes an event for alice locally, with alice as organizer: it reaches the server,
	# which adds ORGANIZER;SENT-BY=bob, and the next sync brings that back to bob.
	ics e2e-bob-budget "Budget review" 20261211T140000Z 20261211T150000Z ORGANIZER:mailto:alice@example.test \
		ATTENDEE:mailto:dave@example.test >"$VDIR/default/e2e-bob-budget.ics"
	if vsync 2 && grep -q 'Copying (uploading) item e2e-bob-budget to alice_remote' "$work/vdirsyncer-2.log"; then
		ok "vdirsyncer sync: bob's local event is uploaded to alice's calendar"
	else bad "vdirsyncer sync up" "$(tail -3 "$work/vdirsyncer-2.log" | tr '\n' ' ')"; fi
	c=$(query 22-alice-query-budget alice@example.test "$ALICE" 20261211T000000Z 20261212T000000Z)
	a=$(xml 22-alice-query-budget data)
	if [ "$c" = 207 ] && echo "$a" | grep -q '^UID:e2e-bob-budget' && echo "$a" | grep -q '^SUMMARY:Budget review' &&
		echo "$a" | grep -q '^ORGANIZER;SENT-BY="mailto:bob@example.test":mailto:alice@example.test' && ! echo "$a" | grep -q e2e-alice-standup; then
		ok "curl: alice's calendar-query for Dec 11 finds bob's event, organizer alice SENT-BY bob (and not the Dec 10 one)"
	else bad "curl alice query" "$c $(short 22-alice-query-budget)"; fi
	if vsync 3 && f=$(local_file e2e-bob-budget) && grep -q '^ORGANIZER;SENT-BY="mailto:bob@example.test":mailto:alice@example.test' "$f"; then
		ok "vdirsyncer sync: the server's SENT-BY comes back to bob's copy (no ETag on a PUT the server changed)"
	else bad "vdirsyncer SENT-BY back" "$(tail -3 "$work/vdirsyncer-3.log" | tr '\n' ' ') $(grep ORGANIZER "$VDIR"/default/*.ics)"; fi

	# alice edits her event (If-Match on its ETag): bob's next sync updates his copy.
	etag=$(curl -sS --max-time 20 --cacert "$CERT" -u "alice@example.test:$ALICE" -o /dev/null -w '%header{etag}' "$BASE${ACAL}e2e-alice-standup.ics")
	c=$(put_event 23-alice-edit-standup e2e-alice-standup "Standup with the board (moved)" 20261210T120000Z 20261210T130000Z -H "If-Match: $etag")
	c2=$(put_event 24-alice-edit-stale e2e-alice-standup "stale edit" 20261210T120000Z 20261210T130000Z -H "If-Match: $etag")
	[ -n "$etag" ] && [ "$c" = 204 ] && [ "$c2" = 412 ] && ok "curl: alice edits her event with If-Match (204); the old ETag then gets 412" ||
		bad "curl alice edit" "etag '$etag', edit $c, stale $c2"
	if vsync 4 && f=$(local_file e2e-alice-standup) && grep -q '^SUMMARY:Standup with the board (moved)' "$f" &&
		grep -q '^DTSTART:20261210T120000Z' "$f"; then
		ok "vdirsyncer sync: alice's edit updates bob's copy"
	else bad "vdirsyncer sync edit" "$(tail -3 "$work/vdirsyncer-4.log" | tr '\n' ' ')"; fi

	# ---- khal: the synced events from vdirsyncer's directory ----------------
	if need khal "khal lists the synced events"; then
		cat >"$KHAL_CONF" <<EOF
[calendars]
[[alice]]
path = $VDIR/default
type = calendar

[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
local_timezone = UTC
default_timezone = UTC

[sqlite]
path = $work/khal.db
EOF
		out=$(LC_ALL=C.UTF-8 TZ=UTC timeout 30 khal -c "$KHAL_CONF" list --day-format '' \
			--format '{start} {end} {title} [{calendar}]' 2026-12-10 3d 2>"$work/khal.err" | sed '/^$/d')
		want="2026-12-10 12:00 2026-12-10 13:00 Standup with the board (moved) [alice]
2026-12-11 14:00 2026-12-11 15:00 Budget review [alice]"
		[ "$out" = "$want" ] && ok "khal list 2026-12-10 3d: alice's edited event and bob's, from the synced directory" ||
			bad "khal list" "got: $(echo "$out" | tr '\n' '|') $(tr '\n' ' ' <"$work/khal.err")"
	fi

	# deletions go both ways: alice deletes bob's event on the server, bob deletes hers locally.
	c=$(dav 25-alice-delete-budget alice@example.test "$ALICE" DELETE "${ACAL}e2e-bob-budget.ics")
	rm -f "$(local_file e2e-alice-standup)"
	c2=
	if [ "$c" = 204 ] && vsync 5 && [ -z "$(local_file e2e-bob-budget)" ] &&
		c2=$(dav 26-alice-get-standup alice@example.test "$ALICE" GET "${ACAL}e2e-alice-standup.ics") && [ "$c2" = 404 ]; then
		ok "vdirsyncer sync: alice's DELETE removes bob's copy; bob's local deletion removes hers on the server"
	else bad "vdirsyncer deletions" "DELETE $c, GET after sync $c2, $(tail -3 "$work/vdirsyncer-5.log" | tr '\n' ' ')"; fi

	# A second pair: discovery from the server root as bob@example.test\alice@example.test
	# (current-user-principal, calendar-home-set, Depth 1), limited to December 2026, which
	# vdirsyncer asks with a calendar-query time range: the 2027 event stays out.
	c=$(put_event 27-alice-put-dec e2e-alice-dec "December review" 20261215T090000Z 20261215T100000Z)
	c2=$(put_event 28-alice-put-2027 e2e-alice-2027 "Next year" 20270115T090000Z 20270115T100000Z)
	mkdir -p "$work/vdir-login"
	cat >"$work/vdirsyncer-login.conf" <<EOF
[general]
status_path = "$work/vdirsyncer-login-status/"

[pair login]
a = "login_remote"
b = "login_local"
collections = ["from a"]

[storage login_remote]
type = "caldav"
url = "$BASE/"
username = "bob@example.test\\\\alice@example.test"
password = "$BOB"
verify = "$CERT"
start_date = "datetime(2026, 12, 1)"
end_date = "datetime(2027, 1, 1)"

[storage login_local]
type = "filesystem"
path = "$work/vdir-login/"
fileext = ".ics"
EOF
	if [ "$c$c2" = 201201 ] && yes | timeout 30 vdirsyncer -c "$work/vdirsyncer-login.conf" discover >"$work/vdirsyncer-login-discover.log" 2>&1 &&
		vsync login "$work/vdirsyncer-login.conf" && grep -q '^UID:e2e-alice-dec' "$work"/vdir-login/default/*.ics &&
		! grep -q '^UID:e2e-alice-2027' "$work"/vdir-login/default/*.ics; then
		ok "vdirsyncer as bob@example.test\\alice@example.test discovers alice's calendar from / and syncs December only (calendar-query)"
	else bad "vdirsyncer delegate login" "PUT $c $c2; $(tail -2 "$work/vdirsyncer-login-discover.log" "$work/vdirsyncer-login.log" 2>/dev/null | tr '\n' ' ')"; fi
fi

# ---- logs never carry passwords; clean shutdown ------------------------------
if grep -qF -e "$ALICE" -e "$BOB" -e "$DAVE" "$work/server.log"; then
	bad "logs" "a password appears in the server log"
else ok "logs: no password in the server log"; fi
kill -TERM "$server_pid"
if timeout 20 tail --pid="$server_pid" -f /dev/null; then
	wait "$server_pid"; rc=$?
	server_pid=
	[ "$rc" = 0 ] && ok "SIGTERM: clean shutdown" || bad "shutdown" "exit $rc"
else bad "shutdown" "still running 20s after SIGTERM"; fi

echo "$pass passed, $fail failed${skip:+, $skip skipped}"
[ "$fail" -eq 0 ]
