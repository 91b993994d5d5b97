package storage

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// TestSubscriptions: a name stays subscribed when its folder is deleted,
// comes back subscribed when created again, moves with RENAME, and only an
// existing folder can be subscribed.
func TestSubscriptions(t *testing.T) {
	st := openMailTest(t)
	const alice = delegation.ID("p1")
	if err := st.EnsureDefaultFolders(alice); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a/b", "a/c", "x"} {
		if _, err := st.CreateFolder(alice, n, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, names ...string) {
		t.Helper()
		got, err := st.Subscriptions(alice)
		if err != nil {
			t.Fatal(err)
		}
		all := append([]string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}, names...)
		slices.Sort(all)
		if !slices.Equal(got, all) {
			t.Errorf("%s: subscriptions %q, want %q", what, got, all)
		}
	}
	want("created folders (only the defaults are subscribed)")
	if err := st.Subscribe(alice, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Subscribe of a missing folder: %v, want ErrNotFound", err)
	}
	for _, n := range []string{"a/b", "x"} {
		if err := st.Subscribe(alice, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DeleteFolder(alice, "x", nil); err != nil {
		t.Fatal(err)
	}
	want("after DELETE x", "a/b", "x")
	if err := st.RenameFolder(alice, "a", "z", nil); err != nil {
		t.Fatal(err)
	}
	want("after RENAME a z", "x", "z/b")
	if err := st.Unsubscribe(alice, "x"); err != nil {
		t.Errorf("Unsubscribe of a deleted folder: %v", err)
	}
	if err := st.Unsubscribe(alice, "z/c"); err != nil {
		t.Errorf("Unsubscribe of an unsubscribed folder: %v", err)
	}
	if err := st.Unsubscribe(alice, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unsubscribe of a name neither subscribed nor a folder: %v, want ErrNotFound", err)
	}
	want("after UNSUBSCRIBE x", "z/b")
}

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
