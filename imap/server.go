// Package imap is mailgate's IMAP server: a go-imap/v2 imapserver backend
// over the storage mailstore that shows each user its own folders in the
// personal namespace and, under "Other Users/<owner address>/", every
// mailbox it has effective Full Access to (RFC 2342 NAMESPACE), and lets a
// delegate log straight into the owner's mailbox ("delegate\owner" or
// SASL PLAIN with authzid = owner).
//
// Every command that touches another principal's folder asks
// delegation.Directory.Open with the current time, so grants that become
// effective or are revoked count at the next command. A folder the user may
// not open answers exactly as one that does not exist.
//
// It imports storage and delegation; it must not import smtp, admin or cmd.
package imap

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/storage"
)

// Config configures the server.
type Config struct {
	Hostname string
	// TLS is used for STARTTLS on Serve and for ServeTLS. With nil TLS,
	// Serve offers no STARTTLS and ServeTLS fails.
	TLS *tls.Config
	// InsecureAuth allows LOGIN/AUTHENTICATE without TLS (tests, loopback).
	InsecureAuth bool
	// Registerer receives the server's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock for rights decisions; nil means the store's clock.
	Now func() time.Time
	// AppendLimit is the largest message APPEND accepts (APPENDLIMIT,
	// RFC 7889); 0 means 50 MiB.
	AppendLimit uint32
}

// Server is the IMAP server. Serve and ServeTLS may run at the same time
// on different listeners.
type Server struct {
	cfg     Config
	st      *storage.Store
	log     *slog.Logger
	now     func() time.Time
	imap    *imapserver.Server
	boxes   *registry
	metrics *metrics
	nextID  atomic.Uint64
}

// Capabilities: IMAP4rev1 and IMAP4rev2 with the extensions the library
// implements and this backend supports. No ACL/MYRIGHTS (go-imap has no
// hook for extra commands and the team decided not to fork it; rights are
// enforced by the backend instead) and no CONDSTORE/QRESYNC (the library
// does not parse them).
var caps = goimap.CapSet{
	goimap.CapIMAP4rev1:    {},
	goimap.CapIMAP4rev2:    {},
	goimap.CapNamespace:    {},
	goimap.CapUIDPlus:      {},
	goimap.CapMove:         {},
	goimap.CapSpecialUse:   {},
	goimap.CapListExtended: {},
	goimap.CapListStatus:   {},
	goimap.CapStatusSize:   {},
	goimap.CapChildren:     {},
	goimap.CapESearch:      {},
	goimap.CapSearchRes:    {},
	goimap.CapBinary:       {},
	goimap.CapLiteralPlus:  {},
}

// New builds a server over st. It registers one storage change listener,
// so build one Server per Store.
func New(cfg Config, st *storage.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AppendLimit == 0 {
		cfg.AppendLimit = 50 << 20
	}
	s := &Server{cfg: cfg, st: st, log: log, now: cfg.Now, metrics: newMetrics(cfg.Registerer)}
	if s.now == nil {
		s.now = st.Now
	}
	s.boxes = newRegistry(st)
	st.OnChange(s.boxes.onChange)
	s.imap = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         caps,
		Logger:       libLogger{log},
		TLSConfig:    cfg.TLS,
		InsecureAuth: cfg.InsecureAuth,
	})
	return s
}

// Serve accepts plain connections that may upgrade with STARTTLS.
func (s *Server) Serve(ln net.Listener) error {
	return s.imap.Serve(bufListener{ln})
}

// ServeTLS accepts implicit-TLS connections (IMAPS, RFC 8314).
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return fmt.Errorf("imaps: no TLS configuration")
	}
	return s.imap.Serve(tls.NewListener(bufListener{ln}, s.cfg.TLS))
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error { return s.imap.Close() }

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	id := fmt.Sprintf("i%x", s.nextID.Add(1))
	remote := ""
	if a := c.NetConn().RemoteAddr(); a != nil {
		remote = a.String()
	}
	ip := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		ip = h
	}
	sess := &session{
		srv:    s,
		conn:   c,
		id:     id,
		remote: remote,
		ip:     ip,
		log:    s.log.With("proto", "imap", "session", id, "remote", remote),
	}
	s.metrics.sessionStart()
	sess.log.Debug("connected")
	return sess, nil, nil
}

// libLogger sends imapserver's own messages (mostly closed connections) to
// slog: panics recovered by the library at Error, the rest at Debug.
type libLogger struct{ l *slog.Logger }

func (l libLogger) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	if strings.Contains(msg, "panic") {
		l.l.Error("imap library", "err", msg)
		return
	}
	l.l.Debug("imap library", "err", msg)
}
