package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Calendars (storage.Calendars) live in the tables of migration 6: a
// write locks its collection's row (FOR UPDATE) and takes the next value
// of its seq, so the collection's changes are numbered in commit order.

var _ storage.Calendars = (*Store)(nil)

const calendarCols = "id, owner, name, display_name, color, seq, created_us"
const calObjectCols = "calendar_id, name, etag, data, component, uid, start_us, end_us, seq, modified_us"

func scanCalendar(row pgx.Row) (storage.Calendar, error) {
	var c storage.Calendar
	var owner string
	var created int64
	err := row.Scan(&c.ID, &owner, &c.Name, &c.DisplayName, &c.Color, &c.Seq, &created)
	c.Owner, c.Created = delegation.ID(owner), time.UnixMicro(created).UTC()
	return c, err
}

func scanCalObject(row pgx.Row) (storage.CalendarObject, error) {
	var o storage.CalendarObject
	var start, end *int64
	var modified int64
	err := row.Scan(&o.Calendar, &o.Name, &o.ETag, &o.Data, &o.Component, &o.UID, &start, &end, &o.Seq, &modified)
	o.Start, o.End, o.Modified = fromMicros(start), fromMicros(end), time.UnixMicro(modified).UTC()
	return o, err
}

func micros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

func fromMicros(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.UnixMicro(*v).UTC()
}

func notFound(err error, format string, a ...any) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Errorf(storage.ErrNotFound, format, a...)
	}
	return dbError(err)
}

// EnsureDefaultCalendar creates the owner's default calendar if absent.
func (s *Store) EnsureDefaultCalendar(owner delegation.ID) (storage.Calendar, error) {
	if c, err := s.Calendar(owner, storage.DefaultCalendar); !errors.Is(err, storage.ErrNotFound) {
		return c, err
	}
	c, err := s.CreateCalendar(owner, storage.DefaultCalendar, "Calendar", "")
	if errors.Is(err, storage.ErrExists) { // made meanwhile
		return s.Calendar(owner, storage.DefaultCalendar)
	}
	return c, err
}

// Calendars lists the owner's collections by name.
func (s *Store) Calendars(owner delegation.ID) ([]storage.Calendar, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+calendarCols+` FROM calendars WHERE owner = $1 ORDER BY name COLLATE "C"`, owner)
	if err != nil {
		return nil, dbError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Calendar, error) { return scanCalendar(r) })
	if len(out) == 0 {
		out = nil
	}
	return out, dbError(err)
}

// Calendar gives one of the owner's collections.
func (s *Store) Calendar(owner delegation.ID, name string) (storage.Calendar, error) {
	ctx, cancel := bg()
	defer cancel()
	c, err := scanCalendar(s.pool.QueryRow(ctx, `SELECT `+calendarCols+` FROM calendars WHERE owner = $1 AND name = $2`, owner, name))
	if err != nil {
		return c, notFound(err, "no calendar %q", name)
	}
	return c, nil
}

// CreateCalendar makes a collection.
func (s *Store) CreateCalendar(owner delegation.ID, name, displayName, color string) (storage.Calendar, error) {
	if err := storage.CheckCalendarName(name); err != nil {
		return storage.Calendar{}, err
	}
	if err := storage.CheckCalendarDisplay(displayName, color); err != nil {
		return storage.Calendar{}, err
	}
	ctx, cancel := bg()
	defer cancel()
	var c storage.Calendar
	err := s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		var err error
		c, err = scanCalendar(w.tx.QueryRow(ctx, `INSERT INTO calendars (id, owner, name, display_name, color, seq, created_us)
			VALUES (nextval('calendar_ids'), $1, $2, $3, $4, 1, $5)
			ON CONFLICT (owner, name) DO NOTHING RETURNING `+calendarCols,
			owner, name, displayName, color, storage.CalendarTime(s.now()).UnixMicro()))
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.Errorf(storage.ErrExists, "calendar %q exists", name)
		}
		return err
	})
	return c, err
}

