package smtp

import (
	"bytes"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// TestMXMarksLocalFrom sends, from outside through the MX, messages whose
// From names a local address in forms a client may still show as alice's,
// or that do not parse, and checks each arrives marked x-local-from=fail.
func TestMXMarksLocalFrom(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	c := dial(t, f.mx)
	tests := []struct{ from, want string }{
		{"=?x-bogus?q?Alice?= <alice@example.test>", markParse + " header.from=example.test"},
		{`"Alice" alice@example.test`, markParse + " header.from=example.test"},
		{"Alice <alice@example.test>;", markParse + " header.from=example.test"},
		{"<alice@example.test.>", markParse + " header.from=example.test"},
		{`"alice x"@Example.Test`, markLocal + " header.from=example.test"},
		{"=?x-bogus?q?x?= <friend@elsewhere.test>", markParse},
		{"Friend <friend@elsewhere.test>", ""},
	}
	for i, tt := range tests {
		m := "From: " + tt.from + "\r\nTo: bob@example.test\r\nSubject: spoof\r\n\r\nhi\r\n"
		if err := send(c, "friend@elsewhere.test", []string{"bob@example.test"}, m); err != nil {
			t.Fatalf("From %s: %v", tt.from, err)
		}
		got := inbox(t, f.st, "bob@example.test")
		if len(got) != i+1 {
			t.Fatalf("bob has %d messages, want %d", len(got), i+1)
		}
		ar := headerValues(t, got[i], "Authentication-Results")
		switch {
		case tt.want == "" && len(ar) != 0:
			t.Errorf("From %s delivered with %q, want no mark", tt.from, ar)
		case tt.want != "" && (len(ar) != 1 || ar[0] != tt.want):
			t.Errorf("From %s delivered with %q, want [%q]", tt.from, ar, tt.want)
		}
	}
}

// forgedAuthResults is a header block of Authentication-Results claiming
// our authserv-id in every RFC 8601 form, between two of another host.
const forgedAuthResults = "Authentication-Results: other.example; spf=pass\r\n" +
	"Authentication-Results: MAIL.EXAMPLE.TEST; dkim=pass\r\n" +
	"Authentication-Results: mail.example.test 1; spf=pass\r\n" +
	"Authentication-Results: (ours) mail.example.test (really) 1 (yes); dmarc=pass\r\n" +
	"Authentication-Results: \"mail.example.test\"; spf=pass\r\n" +
	"Authentication-Results: mail.example.test.; spf=pass\r\n" +
	"Authentication-Results:\r\n mail.example.test\r\n\t1;\r\n x-local-from=pass\r\n" +
	"Authentication-Results: (unclosed mail.example.test; spf=pass\r\n" +
	"Authentication-Results: other.example 1; dkim=pass header.d=mail.example.test\r\n"

// TestAuthResultsStripped sends the forged fields through the MX and through
// submission and checks only the other host's arrive.
func TestAuthResultsStripped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	want := "other.example; spf=pass|other.example 1; dkim=pass header.d=mail.example.test"

	mx := dial(t, f.mx)
	m := "From: Friend <friend@elsewhere.test>\r\n" + forgedAuthResults + "To: alice@example.test\r\nSubject: in\r\n\r\nhi\r\n"
	if err := send(mx, "friend@elsewhere.test", []string{"alice@example.test"}, m); err != nil {
		t.Fatal(err)
	}
	sub := login(t, f.sub, "bob@example.test")
	m = "From: bob@example.test\r\n" + forgedAuthResults + "To: dave@example.test\r\nSubject: out\r\n\r\nhi\r\n"
	if err := send(sub, "bob@example.test", []string{"dave@example.test"}, m); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"alice@example.test", "dave@example.test"} {
		got := inbox(t, f.st, who)
		if len(got) != 1 {
			t.Fatalf("%s has %d messages", who, len(got))
		}
		if ar := headerValues(t, got[0], "Authentication-Results"); strings.Join(ar, "|") != want {
			t.Errorf("%s got Authentication-Results %q, want %q", who, ar, want)
		}
	}
}

