package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

func openMailTest(t testing.TB) *Store {
	t.Helper()
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func msgOf(subject string) []byte {
	return []byte("From: a@example.org\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n")
}

// changeLog records notifications, in order, as a listener sees them.
type changeLog struct {
	mu sync.Mutex
	cs []Change
}

func (l *changeLog) add(c Change) { l.mu.Lock(); l.cs = append(l.cs, c); l.mu.Unlock() }
func (l *changeLog) kinds() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := ""
	for _, c := range l.cs {
		s += fmt.Sprintf("%d:%d ", c.Kind, c.UID)
	}
	return s
}

func TestMailstoreLifecycle(t *testing.T) {
	st := openMailTest(t)
	var log changeLog
	st.OnChange(log.add)
	const alice, bob = delegation.ID("p1"), delegation.ID("p2")

	placed, err := st.Deliver(Delivery{Message: msgOf("one"), Targets: []Target{{Owner: alice}, {Owner: bob, Folder: "Sent", Flags: []string{`\seen`, `\SEEN`, "$Label"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(placed) != 2 || placed[0].UID != 1 || placed[1].Folder != "Sent" || placed[1].UIDValidity == 0 {
		t.Fatalf("Deliver placed %+v", placed)
	}
	inbox, _ := st.Folder(alice, "inbox")
	sent, _ := st.Folder(bob, "Sent")
	if inbox.Name != "INBOX" || inbox.Count != 1 || sent.SpecialUse != `\Sent` || sent.UIDNext != 2 {
		t.Fatalf("folders after Deliver: %+v %+v", inbox, sent)
	}
	m, _ := st.Messages(sent.ID, 0, 0)
	if len(m) != 1 || !slices.Equal(m[0].Flags, []string{`\Seen`, "$Label"}) {
		t.Fatalf("flags normalised to %v", m[0].Flags)
	}
	blob := m[0].Blob
	if n, _ := st.BlobRefs(blob); n != 2 {
		t.Fatalf("one body for two copies: %d references", n)
	}
	if _, err := st.Deliver(Delivery{Message: msgOf("x"), Targets: []Target{{Owner: alice, Folder: "NoSuch"}}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Deliver to a missing custom folder: %v", err)
	}

	// COPY shares the body; MOVE keeps it; EXPUNGE drops references.
	work, err := st.CreateFolder(alice, "Work/2026", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFolder(alice, "Work/2026", "", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateFolder twice: %v", err)
	}
	res, err := st.Copy(inbox.ID, []uint32{1, 99}, work.ID, NoOrigin, nil)
	if err != nil || !slices.Equal(res.Src, []uint32{1}) || !slices.Equal(res.Dst, []uint32{1}) || res.UIDValidity != work.UIDValidity {
		t.Fatalf("Copy = %+v, %v", res, err)
	}
	if n, _ := st.BlobRefs(blob); n != 3 {
		t.Fatalf("after Copy: %d references, want 3", n)
	}
	res, err = st.Move(work.ID, []uint32{1}, inbox.ID, NoOrigin, nil)
	if err != nil || !slices.Equal(res.Dst, []uint32{2}) {
		t.Fatalf("Move = %+v, %v", res, err)
	}
	if n, _ := st.BlobRefs(blob); n != 3 {
		t.Fatalf("after Move: %d references, want 3", n)
	}
	got, err := st.StoreFlags(inbox.ID, []uint32{2, 1}, FlagsAdd, []string{`\deleted`}, NoOrigin)
	if err != nil || len(got) != 2 || got[0].UID != 1 || !HasFlag(got[1].Flags, `\Deleted`) {
		t.Fatalf("StoreFlags = %+v, %v", got, err)
	}
	gone, err := st.Expunge(inbox.ID, []uint32{2}, NoOrigin, nil)
	if err != nil || !slices.Equal(gone, []uint32{2}) {
		t.Fatalf("Expunge(2) = %v, %v", gone, err)
	}
	gone, err = st.Expunge(inbox.ID, nil, NoOrigin, nil)
	if err != nil || !slices.Equal(gone, []uint32{1}) {
		t.Fatalf("Expunge(all deleted) = %v, %v", gone, err)
	}
	if n, _ := st.BlobRefs(blob); n != 1 {
		t.Fatalf("after expunging alice's copies: %d references, want 1 (bob's Sent)", n)
	}
	inbox, _ = st.Folder(alice, "INBOX")
	if inbox.Count != 0 || inbox.UIDNext != 3 {
		t.Fatalf("INBOX after expunge: %+v", inbox)
	}

	// RENAME keeps IDs (UIDVALIDITY); DELETE refuses parents and INBOX.
	if err := st.RenameFolder(alice, "Work", "Jobs/Old", nil); err != nil {
		t.Fatal(err)
	}
	moved, err := st.Folder(alice, "Jobs/Old/2026")
	if err != nil || moved.ID != work.ID {
		t.Fatalf("renamed child: %+v, %v", moved, err)
	}
	if _, err := st.Folder(alice, "Jobs"); err != nil {
		t.Fatalf("rename did not create the new parent: %v", err)
	}
	if _, err := st.DeleteFolder(alice, "Jobs/Old", nil); !errors.Is(err, ErrHasChildren) {
		t.Fatalf("DeleteFolder with children: %v", err)
	}
	if _, err := st.DeleteFolder(alice, "INBOX", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("DeleteFolder INBOX: %v", err)
	}
	if err := st.RenameFolder(alice, "Jobs", "Jobs/Sub", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rename into itself: %v", err)
	}

	// DELETE a folder with messages releases their bodies.
	res, err = st.Copy(sent.ID, []uint32{1}, moved.ID, NoOrigin, nil)
	if err != nil || len(res.Dst) != 1 {
		t.Fatal(res, err)
	}
	if _, err := st.DeleteFolder(alice, "Jobs/Old/2026", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 1 {
		t.Fatalf("after DeleteFolder: %d references, want 1", n)
	}
	if _, err := st.FolderByID(moved.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted folder still found: %v", err)
	}
	if _, err := st.Expunge(sent.ID, nil, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StoreFlags(sent.ID, []uint32{1}, FlagsSet, []string{`\Deleted`}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(sent.ID, nil, NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 0 {
		t.Fatalf("last copy gone, body kept: %d references", n)
	}
	if _, err := st.Body(blob); !errors.Is(err, ErrNotFound) {
		t.Fatalf("body of a blob with no references: %v", err)
	}
	// append×2, create Work + Work/2026, copy, move (append, expunge),
	// flags×2, expunge×2, rename×3, copy, delete, flags, expunge.
	want := "1:1 1:1 4:0 4:0 1:1 1:2 2:1 3:1 3:2 2:2 2:1 4:0 4:0 4:0 1:2 5:0 3:1 2:1 "
	if got := log.kinds(); got != want {
		t.Errorf("changes in order = %q, want %q", got, want)
	}

	// RENAME INBOX moves its messages and leaves INBOX (RFC 3501 §6.3.5).
	if _, err := st.Deliver(Delivery{Message: msgOf("two"), Targets: []Target{{Owner: alice}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(alice, "INBOX", "Old Inbox", nil); err != nil {
		t.Fatal(err)
	}
	inbox2, _ := st.Folder(alice, "INBOX")
	old, _ := st.Folder(alice, "Old Inbox")
	if inbox2.ID != inbox.ID || inbox2.Count != 0 || old.Count != 1 {
		t.Fatalf("after RENAME INBOX: %+v %+v", inbox2, old)
	}
}

// TestConcurrentDeliveries: parallel deliveries to many folders never
// fail on a shared counter, UIDs are dense per folder, and each folder's
// changes are announced in UID order.
func TestConcurrentDeliveries(t *testing.T) {
	st := openMailTest(t)
	var mu sync.Mutex
	last := map[uint64]uint32{}
	var bad []string
	st.OnChange(func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		if c.Kind == ChangeAppend {
			if c.UID != last[c.FolderID]+1 {
				bad = append(bad, fmt.Sprintf("folder %d: UID %d after %d", c.FolderID, c.UID, last[c.FolderID]))
			}
			last[c.FolderID] = c.UID
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				owner := delegation.ID(fmt.Sprintf("p%d", (w+i)%4))
				_, err := st.Deliver(Delivery{Message: msgOf(fmt.Sprint(w, i)), Date: time.Now(),
					Targets: []Target{{Owner: owner}, {Owner: "p9", Folder: "Sent"}}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("out of order: %v", bad[:min(5, len(bad))])
	}
	sent, _ := st.Folder("p9", "Sent")
	msgs, _ := st.Messages(sent.ID, 0, 0)
	if len(msgs) != 400 || sent.Count != 400 || msgs[399].UID != 400 {
		t.Fatalf("Sent holds %d messages (count %d), want 400 with UIDs 1..400", len(msgs), sent.Count)
	}
	seen := map[uint64]bool{}
	for _, m := range msgs {
		if seen[m.Blob] {
			t.Fatalf("blob %d used by two deliveries", m.Blob)
		}
		seen[m.Blob] = true
	}
}

// TestSnapshotConsistent: a snapshot taken while deliveries run sees
// exactly the messages announced before it, no more, no fewer.
func TestSnapshotConsistent(t *testing.T) {
	st := openMailTest(t)
	f, err := st.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var mu sync.Mutex
	announced := 0
	st.OnChange(func(c Change) {
		if c.Kind != ChangeAppend || c.FolderID != f.ID {
			return
		}
		mu.Lock()
		announced++
		mu.Unlock()
	})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for i := range n {
			if _, err := st.Deliver(Delivery{Message: msgOf(fmt.Sprint(i)), Targets: []Target{{Owner: "p1"}}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	// Snapshots while the deliveries run: each must hold exactly the
	// messages announced so far, and some must fall between the first and
	// the last delivery, or the test proves nothing.
	snapshots, overlapped := 0, 0
	for running := true; running; {
		select {
		case err, ok := <-errs:
			if ok {
				t.Fatalf("Deliver: %v", err)
			}
			running = false
		default:
		}
		err := st.Snapshot(f.ID, func(_ Folder, msgs []Message) {
			mu.Lock()
			defer mu.Unlock()
			snapshots++
			if announced > 0 && announced < n {
				overlapped++
			}
			if len(msgs) != announced {
				t.Errorf("snapshot has %d messages, %d announced", len(msgs), announced)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if mu.Lock(); announced != n {
		t.Errorf("%d appends announced, want %d", announced, n)
	}
	mu.Unlock()
	if overlapped == 0 {
		t.Errorf("none of %d snapshots overlapped the deliveries", snapshots)
	}
}

// A crash between a folder's deletion and the removal of its messages is
// finished by the next Open: no message record or blob reference is left.
func TestInterruptedFolderDeleteIsFinishedOnOpen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const alice = delegation.ID("p1")
	f, err := st.CreateFolder(alice, "Projects", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var blobs []uint64
	for i := range 3 {
		placed, err := st.Deliver(Delivery{Message: msgOf(fmt.Sprint("p", i)), Targets: []Target{{Owner: alice, Folder: "Projects"}}})
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := st.Messages(f.ID, placed[0].UID, placed[0].UID)
		blobs = append(blobs, ms[0].Blob)
	}
	// What DeleteFolder commits first, then "the process dies".
	if err := st.update(func(txn *badger.Txn) error {
		if err := txn.Delete(folderKey(alice, "Projects")); err != nil {
			return err
		}
		if err := txn.Delete(foldRecKey(f.ID)); err != nil {
			return err
		}
		return txn.Set(purgeKey(f.ID), []byte{1})
	}); err != nil {
		t.Fatal(err)
	}
	if ms, _ := st.Messages(f.ID, 0, 0); len(ms) != 3 {
		t.Fatalf("before reopen: %d message records, want 3 (the crash window)", len(ms))
	}
	st.Close()

	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ms, _ := st.Messages(f.ID, 0, 0); len(ms) != 0 {
		t.Errorf("after reopen: %d message records of the deleted folder remain", len(ms))
	}
	for _, b := range blobs {
		if n, _ := st.BlobRefs(b); n != 0 {
			t.Errorf("blob %d still has %d references", b, n)
		}
		if _, err := st.Body(b); !errors.Is(err, ErrNotFound) {
			t.Errorf("blob %d body still stored: %v", b, err)
		}
	}
	st.view(func(txn *badger.Txn) error {
		if _, err := txn.Get(purgeKey(f.ID)); err == nil {
			t.Error("purge marker left after the purge")
		}
		return nil
	})
}
