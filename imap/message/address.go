package message

import "strings"

// Address is one entry of an address list as IMAP shows it (RFC 9051
// §7.5.2 envelope): a mailbox, or a group's start (GroupStart, Mailbox
// the group name) or end (GroupEnd). Empty Name and ADL are NIL.
type Address struct {
	Name        string // display name, or the comment after an addr-spec; as written (not decoded)
	FromComment bool   // Name is a comment, not a display name (RFC 5957 §2 display sorts ignore it)
	ADL         string // obsolete source route, "@a,@b"
	Mailbox     string // local part, quotes removed
	Host        string // domain ("" when the address has none)
	GroupStart  bool
	GroupEnd    bool
}

type tokKind uint8

const (
	tWord    tokKind = iota // atom, dot-atom or quoted string (text unquoted)
	tLiteral                // domain literal, brackets kept
	tComment                // comment, text without the outer parentheses
	tSpecial                // one of < > : ; , @
)

type addrTok struct {
	kind tokKind
	c    byte
	text string
}

// lexAddress splits an address field value into RFC 5322 tokens. It
// never fails: unterminated quotes, comments and literals run to the end.
func lexAddress(s string) []addrTok {
	var toks []addrTok
	i := 0
	for i < len(s) {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			j, closed := commentSpan(s, i)
			inner := s[i+1 : j]
			if closed {
				inner = inner[:len(inner)-1]
			}
			toks = append(toks, addrTok{kind: tComment, text: strings.TrimSpace(unquotePairs(inner))})
			i = j
		case '"':
			t, j := quotedString(s, i)
			toks = append(toks, addrTok{kind: tWord, text: t, c: '"'})
			i = j
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s)
			} else {
				j = i + j + 1
			}
			toks = append(toks, addrTok{kind: tLiteral, text: s[i:j]})
			i = j
		case '<', '>', ':', ';', ',', '@':
			toks = append(toks, addrTok{kind: tSpecial, c: c})
			i++
		case ')':
			i++ // stray
		default:
			j := i
			for j < len(s) && !addrSpecial(s[j]) {
				j++
			}
			toks = append(toks, addrTok{kind: tWord, text: s[i:j]})
			i = j
		}
	}
	return toks
}

func addrSpecial(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '(', ')', '"', '[', '<', '>', ':', ';', ',', '@':
		return true
	}
	return false
}

