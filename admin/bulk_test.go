package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// A bcrypt hash, as an export writes it.
var testHash = testenv.BulkHash

// bulkCSV has every kind, in an order that refers forward: grants to
// users further down, members before their group; one grant is
// time-boxed, one has ended.
var bulkCSV = `kind,domain,propagation,address,name,password,password_hash,alias,group,member,mailbox,trustee,right,immediate,created_at,effective_at,created_by,until
grant,,,,,,,,,,info@a.test,bob@a.test,send-as,,,,,
grant,,,,,,,,,,alice@a.test,team@a.test,full-access,true,,,,2030-01-01T00:00:00Z
grant,,,,,,,,,,alice@a.test,bob@a.test,send-on-behalf,,2026-01-02T03:04:05Z,2026-01-02T04:04:05Z,old-admin,2026-03-01T00:00:00Z
member,,,,,,,,team@a.test,bob@a.test,,,,,,,,
user,,,alice@a.test,"Alice, A.",,` + testHash + `,,,,,,,,,,,
user,,,bob@a.test,Bob,s3cret,,,,,,,,,,,,
tenant,a.test,5m,,,,,,,,,,,,,,,
shared,,,info@a.test,Info desk,,,,,,,,,,,,,
group,,,team@a.test,Team,,,,,,,,,,,,,
alias,,,alice@a.test,,,,ally@a.test,,,,,,,,,,
`

func TestImportAndRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := newService(t)
	res, err := a.Import(ctx, ImportArgs{Content: bulkCSV, By: "cli:tester"})
	if err != nil {
		t.Fatal(err)
	}
	want := storage.BatchResult{"tenant": 1, "user": 2, "shared": 1, "group": 1, "alias": 1, "member": 1, "grant": 3}
	if fmt.Sprint(res.Counts) != fmt.Sprint(want) {
		t.Errorf("Import = %v, want %v", res.Counts, want)
	}
	d := a.st.Directory()
	bob, ok := d.Lookup("bob@a.test")
	if !ok {
		t.Fatal("bob not imported")
	}
	h, err := a.st.PasswordHash(bob.ID)
	if err != nil || bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret")) != nil {
		t.Errorf("bob's password was not hashed from the file: %q, %v", h, err)
	}
	if p, _ := d.Lookup("ally@a.test"); p == nil || p.Name != "Alice, A." {
		t.Errorf("alias ally@ → %+v", p)
	}
	if gs, _ := a.GrantList(ctx, GrantListArgs{Mailbox: "alice@a.test"}); len(gs) != 2 || gs[0].State != "expired" || gs[1].State != "effective" ||
		!gs[1].Until.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("time-boxed grants on alice@ = %+v (want the one ended in March expired, the other effective until 2030)", gs)
	}
	gs, _ := a.GrantList(ctx, GrantListArgs{Mailbox: "info@a.test"})
	if len(gs) != 1 || gs[0].State != "pending" || gs[0].CreatedBy != "cli:tester" || gs[0].EffectiveAt.Sub(gs[0].Created) != 5*time.Minute {
		t.Errorf("grant on info@ = %+v (want pending for the tenant's 5m)", gs)
	}

	for _, format := range []string{FormatCSV, FormatJSONL} {
		t.Run(format, func(t *testing.T) {
			first, err := a.Export(ctx, ExportArgs{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			b := newService(t)
			if _, err := b.Import(ctx, ImportArgs{Content: first.Content, By: "cli:other"}); err != nil {
				t.Fatalf("import of an export: %v\n%s", err, first.Content)
			}
			second, err := b.Export(ctx, ExportArgs{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if second.Content != first.Content {
				t.Errorf("export → import → export differs:\n%s\n---\n%s", first.Content, second.Content)
			}
			if !strings.Contains(first.Content, "2026-01-02T04:04:05Z") || !strings.Contains(first.Content, "old-admin") {
				t.Errorf("export lost a grant's times or creator:\n%s", first.Content)
			}
			if !strings.Contains(first.Content, "2030-01-01T00:00:00Z") || !strings.Contains(first.Content, "2026-03-01T00:00:00Z") {
				t.Errorf("export lost a time-boxed grant's end:\n%s", first.Content)
			}
		})
	}
	// One tenant's export names only its tenant.
	if _, err := a.TenantAdd(ctx, TenantArgs{Domain: "b.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UserAdd(ctx, PrincipalArgs{Address: "zed@b.test", Password: "x"}); err != nil {
		t.Fatal(err)
	}
	one, err := a.Export(ctx, ExportArgs{Tenant: "a.test"})
	if err != nil || strings.Contains(one.Content, "b.test") || !strings.Contains(one.Content, "alice@a.test") {
		t.Errorf("Export(a.test) = %v:\n%s", err, one.Content)
	}
}

// badFile is n users, a grant each, and the given bad lines put in the
// middle; it returns the file and the lines where they landed.
func badFile(n int, bad ...string) (string, []int) {
	var b strings.Builder
	b.WriteString("kind,domain,address,password_hash,mailbox,trustee,right\n")
	b.WriteString("tenant,a.test,,,,,\ntenant,b.test,,,,,\nuser,,zed@b.test," + testHash + ",,,\n")
	line := 4
	var at []int
	for i := range n {
		if i == n/2 {
			for _, l := range bad {
				b.WriteString(l + "\n")
				line++
				at = append(at, line)
			}
		}
		fmt.Fprintf(&b, "user,,u%d@a.test,%s,,,\ngrant,,,,u%d@a.test,u%d@a.test,send-as\n", i, testHash, i, (i+1)%n)
		line += 2
	}
	return b.String(), at
}

func TestImportBadLines(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		bad  []string
		want []string // in each bad line's error, in order
	}{
		{"OneBadLine", []string{"grant,,,,u1@a.test,zed@b.test,send-as"}, []string{"different tenants"}},
		{"SeveralBadLines", []string{
			"grant,,,,u1@a.test,u2@a.test,send-ass",
			"user,,u3@a.test," + testHash + ",,,",
			"robot,,r@a.test,,,,",
			"user,,x@a.test,not-a-hash,,,",
			"grant,,,,u1@a.test,nobody@a.test,full-access",
			"user,,y@a.test,,,",
		}, []string{"unknown right", "also added on line", "unknown kind", "bcrypt", "nobody@a.test", "fields"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t)
			file, at := badFile(100, tc.bad...)
			_, err := s.Import(ctx, ImportArgs{Content: file})
			var ae *Error
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
				t.Fatalf("Import with bad lines = %v, want a 400", err)
			}
			var got []int
			for _, l := range ae.Lines {
				got = append(got, l.Line)
			}
			if !slices.Equal(got, at) {
				t.Fatalf("bad lines %v, want %v:\n%s", got, at, ae.Msg)
			}
			for i, l := range ae.Lines {
				if !strings.Contains(l.Msg, tc.want[i]) {
					t.Errorf("line %d: %q, want it to say %q", l.Line, l.Msg, tc.want[i])
				}
				if !strings.Contains(ae.Msg, fmt.Sprintf("line %d: ", l.Line)) {
					t.Errorf("the message does not name line %d:\n%s", l.Line, ae.Msg)
				}
			}
			if ts, _ := s.TenantList(ctx, ListArgs{}); len(ts) != 0 {
				t.Errorf("a refused import added tenants %v", ts)
			}
			if recs, _ := s.Audit(ctx, AuditArgs{}); len(recs) != 0 {
				t.Errorf("a refused import wrote %d audit records", len(recs))
			}
		})
	}
}

func TestImportDryRun(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	before := s.st.Directory()
	res, err := s.Import(ctx, ImportArgs{Content: bulkCSV, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Counts[storage.BatchGrant] != 3 || res.Counts[storage.BatchUser] != 2 {
		t.Errorf("dry run = %+v", res)
	}
	if s.st.Directory() != before {
		t.Error("a dry run rebuilt the directory")
	}
	if ts, _ := s.TenantList(ctx, ListArgs{}); len(ts) != 0 {
		t.Errorf("a dry run added tenants %v", ts)
	}
	if recs, _ := s.Audit(ctx, AuditArgs{}); len(recs) != 0 {
		t.Errorf("a dry run wrote %d audit records", len(recs))
	}
	// A dry run finds the bad lines too.
	file, at := badFile(10, "grant,,,,u1@a.test,zed@b.test,send-as")
	var ae *Error
	if _, err := s.Import(ctx, ImportArgs{Content: file, DryRun: true}); !errors.As(err, &ae) || len(ae.Lines) != 1 || ae.Lines[0].Line != at[0] {
		t.Errorf("dry run of a bad file = %v", err)
	}
}

// JSON lines read like CSV, and errors name their lines.
func TestImportJSONLines(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	file := `{"kind":"tenant","domain":"a.test","propagation":"0s"}

{"kind":"user","address":"u@a.test","password_hash":"` + testHash + `"}
{"kind":"grant","mailbox":"v@a.test","trustee":"u@a.test","right":"full-access","immediate":true}
{"kind":"shared","address":"v@a.test"}
`
	res, err := s.Import(ctx, ImportArgs{Content: file})
	if err != nil || res.Counts[storage.BatchGrant] != 1 {
		t.Fatalf("Import(jsonl) = %+v, %v", res, err)
	}
	_, err = s.Import(ctx, ImportArgs{Content: "{\"kind\":\"user\",\"address\":\"w@a.test\"}\n{\"kind\":\"user\",\"adress\":\"x@a.test\"}\nnot json\n", Format: FormatJSONL})
	var ae *Error
	if !errors.As(err, &ae) || len(ae.Lines) != 2 || ae.Lines[0].Line != 2 || ae.Lines[1].Line != 3 {
		t.Errorf("Import(bad jsonl) = %v", err)
	}
	for _, a := range []ImportArgs{{Content: file, Format: "xml"}, {Content: "\n\n"}, {Content: "kind,address\n"}} {
		if _, err := s.Import(ctx, a); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("Import(%+v) = %v, want a 400", a, err)
		}
	}
}

// Through the socket, an import streams its progress and reports its bad
// lines like in-process.
func TestImportOverSocket(t *testing.T) {
	_, c := serveSocket(t, newService(t))
	var mu sync.Mutex
	var stages []string
	ctx := WithProgress(context.Background(), func(p Progress) {
		mu.Lock()
		stages = append(stages, fmt.Sprintf("%s %d/%d", p.Stage, p.Done, p.Total))
		mu.Unlock()
	})
	file, at := badFile(10, "user,,u1@a.test,"+testHash+",,,")
	err := c.Call(ctx, "import", ImportArgs{Content: file}, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || len(ae.Lines) != 1 || ae.Lines[0].Line != at[0] {
		t.Fatalf("bad import over the socket = %#v", err)
	}
	file, _ = badFile(9000) // over 1 MiB, the limit of other operations
	if len(file) < 1<<20 {
		t.Fatalf("test file of %d bytes", len(file))
	}
	var res ImportResult
	if err := c.Call(ctx, "import", ImportArgs{Content: file}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Counts[storage.BatchUser] != 9001 || res.Counts[storage.BatchGrant] != 9000 {
		t.Errorf("import over the socket = %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(stages, "; ")
	for _, want := range []string{"parse 18003/0", "check 18003/18003", "apply 0/18003", "apply 18003/18003"} {
		if !strings.Contains(joined, want) {
			t.Errorf("progress %q lacks %q", joined, want)
		}
	}
	// Without a progress function the answer is plain JSON.
	if err := c.Call(context.Background(), "export", ExportArgs{}, &ExportResult{}); err != nil {
		t.Fatal(err)
	}
}

// TestImportLarge: 10,000 users and 20,000 grants in one import on
// Badger (the timing is logged, not asserted).
func TestImportLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	s := newService(t)
	file := testenv.BulkFile(10000, 2)
	start := time.Now()
	res, err := s.Import(context.Background(), ImportArgs{Content: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import of 10,000 users and 20,000 grants (%d bytes) on Badger: %v", len(file), time.Since(start))
	if res.Counts[storage.BatchUser] != 10000 || res.Counts[storage.BatchGrant] != 20000 || len(s.st.Directory().Grants()) != 20000 {
		t.Errorf("Import = %+v, %d grants", res.Counts, len(s.st.Directory().Grants()))
	}
}
