package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

// testPassword is every fixture user's password.
const testPassword = testdir.Password

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }

// openStore opens a real Badger store in dir (fsync on), closed at cleanup.
func openStore(t testing.TB, dir string) *storage.Store {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fixture is a store seeded with the shared fixture directory (testdir.Seed
// lists who holds which right) and a running server with a submission and
// an MX listener on 127.0.0.1:0.
type fixture struct {
	st       *storage.Store
	srv      *Server
	sub, mx  string
	attempts chan attemptResult // relay attempts, when the queue runs
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	st := openStore(t, t.TempDir())
	testdir.Seed(t, st)
	return startServer(t, st, cfg)
}

func startServer(t testing.TB, st *storage.Store, cfg Config) *fixture {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "mail.example.test"
	}
	f := &fixture{st: st, attempts: make(chan attemptResult, 100)}
	f.srv = New(cfg, st, testLogger(t))
	f.srv.onAttempt = func(r attemptResult) { f.attempts <- r }
	f.sub = serveOn(t, f.srv.ServeSubmission)
	f.mx = serveOn(t, f.srv.ServeMX)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.srv.RunQueue(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		f.srv.Shutdown(sctx)
	})
	return f
}

func serveOn(t testing.TB, serve func(net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(ln)
	return ln.Addr().String()
}

// dial opens a client and says EHLO.
func dial(t testing.TB, addr string) *gosmtp.Client {
	t.Helper()
	c, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// login dials the submission listener and authenticates with PLAIN.
func login(t testing.TB, addr, user string) *gosmtp.Client {
	t.Helper()
	c := dial(t, addr)
	if err := c.Auth(sasl.NewPlainClient("", user, testPassword)); err != nil {
		t.Fatalf("AUTH PLAIN %s: %v", user, err)
	}
	return c
}

// send runs one transaction and returns the first failing reply.
func send(c *gosmtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			c.Reset()
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// wantReply checks an error is the SMTP reply code/enhanced code wanted and
// that its text contains every fragment.
func wantReply(t testing.TB, what string, err error, code int, ec gosmtp.EnhancedCode, fragments ...string) {
	t.Helper()
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v, want %d %v", what, err, code, ec)
	}
	if se.Code != code || se.EnhancedCode != ec {
		t.Fatalf("%s: got %d %v %q, want %d %v", what, se.Code, se.EnhancedCode, se.Message, code, ec)
	}
	for _, f := range fragments {
		if !strings.Contains(se.Message, f) {
			t.Errorf("%s: reply %q does not contain %q", what, se.Message, f)
		}
	}
}

// folderMessages returns the bodies stored in a principal's folder, in UID order.
func folderMessages(t testing.TB, st *storage.Store, addr, folder string) []string {
	t.Helper()
	p, ok := st.Directory().Lookup(addr)
	if !ok {
		t.Fatalf("no principal %s", addr)
	}
	f, err := st.Folder(p.ID, folder)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := st.Messages(f.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		b, err := st.Body(m.Blob)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func inbox(t testing.TB, st *storage.Store, addr string) []string {
	return folderMessages(t, st, addr, "INBOX")
}

// headerValues returns the unfolded values of a field in a stored message.
func headerValues(t testing.TB, msg, key string) []string {
	t.Helper()
	h := parseHeader(t, msg)
	var out []string
	for fs := h.FieldsByKey(key); fs.Next(); {
		out = append(out, fs.Value())
	}
	return out
}

// lastAudit returns the newest audit record.
func lastAudit(t testing.TB, st *storage.Store) storage.AuditRecord {
	t.Helper()
	recs, err := st.AuditList(storage.AuditFilter{Limit: 1})
	if err != nil || len(recs) == 0 {
		t.Fatalf("no audit record: %v", err)
	}
	return recs[0]
}

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1, and a client config that trusts it.
func testTLS(t testing.TB) (server, client *tls.Config) {
	srv, pool := testenv.SelfSigned(t, "mail.example.test")
	return srv, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func msg(from, extra, subject string) string {
	return "From: " + from + "\r\n" + extra + "To: dave@example.test\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
}
