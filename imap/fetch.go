package imap

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/message"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// mimeLimits bound MIME parsing for FETCH and SEARCH: a message nested
// 10,000 levels deep costs linear time and shows as opaque below the limit.
var mimeLimits = message.Limits{MaxDepth: 64, MaxParts: 10000}

// needs says what of a message a FETCH must read.
type needs struct{ env, header, body, tree bool }

func fetchNeeds(atts []wire.FetchAtt) needs {
	var n needs
	for _, a := range atts {
		switch a.Kind {
		case wire.FetchEnvelope:
			n.env = true
		case wire.FetchBody, wire.FetchBodyStructure, wire.FetchBinary, wire.FetchBinarySize:
			n.body, n.tree = true, true
		case wire.FetchRFC822:
			n.body = true
		case wire.FetchRFC822Text:
			n.body, n.tree = true, true
		case wire.FetchRFC822Header:
			n.header = true
		case wire.FetchSection:
			s := a.Section
			if len(s.Part) == 0 && (s.Specifier == "HEADER" || s.Specifier == "HEADER.FIELDS" || s.Specifier == "HEADER.FIELDS.NOT") {
				n.header = true
			} else {
				n.body = true
				n.tree = n.tree || len(s.Part) > 0 || s.Specifier != ""
			}
		}
	}
	return n
}

// marksSeen: BODY[...] without PEEK, BINARY[...], RFC822 and RFC822.TEXT
// set \Seen (RFC 9051 §6.4.5).
func marksSeen(atts []wire.FetchAtt) bool {
	for _, a := range atts {
		switch a.Kind {
		case wire.FetchSection, wire.FetchBinary:
			if !a.Section.Peek {
				return true
			}
		case wire.FetchRFC822, wire.FetchRFC822Text:
			return true
		}
	}
	return false
}

