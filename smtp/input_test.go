package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/internal/testenv/testdir"
)

// rawClient is a client that writes exactly the bytes it is given, for
// transcripts that go-smtp's client would correct (bare LF, long lines).
type rawClient struct {
	t  testing.TB
	nc net.Conn
	tc *textproto.Conn
}

func rawDial(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, tc: textproto.NewConn(nc)}
	c.want("greeting", 220, "")
	return c
}

// reply reads one reply: its code and its text, which begins with the
// enhanced code.
func (c *rawClient) reply() (int, string, error) {
	c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	return c.tc.ReadResponse(0)
}

// want reads a reply and checks its code and that its text begins with
// prefix (an enhanced code and more).
func (c *rawClient) want(what string, code int, prefix string) string {
	c.t.Helper()
	got, text, err := c.reply()
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) {
		c.t.Fatalf("%s: %v", what, err)
	}
	if got != code || !strings.HasPrefix(text, prefix) {
		c.t.Fatalf("%s: got %d %.200q, want %d %q...", what, got, text, code, prefix)
	}
	return text
}

func (c *rawClient) send(line string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		c.t.Fatalf("send %.40q: %v", line, err)
	}
}

func (c *rawClient) cmd(line string, code int, prefix string) string {
	c.t.Helper()
	c.send(line)
	return c.want(fmt.Sprintf("%.40q", line), code, prefix)
}

// transaction runs EHLO (once), MAIL, RCPT and DATA up to 354.
func (c *rawClient) begin(from, to string) {
	c.t.Helper()
	c.cmd("MAIL FROM:<"+from+">", 250, "2.0.0")
	c.cmd("RCPT TO:<"+to+">", 250, "2.0.0")
	c.cmd("DATA", 354, "")
}

// data sends msg (dot-stuffed here, bytes otherwise untouched) and the end
// of data, and returns the reply.
func (c *rawClient) data(msg string) (int, string) {
	c.t.Helper()
	w := bufio.NewWriterSize(c.nc, 64<<10)
	bol := true
	for i := 0; i < len(msg); i++ {
		if bol && msg[i] == '.' {
			w.WriteByte('.')
		}
		w.WriteByte(msg[i])
		bol = msg[i] == '\n'
	}
	if !bol {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	c.nc.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if err := w.Flush(); err != nil {
		c.t.Fatalf("write message: %v", err)
	}
	code, text, err := c.reply()
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) {
		c.t.Fatalf("reply to DATA: %v", err)
	}
	return code, text
}

// closed checks that the server closes the connection (after any replies
// already sent).
func (c *rawClient) closed(what string) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := c.tc.ReadLine()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("%s: connection still open", what)
			}
			return
		}
		c.t.Logf("%s: after the end: %q", what, line)
	}
}

func ehlo(t testing.TB, addr string) *rawClient {
	c := rawDial(t, addr)
	c.cmd("EHLO client.example.test", 250, "")
	return c
}

// logRecorder keeps a server's log records, to check that a client's
// mistake is never logged as our error, and to wait for a session's end.
type logRecorder struct {
	mu     sync.Mutex
	recs   []slog.Record
	ended  chan struct{} // gets one value per "session end"
	parent slog.Handler
}

func newLogRecorder(t testing.TB) *logRecorder {
	return &logRecorder{ended: make(chan struct{}, 100), parent: testLogger(t).Handler()}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	if r.Message == "session end" {
		l.ended <- struct{}{}
	}
	if l.parent.Enabled(ctx, r.Level) {
		return l.parent.Handle(ctx, r)
	}
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if r.Level >= slog.LevelError {
			out = append(out, r.Message)
		}
	}
	return out
}

func (l *logRecorder) waitSessionEnd(t testing.TB) {
	t.Helper()
	select {
	case <-l.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the session did not end")
	}
}

// newLoggedFixture is newFixture with the server's log recorded (no relay
// queue).
func newLoggedFixture(t testing.TB, cfg Config) (*fixture, *logRecorder) {
	t.Helper()
	st := openStore(t, t.TempDir())
	testdir.Seed(t, st)
	if cfg.Hostname == "" {
		cfg.Hostname = "mail.example.test"
	}
	rec := newLogRecorder(t)
	f := &fixture{st: st, srv: New(cfg, st, slog.New(rec))}
	f.sub = serveOn(t, f.srv.ServeSubmission)
	f.mx = serveOn(t, f.srv.ServeMX)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.srv.Shutdown(ctx)
	})
	return f, rec
}

