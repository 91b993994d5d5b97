package wire

import (
	"math"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// SEARCH (RFC 9051 §6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 5267
// CONTEXT=SEARCH, RFC 7162 MODSEQ), SORT and THREAD (RFC 5256, RFC 5957).

// Search reads [RETURN (opts) SP] [CHARSET charset SP] search-key *(SP
// search-key). RFC 4731 puts RETURN first; the other order is accepted.
func (p *Parser) Search(uid bool) (*SearchRequest, error) {
	req := &SearchRequest{}
	for i := 0; i < 2; i++ {
		switch {
		case req.Return == nil && p.acceptWord("RETURN"):
			ret, err := p.searchReturn()
			if err != nil {
				return nil, err
			}
			req.Return = ret
		case req.Charset == "" && p.acceptWord("CHARSET"):
			cs, err := p.charset()
			if err != nil {
				return nil, err
			}
			req.Charset = cs
		default:
			continue
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
	crit, err := p.searchProgram(uid)
	if err != nil {
		return nil, err
	}
	req.Criteria = *crit
	return req, nil
}

// acceptWord consumes kw and the SP after it when they come next, in any
// letter case.
func (p *Parser) acceptWord(kw string) bool {
	start := p.pos
	if p.acceptFold(kw) && p.Accept(' ') {
		return true
	}
	p.pos = start
	return false
}

// charset reads a charset (astring) and upper-cases it.
func (p *Parser) charset() (string, error) {
	cs, err := p.AString()
	if err != nil {
		return "", err
	}
	if cs == "" {
		return "", p.errf("empty charset")
	}
	return strings.ToUpper(cs), nil
}

// searchReturn reads "(" [search-return-opt *(SP search-return-opt)] ")"
// after "RETURN SP". RETURN () means ALL (RFC 4731 §3.1).
func (p *Parser) searchReturn() (*SearchReturn, error) {
	ret := &SearchReturn{}
	n := 0
	err := p.parenList(true, func() error {
		n++
		start := p.pos
		kw, err := p.keyword()
		if err != nil {
			return err
		}
		switch kw {
		case "MIN":
			ret.Min = true
		case "MAX":
			ret.Max = true
		case "ALL":
			ret.All = true
		case "COUNT":
			ret.Count = true
		case "SAVE":
			ret.Save = true
		case "UPDATE":
			ret.Update = true
		case "CONTEXT":
			ret.Context = true
		case "PARTIAL":
			if err := p.SP(); err != nil {
				return err
			}
			if ret.Partial, err = p.partialRange(); err != nil {
				return err
			}
		default:
			return p.errAt(start, "unknown search return option")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ret.All = ret.All || n == 0
	return ret, nil
}

// partialRange reads lo:hi, both positive or both negative (RFC 5267
// §4.4, RFC 9394): "4:2" becomes 2:4, "-1:-5" becomes -5:-1. Values
// beyond 31 bits are clamped.
func (p *Parser) partialRange() (*PartialRange, error) {
	start := p.pos
	bad := p.errAt(start, "invalid partial range")
	neg := p.Accept('-')
	lo, err := p.nzNumber()
	if err != nil || !p.Accept(':') {
		return nil, bad
	}
	if neg != p.Accept('-') {
		return nil, bad
	}
	hi, err := p.nzNumber()
	if err != nil {
		return nil, bad
	}
	r := &PartialRange{Lo: clamp31(lo), Hi: clamp31(hi)}
	if neg {
		r.Lo, r.Hi = -r.Lo, -r.Hi
	}
	if r.Lo > r.Hi {
		r.Lo, r.Hi = r.Hi, r.Lo
	}
	return r, nil
}

func clamp31(n uint32) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(n)
}

// searchProgram reads search-key *(SP search-key) to the end.
func (p *Parser) searchProgram(uid bool) (*goimap.SearchCriteria, error) {
	crit := &goimap.SearchCriteria{}
	for {
		if err := p.searchKey(crit, uid); err != nil {
			return nil, err
		}
		if p.AtEnd() {
			return crit, nil
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
}

// searchKeyAlone reads one key into a new criteria (for NOT and OR).
func (p *Parser) searchKeyAlone(uid bool) (*goimap.SearchCriteria, error) {
	c := &goimap.SearchCriteria{}
	if err := p.searchKey(c, uid); err != nil {
		return nil, err
	}
	return c, nil
}

var flagKeys = map[string]goimap.Flag{
	"ANSWERED": goimap.FlagAnswered,
	"DELETED":  goimap.FlagDeleted,
	"DRAFT":    goimap.FlagDraft,
	"FLAGGED":  goimap.FlagFlagged,
	"SEEN":     goimap.FlagSeen,
	"RECENT":   `\Recent`,
}

var notFlagKeys = map[string]goimap.Flag{
	"UNANSWERED": goimap.FlagAnswered,
	"UNDELETED":  goimap.FlagDeleted,
	"UNDRAFT":    goimap.FlagDraft,
	"UNFLAGGED":  goimap.FlagFlagged,
	"UNSEEN":     goimap.FlagSeen,
	"OLD":        `\Recent`,
}

var headerKeys = map[string]string{
	"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject",
}

// searchKey reads one search-key and ANDs it into crit.
func (p *Parser) searchKey(crit *goimap.SearchCriteria, uid bool) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer p.leave()
	c := p.Peek()
	switch {
	case c == '(':
		return p.parenList(false, func() error { return p.searchKey(crit, uid) })
	case c == '$' || c == '*' || isDigit(c):
		set, res, err := p.numSetRes(false)
		if err != nil {
			return err
		}
		andSet(crit, set, res)
		return nil
	}
	start := p.pos
	kw, err := p.keyword()
	if err != nil {
		return p.errAt(start, "expected search key")
	}
	if f, ok := flagKeys[kw]; ok {
		crit.Flag = append(crit.Flag, f)
		return nil
	}
	if f, ok := notFlagKeys[kw]; ok {
		crit.NotFlag = append(crit.NotFlag, f)
		return nil
	}
	switch kw {
	case "ALL":
		return nil
	case "NEW": // RFC 9051 §6.4.4: RECENT UNSEEN
		crit.Flag = append(crit.Flag, `\Recent`)
		crit.NotFlag = append(crit.NotFlag, goimap.FlagSeen)
		return nil
	}
	if err := p.SP(); err != nil {
		return err
	}
	if h, ok := headerKeys[kw]; ok {
		v, err := p.AString()
		if err != nil {
			return err
		}
		crit.Header = append(crit.Header, goimap.SearchCriteriaHeaderField{Key: h, Value: v})
		return nil
	}
	switch kw {
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		d, err := p.Date()
		if err != nil {
			return err
		}
		andDate(crit, kw, d)
	case "BODY", "TEXT":
		v, err := p.AString()
		if err != nil {
			return err
		}
		if kw == "BODY" {
			crit.Body = append(crit.Body, v)
		} else {
			crit.Text = append(crit.Text, v)
		}
	case "HEADER":
		k, err := p.AString()
		if err != nil {
			return err
		}
		if err := p.SP(); err != nil {
			return err
		}
		v, err := p.AString()
		if err != nil {
			return err
		}
		crit.Header = append(crit.Header, goimap.SearchCriteriaHeaderField{Key: k, Value: v})
	case "KEYWORD", "UNKEYWORD":
		f, err := p.keywordFlag()
		if err != nil {
			return err
		}
		if kw == "KEYWORD" {
			crit.Flag = append(crit.Flag, f)
		} else {
			crit.NotFlag = append(crit.NotFlag, f)
		}
	case "LARGER", "SMALLER":
		n, err := p.Number64()
		if err != nil {
			return err
		}
		switch {
		case kw == "LARGER":
			crit.Larger = max(crit.Larger, int64(n))
		case n == 0:
			// SMALLER 0 matches nothing, and Smaller 0 means no
			// bound: say NOT ALL instead.
			crit.Not = append(crit.Not, goimap.SearchCriteria{})
		case crit.Smaller == 0 || int64(n) < crit.Smaller:
			crit.Smaller = int64(n)
		}
	case "UID":
		set, res, err := p.numSetRes(true)
		if err != nil {
			return err
		}
		andSet(crit, set, res)
	case "NOT":
		sub, err := p.searchKeyAlone(uid)
		if err != nil {
			return err
		}
		crit.Not = append(crit.Not, *sub)
	case "OR":
		a, err := p.searchKeyAlone(uid)
		if err != nil {
			return err
		}
		if err := p.SP(); err != nil {
			return err
		}
		b, err := p.searchKeyAlone(uid)
		if err != nil {
			return err
		}
		crit.Or = append(crit.Or, [2]goimap.SearchCriteria{*a, *b})
	case "MODSEQ":
		return p.searchModSeq(crit)
	default:
		return p.errAt(start, "unknown search key")
	}
	return nil
}

// andSet adds a sequence-set key: "$" (the saved result, RFC 5182 §2.1)
// goes in UID as goimap.SearchRes(), and "1:5,$" is the OR of both.
func andSet(crit *goimap.SearchCriteria, set goimap.NumSet, res bool) {
	var c goimap.SearchCriteria
	switch set := set.(type) {
	case goimap.SeqSet:
		c.SeqNum = []goimap.SeqSet{set}
	case goimap.UIDSet:
		c.UID = []goimap.UIDSet{set}
	}
	saved := goimap.SearchCriteria{UID: []goimap.UIDSet{goimap.SearchRes()}}
	switch {
	case set == nil:
		crit.UID = append(crit.UID, goimap.SearchRes())
	case res:
		crit.Or = append(crit.Or, [2]goimap.SearchCriteria{c, saved})
	default:
		crit.SeqNum = append(crit.SeqNum, c.SeqNum...)
		crit.UID = append(crit.UID, c.UID...)
	}
}

// keywordFlag reads flag-keyword: an atom (no "\").
func (p *Parser) keywordFlag() (goimap.Flag, error) {
	a, err := p.Atom()
	return goimap.Flag(a), err
}

// andDate narrows crit's date bounds by one date key. Dates are days:
// ON d is SINCE d and BEFORE d+1.
func andDate(crit *goimap.SearchCriteria, kw string, d time.Time) {
	next := d.AddDate(0, 0, 1)
	switch kw {
	case "BEFORE":
		crit.Before = earlier(crit.Before, d)
	case "SINCE":
		crit.Since = later(crit.Since, d)
	case "ON":
		crit.Since = later(crit.Since, d)
		crit.Before = earlier(crit.Before, next)
	case "SENTBEFORE":
		crit.SentBefore = earlier(crit.SentBefore, d)
	case "SENTSINCE":
		crit.SentSince = later(crit.SentSince, d)
	case "SENTON":
		crit.SentSince = later(crit.SentSince, d)
		crit.SentBefore = earlier(crit.SentBefore, next)
	}
}

func earlier(cur, t time.Time) time.Time {
	if cur.IsZero() || t.Before(cur) {
		return t
	}
	return cur
}

func later(cur, t time.Time) time.Time {
	if cur.IsZero() || t.After(cur) {
		return t
	}
	return cur
}

// searchModSeq reads, after "MODSEQ SP", [entry-name SP entry-type-req
// SP] mod-sequence-valzer (RFC 7162 §3.1.5). Two MODSEQ keys keep the
// larger value: both must hold.
func (p *Parser) searchModSeq(crit *goimap.SearchCriteria) error {
	ms := &goimap.SearchCriteriaModSeq{}
	if p.Peek() == '"' {
		start := p.pos
		name, err := p.quoted()
		if err != nil {
			return err
		}
		// entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE
		if !strings.HasPrefix(strings.ToLower(name), "/flags/") || len(name) == len("/flags/") {
			return p.errAt(start, "invalid MODSEQ entry name")
		}
		if err := p.SP(); err != nil {
			return err
		}
		start = p.pos
		typ, err := p.Atom()
		if err != nil {
			return err
		}
		switch t := goimap.SearchCriteriaMetadataType(strings.ToLower(typ)); t {
		case goimap.SearchCriteriaMetadataAll, goimap.SearchCriteriaMetadataPrivate, goimap.SearchCriteriaMetadataShared:
			ms.MetadataType = t
		default:
			return p.errAt(start, "invalid MODSEQ entry type")
		}
		ms.MetadataName = name
		if err := p.SP(); err != nil {
			return err
		}
	}
	n, err := p.Number64()
	if err != nil {
		return err
	}
	ms.ModSeq = n
	if crit.ModSeq == nil || crit.ModSeq.ModSeq < n {
		crit.ModSeq = ms
	}
	return nil
}

// sortKeys lists the SORT keys (RFC 5256 §3, RFC 5957 DISPLAYFROM and
// DISPLAYTO).
var sortKeys = map[string]bool{
	"ARRIVAL": true, "CC": true, "DATE": true, "FROM": true, "SIZE": true,
	"SUBJECT": true, "TO": true, "DISPLAYFROM": true, "DISPLAYTO": true,
}

// Sort reads [RETURN (opts) SP] "(" sort-criterion *(SP sort-criterion)
// ")" SP charset SP search-program (RFC 5256 §4, RFC 5267 §3 ESORT).
func (p *Parser) Sort(uid bool) (*SortRequest, error) {
	req := &SortRequest{}
	if p.acceptWord("RETURN") {
		ret, err := p.searchReturn()
		if err != nil {
			return nil, err
		}
		req.Return = ret
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
	err := p.parenList(false, func() error {
		k := SortKey{Reverse: p.acceptWord("REVERSE")}
		start := p.pos
		kw, err := p.keyword()
		if err != nil {
			return err
		}
		if !sortKeys[kw] {
			return p.errAt(start, "unknown sort key")
		}
		k.Key = kw
		req.Keys = append(req.Keys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := p.SP(); err != nil {
		return nil, err
	}
	cs, err := p.charset()
	if err != nil {
		return nil, err
	}
	req.Charset = cs
	if err := p.SP(); err != nil {
		return nil, err
	}
	crit, err := p.searchProgram(uid)
	if err != nil {
		return nil, err
	}
	req.Criteria = *crit
	return req, nil
}

// Thread reads thread-alg SP charset SP search-program (RFC 5256 §4).
// The algorithm is returned upper-cased; the caller decides which it
// offers.
func (p *Parser) Thread(uid bool) (*ThreadRequest, error) {
	alg, err := p.keyword()
	if err != nil {
		return nil, err
	}
	if err := p.SP(); err != nil {
		return nil, err
	}
	cs, err := p.charset()
	if err != nil {
		return nil, err
	}
	if err := p.SP(); err != nil {
		return nil, err
	}
	crit, err := p.searchProgram(uid)
	if err != nil {
		return nil, err
	}
	return &ThreadRequest{Algorithm: alg, Charset: cs, Criteria: *crit}, nil
}
