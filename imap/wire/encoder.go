package wire

import (
	"bufio"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// Encoder writes responses. Methods chain; the first write error sticks
// and is returned by Err and Flush. It is not safe for concurrent use.
type Encoder struct {
	// UTF8: the client enabled UTF8=ACCEPT: strings and mailbox names may
	// be sent as quoted UTF-8; otherwise 8-bit strings go as literals and
	// mailbox names in modified UTF-7.
	UTF8 bool
}

func NewEncoder(w *bufio.Writer) *Encoder { panic("wire: not implemented") }

func (e *Encoder) Raw(b []byte) *Encoder           { panic("wire: not implemented") } // bytes as they are (pre-rendered ENVELOPE, BODYSTRUCTURE)
func (e *Encoder) RawString(s string) *Encoder     { panic("wire: not implemented") }
func (e *Encoder) Atom(s string) *Encoder          { panic("wire: not implemented") }
func (e *Encoder) SP() *Encoder                    { panic("wire: not implemented") }
func (e *Encoder) Byte(c byte) *Encoder            { panic("wire: not implemented") } // "(" ")" "[" ...
func (e *Encoder) CRLF() *Encoder                  { panic("wire: not implemented") }
func (e *Encoder) Number(n uint32) *Encoder        { panic("wire: not implemented") }
func (e *Encoder) Number64(n uint64) *Encoder      { panic("wire: not implemented") }
func (e *Encoder) String(s string) *Encoder        { panic("wire: not implemented") } // quoted when it can be, else a literal
func (e *Encoder) NString(s string) *Encoder       { panic("wire: not implemented") } // as String; "" is ""
func (e *Encoder) NIL() *Encoder                   { panic("wire: not implemented") }
func (e *Encoder) Literal(b []byte) *Encoder       { panic("wire: not implemented") } // {n}CRLF + b
func (e *Encoder) Literal8(b []byte) *Encoder      { panic("wire: not implemented") } // ~{n}CRLF + b (BINARY with NUL)
func (e *Encoder) Mailbox(name string) *Encoder    { panic("wire: not implemented") } // "INBOX" / quoted / literal, mUTF-7 unless UTF8
func (e *Encoder) Flags(fs []goimap.Flag) *Encoder { panic("wire: not implemented") } // "(\Seen $Forwarded)"
func (e *Encoder) DateTime(t time.Time) *Encoder   { panic("wire: not implemented") } // "dd-Mon-yyyy hh:mm:ss +zzzz"
func (e *Encoder) NumSet(s goimap.NumSet) *Encoder { panic("wire: not implemented") } // "1:3,7"

// Status writes "<tag> <typ> [<code>] <text>\r\n"; tag "*" for untagged,
// typ OK/NO/BAD/BYE/PREAUTH, code "" for none (e.g. "TRYCREATE",
// "APPENDUID 7 3"). CR, LF and other controls in text become spaces.
func (e *Encoder) Status(tag, typ, code, text string) *Encoder { panic("wire: not implemented") }

func (e *Encoder) Err() error   { panic("wire: not implemented") }
func (e *Encoder) Flush() error { panic("wire: not implemented") }

// EncodeMUTF7 and DecodeMUTF7 convert mailbox names (RFC 3501 §5.1.3).
func EncodeMUTF7(s string) string          { panic("wire: not implemented") }
func DecodeMUTF7(s string) (string, error) { panic("wire: not implemented") }
