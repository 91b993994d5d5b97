package web_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/admin/web"
	"github.com/mailgate/mailgate/storage"
)

// upload posts a multipart form, as a browser's file upload does: the
// fields, then the file (none when name is "").
func (b *browser) upload(path string, fields []string, name, content string) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	if name != "" {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			b.t.Fatal(err)
		}
		io.WriteString(fw, content)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.ts.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// people is a small good file for example.test.
const people = `kind,address,name,password,mailbox,trustee,right,immediate
user,dan@example.test,Dan,pw-dan,,,,
group,team@example.test,Team,,,,,
grant,,,,alice@example.test,dan@example.test,send-as,true
`

func auditCount(t *testing.T, e *env) int {
	t.Helper()
	recs, err := e.svc.Audit(t.Context(), admin.AuditArgs{})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func TestImportUpload(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	wantBody(t, "nav", b.get("/users"), `<a href="/import">Import / export</a>`)
	pg := b.get("/import")
	wantStatus(t, "import page", pg, http.StatusOK)
	wantBody(t, "import page", pg, `enctype="multipart/form-data"`, `name="dry_run"`, `action="/import/export"`, "at most 256 MiB", "Every line must be in tenant example.test")
	if strings.Contains(pg.body, " style=") || strings.Contains(pg.body, "<script>") {
		t.Error("inline style or script on the import page")
	}

	p := b.upload("/import", []string{"csrf", csrf}, "people.csv", people)
	wantStatus(t, "upload", p, http.StatusOK)
	wantBody(t, "upload", p, "Imported people.csv", "<td>user</td><td>1</td>", "<td>group</td><td>1</td>", "<td>grant</td><td>1</td>")
	wantBody(t, "Active users after the import", b.get("/users"), "dan@example.test", "team@example.test")
	if _, err := e.au.Authenticate("dan@example.test", "pw-dan", ""); err != nil {
		t.Errorf("the imported user cannot log in: %v", err)
	}
	if gs := grants(t, e, "alice@example.test"); len(gs) != 1 || gs[0].State != "effective" || gs[0].CreatedBy != "web:root@example.test" {
		t.Errorf("imported grant = %+v", gs)
	}
	recs, _ := e.svc.Audit(t.Context(), admin.AuditArgs{})
	by := map[string]bool{}
	for _, r := range recs {
		if r.Actor == "web:root@example.test" {
			by[r.Action] = true
		}
	}
	for _, a := range []string{"user_add", "group_add", "grant_add", "import"} {
		if !by[a] {
			t.Errorf("no audit record of %s by web:root@example.test: %+v", a, recs)
		}
	}
	wantBody(t, "audit page", b.get("/audit?actor=root@example.test"), "user_add", "dan@example.test")

	// The format: by the select, by the extension, by the content.
	for _, c := range []struct{ name, format, content, addr string }{
		{"a.txt", "jsonl", `{"kind":"shared","address":"desk1@example.test"}` + "\n", "desk1@example.test"},
		{"b.jsonl", "", `{"kind":"shared","address":"desk2@example.test"}` + "\n", "desk2@example.test"},
		{"c", "", `{"kind":"shared","address":"desk3@example.test"}` + "\n", "desk3@example.test"},
		{"d.json", "csv", "kind,address\nshared,desk4@example.test\n", "desk4@example.test"},
	} {
		p := b.upload("/import", []string{"csrf", csrf, "format", c.format}, c.name, c.content)
		wantStatus(t, "upload "+c.name, p, http.StatusOK)
		if _, ok := e.st.Directory().Lookup(c.addr); !ok {
			t.Errorf("upload %s (format %q) did not add %s:\n%s", c.name, c.format, c.addr, p.body)
		}
	}
	// A CSV file read as JSON lines is refused on its lines.
	p = b.upload("/import", []string{"csrf", csrf}, "e.jsonl", "kind,address\nshared,desk5@example.test\n")
	wantStatus(t, "csv named .jsonl", p, http.StatusBadRequest)
	wantBody(t, "csv named .jsonl", p, "line 1: not a JSON object", "nothing was applied")
	wantStatus(t, "unknown format", b.upload("/import", []string{"csrf", csrf, "format", "xml"}, "f.csv", people), http.StatusBadRequest)
	wantBody(t, "no file", b.upload("/import", []string{"csrf", csrf}, "", ""), "choose a file to import")
	wantStatus(t, "empty file", b.upload("/import", []string{"csrf", csrf}, "g.csv", ""), http.StatusBadRequest)
}

func TestImportBadLinesShown(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	before := auditCount(t, e)
	file := people + "grant,,,,alice@example.test,nobody@example.test,send-as,\n" + // line 5
		"user,<script>alert(1)</script>@example.test,,,,,,\n" + // line 6
		"user,x@example.test,<script>alert(2)</script>,,,,,\n" + // line 7: fine
		"user,bob@example.test,<img src=x onerror=alert(3)>,,,,,\n" // line 8: taken
	p := b.upload("/import", []string{"csrf", csrf}, "bad.csv", file)
	wantStatus(t, "bad file", p, http.StatusBadRequest)
	wantBody(t, "bad file", p, "3 bad line(s): nothing was applied.", "<li>line 5: ", "nobody@example.test", "<li>line 6: ", "<li>line 8: ",
		"&lt;script&gt;alert(1)&lt;/script&gt;@example.test")
	if strings.Contains(p.body, "line 7") || strings.Contains(p.body, "<li>line 2") {
		t.Errorf("good lines reported as bad:\n%s", p.body)
	}
	if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
		t.Errorf("a bad line's reason is rendered as markup:\n%s", p.body)
	}
	for _, a := range []string{"dan@example.test", "team@example.test", "x@example.test"} {
		if _, ok := e.st.Directory().Lookup(a); ok {
			t.Errorf("%s was added by a refused import", a)
		}
	}
	if n := auditCount(t, e); n != before {
		t.Errorf("a refused import wrote %d audit records", n-before)
	}
}