func inboxCount(t testing.TB, f *fixture, addr string) int {
	t.Helper()
	return len(inbox(t, f.st, addr))
}

// TestLongHeaderLine: one header line far over go-smtp's old 64 KiB line
// limit (and RFC 5322's 998) used to get 451 4.3.0 internal error, and the
// client retried forever. It is kept as sent, byte for byte.
func TestLongHeaderLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	long := "X-Long: " + strings.Repeat("a", 200<<10)
	c := login(t, f.sub, "dave@example.test")
	if err := send(c, "dave@example.test", []string{"alice@example.test"}, msg("dave@example.test", long+"\r\n", "long header")); err != nil {
		t.Fatalf("submission with a 200 KiB header line: %v", err)
	}
	got := inbox(t, f.st, "alice@example.test")
	if len(got) != 1 || !strings.Contains(got[0], "\r\n"+long+"\r\n") {
		t.Fatalf("the long header line was not stored as sent")
	}
	// The session goes on.
	if err := send(c, "dave@example.test", []string{"alice@example.test"}, msg("dave@example.test", "", "after")); err != nil {
		t.Fatal(err)
	}
}

// TestLongBodyLine: a 3 MiB line in the body (past the spool threshold)
// streams to the spool and is stored byte for byte; over DATA and BDAT.
func TestLongBodyLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	line := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	m := "From: friend@elsewhere.test\r\nTo: alice@example.test\r\nSubject: long line\r\n\r\n" + line + "\r\nend\r\n"
	c := ehlo(t, f.mx)
	c.begin("friend@elsewhere.test", "alice@example.test")
	if code, text := c.data(m); code != 250 {
		t.Fatalf("DATA with a 3 MiB line: %d %s", code, text)
	}
	// BDAT: one chunk far over MaxCommandBytes, then LAST.
	c.cmd("MAIL FROM:<friend@elsewhere.test>", 250, "2.0.0")
	c.cmd("RCPT TO:<alice@example.test>", 250, "2.0.0")
	c.send("BDAT " + strconv.Itoa(len(m)))
	io.WriteString(c.nc, m)
	c.want("BDAT chunk", 250, "2.0.0")
	c.cmd("BDAT 0 LAST", 250, "2.0.0")

	got := inbox(t, f.st, "alice@example.test")
	if len(got) != 2 {
		t.Fatalf("alice has %d messages, want 2", len(got))
	}
	for i, g := range got {
		if !strings.HasSuffix(g, "\r\n\r\n"+line+"\r\nend\r\n") {
			t.Errorf("message %d: body not stored as sent (%d bytes)", i, len(g))
		}
	}
}

// TestBadContent: each input class gets its reply, nothing is stored, and
// the session goes on (the message was read to its end).
func TestBadContent(t *testing.T) {
	t.Parallel()
	f, logs := newLoggedFixture(t, Config{})
	hdr := "From: friend@elsewhere.test\r\nTo: alice@example.test\r\nSubject: test\r\n"
	tests := []struct {
		name   string
		msg    string
		code   int
		prefix string
	}{
		{"header without a blank line", hdr, 250, "2.0.0"},
		{"8-bit body", hdr + "\r\nGr\xc3\xbc\xc3\x9fe\r\n", 250, "2.0.0"},
		{"body where a field should be", hdr + "Hello, no blank line before me\r\n", 550, "5.6.0 malformed header: line 4 is not a field"},
		{"first line folded", " folded: x\r\n" + hdr + "\r\nbody\r\n", 550, "5.6.0 malformed header: line 1 begins with white space"},
		{"NUL in body", hdr + "\r\nnul \x00 here\r\n", 554, "5.6.0 NUL octet on line 5"},
		{"NUL in header", "X-Nul: a\x00b\r\n" + hdr + "\r\nbody\r\n", 550, "5.6.0 NUL octet on line 1"},
		{"bare LF in body", hdr + "\r\nline one\nline two\r\n", 554, "5.6.0 bare LF on line 5"},
		{"bare CR in header", "Subject: a\rb\r\n" + hdr + "\r\nbody\r\n", 550, "5.6.0 bare CR on line 1"},
		{"8-bit header without SMTPUTF8", "Subject: Gr\xc3\xbc\xc3\x9fe\r\n" + hdr + "\r\nbody\r\n", 550, "5.6.0 8-bit octet in header line 1 without SMTPUTF8"},
		{"header too large", hdr + strings.Repeat("X-Filler: "+strings.Repeat("f", 1000)+"\r\n", 1100) + "\r\nbody\r\n", 552, "5.3.4 header section larger than 1048576 octets"},
	}
	c := ehlo(t, f.mx)
	stored := 0
	for _, tt := range tests {
		c.begin("friend@elsewhere.test", "alice@example.test")
		code, text := c.data(tt.msg)
		if code != tt.code || !strings.HasPrefix(text, tt.prefix) {
			t.Errorf("%s: got %d %q, want %d %q...", tt.name, code, text, tt.code, tt.prefix)
		}
		if code == 250 {
			stored++
		}
		if n := inboxCount(t, f, "alice@example.test"); n != stored {
			t.Fatalf("%s: alice has %d messages, want %d", tt.name, n, stored)
		}
		c.cmd("NOOP", 250, "2.0.0") // the stream is in step: the session goes on
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Errorf("client mistakes logged as errors: %q", errs)
	}
}

