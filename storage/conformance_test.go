package storage_test

import (
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/storagetest"
)

func openBadger(t *testing.T) *storage.Store {
	st, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConformance runs the storage contract's suite on Badger.
func TestConformance(t *testing.T) {
	o := func(t *testing.T) storage.DirectoryStore { return openBadger(t) }
	storagetest.RunDirectory(t, o)
	storagetest.RunPrincipals(t, o)
	storagetest.RunAdmins(t, func(t *testing.T) storagetest.AdminBackend { return openBadger(t) })
}

// TestMailstoreConformance runs the mailstore part of the suite on Badger.
func TestMailstoreConformance(t *testing.T) {
	storagetest.RunMailstore(t, func(t *testing.T) storage.Backend { return openBadger(t) })
}

// TestDurableConformance runs the clock and reopen part of the suite on
// Badger: each handle is a Store on the same directory.
func TestDurableConformance(t *testing.T) {
	storagetest.RunDurable(t, func(t *testing.T) func(now func() time.Time) storage.Backend {
		dir := t.TempDir()
		return func(now func() time.Time) storage.Backend {
			st, err := storage.Open(dir, storage.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	})
}

// TestCalendarConformance runs the calendar part of the suite.
func TestCalendarConformance(t *testing.T) {
	storagetest.RunCalendars(t, func(t *testing.T) storage.Backend { return openBadger(t) })
}

// TestBatchCalendarConformance runs the calendar records of ApplyBatch.
func TestBatchCalendarConformance(t *testing.T) {
	storagetest.RunBatchCalendars(t, func(t *testing.T) storage.Backend { return openBadger(t) })
}
