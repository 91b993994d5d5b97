package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
)

// copyMessages: COPY (RFC 4315 COPYUID) maps source UIDs to the
// destination's next UIDs in order, skips missing ones, keeps flags, dates
// and the shared body (one more reference), and changes the destination
// only.
func copyMessages(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	src := folder(t, st, mb.alice, "INBOX")
	d1 := time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	for i, flags := range [][]string{{`\Seen`}, nil, {"$A", `\Flagged`}} {
		if _, err := st.Append(mb.alice, "INBOX", msgOf(string(rune('a'+i))), flags, d1.Add(time.Duration(i)*time.Hour), storage.NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	dst := create(t, st, mb.alice, "Keep")
	appendMsg(t, st, mb.alice, "Keep", msgOf("already"))
	srcMs := messages(t, st, src.ID)
	srcBefore := folderByID(t, st, src.ID)
	dstBefore := folderByID(t, st, dst.ID)
	cl := listen(st)
	var outcomes []storage.Outcome
	audit := func(o storage.Outcome) []storage.AuditRecord {
		outcomes = append(outcomes, o)
		return []storage.AuditRecord{{Proto: "imap", Action: "copy", MailboxID: string(mb.alice), Folder: "Keep"}}
	}
	res, err := st.Copy(src.ID, []uint32{3, 99, 1, 3}, dst.ID, originOf("s4"), audit)
	fatal(t, err)
	if res.UIDValidity != dst.UIDValidity || !slices.Equal(res.Src, []uint32{1, 3}) || !slices.Equal(res.Dst, []uint32{2, 3}) {
		t.Errorf("Copy = %+v; want UIDVALIDITY %d, [1 3] → [2 3]", res, dst.UIDValidity)
	}
	if len(outcomes) != 1 || !slices.Equal(outcomes[0].UIDs, []uint32{1, 3}) || !slices.Equal(outcomes[0].DstUIDs, []uint32{2, 3}) {
		t.Errorf("Copy's audit outcome %+v", outcomes)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "copy"}); len(recs) != 1 || recs[0].Folder != "Keep" {
		t.Errorf("Copy's audit records %+v", recs)
	}
	got := messages(t, st, dst.ID)
	if len(got) != 3 {
		t.Fatalf("destination holds %d messages, want 3", len(got))
	}
	for i, s := range []storage.Message{srcMs[0], srcMs[2]} {
		c := got[i+1]
		if c.UID != uint32(i+2) || c.Blob != s.Blob || !slices.Equal(c.Flags, s.Flags) || !c.InternalDate.Equal(s.InternalDate) || c.Size != s.Size ||
			c.ModSeq != dstBefore.HighestModSeq+uint64(i)+1 {
			t.Errorf("copy %+v of %+v", c, s)
		}
	}
	for i, want := range []uint64{2, 1, 2} {
		if n := refs(t, st, srcMs[i].Blob); n != want {
			t.Errorf("source message %d: %d references, want %d", i+1, n, want)
		}
	}
	if s := folderByID(t, st, src.ID); s != srcBefore {
		t.Errorf("Copy changed the source: %+v, was %+v", s, srcBefore)
	}
	if !slices.Equal(uidsOf(messages(t, st, src.ID)), []uint32{1, 2, 3}) {
		t.Errorf("Copy removed source messages")
	}
	d := folderByID(t, st, dst.ID)
	if d.Count != 3 || d.UIDNext != 4 || d.Size != dstBefore.Size+uint64(srcMs[0].Size+srcMs[2].Size) || d.HighestModSeq != dstBefore.HighestModSeq+2 {
		t.Errorf("destination after Copy = %+v, was %+v", d, dstBefore)
	}
	cs := mailChanges(cl.take())
	if len(cs) != 2 {
		t.Fatalf("Copy announced %+v, want two appends", cs)
	}
	for i, c := range cs {
		if c.Kind != storage.ChangeAppend || c.FolderID != dst.ID || c.UID != res.Dst[i] || c.ModSeq != got[i+1].ModSeq || c.Origin != originOf("s4") ||
			c.Owner != mb.alice || c.Folder != "Keep" || c.Message.Blob != got[i+1].Blob || !slices.Equal(c.Flags, got[i+1].Flags) ||
			c.Message.UID != got[i+1].UID || c.Message.Size != got[i+1].Size || !c.Message.InternalDate.Equal(got[i+1].InternalDate) ||
			!slices.Equal(c.Message.Flags, got[i+1].Flags) {
			t.Errorf("Copy announced %+v", c)
		}
	}
	// Nothing to copy: an empty result, nothing changed.
	res, err = st.Copy(src.ID, []uint32{42}, dst.ID, storage.NoOrigin, nil)
	if err != nil || len(res.Src) != 0 || len(res.Dst) != 0 {
		t.Errorf("Copy of a missing UID = %+v, %v", res, err)
	}
	if f := folderByID(t, st, dst.ID); f != d {
		t.Errorf("Copy of nothing changed the destination: %+v", f)
	}
}

// moveMessages: MOVE (RFC 6851) adds the copies to the destination and
// removes the originals, with tombstones, keeping the body's references.
func moveMessages(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	src := fill(t, st, mb.alice, "INBOX", 4)
	if _, err := st.StoreFlags(src.ID, []uint32{2}, storage.FlagsSet, []string{`\Answered`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	dst := create(t, st, mb.alice, "Done")
	srcMs := messages(t, st, src.ID)
	srcBefore := folderByID(t, st, src.ID)
	cl := listen(st)
	var outcomes []storage.Outcome
	audit := func(o storage.Outcome) []storage.AuditRecord {
		outcomes = append(outcomes, o)
		return []storage.AuditRecord{{Proto: "imap", Action: "move", MailboxID: string(mb.alice)}}
	}
	res, err := st.Move(src.ID, []uint32{4, 2, 77}, dst.ID, originOf("s5"), audit)
	fatal(t, err)
	if res.UIDValidity != dst.UIDValidity || !slices.Equal(res.Src, []uint32{2, 4}) || !slices.Equal(res.Dst, []uint32{1, 2}) {
		t.Errorf("Move = %+v; want [2 4] → [1 2]", res)
	}
	if len(outcomes) != 1 || !slices.Equal(outcomes[0].UIDs, []uint32{2, 4}) || !slices.Equal(outcomes[0].DstUIDs, []uint32{1, 2}) {
		t.Errorf("Move's audit outcome %+v", outcomes)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "move"}); len(recs) != 1 {
		t.Errorf("Move's audit: %d records", len(recs))
	}
	if !slices.Equal(uidsOf(messages(t, st, src.ID)), []uint32{1, 3}) {
		t.Errorf("source after Move holds %v, want [1 3]", uidsOf(messages(t, st, src.ID)))
	}
	got := messages(t, st, dst.ID)
	if len(got) != 2 || got[0].Blob != srcMs[1].Blob || got[1].Blob != srcMs[3].Blob || !slices.Equal(got[0].Flags, []string{`\Answered`}) ||
		!got[0].InternalDate.Equal(srcMs[1].InternalDate) || got[0].ModSeq != 2 || got[1].ModSeq != 3 {
		t.Errorf("destination after Move: %+v", got)
	}
	for i, m := range srcMs {
		if n := refs(t, st, m.Blob); n != 1 {
			t.Errorf("message %d: %d references after Move, want 1", i+1, n)
		}
	}
	sf, df := folderByID(t, st, src.ID), folderByID(t, st, dst.ID)
	sz := uint64(srcMs[0].Size)
	if sf.Count != 2 || sf.UIDNext != 5 || sf.Size != 2*sz || sf.HighestModSeq != srcBefore.HighestModSeq+2 {
		t.Errorf("source after Move = %+v, was %+v", sf, srcBefore)
	}
	if df.Count != 2 || df.UIDNext != 3 || df.Size != 2*sz || df.HighestModSeq != 3 {
		t.Errorf("destination after Move = %+v", df)
	}
	if v, err := st.Vanished(src.ID, srcBefore.HighestModSeq); err != nil || !slices.Equal(v, []uint32{2, 4}) {
		t.Errorf("Vanished after Move = %v, %v; want [2 4]", v, err)
	}
	cs := mailChanges(cl.take())
	var kinds []string
	for _, c := range cs {
		if c.Origin != originOf("s5") {
			t.Errorf("Move announced %+v without its origin", c)
		}
		switch {
		case c.Kind == storage.ChangeAppend && c.FolderID == dst.ID:
			kinds = append(kinds, "append "+string(rune('0'+c.UID)))
		case c.Kind == storage.ChangeExpunge && c.FolderID == src.ID:
			kinds = append(kinds, "expunge "+string(rune('0'+c.UID)))
			if c.ModSeq <= srcBefore.HighestModSeq || c.ModSeq > sf.HighestModSeq {
				t.Errorf("Move's removal %+v: modseq outside (%d, %d]", c, srcBefore.HighestModSeq, sf.HighestModSeq)
			}
		default:
			t.Errorf("Move announced %+v", c)
		}
	}
	slices.Sort(kinds)
	if want := []string{"append 1", "append 2", "expunge 2", "expunge 4"}; !slices.Equal(kinds, want) {
		t.Errorf("Move announced %q, want %q", kinds, want)
	}
	checkModSeqs(t, cs)
}

// copyMoveSameFolder: COPY into the same folder adds copies under new
// UIDs; MOVE within one folder renumbers, each change with its own
// increasing mod-sequence.
func copyMoveSameFolder(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", 2)
	ms := messages(t, st, f.ID)
	cl := listen(st)
	res, err := st.Copy(f.ID, []uint32{1, 2}, f.ID, storage.NoOrigin, nil)
	fatal(t, err)
	if res.UIDValidity != f.UIDValidity || !slices.Equal(res.Src, []uint32{1, 2}) || !slices.Equal(res.Dst, []uint32{3, 4}) {
		t.Errorf("Copy into the same folder = %+v", res)
	}
	if n := refs(t, st, ms[0].Blob); n != 2 {
		t.Errorf("after Copy into the same folder: %d references, want 2", n)
	}
	got := folderByID(t, st, f.ID)
	if got.Count != 4 || got.UIDNext != 5 || got.Size != 2*f.Size || got.HighestModSeq != f.HighestModSeq+2 {
		t.Errorf("after Copy into the same folder: %+v, was %+v", got, f)
	}
	res, err = st.Move(f.ID, []uint32{1, 3}, f.ID, storage.NoOrigin, nil)
	fatal(t, err)
	if !slices.Equal(res.Src, []uint32{1, 3}) || !slices.Equal(res.Dst, []uint32{5, 6}) {
		t.Errorf("Move within the folder = %+v", res)
	}
	if uids := uidsOf(messages(t, st, f.ID)); !slices.Equal(uids, []uint32{2, 4, 5, 6}) {
		t.Errorf("after Move within the folder: UIDs %v, want [2 4 5 6]", uids)
	}
	after := folderByID(t, st, f.ID)
	if after.Count != 4 || after.UIDNext != 7 || after.Size != got.Size || after.HighestModSeq != got.HighestModSeq+4 {
		t.Errorf("after Move within the folder: %+v, was %+v", after, got)
	}
	if n := refs(t, st, ms[0].Blob); n != 2 {
		t.Errorf("after Move within the folder: %d references, want 2", n)
	}
	if v, _ := st.Vanished(f.ID, got.HighestModSeq); !slices.Equal(v, []uint32{1, 3}) {
		t.Errorf("Vanished after Move within the folder = %v, want [1 3]", v)
	}
	last := checkModSeqs(t, cl.take())
	if last[f.ID] != after.HighestModSeq {
		t.Errorf("last announced modseq %d, HighestModSeq %d", last[f.ID], after.HighestModSeq)
	}
}

// copyMoveMissing: COPY or MOVE to or from a folder that does not exist
// fails with ErrNotFound and changes nothing.
func copyMoveMissing(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", 2)
	gone := create(t, st, mb.alice, "Gone")
	if _, err := st.DeleteFolder(mb.alice, "Gone", nil); err != nil {
		t.Fatal(err)
	}
	blob := messages(t, st, f.ID)[0].Blob
	_, err := st.Copy(f.ID, []uint32{1}, gone.ID, storage.NoOrigin, nil)
	wantKind(t, "Copy to a deleted folder", err, storage.ErrNotFound)
	_, err = st.Move(f.ID, []uint32{1}, gone.ID, storage.NoOrigin, nil)
	wantKind(t, "Move to a deleted folder", err, storage.ErrNotFound)
	if got := folderByID(t, st, f.ID); got != f || len(messages(t, st, f.ID)) != 2 || refs(t, st, blob) != 1 {
		t.Errorf("refused COPY/MOVE changed the source: %+v, was %+v; %d references", got, f, refs(t, st, blob))
	}
	_, err = st.Move(gone.ID, []uint32{1}, f.ID, storage.NoOrigin, nil)
	wantKind(t, "Move from a deleted folder", err, storage.ErrNotFound)
	if got := folderByID(t, st, f.ID); got != f {
		t.Errorf("Move from a deleted folder changed the target: %+v", got)
	}
}
