package wire

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3, kept by RFC 9051 §5.1 for clients
// without UTF8=ACCEPT): printable US-ASCII stands for itself except "&",
// which is "&-"; every other run of characters is "&", the modified
// BASE64 (RFC 2152 with "," for "/", no padding) of its UTF-16BE form, and
// "-".

const mb64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// mb64val maps a byte to its modified BASE64 value, or -1.
var mb64val = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(mb64); i++ {
		t[mb64[i]] = int8(i)
	}
	return t
}()

var errMUTF7 = errors.New("invalid modified UTF-7")

// printable reports whether c is printable US-ASCII, which modified UTF-7
// must send as itself (RFC 3501 §5.1.3).
func printable(c rune) bool { return c >= 0x20 && c <= 0x7e }

// EncodeMUTF7 converts a mailbox name to modified UTF-7 (RFC 3501
// §5.1.3). Invalid UTF-8 in s is encoded as U+FFFD.
func EncodeMUTF7(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '&' || !printable(rune(c)) {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		writeMB64(&b, run)
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s { // invalid UTF-8 comes as U+FFFD
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case printable(r):
			flush()
			b.WriteRune(r)
		default:
			run = utf16.AppendRune(run, r)
		}
	}
	flush()
	return b.String()
}

// writeMB64 writes the modified BASE64 of the UTF-16BE units, unpadded.
func writeMB64(b *strings.Builder, units []uint16) {
	var acc uint32
	bits := 0
	for _, u := range units {
		for _, octet := range [2]byte{byte(u >> 8), byte(u)} {
			acc = acc<<8 | uint32(octet)
			bits += 8
			for bits >= 6 {
				bits -= 6
				b.WriteByte(mb64[(acc>>bits)&0x3f])
			}
		}
	}
	if bits > 0 {
		b.WriteByte(mb64[(acc<<(6-bits))&0x3f])
	}
}

// DecodeMUTF7 decodes a modified UTF-7 name. It refuses anything an
// encoder following RFC 3501 §5.1.3 could not have produced: 8-bit or
// control bytes, a shift without its "-", bad or non-zero trailing BASE64
// bits, an odd number of octets, lone surrogates, and shifted printable
// US-ASCII.
func DecodeMUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if !printable(rune(s[i])) {
				return "", errMUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !printable(rune(c)) {
			return "", errMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errMUTF7 // unterminated shift
		}
		enc := s[i+1 : i+1+end]
		i += end + 1 // at the '-'
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		if err := decodeMB64(&b, enc); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func decodeMB64(b *strings.Builder, enc string) error {
	var acc uint32
	bits := 0
	var units []uint16
	var pending [2]byte
	np := 0
	for i := 0; i < len(enc); i++ {
		v := mb64val[enc[i]]
		if v < 0 {
			return errMUTF7
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			pending[np] = byte(acc >> bits)
			np++
			if np == 2 {
				units = append(units, uint16(pending[0])<<8|uint16(pending[1]))
				np = 0
			}
		}
		acc &= 1<<bits - 1
	}
	// Canonical form: fewer than 6 leftover bits, all zero, and whole
	// UTF-16 units.
	if np != 0 || bits >= 6 || acc != 0 {
		return errMUTF7
	}
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		switch {
		case utf16.IsSurrogate(u):
			if u >= 0xdc00 || i+1 >= len(units) {
				return errMUTF7 // lone low or high surrogate
			}
			r := utf16.DecodeRune(u, rune(units[i+1]))
			if r == utf8.RuneError {
				return errMUTF7
			}
			i++
			b.WriteRune(r)
		case printable(u):
			return errMUTF7 // must have been sent as itself
		default:
			b.WriteRune(u)
		}
	}
	return nil
}
