package storage

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// modseqLog records the ModSeq of every announced change, per folder.
type modseqLog struct {
	mu   sync.Mutex
	last map[uint64]uint64 // folder → ModSeq of its latest change
	bad  []string
}

func (l *modseqLog) add(c Change) {
	if c.Kind != ChangeAppend && c.Kind != ChangeFlags && c.Kind != ChangeExpunge {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[uint64]uint64{}
	}
	if c.ModSeq <= l.last[c.FolderID] {
		l.bad = append(l.bad, fmt.Sprintf("folder %d: change %d:%d with modseq %d after %d", c.FolderID, c.Kind, c.UID, c.ModSeq, l.last[c.FolderID]))
	}
	if c.Kind == ChangeAppend && c.Message.ModSeq != c.ModSeq {
		l.bad = append(l.bad, fmt.Sprintf("folder %d: append %d: Message.ModSeq %d, Change.ModSeq %d", c.FolderID, c.UID, c.Message.ModSeq, c.ModSeq))
	}
	l.last[c.FolderID] = c.ModSeq
}

func (l *modseqLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		t.Fatalf("change modseqs: %v", l.bad[:min(5, len(l.bad))])
	}
}

func (l *modseqLog) lastOf(folder uint64) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[folder]
}

func folderByID(t *testing.T, st *Store, id uint64) Folder {
	t.Helper()
	f, err := st.FolderByID(id)
	if err != nil {
		t.Fatalf("FolderByID(%d): %v", id, err)
	}
	return f
}

func modseqs(t *testing.T, st *Store, folder uint64) map[uint32]uint64 {
	t.Helper()
	ms, err := st.Messages(folder, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]uint64{}
	for _, m := range ms {
		out[m.UID] = m.ModSeq
	}
	return out
}

