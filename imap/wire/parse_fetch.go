package wire

import (
	"strconv"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
)

// FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE/QRESYNC).

// simpleAtts are the items without a section, by name.
var simpleAtts = map[string]FetchKind{
	"UID":           FetchUID,
	"FLAGS":         FetchFlags,
	"INTERNALDATE":  FetchInternalDate,
	"RFC822.SIZE":   FetchRFC822Size,
	"ENVELOPE":      FetchEnvelope,
	"BODY":          FetchBody,
	"BODYSTRUCTURE": FetchBodyStructure,
	"RFC822":        FetchRFC822,
	"RFC822.HEADER": FetchRFC822Header,
	"RFC822.TEXT":   FetchRFC822Text,
	"MODSEQ":        FetchModSeq,
}

var kindNames = map[FetchKind]string{}

func init() {
	for name, k := range simpleAtts {
		kindNames[k] = name
	}
}

// macros expand ALL, FAST and FULL (RFC 9051 §6.4.5).
var macros = map[string][]FetchKind{
	"ALL":  {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope},
	"FAST": {FetchFlags, FetchInternalDate, FetchRFC822Size},
	"FULL": {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope, FetchBody},
}

// name renders the item as the FETCH response names it: BODY.PEEK answers
// as BODY, BINARY.PEEK as BINARY, and a partial shows its origin only.
func (a FetchAtt) name() string {
	var b strings.Builder
	switch a.Kind {
	case FetchSection:
		b.WriteString("BODY[")
		a.Section.writeSpec(&b)
	case FetchBinary:
		b.WriteString("BINARY[")
		writePart(&b, a.Section.Part)
	case FetchBinarySize:
		b.WriteString("BINARY.SIZE[")
		writePart(&b, a.Section.Part)
	default:
		if n, ok := kindNames[a.Kind]; ok {
			return n
		}
		return "UNKNOWN"
	}
	b.WriteByte(']')
	if a.Kind != FetchBinarySize && a.Section.Partial != nil {
		b.WriteByte('<')
		b.WriteString(strconv.FormatUint(uint64(a.Section.Partial.Offset), 10))
		b.WriteByte('>')
	}
	return b.String()
}

func writePart(b *strings.Builder, part []int) {
	for i, n := range part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
}

// writeSpec writes section-spec: "1.2.HEADER.FIELDS (From To)".
func (s Section) writeSpec(b *strings.Builder) {
	writePart(b, s.Part)
	if s.Specifier == "" {
		return
	}
	if len(s.Part) > 0 {
		b.WriteByte('.')
	}
	b.WriteString(s.Specifier)
	if s.Specifier != "HEADER.FIELDS" && s.Specifier != "HEADER.FIELDS.NOT" {
		return
	}
	b.WriteString(" (")
	for i, f := range s.Fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeAString(b, f)
	}
	b.WriteByte(')')
}

