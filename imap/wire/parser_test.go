package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// argsOf returns a Parser positioned after "tag SP name SP" (and "UID SP"
// when the command starts with it), and whether UID was given.
func argsOf(t *testing.T, cmd string) (*Parser, bool) {
	t.Helper()
	p := NewParser([]byte(cmd))
	if _, err := p.Tag(); err != nil {
		t.Fatalf("%q: tag: %v", cmd, err)
	}
	if err := p.SP(); err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	name, err := p.Atom()
	if err != nil {
		t.Fatalf("%q: name: %v", cmd, err)
	}
	uid := strings.EqualFold(name, "UID")
	if uid {
		if err := p.SP(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Atom(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SP(); err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	return p, uid
}

func wantSyntax(t *testing.T, what string, err error) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%s: err = %v (%T), want *SyntaxError", what, err, err)
	}
	if se.Msg == "" || strings.ContainsAny(se.Msg, "\r\n") {
		t.Errorf("%s: message %q is not one line of text", what, se.Msg)
	}
}

func TestLoginAStrings(t *testing.T) {
	tests := []struct {
		cmd        string
		user, pass string
	}{
		// Python's imaplib sends a backslash unquoted.
		{`a1 LOGIN bob@example.test\alice@example.test secret`, `bob@example.test\alice@example.test`, "secret"},
		{`a1 LOGIN "bob" "se\"cr\\et"`, "bob", `se"cr\et`},
		{`a1 LOGIN "bo\b" x]y`, `bo\b`, "x]y"}, // a lone backslash stays
		{"a1 LOGIN {3}\r\nbob {5+}\r\nse cr", "bob", "se cr"},
		{`a1 LOGIN "jösé" "pässwörd"`, "jösé", "pässwörd"}, // RFC 6855 quoted UTF-8
		{"a1 LOGIN \"\" {0}\r\n", "", ""},
	}
	for _, tt := range tests {
		p, _ := argsOf(t, tt.cmd)
		user, err := p.AString()
		if err != nil {
			t.Errorf("%q: user: %v", tt.cmd, err)
			continue
		}
		if err := p.SP(); err != nil {
			t.Errorf("%q: %v", tt.cmd, err)
			continue
		}
		pass, err := p.AString()
		if err == nil {
			err = p.End()
		}
		if err != nil || user != tt.user || pass != tt.pass {
			t.Errorf("%q: got %q %q %v, want %q %q", tt.cmd, user, pass, err, tt.user, tt.pass)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		f    func(p *Parser) error
	}{
		{"unterminated quote", `"bob secret`, func(p *Parser) error { _, err := p.AString(); return err }},
		{"escaped final quote", `"bob\"`, func(p *Parser) error { _, err := p.AString(); return err }},
		{"CR in quoted", "\"a\rb\"", func(p *Parser) error { _, err := p.String(); return err }},
		{"empty astring", ` x`, func(p *Parser) error { _, err := p.AString(); return err }},
		{"paren in astring", `(x`, func(p *Parser) error { _, err := p.AString(); return err }},
		{"literal too short", "{5}\r\nab", func(p *Parser) error { _, _, err := p.Literal(); return err }},
		{"literal without CRLF", "{2}ab", func(p *Parser) error { _, _, err := p.Literal(); return err }},
		{"literal bad size", "{2a}\r\nab", func(p *Parser) error { _, _, err := p.Literal(); return err }},
		{"literal huge", "{99999999999999999999}\r\n", func(p *Parser) error { _, _, err := p.Literal(); return err }},
		{"number overflow", "4294967296", func(p *Parser) error { _, err := p.Number(); return err }},
		{"number64 overflow", "9223372036854775808", func(p *Parser) error { _, err := p.Number64(); return err }},
		{"zero in set", "0:5", func(p *Parser) error { _, err := p.NumSet(false); return err }},
		{"empty set", ",", func(p *Parser) error { _, err := p.NumSet(false); return err }},
		{"$ in list", "1,$", func(p *Parser) error { _, err := p.NumSet(true); return err }},
		{"flag wildcard", `\*`, func(p *Parser) error { _, err := p.Flag(); return err }},
		{"keyword bracket", `]x`, func(p *Parser) error { _, err := p.Flag(); return err }},
		{"flag list open", `(\Seen`, func(p *Parser) error { _, err := p.FlagList(); return err }},
		{"bad mutf7", `"&Jjo"`, func(p *Parser) error { _, err := p.Mailbox(); return err }},
		{"8-bit mailbox without UTF8", `"Entwürfe"`, func(p *Parser) error { _, err := p.Mailbox(); return err }},
		{"tag plus", `+ab`, func(p *Parser) error { _, err := p.Tag(); return err }},
		{"date 31-Feb", `31-Feb-2024`, func(p *Parser) error { _, err := p.Date(); return err }},
		{"date-time bad zone", `"17-Jul-1996 02:44:25 0700"`, func(p *Parser) error { _, err := p.DateTime(); return err }},
		{"date-time unquoted", `17-Jul-1996 02:44:25 -0700`, func(p *Parser) error { _, err := p.DateTime(); return err }},
		{"trailing", "x", func(p *Parser) error { return p.End() }},
	}
	for _, tt := range tests {
		p := NewParser([]byte(tt.in))
		err := tt.f(p)
		wantSyntax(t, tt.name, err)
	}
	var se *SyntaxError
	p := NewParser([]byte(`a "unterminated`))
	p.Atom()
	p.SP()
	_, err := p.AString()
	if !errors.As(err, &se) || se.Pos != 2 || se.Msg != "unterminated quoted string" {
		t.Errorf("unterminated quote: %#v", err)
	}
}

func TestTokens(t *testing.T) {
	p := NewParser([]byte(`a.1 (\SEEN \answered $Forwarded \Custom) NIL "x" nil2`))
	if tag, err := p.Tag(); err != nil || tag != "a.1" {
		t.Fatalf("Tag = %q, %v", tag, err)
	}
	p.SP()
	fl, err := p.FlagList()
	want := []goimap.Flag{goimap.FlagSeen, goimap.FlagAnswered, "$Forwarded", `\Custom`}
	if err != nil || !reflect.DeepEqual(fl, want) {
		t.Fatalf("FlagList = %q, %v; want %q", fl, err, want)
	}
	p.SP()
	if _, isNil, err := p.NString(); !isNil || err != nil {
		t.Errorf("NString NIL: %v %v", isNil, err)
	}
	p.SP()
	if s, isNil, err := p.NString(); isNil || err != nil || s != "x" {
		t.Errorf("NString x: %q %v %v", s, isNil, err)
	}
	p.SP()
	if _, _, err := p.NString(); err == nil {
		t.Errorf("NString nil2: atom accepted as nstring")
	}

	for in, want := range map[string]string{
		"inbox": "INBOX", `"InBoX"`: "INBOX", "INBOX.sub": "INBOX.sub", "inbox/x": "inbox/x",
		`"~peter/mail/&U,BTFw-/&ZeVnLIqe-"`: "~peter/mail/台北/日本語", "&-x": "&x",
	} {
		got, err := NewParser([]byte(in)).Mailbox()
		if err != nil || got != want {
			t.Errorf("Mailbox(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	u := NewParser([]byte(`"Entwürfe&"`))
	u.UTF8 = true
	if got, err := u.Mailbox(); err != nil || got != "Entwürfe&" {
		t.Errorf("UTF8 Mailbox = %q, %v", got, err)
	}

	sets := map[string]string{"1:*": "1:*", "*:4": "4:*", "5:2,9": "2:5,9", "7": "7", "*": "*"}
	for in, want := range sets {
		s, err := NewParser([]byte(in)).NumSet(false)
		if err != nil || s.String() != want {
			t.Errorf("NumSet(%s) = %v, %v; want %s", in, s, err, want)
		}
		if _, ok := s.(goimap.SeqSet); !ok {
			t.Errorf("NumSet(%s, false) is %T", in, s)
		}
	}
	if s, err := NewParser([]byte("3:4")).NumSet(true); err != nil || s.(goimap.UIDSet).String() != "3:4" {
		t.Errorf("UID NumSet = %v, %v", s, err)
	}
	if s, err := NewParser([]byte("$")).NumSet(false); err != nil || !goimap.IsSearchRes(s) {
		t.Errorf("NumSet($) = %v, %v", s, err)
	}

	dt, err := NewParser([]byte(`" 7-Feb-1994 21:52:25 -0800"`)).DateTime()
	if want := time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600)); err != nil || !dt.Equal(want) {
		t.Errorf("DateTime = %v, %v", dt, err)
	}
	for _, in := range []string{"1-Feb-1994", `"01-feb-1994"`} {
		d, err := NewParser([]byte(in)).Date()
		if err != nil || !d.Equal(time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("Date(%s) = %v, %v", in, d, err)
		}
	}
	data, bin, err := NewParser([]byte("~{3}\r\na\x00b")).Literal()
	if err != nil || !bin || string(data) != "a\x00b" {
		t.Errorf("literal8 = %q %v %v", data, bin, err)
	}
}
