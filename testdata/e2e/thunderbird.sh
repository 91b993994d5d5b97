#!/usr/bin/env bash
# Thunderbird end to end: a real Thunderbird, headless under Xvfb, logs in to an IMAP
# server as a delegate and must discover the owner's delegated INBOX under
# "Other Users/<owner>/" by itself (NAMESPACE + LIST/LSUB, no manual subscription).
#
# usage: IMAP_HOST=127.0.0.1 IMAP_PORT=1143 IMAP_TLS=none USER=bob@example.test PASS=... \
#        OWNER=alice@example.test testdata/e2e/thunderbird.sh
#
# Other forms:
#   ... IMAP_TLS=ssl IMAP_PORT=1993 TLS_CERT=<data>/tls/cert.pem ...    (self-signed IMAPS)
#   ... SCREENSHOT=docs/thunderbird-delegated-inbox.png ...             (picture for the docs)
#   ... USER='bob@example.test\alice@example.test' EXPECT_FOLDER=INBOX  (delegate login form)
#   ... EXPECT_SHARED_BY=alice@example.test [SHARING_SCREENSHOT=/tmp/sharing.png]
#                                           (the folder's Properties "Sharing" tab: ACL, RFC 4314)
#   Dovecot peer (bench/peers/dovecot-up.sh): IMAP_PORT=10143 USER=bob@example.test
#       PASS=bob-pw OWNER=alice@example.test EXPECT_FOLDER="Other Users/alice" SUBSCRIBED_ONLY=0
#
# Env (required): IMAP_HOST IMAP_PORT IMAP_TLS (none|ssl|starttls) USER PASS OWNER
#   (USER is also the shell's login name: always pass it explicitly)
# Env (optional):
#   EXPECT_FOLDER   IMAP name of the delegated folder (default "Other Users/$OWNER/INBOX";
#                   for the Dovecot peer in bench/peers: "Other Users/alice")
#   EXPECT_MESSAGES also require at least this many messages of that folder in
#                   Thunderbird's local cache (its .msf database) (default 1: the demo
#                   tenant has two in alice's INBOX); 0: the folder list alone is the test
#   EXPECT_SUBJECT  also require a message with exactly this subject in that cache
#   TLS_CERT        PEM certificate of a self-signed server (ssl/starttls): written to the
#                   profile's cert_override.txt, so no "security exception" dialog appears
#   SUBSCRIBED_ONLY 1 (default, Thunderbird's own default): Thunderbird shows only
#                   subscribed folders, which tests the server's automatic subscription;
#                   0: show every listed folder (needed for servers that do not subscribe)
#   EXPECT_SHARED_BY  owner address: also check what Thunderbird's folder properties
#                   "Sharing" tab says about EXPECT_FOLDER (needs the server's ACL, RFC 4314):
#                   folder type "Other User's Folder", "This is a mail folder shared by the
#                   user '<owner>'.", and permissions (from MYRIGHTS) with at least read,
#                   write and delete ("Full Control" for lrswipkxtecda); also that Thunderbird
#                   sent MYRIGHTS for the folder and got "* MYRIGHTS" back (its IMAP log is on
#                   for this). Prints a second line "PASS|FAIL thunderbird sharing: ..." naming
#                   the ACL commands seen (exit 1 if either line FAILs)
#   SHARING_SCREENSHOT PNG path (with EXPECT_SHARED_BY): also open the folder's
#                   Properties dialog on its Sharing tab and capture the screen
#   SCREENSHOT      PNG path: also select the delegated folder in the main window, wait
#                   until its messages are listed and capture the Xvfb screen
#   PROXY_PORT      HTTP(S) proxy port for Thunderbird (default: a dead port, see below)
#   IMAP_LOG=1      write Thunderbird's IMAP protocol log to <work dir>/imap.log*
#   VERBOSE=1       also print the folders Thunderbird created (stderr)
#   TB_TIMEOUT      overall limit in seconds (default 120); KEEP=1 keeps the work dir
#   THUNDERBIRD     the binary (default /usr/lib/thunderbird/thunderbird)
#
# Prints one line "PASS thunderbird: ..." or "FAIL thunderbird: ..." (and, with EXPECT_SHARED_BY,
# a second one "PASS|FAIL thunderbird sharing: ...") and exits 0 or 1
# (2 for a usage error or a missing program). Debian packages: thunderbird xvfb python3,
# and imagemagick (import) for SCREENSHOT and for the picture of the screen kept on FAIL;
# x11-utils (xwininfo, pulled in by thunderbird) names the open windows in a FAIL line.
# A passing run takes 3-6 s (10-12 s with SCREENSHOT) on 2 cores; TB_TIMEOUT bounds it.
#
# How it avoids every interactive step:
# - password: thunderbird_helper.py creates the profile's NSS key store (key4.db) with an
#   empty primary password and stores the login in logins.json, encrypted with that key
#   store, the way Thunderbird's own password manager does; Thunderbird never prompts.
# - first-run wizards, telemetry, updates, add-on/remote-settings fetches, start page,
#   default-client check, donation/in-app notifications: switched off in user.js; every
#   HTTP(S) request is sent to a dead local proxy port so nothing waits on the network.
# - self-signed TLS: cert_override.txt (TLS_CERT) with the certificate's SHA-256
#   fingerprint for host:port, the file Thunderbird writes itself when a user clicks
#   "Confirm Security Exception"; ssl and starttls both pass with it. Plain IMAP on
#   loopback (the server's --insecure-auth) needs no certificate at all. Without the
#   override Thunderbird stops at its certificate dialog and the run FAILs.
# - messages (EXPECT_MESSAGES > 0) and the screenshot: Thunderbird's own Marionette remote
#   protocol (--marionette --remote-allow-system-access, on a free loopback port) runs
#   chrome JavaScript: folder.updateFolder() (what clicking the folder does: SELECT and a
#   header FETCH) and the message count from the folder's .msf database; for EXPECT_SHARED_BY,
#   nsIMsgImapMailFolder.fillInFolderProps() (what fills the Properties dialog's Sharing
#   tab), getOtherUsersWithAccess() and the folder's ACL flags; for SCREENSHOT,
#   about3Pane.displayFolder() selects the folder and the top message is shown (without
#   marking it \Seen). No fragile key presses, no window manager needed.
# Thunderbird runs with its own HOME and TMPDIR in the work dir, in its own process group;
# it and Xvfb are killed on exit, also on FAIL, timeout or Ctrl-C.
set -u
here=$(cd "$(dirname "$0")" && pwd)
helper="$here/thunderbird_helper.py"
. "$here/thunderbird_lib.sh"
TB_TIMEOUT=${TB_TIMEOUT:-120}
THUNDERBIRD=${THUNDERBIRD:-/usr/lib/thunderbird/thunderbird}
SUBSCRIBED_ONLY=${SUBSCRIBED_ONLY:-1}
EXPECT_MESSAGES=${EXPECT_MESSAGES:-1}
SCREENSHOT=${SCREENSHOT:-}
EXPECT_SHARED_BY=${EXPECT_SHARED_BY:-}
SHARING_SCREENSHOT=${SHARING_SCREENSHOT:-}
EXPECT_SUBJECT=${EXPECT_SUBJECT:-}
start=$(date +%s)

