package postgres

import (
	"context"
	"os"
	"testing"

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
}

// TestMailstoreConformance runs the mailstore part of the suite on
// PostgreSQL.
func TestMailstoreConformance(t *testing.T) {
	storagetest.RunMailstore(t, func(t *testing.T) storage.Backend { return open(t, testenv.Postgres(t), Options{}) })
}

// TestCalendarConformance runs the calendar part of the suite.
func TestCalendarConformance(t *testing.T) {
	storagetest.RunCalendars(t, func(t *testing.T) storage.Backend { return open(t, testenv.Postgres(t), Options{}) })
}
