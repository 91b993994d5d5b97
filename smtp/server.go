// Package smtp is mailgate's SMTP side: the submission listeners (RFC 6409,
// STARTTLS and implicit TLS) that enforce Send As and Send on Behalf on the
// From header, the inbound MX listener for local recipients, local delivery
// into the mailstore, and the relay queue worker that hands other domains'
// mail to the smarthost and returns DSNs (RFC 3464) when it gives up.
//
// It is built on go-smtp (server and client) and go-message (headers). The
// send decision is delegation's; this package maps it onto the header
// (rewrite.go) and the reply. It imports storage and delegation, and must
// not import imap, admin or cmd.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/storage"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxMessageBytes = 35 << 20
	DefaultMaxRecipients   = 100
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultRelayGiveUp     = 5 * 24 * time.Hour
	DefaultRelayRetryMin   = time.Minute
	DefaultRelayRetryMax   = time.Hour
)

// Config configures a Server. Zero values get the defaults above.
type Config struct {
	Hostname string      // our name in the greeting, Received lines, Message-IDs and DSNs
	TLS      *tls.Config // may be nil: no STARTTLS, and ServeSubmissions refuses to run
	// InsecureAuth allows AUTH without TLS (tests on loopback only).
	InsecureAuth bool

	RelayHost     string // host:port of the smarthost; "" refuses other domains at RCPT
	RelayUser     string // "" means no AUTH to the smarthost
	RelayPassword string
	// RelayTLS, when set, makes STARTTLS to the smarthost mandatory (its
	// ServerName defaults to the relay host). When nil: implicit TLS on port
	// 465, mandatory STARTTLS verified with the system roots when RelayUser is
	// set and the host is not loopback, plain SMTP otherwise.
	RelayTLS      *tls.Config
	RelayGiveUp   time.Duration
	RelayRetryMin time.Duration // first retry delay, doubled each attempt
	RelayRetryMax time.Duration // cap on the retry delay

	MaxMessageBytes int64
	MaxRecipients   int
	IdleTimeout     time.Duration // per read, including inside DATA

	Registerer prometheus.Registerer // may be nil: no metrics registered
	Now        func() time.Time      // may be nil: time.Now
}

// Server runs the SMTP listeners and the relay queue over one Store.
type Server struct {
	cfg     Config
	st      *storage.Store
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	wake chan struct{} // pokes the queue worker after a relay entry is queued
	// onAttempt, when set (tests), is called after every relay attempt is
	// recorded.
	onAttempt func(attemptResult)

	mu      sync.Mutex
	servers []*gosmtp.Server // guarded by mu
	closed  bool             // guarded by mu
}

// New returns a Server. Nothing runs until a Serve method or RunQueue.
func New(cfg Config, st *storage.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	cfg.Hostname = safeHost(cfg.Hostname)
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.RelayGiveUp <= 0 {
		cfg.RelayGiveUp = DefaultRelayGiveUp
	}
	if cfg.RelayRetryMin <= 0 {
		cfg.RelayRetryMin = DefaultRelayRetryMin
	}
	if cfg.RelayRetryMax <= 0 {
		cfg.RelayRetryMax = DefaultRelayRetryMax
	}
	s := &Server{cfg: cfg, st: st, log: log.With("proto", "smtp"), now: cfg.Now, wake: make(chan struct{}, 1)}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics(cfg.Registerer, st, s.now, s.log)
	return s
}

// listener kinds, the label of the sessions metric.
const (
	lnSubmission  = "submission"
	lnSubmissions = "submissions"
	lnMX          = "mx"
)

// ServeSubmission serves message submission with STARTTLS (RFC 6409 on
// port 587 style listeners). It returns when the listener is closed.
func (s *Server) ServeSubmission(ln net.Listener) error {
	return s.serve(lnSubmission, s.idle(ln, lnSubmission), true)
}

// ServeSubmissions serves submission over implicit TLS (RFC 8314 §3.3).
func (s *Server) ServeSubmissions(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("smtp: submissions listener needs a TLS configuration")
	}
	// The idle deadline goes below TLS: go-smtp type-asserts *tls.Conn.
	return s.serve(lnSubmissions, tls.NewListener(s.idle(ln, lnSubmissions), s.cfg.TLS), true)
}

// ServeMX serves inbound mail for local recipients: no AUTH, no relaying.
func (s *Server) ServeMX(ln net.Listener) error {
	return s.serve(lnMX, s.idle(ln, lnMX), false)
}

func (s *Server) idle(ln net.Listener, kind string) idleListener {
	return idleListener{ln, s.cfg.IdleTimeout, func() { s.metrics.session(kind) }}
}

func (s *Server) serve(kind string, ln net.Listener, submission bool) error {
	gs := gosmtp.NewServer(&backend{srv: s, kind: kind, submission: submission})
	gs.Domain = s.cfg.Hostname
	gs.TLSConfig = s.cfg.TLS
	gs.AllowInsecureAuth = s.cfg.InsecureAuth
	gs.MaxMessageBytes = s.cfg.MaxMessageBytes
	gs.MaxRecipients = s.cfg.MaxRecipients
	gs.MaxLineLength = 64 << 10 // RFC 5321 §4.5.3.1.6 says 1000; be lenient with long body lines, but bounded
	gs.WriteTimeout = s.cfg.IdleTimeout
	gs.ErrorLog = errorLog{s.log.With("listener", kind)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return gosmtp.ErrServerClosed
	}
	s.servers = append(s.servers, gs)
	s.mu.Unlock()
	err := gs.Serve(ln)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for open sessions to end
// (or ctx to expire, then closes them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.mu.Unlock()
	var first error
	for _, gs := range servers {
		err := gs.Shutdown(ctx)
		if err != nil && !errors.Is(err, gosmtp.ErrServerClosed) {
			gs.Close()
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// idleListener sets a read deadline before every Read, so a client idle for
// d is dropped, while a long DATA that keeps sending is not (go-smtp's
// ReadTimeout is set once per command line, not per read).
type idleListener struct {
	net.Listener
	d        time.Duration
	accepted func() // may be nil: counts connections
}

func (l idleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.accepted != nil {
		l.accepted()
	}
	return idleConn{c, l.d}, nil
}

type idleConn struct {
	net.Conn
	d time.Duration
}

func (c idleConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.d))
	return c.Conn.Read(b)
}

// errorLog adapts go-smtp's error logger to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.l.Debug("go-smtp", "err", clean(fmt.Sprintf(format, v...)))
}
func (e errorLog) Println(v ...any) { e.l.Debug("go-smtp", "err", clean(fmt.Sprint(v...))) }
