package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

func TestUIDListEncoding(t *testing.T) {
	scattered := make([]uint32, 40000) // more than one chunk
	for i := range scattered {
		scattered[i] = uint32(3*i + 1)
	}
	for _, uids := range [][]uint32{
		nil, {1}, {1, 2, 3}, {5, 6, 9, 10, 11, 4000000000, ^uint32(0)}, scattered,
	} {
		chunks := encodeUIDs(uids)
		got, err := decodeUIDs(chunks)
		if err != nil || !slices.Equal(got, uids) {
			t.Errorf("%d uids: decoded %d, err %v", len(uids), len(got), err)
		}
		for _, c := range chunks {
			if len(c) > intentChunk+2*binaryMaxVarint {
				t.Errorf("chunk of %d bytes", len(c))
			}
		}
	}
	if n := len(encodeUIDs(scattered)); n < 2 {
		t.Errorf("40000 scattered uids in %d chunk(s), want several", n)
	}
	if b := encodeUIDs(seq(1, 5000)); len(b) != 1 || len(b[0]) > 4 {
		t.Errorf("1:5000 encoded as %d bytes", len(b[0]))
	}
}

const binaryMaxVarint = 10

func seq(from, to uint32) []uint32 {
	var out []uint32
	for u := from; u <= to; u++ {
		out = append(out, u)
	}
	return out
}