func TestImportDryRunWeb(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	before, dir := auditCount(t, e), e.st.Directory()
	p := b.upload("/import", []string{"csrf", csrf, "dry_run", "on"}, "people.csv", people)
	wantStatus(t, "dry run", p, http.StatusOK)
	wantBody(t, "dry run", p, "Check only: people.csv is good, and nothing was changed.", "Would be added", "<td>user</td><td>1</td>", `name="dry_run" value="on" checked`)
	if e.st.Directory() != dir {
		t.Error("a dry run changed the directory")
	}
	if _, ok := e.st.Directory().Lookup("dan@example.test"); ok {
		t.Error("a dry run added dan")
	}
	if n := auditCount(t, e); n != before {
		t.Errorf("a dry run wrote %d audit records", n-before)
	}
	p = b.upload("/import", []string{"csrf", csrf, "dry_run", "on"}, "bad.csv", people+"user,alice@example.test,,,,,,\n")
	wantStatus(t, "dry run of a bad file", p, http.StatusBadRequest)
	wantBody(t, "dry run of a bad file", p, "<li>line 5: address alice@example.test is already used")
}

// A tenant administrator's file may touch only their tenant: every other
// line is refused on its line, and nothing is applied; a global
// administrator imports anything.
func TestImportTenantIsolation(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	before := auditCount(t, e)
	file := "kind,domain,address,mailbox,trustee,right\n" +
		"user,,dan@example.test,,,\n" + // 2: fine
		"user,,mallory@other.test,,,\n" + // 3
		"grant,,,eve@other.test,alice@example.test,send-as\n" + // 4
		"grant,,,alice@example.test,eve@other.test,full-access\n" + // 5
		"tenant,evil.test,,,,\n" // 6
	p := b.upload("/import", []string{"csrf", csrf}, "mixed.csv", file)
	wantStatus(t, "tenant admin, other tenant's lines", p, http.StatusBadRequest)
	wantBody(t, "tenant admin, other tenant's lines", p, "4 bad line(s): nothing was applied.",
		"<li>line 3: mallory@other.test is not in tenant example.test", "<li>line 4: eve@other.test is not in tenant example.test",
		"<li>line 5: eve@other.test is not in tenant example.test", "<li>line 6: tenant evil.test: this import may change only tenant example.test")
	for _, a := range []string{"dan@example.test", "mallory@other.test"} {
		if _, ok := e.st.Directory().Lookup(a); ok {
			t.Errorf("%s was added by a refused import", a)
		}
	}
	if _, ok := e.st.Directory().Tenant("evil.test"); ok || len(grants(t, e, "")) != 0 || auditCount(t, e) != before {
		t.Error("a refused import changed the store")
	}
	// The global administrator's import is not confined.
	g, gcsrf := e.admin(t, "god@other.test")
	file = "kind,domain,address,mailbox,trustee,right\nuser,,dan@example.test,,,\nuser,,mallory@other.test,,,\n" +
		"grant,,,eve@other.test,mallory@other.test,send-as\ntenant,evil.test,,,,\n"
	p = g.upload("/import", []string{"csrf", gcsrf}, "mixed.csv", file)
	wantStatus(t, "global admin", p, http.StatusOK)
	if _, ok := e.st.Directory().Lookup("mallory@other.test"); !ok {
		t.Errorf("the global administrator's import did not add mallory:\n%s", p.body)
	}
}

