package smtp

import (
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

func TestMX(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: "127.0.0.1:1"}) // neither may open the MX to AUTH or relaying
	c := dial(t, f.mx)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Errorf("MX advertises AUTH")
	}
	wantReply(t, "AUTH on MX", c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword)), 504, gosmtp.EnhancedCode{5, 7, 4})
	if err := c.Mail("sender@elsewhere.test", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "relay attempt", c.Rcpt("victim@elsewhere.test", nil), 550, ec571, "relaying denied")
	wantReply(t, "unknown local", c.Rcpt("nobody@example.test", nil), 550, gosmtp.EnhancedCode{5, 1, 1})
	c.Reset()

	external := "From: Friend <friend@elsewhere.test>\r\n" +
		"Authentication-Results: mail.example.test; x-local-from=pass\r\n" + // forged with our authserv-id
		"Authentication-Results: other.example; spf=pass\r\n" +
		"To: alice@example.test\r\nSubject: hello\r\n\r\nhi\r\n"
	if err := send(c, "friend@elsewhere.test", []string{"alice@example.test", "sales@example.test"}, external); err != nil {
		t.Fatal(err)
	}
	forged := "From: Alice <ALICE@example.test>\r\nTo: bob@example.test\r\nSubject: wire money\r\n\r\nplease\r\n"
	if err := send(c, "alice@example.test", []string{"bob@example.test"}, forged); err != nil {
		t.Fatal(err)
	}

	a := inbox(t, f.st, "alice@example.test")
	if len(a) != 1 {
		t.Fatalf("alice has %d messages", len(a))
	}
	ar := headerValues(t, a[0], "Authentication-Results")
	if len(ar) != 1 || ar[0] != "other.example; spf=pass" {
		t.Errorf("external message Authentication-Results = %q, want only the other host's", ar)
	}
	if got := headerValues(t, a[0], "Received"); len(got) != 1 || !strings.Contains(got[0], "with ESMTP id") {
		t.Errorf("Received = %q", got)
	}
	if n := len(inbox(t, f.st, "frank@example.test")); n != 1 {
		t.Errorf("group member frank has %d messages", n)
	}
	b := inbox(t, f.st, "bob@example.test")
	if len(b) != 1 {
		t.Fatalf("bob has %d messages", len(b))
	}
	ar = headerValues(t, b[0], "Authentication-Results")
	if len(ar) != 1 || !strings.HasPrefix(ar[0], "mail.example.test; x-local-from=fail") || !strings.Contains(ar[0], "header.from=example.test") {
		t.Errorf("forged local From marked with %q", ar)
	}
	if q, _ := f.st.QueueList(); len(q) != 0 {
		t.Errorf("MX queued %d relay entries", len(q))
	}
}
