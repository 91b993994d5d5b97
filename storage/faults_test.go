package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
)

// countAll is what a reader sees of one owner's mail: messages per folder.
func countAll(t *testing.T, st *Store, owner delegation.ID) map[string]int {
	t.Helper()
	fs, err := st.Folders(owner)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range fs {
		ms, err := st.Messages(f.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = len(ms)
		if int(f.Count) != len(ms) {
			t.Errorf("folder %s: count %d, %d messages", f.Name, f.Count, len(ms))
		}
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
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

// TestDiskFull: on a 64 MiB file system filled to within 10 MiB (under
// the 16 MiB reserve) delivery, COPY and MOVE are refused with ErrNoSpace
// (an ErrUnavailable), nothing of them is visible, reads work, EXPUNGE
// (which frees space) still works, and once space returns mail is
// accepted again without a restart.
func TestDiskFull(t *testing.T) {
	dir := testenv.SmallFS(t, 64<<20)
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetMinFreeSpace(16 << 20)
	const alice = delegation.ID("p1")
	inbox := seedMessages(t, st, alice, "INBOX", 10)
	arch := seedMessages(t, st, alice, "Archive", 0)
	blobs := blobsOf(t, st, inbox.ID)
	before := countAll(t, st, alice)

	release := testenv.Fill(t, dir, 10<<20)
	_, err = st.Deliver(Delivery{Message: msgOf("full"), Targets: []Target{{Owner: alice}},
		Queue: []QueueEntry{{From: "a@example.org", To: []string{"x@elsewhere.test"}}}})
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Deliver on a full disk: %v, want ErrNoSpace", err)
	}
	if _, err := st.Append(alice, "INBOX", msgOf("append"), nil, st.Now(), NoOrigin); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append on a full disk: %v", err)
	}
	if _, err := st.Copy(inbox.ID, seq(1, 10), arch.ID, NoOrigin, nil); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Copy on a full disk: %v", err)
	}
	if _, err := st.Move(inbox.ID, seq(1, 10), arch.ID, NoOrigin, nil); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Move on a full disk: %v", err)
	}
	if after := countAll(t, st, alice); !sameCounts(before, after) {
		t.Fatalf("refused writes left traces: %v, before %v", after, before)
	}
	if q, _ := st.QueueList(); len(q) != 0 {
		t.Fatalf("refused delivery queued %d entries", len(q))
	}
	if b, err := st.Body(blobs[0]); err != nil || len(b) == 0 {
		t.Fatalf("read on a full disk: %v", err)
	}
	// Removing mail needs only half the reserve.
	if _, err := st.StoreFlags(inbox.ID, []uint32{1}, FlagsAdd, []string{`\Deleted`}, NoOrigin); err != nil {
		t.Fatalf("STORE on a full disk: %v", err)
	}
	if gone, err := st.Expunge(inbox.ID, nil, NoOrigin, nil); err != nil || len(gone) != 1 {
		t.Fatalf("EXPUNGE on a full disk: %v %v", gone, err)
	}

	release()
	if _, err := st.Deliver(Delivery{Message: msgOf("later"), Targets: []Target{{Owner: alice}}}); err != nil {
		t.Fatalf("Deliver once space is back: %v", err)
	}
	if _, err := st.Move(inbox.ID, seq(1, 11), arch.ID, NoOrigin, nil); err != nil {
		t.Fatalf("Move once space is back: %v", err)
	}
	if got := countAll(t, st, alice); got["INBOX"] != 0 || got["Archive"] != 10 {
		t.Errorf("after recovery: %v", got)
	}
}

