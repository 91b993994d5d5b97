package main

import (
	"crypto/tls"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/mailgate/mailgate/dav"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// addDAVFlags adds serve's CalDAV flag (MAILGATE_DAV_ADDR through
// flagsFromEnv, like every other).
func addDAVFlags(f *pflag.FlagSet, c *serveConfig) {
	f.StringVar(&c.davAddr, "dav-addr", "127.0.0.1:8843",
		"CalDAV over HTTPS (calendars, /.well-known/caldav; Full Access covers the owner's calendars)")
}

// newDAV is serve's CalDAV server: the mail listeners' certificate, and
// their authenticator, so failed logins count across IMAP, SMTP and
// CalDAV alike.
func newDAV(st storage.Backend, au *auth.Authenticator, tlsCfg *tls.Config, log *slog.Logger) *dav.Server {
	return dav.New(dav.Config{TLS: tlsCfg, Auth: au}, st, log)
}
