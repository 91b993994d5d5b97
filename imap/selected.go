package imap

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// selected is the session's selected mailbox.
type selected struct {
	v         *view
	pl        place
	readOnly  bool
	searchRes goimap.UIDSet       // SEARCHRES "$" (RFC 5182)
	deleted   bool                // the folder was deleted by someone else
	updates   []*searchUpdate     // RFC 5267 RETURN (UPDATE) searches still active
	recent    map[goimap.UID]bool // messages this session holds as \Recent
	nRecent   int                 // the RECENT count last reported
}

// item is one message of a command's set: its sequence number in the
// client's view, the entry, and its flags and modseq when the set was
// resolved.
type item struct {
	seq    uint32
	e      *msgEntry
	flags  []goimap.Flag
	modseq uint64
}

var systemFlagList = []goimap.Flag{goimap.FlagAnswered, goimap.FlagFlagged, goimap.FlagDeleted, goimap.FlagSeen, goimap.FlagDraft}

func (sel *selected) highestModSeq() uint64 {
	sel.v.mb.mu.RLock()
	defer sel.v.mb.mu.RUnlock()
	return sel.v.mb.highestModSeq
}

// cmdSelect answers SELECT and EXAMINE (RFC 9051 §6.3.2-3, RFC 7162
// CONDSTORE and QRESYNC parameters). Opening a folder of another principal
// is audited (Exchange "FolderBind").
func (c *session) cmdSelect(p *wire.Parser) error {
	readOnly := c.cmdName == "EXAMINE"
	if err := p.SP(); err != nil {
		return err
	}
	name, params, err := p.Select()
	if err != nil {
		return err
	}
	if params.QResync != nil && !c.qresync {
		return errBad(goimap.ResponseCodeClientBug, "QRESYNC parameter without ENABLE QRESYNC")
	}
	if c.sel != nil {
		c.unselect()
		if c.qresync {
			c.enc.Status("*", "OK", "CLOSED", "previous mailbox closed")
		}
	}
	if params.CondStore {
		c.enableCondstore() // nothing is selected: it only turns CONDSTORE on
	}
	pl, f, err := c.openFolder(name, errNoMailbox)
	if err != nil {
		return err
	}
	mb, err := c.srv.boxes.acquire(f)
	if err != nil {
		return err
	}
	v := mb.attach()
	mb.mu.RLock()
	deleted := mb.deleted
	uidValidity, uidNext, hms := mb.uidValidity, mb.uidNext, mb.highestModSeq
	kws := append([]goimap.Flag(nil), mb.keywords...)
	var firstUnseen uint32
	for i, e := range v.msgs {
		if !hasFlag(e.flags, goimap.FlagSeen) {
			firstUnseen = uint32(i + 1)
			break
		}
	}
	mb.mu.RUnlock()
	if deleted {
		mb.detach(v)
		c.srv.boxes.release(mb)
		return errNoMailbox
	}
	c.sel = &selected{v: v, pl: pl, readOnly: readOnly, recent: map[goimap.UID]bool{}}
	v.kwSent = len(kws)
	var recent int
	if readOnly {
		from := c.srv.recentFrom(mb.id)
		for _, e := range v.msgs {
			if e.uid >= from {
				recent++
			}
		}
	} else {
		from := c.srv.claimRecent(mb.id, uidNext)
		for _, e := range v.msgs {
			if e.uid >= from {
				c.sel.recent[e.uid] = true
			}
		}
		recent = len(c.sel.recent)
	}
	c.sel.nRecent = recent
	c.writeFlags(kws)
	if readOnly {
		c.enc.Status("*", "OK", "PERMANENTFLAGS ()", "limited")
	}
	c.enc.RawString(fmt.Sprintf("* %d EXISTS\r\n* %d RECENT\r\n", len(v.msgs), recent))
	if firstUnseen > 0 {
		c.enc.Status("*", "OK", fmt.Sprintf("UNSEEN %d", firstUnseen), "first unseen")
	}
	c.enc.Status("*", "OK", fmt.Sprintf("UIDVALIDITY %d", uidValidity), "UIDs valid")
	c.enc.Status("*", "OK", fmt.Sprintf("UIDNEXT %d", uidNext), "predicted next UID")
	if c.condstore {
		c.enc.Status("*", "OK", fmt.Sprintf("HIGHESTMODSEQ %d", hms), "highest")
	}
	if q := params.QResync; q != nil && q.UIDValidity == uidValidity {
		if err := c.qresyncSelect(q); err != nil {
			return err
		}
	}
	if readOnly {
		c.okCode, c.okText = "READ-ONLY", "EXAMINE completed"
	} else {
		c.okCode, c.okText = "READ-WRITE", "SELECT completed"
	}
	if pl.delegated {
		c.srv.metrics.delegated.WithLabelValues(pl.via).Inc()
		c.auditFolderBind(pl, map[bool]string{true: "EXAMINE", false: "SELECT"}[readOnly])
	}
	return nil
}

