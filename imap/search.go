package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/mailgate/mailgate/storage"
)

// Search answers SEARCH and UID SEARCH (RFC 3501 §6.4.4, RFC 4731 ESEARCH,
// RFC 5182 SEARCHRES). Flags, sizes, dates and UIDs are matched in memory;
// FROM/TO/CC/BCC/SUBJECT and SENTBEFORE/SENTSINCE use the cached envelopes
// (RFC 3501 defines them on the envelope structure); other HEADER keys read
// the header block; only BODY and TEXT read bodies.
func (s *session) Search(kind imapserver.NumKind, c *goimap.SearchCriteria, opts *goimap.SearchOptions) (_ *goimap.SearchData, err error) {
	defer s.srv.metrics.observe("search", time.Now(), &err)
	sel, err := s.checkSelected()
	if err != nil {
		return nil, err
	}
	mb := sel.mb
	mb.mu.RLock()
	items := make([]item, 0, len(mb.msgs))
	for i, e := range mb.msgs {
		if cs := sel.t.EncodeSeqNum(uint32(i + 1)); cs != 0 {
			items = append(items, item{seq: cs, e: e, flags: e.flags})
		}
	}
	clientMax := sel.clientMaxLocked()
	var maxUID goimap.UID
	if n := len(mb.msgs); n > 0 {
		maxUID = mb.msgs[n-1].uid
	}
	mb.mu.RUnlock()
	staticCriteria(c, clientMax, maxUID, sel.searchRes)

	var need searchNeeds
	need.of(c)
	if need.env {
		if err := s.ensureEnvelopes(mb, items); err != nil {
			return nil, s.reply(err)
		}
	}
	var (
		data   goimap.SearchData
		seqSet goimap.SeqSet
		uidSet goimap.UIDSet
	)
	for _, it := range items {
		m := &candidate{it: it, s: s}
		ok := m.match(c)
		if m.err != nil && !errors.Is(m.err, storage.ErrNotFound) {
			return nil, s.reply(m.err)
		}
		if !ok {
			continue // (a message expunged meanwhile matches nothing)
		}
		uidSet.AddNum(it.e.uid)
		num := it.seq
		if kind == imapserver.NumKindUID {
			num = uint32(it.e.uid)
		} else {
			seqSet.AddNum(it.seq)
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		if num > data.Max {
			data.Max = num
		}
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqSet
	}
	if opts.ReturnSave {
		sel.searchRes = uidSet
	}
	return &data, nil
}

// staticCriteria replaces "*" by the current maximum and "$" by the saved
// result, recursively.
func staticCriteria(c *goimap.SearchCriteria, clientMax uint32, maxUID goimap.UID, saved goimap.UIDSet) {
	var seqs []goimap.SeqSet
	for _, set := range c.SeqNum {
		if goimap.IsSearchRes(set) {
			c.UID = append(c.UID, saved)
			continue
		}
		for i := range set {
			set[i].Start, set[i].Stop = bounds(set[i].Start, set[i].Stop, clientMax)
		}
		seqs = append(seqs, set)
	}
	c.SeqNum = seqs
	for i, set := range c.UID {
		if goimap.IsSearchRes(set) {
			c.UID[i] = saved
			continue
		}
		for j := range set {
			set[j].Start, set[j].Stop = bounds(set[j].Start, set[j].Stop, maxUID)
		}
	}
	for i := range c.Not {
		staticCriteria(&c.Not[i], clientMax, maxUID, saved)
	}
	for i := range c.Or {
		staticCriteria(&c.Or[i][0], clientMax, maxUID, saved)
		staticCriteria(&c.Or[i][1], clientMax, maxUID, saved)
	}
}

type searchNeeds struct{ env bool }

func (n *searchNeeds) of(c *goimap.SearchCriteria) {
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		n.env = true
	}
	for _, h := range c.Header {
		if envelopeField(h.Key) {
			n.env = true
		}
	}
	for i := range c.Not {
		n.of(&c.Not[i])
	}
	for i := range c.Or {
		n.of(&c.Or[i][0])
		n.of(&c.Or[i][1])
	}
}

func envelopeField(key string) bool {
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc", "subject":
		return true
	}
	return false
}

// candidate is one message under test, loading its header block and body
// at most once, and only when a criterion needs them.
type candidate struct {
	it     item
	s      *session
	header *textproto.Header
	body   []byte
	err    error
}

