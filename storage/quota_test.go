package storage

import (
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// TestSchema2Migration: a version 2 database's folders get their sizes.
func TestSchema2Migration(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const alice = delegation.ID("p1")
	for _, n := range []int{10, 20} {
		if _, err := st.Append(alice, "INBOX", append([]byte("Subject: q\r\n\r\n"), make([]byte, n)...), nil, time.Now(), NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := st.Folder(alice, "INBOX")
	f.Size = 0 // as version 2 wrote it
	if err := st.update(func(txn *badger.Txn) error {
		if err := putFolderTxn(txn, &f); err != nil {
			return err
		}
		return txn.Set(keySchema, []byte("2"))
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if f, _ := st.Folder(alice, "INBOX"); f.Size != 14*2+30 {
		t.Errorf("migrated INBOX size %d, want %d", f.Size, 14*2+30)
	}
}
