package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// SetPropagation changes a tenant's propagation delay. Grants made before
// keep the effective time they were given.
func (s *Store) SetPropagation(domain string, propagation time.Duration) (delegation.Tenant, error) {
	t, err := storage.TenantOf(domain, propagation)
	if err != nil {
		return t, err
	}
	dom := t.Domain
	err = s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		if _, ok := d.Tenant(dom); !ok {
			return storage.DirChange{}, storage.Errorf(storage.ErrNotFound, "no tenant %s", dom)
		}
		if _, err := tx.Exec(ctx, "UPDATE tenants SET propagation_ms = $2 WHERE domain = $1", dom, propagation.Milliseconds()); err != nil {
			return storage.DirChange{}, err
		}
		return storage.DirChange{}, s.auditTx(ctx, tx, storage.AdminAudit("tenant_set", "", "", "tenant "+dom+", propagation "+propagation.String()))
	})
	return t, err
}

// SetPassword replaces a user's password hash (storage.EditPassword).
func (s *Store) SetPassword(addr, hash string) (storage.Principal, error) {
	return s.modify(addr, storage.EditPassword(hash))
}

// SetSettings changes mailbox settings; nil fields are left alone.
func (s *Store) SetSettings(addr string, copySentAs, copySentOnBehalf *bool) (storage.Principal, error) {
	return s.modify(addr, storage.EditSettings(copySentAs, copySentOnBehalf))
}

// SetDelegatesSeePrivate sets whether delegates see the mailbox's
// private calendar items (storage.EditDelegatesSeePrivate).
func (s *Store) SetDelegatesSeePrivate(addr string, on bool) (storage.Principal, error) {
	return s.modify(addr, storage.EditDelegatesSeePrivate(on))
}

// SetQuota sets a mailbox's quota in bytes (0: none).
func (s *Store) SetQuota(addr string, quota uint64) (storage.Principal, error) {
	return s.modify(addr, storage.EditQuota(quota))
}

// Rename gives a principal a new primary address; the old one stays as an
// alias and every grant is kept.
func (s *Store) Rename(oldAddr, newAddr string) (storage.Principal, error) {
	return s.modify(oldAddr, storage.EditRename(newAddr))
}

// AddAlias gives a principal another address in its tenant.
func (s *Store) AddAlias(addr, alias string) (storage.Principal, error) {
	return s.modify(addr, storage.EditAddAlias(alias))
}

// RemoveAlias removes an alias (never a primary address).
func (s *Store) RemoveAlias(alias string) (storage.Principal, error) {
	return s.modify(alias, storage.EditRemoveAlias(alias))
}

// AddMember adds a user or group to a group in the same tenant.
func (s *Store) AddMember(groupAddr, memberAddr string) (storage.Principal, error) {
	return s.modify(groupAddr, storage.EditAddMember(memberAddr))
}

// RemoveMember removes a direct member from a group.
func (s *Store) RemoveMember(groupAddr, memberAddr string) (storage.Principal, error) {
	return s.modify(groupAddr, storage.EditRemoveMember(memberAddr))
}

// modify applies an edit to the principal addr names: its row, addresses
// and members, and an audit record of the change, in one commit.
func (s *Store) modify(addr string, e storage.Edit) (storage.Principal, error) {
	var rec storage.Record
	err := s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		var err error
		if _, rec, err = resolveRecord(ctx, tx, d, addr); err != nil {
			return storage.DirChange{}, err
		}
		detail, err := e.Apply(d, &rec)
		if err != nil {
			return storage.DirChange{}, err
		}
		if err := saveRecord(ctx, tx, rec); err != nil {
			return storage.DirChange{}, err
		}
		var change storage.DirChange
		if e.Change != nil {
			change = e.Change(rec.ID)
		}
		return change, s.auditTx(ctx, tx, storage.AdminAudit(e.Action, rec.Address, rec.ID, detail))
	})
	return rec.Public(), err
}

// resolveRecord finds addr's principal in d and reads its record.
func resolveRecord(ctx context.Context, q querier, d *delegation.Directory, addr string) (*delegation.Principal, storage.Record, error) {
	p, err := storage.Resolve(d, addr)
	if err != nil {
		return nil, storage.Record{}, err
	}
	rec, err := loadRecord(ctx, q, p)
	return p, rec, err
}

