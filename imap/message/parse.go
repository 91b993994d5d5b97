package message

import (
	"bytes"
	"sort"
	"strings"
)

const (
	defaultMaxDepth = 64
	defaultMaxParts = 10000
)

type parser struct {
	msg      []byte
	maxDepth int
	maxParts int
	nparts   int
	counted  []*Part // parts whose Lines must be counted
	dash     map[string][]int
}

func parse(msg []byte, lim Limits) *Part {
	ps := &parser{msg: msg, maxDepth: lim.MaxDepth, maxParts: lim.MaxParts}
	if ps.maxDepth <= 0 {
		ps.maxDepth = defaultMaxDepth
	}
	if ps.maxParts <= 0 {
		ps.maxParts = defaultMaxParts
	}
	root := &Part{}
	ps.nparts = 1
	ps.parsePart(root, 0, len(msg), 0, false)
	ps.countLines()
	return root
}

// parsePart fills pt from msg[start:end]: its header, its content
// fields and, within the limits, its children.
func (ps *parser) parsePart(pt *Part, start, end, depth int, digest bool) {
	pt.HeaderStart = start
	pt.BodyStart = headerEnd(ps.msg, start, end)
	pt.End = end
	ps.fields(pt, digest)
	switch {
	case isMultipartType(pt):
		if depth < ps.maxDepth {
			ps.split(pt, depth)
		}
	case isMessageType(pt):
		if depth < ps.maxDepth && ps.nparts < ps.maxParts {
			ps.nparts++
			child := &Part{}
			ps.parsePart(child, pt.BodyStart, end, depth+1, false)
			pt.Children = []*Part{child}
		}
	}
	if isTextType(pt) || isMessageType(pt) {
		ps.counted = append(ps.counted, pt)
	}
}

func isMultipartType(p *Part) bool { return strings.EqualFold(p.Type, "multipart") }

func isMessageType(p *Part) bool {
	return strings.EqualFold(p.Type, "message") &&
		(strings.EqualFold(p.Subtype, "rfc822") || strings.EqualFold(p.Subtype, "global"))
}

func isTextType(p *Part) bool { return strings.EqualFold(p.Type, "text") }

// fields reads the Content-* fields of pt's header (the first of each).
func (ps *parser) fields(pt *Part, digest bool) {
	pt.Type, pt.Subtype = "text", "plain"
	if digest {
		pt.Type, pt.Subtype = "message", "rfc822"
	}
	pt.Encoding = "7BIT"
	var seen uint
	forEachField(ps.msg[pt.HeaderStart:pt.BodyStart], func(f field) bool {
		if f.value == nil || len(f.name) < 8 || !equalFoldASCII(f.name[:8], "content-") {
			return true
		}
		bit := uint(0)
		for k, n := range contentFields {
			if equalFoldASCII(f.name[8:], n) {
				bit = 1 << k
				break
			}
		}
		if bit == 0 {
			return true
		}
		if seen&bit != 0 {
			return true
		}
		seen |= bit
		v := unfold(f.value)
		switch bit {
		case 1:
			if t, s, params, ok := parseContentType(v); ok {
				pt.Type, pt.Subtype, pt.Params = t, s, params
			} else {
				pt.Type, pt.Subtype = "text", "plain"
			}
		case 2:
			if e, _ := mimeToken(v, skipCFWS(v, 0)); e != "" {
				pt.Encoding = e
			}
		case 4:
			pt.ID = strings.TrimSpace(v)
		case 8:
			pt.Description = strings.TrimSpace(v)
		case 16:
			pt.Disposition, pt.DispParams = parseDisposition(v)
		case 32:
			pt.Language = parseLanguage(v)
		case 64:
			// RFC 2557 §4.4.1: folding white space is no part of the URI
			pt.Location = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' {
					return -1
				}
				return r
			}, v)
		case 128:
			pt.MD5 = strings.TrimSpace(v)
		}
		return true
	})
}

// contentFields are the Content-* fields a part's structure shows, in
// the bit order fields uses.
var contentFields = [...]string{"type", "transfer-encoding", "id", "description", "disposition", "language", "location", "md5"}

// parseLanguage splits a Content-Language list (RFC 3282), comments
// dropped.
func parseLanguage(v string) []string {
	var out []string
	i := 0
	for i < len(v) {
		i = skipCFWS(v, i)
		j := i
		for j < len(v) && v[j] != ',' && v[j] != '(' && v[j] != ' ' && v[j] != '\t' {
			j++
		}
		if j > i {
			out = append(out, v[i:j])
		}
		i = skipCFWS(v, j)
		if i < len(v) && v[i] == ',' {
			i++
		} else if i < len(v) && j == i {
			i++
		}
	}
	return out
}

// boundary returns the boundary parameter of a multipart part.
func boundary(p *Part) string {
	for _, kv := range p.Params {
		if strings.EqualFold(kv[0], "boundary") {
			return kv[1]
		}
	}
	return ""
}