// TestOverlongCommand: a command line over MaxCommandBytes gets 500 5.4.0
// and the connection closes, in plain text and inside STARTTLS (where it
// is counted below TLS); lines RFC 5321 allows, and longer ones within the
// limit, still work.
func TestOverlongCommand(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	f := newFixture(t, Config{TLS: srvTLS, InsecureAuth: true})

	c := ehlo(t, f.mx)
	c.cmd("NOOP "+strings.Repeat("n", 8000), 250, "2.0.0")
	// The server stops reading mid-line, so the write may fail: not checked.
	go io.WriteString(c.nc, "MAIL FROM:<"+strings.Repeat("x", 200<<10)+"@elsewhere.test>\r\n")
	c.want("200 KiB MAIL", 500, "5.4.0 Too long line")
	c.closed("after the long line")

	c = ehlo(t, f.mx)
	c.cmd("STARTTLS", 220, "")
	tc := tls.Client(c.nc, cliTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &rawClient{t: t, nc: tc, tc: textproto.NewConn(tc)}
	c.cmd("EHLO client.example.test", 250, "")
	// Inside TLS the cut line can reach go-smtp as a whole line (see
	// smtpConn.Read); cut after the spaces began it would be a valid MAIL,
	// which the session must not run.
	go io.WriteString(tc, "MAIL FROM:<friend@elsewhere.test>"+strings.Repeat(" ", 300<<10)+"x\r\n")
	if code, text, _ := c.reply(); code != 500 || !strings.HasPrefix(text, "5.4.0 Too long line") {
		if code != 500 || !strings.HasPrefix(text, "5.5.2 command line cut short") {
			t.Fatalf("cut MAIL in TLS: got %d %.100q, want 500 5.5.2 or 5.4.0", code, text)
		}
		c.want("300 KiB MAIL in TLS", 500, "5.4.0 Too long line")
	}
	c.closed("after the long line in TLS")
}

// TestTooManyRecipients: RCPT past MaxRecipients gets 452 4.5.3 (RFC 5321
// §4.5.3.1.10: the client sends to the accepted ones and retries the rest
// later), and the message reaches the accepted recipients only.
func TestTooManyRecipients(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxRecipients: 2})
	c := dial(t, f.mx)
	if err := c.Mail("friend@elsewhere.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"alice@example.test", "bob@example.test"} {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantReply(t, "third RCPT", c.Rcpt("carol@example.test", nil), 452, gosmtp.EnhancedCode{4, 5, 3}, "2 recipients")
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: friend@elsewhere.test\r\nSubject: three\r\n\r\nhi\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]int{"alice@example.test": 1, "bob@example.test": 1, "carol@example.test": 0} {
		if n := inboxCount(t, f, addr); n != want {
			t.Errorf("%s has %d messages, want %d", addr, n, want)
		}
	}
}

