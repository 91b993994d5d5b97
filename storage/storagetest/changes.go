package storagetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

var (
	originsMu   sync.Mutex
	origins     = map[string]storage.Origin{}
	originNames = map[storage.Origin]string{}
)

// originOf is the Origin token of the session called name, the same one
// for every call with that name.
func originOf(name string) storage.Origin {
	originsMu.Lock()
	defer originsMu.Unlock()
	o, ok := origins[name]
	if !ok {
		o = storage.NewOrigin()
		origins[name], originNames[o] = o, name
	}
	return o
}

// originName is the name originOf gave o ("-" for NoOrigin).
func originName(o storage.Origin) string {
	originsMu.Lock()
	defer originsMu.Unlock()
	if n, ok := originNames[o]; ok {
		return n
	}
	if o == storage.NoOrigin {
		return "-"
	}
	return fmt.Sprint(uint64(o))
}

// changeOrder: every change is announced, in commit order, to every
// listener, with its folder, UID, mod-sequence and the Origin passed in.
func changeOrder(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	a, b := originOf("a"), originOf("b")
	cl := listen(st)
	second := listen(st)
	inbox := folder(t, st, mb.alice, "INBOX")
	cl.take() // INBOX made on first use may or may not be announced
	second.take()

	work, err := st.CreateFolder(mb.alice, "Work/2026", "", nil)
	fatal(t, err)
	parent := folder(t, st, mb.alice, "Work")
	if _, err := st.Deliver(storage.Delivery{Message: msgOf("one"), Targets: []storage.Target{{Owner: mb.alice}, {Owner: mb.alice, Folder: "Work/2026"}}, Origin: a}); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, st, mb.alice, "INBOX", msgOf("two"))
	if _, err := st.StoreFlags(inbox.ID, []uint32{1, 2}, storage.FlagsAdd, []string{`\Deleted`}, b); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Copy(inbox.ID, []uint32{2}, work.ID, a, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(work.ID, []uint32{1}, inbox.ID, b, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(inbox.ID, []uint32{1}, a, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(mb.alice, "Work", "Jobs", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteFolder(mb.alice, "Jobs/2026", nil); err != nil {
		t.Fatal(err)
	}

	fname := map[uint64]string{inbox.ID: "INBOX", work.ID: "W", parent.ID: "P"}
	describe := func(c storage.Change) string {
		o := originName(c.Origin)
		switch c.Kind {
		case storage.ChangeFolder:
			return fmt.Sprintf("folder %s %s", fname[c.FolderID], c.Folder)
		case storage.ChangeDelete:
			return fmt.Sprintf("delete %s", fname[c.FolderID])
		case storage.ChangeAppend:
			return fmt.Sprintf("append %s %d @%d %s", fname[c.FolderID], c.UID, c.ModSeq, o)
		case storage.ChangeFlags:
			return fmt.Sprintf("flags %s %d @%d %s %s", fname[c.FolderID], c.UID, c.ModSeq, strings.Join(c.Flags, ","), o)
		case storage.ChangeExpunge:
			return fmt.Sprintf("expunge %s %d @%d %s", fname[c.FolderID], c.UID, c.ModSeq, o)
		}
		return fmt.Sprintf("kind %d", c.Kind)
	}
	want := []string{
		"folder P Work",
		"folder W Work/2026",
		"append INBOX 1 @2 a", // the delivery, in Targets order
		"append W 1 @2 a",
		"append INBOX 2 @3 -",
		`flags INBOX 1 @4 \Deleted b`,
		`flags INBOX 2 @5 \Deleted b`,
		"append W 2 @3 a",     // the copy
		"append INBOX 3 @6 b", // the move: the copy, then the original's removal
		"expunge W 1 @4 b",
		"expunge INBOX 1 @7 a",
		"folder P Jobs", // the rename, parent and child
		"folder W Jobs/2026",
		"delete W",
	}
	for _, l := range []*changeLog{cl, second} {
		var got []string
		cs := l.take()
		for _, c := range cs {
			got = append(got, describe(c))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("announced\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for _, c := range cs {
			if (c.Kind == storage.ChangeFolder || c.Kind == storage.ChangeDelete || c.Kind == storage.ChangeAppend) && c.Owner != mb.alice {
				t.Errorf("change %s announced with owner %q, want alice's %q", describe(c), c.Owner, mb.alice)
			}
			if c.Kind == storage.ChangeAppend && (c.Message.UID != c.UID || c.Message.ModSeq != c.ModSeq || c.Message.Blob == 0 && c.Message.Size == 0) {
				t.Errorf("append %s carries message %+v", describe(c), c.Message)
			}
		}
	}
	// Every HighestModSeq is the last announced change's.
	if f := folderByID(t, st, inbox.ID); f.HighestModSeq != 7 {
		t.Errorf("INBOX HighestModSeq %d, want 7 (its last change)", f.HighestModSeq)
	}
}

// concurrentModSeq: with deliveries, STOREs, copies and expunges running
// at once, each folder's changes are announced with strictly increasing
// mod-sequences, and each folder's HighestModSeq ends at its last.
func concurrentModSeq(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	inbox := fill(t, st, mb.alice, "INBOX", 20)
	sent := folder(t, st, mb.bob, "Sent")
	cl := listen(st)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 2 {
		wg.Go(func() {
			for i := range 15 {
				_, err := st.Deliver(storage.Delivery{Message: msgOf(fmt.Sprint(w, i)),
					Targets: []storage.Target{{Owner: mb.alice}, {Owner: []delegation.ID{mb.alice, mb.bob}[w], Folder: "Sent"}}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for w := range 2 {
		wg.Go(func() {
			for i := range 20 {
				uids := []uint32{uint32(i + 1), uint32(2*i + 1), uint32(i*3 + w)}
				op := []storage.FlagOp{storage.FlagsAdd, storage.FlagsRemove, storage.FlagsSet}[(i+w)%3]
				if _, err := st.StoreFlags(inbox.ID, uids, op, []string{`\Deleted`, fmt.Sprint("$w", w)}, storage.NoOrigin); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 10 {
			if _, err := st.Expunge(inbox.ID, nil, storage.NoOrigin, nil); err != nil {
				errs <- err
				return
			}
			if _, err := st.Copy(inbox.ID, []uint32{uint32(i + 1)}, sent.ID, storage.NoOrigin, nil); err != nil {
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
	last := checkModSeqs(t, cl.take())
	for _, owner := range []delegation.ID{mb.alice, mb.bob} {
		all, err := st.Folders(owner)
		fatal(t, err)
		for _, f := range all {
			if l := last[f.ID]; l != 0 && f.HighestModSeq != l {
				t.Errorf("%s %s: HighestModSeq %d, last announced change %d", owner, f.Name, f.HighestModSeq, l)
			}
		}
	}
	if last[inbox.ID] < 21+30 {
		t.Errorf("INBOX: last modseq %d after 20 appends and 30 deliveries", last[inbox.ID])
	}
}
