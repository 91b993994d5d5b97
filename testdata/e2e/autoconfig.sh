#!/usr/bin/env bash
# Thunderbird's account wizard end to end: a real Thunderbird, headless under Xvfb, with a
# fresh profile and no account, opens its account hub (File > New > Existing Mail Account),
# is given a name and an e-mail address, nothing else, and presses Continue. It must find
# the settings itself, from the server's client autoconfiguration, and show them; given
# PASSWORD, it then logs in with them and creates the account, as a user finishing the
# wizard would.
#
# usage: AUTOCONFIG_ADDR=127.0.0.1:8443 TLS_CERT=<data>/tls/cert.pem EMAIL=bob@example.test \
#        EXPECT_IMAP=mail.example.test:1993:SSL EXPECT_SMTP=mail.example.test:1465:SSL \
#        testdata/e2e/autoconfig.sh
#
# Env (required):
#   AUTOCONFIG_ADDR host:port of the HTTPS server that answers autoconfig (mailgate's web listener)
#   TLS_CERT        its certificate (PEM; self-signed is fine, see below)
#   EMAIL           the address typed into the wizard
#   EXPECT_IMAP     HOST:PORT:SECURITY the wizard must show as incoming server (SECURITY SSL,
#                   STARTTLS or plain; the protocol must be IMAP, the user name EMAIL)
#   EXPECT_SMTP     the same for the outgoing (SMTP) server
# Env (optional):
#   METHOD          autoconfig (default): Thunderbird's own lookup, fetchConfigFromISP; or
#                   autodiscover: Microsoft's, fetchConfigFromExchange. The other one is off,
#                   and so are ISPDB, the MX lookup's ISPDB query and guessing, so a PASS comes
#                   from the server alone.
#   PASSWORD        EMAIL's password: then also finish the wizard (Continue, the password,
#                   Continue): Thunderbird logs in to the IMAP server it found and creates the
#                   account, which must have the settings shown. The host names of EXPECT_IMAP
#                   and EXPECT_SMTP resolve to 127.0.0.1 for this Thunderbird only (pref
#                   network.dns.localDomains), and TLS_CERT is accepted on their ports too:
#                   for a mailgate on loopback, whose listeners all use that certificate.
#   SCREENSHOT      PNG path: capture the screen with the settings found (imagemagick's import)
#   TB_TIMEOUT      overall limit in seconds (default 60); KEEP=1 keeps the work dir
#   THUNDERBIRD     the binary (default /usr/lib/thunderbird/thunderbird)
#
# Prints one line "PASS thunderbird wizard (METHOD): ..." or "FAIL thunderbird wizard (METHOD): ..."
# and exits 0 or 1 (2 for a usage error or a missing program). Debian packages: thunderbird
# xvfb python3 (imagemagick for SCREENSHOT). A passing run takes 10-15 s on 2 cores.
#
# What it exercises: Thunderbird's own account hub and discovery code, unchanged. Only two
# things of the machine are stood in for, both inside this script's Thunderbird profile:
# - DNS: the profile's HTTP proxy (thunderbird_helper.py proxy) tunnels "CONNECT
#   autoconfig.<domain>:443", "<domain>:443" and "autodiscover.<domain>:443" to
#   AUTOCONFIG_ADDR, as DNS records pointing at the web listener would; it refuses every
#   other request (plain HTTP included), and its log names the URLs Thunderbird asked.
# - a trusted certificate: cert_override.txt accepts TLS_CERT for those three names, as a
#   user's "Confirm Security Exception" would (a real deployment has a CA-signed one).
# - with PASSWORD, DNS for the mail host too: network.dns.localDomains makes it loopback,
#   and cert_override.txt accepts TLS_CERT on the IMAP and SMTP ports found.
# Nothing outside the work dir is changed (no /etc/hosts, no system certificate store).
set -u
here=$(cd "$(dirname "$0")" && pwd)
helper="$here/thunderbird_helper.py"
. "$here/thunderbird_lib.sh"
TB_TIMEOUT=${TB_TIMEOUT:-60}
THUNDERBIRD=${THUNDERBIRD:-/usr/lib/thunderbird/thunderbird}
METHOD=${METHOD:-autoconfig}
SCREENSHOT=${SCREENSHOT:-}
start=$(date +%s)

say() { echo "$1 thunderbird wizard ($METHOD): $2 ($(($(date +%s) - start))s)"; }
usage() { echo "FAIL thunderbird wizard ($METHOD): $1" >&2; exit 2; }
for v in AUTOCONFIG_ADDR TLS_CERT EMAIL EXPECT_IMAP EXPECT_SMTP; do
	[ -n "${!v:-}" ] || usage "missing env $v (need AUTOCONFIG_ADDR TLS_CERT EMAIL EXPECT_IMAP EXPECT_SMTP)"