// TestTooManyErrors: the MaxErrors-th refusal without an accepted message
// is answered 421 4.7.0 and the connection closes; an accepted message
// forgives the errors before it. Failed AUTHs count too.
func TestTooManyErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxErrors: 4, InsecureAuth: true})
	c := ehlo(t, f.mx)
	c.cmd("MAIL FROM:<friend@elsewhere.test>", 250, "2.0.0")
	for i := range 3 {
		c.cmd(fmt.Sprintf("RCPT TO:<nobody%d@example.test>", i), 550, "5.1.1")
	}
	c.cmd("RCPT TO:<alice@example.test>", 250, "2.0.0")
	c.cmd("DATA", 354, "")
	if code, text := c.data("From: friend@elsewhere.test\r\n\r\nhi\r\n"); code != 250 {
		t.Fatalf("DATA: %d %s", code, text)
	}
	c.cmd("MAIL FROM:<friend@elsewhere.test>", 250, "2.0.0")
	for i := range 3 {
		c.cmd(fmt.Sprintf("RCPT TO:<guess%d@example.test>", i), 550, "5.1.1")
	}
	c.cmd("RCPT TO:<guess3@example.test>", 421, "4.7.0 too many errors")
	c.closed("after 421")

	c = ehlo(t, f.sub)
	bad := "AUTH PLAIN " + b64("\x00dave@example.test\x00wrong")
	for range 3 {
		c.cmd(bad, 535, "5.7.8")
	}
	c.cmd(bad, 421, "4.7.0 too many errors")
	c.closed("after 421 to AUTH")
}

// TestClientStopsMidData: a client that disconnects inside DATA, or stalls
// there past DataTimeout, gets nothing stored, no internal error, and its
// session ends; a stalled one hears 421 4.4.2 first.
func TestClientStopsMidData(t *testing.T) {
	t.Parallel()
	f, logs := newLoggedFixture(t, Config{DataTimeout: 300 * time.Millisecond})
	part := "From: friend@elsewhere.test\r\nSubject: cut\r\n\r\n" + strings.Repeat("some of the body\r\n", 100000) // 1.7 MiB: spooled to a file

	c := ehlo(t, f.mx)
	c.begin("friend@elsewhere.test", "alice@example.test")
	io.WriteString(c.nc, part)
	c.nc.Close()
	logs.waitSessionEnd(t)

	c = ehlo(t, f.mx)
	c.begin("friend@elsewhere.test", "alice@example.test")
	io.WriteString(c.nc, part)
	c.want("stalled DATA", 421, "4.4.2 timeout waiting for message data")
	c.closed("after the DATA timeout")
	logs.waitSessionEnd(t)

	if n := inboxCount(t, f, "alice@example.test"); n != 0 {
		t.Errorf("alice has %d messages from cut transfers", n)
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Errorf("client's broken transfers logged as errors: %q", errs)
	}
	if n := f.srv.spooled.Load(); n != 0 {
		t.Errorf("%d spooled bytes still held", n)
	}
}

// TestSilentClient: a client that sends nothing after the greeting, or
// stops inside a command line, is answered 421 4.4.2 after IdleTimeout
// and disconnected.
func TestSilentClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{IdleTimeout: 300 * time.Millisecond})
	c := rawDial(t, f.mx)
	start := time.Now()
	c.want("silence", 421, "4.4.2")
	c.closed("after the idle timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent client dropped after %v", d)
	}
	c = ehlo(t, f.mx)
	io.WriteString(c.nc, "MAIL FR")
	c.want("half a command", 421, "4.4.2")
	c.closed("after the idle timeout in a command")
}

// TestConnectionCaps: past MaxConnsPerIP a connection gets 421 4.7.0 at
// connect, past MaxConns 421 4.3.2, and a closed connection frees its
// slot. 127.0.0.2 and .3 are other loopback addresses (Linux routes all of
// 127/8 to lo).
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{MaxConnsPerIP: 2, MaxConns: 3})
	from := func(ip string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return d.Dial("tcp", f.mx)
	}
	greet := func(ip string) (*gosmtp.Client, error) {
		nc, err := from(ip)
		if err != nil {
			t.Skipf("dial from %s: %v", ip, err)
		}
		t.Cleanup(func() { nc.Close() })
		c := gosmtp.NewClient(nc)
		return c, c.Hello("client.example.test")
	}
	first := rawDial(t, f.mx)
	if _, err := greet("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	_, err := greet("127.0.0.1")
	wantReply(t, "third from 127.0.0.1", err, 421, gosmtp.EnhancedCode{4, 7, 0}, "too many connections from your address")
	if _, err := greet("127.0.0.2"); err != nil {
		t.Fatalf("first from 127.0.0.2: %v", err)
	}
	_, err = greet("127.0.0.3")
	wantReply(t, "fourth in total", err, 421, gosmtp.EnhancedCode{4, 3, 2}, "too busy")

	first.cmd("QUIT", 221, "2.0.0")
	first.closed("after QUIT")
	if _, err := greet("127.0.0.1"); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	if n := f.srv.conns.open(); n != 3 {
		t.Errorf("%d connections counted, want 3 (the refused ones hold no slot)", n)
	}
}

