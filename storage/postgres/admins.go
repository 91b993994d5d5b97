package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

var _ storage.AdminStore = (*Store)(nil)

// adminWrite runs fn in a transaction on the current directory snapshot.
func (s *Store) adminWrite(fn func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) error) error {
	ctx, cancel := bg()
	defer cancel()
	return dbError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx, s.Directory()) }))
}

// SetAdmin makes a user an administrator (storage.AdminStore).
func (s *Store) SetAdmin(addr, tenant string) (storage.Admin, error) {
	var a storage.Admin
	err := s.adminWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) error {
		p, tenant, err := storage.CheckAdmin(d, addr, tenant)
		if err != nil {
			return err
		}
		rec := storage.AdminRec{Tenant: tenant, CreatedAt: s.now().UTC()}
		var tn *string
		if tenant != "" {
			tn = &tenant
		}
		if _, err := tx.Exec(ctx, `INSERT INTO admins (principal, tenant, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (principal) DO UPDATE SET tenant = excluded.tenant, created_at = excluded.created_at`,
			string(p.ID), tn, rec.CreatedAt); err != nil {
			return err
		}
		a, _ = storage.AdminOf(d, p.ID, rec)
		return s.auditTx(ctx, tx, storage.AdminAuditOf("admin_add", a))
	})
	return a, err
}

// RemoveAdmin takes a user's administrator role away (storage.AdminStore).
func (s *Store) RemoveAdmin(addr string) (storage.Admin, error) {
	var a storage.Admin
	err := s.adminWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) error {
		p, err := storage.Resolve(d, addr)
		if err != nil {
			return err
		}
		var tn *string
		var created time.Time
		err = tx.QueryRow(ctx, "DELETE FROM admins WHERE principal = $1 RETURNING tenant, created_at", string(p.ID)).Scan(&tn, &created)
		if err == pgx.ErrNoRows {
			return storage.Errorf(storage.ErrNotFound, "%s is not an administrator", p.Address)
		}
		if err != nil {
			return err
		}
		rec := storage.AdminRec{CreatedAt: created.UTC()}
		if tn != nil {
			rec.Tenant = *tn
		}
		a, _ = storage.AdminOf(d, p.ID, rec)
		return s.auditTx(ctx, tx, storage.AdminAuditOf("admin_remove", a))
	})
	return a, err
}

// Admins lists the administrators (storage.AdminStore).
func (s *Store) Admins() ([]storage.Admin, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT principal, tenant, created_at FROM admins")
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	d := s.Directory()
	out := []storage.Admin{}
	for rows.Next() {
		var id string
		var tn *string
		var rec storage.AdminRec
		if err := rows.Scan(&id, &tn, &rec.CreatedAt); err != nil {
			return nil, dbError(err)
		}
		if tn != nil {
			rec.Tenant = *tn
		}
		rec.CreatedAt = rec.CreatedAt.UTC()
		if a, ok := storage.AdminOf(d, delegation.ID(id), rec); ok {
			out = append(out, a)
		}
	}
	storage.SortAdmins(out)
	return out, dbError(rows.Err())
}