func flagString(fs []goimap.Flag) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// qresyncSelect sends what changed since the client's known modseq (RFC
// 7162 §3.2.5.2): VANISHED (EARLIER) for UIDs expunged since, then FETCH
// for messages changed since.
func (c *session) qresyncSelect(q *wire.QResync) error {
	sel := c.sel
	known := q.KnownUIDs
	gone, err := c.srv.st.Vanished(sel.v.mb.id, q.ModSeq)
	if err != nil {
		return err
	}
	var vs goimap.UIDSet
	for _, u := range gone {
		if known == nil || known.Contains(goimap.UID(u)) {
			vs.AddNum(goimap.UID(u))
		}
	}
	if len(vs) > 0 {
		c.enc.RawString("* VANISHED (EARLIER) ").RawString(vs.String()).CRLF()
	}
	mb := sel.v.mb
	mb.mu.RLock()
	var items []item
	for i, e := range sel.v.msgs {
		if e.modseq > q.ModSeq && (known == nil || known.Contains(e.uid)) {
			items = append(items, item{seq: uint32(i + 1), e: e, flags: e.flags, modseq: e.modseq})
		}
	}
	mb.mu.RUnlock()
	for _, it := range items {
		c.writeFlagsFetch(it, true)
	}
	return nil
}

// writeFlagsFetch writes "* n FETCH (UID u FLAGS (...) [MODSEQ (m)])".
func (c *session) writeFlagsFetch(it item, withUID bool) {
	c.enc.RawString("* ").Number(it.seq).RawString(" FETCH (")
	if withUID {
		c.enc.RawString("UID ").Number(uint32(it.e.uid)).SP()
	}
	c.enc.RawString("FLAGS ").Flags(it.flags)
	if c.condstore {
		c.enc.RawString(" MODSEQ (").Number64(it.modseq).Byte(')')
	}
	c.enc.RawString(")\r\n")
}

// cmdUnselect answers UNSELECT (RFC 3691).
func (c *session) cmdUnselect(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	c.unselect()
	return nil
}

// cmdClose answers CLOSE (RFC 9051 §6.4.1): expunge silently (not in an
// EXAMINEd mailbox), then unselect.
func (c *session) cmdClose(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	sel := c.sel
	if !sel.readOnly && c.allowed(sel) && !sel.deleted {
		gone, err := c.srv.st.Expunge(sel.v.mb.id, nil, sel.v.origin, c.auditExpunge(sel.pl))
		if err != nil {
			c.unselect()
			return err
		}
		if len(gone) > 0 {
			c.done("expunge", sel.pl)
		}
	}
	c.unselect()
	return nil
}

func (c *session) unselect() {
	if c.sel == nil {
		return
	}
	c.sel.v.mb.detach(c.sel.v)
	c.srv.boxes.release(c.sel.v.mb)
	c.sel = nil
}

// allowed asks the directory, now, whether the selected folder may still
// be used (own folders always; a delegate login is checked per session).
func (c *session) allowed(sel *selected) bool { return c.access(sel).Allowed }

func (c *session) checkWritable() (*selected, error) {
	sel := c.sel
	if sel.deleted {
		return nil, errNo(goimap.ResponseCodeNonExistent, "this mailbox has been deleted: select another mailbox")
	}
	if sel.readOnly {
		return nil, errReadOnly
	}
	return sel, nil
}