func TestImportCSRF(t *testing.T) {
	e := newEnv(t)
	b, csrf := e.admin(t, "root@example.test")
	before := auditCount(t, e)
	for _, tok := range []string{"", "wrong", csrf[:len(csrf)-1] + "x"} {
		fields := []string{"csrf", tok}
		if tok == "" {
			fields = nil
		}
		wantStatus(t, "upload with token "+tok, b.upload("/import", fields, "people.csv", people), http.StatusForbidden)
		v := form(tok)
		if tok == "" {
			v.Del("csrf")
		}
		p := b.post("/import/export", v)
		wantStatus(t, "export with token "+tok, p, http.StatusForbidden)
		if strings.Contains(p.body, "password_hash") || strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("export with token %q gave the file", tok)
		}
	}
	// The token in the URL instead of the body is no good either.
	wantStatus(t, "token in the query", b.upload("/import?csrf="+csrf, nil, "people.csv", people), http.StatusForbidden)
	if _, ok := e.st.Directory().Lookup("dan@example.test"); ok || auditCount(t, e) != before {
		t.Error("a forged upload changed the store")
	}
	wantStatus(t, "GET export", b.get("/import/export"), http.StatusMethodNotAllowed)
	// Without a session: to the login page, nothing read.
	anon := e.browser(t)
	if p := anon.upload("/import", []string{"csrf", csrf}, "people.csv", people); p.status != http.StatusSeeOther || p.loc != "/login" {
		t.Errorf("upload without a session: %d %q", p.status, p.loc)
	}
	if p := anon.post("/import/export", form(csrf)); p.status != http.StatusSeeOther || strings.Contains(p.body, "password_hash") {
		t.Errorf("export without a session: %d", p.status)
	}
	if _, ok := e.st.Directory().Lookup("dan@example.test"); ok {
		t.Error("an upload without a session added dan")
	}
}

