package message

import (
	"bytes"
	"strings"
)

// headerEnd returns the offset just past the blank line that ends the
// header block starting at start (RFC 5322 §2.1: CRLF CRLF, or bare LF
// LF), or end when there is none: then everything is header.
func headerEnd(msg []byte, start, end int) int {
	i := start
	for i < end {
		if msg[i] == '\n' {
			return i + 1
		}
		if msg[i] == '\r' && i+1 < end && msg[i+1] == '\n' {
			return i + 2
		}
		j := bytes.IndexByte(msg[i:end], '\n')
		if j < 0 {
			return end
		}
		i += j + 1
	}
	return end
}

// field is one header field: name as written (before the colon, trailing
// blanks removed), raw the whole field with its folded lines and line
// ends, value the bytes after the colon (still folded).
type field struct {
	name  []byte
	raw   []byte
	value []byte
}

// forEachField calls fn for each field of a header block, in order,
// until fn returns false. The blank line ending the block is not a
// field. A line without a colon is a field whose name is the whole line
// (it matches no real name).
func forEachField(h []byte, fn func(f field) bool) {
	i := 0
	for i < len(h) {
		// a blank line ends the block
		if h[i] == '\n' || (h[i] == '\r' && i+1 < len(h) && h[i+1] == '\n') {
			return
		}
		start := i
		// the field runs to the line end, plus continuation lines
		for {
			j := bytes.IndexByte(h[i:], '\n')
			if j < 0 {
				i = len(h)
				break
			}
			i += j + 1
			if i >= len(h) || (h[i] != ' ' && h[i] != '\t') {
				break
			}
		}
		raw := h[start:i]
		var f field
		f.raw = raw
		if c := bytes.IndexByte(raw, ':'); c >= 0 {
			f.name = bytes.TrimRight(raw[:c], " \t")
			f.value = raw[c+1:]
		} else {
			f.name = bytes.TrimRight(raw, "\r\n")
		}
		if !fn(f) {
			return
		}
	}
}

// unfold removes the line breaks of a folded value (RFC 5322 §2.2.3) and
// the leading blanks; the rest stays as written.
func unfold(v []byte) string {
	// one line: just trim
	if nl := bytes.IndexByte(v, '\n'); nl < 0 || nl == len(v)-1 {
		v = bytes.TrimRight(v, "\r\n")
		if bytes.IndexByte(v, '\n') < 0 {
			return string(bytes.TrimLeft(v, " \t"))
		}
	}
	var b strings.Builder
	b.Grow(len(v))
	i := 0
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	for ; i < len(v); i++ {
		c := v[i]
		if c == '\n' || (c == '\r' && i+1 < len(v) && v[i+1] == '\n') {
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	// leading blanks may have been on a continuation line
	return strings.TrimLeft(s, " \t")
}

func headerValues(h []byte, key string) []string {
	var vs []string
	forEachField(h, func(f field) bool {
		if f.value != nil && equalFoldASCII(f.name, key) {
			vs = append(vs, unfold(f.value))
		}
		return true
	})
	return vs
}

// appendFields appends the fields of h whose names are (not, if exclude)
// among names, then a blank line: HEADER.FIELDS[.NOT].
func appendFields(dst, h []byte, names []string, exclude bool) []byte {
	forEachField(h, func(f field) bool {
		in := false
		for _, n := range names {
			if equalFoldASCII(f.name, n) {
				in = true
				break
			}
		}
		if in != exclude {
			dst = append(dst, f.raw...)
			if !bytes.HasSuffix(f.raw, []byte("\n")) {
				dst = append(dst, "\r\n"...)
			}
		}
		return true
	})
	return append(dst, "\r\n"...)
}
