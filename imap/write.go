package imap

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailgate/mailgate/storage"
)

// Store answers STORE and UID STORE (RFC 3501 §6.4.6). The change is
// durable before the answer; other sessions get FETCH FLAGS updates.
func (s *session) Store(w *imapserver.FetchWriter, set goimap.NumSet, flags *goimap.StoreFlags, _ *goimap.StoreOptions) (err error) {
	defer s.srv.metrics.observe("store", time.Now(), &err)
	sel, err := s.checkWritable()
	if err != nil {
		return err
	}
	items := sel.resolveSet(set)
	if len(items) == 0 {
		return nil
	}
	op := storage.FlagsSet
	switch flags.Op {
	case goimap.StoreFlagsAdd:
		op = storage.FlagsAdd
	case goimap.StoreFlagsDel:
		op = storage.FlagsRemove
	}
	msgs, err := s.srv.st.StoreFlags(sel.mb.id, uidsOf(items), op, fromFlags(flags.Flags), sel.t)
	if err != nil {
		return s.reply(err)
	}
	if flags.Silent {
		return nil
	}
	byUID := make(map[goimap.UID][]goimap.Flag, len(msgs))
	for _, m := range msgs {
		byUID[goimap.UID(m.UID)] = toFlags(m.Flags)
	}
	_, isUID := set.(goimap.UIDSet)
	for _, it := range items {
		fl, ok := byUID[it.e.uid]
		if !ok {
			continue // expunged meanwhile
		}
		rw := w.CreateMessage(it.seq)
		if isUID {
			rw.WriteUID(it.e.uid)
		}
		rw.WriteFlags(fl)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Expunge answers EXPUNGE, UID EXPUNGE (RFC 4315) and the expunge of
// CLOSE. The EXPUNGE responses reach this session, like every other, from
// the mailbox tracker when the command completes. In an EXAMINEd mailbox
// EXPUNGE is refused and CLOSE expunges nothing (RFC 3501 §6.4.2).
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *goimap.UIDSet) (err error) {
	defer s.srv.metrics.observe("expunge", time.Now(), &err)
	sel, err := s.checkSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		if isCloseWriter(w) {
			return nil
		}
		return errReadOnly
	}
	var list []uint32
	if uids != nil {
		list = uidsOf(sel.resolveSet(*uids))
		if len(list) == 0 {
			return nil
		}
	}
	gone, err := s.srv.st.Expunge(sel.mb.id, list, sel.t)
	if err != nil {
		return s.reply(err)
	}
	if len(gone) > 0 {
		s.audit("expunge", sel.pl, uidList(gone))
	}
	return nil
}

// isCloseWriter tells CLOSE's ExpungeWriter (which writes nothing: CLOSE
// expunges silently) from EXPUNGE's; imapserver gives no other way.
func isCloseWriter(w *imapserver.ExpungeWriter) bool {
	f := reflect.ValueOf(w).Elem().FieldByName("conn")
	return f.IsValid() && f.IsNil()
}

// Copy answers COPY and UID COPY (RFC 3501 §6.4.7, RFC 4315 COPYUID).
func (s *session) Copy(set goimap.NumSet, dest string) (_ *goimap.CopyData, err error) {
	defer s.srv.metrics.observe("copy", time.Now(), &err)
	sel, err := s.checkSelected()
	if err != nil {
		return nil, err
	}
	res, dst, err := s.copyMove(sel, set, dest, false)
	if err != nil {
		return nil, err
	}
	if len(res.Src) > 0 {
		s.audit("copy", sel.pl, "to "+dst.name+" uids "+uidList(res.Src))
		s.audit("copy_in", dst, "from "+sel.pl.name+" uids "+uidList(res.Dst))
	}
	return copyData(res), nil
}

// Move answers MOVE and UID MOVE (RFC 6851): COPYUID first, then the
// EXPUNGEs, which the tracker delivers when the command completes.
func (s *session) Move(w *imapserver.MoveWriter, set goimap.NumSet, dest string) (err error) {
	defer s.srv.metrics.observe("move", time.Now(), &err)
	sel, err := s.checkWritable()
	if err != nil {
		return err
	}
	res, dst, err := s.copyMove(sel, set, dest, true)
	if err != nil {
		return err
	}
	if len(res.Src) > 0 {
		s.audit("move", sel.pl, "to "+dst.name+" uids "+uidList(res.Src))
		s.audit("move_in", dst, "from "+sel.pl.name+" uids "+uidList(res.Dst))
	}
	return w.WriteCopyData(copyData(res))
}

func (s *session) copyMove(sel *selected, set goimap.NumSet, dest string, move bool) (storage.CopyResult, place, error) {
	pl, f, err := s.openFolder(dest, errTryCreate)
	if err != nil {
		return storage.CopyResult{}, pl, err
	}
	items := sel.resolveSet(set)
	if len(items) == 0 {
		return storage.CopyResult{UIDValidity: f.UIDValidity}, pl, nil
	}
	var res storage.CopyResult
	if move {
		res, err = s.srv.st.Move(sel.mb.id, uidsOf(items), f.ID, sel.t)
	} else {
		res, err = s.srv.st.Copy(sel.mb.id, uidsOf(items), f.ID, sel.t)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return res, pl, errTryCreate // the destination was deleted meanwhile
	}
	return res, pl, s.reply(err)
}

func copyData(res storage.CopyResult) *goimap.CopyData {
	var src, dst goimap.UIDSet
	for i := range res.Src {
		src.AddNum(goimap.UID(res.Src[i]))
		dst.AddNum(goimap.UID(res.Dst[i]))
	}
	return &goimap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

// Append answers APPEND (RFC 3501 §6.3.11, RFC 4315 APPENDUID). The
// message is fsynced before OK.
func (s *session) Append(name string, r goimap.LiteralReader, opts *goimap.AppendOptions) (_ *goimap.AppendData, err error) {
	defer s.srv.metrics.observe("append", time.Now(), &err)
	if err := s.checkSession(); err != nil {
		return nil, err
	}
	pl, _, ok := s.resolver().resolve(name)
	if !ok {
		return nil, errTryCreate
	}
	if r.Size() > int64(s.srv.cfg.AppendLimit) {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeTooBig, Text: "message too big"}
	}
	buf := make([]byte, r.Size())
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeBad, Text: "short message literal"}
	}
	if len(buf) == 0 {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "empty message"}
	}
	var origin any
	if s.sel != nil {
		origin = s.sel.t
	}
	p, err := s.srv.st.Append(pl.owner, pl.folder, buf, fromFlags(opts.Flags), opts.Time, origin)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errTryCreate
	}
	if err != nil {
		return nil, s.reply(err)
	}
	if pl.delegated {
		s.log.Debug("delegated append", "owner", pl.ownerAddr, "right", pl.dc.Right.Flags(), "grant", pl.dc.GrantID)
	}
	return &goimap.AppendData{UID: goimap.UID(p.UID), UIDValidity: p.UIDValidity}, nil
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
