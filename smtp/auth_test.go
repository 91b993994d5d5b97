package smtp

import (
	"fmt"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// rawSASL is a SASL client that sends one fixed initial response.
type rawSASL struct {
	mech string
	ir   []byte
}

func (r rawSASL) Start() (string, []byte, error) { return r.mech, r.ir, nil }
func (r rawSASL) Next([]byte) ([]byte, error)    { return nil, sasl.ErrUnexpectedServerChallenge }
func (r rawSASL) String() string                 { return fmt.Sprintf("%s %q", r.mech, r.ir) }

func plainIR(fields ...string) rawSASL {
	return rawSASL{sasl.Plain, []byte(strings.Join(fields, "\x00"))}
}

// ehloDial opens a line-level connection to addr and says EHLO.
func ehloDial(t *testing.T, addr string) *textproto.Conn {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if err := c.PrintfLine("EHLO client.example.test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadResponse(250); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAuthPlainMalformed: a PLAIN message with four NUL-separated fields
// (RFC 4616 §2 has three) is the client's syntax error, 501 5.5.2, as
// initial response or after the 334 continuation; not go-sasl's text as a
// 454 4.7.0 (a temporary error invites the client to retry). It never logs
// in, even when its first three fields are right, and the session goes on.
func TestAuthPlainMalformed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	for _, ir := range []rawSASL{
		plainIR("", "bob@example.test", testPassword, "extra"),
		plainIR("bob@example.test", "bob@example.test", testPassword, ""),
		plainIR("a", "b", "c", "d"),
		{sasl.Plain, []byte("no fields at all")},
	} {
		c := dial(t, f.sub)
		wantReply(t, fmt.Sprint("AUTH ", ir), c.Auth(ir), 501, gosmtp.EnhancedCode{5, 5, 2}, "malformed")
		wantReply(t, "MAIL after a malformed AUTH", c.Mail("bob@example.test", nil), 530, gosmtp.EnhancedCode{5, 7, 0})
		if err := c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)); err != nil {
			t.Errorf("good AUTH after a malformed one: %v", err)
		}
	}
	r := ehloDial(t, f.sub)
	if err := r.PrintfLine("AUTH PLAIN"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ReadResponse(334); err != nil {
		t.Fatalf("AUTH PLAIN without initial response: %v", err)
	}
	r.PrintfLine("%s", b64("\x00bob@example.test\x00"+testPassword+"\x00x"))
	if code, msg, err := r.ReadResponse(501); code != 501 || !strings.HasPrefix(msg, "5.5.2 ") {
		t.Errorf("four fields after 334: %d %q %v, want 501 5.5.2", code, msg, err)
	}
}

// TestTrailingDotAddresses: bob@example.test. is not a second spelling of
// bob: AUTH with it and bob's password fails like an unknown user, and
// RCPT TO it is a syntax error, on submission (where another domain would
// go to the relay) and on the MX (where it would be "relaying denied").
func TestTrailingDotAddresses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: "127.0.0.1:9"})
	wantReply(t, "AUTH as bob@example.test.",
		dial(t, f.sub).Auth(sasl.NewPlainClient("", "bob@example.test.", testPassword)), 535, gosmtp.EnhancedCode{5, 7, 8})
	c := login(t, f.sub, "bob@example.test")
	if err := c.Mail("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "submission RCPT TO:<alice@example.test.>", c.Rcpt("alice@example.test.", nil), 501, gosmtp.EnhancedCode{5, 1, 3})
	wantReply(t, "submission MAIL FROM:<bob@example.test.>", func() error { c.Reset(); return c.Mail("bob@example.test.", nil) }(),
		501, gosmtp.EnhancedCode{5, 1, 3})
	m := dial(t, f.mx)
	if err := m.Mail("someone@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "MX RCPT TO:<alice@example.test.>", m.Rcpt("alice@example.test.", nil), 501, gosmtp.EnhancedCode{5, 1, 3})
	if got := inbox(t, f.st, "alice@example.test"); len(got) != 0 {
		t.Errorf("alice's INBOX: %d messages", len(got))
	}
}
