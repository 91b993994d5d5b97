package message

import (
	"bytes"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes the RFC 2047 encoded words of a field value. A
// word that does not decode stays as written; blanks between two
// encoded words go (RFC 2047 §6.2); bytes that are not UTF-8 are read as
// ISO-8859-1.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return string(latin1Fallback([]byte(v)))
	}
	var b strings.Builder
	b.Grow(len(v))
	pendingBlank := "" // blanks after an encoded word, dropped if another follows
	afterWord := false
	i := 0
	for i < len(v) {
		k := strings.Index(v[i:], "=?")
		if k < 0 {
			break
		}
		start := i + k
		word, end, ok := encodedWord(v, start)
		var dec string
		if ok {
			var err error
			dec, err = wordDecoder.Decode(word)
			ok = err == nil
		}
		if !ok {
			b.WriteString(pendingBlank)
			b.WriteString(v[i : start+2])
			pendingBlank, afterWord = "", false
			i = start + 2
			continue
		}
		gap := v[i:start]
		if !(afterWord && isBlank(gap)) {
			b.WriteString(pendingBlank)
			b.WriteString(gap)
		}
		b.WriteString(string(latin1Fallback([]byte(dec))))
		pendingBlank, afterWord = "", true
		i = end
		// blanks after the word wait for what follows
		j := i
		for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			j++
		}
		pendingBlank = v[i:j]
		i = j
	}
	b.WriteString(pendingBlank)
	b.WriteString(string(latin1Fallback([]byte(v[i:]))))
	return b.String()
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return false
		}
	}
	return true
}

// encodedWord finds the encoded word =?charset?e?text?= at v[start:]
// and returns it in the form mime.WordDecoder takes (an RFC 2231
// language suffix "*lang" on the charset removed).
func encodedWord(v string, start int) (word string, end int, ok bool) {
	i := start + 2
	q1 := strings.IndexByte(v[i:], '?')
	if q1 <= 0 {
		return "", 0, false
	}
	cs := v[i : i+q1]
	if strings.ContainsAny(cs, " \t\r\n=") {
		return "", 0, false
	}
	i += q1 + 1
	if i+2 > len(v) || v[i+1] != '?' {
		return "", 0, false
	}
	enc := v[i]
	i += 2
	q2 := strings.IndexByte(v[i:], '?')
	if q2 < 0 || i+q2+1 >= len(v) || v[i+q2+1] != '=' {
		return "", 0, false
	}
	text := v[i : i+q2]
	end = i + q2 + 2
	if star := strings.IndexByte(cs, '*'); star >= 0 {
		cs = cs[:star]
	}
	return "=?" + cs + "?" + string(enc) + "?" + text + "?=", end, true
}

// foldRune maps r to the smallest rune of its simple case folding orbit.
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < m {
			m = f
		}
	}
	return m
}

// fold case-folds b for matching; bytes that are not UTF-8 stay as they are.
func fold(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			out = append(out, c)
			i++
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

func paramValue(params [][2]string, name string) string {
	for _, kv := range params {
		if strings.EqualFold(kv[0], name) {
			return kv[1]
		}
	}
	return ""
}

// headerText is a header block with every value unfolded and decoded,
// one "Name: value" line per field.
func headerText(h []byte) []byte {
	var out []byte
	forEachField(h, func(f field) bool {
		out = append(out, f.name...)
		if f.value != nil {
			out = append(out, ": "...)
			out = append(out, decodeHeader(unfold(f.value))...)
		}
		out = append(out, '\n')
		return true
	})
	return out
}

func textContains(msg []byte, root *Part, needle string, headers bool) bool {
	if needle == "" {
		return true
	}
	if root == nil {
		return false
	}
	n := fold([]byte(needle))
	var walk func(p *Part) bool
	walk = func(p *Part) bool {
		hs, bs, e := span(p, len(msg))
		if headers && bytes.Contains(fold(headerText(msg[hs:bs])), n) {
			return true
		}
		switch {
		case isMultipartType(p) && len(p.Children) > 0:
			for _, c := range p.Children {
				if walk(c) {
					return true
				}
			}
			return false
		case isMessageType(p) && len(p.Children) == 1:
			return walk(p.Children[0])
		case isTextType(p), isMultipartType(p), isMessageType(p):
			// text, or composite content not split: search it as text
		default:
			return false
		}
		body, err := decodeCTE(p.Encoding, msg[bs:e])
		if err != nil {
			body = msg[bs:e]
		}
		body = toUTF8(paramValue(p.Params, "charset"), body)
		return bytes.Contains(fold(body), n)
	}
	return walk(root)
}
