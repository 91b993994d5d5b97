# Shared by the Thunderbird end-to-end scripts (thunderbird.sh, autoconfig.sh): source it.
# They run a real Thunderbird under Xvfb with a fresh profile, its own HOME and TMPDIR, and
# nothing that phones home. A script sets work (its work dir, with home/ and tmp/), profile,
# THUNDERBIRD, dead_port (the HTTP(S) proxy port Thunderbird is given) and marionette_port,
# then calls
#   tb_quiet_prefs >>"$profile/user.js"   the prefs below (a later user_pref wins)
#   tb_xvfb || ...                        Xvfb on a free display; sets DISPLAY (else tb_error)
#   tb_launch ARGS...                     Thunderbird (extra env in the array tb_env); sets tb_pid
#   tb_stop                               (in its EXIT trap) kills Thunderbird, its children, Xvfb
xvfb_pid= tb_pid= tb_error=
tb_env=()

# tb_workdir TEMPLATE: a fresh work dir (mktemp -d TEMPLATE.XXXXXX) with profile/, home/ and
# tmp/; sets work and profile.
tb_workdir() {
	work=$(mktemp -d "$1.XXXXXX")
	profile="$work/profile"
	mkdir -p "$profile" "$work/home" "$work/tmp"
}

# tb_drop_work [NOTE]: for the EXIT trap, after tb_stop: removes the work dir, or keeps it
# when KEEP=1 or the run failed and says where (NOTE: more logs to name, ", the x in y").
tb_drop_work() {
	if [ "${KEEP:-0}" = 1 ] || [ "${result:-FAIL}" = FAIL ]; then
		echo "(work dir kept: $work; Thunderbird's output in $work/thunderbird.log${1:-})" >&2
	else
		rm -rf "$work"
	fi
}

