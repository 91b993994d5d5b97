package smtp

import (
	"strings"
	"testing"
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
