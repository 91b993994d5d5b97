package smtp

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/internal/testenv/testdir"
)

// smarthost is a fake relay: a go-smtp server on 127.0.0.1:0 that hands each
// received message to a channel, or fails as told.
type smarthost struct {
	addr string
	got  chan relayed

	mu       sync.Mutex
	failData []*gosmtp.SMTPError          // replies to DATA, used one per message; nil entries accept
	failRcpt map[string]*gosmtp.SMTPError // permanent per-recipient replies
}

type relayed struct {
	from string
	to   []string
	data []byte
}

func newSmarthost(t *testing.T) *smarthost {
	h := &smarthost{got: make(chan relayed, 100), failRcpt: map[string]*gosmtp.SMTPError{}}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &hostSession{h: h}, nil }))
	s.Domain = "smarthost.test"
	h.addr = serveOn(t, s.Serve)
	t.Cleanup(func() { s.Close() })
	return h
}

type hostSession struct {
	h    *smarthost
	from string
	to   []string
}

func (s *hostSession) Mail(from string, _ *gosmtp.MailOptions) error { s.from = from; return nil }
func (s *hostSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if e := s.h.failRcpt[to]; e != nil {
		return e
	}
	s.to = append(s.to, to)
	return nil
}
func (s *hostSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.h.mu.Lock()
	var fail *gosmtp.SMTPError
	if len(s.h.failData) > 0 {
		fail, s.h.failData = s.h.failData[0], s.h.failData[1:]
	}
	s.h.mu.Unlock()
	if fail != nil {
		return fail
	}
	s.h.got <- relayed{s.from, s.to, b}
	return nil
}
func (s *hostSession) Reset()        { s.to = nil }
func (s *hostSession) Logout() error { return nil }

var tempFail = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}

func waitAttempt(t *testing.T, f *fixture) attemptResult {
	t.Helper()
	select {
	case r := <-f.attempts:
		if r.Err != nil {
			t.Fatalf("attempt %d: %v", r.ID, r.Err)
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no relay attempt within 20s")
	}
	return attemptResult{}
}

func TestRelaySuccess(t *testing.T) {
	t.Parallel()
	host := newSmarthost(t)
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: host.addr})
	c := login(t, f.sub, "bob@example.test")
	if err := send(c, "alice@example.test", []string{"X@Elsewhere.test", "y@elsewhere.test", "dave@example.test"},
		msg("alice@example.test", "", "to the world")); err != nil {
		t.Fatal(err)
	}
	if n := len(inbox(t, f.st, "dave@example.test")); n != 1 {
		t.Errorf("local recipient got %d", n)
	}
	r := waitAttempt(t, f)
	if strings.Join(r.Relayed, ",") != "x@elsewhere.test,y@elsewhere.test" || len(r.Deferred)+len(r.Failed) != 0 {
		t.Errorf("attempt = %+v", r)
	}
	got := <-host.got
	if got.from != "alice@example.test" || strings.Join(got.to, ",") != "x@elsewhere.test,y@elsewhere.test" {
		t.Errorf("smarthost got MAIL %s RCPT %v", got.from, got.to)
	}
	if !bytes.Contains(got.data, []byte("Subject: to the world")) || !bytes.Contains(got.data, []byte("Received: from client.example.test")) {
		t.Errorf("relayed message:\n%s", got.data)
	}
	if q, _ := f.st.QueueList(); len(q) != 0 {
		t.Errorf("queue not empty after relay: %+v", q)
	}
}

func TestRelayRetry(t *testing.T) {
	t.Parallel()
	host := newSmarthost(t)
	host.failData = []*gosmtp.SMTPError{tempFail, tempFail}
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: host.addr, RelayRetryMin: 20 * time.Millisecond})
	c := login(t, f.sub, "bob@example.test")
	if err := send(c, "bob@example.test", []string{"x@elsewhere.test"}, msg("bob@example.test", "", "retry")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if r := waitAttempt(t, f); len(r.Deferred) != 1 {
			t.Fatalf("attempt %d = %+v, want deferred", i, r)
		}
		q, _ := f.st.QueueList()
		if len(q) != 1 || q[0].Attempts != i+1 || !strings.Contains(q[0].LastError, "try later") {
			t.Fatalf("queue after attempt %d = %+v", i, q)
		}
	}
	if r := waitAttempt(t, f); len(r.Relayed) != 1 {
		t.Fatalf("third attempt = %+v", r)
	}
	<-host.got
	if q, _ := f.st.QueueList(); len(q) != 0 {
		t.Errorf("queue = %+v", q)
	}
	if n := len(inbox(t, f.st, "bob@example.test")); n != 0 {
		t.Errorf("sender got %d DSNs for a delivered message", n)
	}
}

