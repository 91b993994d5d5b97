// Package autoconfig answers mail clients that set themselves up from an
// e-mail address: Thunderbird's autoconfig (the clientConfig 1.1 file at
// /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml)
// and Outlook's autodiscover POX ([MS-OXDSCLI], /autodiscover/autodiscover.xml).
// Both name the public IMAP and submission host names and ports; only a
// domain the server serves gets an answer, and the answer is the same for
// every address of that domain (so it tells nobody which users exist).
//
// It imports only the standard library and delegation (for address
// normalisation); it must not import storage, smtp, imap or cmd: the
// caller says which domains are served through Config.Serves.
package autoconfig

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/mailgate/mailgate/delegation"
)

// Security is how a client secures a connection to a Server.
type Security int

const (
	// TLS is implicit TLS from the first byte (IMAPS 993, submissions
	// 465; RFC 8314, which prefers it).
	TLS Security = iota + 1
	// STARTTLS is a plain connection upgraded by STARTTLS before login
	// (IMAP 143, RFC 3501 §6.2.1; submission 587, RFC 6409, RFC 3207).
	STARTTLS
)

func (s Security) String() string {
	switch s {
	case TLS:
		return "TLS"
	case STARTTLS:
		return "STARTTLS"
	}
	return "invalid"
}

// Server is one public endpoint: what a client outside connects to (a
// load balancer's name and port, when there is one), not necessarily the
// listener's own address.
type Server struct {
	Host     string
	Port     int
	Security Security
}

// Config is what Handler advertises. It is read once by Handler, which
// keeps a copy: later changes to the slices have no effect.
type Config struct {
	// IMAP and Submission list the servers in the order of preference
	// (the first is the one a client picks); either may be empty.
	IMAP, Submission []Server
	// DisplayName is the provider's name shown by clients; "" means the
	// domain asked for.
	DisplayName string
	// Serves reports whether a (lower-case) domain is served here; a
	// domain it refuses gets 404, so the server never offers itself for
	// someone else's domain. nil serves no domain.
	Serves func(domain string) bool
	// Log gets one debug line per answered request; nil discards.
	Log *slog.Logger
}

// Paths of the three documents. Exchange's paths are case-insensitive and
// Outlook asks for /Autodiscover/Autodiscover.xml, so the autodiscover
// path is matched without regard to case.
const (
	PathAutoconfig   = "/mail/config-v1.1.xml"
	PathWellKnown    = "/.well-known/autoconfig/mail/config-v1.1.xml"
	PathAutodiscover = "/autodiscover/autodiscover.xml"
)

// maxRequestBody bounds an autodiscover request (Thunderbird's and
// Outlook's are a few hundred bytes).
const maxRequestBody = 64 << 10

type handler struct {
	cfg Config
	log *slog.Logger
}

// Handler serves the three documents of Config; every other path is 404,
// so the handler can be mounted at "/" of a larger server or only on its
// paths.
func Handler(cfg Config) http.Handler {
	cfg.IMAP = append([]Server(nil), cfg.IMAP...)
	cfg.Submission = append([]Server(nil), cfg.Submission...)
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg, log: log}
}

// IsPath reports whether Handler answers path, for a server that routes
// these requests past its login and CSRF checks (clients send no
// session, and the autodiscover path is matched in any case, which a
// ServeMux pattern cannot do).
func IsPath(path string) bool {
	return path == PathAutoconfig || path == PathWellKnown || strings.EqualFold(path, PathAutodiscover)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == PathAutoconfig || r.URL.Path == PathWellKnown:
		h.autoconfig(w, r)
	case strings.EqualFold(r.URL.Path, PathAutodiscover):
		h.autodiscover(w, r)
	default:
		http.NotFound(w, r)
	}
}

// served returns the normalised domain if the server serves it.
func (h *handler) served(domain string) (string, bool) {
	d := strings.ToLower(strings.TrimSpace(domain))
	if d == "" || h.cfg.Serves == nil || !h.cfg.Serves(d) {
		return d, false
	}
	return d, true
}

// address checks an e-mail address the way the directory does and
// returns its canonical form and domain.
func address(addr string) (norm, domain string, err error) {
	a, err := delegation.NormalizeAddress(addr)
	if err != nil {
		return "", "", err
	}
	return a, delegation.Domain(a), nil
}

// hostDomain is the mail domain that a request's Host names: the domain
// itself (https://example.test/.well-known/...) or one of the names
// clients try first (autoconfig.example.test, autodiscover.example.test).
func (h *handler) hostDomain(host string) (string, bool) {
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if d, ok := h.served(host); ok {
		return d, true
	}
	for _, p := range []string{"autoconfig.", "autodiscover."} {
		if rest, ok := strings.CutPrefix(host, p); ok {
			if d, ok := h.served(rest); ok {
				return d, true
			}
		}
	}
	return host, false
}

// writeXML sends v as an XML document with status code. v is marshalled
// before anything is written, so a failure is a clean 500.
func (h *handler) writeXML(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		h.log.Error("autoconfig: encode response", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	buf.WriteByte('\n')
	hd := w.Header()
	// Thunderbird parses the body as XML only with an XML media type.
	hd.Set("Content-Type", "application/xml; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// requestID names one answer in the log and in an autodiscover error.
func requestID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
