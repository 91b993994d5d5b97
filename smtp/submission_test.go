package smtp

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

var (
	ec571 = gosmtp.EnhancedCode{5, 7, 1}
	ec560 = gosmtp.EnhancedCode{5, 6, 0}
)

// TestSendTable drives every row of DESIGN.md's send table through a real
// submission session and checks the reply, the From/Sender that dave
// receives, and the audit record.
func TestSendTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	tests := []struct {
		name, actor, from, extra string
		ok                       bool
		sender                   []string // Sender values delivered
		audit                    string   // right of the audit record; "" none expected
		grantVia                 string   // Detail of the audit record
		text                     []string // refusal text fragments
	}{
		{name: "own", actor: "dave", from: "Dave <dave@example.test>", extra: "Sender: alice@example.test\r\n", ok: true},
		{name: "alias", actor: "alice", from: "A.Owner@Example.Test", ok: true},
		{name: "send as", actor: "bob", from: "Alice Owner <alice@example.test>", extra: "Sender: bob@example.test\r\n", ok: true, audit: "send-as"},
		{name: "send as through group", actor: "frank", from: "Info <info@example.test>", ok: true, audit: "send-as", grantVia: "via group sales@example.test"},
		{name: "send on behalf", actor: "carol", from: "Alice <alice@example.test>", extra: "Sender: boss@elsewhere.test\r\n", ok: true,
			sender: []string{`"Carol" <carol@example.test>`}, audit: "send-on-behalf"},
		{name: "both rights", actor: "henry", from: "alice@example.test", ok: true, audit: "send-as"},
		{name: "full access only", actor: "erin", from: "alice@example.test",
			text: []string{"alice@example.test", "Send As or Send on Behalf", "Full Access"}},
		{name: "pending grant", actor: "gina", from: "alice@example.test", text: []string{"alice@example.test", "not effective until"}},
		{name: "revoked grant", actor: "ivan", from: "alice@example.test", text: []string{"alice@example.test", "missing Send As or Send on Behalf"}},
		{name: "no grant", actor: "dave", from: "alice@example.test", text: []string{"alice@example.test"}},
		{name: "cross tenant", actor: "zed@other.test", from: "alice@example.test", text: []string{"another tenant"}},
		{name: "external", actor: "bob", from: "ceo@elsewhere.test", text: []string{"ceo@elsewhere.test", "not a local address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actor := tt.actor
			if !strings.Contains(actor, "@") {
				actor += "@example.test"
			}
			c := login(t, f.sub, actor)
			subject := "table " + tt.name
			before := len(inbox(t, f.st, "dave@example.test"))
			err := send(c, actor, []string{"dave@example.test"}, msg(tt.from, tt.extra, subject))
			if !tt.ok {
				wantReply(t, "DATA", err, 550, ec571, tt.text...)
				if n := len(inbox(t, f.st, "dave@example.test")); n != before {
					t.Fatalf("refused message was delivered")
				}
				rec := lastAudit(t, f.st)
				if rec.Decision != "refused" || rec.Actor != actor || rec.Action != "send" || rec.Remote != "127.0.0.1" {
					t.Errorf("audit = %+v, want a refusal by %s", rec, actor)
				}
				return
			}
			if err != nil {
				t.Fatalf("send as %s From %s: %v", actor, tt.from, err)
			}
			msgs := inbox(t, f.st, "dave@example.test")
			if len(msgs) != before+1 {
				t.Fatalf("dave has %d messages, want %d", len(msgs), before+1)
			}
			got := msgs[len(msgs)-1]
			if from := headerValues(t, got, "From"); len(from) != 1 || from[0] != tt.from {
				t.Errorf("delivered From = %q, want %q", from, tt.from)
			}
			if s := headerValues(t, got, "Sender"); strings.Join(s, "|") != strings.Join(tt.sender, "|") {
				t.Errorf("delivered Sender = %q, want %q", s, tt.sender)
			}
			for _, k := range []string{"Message-Id", "Date", "Received"} {
				if len(headerValues(t, got, k)) != 1 {
					t.Errorf("delivered message has no single %s:\n%s", k, got)
				}
			}
			if tt.audit != "" {
				rec := lastAudit(t, f.st)
				mid := strings.Trim(headerValues(t, got, "Message-Id")[0], "<>")
				if rec.Decision != "allowed" || rec.Right != tt.audit || rec.Actor != actor || rec.GrantID == "" ||
					rec.MessageID != mid || rec.Remote != "127.0.0.1" || rec.Time.IsZero() || rec.Detail != tt.grantVia {
					t.Errorf("audit = %+v, want %s by %s for %s", rec, tt.audit, actor, mid)
				}
			}
		})
	}
}

