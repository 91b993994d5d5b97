package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/imap"
	"github.com/mailgate/mailgate/smtp"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// started is what the protocol servers leave for serve: how to stop them
// and what to print.
type started struct {
	closers []func(context.Context)
	banner  []string
	auth    *auth.Authenticator // the logins' one throttle, for the web admin center too
}

// startProtocols starts the SMTP listeners, the relay queue, the IMAP
// listeners and the CalDAV listener. An empty address disables a listener. On error, whatever was
// started is stopped.
func startProtocols(ctx context.Context, c *serveConfig, st storage.Backend, log *slog.Logger, reg prometheus.Registerer, tlsCfg *tls.Config, errc chan<- error) (p started, err error) {
	var lns []net.Listener
	defer func() {
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
		}
	}()
	listen := func(name, addr string) (net.Listener, error) {
		if addr == "" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s listener: %w", name, err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	type listener struct {
		name, addr, banner string
		serve              func(net.Listener) error
	}

	// One authenticator for both protocols: a login failing over SMTP
	// counts against the same IP and account over IMAP.
	au := auth.New(st, st.Now)
	p.auth = au
	ss := smtp.New(smtp.Config{
		Hostname: c.hostname, TLS: tlsCfg, InsecureAuth: c.insecureAuth,
		RelayHost: c.relayHost, RelayUser: c.relayUser, RelayPassword: c.relayPassword, RelayGiveUp: c.relayGiveUp,
		MaxMessageBytes: c.maxMessageSize, MaxRecipients: c.maxRecipients,
		MaxConnsPerIP: c.maxConnsPerIP, MaxConns: c.maxConns, SpoolDir: c.spoolDir,
		Registerer: reg, Auth: au,
	}, st, log)
	is := imap.New(imap.Config{
		Hostname: c.hostname, TLS: tlsCfg, InsecureAuth: c.insecureAuth, Registerer: reg, Auth: au,
		AppendLimit: uint32(min(c.maxMessageSize, 1<<31)),
	}, st, log)

	all := []listener{
		{"submission", c.submissionAddr, "SMTP submission (STARTTLS)", ss.ServeSubmission},
		{"submissions", c.submissionsAddr, "SMTP submission (TLS)", ss.ServeSubmissions},
		{"mx", c.mxAddr, "SMTP inbound (MX)", ss.ServeMX},
		{"imap", c.imapAddr, "IMAP (STARTTLS)", is.Serve},
		{"imaps", c.imapsAddr, "IMAPS (TLS)", is.ServeTLS},
	}
	ds := newDAV(st, au, tlsCfg, log)
	all = append(all, listener{"dav", c.davAddr, "CalDAV (HTTPS)", ds.Serve})
	type bound struct {
		l  listener
		ln net.Listener
	}
	var ready []bound
	for _, l := range all {
		ln, err := listen(l.name, l.addr)
		if err != nil {
			return p, err
		}
		if ln != nil {
			ready = append(ready, bound{l, ln})
			p.banner = append(p.banner, fmt.Sprintf("%-27s %s", l.banner, ln.Addr()))
		}
	}
	for _, b := range ready {
		go func() { errc <- ignoreClosed(b.l.serve(b.ln)) }()
	}
	qctx, qcancel := context.WithCancel(ctx)
	qdone := make(chan struct{})
	go func() { ss.RunQueue(qctx); close(qdone) }()
	if c.relayHost != "" {
		p.banner = append(p.banner, fmt.Sprintf("%-27s %s", "relay (smarthost)", c.relayHost))
	}
	p.closers = append(p.closers, func(ctx context.Context) {
		is.Close()
		ds.Shutdown(ctx)
		ss.Shutdown(ctx)
		qcancel()
		<-qdone
	})
	return p, nil
}
