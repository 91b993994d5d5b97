package smtp

import (
	"io"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// TestQuotaAtRcpt: a mailbox at or over its quota is refused at RCPT,
// 452 4.2.2 on submission (the local sender learns it now) and 552 5.2.2
// at the MX; other recipients of the same message still get it.
func TestQuotaAtRcpt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	if _, err := f.st.SetQuota("alice@example.test", 1); err != nil {
		t.Fatal(err)
	}
	deliverTo := func(c *gosmtp.Client, from string) {
		t.Helper()
		if err := c.Mail(from, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("bob@example.test", nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "From: "+from+"\r\nSubject: q\r\n\r\nhi\r\n")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The quota is 1 byte and alice's mailbox is empty: not over yet.
	c := dial(t, f.mx)
	deliverTo(c, "friend@elsewhere.test") // to bob
	if err := c.Mail("friend@elsewhere.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.test", nil); err != nil {
		t.Fatalf("RCPT alice under her quota: %v", err)
	}
	w, _ := c.Data()
	io.WriteString(w, "From: friend@elsewhere.test\r\nSubject: fills it\r\n\r\nhi\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Now alice is over it.
	if err := c.Mail("friend@elsewhere.test", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "MX RCPT over quota", c.Rcpt("alice@example.test", nil), 552, gosmtp.EnhancedCode{5, 2, 2}, "alice@example.test", "quota")
	c.Reset()
	deliverTo(c, "friend@elsewhere.test") // bob still gets mail from the same session
	s := login(t, f.sub, "bob@example.test")
	if err := s.Mail("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	wantReply(t, "submission RCPT over quota", s.Rcpt("alice@example.test", nil), 452, gosmtp.EnhancedCode{4, 2, 2}, "alice@example.test", "quota")
	if n := inboxCount(t, f, "alice@example.test"); n != 1 {
		t.Errorf("alice has %d messages, want 1", n)
	}
	if n := inboxCount(t, f, "bob@example.test"); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
	if _, err := f.st.SetQuota("alice@example.test", 0); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if err := s.Mail("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Rcpt("alice@example.test", nil); err != nil {
		t.Errorf("RCPT alice with the quota removed: %v", err)
	}
}