func TestEnvelopeSender(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	c := login(t, f.sub, "dave@example.test")
	wantReply(t, "MAIL FROM alice as dave", c.Mail("alice@example.test", nil), 550, ec571, "envelope sender alice@example.test")
	if rec := lastAudit(t, f.st); rec.Decision != "refused" || rec.Mailbox != "alice@example.test" || rec.Detail != "envelope sender" {
		t.Errorf("audit = %+v", rec)
	}
	if err := send(c, "", []string{"dave@example.test"}, msg("dave@example.test", "", "null sender")); err != nil {
		t.Errorf("MAIL FROM:<>: %v", err)
	}
	b := login(t, f.sub, "bob@example.test")
	if err := send(b, "alice@example.test", []string{"dave@example.test"}, msg("alice@example.test", "", "envelope send as")); err != nil {
		t.Errorf("MAIL FROM alice as bob: %v", err)
	}
	anon := dial(t, f.sub)
	wantReply(t, "MAIL without AUTH", anon.Mail("dave@example.test", nil), 530, gosmtp.EnhancedCode{5, 7, 0})
}

func TestHeaderErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	c := login(t, f.sub, "bob@example.test")
	for _, tt := range []struct{ name, msg, text string }{
		{"no From", "To: dave@example.test\r\nSubject: x\r\n\r\nbody\r\n", "no From"},
		{"two From", "From: bob@example.test\r\nFrom: alice@example.test\r\n\r\nbody\r\n", "2 From"},
		{"multiple From fields, both allowed", "From: bob@example.test\r\nFrom: bob@example.test\r\n\r\n", "2 From"},
		{"unparsable From", "From: <bob@@example.test>\r\n\r\nbody\r\n", "unparsable From"},
		{"empty group", "From: undisclosed-recipients:;\r\n\r\n", "no mailbox"},
		{"malformed header", "From: bob@example.test\r\nthis is not a header\r\n\r\n", "malformed header"},
	} {
		err := send(c, "bob@example.test", []string{"dave@example.test"}, tt.msg)
		wantReply(t, tt.name, err, 550, ec560, tt.text)
	}
	if n := len(inbox(t, f.st, "dave@example.test")); n != 0 {
		t.Errorf("%d refused messages delivered", n)
	}
	// Several mailboxes in one From field are each decided; then Sender = actor.
	if err := send(c, "bob@example.test", []string{"dave@example.test"}, msg("alice@example.test, Bob <bob@example.test>", "", "two")); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, f.st, "dave@example.test")[0]
	if s := headerValues(t, got, "Sender"); len(s) != 1 || s[0] != `"Bob" <bob@example.test>` {
		t.Errorf("Sender = %q", s)
	}
	err := send(c, "bob@example.test", []string{"dave@example.test"}, msg("bob@example.test, info@example.test", "", "one refused"))
	wantReply(t, "second mailbox refused", err, 550, ec571, "info@example.test")
}

