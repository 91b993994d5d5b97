package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// TestScenarioOnPostgres: the whole admin flow with --store naming a
// PostgreSQL database (each command a new process, as an administrator
// runs them), then migrate, and the commands that do not apply there
// (serve on PostgreSQL: TestTwoNodesOnePostgres).
func TestScenarioOnPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	data := t.TempDir() // must stay unused: everything goes to the database
	var m migrateResult
	if err := json.Unmarshal([]byte(ok(t, data, "--store", dsn, "--json", "migrate")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Store != "postgres" || m.Version < 1 || len(m.Applied) != m.Version {
		t.Errorf("first migrate: %+v, want every version applied", m)
	}
	if out := ok(t, data, "--store", dsn, "migrate"); !strings.Contains(out, "nothing to do") {
		t.Errorf("second migrate: %q", out)
	}
	t.Setenv("MAILGATE_STORE", dsn) // the environment works like the flag
	scenario(t, data)
	if _, err := os.Stat(filepath.Join(data, "db")); err == nil {
		t.Error("with --store postgres:// the commands opened the embedded database too")
	}
	fails(t, data, "pg_dump", "backup", data+"/b.bak")
	t.Setenv("MAILGATE_STORE", "")
	if r := mailgate(t, data, "", "--store", "mysql://x", "tenant", "list"); r.code == 0 || !strings.Contains(r.err, "want postgres://") {
		t.Errorf("--store mysql://: exit %d, %q", r.code, r.err)
	}
	if r := mailgate(t, data, "", "--store", "postgres://u:secret@127.0.0.1:1/x?connect_timeout=2", "tenant", "list"); r.code == 0 || strings.Contains(r.err, "secret") {
		t.Errorf("unreachable store: exit %d, %q (the password must not be shown)", r.code, r.err)
	}
}

// TestMigrateEmbedded: `mailgate migrate` on the embedded database brings
// it to the current schema (creating it), and refuses while a server holds
// the database, saying so.
func TestMigrateEmbedded(t *testing.T) {
	data := t.TempDir()
	var m migrateResult
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "migrate")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Store != "embedded" || m.Version != storage.SchemaVersion {
		t.Errorf("migrate: %+v, want the embedded store at schema %d", m, storage.SchemaVersion)
	}
	if _, err := os.Stat(filepath.Join(data, "db")); err != nil {
		t.Errorf("migrate made no database: %v", err)
	}
	srv := startServer(t, data)
	defer srv.stop(t)
	fails(t, data, "in use by a running server", "migrate")
}
