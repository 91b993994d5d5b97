package imap

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/message"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// checkCharset accepts the charsets SEARCH, SORT and THREAD understand
// (RFC 9051 §6.4.4: US-ASCII and UTF-8 at least).
func checkCharset(cs string) error {
	switch strings.ToUpper(cs) {
	case "", "US-ASCII", "UTF-8", "UTF8":
		return nil
	}
	return errNo("BADCHARSET (US-ASCII UTF-8)", "unsupported charset "+oneLine(cs))
}

// cmdSearch answers SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 4731
// ESEARCH, RFC 5182 SEARCHRES, RFC 5267 PARTIAL, RFC 7162 MODSEQ).
func (c *session) cmdSearch(p *wire.Parser) error {
	uid := c.cmdName == "UID SEARCH"
	if err := p.SP(); err != nil {
		return err
	}
	req, err := p.Search(uid)
	if err != nil {
		return err
	}
	if err := checkCharset(req.Charset); err != nil {
		return err
	}
	if hasModSeq(&req.Criteria) {
		c.enableCondstore()
	}
	items, err := c.searchItems(&req.Criteria)
	if err != nil {
		return err
	}
	c.writeSearch(items, req.Return, uid, hasModSeq(&req.Criteria))
	if req.Return != nil && req.Return.Update {
		u := &searchUpdate{tag: c.tag, uid: uid, crit: req.Criteria, in: map[goimap.UID]bool{}}
		for _, it := range items {
			u.in[it.e.uid] = true
		}
		c.sel.updates = append(c.sel.updates, u)
	}
	return nil
}

// searchUpdate is a SEARCH RETURN (UPDATE) the client keeps open (RFC 5267
// §4): changes to its result are sent as ADDTO and REMOVEFROM.
type searchUpdate struct {
	tag  string
	uid  bool
	crit goimap.SearchCriteria // "*" and "$" already resolved
	in   map[goimap.UID]bool   // the current result
}

func (c *session) writeUpdate(u *searchUpdate, what string, nums []uint32) {
	var set goimap.SeqSet
	for _, n := range nums {
		set.AddNum(n)
	}
	c.esearchHead(u.tag, u.uid)
	c.enc.RawString(" " + what + " (0 " + set.String() + ")").CRLF()
}

// updateRemoved reports an expunged message, by its number before the
// EXPUNGE, to the searches it was in.
func (c *session) updateRemoved(seq uint32, uid goimap.UID) {
	for _, u := range c.sel.updates {
		if u.in[uid] {
			delete(u.in, uid)
			n := seq
			if u.uid {
				n = uint32(uid) // the view no longer holds it: no item to ask
			}
			c.writeUpdate(u, "REMOVEFROM", []uint32{n})
		}
	}
}

// updateSearches re-evaluates the open searches for the messages that
// arrived or changed flags.
func (c *session) updateSearches(affected []*msgEntry) {
	sel := c.sel
	if sel == nil || len(sel.updates) == 0 || len(affected) == 0 {
		return
	}
	seen := map[*msgEntry]bool{}
	var items []item
	sel.v.mb.mu.RLock()
	for _, e := range affected {
		if seen[e] {
			continue
		}
		seen[e] = true
		if j := indexOf(sel.v.msgs, e.uid); j >= 0 {
			items = append(items, item{seq: uint32(j + 1), e: e, flags: e.flags, modseq: e.modseq})
		}
	}
	sel.v.mb.mu.RUnlock()
	sort.Slice(items, func(a, b int) bool { return items[a].seq < items[b].seq })
	for _, u := range sel.updates {
		var added, removed []uint32
		for _, it := range items {
			m := &candidate{it: it, c: c}
			ok := m.match(&u.crit, 0)
			n := it.num(u.uid)
			switch {
			case ok && !u.in[it.e.uid]:
				u.in[it.e.uid] = true
				added = append(added, n)
			case !ok && u.in[it.e.uid]:
				delete(u.in, it.e.uid)
				removed = append(removed, n)
			}
		}
		if len(removed) > 0 {
			c.writeUpdate(u, "REMOVEFROM", removed)
		}
		if len(added) > 0 {
			c.writeUpdate(u, "ADDTO", added)
		}
	}
}

