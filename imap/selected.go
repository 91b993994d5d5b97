package imap

import (
	"sort"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// selected is the session's view of its selected mailbox.
type selected struct {
	mb        *mailbox
	t         *imapserver.SessionTracker
	pl        place
	readOnly  bool
	searchRes goimap.UIDSet // SEARCHRES "$" (RFC 5182)
}

// item is one message of a command's set: its number as the client knows
// it, and the entry with the flags it had when the set was resolved.
type item struct {
	seq   uint32
	e     *msgEntry
	flags []goimap.Flag
}

var systemFlagList = []goimap.Flag{goimap.FlagSeen, goimap.FlagAnswered, goimap.FlagFlagged, goimap.FlagDeleted, goimap.FlagDraft}

// Select answers SELECT and EXAMINE (RFC 3501 §6.3.1-2). Opening a folder
// of another principal is audited (Exchange "FolderBind").
func (s *session) Select(name string, opts *goimap.SelectOptions) (_ *goimap.SelectData, err error) {
	defer s.srv.metrics.observe("select", time.Now(), &err)
	s.unselect()
	if err := s.checkSession(); err != nil {
		return nil, err
	}
	pl, f, err := s.openFolder(name, errNoMailbox)
	if err != nil {
		return nil, err
	}
	mb, err := s.srv.boxes.acquire(f)
	if err != nil {
		return nil, s.reply(err)
	}
	mb.mu.RLock()
	if mb.deleted {
		mb.mu.RUnlock()
		s.srv.boxes.release(mb)
		return nil, errNoMailbox
	}
	data := &goimap.SelectData{
		NumMessages: uint32(len(mb.msgs)),
		UIDNext:     mb.uidNext,
		UIDValidity: mb.uidValidity,
	}
	keywords := map[goimap.Flag]bool{}
	for i, e := range mb.msgs {
		seen := false
		for _, fl := range e.flags {
			if fl == goimap.FlagSeen {
				seen = true
			} else if len(fl) > 0 && fl[0] != '\\' {
				keywords[fl] = true
			}
		}
		if !seen && data.FirstUnseenSeqNum == 0 {
			data.FirstUnseenSeqNum = uint32(i + 1)
		}
	}
	t := mb.tracker.NewSession()
	mb.mu.RUnlock()

	data.Flags = append([]goimap.Flag(nil), systemFlagList...)
	kws := make([]goimap.Flag, 0, len(keywords))
	for k := range keywords {
		kws = append(kws, k)
	}
	sort.Slice(kws, func(i, j int) bool { return kws[i] < kws[j] })
	data.Flags = append(data.Flags, kws...)
	if opts.ReadOnly {
		data.PermanentFlags = []goimap.Flag{}
	} else {
		data.PermanentFlags = append(append([]goimap.Flag(nil), data.Flags...), goimap.FlagWildcard)
	}
	s.sel = &selected{mb: mb, t: t, pl: pl, readOnly: opts.ReadOnly}
	if pl.delegated {
		s.srv.metrics.delegated.WithLabelValues(pl.via).Inc()
		action := "folder_bind"
		s.audit(action, pl, map[bool]string{true: "EXAMINE", false: "SELECT"}[opts.ReadOnly])
	}
	return data, nil
}

// Unselect answers UNSELECT and the end of CLOSE (RFC 3691).
func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel == nil {
		return
	}
	s.sel.t.Close()
	s.srv.boxes.release(s.sel.mb)
	s.sel = nil
}

// checkSelected is the first step of every selected-state command: the
// session is alive, a mailbox is selected, and for a folder under Other
// Users the actor still has Full Access now. A revoked right answers
// NO [NOPERM] to every command on that folder (the session and its own
// folders stay usable; SELECT another folder or LOGOUT).
func (s *session) checkSelected() (*selected, error) {
	if err := s.checkSession(); err != nil {
		return nil, err
	}
	sel := s.sel
	if sel == nil {
		return nil, errNoSelection
	}
	if !s.allowed(sel) {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNoPerm,
			Text: "access to this mailbox has been revoked: select another mailbox"}
	}
	sel.mb.mu.RLock()
	deleted := sel.mb.deleted
	sel.mb.mu.RUnlock()
	if deleted {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNonExistent,
			Text: "this mailbox has been deleted: select another mailbox"}
	}
	return sel, nil
}

// allowed asks the directory, now, whether the selected folder may still
// be used.
func (s *session) allowed(sel *selected) bool {
	if sel.pl.via != "other_users" {
		return true // own folder, or a delegate login (checkSession)
	}
	return s.srv.st.Directory().Open(s.actor, sel.pl.owner, s.now()).Allowed
}

