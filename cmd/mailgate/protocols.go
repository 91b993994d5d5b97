package main

import (
	"context"
	"crypto/tls"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/storage"
)

// started is what the protocol servers leave for serve: how to stop them
// and what to print.
type started struct {
	closers []func(context.Context)
	banner  []string
}

// startProtocols starts the SMTP and IMAP listeners. (Wired in once the
// smtp and imap packages land.)
func startProtocols(ctx context.Context, c *serveConfig, st *storage.Store, log *slog.Logger, reg prometheus.Registerer, tlsCfg *tls.Config, errc chan<- error) (started, error) {
	return started{}, nil
}
