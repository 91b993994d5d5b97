package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
)

// TestTimeBoxedGrant: grant.add takes an end (until, or for from now) in
// its JSON body; the view shows it; grant.list shows the grant effective
// up to that instant and expired (with the instant) from it on, and
// explain names the expired grant. Bad ends are 400 with the reason.
func TestTimeBoxedGrant(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	svc := newServiceOpts(t, storage.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	zero := Duration(0)
	if err := svc.Call(ctx, "tenant.add", TenantArgs{Domain: "a.test", Propagation: &zero}, nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := svc.Call(ctx, "user.add", PrincipalArgs{Address: u + "@a.test", Password: "pw-" + u + "-long"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	post := func(op, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/"+op, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	code, body := post("grant.add", `{"mailbox":"alice@a.test","trustee":"bob@a.test","right":"send-as","for":"2h"}`)
	var v GrantView
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil || !v.Until.Equal(now.Add(2*time.Hour)) || v.State != "effective" ||
		!strings.Contains(body, `"until":"2026-11-25T12:00:00Z"`) {
		t.Fatalf("grant.add for 2h = %d %s", code, body)
	}
	code, body = post("grant.add", `{"mailbox":"alice@a.test","trustee":"carol@a.test","right":"full-access","until":"2026-11-25T10:30:00+01:00"}`)
	if code != 400 || !strings.Contains(body, "not in the future") {
		t.Errorf("grant.add ending in the past = %d %s", code, body)
	}
	code, body = post("grant.add", `{"mailbox":"alice@a.test","trustee":"carol@a.test","right":"full-access","until":"2026-11-26T10:00:00Z","for":"1h"}`)
	if code != 400 || !strings.Contains(body, "not both") {
		t.Errorf("grant.add with both ends = %d %s", code, body)
	}
	code, body = post("grant.add", `{"mailbox":"alice@a.test","trustee":"carol@a.test","right":"full-access","for":"a while"}`)
	if code != 400 || !strings.Contains(body, "invalid duration") {
		t.Errorf("grant.add for a while = %d %s", code, body)
	}
	if code, body = post("grant.add", `{"mailbox":"alice@a.test","trustee":"carol@a.test","right":"full-access"}`); code != 200 || strings.Contains(body, "until") {
		t.Errorf("open-ended grant.add = %d %s", code, body)
	}

	states := func() string {
		t.Helper()
		var gs []GrantView
		if err := svc.Call(ctx, "grant.list", GrantListArgs{Mailbox: "alice@a.test"}, &gs); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.Trustee+" "+g.State+" "+untilText(g.Until))
		}
		return strings.Join(out, ", ")
	}
	explain := func() Explanation {
		t.Helper()
		var e Explanation
		if err := svc.Call(ctx, "explain.send", ExplainArgs{Actor: "bob@a.test", Address: "alice@a.test"}, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	now = now.Add(2*time.Hour - time.Second)
	if got, want := states(), "bob@a.test effective 2026-11-25T12:00:00Z, carol@a.test effective -"; got != want {
		t.Errorf("grant.list a second before the end = %s, want %s", got, want)
	}
	if e := explain(); !e.Decision.Allowed || !strings.Contains(e.Text, "until 2026-11-25T12:00:00Z") {
		t.Errorf("explain before the end: %+v", e)
	}
	now = now.Add(time.Second)
	if got, want := states(), "bob@a.test expired 2026-11-25T12:00:00Z, carol@a.test effective -"; got != want {
		t.Errorf("grant.list at the end = %s, want %s", got, want)
	}
	if e := explain(); e.Decision.Allowed || e.Decision.Reason != "expired" || !strings.Contains(e.Text, "expired at 2026-11-25T12:00:00Z") {
		t.Errorf("explain at the end: %+v", e)
	}
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
