// Package web is the web admin center: server-rendered pages (html/template,
// no JavaScript needed; admin.js only animates countdowns) over the admin
// operations, so every change is the same audited admin.Service call as the
// CLI's. Administrators (storage.AdminStore) log in with their own mail
// password through the same storage/auth Authenticator, and so the same
// failed-login throttle, as IMAP and SMTP. A tenant administrator sees and
// changes only its tenant: every handler checks the tenant of every
// address it touches.
//
// It imports only admin, storage (with storage/auth) and delegation; it
// must not import smtp, imap or cmd.
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Authenticator checks a login (storage/auth.Authenticator).
type Authenticator interface {
	Authenticate(login, password, remoteIP string) (delegation.ID, error)
}

// Config is what the admin center runs on.
type Config struct {
	Service *admin.Service
	Auth    Authenticator // share the IMAP/SMTP one: one throttle for all
	Log     *slog.Logger
	// Now is the sessions' clock (nil: time.Now); grants' times come from
	// the store's clock.
	Now func() time.Time
	// Location is where times are shown (nil: time.Local).
	Location *time.Location
	// IdleTimeout ends a session unused this long (default 30m); MaxAge
	// ends any session this long after login (default 12h).
	IdleTimeout, MaxAge time.Duration
	// MaxUpload bounds an uploaded import file (default, and at most,
	// admin.MaxImportBytes, the service's own limit).
	MaxUpload int64
}

// Server is the admin center's HTTP handler.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session // guarded by mu; by cookie value
}

const (
	cookieName      = "mailgate_admin"
	loginCookieName = "mailgate_login" // the login form's CSRF token, before a session exists
)

// session is one administrator's login, kept in memory only.
type session struct {
	id      string
	csrf    string
	userID  delegation.ID
	role    storage.Admin // refreshed on every request
	tenant  string        // the tenant shown (global administrators switch it)
	created time.Time
	seen    time.Time
	flash   string
}

// actor is how audit records name the session's administrator.
func (s *session) actor() storage.Party {
	return storage.Party{Address: "web:" + s.role.Address, ID: s.userID}
}

// inScope reports whether the administrator may see and change tenant.
func (s *session) inScope(tenant string) bool { return s.role.Global || tenant == s.role.Tenant }

// New returns the admin center.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("web: Config needs Service and Auth")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.MaxUpload <= 0 || cfg.MaxUpload > admin.MaxImportBytes {
		cfg.MaxUpload = admin.MaxImportBytes
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), sessions: map[string]*session{}}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	s.bulkRoutes()
	return s, nil
}

// ServeHTTP sets the security headers on every answer and serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsh := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fsh.ServeHTTP(w, r)
	})
}

func randomToken() string {
	b := make([]byte, 32) // 256 bits
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// newSession logs an administrator in: always a fresh id (no fixation).
func (s *Server) newSession(id delegation.ID, role storage.Admin) *session {
	now := s.cfg.Now()
	ss := &session{id: randomToken(), csrf: randomToken(), userID: id, role: role, tenant: role.Tenant, created: now, seen: now}
	if role.Global {
		if ts := s.cfg.Service.Directory().Tenants(); len(ts) > 0 {
			ss.tenant = ts[0].Domain
		}
	}
	s.mu.Lock()
	for id, o := range s.sessions { // forget the expired ones nobody came back to
		if s.expired(o, now) {
			delete(s.sessions, id)
		}
	}
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	return ss
}

func (s *Server) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.seen) > s.cfg.IdleTimeout || now.Sub(ss.created) > s.cfg.MaxAge
}

// session finds the request's live session, refreshing its role from the
// store (a role taken away ends it); nil when there is none.
func (s *Server) session(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	now := s.cfg.Now()
	s.mu.Lock()
	ss := s.sessions[c.Value]
	if ss != nil && s.expired(ss, now) {
		delete(s.sessions, ss.id)
		ss = nil
	}
	if ss != nil {
		ss.seen = now
	}
	s.mu.Unlock()
	if ss == nil {
		return nil
	}
	role, ok, err := s.cfg.Service.AdminRole(ss.userID)
	if err != nil || !ok {
		s.endSession(ss)
		return nil
	}
	s.mu.Lock()
	if !role.Global {
		ss.tenant = role.Tenant // a tenant administrator sees its tenant only
	}
	ss.role = role
	s.mu.Unlock()
	return ss
}

func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
}

// takeFlash returns and clears the session's one-shot message.
func (s *Server) takeFlash(ss *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = ""
	return f
}

func (s *Server) setFlash(ss *session, msg string) {
	s.mu.Lock()
	ss.flash = msg
	s.mu.Unlock()
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errThrottled tells the login page to say "try later".
func isThrottled(err error) bool { return errors.Is(err, auth.ErrThrottled) }
