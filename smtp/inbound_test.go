package smtp

import "testing"

const (
	markLocal = "mail.example.test; x-local-from=fail (local From address received from outside, not authenticated)"
	markParse = "mail.example.test; x-local-from=fail (unparsable From header field, not authenticated)"
)

// TestMarkInbound: every From that names a local domain, however written,
// and every From that does not parse, gets the x-local-from=fail result;
// an outside From does not.
func TestMarkInbound(t *testing.T) {
	d := pureDirectory(t)
	tests := []struct {
		name, from string // from may hold several From fields
		want       string // the Authentication-Results added; "" none
	}{
		{"outside", "From: Friend <friend@elsewhere.test>\r\n", ""},
		{"local", "From: Alice <alice@example.test>\r\n", markLocal + " header.from=example.test"},
		{"unknown charset", "From: =?x-bogus?q?Alice?= <alice@example.test>\r\n", markParse + " header.from=example.test"},
		{"display name without angle brackets", "From: \"Alice\" alice@example.test\r\n", markParse + " header.from=example.test"},
		{"trailing semicolon", "From: Alice <alice@example.test>;\r\n", markParse + " header.from=example.test"},
		{"trailing dot", "From: <alice@example.test.>\r\n", markParse + " header.from=example.test"},
		{"trailing dot bare", "From: alice@EXAMPLE.test.\r\n", markParse + " header.from=example.test"},
		{"quoted local part", "From: \"alice smith\"@example.test\r\n", markLocal + " header.from=example.test"},
		{"other tenant", "From: Zed <zed@other.test>\r\n", markLocal + " header.from=other.test"},
		{"second From field", "From: friend@elsewhere.test\r\nFrom: alice@example.test\r\n", markLocal + " header.from=example.test"},
		{"second mailbox", "From: friend@elsewhere.test, Alice <alice@example.test>\r\n", markLocal + " header.from=example.test"},
		{"group", "From: Team: friend@elsewhere.test, alice@example.test;\r\n", markLocal + " header.from=example.test"},
		{"unparsable outside", "From: =?x-bogus?q?x?= <friend@elsewhere.test>\r\n", markParse},
		{"unparsable then local", "From: broken@@elsewhere.test\r\nFrom: alice@example.test\r\n", markLocal + " header.from=example.test"},
		{"encoded line break", "From: =?utf-8?q?A=0D=0AX-Injected=3A_1?= <alice@example.test>\r\n", markLocal + " header.from=example.test"},
		{"look-alike domain", "From: alice@example.test.evil\r\n", ""},
		{"subdomain", "From: alice@sub.example.test\r\n", ""},
		{"display name only", "From: \"alice@example.test\" <friend@elsewhere.test>\r\n", ""}, // decided on the addr-spec, as submission
		{"empty group", "From: undisclosed-recipients:;\r\n", ""},
		{"no From", "Subject: x\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := parseHeader(t, tt.from+"Authentication-Results: mail.example.test; x-local-from=pass\r\n\r\n")
			markInbound(&h, d, "mail.example.test")
			got := headerValues(t, headerBytes(t, h)+"\r\n", "Authentication-Results")
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("markInbound(%q) added %q, want nothing", tt.from, got)
			case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
				t.Errorf("markInbound(%q) = %q, want [%q]", tt.from, got, tt.want)
			}
			if n := len(headerValues(t, headerBytes(t, h)+"\r\n", "X-Injected")); n != 0 {
				t.Errorf("markInbound(%q) let a field through", tt.from)
			}
		})
	}
}

// authResultsForms are Authentication-Results values (RFC 8601 §2.2) and
// whether they claim the authserv-id mail.example.test (or are too
// malformed to tell).
var authResultsForms = []struct {
	v   string
	own bool
}{
	{"mail.example.test; spf=pass", true},
	{"MAIL.Example.TEST; dkim=pass", true},
	{"mail.example.test 1; spf=pass", true},
	{"mail.example.test (the real one); spf=pass", true},
	{"(c) mail.example.test; spf=pass", true},
	{"(nested (c) \\) x) mail.example.test (v) 1 (w); none", true},
	{"mail.example.test(c);spf=pass", true},
	{"\"mail.example.test\"; spf=pass", true},
	{"\"mail.exa\\mple.test\" 1; spf=pass", true},
	{"mail.example.test.; spf=pass", true},
	{"mail.example.test;spf=pass", true},
	{"mail.example.test", true},
	{"mail.example.test; none", true},
	{"(unclosed mail.example.test; spf=pass", true},
	{"\"mail.example.test; spf=pass", true},
	{"; spf=pass", true},
	{"other.example; spf=pass", false},
	{"mail.example.test.evil; spf=pass", false},
	{"evil.mail.example.test; spf=pass", false},
	{"(mail.example.test) other.example; spf=pass", false},
	{"\"other.example\" 1; dkim=pass header.d=mail.example.test", false},
	{"other.example; spf=pass smtp.mailfrom=mail.example.test", false},
}

func TestStripOwnAuthResults(t *testing.T) {
	for _, tt := range authResultsForms {
		h := parseHeader(t, "Authentication-Results: "+tt.v+"\r\n\r\n")
		stripOwnAuthResults(&h, "mail.example.test")
		if kept := h.Has("Authentication-Results"); kept == tt.own {
			t.Errorf("stripOwnAuthResults(%q): kept = %v, want %v", tt.v, kept, !tt.own)
		}
	}
	// Folded (RFC 5322 §2.2.3) over three lines, with the version number.
	h := parseHeader(t, "Authentication-Results:\r\n mail.example.test\r\n\t1;\r\n spf=pass\r\nSubject: x\r\n\r\n")
	stripOwnAuthResults(&h, "mail.example.test")
	if h.Has("Authentication-Results") {
		t.Errorf("folded Authentication-Results kept: %q", headerBytes(t, h))
	}
}

func TestAuthservID(t *testing.T) {
	for _, tt := range []struct{ v, id string }{
		{"mail.example.test; spf=pass", "mail.example.test"},
		{" (x) mail.example.test 1 (y); none", "mail.example.test"},
		{"\"a\\\"b\"; none", "a\"b"},
		{"host/x; none", "host"},
		{"(", ""},
		{"", ""},
	} {
		id, ok := authservID(tt.v)
		if id != tt.id || ok != (tt.id != "") {
			t.Errorf("authservID(%q) = %q, %v, want %q", tt.v, id, ok, tt.id)
		}
	}
}
