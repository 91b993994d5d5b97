package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/admin/web"
	"github.com/mailgate/mailgate/storage/auth"
)

// startWeb serves the web admin center on addr over HTTPS with the mail
// listeners' certificate; its logins share au, the IMAP/SMTP throttle.
// The same listener answers client autoconfiguration with ac (see
// withAutoconfig). It returns the banner line and the closer.
func startWeb(addr string, svc *admin.Service, au *auth.Authenticator, tlsCfg *tls.Config, ac http.Handler, log *slog.Logger, errc chan<- error) (string, func(context.Context), error) {
	ws, err := web.New(web.Config{Service: svc, Auth: au, Log: log.With("component", "web")})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("admin center listener: %w", err)
	}
	cfg := tlsCfg.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	hs := &http.Server{Handler: withAutoconfig(ws, ac), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, TLSConfig: cfg}
	go func() { errc <- ignoreClosed(hs.Serve(tls.NewListener(ln, cfg))) }()
	return fmt.Sprintf("%-27s https://%s/", "web admin center", ln.Addr()), func(ctx context.Context) { hs.Shutdown(ctx) }, nil
}
