package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
)

func newService(t *testing.T) *Service {
	t.Helper()
	return newServiceOpts(t, storage.Options{})
}

// newServiceOpts is newService on a store opened with opts (a fixed clock).
func newServiceOpts(t *testing.T, opts storage.Options) *Service {
	t.Helper()
	st, err := storage.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, nil)
}

// serveSocket serves svc on a fresh admin socket until the test ends and
// returns the socket's path and a client dialled to it.
func serveSocket(t *testing.T, svc *Service) (string, *Client) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: svc.Handler()}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	return sock, c
}

func TestHandlerErrors(t *testing.T) {
	srv := httptest.NewServer(newService(t).Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/v1/no.such", "{}", 404, "unknown operation"},
		{"GET", "/v1/tenant.list", "", 405, "use POST"},
		{"POST", "/v1/tenant.add", "{not json", 400, "bad arguments"},
		{"POST", "/v1/tenant.add", `{"domain":"a.test","extra":1}`, 400, "unknown field"},
		{"POST", "/v1/tenant.add", `{"domain":"a.test","propagation":"soon"}`, 400, "invalid duration"},
		{"POST", "/v1/tenant.add", `{"domain":"a.test"}`, 200, `"propagation":"1h0m0s"`},
		{"POST", "/v1/tenant.add", `{"domain":"a.test"}`, 409, "already exists"},
		{"POST", "/v1/user.add", `{"address":"u@a.test"}`, 400, "empty password"},
		{"POST", "/v1/grant.add", `{"mailbox":"x@a.test","trustee":"y@a.test","right":"send-as"}`, 404, "x@a.test"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%s %s %s = %d %s, want %d containing %q", tc.method, tc.path, tc.body, resp.StatusCode, buf.String(), tc.status, tc.want)
		}
		if tc.status != 200 {
			var e map[string]string
			if json.Unmarshal(buf.Bytes(), &e) != nil || e["error"] == "" {
				t.Errorf("%s: error body %q is not {\"error\": ...}", tc.path, buf.String())
			}
		}
	}
}

// The socket client and the in-process Service give the same answers and
// the same errors.
func TestClientOverSocket(t *testing.T) {
	svc := newService(t)
	sock, c := serveSocket(t, svc)
	if _, err := Listen(sock); err == nil {
		t.Error("second Listen on a live socket succeeded")
	}
	ctx := context.Background()
	zero := Duration(0)
	for _, caller := range []Caller{c, svc} {
		dom := typeName(caller) + ".test"
		var tv TenantView
		if err := caller.Call(ctx, "tenant.add", TenantArgs{Domain: dom, Propagation: &zero}, &tv); err != nil || tv.Domain != dom {
			t.Fatalf("%s tenant.add = %+v, %v", typeName(caller), tv, err)
		}
		err := caller.Call(ctx, "tenant.add", TenantArgs{Domain: dom}, nil)
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != 409 {
			t.Errorf("%s duplicate tenant: %v", typeName(caller), err)
		}
	}
	var ts []TenantView
	if err := c.Call(ctx, "tenant.list", ListArgs{}, &ts); err != nil || len(ts) != 2 {
		t.Errorf("tenant.list = %+v, %v", ts, err)
	}
}

func typeName(c Caller) string {
	if _, ok := c.(*Client); ok {
		return "client"
	}
	return "service"
}

func TestAuditSince(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	svc := newServiceOpts(t, storage.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	if err := svc.Call(ctx, "tenant.add", TenantArgs{Domain: "a.test"}, nil); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		var p PrincipalView
		if err := svc.Call(ctx, "user.add", PrincipalArgs{Address: u + "@a.test", Password: "pw-" + u + "-long"}, &p); err != nil {
			t.Fatal(err)
		}
		ids[u] = string(p.ID)
	}
	rec := func(actor, action string) {
		if err := svc.st.Audit(storage.AuditRecord{Proto: "imap", Action: action, Actor: actor + "@a.test", ActorID: ids[actor],
			Mailbox: "alice@a.test", MailboxID: ids["alice"], Decision: "allowed"}); err != nil {
			t.Fatal(err)
		}
	}
	rec("bob", "old") // 10:00
	now = now.Add(2 * time.Hour)
	rec("bob", "recent") // 12:00
	rec("alice", "own")  // 12:00
	now = now.Add(time.Minute)
	actions := func(a AuditArgs) string {
		t.Helper()
		var recs []storage.AuditRecord
		if err := svc.Call(ctx, "audit", a, &recs); err != nil {
			t.Fatalf("audit %+v: %v", a, err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.Action)
		}
		return strings.Join(out, ",")
	}
	hour, day := Duration(time.Hour), Duration(24*time.Hour)
	for _, tc := range []struct {
		args AuditArgs
		want string
	}{
		{AuditArgs{}, "tenant_add,user_add,user_add,old,recent,own"},
		{AuditArgs{Since: &hour}, "recent,own"},
		{AuditArgs{Since: &day}, "tenant_add,user_add,user_add,old,recent,own"},
		{AuditArgs{Action: "user_add"}, "user_add,user_add"},
		{AuditArgs{Since: &hour, Actor: "bob@a.test"}, "recent"},
		{AuditArgs{Actor: "bob@a.test"}, "old,recent"},
		{AuditArgs{Limit: 1}, "own"},
	} {
		if got := actions(tc.args); got != tc.want {
			t.Errorf("audit %+v = %s, want %s", tc.args, got, tc.want)
		}
	}
	var recs []storage.AuditRecord
	if err := svc.Call(ctx, "audit", AuditArgs{Actor: "ghost@a.test"}, &recs); err == nil {
		t.Error("audit --actor unknown: no error")
	}
}

// The README's Admin API section names every operation.
func TestREADMEListsOperations(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range ops {
		if !regexp.MustCompile(`[\s` + "`" + `]` + regexp.QuoteMeta(name) + `[\s` + "`" + `]`).Match(readme) {
			t.Errorf("README.md does not list the admin operation %q", name)
		}
	}
}
