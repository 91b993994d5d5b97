package imap

import (
	"errors"
	"fmt"
	"math"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// cmdStore answers STORE and UID STORE (RFC 9051 §6.4.6, RFC 7162
// UNCHANGEDSINCE). The change is durable before the answer; other sessions
// get FETCH FLAGS updates. New keywords are announced (FLAGS) before the
// first FETCH that carries them.
func (c *session) cmdStore(p *wire.Parser) error {
	uid := c.cmdName == "UID STORE"
	if err := p.SP(); err != nil {
		return err
	}
	set, req, err := p.Store(uid)
	if err != nil {
		return err
	}
	sel, err := c.checkWritable()
	if err != nil {
		return err
	}
	if req.HasUnchanged {
		c.enableCondstore()
	}
	if len(req.Flags) > storage.MaxFlags {
		return errNo(goimap.ResponseCodeLimit, fmt.Sprintf("at most %d flags per message", storage.MaxFlags))
	}
	items := sel.resolveSet(set)
	if len(items) == 0 {
		return nil
	}
	op := storage.FlagsSet
	switch req.Op {
	case goimap.StoreFlagsAdd:
		op = storage.FlagsAdd
	case goimap.StoreFlagsDel:
		op = storage.FlagsRemove
	}
	since := uint64(math.MaxUint64)
	if req.HasUnchanged {
		since = req.UnchangedSince
	}
	msgs, modified, err := c.srv.st.StoreFlagsIf(sel.v.mb.id, uidsOf(items), op, fromFlags(req.Flags), since, sel.v.origin)
	if err != nil {
		return err
	}
	c.announceKeywords()
	byUID := make(map[goimap.UID]storage.Message, len(msgs))
	for _, m := range msgs {
		byUID[goimap.UID(m.UID)] = m
	}
	for _, it := range items {
		m, ok := byUID[it.e.uid]
		if !ok {
			continue // expunged meanwhile, or not stored (MODIFIED)
		}
		if req.Silent && !c.condstore {
			continue
		}
		it.flags, it.modseq = toFlags(m.Flags), m.ModSeq
		var parts []string
		if !req.Silent {
			parts = append(parts, "FLAGS "+flagString(c.flagsOf(it)))
		}
		if uid {
			parts = append(parts, fmt.Sprintf("UID %d", it.e.uid))
		}
		if c.condstore {
			parts = append(parts, fmt.Sprintf("MODSEQ (%d)", it.modseq))
		}
		c.enc.RawString(fmt.Sprintf("* %d FETCH (%s)\r\n", it.seq, strings.Join(parts, " ")))
	}
	if len(modified) > 0 {
		var ms goimap.NumSet
		if uid {
			var us goimap.UIDSet
			for _, u := range modified {
				us.AddNum(goimap.UID(u))
			}
			ms = us
		} else {
			seqOf := make(map[goimap.UID]uint32, len(items))
			for _, it := range items {
				seqOf[it.e.uid] = it.seq
			}
			var ss goimap.SeqSet
			for _, u := range modified {
				ss.AddNum(seqOf[goimap.UID(u)])
			}
			ms = ss
		}
		c.okCode = "MODIFIED " + ms.String()
		c.okText = "conditional STORE failed for some messages"
	}
	return nil
}

// announceKeywords sends FLAGS (and PERMANENTFLAGS) when the mailbox has
// keywords this session has not been told of (RFC 9051 §7.3.5).
func (c *session) announceKeywords() {
	sel := c.sel
	v := sel.v
	v.mb.mu.RLock()
	var kws []goimap.Flag
	if len(v.mb.keywords) > v.kwSent {
		kws = append([]goimap.Flag(nil), v.mb.keywords...)
	}
	v.mb.mu.RUnlock()
	if kws == nil {
		return
	}
	v.kwSent = len(kws)
	c.writeFlags(kws)
}

// writeFlags writes FLAGS for the system flags and kws (RFC 9051 §7.3.5)
// and, in a writable mailbox, PERMANENTFLAGS with \* (§7.1).
func (c *session) writeFlags(kws []goimap.Flag) {
	flags := append(append([]goimap.Flag(nil), systemFlagList...), kws...)
	c.enc.RawString("* FLAGS ").Flags(flags).CRLF()
	if !c.sel.readOnly {
		c.enc.Status("*", "OK", "PERMANENTFLAGS "+flagString(append(flags, goimap.FlagWildcard)), "limited")
	}
}

// cmdExpunge answers EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315).
// The EXPUNGE responses reach this session, like every other, from the
// mailbox's fan-out when the command completes.
func (c *session) cmdExpunge(p *wire.Parser) error {
	var set goimap.NumSet // nil: every \Deleted message
	if c.cmdName == "UID EXPUNGE" {
		if err := p.SP(); err != nil {
			return err
		}
		var err error
		if set, err = p.NumSet(true); err != nil {
			return err
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	sel, err := c.checkWritable()
	if err != nil {
		return err
	}
	var list []uint32
	if set != nil {
		if list = uidsOf(sel.resolveSet(set)); len(list) == 0 {
			return nil
		}
	}
	gone, err := c.srv.st.Expunge(sel.v.mb.id, list, sel.v.origin, c.auditExpunge(sel.pl))
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		c.done("expunge", sel.pl)
	}
	return nil
}

// cmdCopy answers COPY and UID COPY (RFC 9051 §6.4.7, RFC 4315 COPYUID).
func (c *session) cmdCopy(p *wire.Parser) error {
	set, dest, err := c.setAndMailbox(p, c.cmdName == "UID COPY")
	if err != nil {
		return err
	}
	sel := c.sel
	res, err := c.copyMove(sel, set, dest, false)
	if err != nil {
		return err
	}
	if len(res.Src) > 0 {
		c.okCode = copyUID(res)
	}
	return nil
}

// cmdMove answers MOVE and UID MOVE (RFC 6851): COPYUID first, then the
// EXPUNGEs, which the fan-out delivers when the command completes.
func (c *session) cmdMove(p *wire.Parser) error {
	set, dest, err := c.setAndMailbox(p, c.cmdName == "UID MOVE")
	if err != nil {
		return err
	}
	sel, err := c.checkWritable()
	if err != nil {
		return err
	}
	res, err := c.copyMove(sel, set, dest, true)
	if err != nil {
		return err
	}
	if len(res.Src) > 0 {
		c.enc.Status("*", "OK", copyUID(res), "moved")
	}
	return nil
}

func (c *session) setAndMailbox(p *wire.Parser, uid bool) (goimap.NumSet, string, error) {
	if err := p.SP(); err != nil {
		return nil, "", err
	}
	set, err := p.NumSet(uid)
	if err != nil {
		return nil, "", err
	}
	if err := p.SP(); err != nil {
		return nil, "", err
	}
	dest, err := p.Mailbox()
	if err != nil {
		return nil, "", err
	}
	return set, dest, p.End()
}

// copyMove copies or moves the set to dest and audits both sides (a
// folder of another principal's: "copy"/"move" at the source,
// "copy_in"/"move_in" at the destination).
func (c *session) copyMove(sel *selected, set goimap.NumSet, dest string, move bool) (storage.CopyResult, error) {
	pl, f, err := c.openFolder(dest, errTryCreate)
	if err != nil {
		return storage.CopyResult{}, err
	}
	items := sel.resolveSet(set)
	if len(items) == 0 {
		return storage.CopyResult{UIDValidity: f.UIDValidity}, nil
	}
	if !move || sel.v.mb.owner != pl.owner { // a MOVE inside one mailbox adds nothing to it
		var size uint64
		for _, it := range items {
			size += uint64(it.e.size)
		}
		if err := c.checkQuota(pl.owner, size); err != nil {
			return storage.CopyResult{}, err
		}
	}
	verb := "copy"
	if move {
		verb = "move"
	}
	audit := auditBoth(
		c.auditIn(verb, sel.pl, func(o storage.Outcome) string { return "to " + pl.name + " uids " + uidList(o.UIDs) }),
		c.auditIn(verb+"_in", pl, func(o storage.Outcome) string {
			if o.DstUIDs == nil {
				return fmt.Sprintf("from %s (%d messages)", sel.pl.name, len(o.UIDs))
			}
			return "from " + sel.pl.name + " uids " + uidList(o.DstUIDs)
		}))
	var res storage.CopyResult
	if move {
		res, err = c.srv.st.Move(sel.v.mb.id, uidsOf(items), f.ID, sel.v.origin, audit)
	} else {
		res, err = c.srv.st.Copy(sel.v.mb.id, uidsOf(items), f.ID, sel.v.origin, audit)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return res, errTryCreate // the destination was deleted meanwhile
	}
	if err != nil {
		return res, err
	}
	if len(res.Src) > 0 {
		c.done(verb, sel.pl)
		c.done(verb+"_in", pl)
	}
	return res, nil
}

func copyUID(res storage.CopyResult) string {
	var src, dst goimap.UIDSet
	for i := range res.Src {
		src.AddNum(goimap.UID(res.Src[i]))
		dst.AddNum(goimap.UID(res.Dst[i]))
	}
	return fmt.Sprintf("COPYUID %d %s %s", res.UIDValidity, src.String(), dst.String())
}

// auditExpunge is the audit of an EXPUNGE in pl.
func (c *session) auditExpunge(pl place) storage.AuditFunc {
	return c.auditIn("expunge", pl, func(o storage.Outcome) string { return uidList(o.UIDs) })
}

// uidList renders UIDs compactly for audit details ("1:3,7").
func uidList(uids []uint32) string {
	var set goimap.UIDSet
	for _, u := range uids {
		set.AddNum(goimap.UID(u))
	}
	s := set.String()
	if len(s) > 500 {
		s = fmt.Sprintf("%s… (%d messages)", s[:500], len(uids))
	}
	return s
}
