package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/storage"
)

var _ storage.Importer = (*Store)(nil)

// Import loads an export (storage.Exporter, copy-store) into this
// database, which must be empty, in one transaction: a failed or
// interrupted import leaves it as it was. Every ID is kept (principals,
// grants, folders with their UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ,
// messages with their UIDs, mod-sequences and flags, queue entries,
// calendars with their sequences and objects with their ETags), so a
// client that knew the old store sees the same mailboxes. Bodies are
// stored once by content hash as always: two source bodies with the same
// bytes become one blob, and every reference count is recomputed from the
// messages and queue entries that use it. The ID sequences are moved past
// the source's counters. Rows go in with COPY, bodies in pipelined
// batches.
//
// Times are kept as PostgreSQL keeps them: to the microsecond (grants,
// principals' creation), exactly in the JSON of queue entries and audit
// records and in internal dates (nanoseconds). A tenant's creation time,
// which the embedded store does not keep, is the import's.
func (s *Store) Import(ctx context.Context, items iter.Seq2[storage.Item, error]) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockEmpty(ctx, tx); err != nil {
			return err
		}
		im := &importer{ctx: ctx, tx: tx, remap: map[uint64]uint64{}, now: s.now().UTC()}
		for it, err := range items {
			if err != nil {
				return err
			}
			if err := im.add(it); err != nil {
				return err
			}
		}
		if err := im.flush(); err != nil {
			return err
		}
		return im.finish(s)
	})
	if err != nil {
		return fmt.Errorf("import: %w", dbError(err))
	}
	return s.catchUp(ctx)
}

// importTables are the tables an import fills, which must be empty.
var importTables = []string{"tenants", "principals", "addresses", "members", "grants", "folders", "subscriptions",
	"blobs", "messages", "tombstones", "queue", "audit", "calendars", "calendar_objects", "calendar_tombstones"}

// lockEmpty locks the tables against writers until the transaction ends
// (readers go on) and refuses a database that holds anything.
func lockEmpty(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(importTables, ", ")+" IN EXCLUSIVE MODE"); err != nil {
		return err
	}
	var full []string
	for _, t := range importTables {
		var some bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&some); err != nil {
			return err
		}
		if some {
			full = append(full, t)
		}
	}
	if full != nil {
		return storage.Errorf(storage.ErrExists, "the target database is not empty (it has %s): copy into a new, empty database",
			strings.Join(full, ", "))
	}
	return nil
}

// importBatch bounds the rows of one COPY and the bodies of one pipeline.
const (
	importBatch      = 2000
	importBlobBatch  = 256
	importBlobsBytes = 16 << 20
)

// importer collects an import's rows, one kind at a time, and writes
// them in batches.
type importer struct {
	ctx context.Context
	tx  pgx.Tx
	now time.Time

	kind  storage.RecordKind // the kind being collected
	table string             // its table and columns, for COPY
	cols  []string
	rows  [][]any

	blobs     []storage.Blob // bodies waiting for their pipeline (copies)
	blobBytes int

	addresses [][]any // of the principals in rows, after them
	members   [][]any // after every principal (a member may come later)
	remap     map[uint64]uint64

	counters storage.Counters
	maxBlob  uint64
	maxQueue uint64
}

