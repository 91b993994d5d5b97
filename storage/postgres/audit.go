package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/storage"
)

// auditTx writes audit records in tx, the transaction of the change they
// record. A record without a time is stamped with the store's clock.
func (s *Store) auditTx(ctx context.Context, tx pgx.Tx, recs ...storage.AuditRecord) error {
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = s.now().UTC()
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO audit (time, action, actor_id, mailbox_id, decision, record)
			VALUES ($1, $2, $3, $4, $5, $6)`, r.Time, r.Action, r.ActorID, r.MailboxID, string(r.Decision), b); err != nil {
			return err
		}
	}
	return nil
}

// Audit appends records that go with no other write (a refusal, a
// login), durably.
func (s *Store) Audit(recs ...storage.AuditRecord) error {
	ctx, cancel := bg()
	defer cancel()
	return dbError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.auditTx(ctx, tx, recs...) }))
}

// AuditList returns matching records, oldest first (the newest Limit of
// them when Limit is set).
func (s *Store) AuditList(f storage.AuditFilter) ([]storage.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.MailboxID != "" {
		add("mailbox_id = $%d", f.MailboxID)
	}
	if f.ActorID != "" {
		add("actor_id = $%d", f.ActorID)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Decision != "" {
		add("decision = $%d", string(f.Decision))
	}
	if !f.Since.IsZero() {
		add("time >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		add("time < $%d", f.Until)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	q := "SELECT record FROM audit" + cond + " ORDER BY time, seq"
	if f.Limit > 0 {
		q = fmt.Sprintf(`SELECT record FROM (SELECT record, time, seq FROM audit%s ORDER BY time DESC, seq DESC LIMIT %d) newest
			ORDER BY time, seq`, cond, f.Limit)
	}
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []storage.AuditRecord
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, dbError(err)
		}
		var r storage.AuditRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("audit record: %w", err)
		}
		out = append(out, r)
	}
	return out, dbError(rows.Err())
}