func TestExportDownload(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	mustOK(t)(e.svc.GrantAdd(ctx, admin.GrantArgs{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: "send-as", By: "cli:tester"}))
	mustOK(t)(e.svc.GrantAdd(ctx, admin.GrantArgs{Mailbox: "eve@other.test", Trustee: "god@other.test", Right: "full-access"}))
	// A calendar event each for alice and eve: the tenant's export has
	// alice's only.
	for _, owner := range []string{"alice@example.test", "eve@other.test"} {
		pr, _ := e.st.Directory().Lookup(owner)
		c, err := e.st.EnsureDefaultCalendar(pr.ID)
		if err != nil {
			t.Fatal(err)
		}
		uid := "ev-" + strings.Split(owner, "@")[0]
		data := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261201T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
		if _, err := e.st.PutCalendarObject(storage.CalendarObject{Calendar: c.ID, Name: uid + ".ics", Data: []byte(data), Component: "VEVENT", UID: uid}, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	b, csrf := e.admin(t, "root@example.test")
	if p := b.post("/import/export", form(csrf, "format", "csv", "no_calendars", "on")); p.status != http.StatusOK || strings.Contains(p.body, "calendar") || !strings.Contains(p.body, "alice@example.test") {
		t.Errorf("export without calendars: %d\n%s", p.status, p.body)
	}
	p := b.post("/import/export", form(csrf, "format", "csv"))
	if !strings.Contains(p.body, "UID:ev-alice") || strings.Contains(p.body, "ev-eve") {
		t.Errorf("the tenant's export lacks its calendar or holds another tenant's:\n%s", p.body)
	}
	wantStatus(t, "export", p, http.StatusOK)
	if ct := p.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	disp, params, err := mime.ParseMediaType(p.header.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || !strings.HasPrefix(params["filename"], "mailgate-example.test-") || !strings.HasSuffix(params["filename"], ".csv") {
		t.Errorf("Content-Disposition %q", p.header.Get("Content-Disposition"))
	}
	want, err := e.svc.Export(ctx, admin.ExportArgs{Tenant: "example.test", Format: admin.FormatCSV})
	if err != nil {
		t.Fatal(err)
	}
	if p.body != want.Content {
		t.Errorf("the download differs from Service.Export(example.test):\n%s\n---\n%s", p.body, want.Content)
	}
	if strings.Contains(p.body, "other.test") || !strings.Contains(p.body, "alice@example.test") || !strings.Contains(p.body, "$2") {
		t.Errorf("a tenant administrator's export holds another tenant, or not its own users with their hashes:\n%s", p.body)
	}
	// It is audited with the administrator.
	recs, _ := e.svc.Audit(ctx, admin.AuditArgs{Action: "export"})
	if len(recs) != 2 || recs[1].Actor != "web:root@example.test" || recs[1].Mailbox != "example.test" || !strings.Contains(recs[1].Detail, "1 calendar_object") { // the first: without calendars
		t.Errorf("export audit = %+v", recs)
	}
	// It round-trips through an import into an empty store.
	st, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fresh := admin.New(st, nil)
	if _, err := fresh.Import(ctx, admin.ImportArgs{Content: p.body}); err != nil {
		t.Fatalf("import of the download into an empty store: %v", err)
	}
	again, err := fresh.Export(ctx, admin.ExportArgs{Format: admin.FormatCSV})
	if err != nil || again.Content != p.body {
		t.Errorf("export after the round trip differs (%v):\n%s\n---\n%s", err, again.Content, p.body)
	}
	// Another tenant, or all, by form tampering: refused.
	for _, tn := range []string{"other.test", "all", "nowhere.test"} {
		p := b.post("/import/export", form(csrf, "tenant", tn))
		wantStatus(t, "tenant admin exports "+tn, p, http.StatusNotFound)
		if strings.Contains(p.body, "password_hash") {
			t.Errorf("tenant admin exporting %s got a file", tn)
		}
	}

	// A global administrator: the switcher's tenant by default, or all.
	g, gcsrf := e.admin(t, "god@other.test")
	wantBody(t, "global import page", g.get("/import"), `<option value="all">All tenants</option>`)
	wantStatus(t, "switch", g.post("/tenant/switch", form(gcsrf, "tenant", "other.test")), http.StatusSeeOther)
	p = g.post("/import/export", form(gcsrf))
	if want, _ := e.svc.Export(ctx, admin.ExportArgs{Tenant: "other.test"}); p.status != 200 || p.body != want.Content {
		t.Errorf("global export of the switched tenant: %d\n%s", p.status, p.body)
	}
	p = g.post("/import/export", form(gcsrf, "tenant", "all", "format", "jsonl"))
	all, _ := e.svc.Export(ctx, admin.ExportArgs{Format: admin.FormatJSONL})
	if p.status != 200 || p.body != all.Content || p.header.Get("Content-Type") != "application/x-ndjson" ||
		!strings.Contains(p.header.Get("Content-Disposition"), "mailgate-all-") || !strings.Contains(p.body, "example.test") || !strings.Contains(p.body, "other.test") {
		t.Errorf("global export of all tenants as JSON lines: %d %v\n%s", p.status, p.header, p.body)
	}
	wantStatus(t, "bad format", g.post("/import/export", form(gcsrf, "format", "xml")), http.StatusBadRequest)
}

// An upload over the limit is refused with the limit named, and nothing
// is applied.
func TestImportTooLarge(t *testing.T) {
	e := newEnv(t)
	ws, err := web.New(web.Config{Service: e.svc, Auth: e.au, Now: e.clock.now, MaxUpload: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	small := *e
	small.ts = httptest.NewTLSServer(ws)
	t.Cleanup(small.ts.Close)
	b, csrf := small.admin(t, "root@example.test")
	wantBody(t, "import page", b.get("/import"), "at most 64 KiB")
	big := people + strings.Repeat("shared,desk@example.test,"+strings.Repeat("x", 100)+",,,,,\n", 700) // about 90 KiB
	p := b.upload("/import", []string{"csrf", csrf}, "big.csv", big)
	wantStatus(t, "big upload", p, http.StatusRequestEntityTooLarge)
	wantBody(t, "big upload", p, "larger than 64 KiB, the import limit")
	// Over the file limit but within what the form may add around it.
	p = b.upload("/import", []string{"csrf", csrf}, "big.csv", people+strings.Repeat("#", 64<<10))
	wantStatus(t, "file just over", p, http.StatusRequestEntityTooLarge)
	// Far over: the body itself is cut off while it is read.
	p = b.upload("/import", []string{"csrf", csrf}, "huge.csv", people+strings.Repeat("#", 1<<20))
	wantStatus(t, "huge upload", p, http.StatusRequestEntityTooLarge)
	wantBody(t, "huge upload", p, "larger than 64 KiB, the import limit")
	if _, ok := e.st.Directory().Lookup("dan@example.test"); ok {
		t.Error("an upload over the limit added dan")
	}
	wantStatus(t, "upload within the limit", b.upload("/import", []string{"csrf", csrf}, "people.csv", people), http.StatusOK)
}
