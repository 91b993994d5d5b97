package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/delegation"
)

// pageData is what every page's template gets.
type pageData struct {
	Title string
	Nav   *navData // nil when nobody is logged in
	CSRF  string
	Flash string
	Data  any
}

// navData is the header: who is logged in, what they administer, and
// for a global administrator the tenant switcher.
type navData struct {
	Address string
	Global  bool
	Tenant  string
	Tenants []string
}

var pageNames = []string{"login", "users", "new", "user", "mail", "permissions", "picker", "tenant", "explain", "audit", "import", "error"}

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"when":    func(t time.Time) string { return t.In(s.cfg.Location).Format("Mon 2 Jan 2006 15:04:05 MST") },
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"left":    func(t time.Time) string { return left(t.Sub(s.cfg.Service.Now())) },
		"right":   func(r delegation.Right) string { return r.String() },
		"flag":    func(r delegation.Right) string { return r.Flags() },
		"kind":    kindName,
		"join":    strings.Join,
		"lower":   strings.ToLower,
		"hasKind": func(k delegation.Kind, want string) bool { return string(k) == want },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
	}
	s.pages = map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New(n).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return fmt.Errorf("web: template %s: %w", n, err)
		}
		s.pages[n] = t
	}
	return nil
}

// left is a countdown's text: "in 59m 12s".
func left(d time.Duration) string {
	if d <= 0 {
		return "now"
	}
	d = d.Truncate(time.Second)
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("in %dh %02dm %02ds", h, m, sec)
	case m > 0:
		return fmt.Sprintf("in %dm %02ds", m, sec)
	}
	return fmt.Sprintf("in %ds", sec)
}

func kindName(k delegation.Kind) string {
	switch k {
	case delegation.KindShared:
		return "Shared mailbox"
	case delegation.KindGroup:
		return "Group"
	}
	return "User"
}

// render executes page name into a buffer first, so a template error
// never sends half a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, pd *pageData) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", pd); err != nil {
		s.cfg.Log.Error("web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

func (s *Server) nav(ss *session) *navData {
	n := &navData{Address: ss.role.Address, Global: ss.role.Global, Tenant: ss.tenant}
	if ss.role.Global {
		for _, t := range s.cfg.Service.Directory().Tenants() {
			n.Tenants = append(n.Tenants, t.Domain)
		}
	}
	return n
}

// fail shows err as a page with its status (admin.Error's, else 500).
func (s *Server) fail(w http.ResponseWriter, ss *session, err error) {
	status := http.StatusInternalServerError
	msg := "internal error (see the server log)"
	var ae *admin.Error
	if errors.As(err, &ae) {
		status, msg = ae.Status, ae.Msg
	} else {
		s.cfg.Log.Error("web: request failed", "err", err)
	}
	pd := &pageData{Title: http.StatusText(status), Data: msg}
	if ss != nil {
		pd.Nav, pd.CSRF = s.nav(ss), ss.csrf
	}
	s.render(w, status, "error", pd)
}