// TestDeepMIME: nesting deeper than MaxMIMEDepth is refused at DATA with
// 554 5.6.0, for multiparts and for message/rfc822; MaxMIMEDepth itself
// is accepted.
func TestDeepMIME(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	multipart := func(depth int) string {
		var b strings.Builder
		b.WriteString("From: friend@elsewhere.test\r\nSubject: deep\r\nMIME-Version: 1.0\r\n")
		for i := range depth {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\nleaf\r\n")
		for i := depth - 1; i >= 0; i-- {
			fmt.Fprintf(&b, "--b%d--\r\n", i)
		}
		return b.String()
	}
	rfc822 := func(depth int) string {
		var b strings.Builder
		for range depth {
			b.WriteString("From: friend@elsewhere.test\r\nContent-Type: message/rfc822\r\n\r\n")
		}
		b.WriteString("From: friend@elsewhere.test\r\nSubject: leaf\r\n\r\nleaf\r\n")
		return b.String()
	}
	c := ehlo(t, f.mx)
	stored := 0
	for _, tt := range []struct {
		name string
		msg  string
		code int
	}{
		{"multipart 64", multipart(MaxMIMEDepth), 250},
		{"multipart 65", multipart(MaxMIMEDepth + 1), 554},
		{"rfc822 64", rfc822(MaxMIMEDepth), 250},
		{"rfc822 65", rfc822(MaxMIMEDepth + 1), 554},
	} {
		c.begin("friend@elsewhere.test", "alice@example.test")
		code, text := c.data(tt.msg)
		switch {
		case code != tt.code:
			t.Errorf("%s: got %d %s, want %d", tt.name, code, text, tt.code)
		case code == 554 && text != "5.6.0 MIME parts nested deeper than 64 levels":
			t.Errorf("%s: text %q", tt.name, text)
		case code == 250:
			stored++
		}
	}
	if n := inboxCount(t, f, "alice@example.test"); n != stored {
		t.Errorf("alice has %d messages, want %d", n, stored)
	}
}

// TestImplicitTLSCap: on the implicit-TLS listener the 421 at connect is
// sent inside TLS (RFC 8314), where the client can read it.
func TestImplicitTLSCap(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	f := newFixture(t, Config{TLS: srvTLS, MaxConnsPerIP: 1})
	addr := serveOn(t, f.srv.ServeSubmissions)
	first, err := gosmtp.DialTLS(addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	second, err := gosmtp.DialTLS(addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	wantReply(t, "second TLS connection", second.Hello("client.example.test"), 421, gosmtp.EnhancedCode{4, 7, 0}, "too many connections")
}

// TestSpoolFailure: when the spool cannot be written (here: no such
// directory), a message past the threshold gets 452 4.3.1, a temporary
// failure that is ours, not the client's, and nothing is stored.
func TestSpoolFailure(t *testing.T) {
	t.Parallel()
	f, logs := newLoggedFixture(t, Config{SpoolDir: filepath.Join(t.TempDir(), "missing"), SpoolThreshold: 1 << 10})
	c := ehlo(t, f.mx)
	c.begin("friend@elsewhere.test", "alice@example.test")
	code, text := c.data("From: friend@elsewhere.test\r\n\r\n" + strings.Repeat("body line\r\n", 1000))
	if code != 452 || !strings.HasPrefix(text, "4.3.1 insufficient system resources") {
		t.Errorf("DATA with a broken spool: %d %q, want 452 4.3.1", code, text)
	}
	c.begin("friend@elsewhere.test", "alice@example.test")
	if code, text := c.data("From: friend@elsewhere.test\r\n\r\nsmall\r\n"); code != 250 {
		t.Errorf("small message (in memory): %d %q", code, text)
	}
	if n := inboxCount(t, f, "alice@example.test"); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
	if errs := logs.errors(); len(errs) != 1 {
		t.Errorf("logged errors %q, want the spool failure once", errs)
	}
}