// TestRelayGiveUp: a smarthost that always defers; after RelayGiveUp the
// sender gets a DSN (RFC 3464) in its INBOX and the entry is gone.
func TestRelayGiveUp(t *testing.T) {
	t.Parallel()
	host := newSmarthost(t)
	for range 1000 {
		host.failData = append(host.failData, tempFail)
	}
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: host.addr, RelayRetryMin: 10 * time.Millisecond, RelayGiveUp: 300 * time.Millisecond})
	c := login(t, f.sub, "carol@example.test")
	if err := send(c, "alice@example.test", []string{"x@elsewhere.test"}, msg("alice@example.test", "Message-ID: <lost@client.test>\r\n", "give up")); err != nil {
		t.Fatal(err)
	}
	for {
		r := waitAttempt(t, f)
		if len(r.Failed) == 1 {
			break
		}
	}
	if q, _ := f.st.QueueList(); len(q) != 0 {
		t.Errorf("queue = %+v", q)
	}
	dsn := inbox(t, f.st, "alice@example.test")
	if len(dsn) != 1 {
		t.Fatalf("sender alice has %d messages, want 1 DSN", len(dsn))
	}
	for _, want := range []string{
		"From: Mail Delivery System <MAILER-DAEMON@mail.example.test>", "Content-Type: multipart/report; report-type=delivery-status",
		"Content-Type: message/delivery-status", "Reporting-MTA: dns; mail.example.test", "Final-Recipient: rfc822; x@elsewhere.test",
		"Action: failed", "Status: 4.4.7", "Diagnostic-Code: smtp; 451 4.3.0 try later", "Content-Type: text/rfc822-headers",
		"Message-ID: <lost@client.test>", "Auto-Submitted: auto-replied",
	} {
		if !strings.Contains(dsn[0], want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn[0])
		}
	}
	if s := headerValues(t, dsn[0], "Subject"); len(s) != 1 {
		t.Errorf("DSN header does not parse: %q", s)
	}
}

func TestRelayPermanent(t *testing.T) {
	t.Parallel()
	host := newSmarthost(t)
	host.failRcpt["gone@elsewhere.test"] = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: host.addr})
	c := login(t, f.sub, "bob@example.test")
	if err := send(c, "bob@example.test", []string{"gone@elsewhere.test", "ok@elsewhere.test"}, msg("bob@example.test", "", "partly")); err != nil {
		t.Fatal(err)
	}
	r := waitAttempt(t, f)
	if strings.Join(r.Relayed, ",") != "ok@elsewhere.test" || strings.Join(r.Failed, ",") != "gone@elsewhere.test" {
		t.Fatalf("attempt = %+v", r)
	}
	if got := <-host.got; strings.Join(got.to, ",") != "ok@elsewhere.test" {
		t.Errorf("smarthost got %v", got.to)
	}
	dsn := inbox(t, f.st, "bob@example.test")
	if len(dsn) != 1 || !strings.Contains(dsn[0], "Status: 5.1.1") || !strings.Contains(dsn[0], "Final-Recipient: rfc822; gone@elsewhere.test") {
		t.Fatalf("DSN = %q", dsn)
	}
	if q, _ := f.st.QueueList(); len(q) != 0 {
		t.Errorf("queue = %+v", q)
	}
}

// TestQueueSurvivesRestart: an entry queued while the smarthost is down is
// relayed by a new server on the same data directory.
func TestQueueSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openStore(t, dir)
	testdir.Seed(t, st)
	host := newSmarthost(t)
	host.failData = []*gosmtp.SMTPError{tempFail}
	f := startServer(t, st, Config{InsecureAuth: true, RelayHost: host.addr, RelayRetryMin: time.Hour})
	c := login(t, f.sub, "bob@example.test")
	if err := send(c, "bob@example.test", []string{"x@elsewhere.test"}, msg("bob@example.test", "", "durable")); err != nil {
		t.Fatal(err)
	}
	if r := waitAttempt(t, f); len(r.Deferred) != 1 {
		t.Fatalf("attempt = %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f.srv.Shutdown(ctx)
	q, err := st.QueueList()
	if err != nil || len(q) != 1 {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	// A later attempt time is honoured; a new worker with an early clock
	// would wait, so move the entry's time forward by using a clock an hour on.
	f2 := startServer(t, st, Config{InsecureAuth: true, RelayHost: host.addr, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if r := waitAttempt(t, f2); len(r.Relayed) != 1 {
		t.Fatalf("attempt after restart = %+v", r)
	}
	<-host.got
}