func (im *importer) add(it storage.Item) error {
	if it.Kind < im.kind {
		return fmt.Errorf("export out of order: %s after %s", it.Kind, im.kind)
	}
	if it.Kind != im.kind || len(im.rows) >= importBatch {
		if err := im.flush(); err != nil {
			return err
		}
		im.kind = it.Kind
	}
	switch it.Kind {
	case storage.RecordCounters:
		im.counters = it.Counters
	case storage.RecordTenant:
		t := it.Tenant
		im.row("tenants", []string{"domain", "propagation_ms", "created_at"}, t.Domain, t.Propagation.Milliseconds(), im.now)
	case storage.RecordPrincipal:
		r := it.Principal
		settings, err := json.Marshal(r.Settings)
		if err != nil {
			return err
		}
		im.row("principals", []string{"id", "kind", "tenant", "address", "name", "password_hash", "settings", "created_at"},
			string(r.ID), string(r.Kind), r.Tenant, r.Address, r.Name, r.PasswordHash, string(settings), r.CreatedAt.UTC())
		im.addresses = append(im.addresses, []any{r.Address, string(r.ID), true})
		for _, a := range r.Aliases {
			im.addresses = append(im.addresses, []any{a, string(r.ID), false})
		}
		for _, m := range r.Members {
			im.members = append(im.members, []any{string(r.ID), string(m)})
		}
		im.counters.Principal = max(im.counters.Principal, numericID(string(r.ID), "p"))
	case storage.RecordGrant:
		g := it.Grant
		im.row("grants", []string{"id", "mailbox", "trustee", "right_bits", "created_at", "effective_at", "created_by", "until"},
			g.ID, string(g.Mailbox), string(g.Trustee), int16(g.Right), g.CreatedAt.UTC(), g.EffectiveAt.UTC(), g.CreatedBy, untilColumn(g))
		im.counters.Grant = max(im.counters.Grant, numericID(g.ID, "g"))
	case storage.RecordFolder:
		f := it.Folder
		im.row("folders", []string{"id", "owner", "name", "uid_validity", "uid_next", "count", "size", "special_use", "highest_modseq"},
			int64(f.ID), string(f.Owner), f.Name, int64(f.UIDValidity), int64(f.UIDNext), int64(f.Count), int64(f.Size), f.SpecialUse,
			int64(max(f.HighestModSeq, 1)))
		im.counters.Folder = max(im.counters.Folder, f.ID)
	case storage.RecordSubscription:
		im.row("subscriptions", []string{"owner", "name"}, string(it.Subscription.Owner), it.Subscription.Name)
	case storage.RecordBlob:
		b := it.Blob
		b.Body = append([]byte(nil), b.Body...) // the export's is valid until its next record
		im.blobs = append(im.blobs, b)
		im.blobBytes += len(b.Body)
		if len(im.blobs) >= importBlobBatch || im.blobBytes >= importBlobsBytes {
			return im.flush()
		}
	case storage.RecordMessage:
		m := it.Message
		flags := m.Flags
		if flags == nil {
			flags = []string{}
		}
		im.row("messages", []string{"folder_id", "uid", "flags", "internal_date", "size", "blob_id", "modseq"},
			int64(m.Folder), int64(m.UID), flags, m.InternalDate.UnixNano(), m.Size, int64(im.blob(m.Blob)), int64(max(m.ModSeq, 1)))
	case storage.RecordTombstone:
		ts := it.Tombstone
		im.row("tombstones", []string{"folder_id", "uid", "modseq"}, int64(ts.Folder), int64(ts.UID), int64(ts.ModSeq))
	case storage.RecordQueue:
		e := it.Queue
		e.Blob = im.blob(e.Blob)
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		im.row("queue", []string{"id", "blob_id", "next_attempt", "entry"}, int64(e.ID), int64(e.Blob), e.NextAttempt.UTC(), string(b))
		im.maxQueue = max(im.maxQueue, e.ID)
	case storage.RecordAudit:
		r := it.Audit
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		im.row("audit", []string{"time", "action", "actor_id", "mailbox_id", "decision", "record"},
			r.Time.UTC(), r.Action, r.ActorID, r.MailboxID, string(r.Decision), string(b))
	case storage.RecordCalendar:
		c := it.Calendar
		im.row("calendars", []string{"id", "owner", "name", "display_name", "color", "seq", "created_us"},
			int64(c.ID), string(c.Owner), c.Name, c.DisplayName, c.Color, int64(max(c.Seq, 1)), storage.CalendarTime(c.Created).UnixMicro())
		im.counters.Calendar = max(im.counters.Calendar, c.ID)
	case storage.RecordCalendarObject:
		o := it.CalendarObject
		im.row("calendar_objects", strings.Split(calObjectCols, ", "), int64(o.Calendar), o.Name, o.ETag, o.Data, o.Component, o.UID,
			micros(storage.CalendarTime(o.Start)), micros(storage.CalendarTime(o.End)), int64(o.Seq), storage.CalendarTime(o.Modified).UnixMicro())
	case storage.RecordCalendarTombstone:
		ts := it.CalendarTombstone
		im.row("calendar_tombstones", []string{"calendar_id", "name", "seq"}, int64(ts.Calendar), ts.Name, int64(ts.Seq))
	default:
		return fmt.Errorf("import: unknown %s", it.Kind)
	}
	return nil
}

