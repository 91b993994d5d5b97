package smtp

import (
	"bytes"
	"fmt"
	"mime"
	"strings"

	gosmtp "github.com/emersion/go-smtp"
)

// MaxMIMEDepth is how deeply multiparts and message/rfc822 parts may nest
// (the top-level message is depth 0), the same limit as imap/message's
// parser. A deeper message is refused at DATA.
const MaxMIMEDepth = 64

const (
	// scanLineCap is how much of one line the scanner keeps: enough for a
	// boundary delimiter (RFC 2046 §5.1.1: a boundary has at most 70
	// characters) and a long Content-Type line. Longer lines are still
	// counted and checked byte by byte.
	scanLineCap = 16 << 10
	// scanFieldCap bounds a kept Content-Type field with its folded lines.
	scanFieldCap = 16 << 10
)

// scanner checks a message as it streams in, before anything is parsed
// into memory: octets that no mail may carry (NUL, a CR or LF that is not
// part of CRLF: RFC 5321 §2.3.8, RFC 5322 §2.3), a top-level header that
// is too large, has 8-bit octets (which need SMTPUTF8, RFC 6532 §3, not
// offered) or a line that is not a field, and MIME nesting deeper than
// MaxMIMEDepth. It keeps at most one line prefix and one Content-Type
// field. The first problem found is the reply; later bytes are only
// counted.
type scanner struct {
	maxHeader int64

	problem *gosmtp.SMTPError
	line    int    // current line number, from 1
	lineLen int    // octets of the current line so far, CRLF excluded
	cur     []byte // the current line's first scanLineCap octets
	cr      bool   // the previous octet was CR
	header  int64  // octets of the top-level header so far

	stack  []entity
	ct     []byte // Content-Type value of the entity header being read
	inCT   bool   // the last field started was Content-Type
	seenCT bool
}

// entity is one MIME entity on the way from the top-level message to the
// current line.
type entity struct {
	inHeader bool
	boundary string // of a multipart, "" otherwise or once closed
	digest   bool   // multipart/digest: parts default to message/rfc822 (RFC 2046 §5.1.5)
	inDigest bool   // a part of a multipart/digest
}

func newScanner(maxHeader int64) *scanner {
	return &scanner{maxHeader: maxHeader, line: 1, stack: []entity{{inHeader: true}}}
}

// contentError refuses the message: 550 5.6.0 for its top-level header,
// as headerError does for what the rewrite finds, and 554 5.6.0 past it.
func contentError(inHeader bool, format string, a ...any) *gosmtp.SMTPError {
	code := 554
	if inHeader {
		code = 550
	}
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: fmt.Sprintf(format, a...)}
}

func (sc *scanner) Write(p []byte) (int, error) {
	if sc.problem != nil {
		return len(p), nil
	}
	top := len(sc.stack) == 1 && sc.stack[0].inHeader
	for _, c := range p {
		if sc.cr && c != '\n' {
			sc.fail(contentError(top, "bare CR on line %d: lines end with CRLF (RFC 5321 §2.3.8)", sc.line))
			return len(p), nil
		}
		switch {
		case c == '\r':
			sc.cr = true
			continue
		case c == '\n':
			if !sc.cr {
				sc.fail(contentError(top, "bare LF on line %d: lines end with CRLF (RFC 5321 §2.3.8)", sc.line))
				return len(p), nil
			}
			sc.cr = false
			if top {
				sc.header += 2
			}
			sc.endLine()
			if sc.problem != nil {
				return len(p), nil
			}
			sc.line++
			sc.lineLen, sc.cur = 0, sc.cur[:0]
			top = len(sc.stack) == 1 && sc.stack[0].inHeader
			continue
		case c == 0:
			sc.fail(contentError(top, "NUL octet on line %d: not allowed in mail (RFC 5322 §2.3)", sc.line))
			return len(p), nil
		case c >= 0x80 && top:
			sc.fail(contentError(top, "8-bit octet in header line %d without SMTPUTF8 (RFC 6532): encode it as RFC 2047 words", sc.line))
			return len(p), nil
		}
		sc.lineLen++
		if len(sc.cur) < scanLineCap {
			sc.cur = append(sc.cur, c)
		}
		if top {
			sc.header++
			if sc.header > sc.maxHeader {
				sc.fail(&gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4},
					Message: fmt.Sprintf("header section larger than %d octets", sc.maxHeader)})
				return len(p), nil
			}
		}
	}
	return len(p), nil
}