// TestSubmissionBcc: Bcc and Resent-Bcc reach neither the recipients, nor
// the smarthost, nor the DSN, while every envelope recipient (the blind
// ones too) still gets the message; a client's Return-Path is dropped.
func TestSubmissionBcc(t *testing.T) {
	t.Parallel()
	host := newSmarthost(t)
	host.failRcpt["gone@elsewhere.test"] = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	f := newFixture(t, Config{InsecureAuth: true, RelayHost: host.addr})
	c := login(t, f.sub, "bob@example.test")
	m := "From: bob@example.test\r\nTo: dave@example.test\r\nBcc: frank@example.test,\r\n secret@elsewhere.test, gone@elsewhere.test\r\n" +
		"Resent-Bcc: frank@example.test\r\nReturn-Path: <ceo@elsewhere.test>\r\nSubject: blind\r\n\r\nhi\r\n"
	rcpts := []string{"dave@example.test", "frank@example.test", "secret@elsewhere.test", "gone@elsewhere.test"}
	if err := send(c, "bob@example.test", rcpts, m); err != nil {
		t.Fatal(err)
	}
	noBlind := func(what, msg string) {
		t.Helper()
		hdr := string(headerOf([]byte(msg)))
		for _, k := range []string{"Bcc", "Resent-Bcc", "Return-Path"} {
			if len(headerValues(t, hdr+"\r\n", k)) != 0 {
				t.Errorf("%s has %s:\n%s", what, k, hdr)
			}
		}
		if strings.Contains(msg, "secret@") {
			t.Errorf("%s names the blind recipient:\n%s", what, msg)
		}
	}
	for _, who := range []string{"dave@example.test", "frank@example.test"} {
		got := inbox(t, f.st, who)
		if len(got) != 1 {
			t.Fatalf("%s has %d messages", who, len(got))
		}
		noBlind(who+"'s copy", got[0])
	}
	r := waitAttempt(t, f)
	if strings.Join(r.Relayed, ",") != "secret@elsewhere.test" || strings.Join(r.Failed, ",") != "gone@elsewhere.test" {
		t.Fatalf("attempt = %+v", r)
	}
	got := <-host.got
	if strings.Join(got.to, ",") != "secret@elsewhere.test" || !bytes.Contains(got.data, []byte("Subject: blind")) {
		t.Fatalf("smarthost got RCPT %v:\n%s", got.to, got.data)
	}
	noBlind("relayed copy", string(got.data))
	dsn := inbox(t, f.st, "bob@example.test")
	if len(dsn) != 1 || !strings.Contains(dsn[0], "Final-Recipient: rfc822; gone@elsewhere.test") || !strings.Contains(dsn[0], "Subject: blind") {
		t.Fatalf("DSN = %q", dsn)
	}
	if strings.Contains(dsn[0], "Bcc:") || strings.Contains(dsn[0], "secret@") || strings.Contains(dsn[0], "ceo@") {
		t.Errorf("DSN returns the blind header:\n%s", dsn[0])
	}
}

