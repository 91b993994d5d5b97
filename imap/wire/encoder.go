package wire

import (
	"bufio"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	goimap "github.com/emersion/go-imap/v2"
)

// maxQuoted is the longest string sent quoted; longer ones go as
// literals, which clients read without scanning for escapes.
const maxQuoted = 4096

// Encoder writes responses. Methods chain; the first write error sticks
// and is returned by Err and Flush. It is not safe for concurrent use.
type Encoder struct {
	// UTF8: the client enabled UTF8=ACCEPT: strings and mailbox names may
	// be sent as quoted UTF-8; otherwise 8-bit strings go as literals and
	// mailbox names in modified UTF-7.
	UTF8 bool

	w   *bufio.Writer
	err error
	num [24]byte // scratch for numbers
}

func NewEncoder(w *bufio.Writer) *Encoder { return &Encoder{w: w} }

// Raw writes bytes as they are (pre-rendered ENVELOPE, BODYSTRUCTURE).
func (e *Encoder) Raw(b []byte) *Encoder {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
	return e
}

func (e *Encoder) RawString(s string) *Encoder {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
	return e
}

// Atom writes s as it is; the caller knows it is an atom.
func (e *Encoder) Atom(s string) *Encoder { return e.RawString(s) }

func (e *Encoder) SP() *Encoder { return e.Byte(' ') }

// Byte writes one byte: "(" ")" "[" ...
func (e *Encoder) Byte(c byte) *Encoder {
	if e.err == nil {
		e.err = e.w.WriteByte(c)
	}
	return e
}

func (e *Encoder) CRLF() *Encoder { return e.RawString("\r\n") }

func (e *Encoder) Number(n uint32) *Encoder { return e.Number64(uint64(n)) }

func (e *Encoder) Number64(n uint64) *Encoder {
	return e.Raw(strconv.AppendUint(e.num[:0], n, 10))
}

// quotable reports whether s can go as a quoted string (RFC 9051 §4.3):
// no CR, LF or NUL, short, and 8-bit only as UTF-8 after UTF8=ACCEPT.
func (e *Encoder) quotable(s string) bool {
	if len(s) >= maxQuoted {
		return false
	}
	eight := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return false
		case c >= 0x80:
			eight = true
		}
	}
	return !eight || (e.UTF8 && utf8.ValidString(s))
}

// String writes s quoted when it can be, else as a literal.
func (e *Encoder) String(s string) *Encoder {
	if !e.quotable(s) {
		e.literalHeader('{', len(s))
		return e.RawString(s)
	}
	e.Byte('"')
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		e.RawString(s[:i]).Byte('\\').Byte(s[i])
		s = s[i+1:]
	}
	return e.RawString(s).Byte('"')
}

// NString writes s as String does; "" is "" (use NIL for nil).
func (e *Encoder) NString(s string) *Encoder { return e.String(s) }

func (e *Encoder) NIL() *Encoder { return e.RawString("NIL") }

func (e *Encoder) literalHeader(prefix byte, n int) {
	if prefix == '~' {
		e.Byte('~')
	}
	e.Byte('{').Number64(uint64(n)).RawString("}\r\n")
}

// Literal writes {n}CRLF and b.
func (e *Encoder) Literal(b []byte) *Encoder {
	e.literalHeader('{', len(b))
	return e.Raw(b)
}

// Literal8 writes ~{n}CRLF and b (RFC 3516: BINARY data holding NUL).
func (e *Encoder) Literal8(b []byte) *Encoder {
	e.literalHeader('~', len(b))
	return e.Raw(b)
}

// Mailbox writes a mailbox name: INBOX as an atom, anything else as a
// string, in modified UTF-7 unless UTF8 (RFC 3501 §5.1.3, RFC 6855 §3).
func (e *Encoder) Mailbox(name string) *Encoder {
	if strings.EqualFold(name, "INBOX") {
		return e.RawString("INBOX")
	}
	if !e.UTF8 {
		name = EncodeMUTF7(name)
	}
	return e.String(name)
}

// Flags writes a flag list, "(\Seen $Forwarded)".
func (e *Encoder) Flags(fs []goimap.Flag) *Encoder {
	e.Byte('(')
	for i, f := range fs {
		if i > 0 {
			e.Byte(' ')
		}
		e.RawString(string(f))
	}
	return e.Byte(')')
}

// DateTime writes a quoted date-time, "dd-Mon-yyyy hh:mm:ss +zzzz".
func (e *Encoder) DateTime(t time.Time) *Encoder {
	var b [32]byte
	out := append(b[:0], '"')
	out = t.AppendFormat(out, "02-Jan-2006 15:04:05 -0700")
	return e.Raw(append(out, '"'))
}

// NumSet writes a sequence set, "1:3,7", or "$".
func (e *Encoder) NumSet(s goimap.NumSet) *Encoder { return e.RawString(s.String()) }

// defaultText is the text of a status response given none: resp-text
// needs at least one character (RFC 9051 §9 text = 1*TEXT-CHAR).
func defaultText(typ string) string {
	switch strings.ToUpper(typ) {
	case "NO":
		return "failed"
	case "BAD":
		return "bad command"
	case "BYE":
		return "closing connection"
	case "PREAUTH":
		return "logged in"
	}
	return "done"
}

// Status writes "<tag> <typ> [<code>] <text>\r\n"; tag "*" for untagged,
// typ OK/NO/BAD/BYE/PREAUTH, code "" for none (e.g. "TRYCREATE",
// "APPENDUID 7 3"). CR, LF and other controls in text become spaces.
func (e *Encoder) Status(tag, typ, code, text string) *Encoder {
	e.RawString(tag).Byte(' ').RawString(typ)
	if code != "" {
		e.RawString(" [").RawString(sanitize(code)).Byte(']')
	}
	if strings.TrimSpace(text) == "" {
		text = defaultText(typ)
	}
	return e.Byte(' ').RawString(sanitize(text)).CRLF()
}

// sanitize replaces controls so that text stays on one line.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}

func (e *Encoder) Err() error { return e.err }

// Flush writes out what is buffered and returns the first error.
func (e *Encoder) Flush() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// EncodeMUTF7 and DecodeMUTF7 convert mailbox names (RFC 3501 §5.1.3);
// see mutf7.go.
