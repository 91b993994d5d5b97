// Package imap is mailgate's IMAP server, protocol layer included: one
// connection loop and a dispatch table keyed by connection state (RFC 9051
// §3), over imap/wire for the syntax, imap/message for what a message
// shows, imap/sorting for SORT/THREAD and the storage mailstore.
//
// Each user sees its own folders in the personal namespace and, under
// "Other Users/<owner address>/", every mailbox it has effective Full
// Access to (RFC 2342 NAMESPACE); a delegate may log straight into the
// owner's mailbox ("delegate\owner" or SASL PLAIN with authzid = owner).
// Every command, and every update pushed to a session, asks
// delegation.Directory.Open as of now, so a grant that becomes effective or
// is revoked counts at once. A folder the user may not open answers
// exactly as one that does not exist.
//
// It imports storage and delegation; it must not import smtp, admin or cmd.
package imap

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
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
	// Auth checks logins; one Authenticator shared with SMTP makes
	// failures count across both. nil: one of the server's own over st.
	Auth *auth.Authenticator
	// Now is the clock for rights decisions; nil means the store's clock.
	Now func() time.Time
	// AppendLimit is the largest message APPEND accepts (APPENDLIMIT,
	// RFC 7889); 0 means 50 MiB.
	AppendLimit uint32
	// MaxLine is the longest command line (literals excluded); 0 means 64 KiB.
	MaxLine int
	// MaxConnsPerIP caps simultaneous connections from one address; 0
	// means 50, negative means no cap.
	MaxConnsPerIP int
	// PreAuthTimeout and IdleTimeout end a connection that sends nothing:
	// before login (0 means 60 s) and after (0 means 30 min, the least RFC
	// 9051 §5.4 allows). IDLE is exempt.
	PreAuthTimeout, IdleTimeout time.Duration
	// FolderBindWindow merges a delegate's FolderBind audit records: one
	// per delegate, folder and window (0 means an hour, as Exchange merges
	// them per folder; negative means a record for every SELECT/EXAMINE).
	FolderBindWindow time.Duration
}

// Server is the IMAP server. Serve and ServeTLS may run at the same time
// on different listeners.
type Server struct {
	cfg     Config
	st      storage.Backend
	log     *slog.Logger
	now     func() time.Time
	boxes   *registry
	metrics *metrics
	nextID  atomic.Uint64

	mu     sync.Mutex
	lns    map[net.Listener]struct{}    // guarded by mu
	conns  map[*session]struct{}        // guarded by mu
	perIP  map[string]int               // guarded by mu
	byUser map[delegation.ID][]*session // guarded by mu: logged-in sessions by actor
	closed bool                         // guarded by mu
	// grantEnd wakes every session at the next end of a time-boxed
	// grant (armGrantEnd); guarded by mu.
	grantEnd *time.Timer

	recentMu sync.Mutex
	recent   map[uint64]goimap.UID // guarded by recentMu: folder ID → first UID not yet claimed as \Recent (absent: 1)

	binds storage.BindWindow[folderBindKey]
}

// New builds a server over st. It registers storage change listeners, so
// build one Server per Store.
func New(cfg Config, st storage.Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AppendLimit == 0 {
		cfg.AppendLimit = 50 << 20
	}
	if cfg.FolderBindWindow == 0 {
		cfg.FolderBindWindow = time.Hour
	}
	if cfg.MaxLine == 0 {
		cfg.MaxLine = 64 << 10
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 50
	}
	if cfg.PreAuthTimeout == 0 {
		cfg.PreAuthTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.Auth == nil {
		cfg.Auth = auth.New(st, st.Now)
	}
	s := &Server{
		cfg: cfg, st: st, log: log, now: cfg.Now, metrics: newMetrics(cfg.Registerer),
		lns: map[net.Listener]struct{}{}, conns: map[*session]struct{}{}, perIP: map[string]int{},
		byUser: map[delegation.ID][]*session{}, recent: map[uint64]goimap.UID{},
	}
	if s.now == nil {
		s.now = st.Now
	}
	s.boxes = newRegistry(st)
	st.OnChange(s.boxes.onChange)
	st.OnDirectoryChange(s.onDirectoryChange)
	s.armGrantEnd(s.now())
	return s
}

// Serve accepts plain connections that may upgrade with STARTTLS.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeTLS accepts implicit-TLS connections (IMAPS, RFC 8314).
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.cfg.TLS == nil {
		return fmt.Errorf("imaps: no TLS configuration")
	}
	return s.serve(ln, true)
}

func (s *Server) serve(ln net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		delay = 0
		go s.handle(nc, implicitTLS)
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.grantEnd != nil {
		s.grantEnd.Stop()
	}
	lns := make([]net.Listener, 0, len(s.lns))
	for ln := range s.lns {
		lns = append(lns, ln)
	}
	conns := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.kill()
	}
	return nil
}

// admit counts a new connection against the per-IP cap.
func (s *Server) admit(c *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.cfg.MaxConnsPerIP > 0 && s.perIP[c.ip] >= s.cfg.MaxConnsPerIP {
		return false
	}
	s.perIP[c.ip]++
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) leave(c *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	if c.actor != "" {
		list := s.byUser[c.actor]
		for i, x := range list {
			if x == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.byUser, c.actor)
		} else {
			s.byUser[c.actor] = list
		}
	}
}

func (s *Server) loggedIn(c *session) {
	s.mu.Lock()
	s.byUser[c.actor] = append(s.byUser[c.actor], c)
	s.mu.Unlock()
}

// onDirectoryChange ends the sessions of a removed user or one whose
// password changed, and wakes every session so that those waiting in IDLE
// re-check their rights at once.
func (s *Server) onDirectoryChange(ch storage.DirChange) {
	s.mu.Lock()
	var end []*session
	reason := map[*session]string{}
	for _, id := range ch.Removed {
		for _, c := range s.byUser[id] {
			end = append(end, c)
			reason[c] = "your account has been removed"
		}
	}
	for _, id := range ch.PasswordChanged {
		for _, c := range s.byUser[id] {
			end = append(end, c)
			reason[c] = "your password has been changed: log in again"
		}
	}
	s.mu.Unlock()
	for _, c := range end {
		c.endSession(reason[c])
	}
	s.wakeAll()
	s.armGrantEnd(s.now())
}

// wakeAll wakes every session, so that those waiting in IDLE re-check
// their rights at once.
func (s *Server) wakeAll() {
	s.mu.Lock()
	all := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.wake()
	}
}

// \Recent (RFC 3501 §2.3.2) is kept in memory: a message is recent for the
// first session that selects its folder read-write after it arrived (or
// that has the folder selected when it arrives). After a restart every
// message is recent once more, which the flag's loose definition allows;
// IMAP4rev2 dropped it.

// recentFrom is the first UID of a folder no session has claimed.
func (s *Server) recentFrom(folder uint64) goimap.UID {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	if u, ok := s.recent[folder]; ok {
		return u
	}
	return 1
}

// claimRecent claims the UIDs from the first unclaimed one up to uidNext
// (exclusive) and returns where the claim starts.
func (s *Server) claimRecent(folder uint64, uidNext goimap.UID) goimap.UID {
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	from, ok := s.recent[folder]
	if !ok {
		from = 1
	}
	if uidNext > from {
		s.recent[folder] = uidNext
	}
	return from
}
