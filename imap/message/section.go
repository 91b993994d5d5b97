package message

import (
	"bytes"
	"strings"
)

// find follows an IMAP part path (RFC 9051 §6.4.5). The parts of a
// message are its children when it is a split multipart, else just
// itself (its body) as part 1; a number after a message/rfc822 part
// counts the parts of the enclosed message.
func (p *Part) find(path []int) *Part {
	cur := p
	for i, n := range path {
		if cur == nil || n < 1 {
			return nil
		}
		var m *Part // the message whose parts n counts
		switch {
		case i == 0:
			m = cur
		case isMessageType(cur) && len(cur.Children) == 1:
			m = cur.Children[0]
		case isMultipartType(cur) && len(cur.Children) > 0:
			if n > len(cur.Children) {
				return nil
			}
			cur = cur.Children[n-1]
			continue
		default:
			return nil
		}
		if isMultipartType(m) && len(m.Children) > 0 {
			if n > len(m.Children) {
				return nil
			}
			cur = m.Children[n-1]
		} else if n == 1 {
			cur = m
		} else {
			return nil
		}
	}
	return cur
}

// span is a part's offsets clamped into a message of length n, so that
// a tree used with other bytes still slices safely.
func span(p *Part, n int) (hs, bs, e int) {
	clamp := func(v int) int {
		if v < 0 {
			return 0
		}
		if v > n {
			return n
		}
		return v
	}
	hs, bs, e = clamp(p.HeaderStart), clamp(p.BodyStart), clamp(p.End)
	if bs < hs {
		bs = hs
	}
	if e < bs {
		e = bs
	}
	return hs, bs, e
}

func section(msg []byte, root *Part, path []int, spec string, fields []string) ([]byte, bool) {
	if root == nil {
		return nil, false
	}
	p := root.find(path)
	if p == nil {
		return nil, false
	}
	hs, bs, e := span(p, len(msg))
	spec = strings.ToUpper(strings.TrimSpace(spec))
	switch spec {
	case "":
		if len(path) == 0 {
			return msg[hs:e], true
		}
		return msg[bs:e], true
	case "MIME":
		return msg[hs:bs], true
	case "HEADER", "TEXT", "HEADER.FIELDS", "HEADER.FIELDS.NOT":
	default:
		return nil, false
	}
	// These name the header or text of a message: the root, or the
	// message a message/rfc822 part encloses.
	if len(path) > 0 && isMessageType(p) {
		if len(p.Children) == 1 {
			hs, bs, e = span(p.Children[0], len(msg))
		} else {
			hs = bs
			bs = headerEnd(msg, hs, e)
		}
	}
	switch spec {
	case "HEADER":
		return msg[hs:bs], true
	case "TEXT":
		return msg[bs:e], true
	case "HEADER.FIELDS":
		return appendFields(nil, msg[hs:bs], fields, false), true
	default:
		return appendFields(nil, msg[hs:bs], fields, true), true
	}
}

func binary(msg []byte, root *Part, path []int) ([]byte, bool, error) {
	if root == nil {
		return nil, false, nil
	}
	p := root.find(path)
	if p == nil {
		return nil, false, nil
	}
	hs, bs, e := span(p, len(msg))
	if len(path) == 0 {
		return msg[hs:e], true, nil
	}
	b, err := decodeCTE(p.Encoding, msg[bs:e])
	return b, true, err
}

// decodeCTE undoes a Content-Transfer-Encoding (RFC 2045 §6).
func decodeCTE(enc string, b []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "7bit", "8bit", "binary":
		return b, nil
	case "base64":
		return decodeBase64(b), nil
	case "quoted-printable":
		return decodeQP(b), nil
	}
	return nil, ErrUnknownCTE
}

// decodeBase64 decodes leniently: characters outside the alphabet are
// skipped, decoding stops at padding, and a dangling last character is
// dropped.
func decodeBase64(b []byte) []byte {
	out := make([]byte, 0, len(b)*3/4)
	var acc uint32
	n := 0
	for _, c := range b {
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			// padding ends a group; what follows is another run
			switch n {
			case 2:
				out = append(out, byte(acc>>4))
			case 3:
				out = append(out, byte(acc>>10), byte(acc>>2))
			}
			acc, n = 0, 0
			continue
		default:
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	return out
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) leniently: trailing
// blanks of a line are transport padding, "=" ending a line (after
// padding) is a soft break, "=XX" (either case) an octet, and any other
// "=" stays as written. Line ends stay as written.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		var line, eol []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
			if len(line) >= 2 && line[len(line)-2] == '\r' {
				line, eol = line[:len(line)-2], []byte("\r\n")
			} else {
				line, eol = line[:len(line)-1], []byte("\n")
			}
		} else {
			line, b = b, nil
		}
		line = bytes.TrimRight(line, " \t")
		soft := len(line) > 0 && line[len(line)-1] == '='
		if soft {
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) {
				h, ok1 := unhex(line[i+1])
				l, ok2 := unhex(line[i+2])
				if ok1 && ok2 {
					out = append(out, h<<4|l)
					i += 2
					continue
				}
			}
			out = append(out, c)
		}
		if !soft {
			out = append(out, eol...)
		}
	}
	return out
}
