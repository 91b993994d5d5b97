package message

import (
	"strconv"
	"strings"
)

// A multipart must hold at least one body (RFC 9051 body-type-mpart);
// one without parts (no boundary, boundary never seen, past the limits)
// shows an empty text part, as Dovecot does.
const (
	emptyBody          = `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0)`
	emptyBodyStructure = `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)`
)

func appendBodyStructure(dst, msg []byte, p *Part, ext bool) []byte {
	if p == nil {
		if ext {
			return append(dst, emptyBodyStructure...)
		}
		return append(dst, emptyBody...)
	}
	if isMultipartType(p) {
		dst = append(dst, '(')
		if len(p.Children) == 0 {
			if ext {
				dst = append(dst, emptyBodyStructure...)
			} else {
				dst = append(dst, emptyBody...)
			}
		}
		for _, c := range p.Children {
			dst = appendBodyStructure(dst, msg, c, ext)
		}
		dst = append(dst, ' ')
		dst = appendString(dst, UpperASCII(p.Subtype))
		if ext {
			dst = append(dst, ' ')
			dst = appendParams(dst, p.Params, false)
			dst = appendDispLangLoc(dst, p)
		}
		return append(dst, ')')
	}
	hs, bs, e := span(p, len(msg))
	_ = hs
	text := isTextType(p)
	dst = append(dst, '(')
	dst = appendString(dst, UpperASCII(p.Type))
	dst = append(dst, ' ')
	dst = appendString(dst, UpperASCII(p.Subtype))
	dst = append(dst, ' ')
	dst = appendParams(dst, p.Params, text)
	dst = append(dst, ' ')
	dst = appendNString(dst, p.ID)
	dst = append(dst, ' ')
	dst = appendNString(dst, p.Description)
	dst = append(dst, ' ')
	enc := p.Encoding
	if enc == "" {
		enc = "7BIT"
	}
	dst = appendString(dst, UpperASCII(enc))
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(e-bs), 10)
	switch {
	case text:
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(p.Lines), 10)
	case isMessageType(p):
		dst = append(dst, ' ')
		if len(p.Children) == 1 {
			c := p.Children[0]
			chs, cbs, _ := span(c, len(msg))
			dst = appendEnvelope(dst, msg[chs:cbs])
			dst = append(dst, ' ')
			dst = appendBodyStructure(dst, msg, c, ext)
		} else {
			// not parsed (past the limits): its envelope still, and an
			// empty body
			dst = appendEnvelope(dst, msg[bs:headerEnd(msg, bs, e)])
			dst = append(dst, ' ')
			if ext {
				dst = append(dst, emptyBodyStructure...)
			} else {
				dst = append(dst, emptyBody...)
			}
		}
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(p.Lines), 10)
	}
	if ext {
		dst = append(dst, ' ')
		dst = appendNString(dst, p.MD5)
		dst = appendDispLangLoc(dst, p)
	}
	return append(dst, ')')
}

// appendParams appends a body-fld-param; text parts without a charset
// get ("CHARSET" "us-ascii"), the RFC 2045 §5.2 default.
func appendParams(dst []byte, params [][2]string, text bool) []byte {
	needCharset := text
	if needCharset {
		for _, kv := range params {
			if strings.EqualFold(kv[0], "charset") {
				needCharset = false
				break
			}
		}
	}
	if len(params) == 0 && !needCharset {
		return append(dst, "NIL"...)
	}
	dst = append(dst, '(')
	for i, kv := range params {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendString(dst, UpperASCII(kv[0]))
		dst = append(dst, ' ')
		dst = appendString(dst, kv[1])
	}
	if needCharset {
		if len(params) > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, `"CHARSET" "us-ascii"`...)
	}
	return append(dst, ')')
}

// appendDispLangLoc appends " disposition language location".
func appendDispLangLoc(dst []byte, p *Part) []byte {
	dst = append(dst, ' ')
	if p.Disposition == "" {
		dst = append(dst, "NIL"...)
	} else {
		dst = append(dst, '(')
		dst = appendString(dst, UpperASCII(p.Disposition))
		dst = append(dst, ' ')
		dst = appendParams(dst, p.DispParams, false)
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	if len(p.Language) == 0 {
		dst = append(dst, "NIL"...)
	} else {
		dst = append(dst, '(')
		for i, l := range p.Language {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendString(dst, l)
		}
		dst = append(dst, ')')
	}
	dst = append(dst, ' ')
	return appendNString(dst, p.Location)
}