say()  { echo "$1 thunderbird: $2 ($(($(date +%s) - start))s)"; }
usage() { echo "FAIL thunderbird: $1" >&2; exit 2; }
for v in IMAP_HOST IMAP_PORT IMAP_TLS USER PASS OWNER; do
	[ -n "${!v:-}" ] || usage "missing env $v (need IMAP_HOST IMAP_PORT IMAP_TLS USER PASS OWNER)"
done
EXPECT_FOLDER=${EXPECT_FOLDER:-Other Users/$OWNER/INBOX}
case "$IMAP_TLS" in
	none) socket_type=0 ;;
	starttls) socket_type=2 ;;
	ssl) socket_type=3 ;;
	*) usage "IMAP_TLS must be none, ssl or starttls" ;;
esac
[ -x "$THUNDERBIRD" ] || usage "$THUNDERBIRD not found (apt-get install thunderbird)"
command -v Xvfb >/dev/null || usage "Xvfb not found (apt-get install xvfb)"
command -v python3 >/dev/null || usage "python3 not found"
if [ -n "$SCREENSHOT$SHARING_SCREENSHOT" ]; then command -v import >/dev/null || usage "import not found (apt-get install imagemagick)"; fi

tb_workdir /tmp/thunderbird-e2e

cleanup() {
	tb_stop
	tb_drop_work
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() { tb_free_port; }
deadline=$((start + TB_TIMEOUT - 5))
left() { echo $((deadline - $(date +%s))); }

# ---- profile -----------------------------------------------------------------
host_dir=$IMAP_HOST
# Nothing listens on dead_port: every HTTP(S) request Thunderbird still makes fails at once.
# (Set PROXY_PORT to a logging proxy of your own to see whether there are any.)
dead_port=${PROXY_PORT:-$(free_port)}
marionette_port=$(free_port)
jsstr() { tb_jsstr "$1"; }

cat >"$profile/user.js" <<EOF
// ---- the account: $USER on $IMAP_HOST:$IMAP_PORT ($IMAP_TLS) ----
user_pref("mail.accountmanager.accounts", "account1,account2");
user_pref("mail.accountmanager.defaultaccount", "account1");
user_pref("mail.accountmanager.localfoldersserver", "server2");
user_pref("mail.account.account1.server", "server1");
user_pref("mail.account.account1.identities", "id1");
user_pref("mail.account.account2.server", "server2");
user_pref("mail.identity.id1.useremail", $(jsstr "$USER"));
user_pref("mail.identity.id1.fullName", $(jsstr "${USER%%@*}"));
user_pref("mail.identity.id1.valid", true);
user_pref("mail.identity.id1.fcc_folder_picker_mode", "0");
user_pref("mail.server.server1.type", "imap");
user_pref("mail.server.server1.hostname", $(jsstr "$IMAP_HOST"));
user_pref("mail.server.server1.port", $IMAP_PORT);
user_pref("mail.server.server1.socketType", $socket_type);
user_pref("mail.server.server1.authMethod", 3);
user_pref("mail.server.server1.userName", $(jsstr "$USER"));
user_pref("mail.server.server1.name", $(jsstr "$USER"));
user_pref("mail.server.server1.directory-rel", $(jsstr "[ProfD]ImapMail/$host_dir"));
user_pref("mail.server.server1.login_at_startup", true);
user_pref("mail.server.server1.check_new_mail", true);
user_pref("mail.server.server1.check_time", 1);
user_pref("mail.server.server1.check_all_folders_for_new", true);
user_pref("mail.server.server1.using_subscription", $([ "$SUBSCRIBED_ONLY" = 1 ] && echo true || echo false));
user_pref("mail.server.server1.offline_download", true);
user_pref("mail.server.server1.autosync_offline_stores", true);
user_pref("mail.server.server1.use_idle", true);
user_pref("mail.server.server1.max_cached_connections", 2);
user_pref("mail.server.server2.type", "none");
user_pref("mail.server.server2.hostname", "Local Folders");
user_pref("mail.server.server2.name", "Local Folders");
user_pref("mail.server.server2.userName", "nobody");
user_pref("mail.server.server2.directory-rel", "[ProfD]Mail/Local Folders");
user_pref("mail.check_all_imap_folders_for_new", true);
user_pref("mail.imap.use_status_for_biff", true);

// ---- the look of the screenshot: classic layout, message list as a table; reading a
// message does not mark it \Seen (the test must not change the owner's mailbox) ----
user_pref("mail.pane_config.dynamic", 0);
user_pref("mail.threadpane.listview", 1);
user_pref("mailnews.mark_message_read.auto", false);
user_pref("mail.uidensity", 1);

$(tb_quiet_prefs)
EOF

# The login, encrypted in the profile's own key store (empty primary password).
if ! python3 "$helper" login "$profile" "imap://$IMAP_HOST" "$USER" "$PASS" >"$work/helper.log" 2>&1; then
	result=FAIL; say FAIL "could not write the saved login: $(tail -1 "$work/helper.log")"; exit 1
fi
if [ -n "${TLS_CERT:-}" ]; then
	python3 "$helper" certoverride "$profile" "$IMAP_HOST" "$IMAP_PORT" "$TLS_CERT" >>"$work/helper.log" 2>&1 ||
		{ result=FAIL; say FAIL "could not write cert_override.txt from $TLS_CERT"; exit 1; }
fi

# ---- Xvfb ----------------------------------------------------------------------
tb_xvfb || { result=FAIL; say FAIL "$tb_error"; exit 1; }

# ---- Thunderbird ------------------------------------------------------------------
tb_args=()
use_marionette=0
{ [ -n "$SCREENSHOT" ] || [ "$EXPECT_MESSAGES" -gt 0 ] || [ -n "$EXPECT_SHARED_BY" ] || [ -n "$EXPECT_SUBJECT" ]; } && use_marionette=1
[ "$use_marionette" = 1 ] && tb_args+=(--marionette --remote-allow-system-access)
# (EXPECT_SHARED_BY: the log shows which ACL commands Thunderbird sent and what came back)
{ [ "${IMAP_LOG:-0}" = 1 ] || [ -n "$EXPECT_SHARED_BY" ]; } && tb_env=(MOZ_LOG=IMAP:5 MOZ_LOG_FILE="$work/imap.log")
tb_launch "${tb_args[@]}"

# ---- wait for the delegated folder in Thunderbird's local folder cache ---------------
# IMAP "Other Users/alice@example.test/INBOX" is stored as
# ImapMail/<host>/Other Users.sbd/alice@example.test.sbd/INBOX.msf (each parent level a .sbd dir).
imap_root="$profile/ImapMail/$host_dir"
rel=""
IFS=/ read -r -a parts <<<"$EXPECT_FOLDER"
for ((i = 0; i < ${#parts[@]} - 1; i++)); do rel+="${parts[i]}.sbd/"; done
rel+="${parts[${#parts[@]} - 1]}"
msf="$imap_root/$rel.msf"

found=
while [ "$(left)" -gt 0 ]; do
	[ -f "$msf" ] && { found=1; break; }
	kill -0 "$tb_pid" 2>/dev/null || break
	sleep 0.5
done
folders=$(cd "$imap_root" 2>/dev/null && find . -name '*.msf' | sed 's|^\./||' | sort | tr '\n' ' ')
if [ -z "$found" ]; then
	result=FAIL
	# What is on the screen (a password prompt? a certificate error?) helps the most.
	command -v import >/dev/null && import -display "$DISPLAY" -window root "png:$work/failure.png" 2>/dev/null &&
		echo "(screen at the time of failure: $work/failure.png)" >&2
	if ! kill -0 "$tb_pid" 2>/dev/null; then
		say FAIL "Thunderbird exited before $EXPECT_FOLDER appeared: $(tail -1 "$work/thunderbird.log")"
	else
		wins=$(xwininfo -display "$DISPLAY" -root -children 2>/dev/null | grep -o '"[^"]*"' | sort -u | tr '\n' ' ')
		say FAIL "no $rel.msf in time; folders seen: ${folders:-none}; windows: ${wins:-?}"
	fi
	exit 1
fi
[ "${VERBOSE:-0}" = 1 ] && say INFO "found $rel.msf; folders: $folders" >&2
nfolders=$(find "$imap_root" -name '*.msf' | wc -l)

# ---- messages and screenshot: chrome JavaScript through Marionette ------------------
detail=""
if [ "$use_marionette" = 1 ]; then
	jsfile="$work/drive.js"
	{
		echo "const WANT = $(jsstr "$EXPECT_FOLDER"), MIN = $EXPECT_MESSAGES, SELECT = $([ -n "$SCREENSHOT" ] && echo true || echo false);"
		echo "const SHARED_BY = $(jsstr "$EXPECT_SHARED_BY"), VERBOSE = $([ "${VERBOSE:-0}" = 1 ] && echo true || echo false);"
		echo "const SUBJECT = $(jsstr "$EXPECT_SUBJECT");"
		echo "const LIMIT = Date.now() + $(($(left) - 3)) * 1000;"
		cat <<'JS'
const done = arguments[arguments.length - 1];
(async () => {
  const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
  const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const until = async (what, f) => {
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() > LIMIT) break;
      await sleep(250);
    }
    throw new Error("timed out waiting for " + what);
  };
  const win = await until("the main window", () => {
    const w = Services.wm.getMostRecentWindow("mail:3pane");
    return w?.gTabmail?.currentAbout3Pane?.folderPane && w.gTabmail.currentAbout3Pane.displayFolder ? w : null;
  });
  const server = MailServices.accounts.defaultAccount.incomingServer;
  const folder = await until("folder " + WANT, () => server.rootFolder.descendants.find(
    f => f instanceof Ci.nsIMsgImapMailFolder && f.onlineName == WANT));
  const about3Pane = win.gTabmail.currentAbout3Pane;
  if (SELECT) {
    win.moveTo(0, 0);
    win.resizeTo(win.screen.availWidth, win.screen.availHeight);
    await until("the folder row", () => about3Pane.folderPane.getRowForFolder(folder.URI));
    about3Pane.displayFolder(folder.URI);
    await until("the folder to be displayed", () => about3Pane.gFolder?.URI == folder.URI);
    await until(Math.max(MIN, 1) + " listed messages",
      () => about3Pane.gDBView && about3Pane.gDBView.rowCount >= Math.max(MIN, 1));
    // Show the message in the top row (whatever the sort order).
    about3Pane.threadTree.selectedIndex = 0;
    await until("the message to be shown", () => about3Pane.messageBrowser?.contentWindow
      ?.getMessagePaneBrowser?.()?.contentDocument?.body?.textContent?.trim());
  } else if (MIN > 0 || SHARED_BY || SUBJECT) {
    folder.updateFolder(null);
    await until(MIN + " messages in the local cache", () => folder.getTotalMessages(false) >= MIN);
  }
  if (SUBJECT) {
    const subjects = () => [...folder.msgDatabase.enumerateMessages()].map(h => h.mime2DecodedSubject);
    try {
      await until("a message with subject " + JSON.stringify(SUBJECT), () => subjects().includes(SUBJECT));
    } catch (e) {
      throw new Error(e.message + " (cached: " + JSON.stringify(subjects()) + ")");
    }
  }
  let sharing = null;
  if (SHARED_BY) {
    // What the folder Properties dialog's Sharing tab shows (folderProps.js does the same:
    // fillInFolderProps with a sink, then getOtherUsersWithAccess()).
    const imap = folder.QueryInterface(Ci.nsIMsgImapMailFolder);
    // The server's CAPABILITY as Thunderbird parsed it (eIMAPCapabilityFlags, nsImapCore.h):
    // kACLCapability = 0x100.
    const capability = (() => {
      try { return server.QueryInterface(Ci.nsIImapIncomingServer).getCapability(); } catch (e) { return null; }
    })();
    const capabilityACL = capability === null ? null : !!(capability & 0x100);
    const aclFlags = () => {
      try { return folder.QueryInterface(Ci.nsIImapMailFolderSink).aclFlags; } catch (e) { return null; }
    };
    // Selecting the folder (above) makes Thunderbird ask MYRIGHTS when the server has ACL;
    // the folder's cached ACL flags get the read bit (0x1) or IMAP_ACL_RETRIEVED_FLAG (0x100)
    // once the answer is in. Without ACL they stay 0: no wait then.
    if (capabilityACL !== false) {
      const limit = Math.min(LIMIT, Date.now() + 15000);
      while (!(aclFlags() & 0x101) && Date.now() < limit) await sleep(250);
    }
    const props = { folderType: "", folderTypeDescription: "", permissions: "", serverDoesntSupportACL: false };
    imap.fillInFolderProps({
      QueryInterface: ChromeUtils.generateQI(["nsIMsgImapFolderProps"]),
      setFolderType(s) { props.folderType = s; },
      setFolderTypeDescription(s) { props.folderTypeDescription = s; },
      setFolderPermissions(s) { props.permissions += s; },
      serverDoesntSupportACL() { props.serverDoesntSupportACL = true; },
      setQuotaStatus() {}, showQuotaData() {}, setQuotaData() {},
    });
    let otherUsers = null;
    try { otherUsers = [...imap.getOtherUsersWithAccess()]; } catch (e) { otherUsers = String(e); }
    sharing = Object.assign(props, { capability, capabilityACL, aclFlags: aclFlags(), otherUsers,
      imapOtherUserFlag: folder.getFlag(Ci.nsMsgFolderFlags.ImapOtherUser) });
    if (VERBOSE) {
      const members = o => { const r = []; for (const k in o) r.push(k); return r.sort(); };
      sharing.api = { nsIMsgImapMailFolder: members(imap),
        nsIImapIncomingServer: members(server.QueryInterface(Ci.nsIImapIncomingServer)) };
    }
  }
  if (SELECT) {
    // Let the panes paint, and let "Connecting to ..." leave the status bar (best effort).
    const status = win.document.getElementById("statusText");
    for (let i = 0; i < 24 && /…|\.\.\.$/.test(status?.value || ""); i++) await sleep(250);
    await sleep(1000);
  }
  done({ ok: true, uri: folder.URI, messages: folder.getTotalMessages(false), sharing,
        listed: SELECT ? about3Pane.gDBView.rowCount : null,
        subjects: SELECT ? [...Array(Math.min(about3Pane.gDBView.rowCount, 5)).keys()].map(
          i => about3Pane.gDBView.getMsgHdrAt(i).mime2DecodedSubject) : [] });
})().catch(e => done({ ok: false, error: String(e) }));
JS
	} >"$jsfile"
	if ! python3 "$helper" marionette "$marionette_port" "$jsfile" "$(($(left) > 5 ? $(left) : 5))" >"$work/marionette.json" 2>"$work/marionette.log"; then
		result=FAIL; say FAIL "$rel.msf found, but Marionette failed: $(tail -1 "$work/marionette.log")"; exit 1
	fi
	read -r ok messages listed < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r.get("ok"), r.get("messages"), r.get("listed"))' "$work/marionette.json")
	if [ "$ok" != True ]; then
		result=FAIL; say FAIL "$rel.msf found, but: $(cat "$work/marionette.json")"; exit 1
	fi
	detail=", $messages messages cached"
	[ -n "$EXPECT_SUBJECT" ] && detail+=", one of them \"$EXPECT_SUBJECT\""
	if [ -n "$SCREENSHOT" ]; then
		mkdir -p "$(dirname "$SCREENSHOT")"
		if ! timeout 20 import -display "$DISPLAY" -window root -depth 8 -colors 256 "png:$SCREENSHOT" 2>"$work/import.log"; then
			result=FAIL; say FAIL "screenshot failed: $(tail -1 "$work/import.log")"; exit 1
		fi
		detail+=", $listed listed, screenshot $SCREENSHOT ($(($(stat -c %s "$SCREENSHOT") / 1024)) KB)"
	fi
fi
say PASS "$USER sees $EXPECT_FOLDER (ImapMail/$host_dir/$rel.msf among $nfolders folders$detail)"
result=PASS
[ -z "$EXPECT_SHARED_BY" ] && exit 0

# ---- the Sharing tab: judged from what the script above read ------------------------
python3 "$helper" sharing "$work/marionette.json" "$EXPECT_SHARED_BY" "$EXPECT_FOLDER" "$work" || result=FAIL
if [ -n "$SHARING_SCREENSHOT" ]; then
	# The folder Properties dialog on its Sharing tab, opened as the folder pane's
	# "Properties" menu item does (but not modal: the script must return).
	jsfile="$work/sharing.js"
	{
		echo "const WANT = $(jsstr "$EXPECT_FOLDER"), LIMIT = Date.now() + $(($(left) > 8 ? $(left) - 3 : 5)) * 1000;"
		cat <<'JS'
const done = arguments[arguments.length - 1];
(async () => {
  const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
  const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const win = Services.wm.getMostRecentWindow("mail:3pane");
  const folder = MailServices.accounts.defaultAccount.incomingServer.rootFolder.descendants.find(
    f => f instanceof Ci.nsIMsgImapMailFolder && f.onlineName == WANT);
  const dlg = win.openDialog("chrome://messenger/content/folderProps.xhtml", "", "chrome,centerscreen,dialog",
    { folder, serverType: folder.server.type, msgWindow: win.msgWindow, title: folder.prettyName + " Properties",
      okCallback() {}, tabID: "SharingTab", name: folder.prettyName, rebuildSummaryCallback() {} });
  for (;;) {
    const tabs = dlg.document?.getElementById("folderPropTabs");
    if (dlg.document?.readyState == "complete" && tabs?.selectedItem?.id == "SharingTab") break;
    if (Date.now() > LIMIT) throw new Error("the Properties dialog did not show its Sharing tab");
    await sleep(250);
  }
  await sleep(1000); // let it paint
  const text = id => dlg.document.getElementById(id)?.getAttribute("value") || dlg.document.getElementById(id)?.textContent || "";
  done({ ok: true, type: text("folderType.text"), description: text("folderDescription.text"),
         permissions: text("folderPermissions.text") });
})().catch(e => done({ ok: false, error: String(e) }));
JS
	} >"$jsfile"
	if python3 "$helper" marionette "$marionette_port" "$jsfile" "$(($(left) > 5 ? $(left) : 5))" >"$work/sharing.json" 2>>"$work/marionette.log" &&
		grep -q '"ok": true' "$work/sharing.json" && mkdir -p "$(dirname "$SHARING_SCREENSHOT")" &&
		timeout 20 import -display "$DISPLAY" -window root -depth 8 -colors 256 "png:$SHARING_SCREENSHOT" 2>>"$work/import.log"; then
		echo "(Sharing tab: $(cat "$work/sharing.json"); screenshot $SHARING_SCREENSHOT)" >&2
	else
		result=FAIL
		echo "FAIL thunderbird sharing screenshot: $(cat "$work/sharing.json" 2>/dev/null) $(tail -1 "$work/marionette.log")"
	fi
fi
[ "$result" = PASS ]
