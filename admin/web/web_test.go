package web_test

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/admin/web"
	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// clock is the sessions' fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	st    *storage.Store
	svc   *admin.Service
	au    *auth.Authenticator
	ts    *httptest.Server
	clock *clock // the sessions'
	store *clock // the store's (grants' times)
}

const pw = "correct horse"

// newEnv: tenants example.test (alice, bob, carol, info shared, sales
// group, tenant administrator root) and other.test (eve, global
// administrator god), behind a TLS admin center.
func newEnv(t *testing.T) *env {
	t.Helper()
	storeClock := &clock{t: time.Now()}
	st, err := storage.Open(t.TempDir(), storage.Options{Now: storeClock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, svc: admin.New(st, nil), au: auth.New(st, st.Now), clock: &clock{t: time.Now()}, store: storeClock}
	ctx := t.Context()
	for _, d := range []string{"example.test", "other.test"} {
		mustOK(t)(e.svc.TenantAdd(ctx, admin.TenantArgs{Domain: d}))
	}
	// bcrypt's lowest cost keeps the race detector's runs short; the
	// authenticator checks any cost.
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice@example.test", "bob@example.test", "carol@example.test", "root@example.test", "eve@other.test", "god@other.test"} {
		mustOK(t)(st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: u, Name: strings.Split(u, "@")[0], PasswordHash: string(hash)}))
	}
	mustOK(t)(e.svc.SharedAdd(ctx, admin.PrincipalArgs{Address: "info@example.test", Name: "Info desk"}))
	mustOK(t)(e.svc.GroupAdd(ctx, admin.PrincipalArgs{Address: "sales@example.test", Name: "Sales"}))
	mustOK(t)(e.svc.AdminAdd(ctx, admin.AdminArgs{Address: "root@example.test", Tenant: "example.test"}))
	mustOK(t)(e.svc.AdminAdd(ctx, admin.AdminArgs{Address: "god@other.test", Global: true}))
	ws, err := web.New(web.Config{Service: e.svc, Auth: e.au, Now: e.clock.now, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewTLSServer(ws)
	t.Cleanup(e.ts.Close)
	return e
}

// mustOK(t)(op(...)) fails the test when op fails.
func mustOK(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// browser is one administrator's cookie jar.
type browser struct {
	t  *testing.T
	e  *env
	hc *http.Client
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: e.ts.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, hc: hc}
}

type page struct {
	status int
	body   string
	loc    string
	header http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, string(body), resp.Header.Get("Location"), resp.Header}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.e.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

// login signs in and returns the session's CSRF token.
func (b *browser) login(addr, password string) page {
	b.t.Helper()
	lp := b.get("/login")
	return b.post("/login", url.Values{"csrf": {csrfOf(b.t, lp)}, "address": {addr}, "password": {password}})
}

func (e *env) admin(t *testing.T, addr string) (*browser, string) {
	t.Helper()
	b := e.browser(t)
	if p := b.login(addr, pw); p.status != http.StatusSeeOther || p.loc != "/users" {
		t.Fatalf("login %s: %d %q\n%s", addr, p.status, p.loc, p.body)
	}
	return b, csrfOf(t, b.get("/users"))
}

// form is url.Values with the CSRF token.
func form(csrf string, kv ...string) url.Values {
	v := url.Values{"csrf": {csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func wantStatus(t *testing.T, what string, p page, status int) {
	t.Helper()
	if p.status != status {
		t.Errorf("%s: status %d, want %d\n%s", what, p.status, status, p.body)
	}
}

func wantBody(t *testing.T, what string, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s: page lacks %q\n%s", what, s, p.body)
		}
	}
}

func grants(t *testing.T, e *env, mailbox string) []admin.GrantView {
	t.Helper()
	gs, err := e.svc.GrantList(t.Context(), admin.GrantListArgs{Mailbox: mailbox})
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func TestPermissionsFlow(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	users := b.get("/users")
	wantStatus(t, "Active users", users, 200)
	wantBody(t, "Active users", users, "alice@example.test", "Info desk", "Sales", "Shared mailboxes", "Groups")
	if strings.Contains(users.body, "other.test") {
		t.Errorf("a tenant administrator's Active users shows another tenant:\n%s", users.body)
	}
	if p := b.get("/users?q=bob"); !strings.Contains(p.body, "bob@example.test") || strings.Contains(p.body, "alice@example.test</td>") {
		t.Errorf("search for bob:\n%s", p.body)
	}
	wantBody(t, "Mail tab", b.get("/user/mail?a=alice@example.test"), "Manage mailbox permissions", "/user/permissions?a=alice%40example.test")
	perm := b.get("/user/permissions?a=alice@example.test")
	wantBody(t, "permissions page", perm, "Read and manage (Full Access)", "Send as", "Send on behalf", "/user/permissions/add?a=alice%40example.test&amp;right=send-as")
	picker := b.get("/user/permissions/add?a=alice@example.test&right=send-as")
	wantBody(t, "picker", picker, `value="bob@example.test"`, `value="sales@example.test"`)
	for _, not := range []string{`value="eve@other.test"`, `value="info@example.test"`, `name="trustee" value="alice@example.test"`} {
		if strings.Contains(picker.body, not) {
			t.Errorf("picker offers %s", not)
		}
	}

	p := b.post("/user/permissions/add", form(csrf, "a", "alice@example.test", "right", "send-as", "trustee", "bob@example.test", "trustee", "sales@example.test"))
	wantStatus(t, "add send-as", p, http.StatusSeeOther)
	gs := grants(t, e, "alice@example.test")
	if len(gs) != 2 || gs[0].State != "pending" || gs[0].CreatedBy != "web:root@example.test" || gs[0].Right != delegation.SendAs {
		t.Fatalf("grants after Add = %+v", gs)
	}
	perm = b.get(p.loc)
	when := gs[0].EffectiveAt.UTC().Format("Mon 2 Jan 2006 15:04:05 MST")
	wantBody(t, "pending grant", perm, "Added Send As for bob@example.test", "pending until <time datetime=\""+gs[0].EffectiveAt.UTC().Format(time.RFC3339)+"\">"+when+"</time>", "data-countdown=", "in 59m")

	p = b.post("/user/permissions/add", form(csrf, "a", "alice@example.test", "right", "full-access", "trustee", "bob@example.test", "now", "on"))
	wantStatus(t, "add full-access now", p, http.StatusSeeOther)
	wantBody(t, "effective grant", b.get(p.loc), `<span class="state-effective">effective</span>`)
	ex := b.get("/explain?actor=bob@example.test&kind=open&address=alice@example.test")
	wantBody(t, "explain open", ex, "Allowed", "full_access", "Deciding grant")
	ex = b.get("/explain?actor=bob@example.test&kind=send&address=alice@example.test")
	wantBody(t, "explain send (pending)", ex, "Refused", "pending", "Pending until")

	p = b.post("/user/permissions/remove", form(csrf, "a", "alice@example.test", "trustee", "bob@example.test", "right", "full-access"))
	wantStatus(t, "remove", p, http.StatusSeeOther)
	if gs := grants(t, e, "alice@example.test"); len(gs) != 2 {
		t.Errorf("grants after remove = %+v", gs)
	}
	audit := b.get("/audit?actor=root@example.test")
	wantBody(t, "audit by actor", audit, "grant_add", "grant_remove", "web:root@example.test")
	audit = b.get("/audit?mailbox=alice@example.test&action=grant_remove")
	if n := strings.Count(audit.body, "<td>grant_remove</td>"); n != 1 || strings.Contains(audit.body, "<td>grant_add</td>") {
		t.Errorf("audit filtered on grant_remove has %d of them:\n%s", n, audit.body)
	}
	future := time.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")
	if p := b.get("/audit?from=" + future); !strings.Contains(p.body, "No records.") {
		t.Errorf("audit from the future has records:\n%s", p.body)
	}
	wantStatus(t, "audit with a bad time", b.get("/audit?from=yesterday"), http.StatusBadRequest)
}

// TestTimeBoxedPermissions: the picker's end fields give a grant an end
// (a duration from now, or a local time), the page shows it with its
// countdown, and once the store's clock passes it the grant shows as
// expired; bad ends are refused and change nothing.
func TestTimeBoxedPermissions(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	wantBody(t, "picker", b.get("/user/permissions/add?a=alice@example.test&right=send-on-behalf"), `name="for"`, `name="until"`, "times are UTC")

	p := b.post("/user/permissions/add", form(csrf, "a", "alice@example.test", "right", "send-on-behalf", "trustee", "carol@example.test", "now", "on", "for", "1h"))
	wantStatus(t, "add with an end after 1h", p, http.StatusSeeOther)
	gs := grants(t, e, "alice@example.test")
	if len(gs) != 1 || gs[0].State != "effective" || !gs[0].Until.Equal(gs[0].EffectiveAt.Add(time.Hour)) {
		t.Fatalf("grants after Add for 1h = %+v", gs)
	}
	end := gs[0].Until.UTC()
	perm := b.get(p.loc)
	wantBody(t, "time-boxed grant", perm, `<span class="state-effective">effective</span>`,
		"until <time datetime=\""+end.Format(time.RFC3339)+"\">"+end.Format("Mon 2 Jan 2006 15:04:05 MST")+"</time>",
		`data-countdown="`+end.Format(time.RFC3339)+`" data-done="now (reload to see it expired)">in 59m`, ", until "+end.Format("Mon 2 Jan 2006 15:04:05 MST"))

	e.store.add(time.Hour)
	wantBody(t, "expired grant", b.get(p.loc), `<span class="state-expired">expired at <time datetime="`+end.Format(time.RFC3339)+`">`)
	if gs := grants(t, e, "alice@example.test"); gs[0].State != "expired" {
		t.Errorf("state after the end: %+v", gs[0])
	}
	wantBody(t, "explain after the end", b.get("/explain?actor=carol@example.test&kind=send&address=alice@example.test"), "Refused", "expired")

	at := e.store.now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	p = b.post("/user/permissions/add", form(csrf, "a", "alice@example.test", "right", "full-access", "trustee", "bob@example.test", "now", "on", "until", at.Format("2006-01-02T15:04:05")))
	wantStatus(t, "add with an end time", p, http.StatusSeeOther)
	for _, g := range grants(t, e, "alice@example.test") {
		if g.Trustee == "bob@example.test" && !g.Until.Equal(at) {
			t.Errorf("bob's grant ends at %s, want %s (the field's local time in UTC)", g.Until, at)
		}
	}
	for _, bad := range [][]string{{"for", "1h", "until", at.Format("2006-01-02T15:04")}, {"for", "soon"}, {"for", "-5m"}, {"until", "tomorrow"},
		{"until", e.store.now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05")}} {
		kv := append([]string{"a", "alice@example.test", "right", "send-as", "trustee", "bob@example.test", "now", "on"}, bad...)
		wantStatus(t, fmt.Sprintf("add with end %q", bad), b.post("/user/permissions/add", form(csrf, kv...)), http.StatusBadRequest)
	}
	if n := len(grants(t, e, "alice@example.test")); n != 2 {
		t.Errorf("%d grants after the refused ends, want 2", n)
	}
}

func TestDirectoryChanges(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	ctx := t.Context()
	ok := func(what, path string, kv ...string) page {
		t.Helper()
		p := b.post(path, form(csrf, kv...))
		if p.status != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", what, p.status, p.body)
		}
		return b.get(p.loc)
	}
	ok("user add", "/users/new", "kind", "user", "address", "dan@example.test", "name", "Dan", "password", "pw-dan")
	if _, err := e.au.Authenticate("dan@example.test", "pw-dan", ""); err != nil {
		t.Errorf("the user added on the web cannot log in: %v", err)
	}
	ok("shared add", "/users/new", "kind", "shared", "address", "desk@example.test", "name", "Desk")
	ok("group add", "/users/new", "kind", "group", "address", "team@example.test")
	g := ok("member add", "/user/member/add", "a", "team@example.test", "member", "dan@example.test")
	wantBody(t, "group page", g, "Added dan@example.test to the group.", "Remove member")
	ok("member remove", "/user/member/remove", "a", "team@example.test", "member", "dan@example.test")
	ok("alias add", "/user/alias/add", "a", "dan@example.test", "alias", "daniel@example.test")
	ok("alias remove", "/user/alias/remove", "a", "dan@example.test", "alias", "daniel@example.test")
	ok("grant", "/user/permissions/add", "a", "dan@example.test", "right", "send-on-behalf", "trustee", "bob@example.test")
	r := ok("rename", "/user/rename", "a", "dan@example.test", "new", "daniel@example.test")
	wantBody(t, "renamed", r, "The old address dan@example.test stays as an alias", "every permission is kept")
	if gs := grants(t, e, "daniel@example.test"); len(gs) != 1 || gs[0].Trustee != "bob@example.test" {
		t.Errorf("grants after the rename: %+v", gs)
	}
	ok("mail settings", "/user/mail", "a", "daniel@example.test", "copy_sent_as", "on")
	ps, _ := e.svc.UserList(ctx, admin.ListArgs{Tenant: "example.test"})
	for _, p := range ps {
		if p.Address == "daniel@example.test" {
			if !p.Settings.CopySentAs || p.Settings.CopySentOnBehalf || len(p.Aliases) != 1 || p.Aliases[0] != "dan@example.test" {
				t.Errorf("daniel after the changes: %+v", p)
			}
		}
	}
	wantBody(t, "tenant", ok("propagation", "/tenant/propagation", "tenant", "example.test", "propagation", "5m"), "5m0s after they are given")
	if tn, _ := e.st.Directory().Tenant("example.test"); tn.Propagation != 5*time.Minute {
		t.Errorf("propagation = %v", tn.Propagation)
	}
	ok("remove", "/user/remove", "a", "desk@example.test")
	if _, found := e.st.Directory().Lookup("desk@example.test"); found {
		t.Error("desk is still there")
	}
	// Every change names the web administrator in the audit trail.
	recs, _ := e.svc.Audit(ctx, admin.AuditArgs{})
	by := map[string]bool{}
	for _, r := range recs {
		if r.Actor == "web:root@example.test" {
			by[r.Action] = true
		}
	}
	for _, a := range []string{"user_add", "shared_mailbox_add", "group_add", "member_add", "member_remove", "alias_add", "alias_remove",
		"grant_add", "rename", "mailbox_set", "tenant_set", "remove"} {
		if !by[a] {
			t.Errorf("no audit record of %s by web:root@example.test", a)
		}
	}
	// Errors keep their status and say why.
	p := b.post("/users/new", form(csrf, "kind", "user", "address", "bob@example.test", "password", "x"))
	wantStatus(t, "user add twice", p, http.StatusConflict)
	wantStatus(t, "bad propagation", b.post("/tenant/propagation", form(csrf, "tenant", "example.test", "propagation", "soon")), http.StatusBadRequest)
	wantStatus(t, "grant with nobody picked", b.post("/user/permissions/add", form(csrf, "a", "alice@example.test", "right", "send-as")), http.StatusBadRequest)
	wantStatus(t, "GET on a change", b.get("/user/remove?a=alice@example.test"), http.StatusMethodNotAllowed)
}

// A tenant administrator can neither read nor change another tenant, by
// URL or form tampering; another tenant's address is answered like an
// unknown one.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	for _, path := range []string{"/user?a=eve@other.test", "/user/mail?a=eve@other.test", "/user/permissions?a=eve@other.test",
		"/user/permissions/add?a=eve@other.test&right=send-as", "/explain?actor=eve@other.test&address=eve@other.test",
		"/explain?actor=alice@example.test&kind=open&address=eve@other.test", "/audit?mailbox=eve@other.test", "/audit?actor=god@other.test"} {
		p := b.get(path)
		wantStatus(t, path, p, http.StatusNotFound)
		if strings.Contains(p.body, "eve</") || strings.Contains(p.body, "god</") {
			t.Errorf("%s shows another tenant's data", path)
		}
	}
	unknown := b.get("/user?a=nobody@example.test")
	other := b.get("/user?a=eve@other.test")
	if unknown.status != other.status || strings.ReplaceAll(unknown.body, "nobody@example.test", "X") != strings.ReplaceAll(other.body, "eve@other.test", "X") {
		t.Errorf("another tenant's user is answered unlike an unknown one:\n%s\n---\n%s", unknown.body, other.body)
	}
	before, _ := e.svc.Audit(t.Context(), admin.AuditArgs{})
	for _, c := range []struct {
		path string
		kv   []string
	}{
		{"/user/permissions/add", []string{"a", "alice@example.test", "right", "send-as", "trustee", "eve@other.test"}},
		{"/user/permissions/add", []string{"a", "eve@other.test", "right", "send-as", "trustee", "bob@example.test"}},
		{"/user/permissions/add", []string{"a", "alice@example.test", "right", "send-as", "trustee", "bob@example.test", "trustee", "eve@other.test"}},
		{"/user/permissions/remove", []string{"a", "eve@other.test", "trustee", "god@other.test", "right", "send-as"}},
		{"/user/rename", []string{"a", "eve@other.test", "new", "eve2@other.test"}},
		{"/user/rename", []string{"a", "alice@example.test", "new", "alice@other.test"}},
		{"/user/alias/add", []string{"a", "alice@example.test", "alias", "alice@other.test"}},
		{"/user/alias/add", []string{"a", "eve@other.test", "alias", "eve2@other.test"}},
		{"/user/member/add", []string{"a", "sales@example.test", "member", "eve@other.test"}},
		{"/user/remove", []string{"a", "eve@other.test"}},
		{"/user/mail", []string{"a", "eve@other.test", "copy_sent_as", "on"}},
		{"/users/new", []string{"kind", "user", "address", "mallory@other.test", "password", "x"}},
		{"/tenant/propagation", []string{"tenant", "other.test", "propagation", "0s"}},
		{"/tenant/switch", []string{"tenant", "other.test"}},
	} {
		p := b.post(c.path, form(csrf, c.kv...))
		if p.status != http.StatusNotFound && p.status != http.StatusForbidden {
			t.Errorf("POST %s %v: status %d, want 404 or 403", c.path, c.kv, p.status)
		}
	}
	after, _ := e.svc.Audit(t.Context(), admin.AuditArgs{})
	if len(after) != len(before) {
		t.Errorf("tampered forms changed something: %d audit records before, %d after: %+v", len(before), len(after), after[len(before):])
	}
	if gs := grants(t, e, ""); len(gs) != 0 {
		t.Errorf("grants after tampering: %+v", gs)
	}
	if tn, _ := e.st.Directory().Tenant("other.test"); tn.Propagation != storage.DefaultPropagation {
		t.Errorf("other.test's propagation changed to %v", tn.Propagation)
	}
	// The unfiltered audit log has only this tenant's records.
	mustOK(t)(e.svc.GrantAdd(t.Context(), admin.GrantArgs{Mailbox: "eve@other.test", Trustee: "god@other.test", Right: "send-as"}))
	if p := b.get("/audit"); p.status != 200 || strings.Contains(p.body, "other.test") || !strings.Contains(p.body, "alice@example.test") {
		t.Errorf("a tenant administrator's audit log (status %d) shows another tenant, or not its own:\n%s", p.status, p.body)
	}
	if p := b.get("/tenant"); strings.Contains(p.body, "other.test") {
		t.Errorf("tenant page shows other.test:\n%s", p.body)
	}

	// The global administrator sees both and switches between them.
	g, gcsrf := e.admin(t, "god@other.test")
	wantBody(t, "global users", g.get("/users"), "Tenant example.test", `<option value="other.test"`)
	wantStatus(t, "switch", g.post("/tenant/switch", form(gcsrf, "tenant", "other.test")), http.StatusSeeOther)
	wantBody(t, "after the switch", g.get("/users"), "eve@other.test")
	wantStatus(t, "global reads example.test", g.get("/user?a=alice@example.test"), http.StatusOK)
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	before, _ := e.svc.Audit(t.Context(), admin.AuditArgs{})
	for _, tok := range []string{"", "wrong", csrf[:len(csrf)-1] + "x"} {
		for _, c := range [][]string{
			{"/user/permissions/add", "a", "alice@example.test", "right", "send-as", "trustee", "bob@example.test", "now", "on"},
			{"/users/new", "kind", "user", "address", "dan@example.test", "password", "x"},
			{"/user/remove", "a", "bob@example.test"},
			{"/tenant/propagation", "tenant", "example.test", "propagation", "0s"},
			{"/logout"},
		} {
			v := form(tok, c[1:]...)
			if tok == "" {
				v.Del("csrf")
			}
			wantStatus(t, "POST "+c[0]+" with token "+tok, b.post(c[0], v), http.StatusForbidden)
		}
	}
	after, _ := e.svc.Audit(t.Context(), admin.AuditArgs{})
	if len(after) != len(before) || len(grants(t, e, "")) != 0 {
		t.Errorf("a refused form changed the store: %+v", after[len(before):])
	}
	if _, ok := e.st.Directory().Lookup("bob@example.test"); !ok {
		t.Error("bob was removed")
	}
	// The session survived the forged logout.
	wantStatus(t, "users after forged logout", b.get("/users"), http.StatusOK)
	// Another session's token is no good either.
	b2, csrf2 := e.admin(t, "root@example.test")
	_ = b2
	p := b.post("/user/remove", form(csrf2, "a", "bob@example.test"))
	wantStatus(t, "other session's token "+p.loc, p, http.StatusForbidden)
	wantStatus(t, "users", b.get("/users"), 200)
	// The login form has its own token.
	lb := e.browser(t)
	wantStatus(t, "login without token", lb.post("/login", url.Values{"address": {"root@example.test"}, "password": {pw}}), http.StatusForbidden)
}

func TestXSSInert(t *testing.T) {
	e := newEnv(t)
	evil := `<script>alert(1)</script>"><img src=x onerror=alert(2)>`
	mustOK(t)(e.st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: "x@example.test", Name: evil}))
	mustOK(t)(e.svc.GrantAdd(t.Context(), admin.GrantArgs{Mailbox: "alice@example.test", Trustee: "x@example.test", Right: "send-as"}))
	b, _ := e.admin(t, "root@example.test")
	for _, path := range []string{"/users", "/user?a=x@example.test", "/user/permissions?a=alice@example.test",
		"/user/permissions/add?a=bob@example.test&right=send-as", "/users?q=" + url.QueryEscape(evil), "/audit?action=" + url.QueryEscape(evil)} {
		p := b.get(path)
		if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
			t.Errorf("%s renders the display name as markup:\n%s", path, p.body)
		}
		if p.status == 200 && !strings.Contains(p.body, html.EscapeString("<script>alert(1)</script>")) && !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the display name is not shown escaped", path)
		}
	}
}