// SetCalendarDisplay changes a collection's display name and color.
func (s *Store) SetCalendarDisplay(owner delegation.ID, name, displayName, color string) (storage.Calendar, error) {
	if err := storage.CheckCalendarDisplay(displayName, color); err != nil {
		return storage.Calendar{}, err
	}
	ctx, cancel := bg()
	defer cancel()
	var c storage.Calendar
	err := s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		var err error
		c, err = scanCalendar(w.tx.QueryRow(ctx, `UPDATE calendars SET display_name = $3, color = $4, seq = seq + 1
			WHERE owner = $1 AND name = $2 RETURNING `+calendarCols, owner, name, displayName, color))
		if err != nil {
			return notFound(err, "no calendar %q", name)
		}
		return nil
	})
	return c, err
}

// DeleteCalendar removes a collection; its objects and tombstones go
// with it (ON DELETE CASCADE).
func (s *Store) DeleteCalendar(owner delegation.ID, name string) error {
	if name == storage.DefaultCalendar {
		return storage.Errorf(storage.ErrInvalid, "the default calendar cannot be deleted")
	}
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		tag, err := w.tx.Exec(ctx, "DELETE FROM calendars WHERE owner = $1 AND name = $2", owner, name)
		if err == nil && tag.RowsAffected() == 0 {
			return storage.Errorf(storage.ErrNotFound, "no calendar %q", name)
		}
		return err
	})
}

// bumpCalendar locks a collection's row and gives it its next sequence.
func bumpCalendar(ctx context.Context, tx pgx.Tx, cal uint64) (uint64, error) {
	var seq uint64
	err := tx.QueryRow(ctx, "UPDATE calendars SET seq = seq + 1 WHERE id = $1 RETURNING seq", cal).Scan(&seq)
	if err != nil {
		return 0, notFound(err, "no calendar %d", cal)
	}
	return seq, nil
}

func calObject(ctx context.Context, q querier, cal uint64, name string, lock bool) (storage.CalendarObject, error) {
	sql := `SELECT ` + calObjectCols + ` FROM calendar_objects WHERE calendar_id = $1 AND name = $2`
	if lock {
		sql += " FOR UPDATE"
	}
	o, err := scanCalObject(q.QueryRow(ctx, sql, cal, name))
	if err != nil {
		return o, notFound(err, "no calendar object %q", name)
	}
	return o, nil
}

