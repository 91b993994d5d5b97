package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// The storage contract has no context yet (the Badger store's methods
// take none); until it does, directory writes get this bound.
const writeTimeout = 30 * time.Second

func bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), writeTimeout)
}

// AddTenant creates a tenant with its propagation delay.
func (s *Store) AddTenant(domain string, propagation time.Duration) (delegation.Tenant, error) {
	t, err := storage.TenantOf(domain, propagation)
	if err != nil {
		return t, err
	}
	dom := t.Domain
	err = s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		if _, ok := d.Tenant(dom); ok {
			return storage.DirChange{}, storage.Errorf(storage.ErrExists, "tenant %s already exists", dom)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO tenants (domain, propagation_ms, created_at) VALUES ($1, $2, $3)",
			dom, propagation.Milliseconds(), s.now().UTC()); err != nil {
			return storage.DirChange{}, err
		}
		return storage.DirChange{}, s.auditTx(ctx, tx, storage.AdminAudit("tenant_add", "", "", "tenant "+dom+", propagation "+propagation.String()))
	})
	return t, err
}

// AddPrincipal creates a user, shared mailbox or group. The address's
// domain must be a tenant's, and no principal may already use it.
func (s *Store) AddPrincipal(np storage.NewPrincipal) (storage.Principal, error) {
	addr, err := delegation.NormalizeAddress(np.Address)
	if err != nil {
		return storage.Principal{}, storage.Errorf(storage.ErrInvalid, "%s", err)
	}
	if strings.ContainsAny(np.Name, "\r\n\x00") {
		return storage.Principal{}, storage.Errorf(storage.ErrInvalid, "display name contains a line break or NUL")
	}
	var p storage.Principal
	err = s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		dom := delegation.Domain(addr)
		if _, ok := d.Tenant(dom); !ok {
			return storage.DirChange{}, storage.Errorf(storage.ErrNotFound, "no tenant for %s: add it first with `mailgate tenant add %s`", addr, dom)
		}
		if old, ok := d.Lookup(addr); ok {
			return storage.DirChange{}, storage.Errorf(storage.ErrExists, "address %s is already used by %s %s", addr, old.Kind, old.Address)
		}
		var n int64
		if err := tx.QueryRow(ctx, "SELECT nextval('principal_ids')").Scan(&n); err != nil {
			return storage.DirChange{}, err
		}
		hash := ""
		if np.Kind == delegation.KindUser {
			hash = np.PasswordHash
		}
		p = storage.Principal{
			Principal: delegation.Principal{ID: delegation.ID(fmt.Sprintf("p%d", n)), Kind: np.Kind, Tenant: dom, Address: addr, Name: np.Name},
			CreatedAt: s.now().UTC(), HasPassword: hash != "",
		}
		settings, _ := json.Marshal(p.Settings)
		if _, err := tx.Exec(ctx, `INSERT INTO principals (id, kind, tenant, address, name, password_hash, settings, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, p.ID, p.Kind, dom, addr, np.Name, hash, settings, p.CreatedAt); err != nil {
			return storage.DirChange{}, err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO addresses (address, principal, is_primary) VALUES ($1, $2, true)", addr, p.ID); err != nil {
			return storage.DirChange{}, err
		}
		return storage.DirChange{}, s.auditTx(ctx, tx, storage.AdminAudit(storage.PrincipalAuditAction(np.Kind), addr, p.ID, ""))
	})
	return p, err
}

// AddGrant gives trustee a right on mailbox, by the rules of
// delegation.Directory.NewGrant.
func (s *Store) AddGrant(ng storage.NewGrant) (delegation.Grant, error) {
	var g delegation.Grant
	err := s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		m, t, err := storage.ResolvePair(d, ng.Mailbox, ng.Trustee)
		if err != nil {
			return storage.DirChange{}, err
		}
		g, err = d.NewGrant(ng.Request(m, t, s.now()))
		if err != nil {
			return storage.DirChange{}, storage.GrantRefusal(err)
		}
		var n int64
		if err := tx.QueryRow(ctx, "SELECT nextval('grant_ids')").Scan(&n); err != nil {
			return storage.DirChange{}, err
		}
		g.ID = fmt.Sprintf("g%d", n)
		if _, err := tx.Exec(ctx, `INSERT INTO grants (id, mailbox, trustee, right_bits, created_at, effective_at, created_by, until)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, g.ID, g.Mailbox, g.Trustee, int16(g.Right), g.CreatedAt, g.EffectiveAt, g.CreatedBy, untilColumn(g)); err != nil {
			return storage.DirChange{}, err
		}
		return storage.DirChange{}, s.auditTx(ctx, tx, storage.GrantAudit("grant_add", ng.CreatedBy, m, t, g))
	})
	return g, err
}

// RemoveGrantBy revokes a right at once, recording who asked for it ("" is
// "admin").
func (s *Store) RemoveGrantBy(mailboxAddr, trusteeAddr string, right delegation.Right, by string) (delegation.Grant, error) {
	var g delegation.Grant
	err := s.dirWrite(func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error) {
		m, t, err := storage.ResolvePair(d, mailboxAddr, trusteeAddr)
		if err != nil {
			return storage.DirChange{}, err
		}
		for _, old := range d.GrantsOn(m.ID) {
			if old.Trustee == t.ID && old.Right == right {
				g = *old
				if _, err := tx.Exec(ctx, "DELETE FROM grants WHERE id = $1", g.ID); err != nil {
					return storage.DirChange{}, err
				}
				return storage.DirChange{}, s.auditTx(ctx, tx, storage.GrantAudit("grant_remove", by, m, t, g))
			}
		}
		return storage.DirChange{}, storage.Errorf(storage.ErrNotFound, "%s has no %s grant on %s", t.Address, right, m.Address)
	})
	return g, err
}

// Grants lists grants, optionally only those on one mailbox and/or to one
// trustee, ordered by mailbox, then effective time.
func (s *Store) Grants(mailboxAddr, trusteeAddr string) ([]delegation.Grant, error) {
	return storage.GrantsIn(s.Directory(), mailboxAddr, trusteeAddr)
}

// untilColumn is a grant's until column: its end, or NULL (open-ended).
func untilColumn(g delegation.Grant) *time.Time {
	if g.Until.IsZero() {
		return nil
	}
	u := g.Until.UTC()
	return &u
}
