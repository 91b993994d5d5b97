package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/storage"
)

// An import confined to a tenant (ImportArgs.Tenant, a tenant
// administrator's) refuses every line that touches another tenant, on
// its line and without a word about that tenant, and applies nothing.
func TestImportTenantConfined(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	if _, err := s.Import(ctx, ImportArgs{Content: "kind,domain,address,password_hash\ntenant,a.test,,\ntenant,b.test,,\n" +
		"user,,ann@a.test," + testHash + "\nuser,,eve@b.test," + testHash + "\ngroup,,team@a.test,\n"}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Audit(ctx, AuditArgs{})
	dir := s.st.Directory()

	file := strings.Join([]string{
		"kind,domain,address,name,alias,group,member,mailbox,trustee,right",
		"user,,new@a.test,New,,,,,,",                       // 2: fine
		"tenant,B.test,,,,,,,,",                            // 3: another tenant
		"tenant,c.test,,,,,,,,",                            // 4: a new one is no better
		"user,,mallory@b.test,,,,,,,",                      // 5
		"shared,,desk@B.TEST,,,,,,,",                       // 6: spelling does not help
		"alias,,ann@a.test,,ann@b.test,,,,,",               // 7: an alias elsewhere
		"alias,,eve@b.test,,eve@a.test,,,,,",               // 8: on someone elsewhere
		"member,,,,,team@a.test,eve@b.test,,,",             // 9
		"grant,,,,,,,eve@b.test,ann@a.test,send-as",        // 10
		"grant,,,,,,,ann@a.test,eve@b.test,full-access",    // 11
		"grant,,,,,,,new@a.test,ann@a.test,send-on-behalf", // 12: fine
		"grant,,,,,,,ann@a.test,nobody@b.test,send-as",     // 13: unknown, elsewhere: the same answer
	}, "\n") + "\n"
	_, err := s.Import(ctx, ImportArgs{Content: file, Tenant: "A.test", By: "web:root@a.test"})
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("Import(Tenant a.test) of other tenants' lines = %v, want a 400", err)
	}
	var got []int
	for _, l := range ae.Lines {
		got = append(got, l.Line)
		if !strings.Contains(l.Msg, "the only one this import may change") && !strings.Contains(l.Msg, "may change only tenant a.test") {
			t.Errorf("line %d: %q does not say the import is confined to a.test", l.Line, l.Msg)
		}
		if strings.Contains(l.Msg, "already") || strings.Contains(l.Msg, "no user") {
			t.Errorf("line %d: %q tells about the other tenant's directory", l.Line, l.Msg)
		}
	}
	if want := []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13}; !slices.Equal(got, want) {
		t.Fatalf("bad lines %v, want %v:\n%s", got, want, ae.Msg)
	}
	// The same answer for an unknown address as for a known one.
	if ae.Lines[len(ae.Lines)-1].Msg != strings.ReplaceAll(ae.Lines[len(ae.Lines)-2].Msg, "eve@", "nobody@") {
		t.Errorf("unknown and known addresses of b.test answered differently: %q, %q", ae.Lines[len(ae.Lines)-1].Msg, ae.Lines[len(ae.Lines)-2].Msg)
	}
	if s.st.Directory() != dir {
		t.Error("a refused import changed the directory")
	}
	if _, ok := dir.Lookup("new@a.test"); ok {
		t.Error("the good lines of a refused import were applied")
	}
	if after, _ := s.Audit(ctx, AuditArgs{}); len(after) != len(before) {
		t.Errorf("a refused import wrote %d audit records", len(after)-len(before))
	}

	// A dry run says the same.
	if _, err := s.Import(ctx, ImportArgs{Content: file, Tenant: "a.test", DryRun: true}); !errors.As(err, &ae) || len(ae.Lines) != 10 {
		t.Errorf("dry run confined to a.test = %v", err)
	}
	// The tenant's own lines apply, the tenant's own tenant line is an
	// ordinary duplicate.
	good := "kind,domain,address,mailbox,trustee,right\nuser,,new@a.test,,,\ngrant,,,new@a.test,ann@a.test,send-as\n"
	res, err := s.Import(ctx, ImportArgs{Content: good, Tenant: "a.test", By: "web:root@a.test"})
	if err != nil || res.Counts[storage.BatchUser] != 1 || res.Counts[storage.BatchGrant] != 1 {
		t.Fatalf("Import(Tenant a.test) of its own lines = %+v, %v", res, err)
	}
	if _, err := s.Import(ctx, ImportArgs{Content: "kind,domain\ntenant,a.test\n", Tenant: "a.test"}); !errors.As(err, &ae) || len(ae.Lines) != 1 || !strings.Contains(ae.Lines[0].Msg, "already exists") {
		t.Errorf("own tenant line = %v, want an ordinary duplicate", err)
	}
	if _, err := s.Import(ctx, ImportArgs{Content: good, Tenant: "nowhere.test"}); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("Import(Tenant nowhere.test) = %v, want a 404", err)
	}
	// Without Tenant (a global administrator, the CLI) anything goes.
	if _, err := s.Import(ctx, ImportArgs{Content: "kind,address\nuser,mallory@b.test\n"}); err != nil {
		t.Errorf("unconfined import into b.test: %v", err)
	}
}

func TestImportTooLarge(t *testing.T) {
	s := newService(t)
	_, err := s.Import(context.Background(), ImportArgs{Content: strings.Repeat("x", MaxImportBytes+1)})
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusRequestEntityTooLarge || !strings.Contains(ae.Msg, "256 MiB") {
		t.Errorf("Import of %d bytes = %v, want a 413 naming the limit", MaxImportBytes+1, err)
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]string{"users.csv": FormatCSV, "USERS.CSV": FormatCSV, "a.jsonl": FormatJSONL,
		"a.ndjson": FormatJSONL, "a.json": FormatJSONL, "a.txt": "", "": "", "-": ""} {
		if got := FormatOf(name); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", name, got, want)
		}
	}
}