func (im *importer) row(table string, cols []string, vals ...any) {
	im.table, im.cols = table, cols
	im.rows = append(im.rows, vals)
}

// blob is the ID a source body has here (another one's when it has the
// same bytes).
func (im *importer) blob(id uint64) uint64 {
	if to, ok := im.remap[id]; ok {
		return to
	}
	return id
}

// flush writes what has been collected: the rows with COPY (a
// principal's addresses after it), the bodies in one pipeline.
func (im *importer) flush() error {
	if len(im.rows) > 0 {
		if err := im.copy(im.table, im.cols, im.rows); err != nil {
			return err
		}
		im.rows = im.rows[:0]
	}
	if len(im.addresses) > 0 {
		if err := im.copy("addresses", []string{"address", "principal", "is_primary"}, im.addresses); err != nil {
			return err
		}
		im.addresses = nil
	}
	if len(im.blobs) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, bl := range im.blobs {
		sum := sha256.Sum256(bl.Body)
		b.Queue(`INSERT INTO blobs (id, sha256, body, header, refs) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (sha256) DO UPDATE SET refs = blobs.refs + excluded.refs RETURNING id`,
			int64(bl.ID), sum[:], bl.Body, storage.HeaderBlock(bl.Body), int64(bl.Refs))
	}
	res := im.tx.SendBatch(im.ctx, &b)
	for _, bl := range im.blobs {
		var id int64
		if err := res.QueryRow().Scan(&id); err != nil {
			res.Close()
			return fmt.Errorf("body %d: %w", bl.ID, err)
		}
		if uint64(id) != bl.ID {
			im.remap[bl.ID] = uint64(id) // the same bytes as an earlier body
		}
		im.maxBlob = max(im.maxBlob, bl.ID)
	}
	im.blobs, im.blobBytes = im.blobs[:0], 0
	return res.Close()
}

func (im *importer) copy(table string, cols []string, rows [][]any) error {
	if _, err := im.tx.CopyFrom(im.ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy %s: %w", table, err)
	}
	return nil
}

