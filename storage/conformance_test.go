package storage_test

import (
	"testing"

	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/storagetest"
)

// TestConformance runs the storage contract's suite on Badger.
func TestConformance(t *testing.T) {
	o := func(t *testing.T) storage.DirectoryStore {
		st, err := storage.Open(t.TempDir(), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	storagetest.RunDirectory(t, o)
	storagetest.RunPrincipals(t, o)
}