// TestModSeq: every kind of change to a folder's messages takes a new,
// greater mod-sequence from that folder, a no-op STORE takes none, the
// folder's HighestModSeq follows, and all of it survives a reopen.
func TestModSeq(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	var log modseqLog
	st.OnChange(log.add)
	const alice = delegation.ID("p1")

	inbox, err := st.Folder(alice, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if inbox.HighestModSeq != 1 {
		t.Fatalf("new folder: HighestModSeq %d, want 1", inbox.HighestModSeq)
	}
	hms := inbox.HighestModSeq
	// step checks that the folder's HighestModSeq went up (or not) and
	// equals the latest announced change's ModSeq.
	step := func(what string, id uint64, wantUp bool) Folder {
		t.Helper()
		f := folderByID(t, st, id)
		if up := f.HighestModSeq > hms; up != wantUp || f.HighestModSeq < hms {
			t.Fatalf("%s: HighestModSeq %d → %d, want it to go up: %v", what, hms, f.HighestModSeq, wantUp)
		}
		if wantUp && f.HighestModSeq != log.lastOf(id) {
			t.Fatalf("%s: HighestModSeq %d, latest change's ModSeq %d", what, f.HighestModSeq, log.lastOf(id))
		}
		hms = f.HighestModSeq
		return f
	}

	for i := range 3 {
		p, err := st.Append(alice, "INBOX", msgOf(fmt.Sprint(i)), nil, time.Time{}, NoOrigin)
		if err != nil {
			t.Fatal(err)
		}
		step("append", inbox.ID, true)
		if ms := modseqs(t, st, inbox.ID); ms[p.UID] != hms {
			t.Fatalf("appended message %d: ModSeq %d, want the folder's %d", p.UID, ms[p.UID], hms)
		}
	}
	before := modseqs(t, st, inbox.ID)
	if !(1 < before[1] && before[1] < before[2] && before[2] < before[3]) {
		t.Fatalf("appends' modseqs not increasing from 1: %v", before)
	}

	// STORE: only messages whose flags change take a new modseq.
	if _, err := st.StoreFlags(inbox.ID, []uint32{2}, FlagsAdd, []string{`\Seen`}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	step("store on 2", inbox.ID, true)
	got, err := st.StoreFlags(inbox.ID, []uint32{1, 2, 3}, FlagsAdd, []string{`\seen`}, NoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	step("store on 1, 3", inbox.ID, true)
	after := modseqs(t, st, inbox.ID)
	if after[2] != hms-2 || !(after[1] > after[2] && after[3] > after[1]) || after[3] != hms {
		t.Fatalf("modseqs after the stores: %v (HighestModSeq %d)", after, hms)
	}
	for _, m := range got {
		if m.ModSeq != after[m.UID] {
			t.Fatalf("StoreFlags returned message %d with ModSeq %d, stored %d", m.UID, m.ModSeq, after[m.UID])
		}
	}
	got, err = st.StoreFlags(inbox.ID, []uint32{1, 2, 3}, FlagsAdd, []string{`\SEEN`}, NoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	step("no-op store", inbox.ID, false)
	if !maps(after, modseqs(t, st, inbox.ID)) || len(got) != 3 || got[0].ModSeq != after[1] {
		t.Fatalf("a no-op STORE changed modseqs: %v → %v (returned %+v)", after, modseqs(t, st, inbox.ID), got)
	}

	// EXPUNGE takes one for the removal.
	if _, err := st.StoreFlags(inbox.ID, []uint32{3}, FlagsAdd, []string{`\Deleted`}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	step("store \\Deleted", inbox.ID, true)
	if _, err := st.Expunge(inbox.ID, nil, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	step("expunge", inbox.ID, true)

	// COPY changes the destination only; MOVE both.
	work, err := st.CreateFolder(alice, "Work", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if work.HighestModSeq != 1 {
		t.Fatalf("CreateFolder: HighestModSeq %d, want 1", work.HighestModSeq)
	}
	if _, err := st.Copy(inbox.ID, []uint32{1}, work.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	step("copy (source)", inbox.ID, false)
	w := folderByID(t, st, work.ID)
	if w.HighestModSeq <= 1 || modseqs(t, st, work.ID)[1] != w.HighestModSeq {
		t.Fatalf("copy: destination HighestModSeq %d, copy's modseqs %v", w.HighestModSeq, modseqs(t, st, work.ID))
	}
	if _, err := st.Move(inbox.ID, []uint32{2}, work.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	step("move (source)", inbox.ID, true)
	w2 := folderByID(t, st, work.ID)
	if w2.HighestModSeq <= w.HighestModSeq || modseqs(t, st, work.ID)[2] != w2.HighestModSeq || log.lastOf(work.ID) != w2.HighestModSeq {
		t.Fatalf("move: destination HighestModSeq %d → %d, modseqs %v", w.HighestModSeq, w2.HighestModSeq, modseqs(t, st, work.ID))
	}
	// MOVE within one folder: the copy's append, then the original's
	// expunge, both announced in increasing order.
	if _, err := st.Move(work.ID, []uint32{1, 2}, work.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	log.check(t)

	// HighestModSeq is at least every message's modseq, and all of it
	// survives a reopen; Folders and Snapshot agree.
	wantInbox, wantWork := folderByID(t, st, inbox.ID), folderByID(t, st, work.ID)
	wantMsgs := modseqs(t, st, work.ID)
	for uid, ms := range wantMsgs {
		if ms > wantWork.HighestModSeq || ms == 0 {
			t.Fatalf("message %d: ModSeq %d, folder's HighestModSeq %d", uid, ms, wantWork.HighestModSeq)
		}
	}
	st.Close()
	if st, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if f := folderByID(t, st, inbox.ID); f.HighestModSeq != wantInbox.HighestModSeq {
		t.Fatalf("after reopen: INBOX HighestModSeq %d, want %d", f.HighestModSeq, wantInbox.HighestModSeq)
	}
	all, err := st.Folders(alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if f.ID == work.ID && f.HighestModSeq != wantWork.HighestModSeq {
			t.Fatalf("after reopen: Folders gives Work HighestModSeq %d, want %d", f.HighestModSeq, wantWork.HighestModSeq)
		}
	}
	if err := st.Snapshot(work.ID, func(f Folder, msgs []Message) {
		if f.HighestModSeq != wantWork.HighestModSeq || len(msgs) != len(wantMsgs) {
			t.Errorf("after reopen: Snapshot %+v with %d messages", f, len(msgs))
		}
		for _, m := range msgs {
			if m.ModSeq != wantMsgs[m.UID] {
				t.Errorf("after reopen: message %d ModSeq %d, want %d", m.UID, m.ModSeq, wantMsgs[m.UID])
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func maps(a, b map[uint32]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestModSeqOldRecords: a folder and a message written before
// mod-sequences existed read as 1, and their next change is 2.
func TestModSeqOldRecords(t *testing.T) {
	st := openMailTest(t)
	f, err := st.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// The records as the previous version wrote them: no modseq fields.
	type oldFolder struct {
		ID          uint64        `json:"id"`
		Owner       delegation.ID `json:"owner"`
		Name        string        `json:"name"`
		UIDValidity uint32        `json:"uid_validity"`
		UIDNext     uint32        `json:"uid_next"`
		Count       uint32        `json:"count"`
		Subscribed  bool          `json:"subscribed"`
	}
	if err := st.update(func(txn *badger.Txn) error {
		if err := setJSON(txn, foldRecKey(f.ID), oldFolder{ID: f.ID, Owner: f.Owner, Name: f.Name, UIDValidity: f.UIDValidity, UIDNext: 2, Count: 1, Subscribed: true}); err != nil {
			return err
		}
		return txn.Set(msgKey(f.ID, 1), []byte(`{"uid":1,"flags":["\\Seen"],"date":"2024-01-02T03:04:05Z","size":3,"blob":0}`))
	}); err != nil {
		t.Fatal(err)
	}
	if got := folderByID(t, st, f.ID); got.HighestModSeq != 1 || got.UIDNext != 2 {
		t.Fatalf("old folder record reads as %+v, want HighestModSeq 1", got)
	}
	if got, _ := st.Folder("p1", "INBOX"); got.HighestModSeq != 1 {
		t.Fatalf("Folder: HighestModSeq %d, want 1", got.HighestModSeq)
	}
	ms, err := st.Messages(f.ID, 0, 0)
	if err != nil || len(ms) != 1 || ms[0].ModSeq != 1 {
		t.Fatalf("old message record reads as %+v, %v; want ModSeq 1", ms, err)
	}
	if err := st.Snapshot(f.ID, func(f Folder, msgs []Message) {
		if f.HighestModSeq != 1 || len(msgs) != 1 || msgs[0].ModSeq != 1 {
			t.Errorf("Snapshot of old records: %+v %+v", f, msgs)
		}
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.StoreFlags(f.ID, []uint32{1}, FlagsAdd, []string{`\Seen`}, NoOrigin)
	if err != nil || len(got) != 1 || got[0].ModSeq != 1 {
		t.Fatalf("no-op StoreFlags on an old record = %+v, %v; want ModSeq 1", got, err)
	}
	got, err = st.StoreFlags(f.ID, []uint32{1}, FlagsAdd, []string{`\Flagged`}, NoOrigin)
	if err != nil || len(got) != 1 || got[0].ModSeq != 2 {
		t.Fatalf("first change of an old record = %+v, %v; want ModSeq 2", got, err)
	}
	if got := folderByID(t, st, f.ID); got.HighestModSeq != 2 {
		t.Fatalf("HighestModSeq after the first change: %d, want 2", got.HighestModSeq)
	}
}

// TestVanished: the tombstones tell exactly which UIDs left the folder
// (expunged or moved away) after a mod-sequence, and go with the folder.
func TestVanished(t *testing.T) {
	st := openMailTest(t)
	const alice = delegation.ID("p1")
	box, err := st.CreateFolder(alice, "Box", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateFolder(alice, "Other", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := st.Append(alice, "Box", msgOf(fmt.Sprint(i)), []string{`\Deleted`}, time.Time{}, NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	hms := func() uint64 { return folderByID(t, st, box.ID).HighestModSeq }
	vanished := func(since uint64, want ...uint32) {
		t.Helper()
		got, err := st.Vanished(box.ID, since)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Vanished(%d) = %v, %v; want %v", since, got, err, want)
		}
	}
	start := hms()
	vanished(0)
	if _, err := st.Expunge(box.ID, []uint32{4, 2}, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	afterFirst := hms()
	if _, err := st.Copy(box.ID, []uint32{1}, other.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StoreFlags(box.ID, []uint32{1}, FlagsRemove, []string{`\Deleted`}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(box.ID, []uint32{5}, other.ID, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	afterMove := hms()
	if _, err := st.Expunge(box.ID, nil, NoOrigin, nil); err != nil { // 3 and 6; 1 lost \Deleted
		t.Fatal(err)
	}
	vanished(0, 2, 3, 4, 5, 6)
	vanished(start, 2, 3, 4, 5, 6)
	vanished(afterFirst, 3, 5, 6)
	vanished(afterMove, 3, 6)
	vanished(hms())
	if got, _ := st.Vanished(other.ID, 0); len(got) != 0 {
		t.Fatalf("Vanished of the copy and move destination: %v", got)
	}

	if _, err := st.DeleteFolder(alice, "Box", nil); err != nil {
		t.Fatal(err)
	}
	vanished(0)
	if err := st.view(func(txn *badger.Txn) error {
		return scan(txn, prefGone, func(k, _ []byte) error {
			return fmt.Errorf("tombstone %s left after its folder was deleted", k)
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestStoreFlagsIf: UNCHANGEDSINCE leaves a message changed since alone
// and reports it; the others change as with StoreFlags.
func TestStoreFlagsIf(t *testing.T) {
	st := openMailTest(t)
	var log changeLog
	st.OnChange(log.add)
	f, err := st.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := st.Append("p1", "INBOX", msgOf(fmt.Sprint(i)), nil, time.Time{}, NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	since := folderByID(t, st, f.ID).HighestModSeq
	if _, err := st.StoreFlags(f.ID, []uint32{2}, FlagsAdd, []string{"$Other"}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	before := modseqs(t, st, f.ID)
	log.cs = nil

	updated, modified, err := st.StoreFlagsIf(f.ID, []uint32{3, 1, 2, 9}, FlagsAdd, []string{`\Flagged`}, since, NoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(modified, []uint32{2}) {
		t.Fatalf("StoreFlagsIf(since %d): modified %v, want [2]", since, modified)
	}
	if len(updated) != 2 || updated[0].UID != 1 || updated[1].UID != 3 {
		t.Fatalf("StoreFlagsIf: updated %+v, want messages 1 and 3", updated)
	}
	for _, m := range updated {
		if !HasFlag(m.Flags, `\Flagged`) || m.ModSeq <= before[2] {
			t.Fatalf("StoreFlagsIf: updated message %+v", m)
		}
	}
	ms, _ := st.Messages(f.ID, 2, 2)
	if len(ms) != 1 || HasFlag(ms[0].Flags, `\Flagged`) || ms[0].ModSeq != before[2] {
		t.Fatalf("message 2, changed since %d, was touched: %+v", since, ms)
	}
	if got := log.kinds(); got != "3:1 3:3 " {
		t.Fatalf("announced %q, want flag changes of 1 and 3 only", got)
	}

	// UNCHANGEDSINCE 0 fails every message: no modseq is 0.
	after := modseqs(t, st, f.ID)
	updated, modified, err = st.StoreFlagsIf(f.ID, []uint32{1, 2, 3}, FlagsSet, nil, 0, NoOrigin)
	if err != nil || len(updated) != 0 || !slices.Equal(modified, []uint32{1, 2, 3}) {
		t.Fatalf("StoreFlagsIf(since 0) = %+v, %v, %v; want all modified", updated, modified, err)
	}
	if !maps(after, modseqs(t, st, f.ID)) {
		t.Fatal("StoreFlagsIf(since 0) changed messages")
	}
	// A passing message whose flags would not change keeps its modseq.
	hms := folderByID(t, st, f.ID).HighestModSeq
	updated, modified, err = st.StoreFlagsIf(f.ID, []uint32{1}, FlagsAdd, []string{`\Flagged`}, hms, NoOrigin)
	if err != nil || len(modified) != 0 || len(updated) != 1 || updated[0].ModSeq != after[1] {
		t.Fatalf("no-op StoreFlagsIf = %+v, %v, %v", updated, modified, err)
	}
}

// TestConcurrentModSeq: with deliveries, STOREs, copies and expunges
// running at once, each folder's changes are announced with strictly
// increasing modseqs, and the folder's HighestModSeq ends at the last.
func TestConcurrentModSeq(t *testing.T) {
	st := openMailTest(t)
	var log modseqLog
	st.OnChange(log.add)
	inbox, err := st.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // so that the STOREs below find messages at once
		if _, err := st.Deliver(Delivery{Message: msgOf(fmt.Sprint(i)), Targets: []Target{{Owner: "p1"}}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				_, err := st.Deliver(Delivery{Message: msgOf(fmt.Sprint(w, i)),
					Targets: []Target{{Owner: "p1"}, {Owner: delegation.ID(fmt.Sprint("p", 2+w%2)), Folder: "Sent"}}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			for i := range 40 {
				uids := []uint32{uint32(i + 1), uint32(2*i + 1), uint32(i*3 + w)}
				op := []FlagOp{FlagsAdd, FlagsRemove, FlagsSet}[(i+w)%3]
				if _, err := st.StoreFlags(inbox.ID, uids, op, []string{`\Deleted`, fmt.Sprint("$w", w)}, NoOrigin); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		sent, err := st.Folder("p2", "Sent")
		if err != nil {
			errs <- err
			return
		}
		for i := range 20 {
			if _, err := st.Expunge(inbox.ID, nil, NoOrigin, nil); err != nil {
				errs <- err
				return
			}
			if _, err := st.Copy(inbox.ID, []uint32{uint32(i + 1)}, sent.ID, NoOrigin, nil); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	log.check(t)
	for _, owner := range []delegation.ID{"p1", "p2", "p3"} {
		all, err := st.Folders(owner)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range all {
			if last := log.lastOf(f.ID); last != 0 && f.HighestModSeq != last {
				t.Errorf("%s %s: HighestModSeq %d, last announced change %d", owner, f.Name, f.HighestModSeq, last)
			}
		}
	}
	if log.lastOf(inbox.ID) < 100 {
		t.Fatalf("INBOX: last modseq %d after 100 deliveries", log.lastOf(inbox.ID))
	}
}
