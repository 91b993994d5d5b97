package message

import "strconv"

// appendString appends s as an IMAP string (RFC 9051 §4.3): a quoted
// string when every byte is 7-bit and neither CR nor LF, with " and \
// escaped, otherwise a literal {n}CRLF followed by the bytes. NUL bytes,
// which no IMAP string may hold, are dropped.
func appendString(dst []byte, s string) []byte {
	quotable := true
	hasNUL := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			hasNUL = true
		case c == '\r' || c == '\n' || c >= 0x80:
			quotable = false
		}
	}
	if hasNUL {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] != 0 {
				b = append(b, s[i])
			}
		}
		s = string(b)
	}
	if !quotable {
		dst = append(dst, '{')
		dst = strconv.AppendInt(dst, int64(len(s)), 10)
		dst = append(dst, "}\r\n"...)
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// appendNString appends NIL for an empty s, else s as a string.
func appendNString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "NIL"...)
	}
	return appendString(dst, s)
}

// UpperASCII upper-cases ASCII letters only (the i;ascii-casemap
// collation of RFC 4790, which SORT and BODYSTRUCTURE use).
func UpperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
