package storage

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// TestSchema1Migration: a version 1 database, whose subscriptions were a
// flag on each folder record, opens with those subscriptions in the set.
func TestSchema1Migration(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const alice = delegation.ID("p1")
	for _, n := range []string{"kept", "dropped"} {
		if _, err := st.CreateFolder(alice, n, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Rewrite the database as version 1 wrote it.
	if err := st.update(func(txn *badger.Txn) error {
		if err := txn.Delete(subKey(alice, "INBOX")); err != nil {
			return err
		}
		fs, err := st.Folders(alice)
		if err != nil {
			return err
		}
		for _, f := range fs {
			rec := map[string]any{"id": f.ID, "owner": f.Owner, "name": f.Name, "subscribed": f.Name != "dropped"}
			b, _ := json.Marshal(rec)
			if err := txn.Set(foldRecKey(f.ID), b); err != nil {
				return err
			}
		}
		return txn.Set(keySchema, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Subscriptions(alice)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"kept"}) {
		t.Errorf("migrated subscriptions %q, want [kept]", got)
	}
}