// writeAString writes s as an atom when it is one, else quoted.
func writeAString(b *strings.Builder, s string) {
	atom := s != ""
	for i := 0; i < len(s) && atom; i++ {
		atom = isAtomChar(s[i]) || s[i] == ']'
	}
	if atom {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// Fetch reads FETCH's arguments: sequence-set SP (macro / fetch-att /
// "(" fetch-att *(SP fetch-att) ")") [SP "(" fetch-modifier *(SP
// fetch-modifier) ")"]. For UID FETCH a UID item is added when missing
// (RFC 9051 §6.4.9: UID FETCH answers always carry the UID).
func (p *Parser) Fetch(uid bool) (goimap.NumSet, *FetchRequest, error) {
	set, err := p.NumSet(uid)
	if err != nil {
		return nil, nil, err
	}
	if err := p.SP(); err != nil {
		return nil, nil, err
	}
	req := &FetchRequest{}
	if p.Peek() == '(' {
		err := p.parenList(false, func() error {
			att, err := p.fetchAtt()
			req.Atts = append(req.Atts, att)
			return err
		})
		if err != nil {
			return nil, nil, err
		}
	} else {
		start := p.pos
		name := strings.ToUpper(p.span(isFetchNameChar))
		if kinds, ok := macros[name]; ok {
			for _, k := range kinds {
				req.Atts = append(req.Atts, FetchAtt{Kind: k})
			}
		} else {
			p.pos = start
			att, err := p.fetchAtt()
			if err != nil {
				return nil, nil, err
			}
			req.Atts = append(req.Atts, att)
		}
	}
	if p.Accept(' ') {
		if err := p.fetchModifiers(req); err != nil {
			return nil, nil, err
		}
	}
	if err := p.End(); err != nil {
		return nil, nil, err
	}
	if req.Vanished && !uid {
		return nil, nil, p.errf("VANISHED needs UID FETCH")
	}
	if req.Vanished && req.ChangedSince == 0 {
		// RFC 7162 §3.2.6.
		return nil, nil, p.errf("VANISHED needs CHANGEDSINCE")
	}
	if uid && !hasKind(req.Atts, FetchUID) {
		req.Atts = append([]FetchAtt{{Kind: FetchUID}}, req.Atts...)
	}
	return set, req, nil
}

func hasKind(atts []FetchAtt, k FetchKind) bool {
	for _, a := range atts {
		if a.Kind == k {
			return true
		}
	}
	return false
}

// fetchModifiers reads "(" fetch-modifier *(SP fetch-modifier) ")":
// CHANGEDSINCE mod-sequence-value (RFC 7162 §3.1.4.1) and VANISHED
// (§3.2.6), in either order.
func (p *Parser) fetchModifiers(req *FetchRequest) error {
	return p.parenList(false, func() error {
		start := p.pos
		kw, err := p.keyword()
		if err != nil {
			return err
		}
		switch kw {
		case "CHANGEDSINCE":
			if err := p.SP(); err != nil {
				return err
			}
			n, err := p.Number64()
			if err != nil {
				return err
			}
			if n == 0 {
				return p.errAt(start, "CHANGEDSINCE needs a positive mod-sequence")
			}
			req.ChangedSince = n
		case "VANISHED":
			req.Vanished = true
		default:
			return p.errAt(start, "unknown fetch modifier")
		}
		return nil
	})
}

// isFetchNameChar: the letters, digits and dots of item names.
func isFetchNameChar(c byte) bool {
	return c == '.' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// fetchAtt reads one fetch-att.
func (p *Parser) fetchAtt() (FetchAtt, error) {
	start := p.pos
	name := strings.ToUpper(p.span(isFetchNameChar))
	if p.Peek() != '[' {
		k, ok := simpleAtts[name]
		if !ok {
			return FetchAtt{}, p.errAt(start, "unknown fetch item")
		}
		att := FetchAtt{Kind: k}
		switch k { // the sections they stand for, for the caller's ease
		case FetchRFC822Header:
			att.Section = Section{Specifier: "HEADER", Peek: true}
		case FetchRFC822Text:
			att.Section = Section{Specifier: "TEXT"}
		}
		return att, nil
	}
	var att FetchAtt
	var err error
	switch name {
	case "BODY", "BODY.PEEK":
		att.Kind = FetchSection
		att.Section, err = p.section()
		att.Section.Peek = name == "BODY.PEEK"
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		att.Kind = FetchBinary
		if name == "BINARY.SIZE" {
			att.Kind = FetchBinarySize
		}
		att.Section.Part, err = p.sectionBinary()
		att.Section.Peek = name == "BINARY.PEEK"
	default:
		return FetchAtt{}, p.errAt(start, "unknown fetch item")
	}
	if err != nil {
		return FetchAtt{}, err
	}
	if att.Kind != FetchBinarySize && p.Peek() == '<' {
		if att.Section.Partial, err = p.partial(); err != nil {
			return FetchAtt{}, err
		}
	}
	return att, nil
}

// section reads "[" [section-spec] "]".
func (p *Parser) section() (Section, error) {
	var s Section
	if err := p.Expect('['); err != nil {
		return s, err
	}
	if p.Accept(']') {
		return s, nil
	}
	if isDigit(p.Peek()) {
		part, err := p.sectionPart()
		if err != nil {
			return s, err
		}
		s.Part = part
		if p.Accept(']') {
			return s, nil
		}
		if err := p.Expect('.'); err != nil {
			return s, err
		}
	}
	start := p.pos
	spec := strings.ToUpper(p.span(isFetchNameChar))
	switch spec {
	case "HEADER", "TEXT":
	case "MIME":
		if len(s.Part) == 0 {
			return s, p.errAt(start, "MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if err := p.SP(); err != nil {
			return s, err
		}
		fields, err := p.headerList()
		if err != nil {
			return s, err
		}
		s.Fields = fields
	default:
		return s, p.errAt(start, "invalid section")
	}
	s.Specifier = spec
	return s, p.Expect(']')
}

// sectionPart reads nz-number *("." nz-number), stopping before a dot
// that is not followed by a digit.
func (p *Parser) sectionPart() ([]int, error) {
	var part []int
	for {
		n, err := p.nzNumber()
		if err != nil {
			return nil, err
		}
		if len(part) >= maxDepth {
			return nil, p.errf("section part too deep")
		}
		part = append(part, int(n))
		if p.Peek() != '.' || p.pos+1 >= len(p.b) || !isDigit(p.b[p.pos+1]) {
			return part, nil
		}
		p.pos++
	}
}

// sectionBinary reads "[" [section-part] "]" (RFC 3516).
func (p *Parser) sectionBinary() ([]int, error) {
	if err := p.Expect('['); err != nil {
		return nil, err
	}
	if p.Accept(']') {
		return nil, nil
	}
	part, err := p.sectionPart()
	if err != nil {
		return nil, err
	}
	return part, p.Expect(']')
}

// headerList reads "(" header-fld-name *(SP header-fld-name) ")".
func (p *Parser) headerList() ([]string, error) {
	var fields []string
	err := p.parenList(false, func() error {
		f, err := p.AString()
		fields = append(fields, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	return fields, nil
}

// partial reads "<" number "." nz-number ">"; a count of 0 is accepted.
func (p *Parser) partial() (*Partial, error) {
	if err := p.Expect('<'); err != nil {
		return nil, err
	}
	off, err := p.Number()
	if err != nil {
		return nil, err
	}
	if err := p.Expect('.'); err != nil {
		return nil, err
	}
	n, err := p.Number()
	if err != nil {
		return nil, err
	}
	return &Partial{Offset: off, Count: n}, p.Expect('>')
}