func unquotePairs(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseAddressList parses an address-list field value (RFC 5322 §3.4,
// with the obsolete syntax of §4.4: routes, empty list elements, CFWS
// anywhere). Garbage gives a best-effort answer in linear time.
func ParseAddressList(value string) []Address {
	toks := lexAddress(value)
	var out []Address
	inGroup := false
	i := 0
	for i < len(toks) {
		var phrase []addrTok
		var a Address
		have := false
		comment := ""
		groupEnd := false
	element:
		for i < len(toks) {
			t := toks[i]
			switch t.kind {
			case tComment:
				if t.text != "" {
					comment = t.text
				}
				i++
				continue
			case tWord, tLiteral:
				if !have {
					phrase = append(phrase, t)
				}
				i++
				continue
			}
			switch t.c {
			case ',':
				i++
				break element
			case ';':
				i++
				if inGroup {
					groupEnd = true
					break element
				}
			case ':':
				i++
				if !inGroup && !have {
					out = append(out, Address{Mailbox: joinWords(phrase, " "), GroupStart: true})
					inGroup = true
					phrase = nil
					comment = ""
				}
			case '<':
				if have {
					i = skipPast(toks, i+1, '>')
					continue
				}
				a, i = parseAngle(toks, i+1)
				a.Name = joinWords(phrase, " ")
				phrase, have = nil, true
			case '@':
				i++
				if have {
					continue
				}
				var host, c string
				host, i, c = parseDomain(toks, i)
				if c != "" {
					comment = c
				}
				a = Address{Mailbox: joinWords(phrase, ""), Host: host}
				phrase, have = nil, true
			default: // stray '>'
				i++
			}
		}
		if !have && len(phrase) > 0 {
			a, have = Address{Mailbox: joinWords(phrase, "")}, true
		}
		if have && a.Mailbox == "" && a.Host == "" && a.ADL == "" {
			have = false // "<>" names no one
		}
		if have {
			if a.Name == "" && comment != "" {
				a.Name, a.FromComment = comment, true
			}
			out = append(out, a)
		}
		if groupEnd {
			out = append(out, Address{GroupEnd: true})
			inGroup = false
		}
	}
	if inGroup {
		out = append(out, Address{GroupEnd: true})
	}
	return out
}

func joinWords(ws []addrTok, sep string) string {
	switch len(ws) {
	case 0:
		return ""
	case 1:
		return ws[0].text
	}
	var b strings.Builder
	for k, w := range ws {
		if k > 0 {
			b.WriteString(sep)
		}
		b.WriteString(w.text)
	}
	return b.String()
}

func skipPast(toks []addrTok, i int, c byte) int {
	for i < len(toks) {
		if toks[i].kind == tSpecial && toks[i].c == c {
			return i + 1
		}
		i++
	}
	return i
}

// parseDomain reads a domain (dot-atoms, literals, CFWS between) from i.
// Comments are skipped; the last one is returned too.
func parseDomain(toks []addrTok, i int) (dom string, next int, comment string) {
	var b strings.Builder
	for i < len(toks) {
		switch toks[i].kind {
		case tWord, tLiteral:
			b.WriteString(toks[i].text)
		case tComment:
			if toks[i].text != "" {
				comment = toks[i].text
			}
		default:
			return b.String(), i, comment
		}
		i++
	}
	return b.String(), i, comment
}

// parseAngle reads an angle-addr after its "<": an optional obsolete
// route "@a,@b:", then addr-spec, up to ">" (or the end).
func parseAngle(toks []addrTok, i int) (Address, int) {
	var a Address
	// obs-route
	j := i
	for j < len(toks) && toks[j].kind == tComment {
		j++
	}
	if j < len(toks) && toks[j].kind == tSpecial && toks[j].c == '@' {
		var route []string
		k := j
		for k < len(toks) {
			t := toks[k]
			if t.kind == tSpecial && t.c == '@' {
				var d string
				d, k, _ = parseDomain(toks, k+1)
				route = append(route, "@"+d)
				continue
			}
			if t.kind == tSpecial && t.c == ',' || t.kind == tComment {
				k++
				continue
			}
			break
		}
		if k < len(toks) && toks[k].kind == tSpecial && toks[k].c == ':' {
			a.ADL = strings.Join(route, ",")
			i = k + 1
		} else {
			// "<@domain>": no local part
			i = k
			a.Host = strings.TrimPrefix(strings.Join(route, ","), "@")
			return a, skipPast(toks, i, '>')
		}
	}
	var local []addrTok
	for i < len(toks) {
		t := toks[i]
		switch t.kind {
		case tWord, tLiteral:
			local = append(local, t)
			i++
			continue
		case tComment:
			i++
			continue
		}
		switch t.c {
		case '@':
			a.Mailbox = joinWords(local, "")
			a.Host, i, _ = parseDomain(toks, i+1)
			return a, skipPast(toks, i, '>')
		case '>':
			a.Mailbox = joinWords(local, "")
			return a, i + 1
		}
		i++ // garbage inside the brackets
	}
	a.Mailbox = joinWords(local, "")
	return a, i
}

// appendAddressList appends an IMAP address list, NIL when empty.
func appendAddressList(dst []byte, as []Address) []byte {
	if len(as) == 0 {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	for _, a := range as {
		dst = append(dst, '(')
		switch {
		case a.GroupEnd:
			dst = append(dst, "NIL NIL NIL NIL"...)
		case a.GroupStart:
			dst = append(dst, "NIL NIL "...)
			dst = appendString(dst, a.Mailbox)
			dst = append(dst, " NIL"...)
		default:
			dst = appendNString(dst, a.Name)
			dst = append(dst, ' ')
			dst = appendNString(dst, a.ADL)
			dst = append(dst, ' ')
			dst = appendString(dst, a.Mailbox)
			dst = append(dst, ' ')
			dst = appendString(dst, a.Host)
		}
		dst = append(dst, ')')
	}
	return append(dst, ')')
}

// AddressSearchText renders an address field value for SEARCH FROM/TO/
// CC/BCC substring matching: every address as `name <mailbox@host>`
// (names decoded, RFC 2047), groups as `group: ...;`, joined by ", ".
// So "<user (c)@ (c) domain.org>" matches "user@domain.org".
func AddressSearchText(value string) string {
	var b strings.Builder
	for k, a := range ParseAddressList(value) {
		if k > 0 && !a.GroupEnd {
			b.WriteString(", ")
		}
		switch {
		case a.GroupStart:
			b.WriteString(DecodeHeader(a.Mailbox))
			b.WriteString(":")
		case a.GroupEnd:
			b.WriteString(";")
		default:
			if a.Name != "" {
				b.WriteString(DecodeHeader(a.Name))
				b.WriteString(" <")
			}
			if a.ADL != "" {
				b.WriteString(a.ADL + ":")
			}
			b.WriteString(a.Mailbox)
			if a.Host != "" {
				b.WriteString("@" + a.Host)
			}
			if a.Name != "" {
				b.WriteString(">")
			}
		}
	}
	return b.String()
}