// PutCalendarObject stores an object if it meets cond.
func (s *Store) PutCalendarObject(o storage.CalendarObject, cond storage.Condition) (storage.CalendarObject, error) {
	o, err := storage.PrepareCalendarObject(o)
	if err != nil {
		return storage.CalendarObject{}, err
	}
	ctx, cancel := bg()
	defer cancel()
	err = s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		// The collection's row first: it orders every write to it.
		seq, err := bumpCalendar(ctx, w.tx, o.Calendar)
		if err != nil {
			return err
		}
		old, err := calObject(ctx, w.tx, o.Calendar, o.Name, true)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if err := cond.Check(old.ETag); err != nil {
			return err
		}
		var holder string
		err = w.tx.QueryRow(ctx, "SELECT name FROM calendar_objects WHERE calendar_id = $1 AND uid = $2", o.Calendar, o.UID).Scan(&holder)
		switch {
		case err == nil && holder != o.Name:
			return storage.Errorf(storage.ErrExists, "another calendar object has UID %q", o.UID)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		o.Seq, o.Modified = seq, storage.CalendarTime(s.now())
		if _, err := w.tx.Exec(ctx, `INSERT INTO calendar_objects (`+calObjectCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (calendar_id, name) DO UPDATE SET etag = $3, data = $4, component = $5, uid = $6,
				start_us = $7, end_us = $8, seq = $9, modified_us = $10`,
			o.Calendar, o.Name, o.ETag, o.Data, o.Component, o.UID, micros(o.Start), micros(o.End), o.Seq, o.Modified.UnixMicro()); err != nil {
			return err
		}
		_, err = w.tx.Exec(ctx, "DELETE FROM calendar_tombstones WHERE calendar_id = $1 AND name = $2", o.Calendar, o.Name)
		return err
	})
	if err != nil {
		return storage.CalendarObject{}, err
	}
	return o, nil
}

// CalendarObject gives one object.
func (s *Store) CalendarObject(cal uint64, name string) (storage.CalendarObject, error) {
	ctx, cancel := bg()
	defer cancel()
	return calObject(ctx, s.pool, cal, name, false)
}

// DeleteCalendarObject removes an object if it meets cond, leaving a
// tombstone for CalendarChanges.
func (s *Store) DeleteCalendarObject(cal uint64, name string, cond storage.Condition) error {
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		seq, err := bumpCalendar(ctx, w.tx, cal)
		if err != nil {
			return err
		}
		old, err := calObject(ctx, w.tx, cal, name, true)
		if err != nil {
			return err
		}
		if err := cond.Check(old.ETag); err != nil {
			return err
		}
		if _, err := w.tx.Exec(ctx, "DELETE FROM calendar_objects WHERE calendar_id = $1 AND name = $2", cal, name); err != nil {
			return err
		}
		_, err = w.tx.Exec(ctx, `INSERT INTO calendar_tombstones (calendar_id, name, seq) VALUES ($1, $2, $3)
			ON CONFLICT (calendar_id, name) DO UPDATE SET seq = $3`, cal, name, seq)
		return err
	})
}

// CalendarObjects lists a collection's objects by name.
func (s *Store) CalendarObjects(cal uint64) ([]storage.CalendarObject, error) {
	return s.QueryCalendarObjects(cal, time.Time{}, time.Time{})
}

// QueryCalendarObjects lists the objects overlapping [start, end). The
// objects are one statement's snapshot; only an empty answer needs the
// second look that tells an empty collection from a missing one (objects
// go with their collection, so a non-empty answer proves it exists).
func (s *Store) QueryCalendarObjects(cal uint64, start, end time.Time) ([]storage.CalendarObject, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+calObjectCols+` FROM calendar_objects WHERE calendar_id = $1
		AND ($3::bigint IS NULL OR start_us IS NULL OR start_us < $3)
		AND ($2::bigint IS NULL OR end_us IS NULL OR end_us > $2)
		ORDER BY name COLLATE "C"`, cal, micros(storage.CalendarTime(start)), micros(storage.CalendarTime(end)))
	if err != nil {
		return nil, dbError(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.CalendarObject, error) { return scanCalObject(r) })
	if err != nil {
		return nil, dbError(err)
	}
	if len(out) > 0 {
		return out, nil
	}
	if err := s.pool.QueryRow(ctx, "SELECT id FROM calendars WHERE id = $1", cal).Scan(new(uint64)); err != nil {
		return nil, notFound(err, "no calendar %d", cal)
	}
	return nil, nil
}

// CalendarChanges lists what changed after since. One statement, so the
// collection's seq and its changes are of the same moment: no row is a
// missing collection, a row without a name one with no changes.
func (s *Store) CalendarChanges(cal uint64, since uint64) ([]storage.CalendarChange, uint64, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT c.seq, x.name, x.deleted, x.seq FROM calendars c
		LEFT JOIN LATERAL (SELECT name, false AS deleted, seq FROM calendar_objects WHERE calendar_id = c.id AND seq > $2
			UNION ALL SELECT name, true, seq FROM calendar_tombstones WHERE calendar_id = c.id AND seq > $2) x ON true
		WHERE c.id = $1 ORDER BY x.seq`, cal, since)
	if err != nil {
		return nil, 0, dbError(err)
	}
	defer rows.Close()
	var out []storage.CalendarChange
	var seq uint64
	found := false
	for rows.Next() {
		var name *string
		var deleted *bool
		var cseq *uint64
		if err := rows.Scan(&seq, &name, &deleted, &cseq); err != nil {
			return nil, 0, dbError(err)
		}
		found = true
		if name != nil {
			out = append(out, storage.CalendarChange{Name: *name, Deleted: *deleted, Seq: *cseq})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbError(err)
	}
	if !found {
		return nil, 0, storage.Errorf(storage.ErrNotFound, "no calendar %d", cal)
	}
	return out, seq, nil
}