// TestInjection tries to smuggle header lines through everything the server
// copies into what it writes: encoded words, HELO, Message-ID, addresses.
func TestInjection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	c := login(t, f.sub, "bob@example.test")
	m := "From: =?utf-8?q?Alice=0D=0ABcc=3A_victim=40elsewhere.test?= <alice@example.test>\r\n" +
		"Message-ID: <id@x>\r\nTo: dave@example.test\r\nSubject: =?utf-8?q?a=0D=0AX-Injected=3A_1?=\r\n\r\nbody\r\n"
	if err := send(c, "bob@example.test", []string{"dave@example.test"}, m); err != nil {
		t.Fatal(err)
	}
	err := send(c, "bob@example.test", []string{"dave@example.test"}, "From: bob@example.test\r\nMessage-ID: <a\rX-Injected: 1>\r\n\r\n")
	wantReply(t, "bare CR in Message-ID", err, 550, ec560, "bare CR")

	// A HELO with a bare CR inside the line (go-smtp splits at LF only).
	conn, err := net.Dial("tcp", f.sub)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	ir := "\x00bob@example.test\x00" + testPassword
	script := []struct{ cmd, want string }{
		{"EHLO evil\rX-Injected: 1", "250"}, {"AUTH PLAIN " + b64(ir), "235"}, {"MAIL FROM:<bob@example.test>", "250"},
		{"RCPT TO:<dave@example.test\rX-Injected: 1>", "5"}, {"RCPT TO:<dave@example.test>", "250"}, {"DATA", "354"},
	}
	readReply(t, r)
	for _, l := range script {
		fmt.Fprintf(conn, "%s\r\n", l.cmd)
		if got := readReply(t, r); !strings.HasPrefix(got, l.want) || strings.Contains(got, "Injected") {
			t.Fatalf("%q: reply %q, want %s...", l.cmd, got, l.want)
		}
	}
	fmt.Fprintf(conn, "From: bob@example.test\r\n\r\nhi\r\n.\r\n")
	if line := readReply(t, r); !strings.HasPrefix(line, "250") {
		t.Fatalf("DATA: %q", line)
	}
	for _, got := range inbox(t, f.st, "dave@example.test") {
		hdr := string(headerOf([]byte(got)))
		if badBytes([]byte(hdr)) {
			t.Errorf("stored header has a bare CR/LF: %q", hdr)
		}
		if len(headerValues(t, got, "X-Injected")) > 0 || len(headerValues(t, got, "Bcc")) > 0 {
			t.Errorf("injected field stored:\n%s", hdr)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func readReply(t testing.TB, r *bufio.Reader) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		if len(line) < 4 || line[3] != '-' {
			return line
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true, MaxMessageBytes: 64 << 10, MaxRecipients: 3})
	c := login(t, f.sub, "bob@example.test")
	big := msg("bob@example.test", "", "big") + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 100)
	wantReply(t, "oversize DATA", send(c, "bob@example.test", []string{"dave@example.test"}, big), 552, gosmtp.EnhancedCode{5, 3, 4})
	wantReply(t, "MAIL SIZE=", c.Mail("bob@example.test", &gosmtp.MailOptions{Size: 1 << 20}), 552, gosmtp.EnhancedCode{5, 3, 4})

	c2 := login(t, f.sub, "bob@example.test")
	if err := c2.Mail("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"dave@example.test", "alice@example.test", "carol@example.test"} {
		if err := c2.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	wantReply(t, "4th RCPT", c2.Rcpt("erin@example.test", nil), 452, gosmtp.EnhancedCode{4, 5, 3})
	if n := len(inbox(t, f.st, "dave@example.test")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestRecipients(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	c := login(t, f.sub, "bob@example.test")
	if err := c.Mail("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "unknown local", c.Rcpt("nobody@example.test", nil), 550, gosmtp.EnhancedCode{5, 1, 1}, "nobody@example.test")
	wantReply(t, "no relay", c.Rcpt("x@elsewhere.test", nil), 550, ec571, "relaying not configured")
	c.Reset()
	// team@ = {sales@ = {frank}, dave}; dave also addressed directly: one copy each.
	if err := send(c, "bob@example.test", []string{"team@example.test", "DAVE@example.test", "info@example.test"}, msg("bob@example.test", "", "group")); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]int{"dave@example.test": 1, "frank@example.test": 1, "info@example.test": 1, "bob@example.test": 0} {
		if got := len(inbox(t, f.st, addr)); got != want {
			t.Errorf("%s has %d messages, want %d", addr, got, want)
		}
	}
}

// TestSentCopy: with the owner's setting on, what is sent as or on behalf
// of it is also stored, \Seen, in its Sent folder.
func TestSentCopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	on := true
	if _, err := f.st.SetSettings("alice@example.test", &on, nil); err != nil {
		t.Fatal(err)
	}
	b := login(t, f.sub, "bob@example.test")
	if err := send(b, "bob@example.test", []string{"dave@example.test"}, msg("alice@example.test", "", "copy as")); err != nil {
		t.Fatal(err)
	}
	c := login(t, f.sub, "carol@example.test")
	if err := send(c, "carol@example.test", []string{"dave@example.test"}, msg("alice@example.test", "", "no copy on behalf")); err != nil {
		t.Fatal(err)
	}
	sent := folderMessages(t, f.st, "alice@example.test", "Sent")
	if len(sent) != 1 || !strings.Contains(sent[0], "Subject: copy as") {
		t.Fatalf("alice's Sent = %d messages, want the Send As one only", len(sent))
	}
	p, _ := f.st.Directory().Lookup("alice@example.test")
	fo, _ := f.st.Folder(p.ID, "Sent")
	ms, _ := f.st.Messages(fo.ID, 1, 0)
	if len(ms) != 1 || !storage.HasFlag(ms[0].Flags, `\Seen`) {
		t.Errorf("Sent copy flags = %+v, want \\Seen", ms)
	}
	if n := len(inbox(t, f.st, "dave@example.test")); n != 2 {
		t.Errorf("dave has %d messages, want 2", n)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	try := func(authzid, user, pass string) error {
		c := dial(t, f.sub)
		return c.Auth(sasl.NewPlainClient(authzid, user, pass))
	}
	// The same reply for an unknown user and a wrong password.
	wrong, unknown := try("", "bob@example.test", "nope"), try("", "nobody@example.test", testPassword)
	wantReply(t, "wrong password", wrong, 535, gosmtp.EnhancedCode{5, 7, 8}, "authentication failed")
	if wrong.Error() != unknown.Error() {
		t.Errorf("unknown user %q differs from wrong password %q", unknown, wrong)
	}
	wantReply(t, "shared mailbox", try("", "info@example.test", testPassword), 535, gosmtp.EnhancedCode{5, 7, 8})
	// PLAIN authzid: empty, own address or own alias; never someone else.
	for _, z := range []string{"", "alice@example.test", "A.Owner@example.test"} {
		if err := try(z, "alice@example.test", testPassword); err != nil {
			t.Errorf("authzid %q: %v", z, err)
		}
	}
	wantReply(t, "foreign authzid", try("alice@example.test", "bob@example.test", testPassword), 535, gosmtp.EnhancedCode{5, 7, 8}, "authorization identity")
	if rec := lastAudit(t, f.st); rec.Action != "login" || rec.Decision != "refused" || rec.Actor != "bob@example.test" || rec.Mailbox != "alice@example.test" {
		t.Errorf("audit after a foreign authzid = %+v, want bob's refused login as alice", rec)
	}

	// Delegate login form authenticates bob; bob's rights decide.
	d := dial(t, f.sub)
	if err := d.Auth(sasl.NewPlainClient("", `bob@example.test\alice@example.test`, testPassword)); err != nil {
		t.Fatalf("delegate login: %v", err)
	}
	if err := send(d, "bob@example.test", []string{"dave@example.test"}, msg("alice@example.test", "", "delegate form")); err != nil {
		t.Fatal(err)
	}
	if rec := lastAudit(t, f.st); rec.Actor != "bob@example.test" || rec.Right != "send-as" {
		t.Errorf("audit after delegate login = %+v", rec)
	}
	e := dial(t, f.sub)
	if err := e.Auth(sasl.NewPlainClient("", `dave@example.test\alice@example.test`, testPassword)); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "dave as alice", send(e, "dave@example.test", []string{"dave@example.test"}, msg("alice@example.test", "", "x")), 550, ec571)

	// AUTH LOGIN.
	l := dial(t, f.sub)
	if err := l.Auth(sasl.NewLoginClient("carol@example.test", testPassword)); err != nil {
		t.Errorf("AUTH LOGIN: %v", err)
	}
}

func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	var last error
	for i := 0; i <= auth.MaxFailuresPerIP; i++ {
		c := dial(t, f.sub)
		last = c.Auth(sasl.NewPlainClient("", "bob@example.test", fmt.Sprint("wrong", i)))
	}
	wantReply(t, "after too many failures", last, 454, gosmtp.EnhancedCode{4, 7, 0}, "try again later")
	c := dial(t, f.sub)
	wantReply(t, "right password while throttled", c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)), 454, gosmtp.EnhancedCode{4, 7, 0})
}

// TestTLS: no AUTH before STARTTLS when InsecureAuth is off; after it, and
// on the implicit-TLS listener, AUTH works.
func TestTLS(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testTLS(t)
	f := newFixture(t, Config{TLS: srvTLS})
	c := dial(t, f.sub)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Errorf("AUTH advertised before STARTTLS")
	}
	wantReply(t, "AUTH before STARTTLS", c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)), 523, gosmtp.EnhancedCode{5, 7, 10})

	s, err := gosmtp.DialStartTLS(f.sub, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)); err != nil {
		t.Fatalf("AUTH after STARTTLS: %v", err)
	}
	if err := send(s, "bob@example.test", []string{"dave@example.test"}, msg("bob@example.test", "", "tls")); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, f.st, "dave@example.test")
	if len(got) != 1 || !strings.Contains(headerValues(t, got[0], "Received")[0], "with ESMTPSA") {
		t.Errorf("Received after STARTTLS: %q", headerValues(t, got[0], "Received"))
	}

	addr := serveOn(t, f.srv.ServeSubmissions)
	i, err := gosmtp.DialTLS(addr, cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	if err := i.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)); err != nil {
		t.Fatalf("AUTH on implicit TLS: %v", err)
	}
}
