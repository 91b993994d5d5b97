package storage

import (
	"errors"
	"fmt"
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

// A crash between a folder's deletion and the removal of its messages is
// finished by the next Open: no message record, blob reference or
// tombstone is left (nor by a deletion that runs through).
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
	// Tombstones in both folders: one deleted by a crash, one by DeleteFolder.
	if _, err := st.CreateFolder(alice, "Done", "", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Projects", "Done"} {
		p, err := st.Append(alice, name, msgOf("gone"), []string{`\Deleted`}, time.Time{}, NoOrigin)
		if err != nil {
			t.Fatal(err)
		}
		if gone, err := st.Expunge(p.FolderID, nil, NoOrigin, nil); err != nil || len(gone) != 1 {
			t.Fatalf("Expunge in %s = %v, %v", name, gone, err)
		}
	}
	if _, err := st.DeleteFolder(alice, "Done", nil); err != nil {
		t.Fatal(err)
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
		return scan(txn, prefGone, func(k, _ []byte) error {
			t.Errorf("tombstone %s left after its folder was deleted", k)
			return nil
		})
	})
}