// TestCommitRefused: a commit Badger refuses is ErrUnavailable, and
// ErrNoSpace when its text names ENOSPC (Badger formats its causes with
// %+v, so errors.Is cannot see them); nothing of the refused delivery is
// visible, and writes work again once commits do.
func TestCommitRefused(t *testing.T) {
	st := openMailTest(t)
	const alice = delegation.ID("p1")
	seedMessages(t, st, alice, "INBOX", 1)
	before := countAll(t, st, alice)
	for _, c := range []struct {
		err     error
		noSpace bool
	}{
		{fmt.Errorf("while writing to memtable err: %v", syscall.ENOSPC), true}, // as y.Wrap leaves it
		{fmt.Errorf("sync: %w", syscall.EDQUOT), true},
		{errors.New("Writes are blocked, possibly due to DropAll or Close"), false},
		{fmt.Errorf("sync: %w", syscall.EIO), false},
	} {
		st.FailWrites(c.err)
		_, err := st.Deliver(Delivery{Message: msgOf("refused"), Targets: []Target{{Owner: alice}}})
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNoSpace) != c.noSpace {
			t.Errorf("commit refused with %q: Deliver %v; want ErrUnavailable, ErrNoSpace %v", c.err, err, c.noSpace)
		}
	}
	if after := countAll(t, st, alice); !sameCounts(before, after) {
		t.Fatalf("refused commits left traces: %v, before %v", after, before)
	}
	st.FailWrites(nil)
	if _, err := st.Deliver(Delivery{Message: msgOf("ok"), Targets: []Target{{Owner: alice}}}); err != nil {
		t.Fatal(err)
	}
}

// TestAppendAllAtomic: AppendAll (MULTIAPPEND) stores its messages in one
// transaction: a refused commit leaves none of them, a good one all, in
// order, each with its own body and the folder's next UIDs and
// mod-sequences.
func TestAppendAllAtomic(t *testing.T) {
	st := openMailTest(t)
	const alice = delegation.ID("p1")
	seedMessages(t, st, alice, "INBOX", 1)
	msgs := []AppendMessage{{Message: msgOf("a")}, {Message: msgOf("b"), Flags: []string{`\seen`}}, {Message: msgOf("c")}}
	crashAfter(st, 1) // the folder lookup commits, the messages do not
	if _, err := st.AppendAll(alice, "INBOX", msgs, NoOrigin, nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AppendAll with its commit refused: %v", err)
	}
	if got := countAll(t, st, alice)["INBOX"]; got != 1 {
		t.Fatalf("refused AppendAll left %d messages, want 1", got)
	}
	st.FailWrites(nil)
	placed, err := st.AppendAll(alice, "INBOX", msgs, NoOrigin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(placed) != 3 || placed[0].UID != 2 || placed[2].UID != 4 {
		t.Fatalf("placed %+v", placed)
	}
	inbox, _ := st.Folder(alice, "INBOX")
	ms, _ := st.Messages(inbox.ID, 2, 0)
	for i, m := range ms {
		b, err := st.Body(m.Blob)
		if err != nil || string(b) != string(msgs[i].Message) || m.ModSeq != uint64(m.UID)+1 {
			t.Errorf("message %d: body %q modseq %d, %v", m.UID, b, m.ModSeq, err)
		}
	}
	if !HasFlag(ms[1].Flags, `\Seen`) {
		t.Errorf("flags of the second: %v", ms[1].Flags)
	}
}

// TestWriteRetriesConflicts: writes that conflict (concurrent
// read-modify-write of one key) are retried, never dropped: every
// increment of a shared counter survives.
func TestWriteRetriesConflicts(t *testing.T) {
	st, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k := []byte("test/counter")
	const workers, each = 4, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := st.incr(k); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := st.incr(k); n != workers*each+1 {
		t.Errorf("counter %d after %d increments and one more, want %d: a conflicting write was dropped", n, workers*each, workers*each+1)
	}
}

// incr adds one to a counter by read-modify-write (conflicts under
// concurrency) and returns the new value.
func (s *Store) incr(k []byte) (uint64, error) {
	var n uint64
	err := s.write(func(txn *badger.Txn) error {
		n = 0
		if item, err := txn.Get(k); err == nil {
			v, _ := item.ValueCopy(nil)
			n = binary.BigEndian.Uint64(v)
		}
		n++
		return txn.Set(k, binary.BigEndian.AppendUint64(nil, n))
	})
	return n, err
}
