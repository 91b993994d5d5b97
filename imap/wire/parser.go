package wire

import (
	"math"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// Parser decodes the arguments of one command read by Reader.ReadCommand.
// Every method returns a *SyntaxError on bad input, positioned where the
// input went wrong; nothing panics on any input.
//
// Strings and literal data returned may share memory with the command.
type Parser struct {
	// UTF8 is set once the client has enabled UTF8=ACCEPT (RFC 6855):
	// mailbox names are then UTF-8, not modified UTF-7.
	UTF8 bool

	b     []byte
	pos   int
	depth int // nesting of search keys and lists
}

// SyntaxError is a malformed command: answer BAD.
type SyntaxError struct {
	Pos int
	Msg string // lowercase, one line, for the client
}

func (e *SyntaxError) Error() string { return e.Msg }

// maxDepth bounds nested parentheses (search keys, NOT and OR chains).
const maxDepth = 100

// NewParser parses cmd, one command as returned by ReadCommand.
func NewParser(cmd []byte) *Parser { return &Parser{b: cmd} }

func (p *Parser) errf(msg string) error { return &SyntaxError{Pos: p.pos, Msg: msg} }

func (p *Parser) errAt(pos int, msg string) error { return &SyntaxError{Pos: pos, Msg: msg} }

// Character classes of RFC 9051 §9.

// isAtomChar: any CHAR except atom-specials: "(" ")" "{" SP CTL
// list-wildcards quoted-specials resp-specials.
func isAtomChar(c byte) bool {
	if c <= 0x20 || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isAStringChar is ASTRING-CHAR (ATOM-CHAR or "]") and, to be liberal,
// "\": Python's imaplib sends "LOGIN bob@example.test\alice pw" unquoted.
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' || c == '\\' }

// isTagChar: ASTRING-CHAR except "+".
func isTagChar(c byte) bool { return (isAtomChar(c) && c != '+') || c == ']' }

// isListChar: list-char = ATOM-CHAR / list-wildcards / resp-specials.
func isListChar(c byte) bool { return isAtomChar(c) || c == '%' || c == '*' || c == ']' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Token level (RFC 9051 §9 formal syntax).

// Tag reads a tag: 1*<any ASTRING-CHAR except "+">.
func (p *Parser) Tag() (string, error) {
	s := p.span(isTagChar)
	if s == "" {
		return "", p.errf("expected tag")
	}
	return s, nil
}

// Atom reads 1*ATOM-CHAR.
func (p *Parser) Atom() (string, error) {
	s := p.span(isAtomChar)
	if s == "" {
		return "", p.errf("expected atom")
	}
	return s, nil
}

// span consumes the longest run of bytes in the class.
func (p *Parser) span(class func(byte) bool) string {
	start := p.pos
	for p.pos < len(p.b) && class(p.b[p.pos]) {
		p.pos++
	}
	return string(p.b[start:p.pos])
}

// SP reads exactly one space.
func (p *Parser) SP() error {
	if !p.Accept(' ') {
		return p.errf("expected space")
	}
	return nil
}

// Peek returns the next byte, 0 at the end.
func (p *Parser) Peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

// Accept consumes c if it is next.
func (p *Parser) Accept(c byte) bool {
	if p.pos < len(p.b) && p.b[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// Expect consumes c or fails.
func (p *Parser) Expect(c byte) error {
	if !p.Accept(c) {
		return p.errf("expected " + quoteChar(c))
	}
	return nil
}

func quoteChar(c byte) string {
	switch c {
	case ' ':
		return "space"
	case '"':
		return "quote"
	}
	return "\"" + string(rune(c)) + "\""
}

// AtEnd reports whether the whole command has been read.
func (p *Parser) AtEnd() bool { return p.pos >= len(p.b) }

// End fails unless the whole command has been read.
func (p *Parser) End() error {
	if !p.AtEnd() {
		return p.errf("unexpected characters at end of command")
	}
	return nil
}

// acceptFold consumes kw (upper case) in any letter case if it is next.
func (p *Parser) acceptFold(kw string) bool {
	if len(p.b)-p.pos >= len(kw) && strings.EqualFold(string(p.b[p.pos:p.pos+len(kw)]), kw) {
		p.pos += len(kw)
		return true
	}
	return false
}

// AString reads an astring: an atom of ASTRING-CHAR ("]" and, liberally,
// "\" allowed), a quoted string or a literal.
func (p *Parser) AString() (string, error) {
	switch p.Peek() {
	case '"', '{':
		return p.String()
	}
	s := p.span(isAStringChar)
	if s == "" {
		return "", p.errf("expected string")
	}
	return s, nil
}

// String reads a string: quoted or literal.
func (p *Parser) String() (string, error) {
	switch p.Peek() {
	case '"':
		return p.quoted()
	case '{':
		b, _, err := p.Literal()
		return string(b), err
	}
	return "", p.errf("expected string")
}

// quoted reads a quoted string (RFC 9051 §4.3). "\" escapes only a quote
// or a backslash; before anything else it is kept as a backslash. UTF-8
// (RFC 6855) and other 8-bit bytes pass; CR, LF and NUL do not.
func (p *Parser) quoted() (string, error) {
	start := p.pos
	p.pos++ // the opening quote
	var buf []byte
	seg := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch c {
		case '"':
			var s string
			if buf == nil {
				s = string(p.b[seg:p.pos])
			} else {
				s = string(append(buf, p.b[seg:p.pos]...))
			}
			p.pos++
			return s, nil
		case '\\':
			if p.pos+1 < len(p.b) && (p.b[p.pos+1] == '"' || p.b[p.pos+1] == '\\') {
				buf = append(buf, p.b[seg:p.pos]...)
				buf = append(buf, p.b[p.pos+1])
				p.pos += 2
				seg = p.pos
				continue
			}
		case '\r', '\n', 0:
			return "", p.errf("invalid character in quoted string")
		}
		p.pos++
	}
	return "", p.errAt(start, "unterminated quoted string")
}

// NString reads NIL or a string.
func (p *Parser) NString() (s string, nil_ bool, err error) {
	if p.Peek() != '"' && p.Peek() != '{' {
		start := p.pos
		if p.acceptFold("NIL") && (p.AtEnd() || !isAStringChar(p.Peek())) {
			return "", true, nil
		}
		p.pos = start
	}
	s, err = p.String()
	return s, false, err
}

// Literal reads a literal "{n}", "{n+}" (RFC 7888) or, with binary set, a
// literal8 "~{n}" (RFC 3516): the header, its CRLF (or bare LF) and n
// bytes. The data shares memory with the command.
func (p *Parser) Literal() (data []byte, binary bool, err error) {
	start := p.pos
	binary = p.Accept('~')
	if !p.Accept('{') {
		return nil, false, p.errf("expected literal")
	}
	n, err := p.Number64()
	if err != nil {
		return nil, false, p.errAt(start, "bad literal size")
	}
	p.Accept('+')
	if err := p.Expect('}'); err != nil {
		return nil, false, err
	}
	p.Accept('\r')
	if err := p.Expect('\n'); err != nil {
		return nil, false, p.errf("expected line end after literal header")
	}
	if n > uint64(len(p.b)-p.pos) {
		return nil, false, p.errAt(start, "literal data missing")
	}
	data = p.b[p.pos : p.pos+int(n) : p.pos+int(n)]
	p.pos += int(n)
	return data, binary, nil
}

// digits consumes 1*DIGIT and returns its value, or ok false on no digit
// or a value above max.
func (p *Parser) digits(max uint64) (uint64, bool) {
	start := p.pos
	var n uint64
	for p.pos < len(p.b) && isDigit(p.b[p.pos]) {
		d := uint64(p.b[p.pos] - '0')
		if n > (max-d)/10 {
			for p.pos < len(p.b) && isDigit(p.b[p.pos]) {
				p.pos++
			}
			return 0, false
		}
		n = n*10 + d
		p.pos++
	}
	return n, p.pos > start
}

// Number reads a number (32 bits).
func (p *Parser) Number() (uint32, error) {
	start := p.pos
	n, ok := p.digits(math.MaxUint32)
	if !ok {
		return 0, p.errAt(start, "expected number")
	}
	return uint32(n), nil
}

// Number64 reads a number64 (RFC 9051) or mod-sequence value (RFC 7162):
// 63 bits.
func (p *Parser) Number64() (uint64, error) {
	start := p.pos
	n, ok := p.digits(math.MaxInt64)
	if !ok {
		return 0, p.errAt(start, "expected number")
	}
	return n, nil
}

// nzNumber reads a non-zero number.
func (p *Parser) nzNumber() (uint32, error) {
	start := p.pos
	n, err := p.Number()
	if err == nil && n == 0 {
		err = p.errAt(start, "expected non-zero number")
	}
	return n, err
}

// Mailbox reads a mailbox name (astring): modified UTF-7 is decoded
// unless UTF8, and the whole name "INBOX" in any letter case becomes
// "INBOX" (longer names are left to the caller).
func (p *Parser) Mailbox() (string, error) {
	start := p.pos
	s, err := p.AString()
	if err != nil {
		return "", err
	}
	return p.mailboxName(start, s)
}

func (p *Parser) mailboxName(start int, s string) (string, error) {
	if !p.UTF8 {
		d, err := DecodeMUTF7(s)
		if err != nil {
			return "", p.errAt(start, "invalid modified UTF-7 mailbox name")
		}
		s = d
	}
	if strings.EqualFold(s, "INBOX") {
		return "INBOX", nil
	}
	return s, nil
}

// NumSet reads a sequence-set: a goimap.UIDSet when uid, else a
// goimap.SeqSet; "*" is 0 in a range; "$" is goimap.SearchRes().
//
// RFC 5182's grammar also allows "$" at the end of a list ("1:5,$"),
// which no NumSet can hold: NumSet refuses it, and SEARCH reads it as an
// OR.
func (p *Parser) NumSet(uid bool) (goimap.NumSet, error) {
	start := p.pos
	set, res, err := p.numSetRes(uid)
	if err != nil {
		return nil, err
	}
	if res {
		if set != nil {
			return nil, p.errAt(start, "$ must stand alone in a sequence set")
		}
		return goimap.SearchRes(), nil
	}
	return set, nil
}

// numSetRes reads a sequence-set whose last element may be "$" (RFC 5182
// §4: sequence-set =/ seq-last-command). set is nil for a lone "$".
func (p *Parser) numSetRes(uid bool) (set goimap.NumSet, res bool, err error) {
	if p.Accept('$') {
		return nil, true, nil // RFC 5182 §2.1
	}
	var seq goimap.SeqSet
	var uids goimap.UIDSet
	for {
		if p.Peek() == '$' && p.pos > 0 && p.b[p.pos-1] == ',' {
			p.pos++
			res = true
			break
		}
		a, err := p.seqNumber()
		if err != nil {
			return nil, false, err
		}
		b := a
		if p.Accept(':') {
			if b, err = p.seqNumber(); err != nil {
				return nil, false, err
			}
		}
		if uid {
			uids.AddRange(goimap.UID(a), goimap.UID(b))
		} else {
			seq.AddRange(a, b)
		}
		if !p.Accept(',') {
			break
		}
	}
	if uid {
		return uids, res, nil
	}
	return seq, res, nil
}

// seqNumber reads nz-number or "*" (0).
func (p *Parser) seqNumber() (uint32, error) {
	if p.Accept('*') {
		return 0, nil
	}
	start := p.pos
	n, err := p.Number()
	if err != nil || n == 0 {
		return 0, p.errAt(start, "invalid sequence set")
	}
	return n, nil
}

// systemFlags canonicalises the RFC 9051 §2.3.2 system flags.
var systemFlags = map[string]goimap.Flag{
	`\seen`:     goimap.FlagSeen,
	`\answered`: goimap.FlagAnswered,
	`\flagged`:  goimap.FlagFlagged,
	`\deleted`:  goimap.FlagDeleted,
	`\draft`:    goimap.FlagDraft,
	`\recent`:   `\Recent`,
}

// Flag reads a flag: "\" atom (the system flags in any letter case
// become \Seen etc.) or a keyword atom.
func (p *Parser) Flag() (goimap.Flag, error) {
	start := p.pos
	sys := p.Accept('\\')
	a := p.span(isAtomChar)
	if a == "" {
		return "", p.errAt(start, "invalid flag")
	}
	if !sys {
		return goimap.Flag(a), nil
	}
	f := `\` + a
	if c, ok := systemFlags[strings.ToLower(f)]; ok {
		return c, nil
	}
	return goimap.Flag(f), nil
}

// FlagList reads "(" [flag *(SP flag)] ")".
func (p *Parser) FlagList() ([]goimap.Flag, error) {
	flags := []goimap.Flag{}
	err := p.parenList(true, func() error {
		f, err := p.Flag()
		flags = append(flags, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	return flags, nil
}

// parenList reads "(" item *(SP item) ")", calling item for each element;
// with empty, "()" is accepted too (item is then not called).
func (p *Parser) parenList(empty bool, item func() error) error {
	if err := p.Expect('('); err != nil {
		return err
	}
	if empty && p.Accept(')') {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if p.Accept(')') {
			return nil
		}
		if err := p.SP(); err != nil {
			return err
		}
	}
}

// enter counts one level of nesting.
func (p *Parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf("too deeply nested")
	}
	return nil
}

func (p *Parser) leave() { p.depth-- }

// keyword reads an atom and returns it upper-cased.
func (p *Parser) keyword() (string, error) {
	a, err := p.Atom()
	return strings.ToUpper(a), err
}
