package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

func (s *Server) routes() {
	s.mux.Handle("GET /static/", s.static())
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.logout)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/users", http.StatusSeeOther) })
	s.get("GET /users", "users", s.usersPage)
	s.get("GET /users/new", "new", s.newPage)
	s.get("GET /user", "user", s.userPage)
	s.get("GET /user/mail", "mail", s.mailPage)
	s.get("GET /user/permissions", "permissions", s.permissionsPage)
	s.get("GET /user/permissions/add", "picker", s.pickerPage)
	s.get("GET /tenant", "tenant", s.tenantPage)
	s.get("GET /explain", "explain", s.explainPage)
	s.get("GET /audit", "audit", s.auditPage)
	s.post("POST /users/new", s.addPrincipal)
	s.post("POST /user/permissions/add", s.addGrants)
	s.post("POST /user/permissions/remove", s.removeGrant)
	s.post("POST /user/rename", s.rename)
	s.post("POST /user/alias/add", s.aliasAdd)
	s.post("POST /user/alias/remove", s.aliasRemove)
	s.post("POST /user/member/add", s.memberAdd)
	s.post("POST /user/member/remove", s.memberRemove)
	s.post("POST /user/remove", s.removePrincipal)
	s.post("POST /user/mail", s.mailSettings)
	s.post("POST /tenant/propagation", s.setPropagation)
	s.post("POST /tenant/switch", s.switchTenant)
}

// getPage builds a page for a logged-in administrator: its title and data.
type getPage func(r *http.Request, ss *session) (title string, data any, err error)

// postAction makes one change: where to go next and what to say there.
type postAction func(r *http.Request, ss *session) (next, flash string, err error)

func (s *Server) get(pattern, name string, fn getPage) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ss := s.session(r)
		if ss == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		title, data, err := fn(r, ss)
		if err != nil {
			s.fail(w, ss, err)
			return
		}
		s.render(w, http.StatusOK, name, &pageData{Title: title, Nav: s.nav(ss), CSRF: ss.csrf, Flash: s.takeFlash(ss), Data: data})
	})
}

// post checks the session and its CSRF token before anything else: a
// missing or wrong token is 403 and nothing changes.
func (s *Server) post(pattern string, fn postAction) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		ss := s.session(r)
		if ss == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if err := r.ParseForm(); err != nil {
			s.fail(w, ss, &admin.Error{Status: http.StatusBadRequest, Msg: "bad form: " + err.Error()})
			return
		}
		if !tokenEqual(r.PostFormValue("csrf"), ss.csrf) {
			s.fail(w, ss, &admin.Error{Status: http.StatusForbidden, Msg: "the form's security token is missing or wrong: reload the page and try again"})
			return
		}
		next, flash, err := fn(r, ss)
		if err != nil {
			s.fail(w, ss, err)
			return
		}
		s.setFlash(ss, flash)
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

