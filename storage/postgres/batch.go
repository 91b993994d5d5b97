package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// batchTimeout bounds ApplyBatch's one transaction (30,000 records take
// a few seconds).
const batchTimeout = 10 * time.Minute

// ApplyBatch checks a batch (storage.PlanBatch) under the directory lock
// and writes all of it in one transaction, with COPY, logged and
// announced to the other nodes once; or nothing.
func (s *Store) ApplyBatch(b storage.Batch) (storage.BatchResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	var res storage.BatchResult
	err := s.dirWriteCtx(ctx, func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		b.Calendars = txCalendars{ctx, tx}
		plan, err := storage.PlanBatch(d, b, s.now(), func(np, ng int) ([]delegation.ID, []string, error) {
			pids, err := sequence(ctx, tx, "principal_ids", "p", np)
			if err != nil {
				return nil, nil, err
			}
			gids, err := sequence(ctx, tx, "grant_ids", "g", ng)
			ps := make([]delegation.ID, len(pids))
			for i, p := range pids {
				ps[i] = delegation.ID(p)
			}
			return ps, gids, err
		})
		if err != nil {
			return storage.DirChange{}, err
		}
		res = plan.Result
		return storage.DirChange{}, s.writePlan(ctx, tx, plan)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// sequence takes n values of a sequence, as IDs with prefix.
func sequence(ctx context.Context, tx pgx.Tx, seq, prefix string, n int) ([]string, error) {
	out := make([]string, 0, n)
	if n == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, "SELECT nextval($1::regclass) FROM generate_series(1, $2)", seq, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s%d", prefix, v))
	}
	return out, rows.Err()
}

// writePlan copies a checked batch into the tables.
func (s *Store) writePlan(ctx context.Context, tx pgx.Tx, p *storage.BatchPlan) error {
	now := s.now().UTC()
	var tenants, principals, addresses, members, grants, audit [][]any
	for _, t := range p.Tenants {
		tenants = append(tenants, []any{t.Domain, t.Propagation.Milliseconds(), now})
	}
	for _, r := range p.Principals {
		settings, err := json.Marshal(r.Settings)
		if err != nil {
			return err
		}
		principals = append(principals, []any{string(r.ID), string(r.Kind), r.Tenant, r.Address, r.Name, r.PasswordHash, settings, r.CreatedAt})
		addresses = append(addresses, []any{r.Address, string(r.ID), true})
		for _, a := range r.Aliases {
			addresses = append(addresses, []any{a, string(r.ID), false})
		}
		for _, m := range r.Members {
			members = append(members, []any{string(r.ID), string(m)})
		}
	}
	for _, a := range p.Aliases {
		addresses = append(addresses, []any{a.Alias, string(a.ID), false})
	}
	for _, m := range p.Members {
		members = append(members, []any{string(m.Group), string(m.Member)})
	}
	for _, g := range p.Grants {
		grants = append(grants, []any{g.ID, string(g.Mailbox), string(g.Trustee), int16(g.Right), g.CreatedAt, g.EffectiveAt, g.CreatedBy, untilColumn(g)})
	}
	for _, r := range p.Audit {
		r.Time = now
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		audit = append(audit, []any{r.Time, r.Action, r.ActorID, r.MailboxID, string(r.Decision), b})
	}
	calRows, err := s.writeCalendars(ctx, tx, p.Calendars)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"tenants", []string{"domain", "propagation_ms", "created_at"}, tenants},
		{"principals", []string{"id", "kind", "tenant", "address", "name", "password_hash", "settings", "created_at"}, principals},
		{"addresses", []string{"address", "principal", "is_primary"}, addresses},
		{"members", []string{"grp", "member"}, members},
		{"grants", []string{"id", "mailbox", "trustee", "right_bits", "created_at", "effective_at", "created_by", "until"}, grants},
		{"audit", []string{"time", "action", "actor_id", "mailbox_id", "decision", "record"}, audit},
		{"calendar_objects", strings.Split(strings.ReplaceAll(calObjectCols, " ", ""), ","), calRows},
	} {
		if len(c.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("batch: copy %s: %w", c.table, err)
		}
	}
	return nil
}

// txCalendars reads the calendars a batch checks against in its
// transaction, each collection's row locked (FOR UPDATE) until the
// commit, so that no write to it comes between the check and the batch.
type txCalendars struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t txCalendars) Calendar(owner delegation.ID, name string) (storage.Calendar, error) {
	c, err := scanCalendar(t.tx.QueryRow(t.ctx, `SELECT `+calendarCols+` FROM calendars WHERE owner = $1 AND name = $2 FOR UPDATE`, owner, name))
	if err != nil {
		return c, notFound(err, "no calendar %q", name)
	}
	return c, nil
}

func (t txCalendars) CalendarObjects(cal uint64) ([]storage.CalendarObject, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT `+calObjectCols+` FROM calendar_objects WHERE calendar_id = $1`, cal)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.CalendarObject, error) { return scanCalObject(r) })
}

func (t txCalendars) CalendarChanges(cal uint64, since uint64) ([]storage.CalendarChange, uint64, error) {
	rows, err := t.tx.Query(t.ctx, "SELECT name, seq FROM calendar_tombstones WHERE calendar_id = $1 AND seq > $2", cal, since)
	if err != nil {
		return nil, 0, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.CalendarChange, error) {
		c := storage.CalendarChange{Deleted: true}
		err := r.Scan(&c.Name, &c.Seq)
		return c, err
	})
	return out, 0, err
}

// writeCalendars creates the batch's new calendars, moves the sequence
// of the existing ones it adds to, drops the tombstones its objects
// replace, and returns the objects' rows (calObjectCols) to copy.
func (s *Store) writeCalendars(ctx context.Context, tx pgx.Tx, cals []storage.CalendarPlan) ([][]any, error) {
	var rows [][]any
	for _, cp := range cals {
		c := cp.Calendar
		var err error
		if cp.New {
			err = tx.QueryRow(ctx, `INSERT INTO calendars (id, owner, name, display_name, color, seq, created_us)
				VALUES (nextval('calendar_ids'), $1, $2, $3, $4, $5, $6) RETURNING id`,
				c.Owner, c.Name, c.DisplayName, c.Color, c.Seq, c.Created.UnixMicro()).Scan(&c.ID)
		} else {
			_, err = tx.Exec(ctx, "UPDATE calendars SET seq = $2 WHERE id = $1", c.ID, c.Seq)
		}
		if err != nil {
			return nil, fmt.Errorf("batch: calendar %s: %w", c.Name, err)
		}
		if len(cp.Gone) > 0 { // one statement for all of the calendar's replaced tombstones
			gone := slices.Collect(maps.Keys(cp.Gone))
			if _, err := tx.Exec(ctx, "DELETE FROM calendar_tombstones WHERE calendar_id = $1 AND name = ANY($2)", c.ID, gone); err != nil {
				return nil, fmt.Errorf("batch: calendar %s: %w", c.Name, err)
			}
		}
		for _, o := range cp.Objects {
			rows = append(rows, []any{c.ID, o.Name, o.ETag, o.Data, o.Component, o.UID, micros(o.Start), micros(o.End), o.Seq, o.Modified.UnixMicro()})
		}
	}
	return rows, nil
}