func (s *session) checkWritable() (*selected, error) {
	sel, err := s.checkSelected()
	if err != nil {
		return nil, err
	}
	if sel.readOnly {
		return nil, errReadOnly
	}
	return sel, nil
}

// Poll writes pending updates after a command (RFC 3501 §7: untagged
// EXISTS/EXPUNGE/FETCH). A folder whose right was revoked gets none.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.sel
	if sel == nil || !s.allowed(sel) {
		return nil
	}
	return sel.t.Poll(w, allowExpunge)
}

// Idle answers IDLE (RFC 2177): changes made by any session (the owner's
// and the delegates') are pushed as they commit. On a folder under Other
// Users the right is checked before every push, so once it is revoked
// nothing more is sent, and DONE gets NO [NOPERM].
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	sel := s.sel
	if sel == nil {
		<-stop
		return nil
	}
	if sel.pl.via != "other_users" {
		return sel.t.Idle(w, stop)
	}
	revoked := &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNoPerm, Text: "access to this mailbox has been revoked"}
	for {
		sel.mb.mu.RLock()
		changed := sel.mb.changed
		sel.mb.mu.RUnlock()
		if !s.allowed(sel) {
			<-stop
			return revoked
		}
		if err := sel.t.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			if !s.allowed(sel) {
				return revoked
			}
			return nil
		case <-changed:
		}
	}
}

// resolveSet turns a sequence set or UID set (with "*" and "$") into the
// messages the client means, in ascending order, under the mailbox lock.
// Messages the client does not know yet (no sequence number in its view)
// are left out.
func (sel *selected) resolveSet(set goimap.NumSet) []item {
	mb := sel.mb
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	var out []item
	add := func(serverSeq uint32, clientSeq uint32) {
		e := mb.msgs[serverSeq-1]
		out = append(out, item{seq: clientSeq, e: e, flags: e.flags})
	}
	if goimap.IsSearchRes(set) {
		set = sel.searchRes
	}
	switch set := set.(type) {
	case goimap.UIDSet:
		var maxUID goimap.UID
		if n := len(mb.msgs); n > 0 {
			maxUID = mb.msgs[n-1].uid
		}
		var seen map[int]bool // only a set of several ranges can name a message twice
		if len(set) > 1 {
			seen = map[int]bool{}
		}
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, maxUID)
			i := sort.Search(len(mb.msgs), func(i int) bool { return mb.msgs[i].uid >= start })
			for ; i < len(mb.msgs) && mb.msgs[i].uid <= stop; i++ {
				if seen != nil {
					if seen[i] {
						continue
					}
					seen[i] = true
				}
				if c := sel.t.EncodeSeqNum(uint32(i + 1)); c != 0 {
					add(uint32(i+1), c)
				}
			}
		}
		if len(set) > 1 {
			sort.Slice(out, func(a, b int) bool { return out[a].e.uid < out[b].e.uid })
		}
	case goimap.SeqSet:
		clientMax := sel.clientMaxLocked()
		var seen map[uint32]bool
		if len(set) > 1 {
			seen = map[uint32]bool{}
		}
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, clientMax)
			stop = min(stop, clientMax)
			for c := start; c >= 1 && c <= stop; c++ {
				if seen != nil {
					if seen[c] {
						continue
					}
					seen[c] = true
				}
				if srv := sel.t.DecodeSeqNum(c); srv != 0 && int(srv) <= len(mb.msgs) {
					add(srv, c)
				}
				if c == ^uint32(0) {
					break
				}
			}
		}
		if len(set) > 1 {
			sort.Slice(out, func(a, b int) bool { return out[a].seq < out[b].seq })
		}
	}
	return out
}

// bounds resolves "*" (0) in a range to star and puts the ends in order
// (RFC 3501 §9: "2:4" and "4:2" are the same set).
func bounds[T ~uint32](start, stop, star T) (T, T) {
	if start == 0 {
		start = star
	}
	if stop == 0 {
		stop = star
	}
	return min(start, stop), max(start, stop)
}

// clientMaxLocked is the highest sequence number of a live message in the
// client's view ("*").
func (sel *selected) clientMaxLocked() uint32 {
	for n := uint32(len(sel.mb.msgs)); n > 0; n-- {
		if c := sel.t.EncodeSeqNum(n); c != 0 {
			return c
		}
	}
	return 0
}

func uidsOf(items []item) []uint32 {
	out := make([]uint32, len(items))
	for i, it := range items {
		out[i] = uint32(it.e.uid)
	}
	return out
}
