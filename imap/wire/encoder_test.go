package wire

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

func encode(utf8 bool, f func(e *Encoder)) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	e := NewEncoder(w)
	e.UTF8 = utf8
	f(e)
	if err := e.Flush(); err != nil {
		panic(err)
	}
	return b.String()
}

func TestEncoderStrings(t *testing.T) {
	long := strings.Repeat("a", 4096)
	tests := []struct {
		in        string
		utf8      bool
		want      string
		isLiteral bool
	}{
		{"hello", false, `"hello"`, false},
		{"", false, `""`, false},
		{`say "hi" \o/`, false, `"say \"hi\" \\o/"`, false},
		{"two\r\nlines", false, "{10}\r\ntwo\r\nlines", true},
		{"nul\x00", false, "{4}\r\nnul\x00", true},
		{"Grüße", false, "{7}\r\nGrüße", true},
		{"Grüße", true, `"Grüße"`, false},
		{"bad\xff", true, "{4}\r\nbad\xff", true}, // not UTF-8
		{long, false, "{4096}\r\n" + long, true},
		{long[:4095], false, `"` + long[:4095] + `"`, false},
	}
	for _, tt := range tests {
		got := encode(tt.utf8, func(e *Encoder) { e.String(tt.in) })
		if got != tt.want {
			t.Errorf("String(%.20q, utf8=%v) = %.40q, want %.40q", tt.in, tt.utf8, got, tt.want)
		}
		// What we send must parse back to the same string.
		back, err := NewParser([]byte(got)).AString()
		if err != nil || back != tt.in {
			t.Errorf("String(%.20q) does not parse back: %.20q %v", tt.in, back, err)
		}
	}
	if got := encode(false, func(e *Encoder) { e.NString("").SP().NIL() }); got != `"" NIL` {
		t.Errorf("NString/NIL = %q", got)
	}
}

func TestEncoderTokens(t *testing.T) {
	got := encode(false, func(e *Encoder) {
		e.Atom("*").SP().Number(12).SP().Atom("FETCH").SP().Byte('(').
			Atom("MODSEQ").SP().Byte('(').Number64(1 << 62).Byte(')').SP().
			Atom("FLAGS").SP().Flags([]goimap.Flag{goimap.FlagSeen, "$Forwarded"}).SP().
			Atom("INTERNALDATE").SP().DateTime(time.Date(1996, 7, 17, 2, 44, 25, 0, time.FixedZone("", -7*3600))).SP().
			Atom("BODY[]").SP().Literal([]byte("hi")).SP().
			Atom("BINARY[]").SP().Literal8([]byte("a\x00")).SP().
			Raw([]byte("ENVELOPE NIL")).SP().RawString("X").Byte(')').CRLF()
	})
	want := "* 12 FETCH (MODSEQ (4611686018427387904) FLAGS (\\Seen $Forwarded) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" " +
		"BODY[] {2}\r\nhi BINARY[] ~{2}\r\na\x00 ENVELOPE NIL X)\r\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := encode(false, func(e *Encoder) { e.Flags(nil) }); got != "()" {
		t.Errorf("Flags(nil) = %q", got)
	}
	set := goimap.SeqSetNum(1, 2, 3, 7)
	if got := encode(false, func(e *Encoder) { e.NumSet(set).SP().NumSet(goimap.SearchRes()) }); got != "1:3,7 $" {
		t.Errorf("NumSet = %q", got)
	}
}