func TestLoginNoEnumeration(t *testing.T) {
	e := newEnv(t)
	var first page
	for i, c := range [][2]string{{"nobody@example.test", pw}, {"root@example.test", "wrong"}, {"alice@example.test", pw}, {"info@example.test", "x"}, {"not an address", "x"}} {
		p := e.browser(t).login(c[0], c[1])
		p.body = csrfRE.ReplaceAllString(p.body, "")
		if i == 0 {
			first = p
			wantStatus(t, "failed login", p, http.StatusUnauthorized)
			wantBody(t, "failed login", p, "Sign-in failed")
			continue
		}
		if p.status != first.status || p.body != first.body {
			t.Errorf("login %s/%s answered unlike an unknown user: %d\n%s", c[0], c[1], p.status, p.body)
		}
		if p.header.Get("Set-Cookie") != "" && strings.Contains(p.header.Get("Set-Cookie"), "mailgate_admin=") {
			t.Errorf("failed login %s set a session cookie", c[0])
		}
	}
}

// The web's failed logins count in the same throttle as IMAP's and SMTP's
// (one Authenticator).
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	var p page
	for range auth.MaxFailuresPerPair + 1 {
		p = b.login("root@example.test", "wrong")
	}
	wantStatus(t, "login after many failures", p, http.StatusTooManyRequests)
	wantBody(t, "throttled", p, "Too many failed sign-ins")
	// Even the right password is refused from this address now.
	wantStatus(t, "right password while throttled", b.login("root@example.test", pw), http.StatusTooManyRequests)
	// IMAP and SMTP ask the same authenticator: they see the failures.
	if _, err := e.au.Authenticate("root@example.test", pw, "127.0.0.1"); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("the mail protocols' authenticator after the web's failures: %v, want ErrThrottled", err)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	lb := e.browser(t)
	lp := lb.get("/login")
	p := lb.post("/login", url.Values{"csrf": {csrfOf(t, lp)}, "address": {"root@example.test"}, "password": {pw}})
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "mailgate_admin" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || len(cookie.Value) < 43 {
		t.Fatalf("session cookie = %+v (Set-Cookie %q)", cookie, p.header.Values("Set-Cookie"))
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if p.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if csp := lp.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(lp.body, "<script>") || strings.Contains(lp.body, " style=") || strings.Contains(lp.body, "onclick") {
		t.Errorf("inline script or style in the login page")
	}
	for _, asset := range []string{"/static/admin.css", "/static/admin.js"} {
		wantStatus(t, asset, lb.get(asset), http.StatusOK)
	}
	wantStatus(t, "no page without login", e.browser(t).get("/users"), http.StatusSeeOther)

	// Idle expiry.
	b, _ := e.admin(t, "root@example.test")
	e.clock.add(29 * time.Minute)
	wantStatus(t, "after 29 idle minutes", b.get("/users"), http.StatusOK)
	e.clock.add(31 * time.Minute)
	if p := b.get("/users"); p.status != http.StatusSeeOther || p.loc != "/login" {
		t.Errorf("after 31 idle minutes: %d %q", p.status, p.loc)
	}
	// Absolute expiry, however busy.
	b, _ = e.admin(t, "root@example.test")
	for range 12*6 - 1 {
		e.clock.add(10 * time.Minute)
		if p := b.get("/users"); p.status != http.StatusOK {
			t.Fatalf("busy session ended early: %d", p.status)
		}
	}
	e.clock.add(11 * time.Minute)
	wantStatus(t, "after 12 hours", b.get("/users"), http.StatusSeeOther)
	// Logout ends the session on the server: the old cookie is dead.
	b, csrf := e.admin(t, "root@example.test")
	old := b.hc.Jar.Cookies(mustURL(t, e.ts.URL))
	wantStatus(t, "logout", b.post("/logout", form(csrf)), http.StatusSeeOther)
	replay := e.browser(t)
	replay.hc.Jar.SetCookies(mustURL(t, e.ts.URL), old)
	wantStatus(t, "old cookie after logout", replay.get("/users"), http.StatusSeeOther)
	// A role taken away ends the session at the next request.
	b, _ = e.admin(t, "root@example.test")
	mustOK(t)(e.svc.AdminRemove(t.Context(), admin.AdminArgs{Address: "root@example.test"}))
	wantStatus(t, "after admin remove", b.get("/users"), http.StatusSeeOther)
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	mustOK(t)(e.svc.GroupMemberAdd(t.Context(), admin.MemberArgs{Group: "sales@example.test", Member: "bob@example.test"}))
	b, _ := e.admin(t, "root@example.test")
	for _, path := range []string{"/users", "/users/new?kind=user", "/users/new?kind=shared", "/users/new?kind=group", "/user?a=sales@example.test",
		"/user?a=info@example.test", "/user/mail?a=info@example.test", "/user/permissions?a=info@example.test",
		"/user/permissions/add?a=info@example.test&right=full-access", "/tenant", "/explain", "/audit", "/audit?actor=alice@example.test"} {
		p := b.get(path)
		wantStatus(t, path, p, http.StatusOK)
		wantBody(t, path, p, "Sign out", `href="/static/admin.css"`)
	}
	wantBody(t, "group", b.get("/user?a=sales@example.test"), "bob@example.test", "Add a member")
	wantStatus(t, "unknown right", b.get("/user/permissions/add?a=info@example.test&right=owner"), http.StatusBadRequest)
	if p := b.get("/"); p.status != http.StatusSeeOther || p.loc != "/users" {
		t.Errorf("/ = %d %q", p.status, p.loc)
	}
}
