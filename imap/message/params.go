package message

import (
	"bytes"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// isTSpecial reports the RFC 2045 §5.1 tspecials (and blanks).
func isTSpecial(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', ' ', '\t', '\r', '\n':
		return true
	}
	return c < 0x20 || c == 0x7f
}

// skipCFWS skips blanks and (nested) comments from i.
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			i = skipComment(s, i)
		default:
			return i
		}
	}
	return i
}

// skipComment skips the comment opening at s[i] == '(' (nested, with
// quoted pairs); an unterminated one runs to the end.
func skipComment(s string, i int) int {
	j, _ := commentSpan(s, i)
	return j
}

// commentSpan returns the end of the comment opening at s[i] and whether
// it is closed.
func commentSpan(s string, i int) (int, bool) {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return len(s), false
}

// mimeToken reads an RFC 2045 token from i.
func mimeToken(s string, i int) (string, int) {
	j := i
	for j < len(s) && !isTSpecial(s[j]) {
		j++
	}
	return s[i:j], j
}

// quotedString reads the quoted string opening at s[i] == '"', undoing
// quoted pairs; an unterminated one runs to the end.
func quotedString(s string, i int) (string, int) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), i + 1
		case '\r', '\n':
			// folding inside a quoted string
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), i
}

// parseContentType parses "type/subtype *(; param)". ok is false when
// there is no valid type/subtype.
func parseContentType(v string) (typ, sub string, params [][2]string, ok bool) {
	i := skipCFWS(v, 0)
	typ, i = mimeToken(v, i)
	i = skipCFWS(v, i)
	if typ == "" || i >= len(v) || v[i] != '/' {
		return "", "", nil, false
	}
	i = skipCFWS(v, i+1)
	sub, i = mimeToken(v, i)
	if sub == "" {
		return "", "", nil, false
	}
	return typ, sub, parseParams(v, i), true
}

// parseDisposition parses "value *(; param)" (Content-Disposition).
func parseDisposition(v string) (string, [][2]string) {
	i := skipCFWS(v, 0)
	d, i := mimeToken(v, i)
	return d, parseParams(v, i)
}

// parseParams parses "*(; name=value)" from i, tolerantly, and merges
// RFC 2231 continuations and extended values into decoded UTF-8 values.
func parseParams(s string, i int) [][2]string {
	var raw [][2]string
	for {
		i = skipCFWS(s, i)
		if i >= len(s) {
			break
		}
		if s[i] != ';' {
			j := strings.IndexByte(s[i:], ';')
			if j < 0 {
				break
			}
			i += j
		}
		i = skipCFWS(s, i+1)
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ';' {
			j++
		}
		name := strings.TrimSpace(s[i:j])
		i = j
		if i >= len(s) || s[i] != '=' || name == "" {
			continue
		}
		i = skipCFWS(s, i+1)
		var val string
		if i < len(s) && s[i] == '"' {
			val, i = quotedString(s, i)
		} else {
			j := i
			for j < len(s) && s[j] != ';' {
				j++
			}
			val = s[i:j]
			if k := strings.IndexByte(val, '('); k >= 0 {
				val = val[:k]
			}
			val = strings.TrimSpace(val)
			i = j
		}
		raw = append(raw, [2]string{name, val})
	}
	return merge2231(raw)
}

type contSeg struct {
	n   int
	ext bool
	val string
}

// merge2231 joins RFC 2231 parameter continuations (name*0, name*1*, ...)
// and decodes extended values (charset'language'%XX) into UTF-8. The
// merged parameter takes the place of its first segment.
func merge2231(raw [][2]string) [][2]string {
	has := false
	for _, p := range raw {
		if strings.IndexByte(p[0], '*') >= 0 {
			has = true
			break
		}
	}
	if !has {
		return raw
	}
	out := make([][2]string, 0, len(raw))
	segs := map[string][]contSeg{}
	slot := map[string]int{}
	for _, p := range raw {
		name := p[0]
		star := strings.IndexByte(name, '*')
		if star <= 0 {
			out = append(out, p)
			continue
		}
		base, rest := name[:star], name[star+1:]
		ext := strings.HasSuffix(name, "*")
		if ext && len(rest) > 0 {
			rest = rest[:len(rest)-1]
		}
		n := 0
		if rest != "" {
			v, err := strconv.Atoi(rest)
			if err != nil || v < 0 || v > 10000 {
				out = append(out, p)
				continue
			}
			n = v
		}
		key := strings.ToLower(base)
		if _, ok := slot[key]; !ok {
			slot[key] = len(out)
			out = append(out, [2]string{base, ""})
		}
		segs[key] = append(segs[key], contSeg{n, ext, p[1]})
	}
	for key, ss := range segs {
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].n < ss[b].n })
		var buf []byte
		cs := ""
		for k, sg := range ss {
			if k > 0 && sg.n == ss[k-1].n {
				continue
			}
			v := sg.val
			if sg.ext {
				if k == 0 {
					if q := strings.IndexByte(v, '\''); q >= 0 {
						if q2 := strings.IndexByte(v[q+1:], '\''); q2 >= 0 {
							cs = v[:q]
							v = v[q+1+q2+1:]
						}
					}
				}
				buf = append(buf, percentDecode(v)...)
			} else {
				buf = append(buf, v...)
			}
		}
		out[slot[key]][1] = string(toUTF8(cs, buf))
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, h<<4|l)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return b
}

// toUTF8 converts b from charset cs to UTF-8. An unknown charset or a
// failed conversion leaves b as it is; bytes that are still not UTF-8
// are then read as ISO-8859-1.
func toUTF8(cs string, b []byte) []byte {
	c := strings.ToLower(strings.TrimSpace(cs))
	switch c {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	default:
		if r, err := charset.Reader(c, bytes.NewReader(b)); err == nil {
			if out, err := io.ReadAll(r); err == nil {
				b = out
			}
		}
	}
	return latin1Fallback(b)
}

// latin1Fallback returns b if it is UTF-8, else b with each byte that
// is not part of a valid UTF-8 sequence read as ISO-8859-1.
func latin1Fallback(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/4)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			out = utf8.AppendRune(out, rune(b[0]))
			b = b[1:]
			continue
		}
		out = append(out, b[:n]...)
		b = b[n:]
	}
	return out
}
