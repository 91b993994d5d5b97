package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
)

// importLarge imports the generated file of 10,000 users and 20,000
// grants with `mailgate import` (store args select the database), logs
// the time, and checks the export → import → export round trip into
// the store that other gives.
func importLarge(t *testing.T, name, data string, store, other []string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "org.csv")
	if err := os.WriteFile(file, []byte(testenv.BulkFile(10000, 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := mailgate(t, data, "", append(store, "import", file)...)
	elapsed := time.Since(start)
	if r.code != 0 {
		t.Fatalf("import: exit %d, %s", r.code, r.err)
	}
	t.Logf("mailgate import of 10,000 users and 20,000 grants on %s: %v (the process, start to exit)", name, elapsed)
	if !strings.Contains(r.out, "imported 1 tenant, 10000 user, 20000 grant in") {
		t.Errorf("import said %q", r.out)
	}
	for _, want := range []string{"parsed 30001 lines", "check: 30001/30001", "apply: 30001/30001"} {
		if !strings.Contains(r.err, want) {
			t.Errorf("import progress %q lacks %q", r.err, want)
		}
	}
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	ok(t, data, append(store, "export", "-o", first)...)
	if fi, err := os.Stat(first); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file: %v, mode %v, want 0600 (it holds password hashes)", err, fi.Mode().Perm())
	}
	data2 := t.TempDir()
	ok(t, data2, append(other, "import", "-q", first)...)
	ok(t, data2, append(other, "export", "-o", second)...)
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if string(a) != string(b) || len(a) < 1000 {
		t.Errorf("export → import → export differs (%d and %d bytes)", len(a), len(b))
	}
	if n := strings.Count(string(a), "\ngrant,"); n != 20000 {
		t.Errorf("the export has %d grants, want 20000", n)
	}
}

func TestImportLargeEmbedded(t *testing.T) {
	importLarge(t, "Badger", t.TempDir(), nil, nil)
}

func TestImportLargePostgres(t *testing.T) {
	importLarge(t, "PostgreSQL", t.TempDir(), []string{"--store", testenv.Postgres(t)}, []string{"--store", testenv.Postgres(t)})
}

// A file with bad lines changes nothing and names each line; --dry-run
// changes nothing either.
func TestImportBadLinesCLI(t *testing.T) {
	data := t.TempDir()
	var b strings.Builder
	b.WriteString("kind,domain,address,password,mailbox,trustee,right\ntenant,a.test,,,,,\ntenant,b.test,,,,,\nuser,,zed@b.test,pw,,,\n")
	for i := range 1000 {
		if i == 500 {
			b.WriteString("grant,,,,u1@a.test,zed@b.test,send-as\n") // line 505
		}
		fmt.Fprintf(&b, "user,,u%d@a.test,pw%d,,,\n", i, i)
	}
	b.WriteString("grant,,,,u1@a.test,u2@a.test,read-only\n") // line 1006
	file := filepath.Join(t.TempDir(), "org.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mailgate(t, data, "", "import", file)
	if r.code != 1 || !strings.Contains(r.err, "mailgate: 2 bad line(s), nothing applied:") ||
		!strings.Contains(r.err, "line 505: u1@a.test and zed@b.test are in different tenants") ||
		!strings.Contains(r.err, "line 1006: unknown right") {
		t.Errorf("import of bad lines: exit %d, stderr %q", r.code, r.err)
	}
	if out := ok(t, data, "tenant", "list"); strings.Contains(out, "a.test") {
		t.Errorf("a refused import added tenants:\n%s", out)
	}
	good := filepath.Join(t.TempDir(), "good.jsonl")
	if err := os.WriteFile(good, []byte(`{"kind":"tenant","domain":"a.test"}`+"\n"+`{"kind":"user","address":"u@a.test","password":"pw"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, data, "import", "--dry-run", good); !strings.Contains(out, "dry run, nothing changed; would import 1 tenant, 1 user") {
		t.Errorf("dry run said %q", out)
	}
	if out := ok(t, data, "tenant", "list"); strings.Contains(out, "a.test") {
		t.Errorf("a dry run added tenants:\n%s", out)
	}
	ok(t, data, "import", good)
	if out := ok(t, data, "user", "list"); !strings.Contains(out, "u@a.test") {
		t.Errorf("user list after the import:\n%s", out)
	}
	if out := ok(t, data, "--json", "audit", "--action", "import"); !strings.Contains(out, "1 tenant, 1 user") {
		t.Errorf("audit of the import:\n%s", out)
	}
}

// Through a running server the CLI sends the file over the socket and
// prints the server's progress.
func TestImportThroughServer(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	file := filepath.Join(t.TempDir(), "org.csv")
	if err := os.WriteFile(file, []byte(testenv.BulkFile(200, 2)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mailgate(t, data, "", "import", file)
	if r.code != 0 || !strings.Contains(r.err, "parsed 601 lines") || !strings.Contains(r.err, "apply: 601/601") {
		t.Fatalf("import through the server: exit %d, stderr %q", r.code, r.err)
	}
	if out := ok(t, data, "grant", "list", "u00007@big.test"); strings.Count(out, "u0000") != 4 {
		t.Errorf("grant list after the import:\n%s", out)
	}
	out := ok(t, data, "export", "--tenant", "big.test", "--format", "jsonl")
	if n := strings.Count(out, `{"kind":"grant"`); n != 400 {
		t.Errorf("export --format jsonl has %d grants, want 400:\n%.500s", n, out)
	}
	srv.stop(t)
}

// calendarFile is a bulk file with calendars: a CSV whose objects' data
// spans lines (quoted CRLFs).
func calendarFile() string {
	ev := func(uid, summary string) string {
		return `"BEGIN:VCALENDAR` + "\r\n" + `VERSION:2.0` + "\r\n" + `PRODID:-//t//EN` + "\r\n" + `BEGIN:VEVENT` + "\r\n" +
			`UID:` + uid + "\r\n" + `DTSTAMP:20261201T080000Z` + "\r\n" + `DTSTART:20261201T090000Z` + "\r\n" +
			`SUMMARY:` + summary + "\r\n" + `END:VEVENT` + "\r\n" + `END:VCALENDAR` + "\r\n" + `"`
	}
	return "kind,domain,address,password,calendar,display_name,color,object,data\n" +
		"tenant,c.test,,,,,,,\n" +
		"user,,ann@c.test,pw,,,,,\n" +
		"shared,,desk@c.test,,,,,,\n" +
		"calendar_object,,ann@c.test,,work,,,m.ics," + ev("m", `Team, \""weekly\""`) + "\n" +
		"calendar,,ann@c.test,,default,Calendar,,,\n" +
		"calendar,,ann@c.test,,work,Work,#ff0000,,\n" +
		"calendar,,desk@c.test,,default,Calendar,,,\n" +
		"calendar_object,,desk@c.test,,default,,,d.ics," + ev("d", "Desk") + "\n"
}

// importCalendars imports calendarFile, then checks the export →
// import → export round trip into the store other gives, and that a bad
// object in the middle of a file changes nothing.
func importCalendars(t *testing.T, data string, store, other []string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cal.csv")
	if err := os.WriteFile(file, []byte(calendarFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, data, append(store, "import", "-q", file)...); !strings.Contains(out, "3 calendar, 2 calendar_object") {
		t.Errorf("import said %q", out)
	}
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.jsonl")
	ok(t, data, append(store, "export", "-o", first)...)
	a, _ := os.ReadFile(first)
	for _, want := range []string{"calendar,,,ann@c.test,,,,,,,,,,,,,work,Work,#ff0000,,", "UID:m\r\n", "m.ics", "d.ics"} {
		if !strings.Contains(string(a), want) {
			t.Errorf("the export lacks %q:\n%s", want, a)
		}
	}
	data2 := t.TempDir()
	ok(t, data2, append(other, "import", "-q", first)...)
	ok(t, data2, append(other, "export", "-o", filepath.Join(dir, "second.csv"))...)
	b, _ := os.ReadFile(filepath.Join(dir, "second.csv"))
	if string(a) != string(b) {
		t.Errorf("export → import → export differs:\n%s\n---\n%s", a, b)
	}
	// JSON lines too: from the second store, into a third.
	ok(t, data2, append(other, "export", "-o", second)...)
	j1, _ := os.ReadFile(second)
	data3 := t.TempDir()
	ok(t, data3, "import", "-q", second)
	j2 := ok(t, data3, "export", "--format", "jsonl")
	if string(j1) != j2 || !strings.Contains(j2, `"kind":"calendar_object"`) || !strings.Contains(j2, `\r\n`) {
		t.Errorf("JSON lines export → import → export differs:\n%s\n---\n%s", j1, j2)
	}
	if out := ok(t, data, append(store, "export", "--no-calendars")...); strings.Contains(out, "calendar") || !strings.Contains(out, "ann@c.test") {
		t.Errorf("export --no-calendars:\n%s", out)
	}
	// A bad iCalendar object in the middle: named, nothing applied.
	bad := "kind,address,calendar,object,data\nuser,bee@c.test,,,\ncalendar,bee@c.test,default,,\n" +
		"calendar_object,bee@c.test,default,x.ics,\"BEGIN:VCALENDAR\r\nBROKEN\r\n\"\ncalendar,ann@c.test,home,,\n"
	r := mailgate(t, data, bad, append(store, "import", "-q", "-")...)
	if r.code == 0 || !strings.Contains(r.err, "line 4: object x.ics: not valid iCalendar") {
		t.Errorf("import of a bad object: exit %d, %q", r.code, r.err)
	}
	if out := ok(t, data, append(store, "export")...); strings.Contains(out, "bee@c.test") || strings.Contains(out, "home") {
		t.Errorf("a refused import applied lines:\n%s", out)
	}
}

func TestImportCalendarsEmbedded(t *testing.T) {
	importCalendars(t, t.TempDir(), nil, nil)
}

func TestImportCalendarsPostgres(t *testing.T) {
	importCalendars(t, t.TempDir(), []string{"--store", testenv.Postgres(t)}, []string{"--store", testenv.Postgres(t)})
}