func openAt(t *testing.T, dir string) *Store {
	t.Helper()
	st, err := Open(dir, Options{NoSync: true}) // Close and reopen stand for the crash
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seedMessages delivers n distinct messages into owner's folder.
func seedMessages(t *testing.T, st *Store, owner delegation.ID, folder string, n int, flags ...string) Folder {
	t.Helper()
	for i := range n {
		if _, err := st.Deliver(Delivery{Message: msgOf(fmt.Sprintf("%s %d", folder, i)),
			Targets: []Target{{Owner: owner, Folder: folder, Flags: flags}}}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := st.Folder(owner, folder)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var errCrash = errors.New("simulated crash")

// crashAfter lets the next n mailstore commits through and refuses every
// later one: what the database holds then is what a crash after the n-th
// commit leaves.
func crashAfter(st *Store, n int64) {
	var commits atomic.Int64
	st.FailCommits(func() error {
		if commits.Add(1) > n {
			return errCrash
		}
		return nil
	})
}

func intentKeys(t *testing.T, st *Store) int {
	t.Helper()
	n := 0
	st.view(func(txn *badger.Txn) error {
		for _, p := range [][]byte{prefIntent, prefIntentUID} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			it.Close()
		}
		return nil
	})
	return n
}

func blobsOf(t *testing.T, st *Store, folder uint64) []uint64 {
	t.Helper()
	ms, err := st.Messages(folder, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, m := range ms {
		out = append(out, m.Blob)
	}
	return out
}

// TestInterruptedOperationFinishedOnOpen: a MOVE, COPY or EXPUNGE of 2,500
// messages (three batches) that dies after its first commit is finished by
// the next Open, exactly as if it had run through: every message in the
// target and none in the source (MOVE), all copied (COPY) or all gone
// (EXPUNGE), with the mod-sequences, tombstones, counts and blob
// references an uninterrupted run leaves, and no intent left behind.
func TestInterruptedOperationFinishedOnOpen(t *testing.T) {
	const n = 2500
	const alice = delegation.ID("p1")
	for _, op := range []string{opMove, opCopy, opExpunge} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			st := openAt(t, dir)
			var flags []string
			if op == opExpunge {
				flags = []string{`\Deleted`}
			}
			inbox := seedMessages(t, st, alice, "INBOX", n, flags...)
			arch := seedMessages(t, st, alice, "Archive", 0)
			blobs := blobsOf(t, st, inbox.ID)

			crashAfter(st, 1)
			var outcomes []Outcome
			audit := func(o Outcome) []AuditRecord {
				outcomes = append(outcomes, o)
				return []AuditRecord{{Proto: "imap", Action: op, Detail: fmt.Sprint(len(o.UIDs), len(o.DstUIDs))}}
			}
			var err error
			switch op {
			case opMove:
				_, err = st.Move(inbox.ID, seq(1, n), arch.ID, NoOrigin, audit)
			case opCopy:
				_, err = st.Copy(inbox.ID, seq(1, n), arch.ID, NoOrigin, audit)
			case opExpunge:
				_, err = st.Expunge(inbox.ID, nil, NoOrigin, audit)
			}
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errCrash) {
				t.Fatalf("%s with the second commit refused: %v", op, err)
			}
			// The crash window: one batch done, the intent stored.
			if got := len(blobsOf(t, st, inbox.ID)); op != opCopy && got != n-batchSize {
				t.Fatalf("after the first batch: %d in the source, want %d", got, n-batchSize)
			}
			if intentKeys(t, st) == 0 {
				t.Fatal("no intent stored while the operation is part done")
			}
			st.Close()

			st = openAt(t, dir)
			defer st.Close()
			// The audit record went with the first commit, the one that
			// made the operation certain, and names every source UID.
			recs, err := st.AuditList(AuditFilter{Action: op})
			if err != nil || len(recs) != 1 || recs[0].Detail != fmt.Sprint(n, 0) || len(outcomes) != 1 {
				t.Errorf("audit after the crash: %+v (outcomes %d), %v; want one record of %d UIDs", recs, len(outcomes), err, n)
			}
			src, dst := folderByID(t, st, inbox.ID), folderByID(t, st, arch.ID)
			vanished, err := st.Vanished(inbox.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			srcMsgs, dstMsgs := modseqs(t, st, inbox.ID), modseqs(t, st, arch.ID)
			wantSrc, wantDst, wantVanished, wantRefs := 0, n, n, uint64(1)
			switch op {
			case opCopy:
				wantSrc, wantVanished, wantRefs = n, 0, 2
			case opExpunge:
				wantDst, wantRefs = 0, 0
			}
			if len(srcMsgs) != wantSrc || src.Count != uint32(wantSrc) || len(dstMsgs) != wantDst || dst.Count != uint32(wantDst) {
				t.Fatalf("after reopen: source %d (count %d), target %d (count %d); want %d and %d",
					len(srcMsgs), src.Count, len(dstMsgs), dst.Count, wantSrc, wantDst)
			}
			if len(vanished) != wantVanished {
				t.Errorf("%d tombstones in the source, want %d", len(vanished), wantVanished)
			}
			// Seeding took modseqs 2..n+1 in the source; each removal one
			// more. The target's copies take 2..n+1 in UID order.
			if want := uint64(1 + n + wantVanished); src.HighestModSeq != want {
				t.Errorf("source HIGHESTMODSEQ %d, want %d", src.HighestModSeq, want)
			}
			for uid, ms := range dstMsgs {
				if ms != uint64(uid)+1 {
					t.Errorf("target uid %d has modseq %d, want %d", uid, ms, uid+1)
					break
				}
			}
			if dst.UIDNext != uint32(wantDst)+1 || (wantDst > 0 && dst.HighestModSeq != uint64(wantDst)+1) {
				t.Errorf("target UIDNEXT %d HIGHESTMODSEQ %d", dst.UIDNext, dst.HighestModSeq)
			}
			for _, b := range blobs {
				if r, _ := st.BlobRefs(b); r != wantRefs {
					t.Fatalf("blob %d has %d references, want %d", b, r, wantRefs)
				}
			}
			for _, f := range []Folder{src, dst} {
				ms, _ := st.Messages(f.ID, 0, 0)
				var size uint64
				for _, m := range ms {
					size += uint64(m.Size)
				}
				if f.Size != size {
					t.Errorf("folder %s: Size %d, its messages %d bytes", f.Name, f.Size, size)
				}
			}
			if k := intentKeys(t, st); k != 0 {
				t.Errorf("%d intent keys left after recovery", k)
			}
		})
	}
}

// TestInterruptedMoveFinishedAtRunTime: a MOVE whose later commits are
// refused (a full disk) is finished, with its announcements, by the next
// write once commits go through again, without a restart.
func TestInterruptedMoveFinishedAtRunTime(t *testing.T) {
	const n = 2500
	const alice = delegation.ID("p1")
	st := openAt(t, t.TempDir())
	defer st.Close()
	inbox := seedMessages(t, st, alice, "INBOX", n)
	arch := seedMessages(t, st, alice, "Archive", 0)
	var ml modseqLog
	var appends, expunges atomic.Int64
	st.OnChange(ml.add)
	st.OnChange(func(c Change) {
		switch {
		case c.Kind == ChangeAppend && c.FolderID == arch.ID:
			appends.Add(1)
		case c.Kind == ChangeExpunge && c.FolderID == inbox.ID:
			expunges.Add(1)
		}
	})
	crashAfter(st, 2)
	if _, err := st.Move(inbox.ID, seq(1, n), arch.ID, NoOrigin, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Move with the third commit refused: %v", err)
	}
	if a, e := appends.Load(), expunges.Load(); a != 2*batchSize || e != 2*batchSize {
		t.Fatalf("announced before the failure: %d appends, %d expunges", a, e)
	}
	// Still refused: the next operation on the folder cannot finish it.
	if _, err := st.Expunge(inbox.ID, nil, NoOrigin, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Expunge while the move cannot finish: %v", err)
	}
	st.FailWrites(nil)
	if _, err := st.Deliver(Delivery{Message: msgOf("later"), Targets: []Target{{Owner: alice, Folder: "Drafts"}}}); err != nil {
		t.Fatal(err)
	}
	if a, e := appends.Load(), expunges.Load(); a != n || e != n {
		t.Errorf("after recovery: %d appends, %d expunges announced, want %d each", a, e, n)
	}
	ml.check(t)
	if got := len(blobsOf(t, st, inbox.ID)); got != 0 {
		t.Errorf("%d messages left in the source", got)
	}
	if got := len(blobsOf(t, st, arch.ID)); got != n {
		t.Errorf("%d messages in the target, want %d", got, n)
	}
	if k := intentKeys(t, st); k != 0 {
		t.Errorf("%d intent keys left", k)
	}
	if st.isPending(inbox.ID) {
		t.Error("still pending")
	}
}

// TestMoveNeverInBothFolders: while a MOVE of 5,000 messages commits its
// batches, every reader's consistent view has each message in exactly
// one of the two folders.
func TestMoveNeverInBothFolders(t *testing.T) {
	const n = 5000
	const alice = delegation.ID("p1")
	st := openAt(t, t.TempDir())
	defer st.Close()
	inbox := seedMessages(t, st, alice, "INBOX", n)
	arch := seedMessages(t, st, alice, "Archive", 0)
	done := make(chan error, 1)
	go func() {
		_, err := st.Move(inbox.ID, seq(1, n), arch.ID, NoOrigin, nil)
		done <- err
	}()
	for views := 0; ; views++ {
		var both, total int
		err := st.view(func(txn *badger.Txn) error {
			seen := map[uint64]bool{}
			for _, id := range []uint64{inbox.ID, arch.ID} {
				ms, err := messagesTxn(txn, id, 0, 0)
				if err != nil {
					return err
				}
				for _, m := range ms {
					if seen[m.Blob] {
						both++
					}
					seen[m.Blob] = true
				}
			}
			total = len(seen)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if both != 0 || total != n {
			t.Fatalf("view %d: %d messages in both folders, %d distinct, want 0 and %d", views, both, total, n)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d consistent views during the move", views+1)
			return
		default:
		}
	}
}