// poll reports what changed in the selected mailbox since the last time
// (RFC 9051 §7: FLAGS for new keywords, EXPUNGE or VANISHED, EXISTS,
// FETCH FLAGS). Without allowExpunge the changes from the first expunge on
// wait for a later command. A folder whose right was revoked gets nothing.
func (c *session) poll(allowExpunge bool) {
	sel := c.sel
	if sel == nil || !c.allowed(sel) {
		return
	}
	v := sel.v
	mb := v.mb
	c.announceKeywords()
	mb.mu.Lock()
	evs := v.pending
	v.pending = nil
	mb.mu.Unlock()
	// announced: how many of v.msgs the client has been told of. A message
	// that arrives and goes within one poll is never shown.
	announced := len(v.msgs)
	var vanished goimap.UIDSet
	changed := map[*msgEntry]bool{}
	var order []*msgEntry
	var affected []*msgEntry // appended or re-flagged: RETURN (UPDATE) searches look again
	defer func() { c.updateSearches(affected) }()
loop:
	for i, ev := range evs {
		switch ev.kind {
		case storage.ChangeAppend:
			if n := len(v.msgs); n == 0 || v.msgs[n-1].uid < ev.e.uid {
				v.msgs = append(v.msgs, ev.e)
				if len(sel.updates) > 0 {
					affected = append(affected, ev.e)
				}
				if !sel.readOnly && c.srv.claimRecent(mb.id, ev.e.uid+1) <= ev.e.uid {
					sel.recent[ev.e.uid] = true
				}
			}
		case storage.ChangeExpunge:
			if !allowExpunge {
				mb.mu.Lock()
				v.pending = append(append([]event(nil), evs[i:]...), v.pending...)
				mb.mu.Unlock()
				break loop
			}
			j := indexOf(v.msgs, ev.uid)
			if j < 0 {
				continue
			}
			delete(changed, v.msgs[j])
			delete(sel.recent, ev.uid)
			v.msgs = append(v.msgs[:j], v.msgs[j+1:]...)
			if j >= announced {
				continue
			}
			c.updateRemoved(uint32(j+1), ev.uid)
			announced--
			if c.qresync {
				vanished.AddNum(ev.uid)
			} else {
				c.enc.RawString(fmt.Sprintf("* %d EXPUNGE\r\n", j+1))
			}
		case storage.ChangeFlags:
			if len(sel.updates) > 0 {
				affected = append(affected, ev.e)
			}
			if ev.origin == v.origin {
				continue // the command that caused it answered it already
			}
			if !changed[ev.e] {
				changed[ev.e] = true
				order = append(order, ev.e)
			}
		case storage.ChangeDelete:
			sel.deleted = true
		}
	}
	if len(vanished) > 0 {
		c.enc.RawString("* VANISHED ").RawString(vanished.String()).CRLF()
	}
	if len(v.msgs) != announced {
		c.enc.RawString(fmt.Sprintf("* %d EXISTS\r\n", len(v.msgs)))
		if len(sel.recent) != sel.nRecent {
			c.enc.RawString(fmt.Sprintf("* %d RECENT\r\n", len(sel.recent)))
			sel.nRecent = len(sel.recent)
		}
	}
	if len(order) == 0 {
		return
	}
	mb.mu.RLock()
	var items []item
	for _, e := range order {
		if !changed[e] {
			continue
		}
		if j := indexOf(v.msgs, e.uid); j >= 0 {
			items = append(items, item{seq: uint32(j + 1), e: e, flags: e.flags, modseq: e.modseq})
		}
	}
	mb.mu.RUnlock()
	for _, it := range items {
		c.writeFlagsFetch(it, true)
	}
}

// resolveSet turns a sequence set or UID set (with "*" and "$") into the
// messages the client means, in ascending order, with their flags as of
// now. Messages the client has not been told of are left out.
func (sel *selected) resolveSet(set goimap.NumSet) []item {
	v := sel.v
	if goimap.IsSearchRes(set) {
		set = sel.searchRes
	}
	var idx []int
	switch set := set.(type) {
	case goimap.UIDSet:
		var maxUID goimap.UID
		if n := len(v.msgs); n > 0 {
			maxUID = v.msgs[n-1].uid
		}
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, maxUID)
			i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].uid >= start })
			for ; i < len(v.msgs) && v.msgs[i].uid <= stop; i++ {
				idx = append(idx, i)
			}
		}
	case goimap.SeqSet:
		n := uint32(len(v.msgs))
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, n)
			for s := start; s >= 1 && s <= min(stop, n); s++ {
				idx = append(idx, int(s-1))
			}
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	out := make([]item, len(idx))
	v.mb.mu.RLock()
	for k, i := range idx {
		e := v.msgs[i]
		out[k] = item{seq: uint32(i + 1), e: e, flags: e.flags, modseq: e.modseq}
	}
	v.mb.mu.RUnlock()
	return out
}

// bounds resolves "*" (0) in a range to star and puts the ends in order
// (RFC 9051 §9: "2:4" and "4:2" are the same set).
func bounds[T ~uint32](start, stop, star T) (T, T) {
	if start == 0 {
		start = star
	}
	if stop == 0 {
		stop = star
	}
	return min(start, stop), max(start, stop)
}

func uidsOf(items []item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = uint32(it.e.uid)
	}
	return out
}

func hasFlag(flags []goimap.Flag, f goimap.Flag) bool { return slices.Contains(flags, f) }