// TestSubmissionResent drives Resent-From/Resent-Sender through a real
// submission session: the same rights as From, the same 550 5.7.1, the
// same audit.
func TestSubmissionResent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	tests := []struct {
		name, actor, extra string
		ok                 bool
		resentSender       []string
		audit              string   // right of the last audit record
		text               []string // refusal text fragments
	}{
		{name: "send as", actor: "bob", extra: "Resent-From: Alice <alice@example.test>\r\nResent-Sender: bob@example.test\r\n", ok: true, audit: "send-as"},
		{name: "send on behalf", actor: "carol", extra: "Resent-From: alice@example.test\r\nResent-Sender: boss@elsewhere.test\r\n", ok: true,
			resentSender: []string{`"Carol" <carol@example.test>`}, audit: "send-on-behalf"},
		{name: "own drops foreign Resent-Sender", actor: "dave", extra: "Resent-From: dave@example.test\r\nResent-Sender: alice@example.test\r\n", ok: true},
		{name: "stray Resent-Sender", actor: "dave", extra: "Resent-Sender: Alice <alice@example.test>\r\n", ok: true},
		{name: "encoded line break", actor: "bob", extra: "Resent-From: =?utf-8?q?A=0D=0AX-Injected=3A_1?= <alice@example.test>\r\n", ok: true, audit: "send-as"},
		{name: "no grant", actor: "dave", extra: "Resent-From: alice@example.test\r\n",
			text: []string{"not allowed to resend as alice@example.test", "missing Send As or Send on Behalf"}},
		{name: "full access only", actor: "erin", extra: "Resent-From: Alice <alice@example.test>\r\n", text: []string{"alice@example.test", "Full Access"}},
		{name: "external", actor: "bob", extra: "Resent-From: ceo@elsewhere.test\r\n", text: []string{"ceo@elsewhere.test", "not a local address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actor := tt.actor + "@example.test"
			c := login(t, f.sub, actor)
			before := len(inbox(t, f.st, "dave@example.test"))
			err := send(c, actor, []string{"dave@example.test"}, msg(actor, tt.extra, "resent "+tt.name))
			if !tt.ok {
				wantReply(t, "DATA", err, 550, ec571, tt.text...)
				if n := len(inbox(t, f.st, "dave@example.test")); n != before {
					t.Fatalf("refused message was delivered")
				}
				if rec := lastAudit(t, f.st); rec.Decision != "refused" || rec.Actor != actor || rec.Mailbox != "alice@example.test" && rec.Mailbox != "ceo@elsewhere.test" || rec.Detail != "Resent-From header" {
					t.Errorf("audit = %+v, want a refusal by %s of its Resent-From header", rec, actor)
				}
				return
			}
			if err != nil {
				t.Fatalf("send as %s: %v", actor, err)
			}
			msgs := inbox(t, f.st, "dave@example.test")
			if len(msgs) != before+1 {
				t.Fatalf("dave has %d messages, want %d", len(msgs), before+1)
			}
			got := msgs[len(msgs)-1]
			if s := headerValues(t, got, "Resent-Sender"); strings.Join(s, "|") != strings.Join(tt.resentSender, "|") {
				t.Errorf("delivered Resent-Sender = %q, want %q", s, tt.resentSender)
			}
			if len(headerValues(t, got, "Resent-From")) != strings.Count(tt.extra, "Resent-From") || len(headerValues(t, got, "X-Injected")) != 0 {
				t.Errorf("delivered header:\n%s", headerOf([]byte(got)))
			}
			if tt.audit != "" {
				if rec := lastAudit(t, f.st); rec.Decision != "allowed" || rec.Right != tt.audit || rec.Mailbox != "alice@example.test" || rec.Actor != actor {
					t.Errorf("audit = %+v, want %s on alice by %s", rec, tt.audit, actor)
				}
			}
		})
	}
}

// TestBadHeaderAudited: a submission refused for its header (550 5.6.0:
// here two From fields) is on the audit trail too, under the From address
// it tried, so "who tried to send as alice?" has the whole answer.
func TestBadHeaderAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsecureAuth: true})
	c := login(t, f.sub, "dave@example.test")
	err := send(c, "dave@example.test", []string{"bob@example.test"},
		"From: alice@example.test\r\nFrom: dave@example.test\r\nSubject: two froms\r\n\r\nhi\r\n")
	wantReply(t, "DATA with two From fields", err, 550, gosmtp.EnhancedCode{5, 6, 0})
	rec := lastAudit(t, f.st)
	if rec.Proto != "smtp" || rec.Action != "send" || rec.Decision != "refused" || rec.Reason != "bad_header" ||
		rec.Actor != "dave@example.test" || rec.Mailbox != "alice@example.test" || rec.MailboxID == "" || rec.Detail == "" {
		t.Errorf("audit = %+v, want dave's refused send naming alice, reason bad_header", rec)
	}
}