done
case $METHOD in
autoconfig) isp=true exchange=false ;;
autodiscover) isp=false exchange=true ;;
*) usage "METHOD must be autoconfig or autodiscover" ;;
esac
[ -r "$TLS_CERT" ] || usage "TLS_CERT $TLS_CERT is not readable"
domain=${EMAIL##*@}
[ -x "$THUNDERBIRD" ] || usage "$THUNDERBIRD not found (apt-get install thunderbird)"
command -v Xvfb >/dev/null || usage "Xvfb not found (apt-get install xvfb)"
command -v python3 >/dev/null || usage "python3 not found"
[ -z "$SCREENSHOT" ] || command -v import >/dev/null || usage "import not found (apt-get install imagemagick)"

tb_workdir "${TMPDIR:-/tmp}/thunderbird-autoconfig"
proxy_pid=

cleanup() {
	tb_stop
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
	tb_drop_work ", the proxy's in $work/proxy.log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
deadline=$((start + TB_TIMEOUT - 3))
left() { echo $((deadline - $(date +%s))); }

# ---- the stand-in for DNS: a proxy that knows three names --------------------------
python3 "$helper" proxy "$work/proxy.port" "$AUTOCONFIG_ADDR" "autoconfig.$domain" "$domain" "autodiscover.$domain" \
	>"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 1 50); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
[ -s "$work/proxy.port" ] || { result=FAIL; say FAIL "the proxy did not start: $(tail -1 "$work/proxy.log")"; exit 1; }

# ---- profile: no account; discovery by METHOD only ---------------------------------
dead_port=$(cat "$work/proxy.port")
marionette_port=$(tb_free_port)
{
	tb_quiet_prefs
	cat <<EOF

// ---- the account wizard: discovery from the server only ----
user_pref("mail.provider.suppress_dialog_on_startup", true);
user_pref("mailnews.auto_config.fetchFromISP.enabled", $isp);
user_pref("mailnews.auto_config.fetchFromExchange.enabled", $exchange);
user_pref("mailnews.auto_config_url", "");
user_pref("mailnews.auto_config.addons_url", "");
user_pref("mailnews.auto_config.guess.enabled", false);
user_pref("mail.accounthub.thundermail.enabled", false);
user_pref("mail.setup.loglevel", "All");
user_pref("devtools.console.stdout.chrome", true);
EOF
	if [ -n "${PASSWORD:-}" ]; then
		echo "user_pref(\"network.dns.localDomains\", $(tb_jsstr "${EXPECT_IMAP%%:*},${EXPECT_SMTP%%:*}"));"
		echo '// no address book step after the account is made (nothing here to find)'
		echo 'user_pref("mail.accounthub.addressbook.enabled", false);'
	fi
} >"$profile/user.js"
overrides=("$domain:443" "autodiscover.$domain:443")
[ -n "${PASSWORD:-}" ] && overrides+=("${EXPECT_IMAP%:*}" "${EXPECT_SMTP%:*}")
if ! python3 "$helper" certoverride "$profile" "autoconfig.$domain" 443 "$TLS_CERT" "${overrides[@]}" \
	>"$work/helper.log" 2>&1; then
	result=FAIL; say FAIL "could not write cert_override.txt from $TLS_CERT: $(tail -1 "$work/helper.log")"; exit 1
fi

tb_xvfb || { result=FAIL; say FAIL "$tb_error"; exit 1; }
# The password reaches the wizard through Thunderbird's environment, never a file of the
# work dir (which is kept on FAIL).
[ -n "${PASSWORD:-}" ] && tb_env=(TB_WIZARD_PASSWORD="$PASSWORD")
tb_launch --marionette --remote-allow-system-access

# ---- the wizard, driven through Marionette ------------------------------------------
# Chrome JavaScript in the main window does what a user does: open the account hub, type a
# name and the address into its two fields (input events, as typing fires), click Continue,
# then wait for the "settings found" step and read what it shows.
jsfile="$work/wizard.js"
{
	echo "const EMAIL = $(tb_jsstr "$EMAIL"), LIMIT = Date.now() + $(($(left) - 3)) * 1000;"
	cat <<'JS'
const done = arguments[arguments.length - 1];
(async () => {
  const { setTimeout } = ChromeUtils.importESModule("resource://gre/modules/Timer.sys.mjs");
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const PASSWORD = Services.env.get("TB_WIZARD_PASSWORD");
  const T0 = Date.now(), stages = [];
  const until = async (what, f) => {
    for (;;) {
      const v = f();
      if (v) {
        stages.push(what + " " + (Date.now() - T0) + " ms");
        return v;
      }
      if (Date.now() > LIMIT) throw new Error("timed out waiting for " + what + " (" + stages.join(", ") + ")");
      await sleep(100);
    }
  };
  const win = await until("the main window", () => {
    const w = Services.wm.getMostRecentWindow("mail:3pane");
    return w?.openAccountHub && w.document.readyState == "complete" ? w : null;
  });
  await win.openAccountHub("MAIL");
  const doc = win.document;
  // The hub is a <dialog> held by <account-hub-container>; the e-mail flow is a view in it.
  const view = await until("the e-mail setup view",
    () => doc.querySelector("account-hub-container")?.modal?.querySelector("account-hub-email"));
  const field = id => view.querySelector("#emailAutoConfigSubview #" + id);
  await until("the address form", () => field("email") && field("realName"));
  for (const [id, value] of [["realName", "Bob"], ["email", EMAIL]]) {
    field(id).focus();
    field(id).value = value;
    field(id).dispatchEvent(new win.InputEvent("input", { bubbles: true }));
  }
  const forward = await until("an enabled Continue button", () => {
    const b = view.querySelector("#emailFooter #forward");
    return b && !b.hidden && !b.disabled ? b : null;
  });
  const t0 = Date.now();
  forward.click();
  const found = view.querySelector("#emailConfigFoundSubview");
  const q = id => found.querySelector("#" + id);
  // The step shown when nothing is found (manual configuration) or an error notification.
  const other = () => [...view.querySelectorAll(".account-hub-step")].find(s => !s.hidden && s != found &&
    s.id != "emailAutoConfigSubview");
  const notice = () => view.querySelector("#emailAutoConfigSubview")?.shadowRoot?.textContent?.trim() ||
    [...view.querySelectorAll("#emailAutoConfigSubview .notification-title, #emailAutoConfigSubview account-hub-notification")]
      .map(n => n.textContent.trim()).filter(Boolean).join(" ");
  await until("the settings found", () => (!found.hidden && q("incomingHost")?.textContent) || other() ||
    (!view.classList.contains("busy") && Date.now() - t0 > 2000 && notice()));
  if (found.hidden) {
    // Nothing found leads to the manual setup (emailIncomingConfigSubview); an error keeps
    // the address form with a notification.
    done({ ok: false, error: "no settings found; the wizard shows " +
      (other()?.id || "the address form: " + notice().slice(0, 300)) });
    return;
  }
  // With the same user name, security and authentication for both servers the step
  // shows them once, under "All servers" (the shared* fields).
  const shared = found.querySelector("#configSelection").classList.contains("is-showing-shared-config");
  const detail = (side, what) => q((shared ? "shared" : side) + what);
  await until("the security labels", () => detail("incoming", "SocketType").textContent && detail("outgoing", "SocketType").textContent);
  const server = side => ({
    type: q(side + "Type").textContent.trim(),
    host: q(side + "Host").textContent.trim(),
    port: q(side + "Port").textContent.trim(),
    security: { "account-hub-result-security-ssl": "SSL", "account-hub-result-security-starttls": "STARTTLS",
      "account-hub-result-security-no-encryption": "plain" }[detail(side, "SocketType").getAttribute("data-l10n-id")] ||
      detail(side, "SocketType").getAttribute("data-l10n-id"),
    securityText: detail(side, "SocketType").textContent.trim(),
    username: detail(side, "Username").textContent.trim(),
    hidden: !!q(side + "Config")?.hidden,
  });
  const shown = { incoming: server("incoming"), outgoing: server("outgoing") };
  let account = null;
  if (PASSWORD) {
    // Finish: Continue, the password, Continue; Thunderbird logs in and creates the account.
    const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
    const forwardReady = () => {
      const b = view.querySelector("#emailFooter #forward");
      return b && !b.hidden && !b.disabled && !view.classList.contains("busy") ? b : null;
    };
    (await until("Continue on the settings", forwardReady)).click();
    const pw = await until("the password step", () => {
      const st = view.querySelector("#emailPasswordSubview");
      return st && !st.hidden && st.querySelector("#password") ? st.querySelector("#password") : null;
    });
    pw.focus();
    pw.value = PASSWORD;
    pw.dispatchEvent(new win.InputEvent("input", { bubbles: true }));
    (await until("Continue on the password", forwardReady)).click();
    const acct = await until("the account to be created", () => MailServices.accounts.accounts.find(
      a => a.incomingServer?.type == "imap" && a.defaultIdentity?.email == EMAIL));
    const sec = t => ({ 0: "plain", 2: "STARTTLS", 3: "SSL" })[t] ?? String(t);
    const inc = acct.incomingServer;
    const out = MailServices.outgoingServer.getServerByIdentity(acct.defaultIdentity);
    const smtp = out?.QueryInterface(Ci.nsISmtpServer);
    account = {
      incoming: { type: inc.type, host: inc.hostname, port: String(inc.port), security: sec(inc.socketType), username: inc.username },
      outgoing: { type: "smtp", host: smtp?.hostname, port: String(smtp?.port), security: sec(out?.socketType), username: out?.username },
    };
  }
  done({ ok: true, ms: Date.now() - t0, stages, shared, ...shown, account });
})().catch(e => done({ ok: false, error: String(e) }));
JS
} >"$jsfile"
if ! python3 "$helper" marionette "$marionette_port" "$jsfile" "$(($(left) > 5 ? $(left) : 5))" >"$work/wizard.json" 2>"$work/marionette.log"; then
	result=FAIL
	kill -0 "$tb_pid" 2>/dev/null || { say FAIL "Thunderbird exited: $(tail -1 "$work/thunderbird.log")"; exit 1; }
	say FAIL "Marionette: $(tail -1 "$work/marionette.log")"; exit 1
fi
asked=$(sed -n 's/^TUNNEL \([^ :]*\):443 .*/https:\/\/\1/p' "$work/proxy.log" | sort -u | paste -sd " ")
refused=$(grep -c '^REFUSED' "$work/proxy.log")

# ---- the verdict ----------------------------------------------------------------------
if [ -n "$SCREENSHOT" ] && grep -q '"ok": true' "$work/wizard.json"; then
	mkdir -p "$(dirname "$SCREENSHOT")"
	timeout 20 import -display "$DISPLAY" -window root -depth 8 -colors 256 "png:$SCREENSHOT" 2>"$work/import.log" ||
		{ result=FAIL; say FAIL "screenshot failed: $(tail -1 "$work/import.log")"; exit 1; }
fi
verdict=$(python3 - "$work/wizard.json" "$EMAIL" "$EXPECT_IMAP" "$EXPECT_SMTP" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
email, want = sys.argv[2], {"incoming": ("imap", sys.argv[3]), "outgoing": ("smtp", sys.argv[4])}
if not isinstance(r, dict) or not r.get("ok"):
    print("FAIL " + (r.get("error") if isinstance(r, dict) else json.dumps(r)))
    sys.exit()
bad, shown = [], []
for side, (typ, spec) in want.items():
    s = r[side]
    got = "%s %s:%s %s user %s" % (s["type"], s["host"], s["port"], s["security"], s["username"])
    host, port, sec = spec.rsplit(":", 2)
    exp = "%s %s:%s %s user %s" % (typ, host, port, sec, email)
    shown.append("%s %s" % (side, got))
    if s["hidden"] or got.lower() != exp.lower():
        bad.append("%s shows %r%s, want %r" % (side, got, " (hidden)" if s["hidden"] else "", exp))
acct = r.get("account")
if acct:
    for side, (typ, spec) in want.items():
        a = acct[side]
        host, port, sec = spec.rsplit(":", 2)
        got = "%s %s:%s %s user %s" % (a["type"], a["host"], a["port"], a["security"], a["username"])
        exp = "%s %s:%s %s user %s" % (typ, host, port, sec, email)
        if got.lower() != exp.lower():
            bad.append("the account created has %s %r, want %r" % (side, got, exp))
if bad:
    print("FAIL " + "; ".join(bad))
else:
    print("PASS " + ", ".join(shown) + " (%d ms after Continue)" % r["ms"] +
          ("; Thunderbird logged in and created the account with them" if acct else ""))
PY
)
case $verdict in
PASS\ *) result=PASS; say PASS "$EMAIL: ${verdict#PASS }; Thunderbird connected to ${asked:-none of our names}; $refused other requests refused" ;;
*)
	result=FAIL
	command -v import >/dev/null && import -display "$DISPLAY" -window root "png:$work/failure.png" 2>/dev/null &&
		echo "(screen at the time of failure: $work/failure.png)" >&2
	say FAIL "$EMAIL: ${verdict#FAIL }; Thunderbird connected to ${asked:-none of our names}; $refused other requests refused"
	;;
esac
[ "$result" = PASS ]