tb_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tb_jsstr() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# No first-run UI or prompt, nothing phones home, every HTTP(S) request goes to the proxy
# on dead_port (where nothing listens, unless a script puts a proxy there), Marionette on
# marionette_port (used only when Thunderbird is started with --marionette).
tb_quiet_prefs() {
	cat <<EOF
// ---- no first-run UI, no prompts ----
user_pref("mail.provider.enabled", false);
user_pref("mail.shell.checkDefaultClient", false);
user_pref("mail.shell.checkDefaultMail", false);
user_pref("mail.rights.version", 1);
user_pref("mail.rights.override", true);
user_pref("mailnews.start_page.enabled", false);
user_pref("mailnews.start_page.url", "about:blank");
user_pref("mailnews.start_page.override_url", "");
user_pref("mailnews.start_page_override.mstone", "ignore");
user_pref("mail.spotlight.firstRunDone", true);
user_pref("mail.winsearch.firstRunDone", true);
user_pref("mail.ui.migration.version", 999);
user_pref("app.donation.eoy.version.viewed", 999);
user_pref("mail.inappnotifications.enabled", false);
user_pref("mail.inappnotifications.url", "");
user_pref("mail.biff.show_alert", false);
user_pref("mail.biff.play_sound", false);
user_pref("mail.biff.show_tray_icon", false);
user_pref("mail.biff.use_system_alert", false);
user_pref("mail.tabs.warnOnClose", false);
user_pref("mail.warn_on_collapsed_thread_operation", false);
user_pref("mail.showCondensedAddresses", false);
user_pref("mail.openMessageBehavior.version", 1);
user_pref("mail.folder.views.version", 1);
user_pref("calendar.timezone.local", "UTC");
user_pref("calendar.timezone.useSystemTimezone", false);
user_pref("calendar.integration.notify", false);
user_pref("calendar.alarms.show", false);
user_pref("calendar.alarms.showmissed", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.tabs.warnOnClose", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("toolkit.startup.max_resumed_crashes", -1);
user_pref("signon.rememberSignons", true);
user_pref("signon.management.page.breach-alerts.enabled", false);
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("mail.openpgp.fetch_pubkeys_from_wkd", false);
user_pref("mail.e2ee.auto_enable", false);
user_pref("mail.dark-reader.enabled", false);
// ---- nothing phones home (the network is closed; also do not wait for it) ----
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("app.update.staging.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.update.checkInstallTime", false);
user_pref("app.update.service.enabled", false);
user_pref("app.update.url", "");
user_pref("app.normandy.enabled", false);
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("toolkit.telemetry.archive.enabled", false);
user_pref("toolkit.telemetry.server", "");
user_pref("toolkit.telemetry.shutdownPingSender.enabled", false);
user_pref("toolkit.telemetry.firstShutdownPing.enabled", false);
user_pref("toolkit.telemetry.newProfilePing.enabled", false);
user_pref("toolkit.telemetry.updatePing.enabled", false);
user_pref("toolkit.telemetry.bhrPing.enabled", false);
user_pref("toolkit.crashreporter.infoURL", "");
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("datareporting.policy.firstRunURL", "");
user_pref("datareporting.usage.uploadEnabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.update.autoUpdateDefault", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("extensions.blocklist.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("extensions.systemAddon.update.url", "");
user_pref("extensions.webservice.discoverURL", "");
user_pref("extensions.getAddons.discovery.api_url", "");
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("services.sync.enabled", false);
user_pref("identity.fxaccounts.enabled", false);
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.blockedURIs.enabled", false);
user_pref("browser.safebrowsing.provider.google4.updateURL", "");
user_pref("browser.safebrowsing.provider.google.updateURL", "");
user_pref("browser.safebrowsing.provider.mozilla.updateURL", "");
user_pref("browser.region.network.url", "");
user_pref("browser.region.update.enabled", false);
user_pref("browser.search.update", false);
user_pref("browser.search.geoip.url", "");
user_pref("geo.enabled", false);
user_pref("geo.provider.network.url", "");
user_pref("media.gmp-manager.url", "");
user_pref("media.gmp-manager.updateEnabled", false);
user_pref("media.gmp-gmpopenh264.enabled", false);
user_pref("media.gmp-gmpopenh264.autoupdate", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.trr.mode", 5);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.predictor.enabled", false);
user_pref("network.http.speculative-parallel-limit", 0);
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", $dead_port);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", $dead_port);
user_pref("network.proxy.share_proxy_settings", false);
user_pref("network.proxy.no_proxies_on", "");
user_pref("network.proxy.allow_hijacking_localhost", true);
user_pref("security.OCSP.enabled", 0);
user_pref("security.remote_settings.crlite_filters.enabled", false);
user_pref("security.remote_settings.intermediates.enabled", false);
user_pref("security.certerrors.recordEventTelemetry", false);
user_pref("mailnews.auto_config_url", "");
user_pref("mailnews.auto_config.fetchFromISP.enabled", false);
user_pref("mailnews.auto_config.fetchFromExchange.enabled", false);
user_pref("mailnews.auto_config.guess.enabled", false);
user_pref("mail.cloud_files.enabled", false);
user_pref("mailnews.ui.junk.firstuse", false);
user_pref("mail.spam.manualMark", false);
user_pref("mail.server.default.spamLevel", 0);
user_pref("mail.phishing.detection.enabled", false);
user_pref("browser.contentblocking.report.lockwise.enabled", false);
user_pref("captivedetect.canonicalURL", "");
user_pref("network.connectivity-service.IPv4.url", "");
user_pref("network.connectivity-service.IPv6.url", "");


// ---- remote control (only with --marionette) ----
user_pref("marionette.port", $marionette_port);
EOF
}

tb_xvfb() {
	exec 3>"$work/display"
	Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
	xvfb_pid=$!
	exec 3>&-
	for _ in $(seq 1 100); do [ -s "$work/display" ] && break; sleep 0.1; done
	[ -s "$work/display" ] || { tb_error="Xvfb did not start: $(tail -1 "$work/xvfb.log")"; return 1; }
	export DISPLAY=":$(head -1 "$work/display")"
}

# Its own HOME/TMPDIR: nothing is read from or written to the caller's ~/.thunderbird.
# In its own process group (setsid), so that tb_stop finds its child processes.
tb_launch() {
	env "${tb_env[@]}" HOME="$work/home" TMPDIR="$work/tmp" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache" \
		MOZ_CRASHREPORTER_DISABLE=1 MOZ_DISABLE_AUTO_SAFE_MODE=1 MOZ_DISABLE_CONTENT_SANDBOX=1 \
		MOZ_SANDBOX_LOGGING=0 NO_AT_BRIDGE=1 GTK_A11Y=none \
		setsid "$THUNDERBIRD" --profile "$profile" --no-remote "$@" >"$work/thunderbird.log" 2>&1 &
	tb_pid=$!
}

tb_stop() {
	local p
	for p in $tb_pid $xvfb_pid; do
		kill -TERM "$p" 2>/dev/null
	done
	for _ in $(seq 1 30); do
		{ [ -n "$tb_pid" ] && kill -0 "$tb_pid" 2>/dev/null; } || { [ -n "$xvfb_pid" ] && kill -0 "$xvfb_pid" 2>/dev/null; } || break
		sleep 0.1
	done
	for p in $tb_pid $xvfb_pid; do
		kill -KILL "$p" 2>/dev/null
	done
	# Thunderbird's content/utility child processes: in its process group.
	[ -n "$tb_pid" ] && kill -KILL -- "-$tb_pid" 2>/dev/null
	# Only these two: a script's other background jobs are its own to stop.
	for p in $tb_pid $xvfb_pid; do
		wait "$p" 2>/dev/null
	done
}