func (m *candidate) loadHeader() *textproto.Header {
	if m.header == nil {
		hdr, err := m.s.srv.st.Header(m.it.e.blob)
		if err != nil {
			m.err = err
		}
		h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(hdr)))
		m.header = &h
	}
	return m.header
}

func (m *candidate) loadBody() []byte {
	if m.body == nil {
		b, err := m.s.srv.st.Body(m.it.e.blob)
		if err != nil {
			m.err = err
		}
		m.body = b
		if m.body == nil {
			m.body = []byte{}
		}
	}
	return m.body
}

func (m *candidate) match(c *goimap.SearchCriteria) bool {
	e := m.it.e
	for _, set := range c.SeqNum {
		if !set.Contains(m.it.seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !set.Contains(e.uid) {
			return false
		}
	}
	if !matchDate(e.date, c.Since, c.Before) {
		return false
	}
	for _, f := range c.Flag {
		if !hasFlagFold(m.it.flags, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlagFold(m.it.flags, f) {
			return false
		}
	}
	if c.Larger != 0 && e.size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && e.size >= c.Smaller {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		env := e.env.Load()
		if env == nil || env.Date.IsZero() || !matchDate(env.Date, c.SentSince, c.SentBefore) {
			return false
		}
	}
	for _, h := range c.Header {
		if !m.matchHeader(h.Key, h.Value) {
			return false
		}
	}
	for _, t := range c.Body {
		if !matchEntity(m.loadBody(), t, false) {
			return false
		}
	}
	for _, t := range c.Text {
		if !matchEntity(m.loadBody(), t, true) {
			return false
		}
	}
	for i := range c.Not {
		if m.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0]) && !m.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

func (m *candidate) matchHeader(key, value string) bool {
	if env := m.it.e.env.Load(); env != nil && envelopeField(key) {
		var addrs []goimap.Address
		switch strings.ToLower(key) {
		case "subject":
			if value == "" {
				return env.Subject != ""
			}
			return containsFold(env.Subject, value)
		case "from":
			addrs = env.From
		case "to":
			addrs = env.To
		case "cc":
			addrs = env.Cc
		case "bcc":
			addrs = env.Bcc
		}
		if value == "" {
			return len(addrs) > 0
		}
		whole := strings.ContainsAny(value, "<>@ ")
		for _, a := range addrs {
			if whole {
				if containsFold(a.Name+" <"+a.Addr()+">", value) {
					return true
				}
			} else if containsFold(a.Name, value) || containsFold(a.Mailbox, value) || containsFold(a.Host, value) {
				return true
			}
		}
		return false
	}
	h := gomessage.Header{Header: *m.loadHeader()}
	fields := h.FieldsByKey(key)
	if value == "" {
		return fields.Len() > 0
	}
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if containsFold(v, value) {
			return true
		}
	}
	return false
}

// containsFold reports whether sub occurs in s, ignoring case (Unicode
// simple folding), without allocating.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	// Folding can change byte lengths (e.g. "K" vs the Kelvin sign): be
	// exact for non-ASCII text.
	if !isASCII(s) || !isASCII(sub) {
		return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func hasFlagFold(flags []goimap.Flag, f goimap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// matchDate compares dates only, ignoring time and zone (RFC 3501 §6.4.4).
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	if !before.IsZero() && !d.Before(before) {
		return false
	}
	return true
}

// matchEntity looks for text in the decoded text parts of a message (and
// in its header fields too for TEXT).
func matchEntity(raw []byte, text string, withHeader bool) bool {
	if text == "" {
		return true
	}
	e, err := gomessage.Read(bytes.NewReader(raw))
	if e == nil {
		return bytes.Contains(bytes.ToLower(raw), bytes.ToLower([]byte(text)))
	}
	_ = err // unknown charset or encoding: search what decodes
	return matchPart(e, strings.ToLower(text), withHeader)
}

func matchPart(e *gomessage.Entity, text string, withHeader bool) bool {
	if withHeader {
		fields := e.Header.Fields()
		for fields.Next() {
			v, err := fields.Text()
			if err != nil {
				v = fields.Value()
			}
			if strings.Contains(strings.ToLower(v), text) {
				return true
			}
		}
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil {
				return false
			}
			if matchPart(p, text, withHeader) {
				return true
			}
		}
	}
	t, _, _ := e.Header.ContentType()
	if t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, 64<<20))
	return bytes.Contains(bytes.ToLower(b), []byte(text))
}