func (sc *scanner) fail(e *gosmtp.SMTPError) {
	if sc.problem == nil {
		sc.problem = e
	}
}

// err is the first problem, or nil. Call it after the last Write.
func (sc *scanner) err() *gosmtp.SMTPError {
	if sc.problem == nil && sc.cr {
		sc.fail(contentError(len(sc.stack) == 1 && sc.stack[0].inHeader, "bare CR on line %d: lines end with CRLF (RFC 5321 §2.3.8)", sc.line))
	}
	return sc.problem
}

// endLine handles a complete line (without its CRLF).
func (sc *scanner) endLine() {
	line := sc.cur
	if sc.lineLen == len(line) && len(line) >= 2 && line[0] == '-' && line[1] == '-' && sc.delimiter(line[2:]) {
		return
	}
	e := &sc.stack[len(sc.stack)-1]
	if !e.inHeader {
		return
	}
	switch {
	case sc.lineLen == 0:
		sc.endHeader()
	case line[0] == ' ' || line[0] == '\t':
		if sc.line == 1 {
			sc.fail(contentError(true, "malformed header: line 1 begins with white space"))
			return
		}
		if sc.inCT && len(sc.ct)+len(line) <= scanFieldCap {
			sc.ct = append(sc.ct, line...)
		}
	default:
		colon := bytes.IndexByte(line, ':')
		if len(sc.stack) == 1 && !validFieldName(line, colon) {
			sc.fail(contentError(true, "malformed header: line %d is not a field (name: value); a blank line must separate header and body (RFC 5322 §2.1)", sc.line))
			return
		}
		sc.inCT = colon > 0 && strings.EqualFold(strings.TrimRight(string(line[:colon]), " \t"), "Content-Type")
		if sc.inCT {
			sc.seenCT = true
			sc.ct = append(sc.ct[:0], line[colon+1:]...)
		}
	}
}

// delimiter handles a line that began with "--": when rest is the
// boundary of an enclosing multipart, a part starts or the multipart ends
// (RFC 2046 §5.1.1), and every entity inside it ends.
func (sc *scanner) delimiter(rest []byte) bool {
	for i := len(sc.stack) - 1; i >= 0; i-- {
		b := sc.stack[i].boundary
		if b == "" || !bytes.HasPrefix(rest, []byte(b)) {
			continue
		}
		switch string(bytes.TrimRight(rest[len(b):], " \t")) { // transport padding
		case "":
			sc.stack = sc.stack[:i+1]
			sc.push(entity{inHeader: true, inDigest: sc.stack[i].digest})
			return true
		case "--":
			sc.stack = sc.stack[:i+1]
			sc.stack[i].boundary = "" // the epilogue follows
			return true
		}
	}
	return false
}

// validFieldName reports whether line[:colon] is a field name (RFC 5322
// §2.2: printable US-ASCII but colon; trailing white space is tolerated,
// as go-message does).
func validFieldName(line []byte, colon int) bool {
	if colon <= 0 {
		return false
	}
	name := bytes.TrimRight(line[:colon], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// endHeader ends the current entity's header: a multipart now has its
// boundary, and a message/rfc822 body is a nested message.
func (sc *scanner) endHeader() {
	e := &sc.stack[len(sc.stack)-1]
	e.inHeader = false
	typ, params := "text/plain", map[string]string(nil)
	if sc.seenCT {
		if t, p, err := mime.ParseMediaType(strings.TrimSpace(string(sc.ct))); t != "" {
			typ, params = t, p
			_ = err // a bad parameter keeps the type, like a lenient reader
		}
	} else if e.inDigest {
		typ = "message/rfc822"
	}
	sc.ct, sc.inCT, sc.seenCT = sc.ct[:0], false, false
	switch {
	case strings.HasPrefix(typ, "multipart/"):
		if b := params["boundary"]; b != "" {
			e.boundary = b
			e.digest = typ == "multipart/digest"
		}
	case typ == "message/rfc822" || typ == "message/global":
		sc.push(entity{inHeader: true})
	}
}

func (sc *scanner) push(e entity) {
	sc.ct, sc.inCT, sc.seenCT = sc.ct[:0], false, false
	if len(sc.stack) > MaxMIMEDepth {
		sc.fail(contentError(false, "MIME parts nested deeper than %d levels", MaxMIMEDepth))
		return
	}
	sc.stack = append(sc.stack, e)
}
