package imap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

const (
	pw     = testdir.Password // every fixture user's
	domain = "example.test"
)

// clock is an adjustable time source shared by the store and the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a store seeded with the shared fixture directory (testdir.Seed
// lists who holds which right; for IMAP: alice owner; bob Full Access on
// alice and on info@; carol Send on Behalf only; dave nothing; erin Full
// Access on alice, direct; frank Full Access on alice through the group
// sales@ (and on info@, pending); gina Full Access on alice, pending for
// an hour) and a running server.
type env struct {
	t    testing.TB
	st   *storage.Store
	clk  *clock
	srv  *Server
	addr string
	ids  map[string]delegation.ID // by short name, from testdir.Seed
}

func addr(name string) string { return name + "@" + domain }

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvIn(t, t.TempDir())
}

// newEnvIn is newEnv with the store in dir.
func newEnvIn(t testing.TB, dir string) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	return newEnvClock(t, dir, clk, clk.Now)
}

// newEnvClock is newEnvIn with the store and server on the clock now (clk
// is nil when the test does not move it: the wall clock).
func newEnvClock(t testing.TB, dir string, clk *clock, now func() time.Time) *env {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, clk: clk, ids: testdir.Seed(t, st)}
	e.startServer(Config{Hostname: "mail.example.test", InsecureAuth: true})
	return e
}

func (e *env) startServer(cfg Config) {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := New(cfg, e.st, testLogger(e.t))
	go srv.Serve(ln)
	e.t.Cleanup(func() { srv.Close() })
	e.srv, e.addr = srv, ln.Addr().String()
}

// dial connects without logging in.
func (e *env) dial(opts *imapclient.Options) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// login connects and logs in as user (a name like "bob", or a full login
// string containing '@').
func (e *env) login(user string, opts *imapclient.Options) *imapclient.Client {
	e.t.Helper()
	c := e.dial(opts)
	if !strings.Contains(user, "@") {
		user = addr(user)
	}
	if err := c.Login(user, pw).Wait(); err != nil {
		e.t.Fatalf("LOGIN %s: %v", user, err)
	}
	return c
}

// deliver stores a message into owner's folder as SMTP would.
func (e *env) deliver(owner, folder, subject string, flags ...string) storage.Placed {
	e.t.Helper()
	p, err := e.st.Deliver(storage.Delivery{Message: testMessage(subject), Targets: []storage.Target{{Owner: e.ids[owner], Folder: folder, Flags: flags}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p[0]
}

func testMessage(subject string) []byte {
	return []byte("From: Sender <sender@example.org>\r\nTo: alice@example.test\r\nSubject: " + subject +
		"\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, this is " + subject + ".\r\n")
}

func (e *env) auditActions(actorName string) []string {
	e.t.Helper()
	recs, err := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids[actorName])})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Action+" "+string(r.Decision)+" "+r.Mailbox+" "+r.Folder)
	}
	return out
}

// imapErr returns the server's status response behind a command error.
func imapErr(t testing.TB, err error) *goimap.Error {
	t.Helper()
	var ie *goimap.Error
	if !errors.As(err, &ie) {
		t.Fatalf("want an IMAP status error, got %v", err)
	}
	return ie
}

// wantCode checks that err is a NO with the given response code.
func wantCode(t testing.TB, what string, err error, code goimap.ResponseCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got OK, want NO [%s]", what, code)
	}
	ie := imapErr(t, err)
	if ie.Type != goimap.StatusResponseTypeNo || ie.Code != code {
		t.Fatalf("%s: got %s [%s] %s, want NO [%s]", what, ie.Type, ie.Code, ie.Text, code)
	}
}

func listNames(t testing.TB, c *imapclient.Client, ref, pattern string, opts *goimap.ListOptions) []string {
	t.Helper()
	l, err := c.List(ref, pattern, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	var out []string
	for _, d := range l {
		out = append(out, d.Mailbox)
	}
	return out
}

func fmtList(l []*goimap.ListData) string {
	var b strings.Builder
	for _, d := range l {
		fmt.Fprintf(&b, "%s %v\n", d.Mailbox, d.Attrs)
	}
	return b.String()
}

func storageFilter(e *env, actor string) storage.AuditFilter {
	return storage.AuditFilter{ActorID: string(e.ids[actor])}
}
