// Package dav is mailgate's CalDAV server (RFC 4791) on go-webdav's
// caldav handler: every user and shared mailbox has calendars, and
// effective Full Access on a mailbox gives read and write on all of them.
//
// Each request logs in with HTTP Basic (the mail password, through the
// same storage/auth Authenticator and throttle as IMAP and SMTP;
// "delegate\owner" makes the owner's principal the home, as IMAP's
// delegate login does) and asks delegation.Directory.Open as of now for
// every owner it touches, so a revocation refuses the next request. A
// calendar the user may not reach answers 404, exactly as one that does
// not exist.
//
// URLs (prefix /dav):
//
//	/dav/<address>/                       the principal
//	/dav/<address>/calendars/             its calendar home set
//	/dav/<address>/calendars/<name>/      a calendar collection
//	/dav/<address>/calendars/<name>/<obj> an iCalendar object
//	/dav/<address>/calendar-proxy-write/  its delegates (proxy.go)
//	/dav/<address>/calendar-proxy-read/   (empty)
//
// It imports storage, storage/auth and delegation; it must not import
// smtp, imap, admin or cmd.
package dav

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// Config configures a Server.
type Config struct {
	TLS *tls.Config // for Serve; nil serves plain HTTP (tests)
	// InsecureAuth accepts Basic credentials over plain HTTP (tests on
	// loopback only); otherwise such a request is refused.
	InsecureAuth bool
	Auth         *auth.Authenticator
	// BindWindow merges a delegate's calendar_bind audit records: one
	// per actor, calendar and window (0: an hour; negative: every access).
	BindWindow time.Duration
}

// Server serves CalDAV over a store.
type Server struct {
	cfg   Config
	st    storage.Backend
	log   *slog.Logger
	binds storage.BindWindow[bindKey]
	dav   *caldav.Handler
	http  *http.Server
}

// New makes a Server; Serve starts it.
func New(cfg Config, st storage.Backend, log *slog.Logger) *Server {
	if cfg.BindWindow == 0 {
		cfg.BindWindow = time.Hour
	}
	s := &Server{cfg: cfg, st: st, log: log.With("proto", "caldav")}
	s.dav = &caldav.Handler{Backend: backend{s}, Prefix: prefix}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	return s
}

// Serve answers on ln, over TLS when Config.TLS is set.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the listeners and waits for the requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// request is what one HTTP request knows of its user, for the backend
// (in its context).
type request struct {
	dir    *delegation.Directory // the snapshot the request decides on
	now    time.Time
	actor  *delegation.Principal // who logged in
	home   *delegation.Principal // the login's mailbox: actor, or the owner of "delegate\owner"
	target *delegation.Principal // the owner the URL names (home when it names none)
	ip     string
	log    *slog.Logger
	// private caches, per owner, its DelegatesSeePrivate setting for
	// this request (private.go).
	private map[delegation.ID]bool
	// opened and cals cache, for this request's snapshot, resolve's
	// decision per owner and the calendars it read (access.go): a
	// calendar-multiget resolves every href it names.
	opened map[delegation.ID]delegation.Decision
	cals   map[calKey]storage.Calendar
}

// maxBody bounds every request body.
const maxBody = 2 << 20

type ctxKey struct{}

func requestOf(ctx context.Context) *request { return ctx.Value(ctxKey{}).(*request) }

// ServeHTTP authenticates, checks that the URL names something the user
// may reach, and answers: PUT, GET, DELETE, MKCALENDAR and PROPPATCH
// here (objects.go), REPORT sync-collection here (sync.go), PROPFIND of
// another owner's principal here (principals.go); PROPFIND (with
// props.go's additions), the other REPORTs, OPTIONS and MKCOL through
// go-webdav's handler and backend (backend.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("DAV", "1, 3, calendar-access")
	if r.TLS == nil && !s.cfg.InsecureAuth {
		http.Error(w, "use HTTPS", http.StatusForbidden)
		return
	}
	rq, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	// No body mailgate or go-webdav reads is larger: an object is at
	// most MaxCalendarObject, a REPORT or PROPFIND far less.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if r.URL.Path == "/.well-known/caldav" { // RFC 6764 §5
		http.Redirect(w, r, principalPath(rq.home.Address), http.StatusMovedPermanently)
		return
	}
	t, err := s.resolve(rq, r.URL.Path, r.Method == "MKCALENDAR" || r.Method == "MKCOL")
	if err != nil {
		s.writeError(w, rq, err)
		return
	}
	if t.owner != nil {
		rq.target = t.owner
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, rq))
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		err = s.get(w, r, rq, t)
	case http.MethodPut:
		err = s.put(w, r, rq, t)
	case http.MethodDelete:
		err = s.delete(w, r, rq, t)
	case "MKCALENDAR":
		err = s.mkcalendar(w, r, rq, t)
	case "REPORT":
		err = s.report(w, r, rq, t)
	case "PROPPATCH":
		err = s.proppatch(w, r, rq, t)
	case "PROPFIND":
		if t.kind == kindProxy || t.kind == kindPrincipal && t.owner.ID != rq.home.ID {
			err = s.propfindPrincipal(w, r, rq, t)
		} else {
			s.propfind(w, r, rq)
		}
	case http.MethodOptions, "MKCOL":
		s.dav.ServeHTTP(w, r)
	default:
		err = &davError{code: http.StatusMethodNotAllowed, msg: "method not allowed"}
	}
	if err != nil {
		s.writeError(w, rq, err)
	}
}

// authenticate checks the request's Basic credentials and the live right
// of a delegate login; it answers the request itself when they fail. A
// wrong password, an unknown user and a refused delegate login get the
// same 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*request, bool) {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	login, password, ok := r.BasicAuth()
	if !ok {
		unauthorized(w)
		return nil, false
	}
	user, owner, delegated := strings.Cut(login, `\`)
	id, err := s.cfg.Auth.Authenticate(user, password, ip)
	switch {
	case errors.Is(err, auth.ErrThrottled):
		s.log.Info("login throttled", "user", oneLine(user), "remote", ip)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many failed logins, try again later", http.StatusTooManyRequests)
		return nil, false
	case errors.Is(err, auth.ErrAuthFailed):
		s.log.Info("login failed", "user", oneLine(user), "remote", ip, "reason", "credentials")
		unauthorized(w)
		return nil, false
	case err != nil:
		s.log.Error("login", "user", oneLine(user), "err", err)
		http.Error(w, "login temporarily unavailable", http.StatusServiceUnavailable)
		return nil, false
	}
	rq := &request{dir: s.st.Directory(), now: s.st.Now(), ip: ip}
	if rq.actor, ok = rq.dir.Principal(id); !ok {
		unauthorized(w)
		return nil, false
	}
	rq.home = rq.actor
	rq.log = s.log.With("user", rq.actor.Address, "remote", ip)
	if delegated {
		o, found := rq.dir.Lookup(owner)
		var dc delegation.Decision
		if found && o.ID != id {
			dc = rq.dir.Open(id, o.ID, rq.now)
		}
		if !found || o.ID != id && !dc.Allowed {
			rq.log.Info("delegate login refused", "owner", oneLine(owner), "reason", dc.Reason)
			unauthorized(w)
			return nil, false
		}
		rq.home = o
		rq.log = rq.log.With("owner", o.Address)
	}
	rq.target = rq.home
	return rq, true
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="mailgate", charset="UTF-8"`)
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// oneLine keeps a client's text out of the log's structure.
func oneLine(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
