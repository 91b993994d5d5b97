package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/storage"
)

// The relay queue: an entry is written by Deliver in the transaction that
// stores its body (the entry holds a reference to the blob), so a message
// acknowledged with 250 is delivered locally or queued, durably. The row's
// id and blob_id are authoritative; entry keeps the rest as given (JSON,
// so times read back exactly).

// putQueue writes a new entry, giving it an ID unless it has one, and a
// creation time (the store's clock) and first attempt unless it has them.
func (s *Store) putQueue(ctx context.Context, tx pgx.Tx, e *storage.QueueEntry) error {
	if e.Created.IsZero() {
		e.Created = s.now().UTC()
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.Created
	}
	if e.ID == 0 {
		var id int64
		if err := tx.QueryRow(ctx, "SELECT nextval(pg_get_serial_sequence('queue', 'id'))").Scan(&id); err != nil {
			return err
		}
		e.ID = uint64(id)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO queue (id, blob_id, next_attempt, entry) VALUES ($1, $2, $3, $4)",
		int64(e.ID), int64(e.Blob), e.NextAttempt, b)
	return err
}

// QueueList returns every queue entry, the next due first.
func (s *Store) QueueList() ([]storage.QueueEntry, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT id, blob_id, entry FROM queue ORDER BY id")
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []storage.QueueEntry
	for rows.Next() {
		var id, blob int64
		var b []byte
		if err := rows.Scan(&id, &blob, &b); err != nil {
			return nil, dbError(err)
		}
		var e storage.QueueEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, err
		}
		e.ID, e.Blob = uint64(id), uint64(blob)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	slices.SortStableFunc(out, func(a, b storage.QueueEntry) int { return a.NextAttempt.Compare(b.NextAttempt) })
	return out, nil
}

// QueueDue returns up to limit entries whose next attempt is at or before
// now, the longest waiting first, and the time of the earliest later
// attempt (zero when there is none).
func (s *Store) QueueDue(now time.Time, limit int) (due []storage.QueueEntry, next time.Time, err error) {
	all, err := s.QueueList()
	due, next = storage.DueIn(all, now, limit)
	return due, next, err
}

// QueueStats reports the number of entries and the creation time of the
// oldest (zero when the queue is empty).
func (s *Store) QueueStats() (n int, oldest time.Time, err error) {
	all, err := s.QueueList()
	return len(all), storage.OldestIn(all), err
}

// QueueRetry rewrites an existing entry after a failed or partial attempt
// (fewer recipients, later NextAttempt, LastError), or removes it when no
// recipient is left. ErrNotFound when the entry is gone.
func (s *Store) QueueRetry(e storage.QueueEntry) error {
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error { return queueSettle(ctx, w.tx, e) })
}

// QueueDone removes an entry and drops its reference to the message blob.
// Removing an entry that is already gone is not an error.
func (s *Store) QueueDone(id uint64) error {
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error { return queueDone(ctx, w.tx, id) })
}

// queueSettle is QueueRetry inside a transaction.
func queueSettle(ctx context.Context, tx pgx.Tx, e storage.QueueEntry) error {
	if len(e.To) == 0 {
		return queueDone(ctx, tx, e.ID)
	}
	var blob int64
	err := tx.QueryRow(ctx, "SELECT blob_id FROM queue WHERE id = $1 FOR UPDATE", int64(e.ID)).Scan(&blob)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Errorf(storage.ErrNotFound, "no queue entry %d", e.ID)
	}
	if err != nil {
		return err
	}
	e.Blob = uint64(blob) // the reference the entry holds is the stored one
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE queue SET next_attempt = $2, entry = $3 WHERE id = $1", int64(e.ID), e.NextAttempt, b)
	return err
}

func queueDone(ctx context.Context, tx pgx.Tx, id uint64) error {
	rows, err := tx.Query(ctx, "DELETE FROM queue WHERE id = $1 RETURNING blob_id", int64(id))
	if err != nil {
		return err
	}
	blobs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	return unrefBlobs(ctx, tx, blobs)
}

// QueueClaim takes up to limit due entries for this node's relay worker,
// the longest waiting first: in one transaction, with FOR UPDATE SKIP
// LOCKED, each one's next attempt moves to now+lease, so no other node's
// worker takes it (nor waits for it) while this one delivers; if this node
// dies mid-delivery, the entry is due again when the lease ends. next is
// the earliest attempt after now left in the queue (zero when none).
func (s *Store) QueueClaim(now time.Time, limit int, lease time.Duration) (claimed []storage.QueueEntry, next time.Time, err error) {
	ctx, cancel := bg()
	defer cancel()
	until := now.Add(lease).UTC()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		claimed = claimed[:0]
		rows, err := tx.Query(ctx, `SELECT id, blob_id, entry FROM queue WHERE next_attempt <= $1
			ORDER BY next_attempt, id LIMIT $2 FOR UPDATE SKIP LOCKED`, now, max(limit, 1))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, blob int64
			var b []byte
			if err := rows.Scan(&id, &blob, &b); err != nil {
				rows.Close()
				return err
			}
			var e storage.QueueEntry
			if err := json.Unmarshal(b, &e); err != nil {
				rows.Close()
				return err
			}
			e.ID, e.Blob = uint64(id), uint64(blob)
			claimed = append(claimed, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range claimed {
			claimed[i].NextAttempt = until
			b, err := json.Marshal(claimed[i])
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE queue SET next_attempt = $2, entry = $3 WHERE id = $1", int64(claimed[i].ID), until, b); err != nil {
				return err
			}
		}
		var n *time.Time
		if err := tx.QueryRow(ctx, "SELECT min(next_attempt) FROM queue WHERE next_attempt > $1", now).Scan(&n); err != nil {
			return err
		}
		if n != nil {
			next = n.UTC()
		}
		return nil
	})
	return claimed, next, dbError(err)
}