func TestEncoderMailbox(t *testing.T) {
	tests := []struct {
		in   string
		utf8 bool
		want string
	}{
		{"INBOX", false, "INBOX"},
		{"inbox", false, "INBOX"},
		{"Sent", false, `"Sent"`},
		{"~peter/mail/台北/日本語", false, `"~peter/mail/&U,BTFw-/&ZeVnLIqe-"`},
		{"~peter/mail/台北/日本語", true, `"~peter/mail/台北/日本語"`},
		{"R&D", false, `"R&-D"`},
		{"R&D", true, `"R&D"`},
	}
	for _, tt := range tests {
		got := encode(tt.utf8, func(e *Encoder) { e.Mailbox(tt.in) })
		if got != tt.want {
			t.Errorf("Mailbox(%q, utf8=%v) = %q, want %q", tt.in, tt.utf8, got, tt.want)
		}
		p := NewParser([]byte(got))
		p.UTF8 = tt.utf8
		back, err := p.Mailbox()
		if err != nil || !strings.EqualFold(back, tt.in) {
			t.Errorf("Mailbox(%q) parses back as %q, %v", tt.in, back, err)
		}
	}
}

func TestEncoderStatus(t *testing.T) {
	tests := []struct {
		tag, typ, code, text string
		want                 string
	}{
		{"a1", "OK", "", "LOGIN completed", "a1 OK LOGIN completed\r\n"},
		{"*", "NO", "TRYCREATE", "no such mailbox", "* NO [TRYCREATE] no such mailbox\r\n"},
		{"a2", "OK", "APPENDUID 7 3", "", "a2 OK [APPENDUID 7 3] done\r\n"},
		{"a3", "BAD", "", "evil\r\n* OK injected", "a3 BAD evil  * OK injected\r\n"},
		{"a4", "NO", "", "  ", "a4 NO failed\r\n"},
		{"*", "BYE", "", "", "* BYE closing connection\r\n"},
	}
	for _, tt := range tests {
		got := encode(false, func(e *Encoder) { e.Status(tt.tag, tt.typ, tt.code, tt.text) })
		if got != tt.want {
			t.Errorf("Status(%q, %q, %q, %q) = %q, want %q", tt.tag, tt.typ, tt.code, tt.text, got, tt.want)
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	w.n++
	return 0, errors.New("broken pipe")
}

func TestEncoderStickyError(t *testing.T) {
	fw := &failWriter{}
	e := NewEncoder(bufio.NewWriterSize(fw, 16))
	e.String(strings.Repeat("x", 100)) // overflows the buffer: a write fails
	if e.Err() == nil {
		t.Fatal("no error after a failed write")
	}
	first := e.Err()
	e.Atom("more").CRLF().Literal([]byte(strings.Repeat("y", 100)))
	if err := e.Flush(); err != first {
		t.Errorf("Flush = %v, want the first error %v", err, first)
	}
	if fw.n != 1 {
		t.Errorf("%d writes reached the connection after the error, want 1", fw.n)
	}
}

func TestMUTF7(t *testing.T) {
	pairs := []struct{ dec, enc string }{
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501 §5.1.3
		{"&", "&-"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"é", "&AOk-"},
		{"tab\there", "tab&AAk-here"},
		{"😀", "&2D3eAA-"}, // a surrogate pair
		{"plain ascii ~!", "plain ascii ~!"},
		{"", ""},
		{"ü&ü", "&APw-&-&APw-"},
	}
	for _, p := range pairs {
		if got := EncodeMUTF7(p.dec); got != p.enc {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", p.dec, got, p.enc)
		}
		if got, err := DecodeMUTF7(p.enc); err != nil || got != p.dec {
			t.Errorf("DecodeMUTF7(%q) = %q, %v; want %q", p.enc, got, err, p.dec)
		}
	}
	for _, bad := range []string{
		"&Jjo",        // unterminated
		"&AGE-",       // "a" shifted: must stand for itself
		"&AA-",        // one octet: not UTF-16
		"&AOl-",       // non-zero trailing bits
		"&AOk=-",      // padding is not modified BASE64
		"&A/k-",       // "/" is "," in modified BASE64
		"&2D0-",       // lone high surrogate
		"&3gA-",       // lone low surrogate
		"&2D3YPQ-",    // high surrogate followed by a high one
		"caf\xc3\xa9", // raw 8-bit
		"a\x01b",      // control
		"&AOkA6Q-x&",  // trailing shift
	} {
		if got, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) = %q, want an error", bad, got)
		}
	}
}
