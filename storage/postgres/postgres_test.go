package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

func open(t *testing.T, dsn string, o Options) *Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testenv.Logger(t)
	}
	st, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConformance runs the storage contract's suite on PostgreSQL.
func TestConformance(t *testing.T) {
	o := func(t *testing.T) storage.DirectoryStore { return open(t, testenv.Postgres(t), Options{}) }
	storagetest.RunDirectory(t, o)
	storagetest.RunPrincipals(t, o)
	storagetest.RunAdmins(t, func(t *testing.T) storagetest.AdminBackend { return open(t, testenv.Postgres(t), Options{}) })
}

// TestMailstoreConformance runs the mailstore part of the suite on
// PostgreSQL.
func TestMailstoreConformance(t *testing.T) {
	storagetest.RunMailstore(t, func(t *testing.T) storage.Backend { return open(t, testenv.Postgres(t), Options{}) })
}

// TestDurableConformance runs the clock and reopen part of the suite on
// PostgreSQL: each handle is a Store on the same database.
func TestDurableConformance(t *testing.T) {
	storagetest.RunDurable(t, func(t *testing.T) func(now func() time.Time) storage.Backend {
		dsn := testenv.Postgres(t)
		return func(now func() time.Time) storage.Backend { return open(t, dsn, Options{Now: now}) }
	})
}

// TestCalendarConformance runs the calendar part of the suite.
func TestCalendarConformance(t *testing.T) {
	storagetest.RunCalendars(t, func(t *testing.T) storage.Backend { return open(t, testenv.Postgres(t), Options{}) })
}

// TestBatchCalendarConformance runs the calendar records of ApplyBatch.
func TestBatchCalendarConformance(t *testing.T) {
	storagetest.RunBatchCalendars(t, func(t *testing.T) storage.Backend { return open(t, testenv.Postgres(t), Options{}) })
}