// cmdFetch answers FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY,
// RFC 7162 CHANGEDSINCE/VANISHED). FLAGS, UID, INTERNALDATE, RFC822.SIZE
// and MODSEQ come from the in-memory index, ENVELOPE from envelopes
// rendered once from the stored header block, header sections from the
// header block alone; only structure and body sections read the body.
func (c *session) cmdFetch(p *wire.Parser) error {
	uid := c.cmdName == "UID FETCH"
	if err := p.SP(); err != nil {
		return err
	}
	set, req, err := p.Fetch(uid)
	if err != nil {
		return err
	}
	sel := c.sel
	if req.Vanished && (!uid || !c.qresync || req.ChangedSince == 0) {
		return errBad(goimap.ResponseCodeClientBug, "VANISHED needs UID FETCH, ENABLE QRESYNC and CHANGEDSINCE")
	}
	withModSeq := req.ChangedSince > 0
	for _, a := range req.Atts {
		withModSeq = withModSeq || a.Kind == wire.FetchModSeq
	}
	if withModSeq {
		c.enableCondstore()
	}
	items := sel.resolveSet(set)
	if req.Vanished {
		if err := c.writeVanishedEarlier(set, req.ChangedSince); err != nil {
			return err
		}
	}
	if req.ChangedSince > 0 {
		kept := items[:0]
		for _, it := range items {
			if it.modseq > req.ChangedSince {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	n := fetchNeeds(req.Atts)
	if n.env {
		if err := c.ensureEnvelopes(sel.v.mb, items); err != nil {
			return err
		}
	}
	flagsChanged := map[goimap.UID]bool{}
	if !sel.readOnly && !sel.deleted && marksSeen(req.Atts) {
		var need []uint32
		for _, it := range items {
			if !hasFlag(it.flags, goimap.FlagSeen) {
				need = append(need, uint32(it.e.uid))
			}
		}
		if len(need) > 0 {
			msgs, err := c.srv.st.StoreFlags(sel.v.mb.id, need, storage.FlagsAdd, []string{string(goimap.FlagSeen)}, sel.v.origin)
			if err != nil {
				return err
			}
			byUID := map[goimap.UID]storage.Message{}
			for _, m := range msgs {
				byUID[goimap.UID(m.UID)] = m
			}
			for i := range items {
				if m, ok := byUID[items[i].e.uid]; ok {
					items[i].flags, items[i].modseq = toFlags(m.Flags), m.ModSeq
					flagsChanged[items[i].e.uid] = true
				}
			}
		}
	}
	for _, it := range items {
		if err := c.fetchOne(it, req.Atts, n, uid, withModSeq, flagsChanged[it.e.uid]); err != nil {
			return err
		}
		if err := c.enc.Err(); err != nil {
			return &errBye{text: "write failed"} // the client went away: stop working for it
		}
	}
	return nil
}

// writeVanishedEarlier answers UID FETCH ... (CHANGEDSINCE m VANISHED)
// (RFC 7162 §3.2.6): the UIDs of the set expunged since m.
func (c *session) writeVanishedEarlier(set goimap.NumSet, since uint64) error {
	gone, err := c.srv.st.Vanished(c.sel.v.mb.id, since)
	if err != nil {
		return err
	}
	us, _ := set.(goimap.UIDSet)
	var out goimap.UIDSet
	for _, u := range gone {
		if us == nil || uidSetContains(us, goimap.UID(u)) {
			out.AddNum(goimap.UID(u))
		}
	}
	if len(out) > 0 {
		c.enc.RawString("* VANISHED (EARLIER) ").RawString(out.String()).CRLF()
	}
	return nil
}

// uidSetContains is UIDSet.Contains with "*" meaning "no upper bound".
func uidSetContains(s goimap.UIDSet, u goimap.UID) bool {
	for _, r := range s {
		if lo, hi := bounds(r.Start, r.Stop, ^goimap.UID(0)); lo <= u && u <= hi {
			return true
		}
	}
	return false
}

func (c *session) fetchOne(it item, atts []wire.FetchAtt, n needs, uid, withModSeq, flagsChanged bool) error {
	var body, header []byte
	var err error
	if n.body {
		body, err = c.srv.st.Body(it.e.blob)
	} else if n.header {
		header, err = c.srv.st.Header(it.e.blob)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil // expunged meanwhile by another session
	}
	if err != nil {
		return err
	}
	if header == nil {
		header = body
	}
	var root, hroot *message.Part // the message's MIME tree; its header's, for header sections
	if n.tree {
		root = message.Parse(body, mimeLimits)
	}
	// BINARY can fail (RFC 3516 §4.3 UNKNOWN-CTE): decode before the
	// response line starts, so a refusal never leaves it half written.
	type decoded struct {
		b  []byte
		ok bool // the part exists
	}
	binary := map[string]decoded{}
	for _, a := range atts {
		if a.Kind != wire.FetchBinary && a.Kind != wire.FetchBinarySize {
			continue
		}
		key := fmt.Sprint(a.Section.Part)
		if _, done := binary[key]; done {
			continue
		}
		b, ok, err := message.Binary(body, root, a.Section.Part)
		if errors.Is(err, message.ErrUnknownCTE) {
			return errNo("UNKNOWN-CTE", "unknown content-transfer-encoding in the requested part")
		}
		binary[key] = decoded{b, ok}
	}
	e := c.enc
	e.RawString("* ").Number(it.seq).RawString(" FETCH (")
	first := true
	item := func(name string) *wire.Encoder {
		if !first {
			e.SP()
		}
		first = false
		return e.RawString(name).SP()
	}
	wroteUID, wroteFlags, wroteModSeq := false, false, false
	writeUID := func() {
		if !wroteUID {
			item("UID").Number(uint32(it.e.uid))
			wroteUID = true
		}
	}
	writeFlags := func() {
		if !wroteFlags {
			item("FLAGS").Flags(c.flagsOf(it))
			wroteFlags = true
		}
	}
	writeModSeq := func() {
		if !wroteModSeq {
			item("MODSEQ").Byte('(').Number64(it.modseq).Byte(')')
			wroteModSeq = true
		}
	}
	// UID first, as Dovecot and most servers send it: a client that keys
	// its cache by UID finds it without walking the ENVELOPE or a literal.
	if uid || slices.ContainsFunc(atts, func(a wire.FetchAtt) bool { return a.Kind == wire.FetchUID }) {
		writeUID()
	}
	for _, a := range atts {
		switch a.Kind {
		case wire.FetchUID:
			writeUID()
		case wire.FetchFlags:
			writeFlags()
		case wire.FetchModSeq:
			writeModSeq()
		case wire.FetchInternalDate:
			item("INTERNALDATE").DateTime(it.e.date)
		case wire.FetchRFC822Size:
			item("RFC822.SIZE").Number64(uint64(it.e.size))
		case wire.FetchEnvelope:
			if env := it.e.env.Load(); env != nil {
				item("ENVELOPE").Raw(*env)
			} else {
				item("ENVELOPE").Raw(message.AppendEnvelope(nil, header))
			}
		case wire.FetchBody, wire.FetchBodyStructure:
			item(a.Name()).Raw(message.AppendBodyStructure(nil, body, root, a.Kind == wire.FetchBodyStructure))
		case wire.FetchRFC822:
			item("RFC822").Literal(body)
		case wire.FetchRFC822Header:
			item("RFC822.HEADER").Literal(headerOf(header))
		case wire.FetchRFC822Text:
			b, _ := message.Section(body, root, nil, "TEXT", nil)
			item("RFC822.TEXT").Literal(b)
		case wire.FetchSection:
			var b []byte
			s := a.Section
			switch {
			case len(s.Part) == 0 && s.Specifier == "":
				b = body
			case len(s.Part) == 0 && strings.HasPrefix(s.Specifier, "HEADER"):
				if hroot == nil {
					hroot = message.Parse(headerOf(header), mimeLimits)
				}
				b, _ = message.Section(header, hroot, nil, s.Specifier, s.Fields)
			default:
				b, _ = message.Section(body, root, s.Part, s.Specifier, s.Fields)
			}
			item(a.Name()).Literal(partial(b, s.Partial))
		case wire.FetchBinary:
			d := binary[fmt.Sprint(a.Section.Part)]
			switch b := partial(d.b, a.Section.Partial); {
			case !d.ok:
				item(a.Name()).NIL()
			case bytes.IndexByte(b, 0) >= 0:
				item(a.Name()).Literal8(b)
			default:
				item(a.Name()).Literal(b)
			}
		case wire.FetchBinarySize:
			item(a.Name()).Number(uint32(len(binary[fmt.Sprint(a.Section.Part)].b))) // no such part: 0
		}
	}
	if uid {
		writeUID()
	}
	if flagsChanged {
		writeFlags()
	}
	if withModSeq {
		writeModSeq()
	}
	e.RawString(")\r\n")
	return nil
}

// headerOf is the header block of a message (or the block itself), as
// storage's Header gives it.
func headerOf(b []byte) []byte { return storage.HeaderBlock(b) }

// partial applies <offset.count> (RFC 9051 §6.4.5).
func partial(b []byte, p *wire.Partial) []byte {
	if p == nil {
		return b
	}
	off := int64(p.Offset)
	if off >= int64(len(b)) {
		return nil
	}
	end := min(off+int64(p.Count), int64(len(b)))
	return b[off:end]
}

// flagsOf is a message's flags as this session shows them: \Recent added
// for the messages this session holds as recent (RFC 3501 §2.3.2).
func (c *session) flagsOf(it item) []goimap.Flag {
	if c.sel != nil && c.sel.recent[it.e.uid] {
		return append(append([]goimap.Flag(nil), it.flags...), goimap.Flag(`\Recent`))
	}
	return it.flags
}

// ensureEnvelopes renders the envelopes the items lack (see
// ensureHeaderCache).
func (c *session) ensureEnvelopes(mb *mailbox, items []item) error {
	return c.ensureHeaderCache(mb, items, func(e *msgEntry) bool { return e.env.Load() == nil },
		func(e *msgEntry, hdr []byte) {
			env := message.AppendEnvelope(nil, hdr)
			e.env.Store(&env)
		})
}

// ensureHeaderCache fills what the items lack of something made from their
// header blocks (lacks tells, fill makes it), reading the blocks in one
// transaction. One session at a time per mailbox does the work, so ten
// clients syncing or searching a fresh folder read it once.
func (c *session) ensureHeaderCache(mb *mailbox, items []item, lacks func(*msgEntry) bool, fill func(*msgEntry, []byte)) error {
	missing := func() []*msgEntry {
		var out []*msgEntry
		for _, it := range items {
			if lacks(it.e) {
				out = append(out, it.e)
			}
		}
		return out
	}
	if len(missing()) == 0 {
		return nil
	}
	mb.envMu.Lock()
	defer mb.envMu.Unlock()
	todo := missing()
	blobs := make([]uint64, len(todo))
	for i, e := range todo {
		blobs[i] = e.blob
	}
	err := c.srv.st.Headers(blobs, func(i int, hdr []byte) { fill(todo[i], hdr) })
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}