// finish writes the group members, recomputes the bodies' reference
// counts, checks that every message and queue entry has its body, moves
// the ID sequences past the source's and logs a directory change, so that
// any node already running reloads.
func (im *importer) finish(s *Store) error {
	ctx, tx := im.ctx, im.tx
	if len(im.members) > 0 {
		if err := im.copy("members", []string{"grp", "member"}, im.members); err != nil {
			return err
		}
	}
	fixed, err := tx.Exec(ctx, `UPDATE blobs SET refs = u.n FROM (SELECT blob_id, count(*) AS n
		FROM (SELECT blob_id FROM messages UNION ALL SELECT blob_id FROM queue) x GROUP BY blob_id) u
		WHERE blobs.id = u.blob_id AND blobs.refs <> u.n`)
	if err != nil {
		return err
	}
	dropped, err := tx.Exec(ctx, `DELETE FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob_id = b.id)
		AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.blob_id = b.id)`)
	if err != nil {
		return err
	}
	if fixed.RowsAffected()+dropped.RowsAffected() > 0 {
		s.log.Info("import: reference counts recomputed", "corrected", fixed.RowsAffected(), "unreferenced_dropped", dropped.RowsAffected())
	}
	var lost int64
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = m.blob_id))
		+ (SELECT count(*) FROM queue q WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = q.blob_id))`).Scan(&lost); err != nil {
		return err
	}
	if lost > 0 {
		return storage.Errorf(storage.ErrInvalid, "%d messages or queue entries of the source refer to a body it does not have: nothing was copied", lost)
	}
	for _, q := range []struct {
		seq string // an expression naming the sequence
		n   uint64
	}{
		{"'principal_ids'", im.counters.Principal}, {"'grant_ids'", im.counters.Grant}, {"'folder_ids'", im.counters.Folder},
		{"'calendar_ids'", im.counters.Calendar},
		{"pg_get_serial_sequence('blobs', 'id')", im.maxBlob}, {"pg_get_serial_sequence('queue', 'id')", im.maxQueue},
	} {
		if q.n == 0 {
			continue // the sequence's first value is 1 as before
		}
		if _, err := tx.Exec(ctx, "SELECT setval("+q.seq+", $1)", int64(q.n)); err != nil {
			return fmt.Errorf("sequence %s: %w", q.seq, err)
		}
	}
	var seq int64
	if err := tx.QueryRow(ctx, "INSERT INTO dir_changes DEFAULT VALUES RETURNING seq").Scan(&seq); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", dirChannel, strconv.FormatInt(seq, 10))
	return err
}

// numericID is n of an ID prefix+n (p12, g7), 0 for another form.
func numericID(id, prefix string) uint64 {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, prefix), 10, 64)
	if err != nil || !strings.HasPrefix(id, prefix) {
		return 0
	}
	return n
}

// Census counts what the database holds (storage.Census), in one
// repeatable-read transaction. A message's bytes are its body's, read
// from the blob it refers to, so a message whose body is missing or of
// another size shows.
func (s *Store) Census(ctx context.Context) (storage.Census, error) {
	c := storage.Census{PerFolder: map[uint64]storage.FolderCensus{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, q := range []struct {
			table string
			n     *int
		}{
			{"tenants", &c.Tenants}, {"principals", &c.Principals}, {"addresses", &c.Addresses}, {"members", &c.Members},
			{"grants", &c.Grants}, {"folders", &c.Folders}, {"subscriptions", &c.Subscriptions}, {"messages", &c.Messages},
			{"tombstones", &c.Tombstones}, {"queue", &c.Queued}, {"audit", &c.Audit},
			{"calendars", &c.Calendars}, {"calendar_objects", &c.CalendarObjects}, {"calendar_tombstones", &c.CalendarTombstones},
		} {
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+q.table).Scan(q.n); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(octet_length(b.body)), 0)::bigint FROM messages m
			LEFT JOIN blobs b ON b.id = m.blob_id`).Scan(&c.MessageBytes); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT f.id, f.uid_validity, f.uid_next, f.highest_modseq, count(m.uid),
			coalesce(sum(octet_length(b.body)), 0)::bigint, coalesce(sum(m.uid), 0)::bigint
			FROM folders f LEFT JOIN messages m ON m.folder_id = f.id LEFT JOIN blobs b ON b.id = m.blob_id GROUP BY f.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, uv, next, hms, n, bytes, uidSum int64
			if err := rows.Scan(&id, &uv, &next, &hms, &n, &bytes, &uidSum); err != nil {
				return err
			}
			c.PerFolder[uint64(id)] = storage.FolderCensus{UIDValidity: uint32(uv), UIDNext: uint32(next), HighestModSeq: uint64(hms),
				Messages: int(n), Bytes: bytes, UIDSum: uint64(uidSum)}
		}
		return rows.Err()
	})
	if err != nil {
		return storage.Census{}, fmt.Errorf("census: %w", dbError(err))
	}
	return c, nil
}