// cmdCancelUpdate answers CANCELUPDATE (RFC 5267 §4.2).
func (c *session) cmdCancelUpdate(p *wire.Parser) error {
	var tags []string
	for !p.AtEnd() {
		if err := p.SP(); err != nil {
			return err
		}
		t, err := p.String()
		if err != nil {
			return err
		}
		tags = append(tags, t)
	}
	if len(tags) == 0 {
		return errBad(goimap.ResponseCodeClientBug, "CANCELUPDATE needs a tag")
	}
	kept := c.sel.updates[:0]
	for _, u := range c.sel.updates {
		if !slices.Contains(tags, u.tag) {
			kept = append(kept, u)
		}
	}
	c.sel.updates = kept
	return nil
}

// searchItems returns the selected mailbox's messages matching crit, in
// sequence order.
func (c *session) searchItems(crit *goimap.SearchCriteria) ([]item, error) {
	sel := c.sel
	all := sel.resolveSet(goimap.SeqSet{{Start: 1, Stop: 0}})
	var maxUID goimap.UID
	if n := len(all); n > 0 {
		maxUID = all[n-1].e.uid
	}
	staticCriteria(crit, uint32(len(all)), maxUID, sel.searchRes)
	if needsSearchFields(crit) {
		if err := c.ensureHeaderCache(sel.v.mb, all, func(e *msgEntry) bool { return e.search.Load() == nil },
			func(e *msgEntry, hdr []byte) { e.search.Store(newSearchFields(hdr)) }); err != nil {
			return nil, err
		}
	}
	var out []item
	for _, it := range all {
		m := &candidate{it: it, c: c}
		ok := m.match(crit, 0)
		if m.err != nil && !errors.Is(m.err, storage.ErrNotFound) {
			return nil, m.err
		}
		if ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// writeSearch answers with SEARCH or, with RETURN, ESEARCH, and saves the
// result for "$" when asked. items are in sequence order.
func (c *session) writeSearch(items []item, ret *wire.SearchReturn, uid, modseq bool) {
	var highest uint64
	for _, it := range items {
		highest = max(highest, it.modseq)
	}
	if ret != nil && !ret.All && !ret.Count && ret.Partial == nil && len(items) > 0 {
		// RFC 7162 §3.1.5: with only MIN and/or MAX, the MODSEQ of those.
		highest = 0
		if ret.Min {
			highest = items[0].modseq
		}
		if ret.Max {
			highest = max(highest, items[len(items)-1].modseq)
		}
	}
	if ret == nil {
		c.enc.RawString("* SEARCH")
		for _, it := range items {
			c.enc.SP().Number(it.num(uid))
		}
		if modseq && len(items) > 0 {
			c.enc.RawString(fmt.Sprintf(" (MODSEQ %d)", highest))
		}
		c.enc.CRLF()
		return
	}
	if ret.Save {
		var saved goimap.UIDSet
		switch {
		case !ret.Min && !ret.Max || ret.All || ret.Count:
			for _, it := range items {
				saved.AddNum(it.e.uid)
			}
		case len(items) > 0:
			if ret.Min {
				saved.AddNum(items[0].e.uid)
			}
			if ret.Max {
				saved.AddNum(items[len(items)-1].e.uid)
			}
		}
		c.sel.searchRes = saved
		if !ret.Min && !ret.Max && !ret.All && !ret.Count && ret.Partial == nil {
			return // RFC 5182 §2.1: SAVE alone answers no ESEARCH
		}
	}
	c.writeESearch(c.tag, uid, items, ret)
	if modseq && len(items) > 0 {
		c.enc.RawString(fmt.Sprintf(" MODSEQ %d", highest))
	}
	c.enc.CRLF()
}

// esearchHead writes the start of an ESEARCH response (RFC 4731 §3.1):
// `* ESEARCH (TAG "t")`, and UID for UID commands.
func (c *session) esearchHead(tag string, uid bool) {
	c.enc.RawString("* ESEARCH (TAG ").String(tag).Byte(')')
	if uid {
		c.enc.RawString(" UID")
	}
}

// writeESearch writes an ESEARCH response up to its end of line: MIN MAX
// ALL COUNT (RFC 4731) and PARTIAL (RFC 5267 §4.4) of items, in the order
// the command answers them (sequence order for SEARCH, sort order for
// SORT).
func (c *session) writeESearch(tag string, uid bool, items []item, ret *wire.SearchReturn) {
	c.esearchHead(tag, uid)
	e := c.enc
	if len(items) > 0 {
		lo, hi := items[0].num(uid), items[0].num(uid)
		for _, it := range items {
			lo, hi = min(lo, it.num(uid)), max(hi, it.num(uid))
		}
		if ret.Min {
			e.RawString(" MIN ").Number(lo)
		}
		if ret.Max {
			e.RawString(" MAX ").Number(hi)
		}
		if ret.All {
			e.RawString(" ALL ").RawString(numSetOrdered(items, uid))
		}
	}
	if ret.Count {
		e.RawString(" COUNT ").Number(uint32(len(items)))
	}
	if pr := ret.Partial; pr != nil {
		lo, hi := int(pr.Lo), int(pr.Hi)
		n := len(items)
		if lo < 0 { // -1 is the last
			lo, hi = n+1+hi, n+1+lo
		}
		e.RawString(fmt.Sprintf(" PARTIAL (%d:%d ", pr.Lo, pr.Hi))
		lo, hi = max(lo, 1), min(hi, n)
		if lo > hi {
			e.RawString("NIL)")
		} else {
			e.RawString(numSetOrdered(items[lo-1:hi], uid)).Byte(')')
		}
	}
}

// num is the number a command answers a message with: its UID for UID
// commands, else its sequence number.
func (it item) num(uid bool) uint32 {
	if uid {
		return uint32(it.e.uid)
	}
	return it.seq
}

// numSetOrdered renders the items' numbers in the given order, merging
// only runs that ascend by one (ESORT results keep their order; for
// ascending input it is the compact set).
func numSetOrdered(items []item, uid bool) string {
	num := func(it item) uint32 { return it.num(uid) }
	var b strings.Builder
	for i := 0; i < len(items); {
		j := i
		for j+1 < len(items) && num(items[j+1]) == num(items[j])+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d:%d", num(items[i]), num(items[j]))
		} else {
			fmt.Fprintf(&b, "%d", num(items[i]))
		}
		i = j + 1
	}
	return b.String()
}

func hasModSeq(c *goimap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
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

// candidate is one message under test, loading its header block and body
// at most once, and only when a criterion needs them.
type candidate struct {
	it     item
	c      *session
	header []byte // valid once header != nil or body loaded
	body   []byte
	root   *message.Part // non-nil once the body is loaded
	err    error
}

func (m *candidate) loadHeader() []byte {
	switch {
	case m.header != nil:
	case m.root != nil:
		m.header = headerOf(m.body)
	default:
		hdr, err := m.c.srv.st.Header(m.it.e.blob)
		if err != nil {
			m.err = err
		}
		if hdr == nil {
			hdr = []byte{} // loaded, even when empty or gone
		}
		m.header = hdr
	}
	return m.header
}

func (m *candidate) loadBody() ([]byte, *message.Part) {
	if m.root == nil {
		b, err := m.c.srv.st.Body(m.it.e.blob)
		if err != nil {
			m.err = err
		}
		m.body = b
		m.root = message.Parse(b, mimeLimits)
	}
	return m.body, m.root
}

// maxSearchDepth bounds NOT/OR nesting (the parser bounds it too).
const maxSearchDepth = 200

func (m *candidate) match(c *goimap.SearchCriteria, depth int) bool {
	if depth > maxSearchDepth {
		return false
	}
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
	flags := m.c.flagsOf(m.it)
	for _, f := range c.Flag {
		if !hasFlagFold(flags, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlagFold(flags, f) {
			return false
		}
	}
	if c.Larger != 0 && e.size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && e.size >= c.Smaller {
		return false
	}
	if c.ModSeq != nil && m.it.modseq < c.ModSeq.ModSeq {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sf := m.searchFields()
		if !sf.hasSent || !matchDate(sf.sent, c.SentSince, c.SentBefore) {
			return false
		}
	}
	for _, h := range c.Header {
		if !m.matchHeader(h.Key, h.Value) {
			return false
		}
	}
	for _, t := range c.Body {
		body, root := m.loadBody()
		if !message.TextContains(body, root, t, false) {
			return false
		}
	}
	for _, t := range c.Text {
		body, root := m.loadBody()
		if !message.TextContains(body, root, t, true) {
			return false
		}
	}
	for i := range c.Not {
		if m.match(&c.Not[i], depth+1) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0], depth+1) && !m.match(&c.Or[i][1], depth+1) {
			return false
		}
	}
	return true
}

// sentDate is the message's Date header (RFC 9051 §6.4.4 SENTBEFORE etc.).
func sentDate(header []byte) (time.Time, bool) {
	vs := message.HeaderValues(header, "Date")
	if len(vs) == 0 {
		return time.Time{}, false
	}
	t, err := mail.ParseDate(strings.TrimSpace(vs[0]))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// matchHeader: the field exists (empty value) or its decoded value
// contains value, case-insensitively (RFC 9051 §6.4.4 HEADER, FROM, ...).
func (m *candidate) matchHeader(key, value string) bool {
	key = strings.ToLower(key)
	var texts []string
	if i := cachedField(key); i >= 0 {
		texts = m.searchFields().texts[i]
	} else {
		for _, v := range message.HeaderValues(m.loadHeader(), key) {
			texts = append(texts, searchText(key, v))
		}
	}
	for _, t := range texts {
		if value == "" || containsFold(t, value) {
			return true
		}
	}
	return false
}

// searchText is what a search key's value is matched against in one
// field: its decoded text, and for an address field first the parsed
// addresses ("<u (c)@ (c) d>" is u@d).
func searchText(key, value string) string {
	text := message.DecodeHeader(value)
	switch key {
	case "from", "to", "cc", "bcc", "sender", "reply-to":
		text = message.AddressSearchText(value) + "\n" + text
	}
	return text
}

// searchFieldKeys are the header fields most searches name (RFC 9051
// §6.4.4 FROM, TO, CC, BCC, SUBJECT, and clients' HEADER searches on
// them); their match texts are kept per message in memory.
var searchFieldKeys = [...]string{"from", "to", "cc", "bcc", "subject", "sender", "reply-to", "message-id"}

func cachedField(key string) int {
	for i, k := range searchFieldKeys {
		if k == key {
			return i
		}
	}
	return -1
}

// searchFields is what SEARCH needs of a header block, made once per
// message and shared by every session (see msgEntry.search): the match
// texts of searchFieldKeys, one per field occurrence, and the Date.
type searchFields struct {
	texts   [len(searchFieldKeys)][]string
	sent    time.Time
	hasSent bool
}

func newSearchFields(hdr []byte) *searchFields {
	sf := &searchFields{}
	for i, k := range searchFieldKeys {
		for _, v := range message.HeaderValues(hdr, k) {
			sf.texts[i] = append(sf.texts[i], searchText(k, v))
		}
	}
	sf.sent, sf.hasSent = sentDate(hdr)
	return sf
}

// searchFields returns the message's cached search fields, making them
// when searchItems did not (a message that arrived meanwhile).
func (m *candidate) searchFields() *searchFields {
	if sf := m.it.e.search.Load(); sf != nil {
		return sf
	}
	sf := newSearchFields(m.loadHeader())
	if m.err == nil {
		m.it.e.search.Store(sf)
	}
	return sf
}

// needsSearchFields reports whether a criterion reads cached header fields.
func needsSearchFields(c *goimap.SearchCriteria) bool {
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		return true
	}
	for _, h := range c.Header {
		if cachedField(strings.ToLower(h.Key)) >= 0 {
			return true
		}
	}
	for i := range c.Not {
		if needsSearchFields(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if needsSearchFields(&c.Or[i][0]) || needsSearchFields(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// containsFold reports whether sub occurs in s, ignoring case.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	if isASCII(s) && isASCII(sub) {
		for i := 0; i+len(sub) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(sub)], sub) {
				return true
			}
		}
		return false
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
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

// matchDate compares dates only, ignoring time and zone (RFC 9051 §6.4.4).
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
