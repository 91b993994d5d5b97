package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions, in order: migration i+1 is
// migrations[i]. A migration, once released, is never edited; a change is
// a new one at the end.
var migrations = []string{
	// 1: the directory (tenants, principals with their addresses, group
	// members, grants), its change log, and the audit trail.
	`
CREATE TABLE tenants (
	domain         text PRIMARY KEY,
	propagation_ms bigint NOT NULL CHECK (propagation_ms >= 0),
	created_at     timestamptz NOT NULL
);
CREATE SEQUENCE principal_ids;
CREATE TABLE principals (
	id            text PRIMARY KEY,
	kind          text NOT NULL CHECK (kind IN ('user', 'shared', 'group')),
	tenant        text NOT NULL REFERENCES tenants (domain),
	address       text NOT NULL UNIQUE,
	name          text NOT NULL DEFAULT '',
	password_hash text NOT NULL DEFAULT '',
	settings      jsonb NOT NULL DEFAULT '{}',
	created_at    timestamptz NOT NULL
);
-- Every address in use, primary or alias: one owner each.
CREATE TABLE addresses (
	address    text PRIMARY KEY,
	principal  text NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	is_primary boolean NOT NULL
);
CREATE TABLE members (
	grp    text NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	member text NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	PRIMARY KEY (grp, member)
);
CREATE SEQUENCE grant_ids;
CREATE TABLE grants (
	id           text PRIMARY KEY,
	mailbox      text NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	trustee      text NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	right_bits   smallint NOT NULL CHECK (right_bits IN (1, 2, 4)),
	created_at   timestamptz NOT NULL,
	effective_at timestamptz NOT NULL,
	created_by   text NOT NULL DEFAULT '',
	UNIQUE (mailbox, trustee, right_bits)
);
-- The directory's change log: every node's snapshot is at some seq, and
-- catches up with what follows it.
CREATE TABLE dir_changes (
	seq              bigserial PRIMARY KEY,
	at               timestamptz NOT NULL DEFAULT now(),
	removed          text[] NOT NULL DEFAULT '{}',
	password_changed text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE audit (
	seq        bigserial PRIMARY KEY,
	time       timestamptz NOT NULL,
	action     text NOT NULL,
	actor_id   text NOT NULL,
	mailbox_id text NOT NULL,
	decision   text NOT NULL,
	record     jsonb NOT NULL
);
CREATE INDEX audit_time ON audit (time, seq);
`,
	// 2: the mailstore: folders, messages, bodies stored once by content
	// hash, expunge tombstones, subscriptions, the relay queue and the
	// mail change log (mailstore.go describes them).
	`
CREATE SEQUENCE folder_ids;
-- owner is a principal's ID, with no reference: a removed principal's
-- mail stays, as in the Badger store.
CREATE TABLE folders (
	id             bigint PRIMARY KEY,
	owner          text NOT NULL,
	name           text NOT NULL,
	uid_validity   bigint NOT NULL,
	uid_next       bigint NOT NULL CHECK (uid_next > 0),
	count          bigint NOT NULL DEFAULT 0 CHECK (count >= 0),
	size           bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
	special_use    text NOT NULL DEFAULT '',
	highest_modseq bigint NOT NULL CHECK (highest_modseq > 0),
	UNIQUE (owner, name)
);
CREATE INDEX folders_owner ON folders (owner);
CREATE TABLE blobs (
	id     bigserial PRIMARY KEY,
	sha256 bytea NOT NULL UNIQUE,
	body   bytea NOT NULL,
	header bytea NOT NULL,
	refs   bigint NOT NULL CHECK (refs >= 0)
);
-- internal_date is in Unix nanoseconds: timestamptz keeps microseconds,
-- and a date must read back as it was given.
CREATE TABLE messages (
	folder_id     bigint NOT NULL,
	uid           bigint NOT NULL,
	flags         text[] NOT NULL DEFAULT '{}',
	internal_date bigint NOT NULL,
	size          bigint NOT NULL,
	blob_id       bigint NOT NULL,
	modseq        bigint NOT NULL,
	PRIMARY KEY (folder_id, uid)
);
CREATE TABLE tombstones (
	folder_id bigint NOT NULL,
	uid       bigint NOT NULL,
	modseq    bigint NOT NULL,
	PRIMARY KEY (folder_id, uid)
);
CREATE TABLE subscriptions (
	owner text NOT NULL,
	name  text NOT NULL,
	PRIMARY KEY (owner, name)
);
-- entry is the storage.QueueEntry; its id and blob are the columns'.
CREATE TABLE queue (
	id           bigserial PRIMARY KEY,
	blob_id      bigint NOT NULL,
	next_attempt timestamptz NOT NULL,
	entry        jsonb NOT NULL
);
-- One row per committed mailstore write: its changes in announcement
-- order. Bounded by age (pruneMailChanges).
CREATE TABLE mail_changes (
	seq     bigserial PRIMARY KEY,
	at      timestamptz NOT NULL DEFAULT now(),
	changes jsonb NOT NULL
);
CREATE INDEX mail_changes_at ON mail_changes (at);
`,
	// 3: the web admin center's administrators, one role per user: a tenant's,
	// or every tenant's (tenant NULL). Removing the user removes the role.
	`
CREATE TABLE admins (
	principal  text PRIMARY KEY REFERENCES principals (id) ON DELETE CASCADE,
	tenant     text REFERENCES tenants (domain),
	created_at timestamptz NOT NULL
);
`,
	// 4: calendar collections per owner (storage.Calendars,
	// calendars.go), their objects, and the tombstones sync-collection
	// reports.
	`
CREATE SEQUENCE calendar_ids;
-- owner is a principal's ID, with no reference, like folders. Times are
-- Unix microseconds (storage.CalendarTime); start_us and end_us are null
-- when unbounded.
CREATE TABLE calendars (
	id           bigint PRIMARY KEY,
	owner        text NOT NULL,
	name         text NOT NULL,
	display_name text NOT NULL DEFAULT '',
	color        text NOT NULL DEFAULT '',
	seq          bigint NOT NULL CHECK (seq > 0),
	created_us   bigint NOT NULL,
	UNIQUE (owner, name)
);
CREATE TABLE calendar_objects (
	calendar_id bigint NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
	name        text NOT NULL,
	etag        text NOT NULL,
	data        bytea NOT NULL,
	component   text NOT NULL,
	uid         text NOT NULL,
	start_us    bigint,
	end_us      bigint,
	seq         bigint NOT NULL,
	modified_us bigint NOT NULL,
	PRIMARY KEY (calendar_id, name),
	UNIQUE (calendar_id, uid)
);
CREATE INDEX calendar_objects_seq ON calendar_objects (calendar_id, seq);
CREATE TABLE calendar_tombstones (
	calendar_id bigint NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
	name        text NOT NULL,
	seq         bigint NOT NULL,
	PRIMARY KEY (calendar_id, name)
);
`,
	// 5: time-boxed grants: a grant stops counting at until (exclusive);
	// NULL is open-ended, as every grant made before was.
	`
ALTER TABLE grants ADD COLUMN until timestamptz CHECK (until IS NULL OR until > effective_at);
`,
}

// migrateLock is the advisory lock key that lets one node at a time
// migrate.
const migrateLock = 0x6d67206d69677261 // "mg migra"

// Migrate applies the migrations the database lacks, each in its own
// transaction, and returns the versions it applied. It is idempotent, and
// safe when several nodes start at once: they take turns, and the later
// ones find nothing to do. A database newer than this program is refused.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if have > len(migrations) {
		return nil, fmt.Errorf("migrate: the database is at schema version %d, this mailgate knows up to %d: upgrade mailgate", have, len(migrations))
	}
	var applied []int
	for v := have + 1; v <= len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate to version %d: %w", v, err)
		}
		applied = append(applied, v)
	}
	return applied, nil
}

// SchemaVersion is the newest schema version this program knows.
func SchemaVersion() int { return len(migrations) }
