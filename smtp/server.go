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
	"os"
	"sync"
	"sync/atomic"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxMessageBytes = 35 << 20
	DefaultMaxRecipients   = 100
	DefaultMaxHeaderBytes  = 1 << 20
	DefaultMaxCommandBytes = 64 << 10
	DefaultMaxConnsPerIP   = 20
	DefaultMaxConns        = 500
	DefaultMaxErrors       = 10
	DefaultSpoolThreshold  = 1 << 20
	// RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting a command; the
	// client waits at least 3 minutes per data block (§4.5.3.2.5), the
	// server waits as long for it.
	DefaultIdleTimeout   = 5 * time.Minute
	DefaultDataTimeout   = 5 * time.Minute
	DefaultRelayGiveUp   = 5 * 24 * time.Hour
	DefaultRelayRetryMin = time.Minute
	DefaultRelayRetryMax = time.Hour
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

	MaxMessageBytes int64 // 552 5.3.4 above it
	MaxRecipients   int   // 452 4.5.3 above it (RFC 5321 §4.5.3.1.10)
	MaxHeaderBytes  int64 // top-level header section; 552 5.3.4 above it
	// MaxCommandBytes bounds what a client may send outside DATA without
	// getting a reply: one command line, roughly (counted below TLS).
	// Above it: 500 5.4.0 and the connection closes.
	MaxCommandBytes int
	MaxConnsPerIP   int // open connections per remote address, all listeners; 421 4.7.0 at connect above it
	MaxConns        int // open connections in total; 421 4.3.2 at connect above it
	// MaxErrors refused commands (MAIL, RCPT, DATA, AUTH) without an
	// accepted message close the connection: the last one is answered
	// 421 4.7.0.
	MaxErrors   int
	IdleTimeout time.Duration // per read while waiting for a command (and the TLS handshake)
	DataTimeout time.Duration // per read inside DATA or BDAT
	// SpoolDir holds messages larger than SpoolThreshold while they
	// arrive, in unlinked temporary files; "" is os.TempDir().
	SpoolDir       string
	SpoolThreshold int64
	// DeliverMemory bounds the bytes of messages held in memory at once
	// while they are parsed and stored; default 2 × MaxMessageBytes.
	DeliverMemory int64

	Registerer prometheus.Registerer // may be nil: no metrics registered
	Now        func() time.Time      // may be nil: time.Now
	// Auth checks logins (AUTH); one Authenticator shared with IMAP makes
	// failures count across both. nil: one of the server's own over st.
	Auth *auth.Authenticator
}

// Server runs the SMTP listeners and the relay queue over one Store.
type Server struct {
	cfg     Config
	st      storage.Backend
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	conns    *connLimits
	refusing chan struct{} // semaphore of goroutines answering refused connections
	memory   *budget
	spooled  atomic.Int64 // bytes of DATA received and not yet delivered or refused

	wake chan struct{} // pokes the queue worker after a relay entry is queued
	// onAttempt, when set (tests), is called after every relay attempt is
	// recorded.
	onAttempt func(attemptResult)

	mu      sync.Mutex
	servers []*gosmtp.Server // guarded by mu
	closed  bool             // guarded by mu
}

// New returns a Server. Nothing runs until a Serve method or RunQueue.
func New(cfg Config, st storage.Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	cfg.Hostname = safeHost(cfg.Hostname)
	orDefault(&cfg.MaxMessageBytes, DefaultMaxMessageBytes)
	orDefault(&cfg.MaxRecipients, DefaultMaxRecipients)
	orDefault(&cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	orDefault(&cfg.MaxCommandBytes, DefaultMaxCommandBytes)
	orDefault(&cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	orDefault(&cfg.MaxConns, DefaultMaxConns)
	orDefault(&cfg.MaxErrors, DefaultMaxErrors)
	orDefault(&cfg.SpoolThreshold, DefaultSpoolThreshold)
	orDefault(&cfg.DeliverMemory, 2*cfg.MaxMessageBytes)
	orDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	orDefault(&cfg.DataTimeout, DefaultDataTimeout)
	orDefault(&cfg.RelayGiveUp, DefaultRelayGiveUp)
	orDefault(&cfg.RelayRetryMin, DefaultRelayRetryMin)
	orDefault(&cfg.RelayRetryMax, DefaultRelayRetryMax)
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	if cfg.Auth == nil {
		cfg.Auth = auth.New(st, st.Now)
	}
	s := &Server{cfg: cfg, st: st, log: log.With("proto", "smtp"), now: cfg.Now, wake: make(chan struct{}, 1),
		conns: newConnLimits(cfg.MaxConnsPerIP, cfg.MaxConns), refusing: make(chan struct{}, maxRefusing),
		memory: newBudget(cfg.DeliverMemory)}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics(cfg.Registerer, st, s.now, s.log)
	return s
}

func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
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
	return s.serve(lnSubmission, s.limit(ln, lnSubmission, nil), true)
}

// ServeSubmissions serves submission over implicit TLS (RFC 8314 §3.3).
func (s *Server) ServeSubmissions(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("smtp: submissions listener needs a TLS configuration")
	}
	// The connection limits go below TLS: go-smtp type-asserts *tls.Conn.
	return s.serve(lnSubmissions, tls.NewListener(s.limit(ln, lnSubmissions, s.cfg.TLS), s.cfg.TLS), true)
}

// ServeMX serves inbound mail for local recipients: no AUTH, no relaying.
func (s *Server) ServeMX(ln net.Listener) error {
	return s.serve(lnMX, s.limit(ln, lnMX, nil), false)
}

func (s *Server) limit(ln net.Listener, kind string, tlsCfg *tls.Config) *limitListener {
	return &limitListener{Listener: ln, srv: s, kind: kind, tls: tlsCfg}
}

func (s *Server) serve(kind string, ln net.Listener, submission bool) error {
	gs := gosmtp.NewServer(&backend{srv: s, kind: kind, submission: submission})
	gs.Domain = s.cfg.Hostname
	gs.TLSConfig = s.cfg.TLS
	gs.AllowInsecureAuth = s.cfg.InsecureAuth
	gs.MaxMessageBytes = s.cfg.MaxMessageBytes
	gs.MaxRecipients = s.cfg.MaxRecipients
	// No line limit in go-smtp: it applies inside DATA too, and a line
	// over it loses the rest of the stream, so the client never sees a
	// reply. smtpConn bounds command lines instead (MaxCommandBytes), and
	// a long message line costs nothing: it streams to the spool.
	gs.MaxLineLength = 0
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

// errorLog adapts go-smtp's error logger to slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.l.Debug("go-smtp", "err", clean(fmt.Sprintf(format, v...)))
}
func (e errorLog) Println(v ...any) { e.l.Debug("go-smtp", "err", clean(fmt.Sprint(v...))) }
