package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// TestMigrationKeepsGrantsOpenEnded: a grant written at schema 2 is
// open-ended after the migrations (5 adds the until column), a time-boxed one
// keeps its end, and the database refuses an end not after the start.
func TestMigrationKeepsGrantsOpenEnded(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
		migrations[0], migrations[1], "INSERT INTO schema_migrations (version) VALUES (1), (2)",
		"INSERT INTO tenants (domain, propagation_ms, created_at) VALUES ('a.test', 0, now())",
		`INSERT INTO principals (id, kind, tenant, address, created_at) VALUES
			('p1', 'user', 'a.test', 'alice@a.test', now()), ('p2', 'user', 'a.test', 'bob@a.test', now()),
			('p3', 'user', 'a.test', 'carol@a.test', now())`,
		`INSERT INTO addresses (address, principal, is_primary) VALUES
			('alice@a.test', 'p1', true), ('bob@a.test', 'p2', true), ('carol@a.test', 'p3', true)`,
		"SELECT setval('principal_ids', 3)",
		`INSERT INTO grants (id, mailbox, trustee, right_bits, created_at, effective_at, created_by)
			VALUES ('g1', 'p1', 'p2', 2, '2026-11-20T10:00:00Z', '2026-11-20T10:00:00Z', 'cli')`,
		"SELECT setval('grant_ids', 1)",
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	st := open(t, dsn, Options{})
	if got := st.Migrated(); len(got) == 0 || got[0] != 3 || got[len(got)-1] != SchemaVersion() {
		t.Errorf("Open applied %v, want 3 to %d", got, SchemaVersion())
	}
	far := time.Now().Add(100 * 365 * 24 * time.Hour)
	if dc := st.Directory().Send("p2", "alice@a.test", far); !dc.Allowed || dc.GrantID != "g1" || !dc.Until.IsZero() {
		t.Errorf("schema 2 grant, a century on: %+v, want allowed by g1, open-ended", dc)
	}
	boxed, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@a.test", Trustee: "carol@a.test", Right: delegation.SendAs, Immediate: true, For: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var until *time.Time
	if err := pool.QueryRow(ctx, "SELECT until FROM grants WHERE id = $1", boxed.ID).Scan(&until); err != nil || until == nil || !until.Equal(boxed.Until) {
		t.Errorf("until column of %s = %v, %v; want %v", boxed.ID, until, err, boxed.Until)
	}
	if dc := st.Directory().Send("p3", "alice@a.test", boxed.Until); dc.Reason != delegation.ReasonExpired {
		t.Errorf("time-boxed grant at its end: %+v", dc)
	}
	if _, err := pool.Exec(ctx, "UPDATE grants SET until = effective_at WHERE id = 'g1'"); err == nil {
		t.Error("the database took a grant ending when it starts")
	}
}