func errorf(status int, format string, a ...any) error {
	return &admin.Error{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// lookup finds the principal at addr if the administrator may see it;
// another tenant's is answered exactly like an unknown address.
func (s *Server) lookup(ss *session, addr string) (*delegation.Principal, error) {
	p, ok := s.cfg.Service.Directory().Lookup(strings.TrimSpace(addr))
	if !ok || !ss.inScope(p.Tenant) {
		return nil, errorf(http.StatusNotFound, "no user, shared mailbox or group has the address %q in the tenants you administer", addr)
	}
	return p, nil
}

// checkNew allows a new address (user, alias, rename) only in the
// administrator's tenants.
func checkNew(ss *session, addr string) error {
	a, err := delegation.NormalizeAddress(addr)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if !ss.inScope(delegation.Domain(a)) {
		return errorf(http.StatusForbidden, "%s is not in a tenant you administer", a)
	}
	return nil
}

func userURL(path, addr string) string { return path + "?a=" + url.QueryEscape(addr) }

// audited records the web administrator behind a directory change.
func (s *Server) audited(ss *session, action, mailbox, detail string) {
	if err := s.cfg.Service.AuditBy(ss.actor(), action, mailbox, detail); err != nil {
		s.cfg.Log.Error("web: audit", "action", action, "err", err)
	}
}

// --- login ---

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.session(r) != nil {
		http.Redirect(w, r, "/users", http.StatusSeeOther)
		return
	}
	s.showLogin(w, http.StatusOK, "")
}

func (s *Server) showLogin(w http.ResponseWriter, status int, msg string) {
	tok := randomToken()
	setCookie(w, loginCookieName, tok, 600)
	s.render(w, status, "login", &pageData{Title: "Sign in", CSRF: tok, Data: msg})
}

// loginFailed is the one answer to an unknown address, a wrong password
// and a user who is not an administrator.
const loginFailed = "Sign-in failed: the address or password is wrong, or this account does not administer mailgate."

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := r.Cookie(loginCookieName)
	if err != nil || r.ParseForm() != nil || !tokenEqual(c.Value, r.PostFormValue("csrf")) {
		s.render(w, http.StatusForbidden, "error", &pageData{Title: "Forbidden", Data: "the sign-in form's security token is missing or wrong: reload the page"})
		return
	}
	id, err := s.cfg.Auth.Authenticate(r.PostFormValue("address"), r.PostFormValue("password"), remoteIP(r))
	if isThrottled(err) {
		s.showLogin(w, http.StatusTooManyRequests, "Too many failed sign-ins: wait a few minutes and try again.")
		return
	}
	var role storage.Admin
	ok := false
	if err == nil {
		role, ok, err = s.cfg.Service.AdminRole(id)
	}
	if err != nil || !ok {
		s.showLogin(w, http.StatusUnauthorized, loginFailed)
		return
	}
	ss := s.newSession(id, role)
	setCookie(w, cookieName, ss.id, 0)
	setCookie(w, loginCookieName, "", -1)
	s.cfg.Log.Info("web: administrator logged in", "admin", role.Address, "remote", remoteIP(r))
	http.Redirect(w, r, "/users", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	ss := s.session(r)
	if ss != nil {
		if r.ParseForm() != nil || !tokenEqual(r.PostFormValue("csrf"), ss.csrf) {
			s.fail(w, ss, errorf(http.StatusForbidden, "the form's security token is missing or wrong"))
			return
		}
		s.endSession(ss)
	}
	setCookie(w, cookieName, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// --- Active users ---

type usersData struct {
	Query                 string
	Tenant                string
	Users, Shared, Groups []admin.PrincipalView
	Propagation           time.Duration
	Total                 int
}

func (s *Server) usersPage(r *http.Request, ss *session) (string, any, error) {
	if ss.tenant == "" {
		return "Active users", &usersData{}, nil
	}
	ps, err := s.cfg.Service.UserList(r.Context(), admin.ListArgs{Tenant: ss.tenant})
	if err != nil {
		return "", nil, err
	}
	q := strings.ToLower(strings.TrimSpace(r.FormValue("q")))
	d := &usersData{Query: r.FormValue("q"), Tenant: ss.tenant}
	for _, p := range ps {
		if q != "" && !matches(p, q) {
			continue
		}
		d.Total++
		switch p.Kind {
		case delegation.KindShared:
			d.Shared = append(d.Shared, p)
		case delegation.KindGroup:
			d.Groups = append(d.Groups, p)
		default:
			d.Users = append(d.Users, p)
		}
	}
	return "Active users", d, nil
}

func matches(p admin.PrincipalView, q string) bool {
	if strings.Contains(p.Address, q) || strings.Contains(strings.ToLower(p.Name), q) {
		return true
	}
	return slices.ContainsFunc(p.Aliases, func(a string) bool { return strings.Contains(a, q) })
}

type newData struct {
	Kind   string
	Tenant string
}

func (s *Server) newPage(r *http.Request, ss *session) (string, any, error) {
	k := r.FormValue("kind")
	switch k {
	case "user", "shared", "group":
	default:
		k = "user"
	}
	return "Add " + strings.ToLower(kindName(delegation.Kind(k))), &newData{Kind: k, Tenant: ss.tenant}, nil
}

func (s *Server) addPrincipal(r *http.Request, ss *session) (string, string, error) {
	a := admin.PrincipalArgs{Address: strings.TrimSpace(r.PostFormValue("address")), Name: r.PostFormValue("name"), Password: r.PostFormValue("password")}
	if err := checkNew(ss, a.Address); err != nil {
		return "", "", err
	}
	var v admin.PrincipalView
	var err error
	kind := delegation.Kind(r.PostFormValue("kind"))
	switch kind {
	case delegation.KindUser:
		v, err = s.cfg.Service.UserAdd(r.Context(), a)
	case delegation.KindShared:
		v, err = s.cfg.Service.SharedAdd(r.Context(), a)
	case delegation.KindGroup:
		v, err = s.cfg.Service.GroupAdd(r.Context(), a)
	default:
		return "", "", errorf(http.StatusBadRequest, "kind must be user, shared or group")
	}
	if err != nil {
		return "", "", err
	}
	s.audited(ss, storage.PrincipalAuditAction(kind), v.Address, "")
	return userURL("/user", v.Address), fmt.Sprintf("Added %s %s.", strings.ToLower(kindName(kind)), v.Address), nil
}

// --- one principal ---

// principalData is a principal's page: itself, and for a group the
// tenant's users and groups that could join it.
type principalData struct {
	P          admin.PrincipalView
	Candidates []admin.PrincipalView
}

// principal is the view of the principal at the request's "a" address.
func (s *Server) principal(r *http.Request, ss *session) (admin.PrincipalView, error) {
	p, err := s.lookup(ss, r.FormValue("a"))
	if err != nil {
		return admin.PrincipalView{}, err
	}
	ps, err := s.cfg.Service.UserList(r.Context(), admin.ListArgs{Tenant: p.Tenant})
	if err != nil {
		return admin.PrincipalView{}, err
	}
	for _, v := range ps {
		if v.ID == p.ID {
			return v, nil
		}
	}
	return admin.PrincipalView{}, errorf(http.StatusNotFound, "no principal %s", p.Address)
}

func (s *Server) userPage(r *http.Request, ss *session) (string, any, error) {
	v, err := s.principal(r, ss)
	if err != nil {
		return "", nil, err
	}
	d := &principalData{P: v}
	if v.Kind == delegation.KindGroup {
		ps, err := s.cfg.Service.UserList(r.Context(), admin.ListArgs{Tenant: v.Tenant})
		if err != nil {
			return "", nil, err
		}
		for _, c := range ps {
			if c.Kind != delegation.KindShared && c.ID != v.ID && !slices.Contains(v.Members, c.Address) {
				d.Candidates = append(d.Candidates, c)
			}
		}
	}
	return v.Address, d, nil
}

func (s *Server) mailPage(r *http.Request, ss *session) (string, any, error) {
	v, err := s.principal(r, ss)
	if err != nil {
		return "", nil, err
	}
	return v.Address + " · Mail", &principalData{P: v}, nil
}

func (s *Server) rename(r *http.Request, ss *session) (string, string, error) {
	p, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	nw := strings.TrimSpace(r.PostFormValue("new"))
	if err := checkNew(ss, nw); err != nil {
		return "", "", err
	}
	old := p.Address
	v, err := s.cfg.Service.UserRename(r.Context(), admin.RenameArgs{Old: old, New: nw})
	if err != nil {
		return "", "", err
	}
	s.audited(ss, "rename", v.Address, "from "+old)
	return userURL("/user", v.Address), fmt.Sprintf("Renamed %s to %s. The old address %s stays as an alias, so mail sent to it still arrives; every permission is kept.", old, v.Address, old), nil
}

func (s *Server) aliasAdd(r *http.Request, ss *session) (string, string, error) {
	p, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	alias := strings.TrimSpace(r.PostFormValue("alias"))
	if err := checkNew(ss, alias); err != nil {
		return "", "", err
	}
	v, err := s.cfg.Service.AliasAdd(r.Context(), admin.AliasArgs{Address: p.Address, Alias: alias})
	if err != nil {
		return "", "", err
	}
	s.audited(ss, "alias_add", v.Address, "alias "+alias)
	return userURL("/user", v.Address), "Added the alias " + alias + ".", nil
}

func (s *Server) aliasRemove(r *http.Request, ss *session) (string, string, error) {
	p, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	alias := strings.TrimSpace(r.PostFormValue("alias"))
	if q, err := s.lookup(ss, alias); err != nil || q.ID != p.ID {
		return "", "", errorf(http.StatusNotFound, "%s is not an alias of %s", alias, p.Address)
	}
	v, err := s.cfg.Service.AliasRemove(r.Context(), admin.AliasArgs{Address: p.Address, Alias: alias})
	if err != nil {
		return "", "", err
	}
	s.audited(ss, "alias_remove", v.Address, "alias "+alias)
	return userURL("/user", v.Address), "Removed the alias " + alias + ".", nil
}

// member resolves a membership form: the group and the member, both in scope.
func (s *Server) member(r *http.Request, ss *session) (admin.MemberArgs, error) {
	g, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return admin.MemberArgs{}, err
	}
	m, err := s.lookup(ss, r.PostFormValue("member"))
	if err != nil {
		return admin.MemberArgs{}, err
	}
	return admin.MemberArgs{Group: g.Address, Member: m.Address}, nil
}

func (s *Server) memberAdd(r *http.Request, ss *session) (string, string, error) {
	a, err := s.member(r, ss)
	if err != nil {
		return "", "", err
	}
	if _, err := s.cfg.Service.GroupMemberAdd(r.Context(), a); err != nil {
		return "", "", err
	}
	s.audited(ss, "member_add", a.Group, "member "+a.Member)
	return userURL("/user", a.Group), "Added " + a.Member + " to the group.", nil
}

func (s *Server) memberRemove(r *http.Request, ss *session) (string, string, error) {
	a, err := s.member(r, ss)
	if err != nil {
		return "", "", err
	}
	if _, err := s.cfg.Service.GroupMemberRemove(r.Context(), a); err != nil {
		return "", "", err
	}
	s.audited(ss, "member_remove", a.Group, "member "+a.Member)
	return userURL("/user", a.Group), "Removed " + a.Member + " from the group.", nil
}

func (s *Server) removePrincipal(r *http.Request, ss *session) (string, string, error) {
	p, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	addr := p.Address
	if _, err := s.cfg.Service.UserRemove(r.Context(), admin.PrincipalArgs{Address: addr}); err != nil {
		return "", "", err
	}
	s.audited(ss, "remove", addr, "")
	return "/users", "Removed " + addr + " and every permission to or on it.", nil
}

func (s *Server) mailSettings(r *http.Request, ss *session) (string, string, error) {
	p, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	as, obo := r.PostFormValue("copy_sent_as") == "on", r.PostFormValue("copy_sent_on_behalf") == "on"
	v, err := s.cfg.Service.MailboxSet(r.Context(), admin.MailboxSetArgs{Address: p.Address, CopySentAs: &as, CopySentOnBehalf: &obo})
	if err != nil {
		return "", "", err
	}
	s.audited(ss, "mailbox_set", v.Address, fmt.Sprintf("copy_sent_as=%t copy_sent_on_behalf=%t", as, obo))
	return userURL("/user/mail", v.Address), "Saved the sent-items settings.", nil
}

// --- mailbox permissions ---

// rightSections is the permissions page's order (Microsoft 365's).
var rightSections = []struct {
	R           delegation.Right
	Flag, Title string
	Help        string
}{
	{delegation.FullAccess, "full-access", "Read and manage (Full Access)", "Open this mailbox and change what is in it; it does not allow sending as it."},
	{delegation.SendAs, "send-as", "Send as", "Send mail that appears to come from this mailbox, with no trace of the sender."},
	{delegation.SendOnBehalf, "send-on-behalf", "Send on behalf", "Send mail from this mailbox with a Sender header naming the delegate."},
}

type trusteeRow struct {
	admin.GrantView
	Name string
}

type section struct {
	Flag, Title, Help string
	Rows              []trusteeRow
}

type permissionsData struct {
	P           admin.PrincipalView
	Sections    []section
	Propagation time.Duration
}

func (s *Server) permissionsPage(r *http.Request, ss *session) (string, any, error) {
	v, err := s.principal(r, ss)
	if err != nil {
		return "", nil, err
	}
	gs, err := s.cfg.Service.GrantList(r.Context(), admin.GrantListArgs{Mailbox: v.Address})
	if err != nil {
		return "", nil, err
	}
	d := s.cfg.Service.Directory()
	pd := &permissionsData{P: v}
	if t, ok := d.Tenant(v.Tenant); ok {
		pd.Propagation = t.Propagation
	}
	for _, rs := range rightSections {
		sec := section{Flag: rs.Flag, Title: rs.Title, Help: rs.Help}
		for _, g := range gs {
			if g.Right == rs.R {
				row := trusteeRow{GrantView: g}
				if p, ok := d.Lookup(g.Trustee); ok {
					row.Name = p.Name
				}
				sec.Rows = append(sec.Rows, row)
			}
		}
		pd.Sections = append(pd.Sections, sec)
	}
	return v.Address + " · Mailbox permissions", pd, nil
}

type pickerData struct {
	P           admin.PrincipalView
	Flag, Title string
	Query       string
	Candidates  []admin.PrincipalView
	Propagation time.Duration
	Zone        string // where the "at" field's times are read
}

func sectionOf(flag string) (int, error) {
	for i, rs := range rightSections {
		if rs.Flag == flag {
			return i, nil
		}
	}
	return 0, errorf(http.StatusBadRequest, "unknown right %q: use full-access, send-as or send-on-behalf", flag)
}

func (s *Server) pickerPage(r *http.Request, ss *session) (string, any, error) {
	v, err := s.principal(r, ss)
	if err != nil {
		return "", nil, err
	}
	i, err := sectionOf(r.FormValue("right"))
	if err != nil {
		return "", nil, err
	}
	rs := rightSections[i]
	gs, err := s.cfg.Service.GrantList(r.Context(), admin.GrantListArgs{Mailbox: v.Address})
	if err != nil {
		return "", nil, err
	}
	ps, err := s.cfg.Service.UserList(r.Context(), admin.ListArgs{Tenant: v.Tenant})
	if err != nil {
		return "", nil, err
	}
	q := strings.ToLower(strings.TrimSpace(r.FormValue("q")))
	pd := &pickerData{P: v, Flag: rs.Flag, Title: rs.Title, Query: r.FormValue("q"), Zone: s.zoneName()}
	if t, ok := s.cfg.Service.Directory().Tenant(v.Tenant); ok {
		pd.Propagation = t.Propagation
	}
	for _, c := range ps {
		held := slices.ContainsFunc(gs, func(g admin.GrantView) bool { return g.Right == rs.R && g.Trustee == c.Address })
		if c.Kind == delegation.KindShared || c.ID == v.ID || held || (q != "" && !matches(c, q)) {
			continue
		}
		pd.Candidates = append(pd.Candidates, c)
	}
	return v.Address + " · Add permissions", pd, nil
}

func (s *Server) addGrants(r *http.Request, ss *session) (string, string, error) {
	m, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	if _, err := sectionOf(r.PostFormValue("right")); err != nil {
		return "", "", err
	}
	trustees := r.PostForm["trustee"]
	if len(trustees) == 0 {
		return "", "", errorf(http.StatusBadRequest, "pick at least one person or group")
	}
	// Check every trustee before changing anything.
	for _, t := range trustees {
		p, err := s.lookup(ss, t)
		if err != nil {
			return "", "", err
		}
		if p.Tenant != m.Tenant {
			return "", "", errorf(http.StatusBadRequest, "%s is in another tenant than %s", p.Address, m.Address)
		}
	}
	until, dur, err := s.grantEnd(r.PostFormValue("until"), r.PostFormValue("for"))
	if err != nil {
		return "", "", err
	}
	var done []string
	for _, t := range trustees {
		g, err := s.cfg.Service.GrantAdd(r.Context(), admin.GrantArgs{Mailbox: m.Address, Trustee: t, Right: r.PostFormValue("right"),
			Now: r.PostFormValue("now") == "on", Until: until, For: dur, By: ss.actor().Address})
		if err != nil {
			if len(done) > 0 {
				s.setFlash(ss, "Added "+strings.Join(done, "; ")+".")
			}
			return "", "", err
		}
		when := "effective now"
		if g.State == "pending" {
			when = "effective at " + g.EffectiveAt.In(s.cfg.Location).Format("Mon 2 Jan 2006 15:04:05 MST")
		}
		if !g.Until.IsZero() {
			when += ", until " + g.Until.In(s.cfg.Location).Format("Mon 2 Jan 2006 15:04:05 MST")
		}
		done = append(done, fmt.Sprintf("%s for %s, %s", g.Right, g.Trustee, when))
	}
	return userURL("/user/permissions", m.Address), "Added " + strings.Join(done, "; ") + ".", nil
}

// grantEnd reads the picker's optional end of a new grant: "until", a
// local time from a datetime-local field (in the server's Location), or
// "for", a duration from now (720h, 30m). Not both; neither is no end.
// The service checks that the end is after the grant takes effect.
func (s *Server) grantEnd(until, dur string) (*time.Time, *admin.Duration, error) {
	until, dur = strings.TrimSpace(until), strings.TrimSpace(dur)
	switch {
	case until != "" && dur != "":
		return nil, nil, errorf(http.StatusBadRequest, "give the end either as a time or as a duration, not both")
	case dur != "":
		var d admin.Duration
		if err := d.UnmarshalText([]byte(dur)); err != nil || d <= 0 {
			return nil, nil, errorf(http.StatusBadRequest, "invalid duration %q for the end: use e.g. 720h or 30m", dur)
		}
		return nil, &d, nil
	case until != "":
		for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
			if t, err := time.ParseInLocation(layout, until, s.cfg.Location); err == nil {
				return &t, nil, nil
			}
		}
		if t, err := time.Parse(time.RFC3339, until); err == nil {
			return &t, nil, nil
		}
		return nil, nil, errorf(http.StatusBadRequest, "invalid end time %q: use the date and time field, e.g. 2026-12-24T17:00", until)
	}
	return nil, nil, nil
}

// zoneName names the zone the server shows and reads times in.
func (s *Server) zoneName() string {
	if name := s.cfg.Location.String(); name != "Local" {
		return name
	}
	zone, _ := s.cfg.Service.Now().In(s.cfg.Location).Zone()
	return zone
}

func (s *Server) removeGrant(r *http.Request, ss *session) (string, string, error) {
	m, err := s.lookup(ss, r.PostFormValue("a"))
	if err != nil {
		return "", "", err
	}
	t, err := s.lookup(ss, r.PostFormValue("trustee"))
	if err != nil {
		return "", "", err
	}
	g, err := s.cfg.Service.GrantRemove(r.Context(), admin.GrantArgs{Mailbox: m.Address, Trustee: t.Address, Right: r.PostFormValue("right"), By: ss.actor().Address})
	if err != nil {
		return "", "", err
	}
	return userURL("/user/permissions", m.Address), fmt.Sprintf("Removed %s for %s, effective now.", g.Right, g.Trustee), nil
}

// --- tenant ---

type tenantData struct {
	Tenants []admin.TenantView
}

func (s *Server) tenantPage(r *http.Request, ss *session) (string, any, error) {
	ts, err := s.cfg.Service.TenantList(r.Context(), admin.ListArgs{})
	if err != nil {
		return "", nil, err
	}
	d := &tenantData{}
	for _, t := range ts {
		if ss.inScope(t.Domain) {
			d.Tenants = append(d.Tenants, t)
		}
	}
	return "Tenant settings", d, nil
}

func (s *Server) setPropagation(r *http.Request, ss *session) (string, string, error) {
	dom := strings.ToLower(strings.TrimSpace(r.PostFormValue("tenant")))
	if _, ok := s.cfg.Service.Directory().Tenant(dom); !ok || !ss.inScope(dom) {
		return "", "", errorf(http.StatusNotFound, "no tenant %q among those you administer", dom)
	}
	var p admin.Duration
	if err := p.UnmarshalText([]byte(strings.TrimSpace(r.PostFormValue("propagation")))); err != nil {
		return "", "", errorf(http.StatusBadRequest, "%v", err)
	}
	t, err := s.cfg.Service.TenantSet(r.Context(), admin.TenantArgs{Domain: dom, Propagation: &p})
	if err != nil {
		return "", "", err
	}
	s.audited(ss, "tenant_set", t.Domain, "propagation "+time.Duration(t.Propagation).String())
	return "/tenant", fmt.Sprintf("Tenant %s: new permissions now take effect %s after they are given (existing ones keep their time).", t.Domain, time.Duration(t.Propagation)), nil
}

func (s *Server) switchTenant(r *http.Request, ss *session) (string, string, error) {
	dom := strings.ToLower(strings.TrimSpace(r.PostFormValue("tenant")))
	if _, ok := s.cfg.Service.Directory().Tenant(dom); !ok || !ss.inScope(dom) {
		return "", "", errorf(http.StatusNotFound, "no tenant %q among those you administer", dom)
	}
	s.mu.Lock()
	ss.tenant = dom
	s.mu.Unlock()
	return "/users", "", nil
}

// --- explain and audit ---

type explainData struct {
	Actor, Address, Kind string
	Result               *admin.Explanation
}

func (s *Server) explainPage(r *http.Request, ss *session) (string, any, error) {
	d := &explainData{Actor: r.FormValue("actor"), Address: r.FormValue("address"), Kind: r.FormValue("kind")}
	if d.Kind != "open" {
		d.Kind = "send"
	}
	if d.Actor == "" || d.Address == "" {
		return "Explain", d, nil
	}
	if _, err := s.lookup(ss, d.Actor); err != nil {
		return "", nil, err
	}
	if d.Kind == "open" {
		if _, err := s.lookup(ss, d.Address); err != nil {
			return "", nil, err
		}
	} else if err := checkNew(ss, d.Address); err != nil {
		return "", nil, err
	}
	a := admin.ExplainArgs{Actor: d.Actor, Address: d.Address}
	var e admin.Explanation
	var err error
	if d.Kind == "open" {
		e, err = s.cfg.Service.ExplainOpen(r.Context(), a)
	} else {
		e, err = s.cfg.Service.ExplainSend(r.Context(), a)
	}
	if err != nil {
		return "", nil, err
	}
	d.Result = &e
	return "Explain", d, nil
}

type auditData struct {
	Actor, Mailbox, Action, From, Until string
	Records                             []storage.AuditRecord
	More                                bool
}

const auditPageSize = 200

// datetime-local inputs: minutes, in the display location.
const formTime = "2006-01-02T15:04"

func (s *Server) auditPage(r *http.Request, ss *session) (string, any, error) {
	d := &auditData{Actor: strings.TrimSpace(r.FormValue("actor")), Mailbox: strings.TrimSpace(r.FormValue("mailbox")),
		Action: strings.TrimSpace(r.FormValue("action")), From: r.FormValue("from"), Until: r.FormValue("until")}
	a := admin.AuditArgs{Action: d.Action}
	if d.Mailbox != "" {
		p, err := s.lookup(ss, d.Mailbox)
		if err != nil {
			return "", nil, err
		}
		a.Mailbox = p.Address
	}
	var actor *delegation.Principal
	if d.Actor != "" {
		p, err := s.lookup(ss, d.Actor)
		if err != nil {
			return "", nil, err
		}
		actor = p
	}
	for _, x := range []struct {
		in  string
		out **time.Time
	}{{d.From, &a.From}, {d.Until, &a.Until}} {
		if x.in == "" {
			continue
		}
		t, err := time.ParseInLocation(formTime, x.in, s.cfg.Location)
		if err != nil {
			return "", nil, errorf(http.StatusBadRequest, "time %q: use YYYY-MM-DDTHH:MM", x.in)
		}
		*x.out = &t
	}
	recs, err := s.cfg.Service.Audit(r.Context(), a)
	if err != nil {
		return "", nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		rec := recs[i]
		if !ss.inScope(domainOf(rec.Mailbox)) || (actor != nil && !byActor(rec, actor)) {
			continue
		}
		if len(d.Records) == auditPageSize {
			d.More = true
			break
		}
		d.Records = append(d.Records, rec)
	}
	return "Audit log", d, nil
}

// byActor: the record is p's, as a mail user or as a web administrator.
func byActor(rec storage.AuditRecord, p *delegation.Principal) bool {
	return rec.ActorID == string(p.ID) || rec.Actor == "web:"+p.Address
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return strings.ToLower(addr)
}