// split finds the body parts of a multipart (RFC 2046 §5.1.1): the
// delimiter "--boundary" at a line start, followed by blanks only, or
// "--boundary--" (blanks after it too) closing; the line end before a
// delimiter belongs to it; preamble and epilogue are no part.
//
// Delimiter lines come from an index of the message's "--" lines built
// once, so each level costs the lines that are its own delimiters, not
// a scan of its body: deep nesting stays linear.
func (ps *parser) split(pt *Part, depth int) {
	b := boundary(pt)
	if b == "" {
		return
	}
	msg := ps.msg
	digest := strings.EqualFold(pt.Subtype, "digest")
	end := pt.End
	next := ps.scanDelims(b, pt.BodyStart, end)
	if len(b) <= maxIndexedKey-2 && (ps.dash != nil || end-pt.BodyStart > scanLimit) {
		next = ps.indexedDelims(b, pt.BodyStart, end)
	}
	var children []*Part
	addPart := func(s, e int) bool {
		if ps.nparts >= ps.maxParts {
			return false
		}
		ps.nparts++
		c := &Part{}
		ps.parsePart(c, s, e, depth+1, digest)
		children = append(children, c)
		return true
	}
	partStart := -1 // start of the current part, -1 before the first delimiter
	for {
		c, closing, ok := next()
		if !ok {
			break
		}
		lineEnd := end // first byte after the delimiter line
		if nl := bytes.IndexByte(msg[c:end], '\n'); nl >= 0 {
			lineEnd = c + nl + 1
		}
		if partStart >= 0 {
			e := c
			if e > partStart && msg[e-1] == '\n' {
				e--
				if e > partStart && msg[e-1] == '\r' {
					e--
				}
			}
			if !addPart(partStart, e) {
				partStart = -1
				break
			}
		}
		if closing {
			partStart = -1
			break
		}
		partStart = lineEnd
	}
	if partStart >= 0 {
		addPart(partStart, end)
	}
	pt.Children = children
}

// maxIndexedKey bounds the "--" line contents the index keeps; longer
// boundaries (RFC 2046 allows 70 characters) are found by scanning.
const maxIndexedKey = 256

// scanLimit: a multipart body this small is scanned, not indexed (the
// index costs more than it saves on small messages).
const scanLimit = 16 << 10

// dashKey is the content of the line at s after its "--", trailing
// blanks removed, or false if the line is no candidate.
func dashKey(msg []byte, s int) ([]byte, bool) {
	e := len(msg)
	if nl := bytes.IndexByte(msg[s:], '\n'); nl >= 0 {
		e = s + nl
	}
	k := bytes.TrimRight(msg[s+2:e], " \t\r")
	return k, len(k) <= maxIndexedKey
}

// dashLines indexes the lines starting with "--" by their content.
func (ps *parser) dashLines() map[string][]int {
	if ps.dash != nil {
		return ps.dash
	}
	ps.dash = map[string][]int{}
	msg := ps.msg
	add := func(s int) {
		if k, ok := dashKey(msg, s); ok {
			ps.dash[string(k)] = append(ps.dash[string(k)], s)
		}
	}
	if bytes.HasPrefix(msg, []byte("--")) {
		add(0)
	}
	for pos := 0; pos < len(msg); {
		k := bytes.Index(msg[pos:], []byte("\n--"))
		if k < 0 {
			break
		}
		add(pos + k + 1)
		pos += k + 1
	}
	return ps.dash
}

// indexedDelims iterates the delimiter lines of boundary b in [start, end).
func (ps *parser) indexedDelims(b string, start, end int) func() (int, bool, bool) {
	idx := ps.dashLines()
	opens, closes := idx[b], idx[b+"--"]
	oi, ci := sort.SearchInts(opens, start), sort.SearchInts(closes, start)
	return func() (int, bool, bool) {
		o, c := end, end
		if oi < len(opens) {
			o = opens[oi]
		}
		if ci < len(closes) {
			c = closes[ci]
		}
		switch {
		case o < c:
			oi++
			return o, false, true
		case c < end:
			ci++
			return c, true, true
		}
		return 0, false, false
	}
}

// scanDelims iterates the delimiter lines of boundary b in [start, end)
// by searching the bytes.
func (ps *parser) scanDelims(b string, start, end int) func() (int, bool, bool) {
	msg := ps.msg
	delim := []byte("--" + b)
	pos := start
	return func() (int, bool, bool) {
		for pos < end {
			k := bytes.Index(msg[pos:end], delim)
			if k < 0 {
				pos = end
				break
			}
			c := pos + k
			pos = c + 1
			if c > 0 && msg[c-1] != '\n' {
				continue
			}
			key, _ := dashKey(msg[:end], c)
			switch {
			case string(key) == b:
				return c, false, true
			case string(key) == b+"--":
				return c, true, true
			}
		}
		return 0, false, false
	}
}

// countLines sets Lines (LF count of the body) of the collected parts in
// one pass over the message, however deeply they nest.
func (ps *parser) countLines() {
	if len(ps.counted) == 0 {
		return
	}
	pos := make([]int, 0, 2*len(ps.counted))
	for _, p := range ps.counted {
		pos = append(pos, p.BodyStart, p.End)
	}
	sort.Ints(pos)
	uniq := pos[:1]
	for _, v := range pos[1:] {
		if v != uniq[len(uniq)-1] {
			uniq = append(uniq, v)
		}
	}
	prefix := make([]int, len(uniq)) // LFs before uniq[i]
	n, last := 0, 0
	for i, v := range uniq {
		n += bytes.Count(ps.msg[last:v], []byte{'\n'})
		prefix[i] = n
		last = v
	}
	at := func(v int) int { return prefix[sort.SearchInts(uniq, v)] }
	for _, p := range ps.counted {
		p.Lines = at(p.End) - at(p.BodyStart)
	}
}