// loadRecord reads p's stored record; addresses and members come from
// the snapshot p, which the directory lock keeps current.
func loadRecord(ctx context.Context, q querier, p *delegation.Principal) (storage.Record, error) {
	r := storage.Record{Principal: *p}
	r.Aliases = append([]string(nil), p.Aliases...)
	r.Members = append([]delegation.ID(nil), p.Members...)
	var settings []byte
	err := q.QueryRow(ctx, "SELECT password_hash, settings, created_at FROM principals WHERE id = $1", p.ID).
		Scan(&r.PasswordHash, &settings, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, storage.Errorf(storage.ErrNotFound, "no principal %s", p.ID)
	}
	if err != nil {
		return r, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, json.Unmarshal(settings, &r.Settings)
}

// saveRecord writes a record back: the row, then its addresses and
// members as the record lists them.
func saveRecord(ctx context.Context, tx pgx.Tx, r storage.Record) error {
	settings, err := json.Marshal(r.Settings)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE principals SET address = $2, name = $3, password_hash = $4, settings = $5 WHERE id = $1",
		r.ID, r.Address, r.Name, r.PasswordHash, settings); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM addresses WHERE principal = $1", r.ID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO addresses (address, principal, is_primary) VALUES ($1, $2, true)", r.Address, r.ID); err != nil {
		return err
	}
	for _, a := range r.Aliases {
		if _, err := tx.Exec(ctx, "INSERT INTO addresses (address, principal, is_primary) VALUES ($1, $2, false)", a, r.ID); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM members WHERE grp = $1", r.ID); err != nil {
		return err
	}
	for _, m := range r.Members {
		if _, err := tx.Exec(ctx, "INSERT INTO members (grp, member) VALUES ($1, $2)", r.ID, m); err != nil {
			return err
		}
	}
	return nil
}

// RemovePrincipal deletes a principal, every grant to or on it and its
// group memberships (the schema cascades them). Its ID is never reused;
// its stored mail is left in place.
func (s *Store) RemovePrincipal(addr string) (storage.Principal, error) {
	var rec storage.Record
	err := s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		p, r, err := resolveRecord(ctx, tx, d, addr)
		if rec = r; err != nil {
			return storage.DirChange{}, err
		}
		var grants []string
		for _, g := range d.Grants() {
			if g.Mailbox == p.ID || g.Trustee == p.ID {
				grants = append(grants, g.ID)
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM principals WHERE id = $1", p.ID); err != nil {
			return storage.DirChange{}, err
		}
		return storage.DirChange{Removed: []delegation.ID{p.ID}},
			s.auditTx(ctx, tx, storage.AdminAudit("remove", p.Address, p.ID, storage.RemovalDetail(p, grants)))
	})
	return rec.Public(), err
}

// Principal returns a principal's stored attributes.
func (s *Store) Principal(id delegation.ID) (storage.Principal, error) {
	p, ok := s.Directory().Principal(id)
	if !ok {
		return storage.Principal{}, storage.Errorf(storage.ErrNotFound, "no principal %s", id)
	}
	ctx, cancel := bg()
	defer cancel()
	// One statement: a transaction around it would only add BEGIN and
	// COMMIT round trips.
	rec, err := loadRecord(ctx, s.pool, p)
	return rec.Public(), dbError(err)
}

// Principals lists principals (all, or one tenant's), sorted by address.
func (s *Store) Principals(tenant string) ([]storage.Principal, error) {
	d := s.Directory()
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT id, password_hash <> '', settings, created_at FROM principals
		WHERE $1 = '' OR tenant = $1`, tenant)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []storage.Principal
	for rows.Next() {
		var id delegation.ID
		var sp storage.Principal
		var settings []byte
		if err := rows.Scan(&id, &sp.HasPassword, &settings, &sp.CreatedAt); err != nil {
			return nil, dbError(err)
		}
		p, ok := d.Principal(id)
		if !ok {
			continue // created after this snapshot: the next call lists it
		}
		sp.Principal, sp.CreatedAt = *p, sp.CreatedAt.UTC()
		if err := json.Unmarshal(settings, &sp.Settings); err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b storage.Principal) int { return strings.Compare(a.Address, b.Address) })
	return out, dbError(rows.Err())
}

// PasswordHash is a user's stored password hash ("" for none).
func (s *Store) PasswordHash(id delegation.ID) (string, error) {
	ctx, cancel := bg()
	defer cancel()
	var h string
	err := s.pool.QueryRow(ctx, "SELECT password_hash FROM principals WHERE id = $1", id).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", storage.Errorf(storage.ErrNotFound, "no principal %s", id)
	}
	return h, dbError(err)
}
