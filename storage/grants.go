package storage

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// AddGrant gives trustee a right on mailbox. It takes effect after the
// tenant's propagation delay (effective_at = created_at + delay), or at once
// when immediate. Grants exist only inside one tenant.
func (s *Store) AddGrant(mailboxAddr, trusteeAddr string, right delegation.Right, immediate bool, createdBy string) (delegation.Grant, error) {
	if right != delegation.FullAccess && right != delegation.SendAs && right != delegation.SendOnBehalf {
		return delegation.Grant{}, errorf(ErrInvalid, "unknown right: use full-access, send-as or send-on-behalf")
	}
	var g delegation.Grant
	err := s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		m, err := resolve(d, mailboxAddr)
		if err != nil {
			return err
		}
		t, err := resolve(d, trusteeAddr)
		if err != nil {
			return err
		}
		if m.Tenant != t.Tenant {
			return errorf(ErrInvalid, "%s and %s are in different tenants: rights can only be granted inside one tenant", m.Address, t.Address)
		}
		if m.ID == t.ID {
			return errorf(ErrInvalid, "%s cannot be granted rights on itself", m.Address)
		}
		if t.Kind == delegation.KindShared {
			return errorf(ErrInvalid, "%s is a shared mailbox: rights go to users or groups", t.Address)
		}
		for _, old := range d.GrantsOn(m.ID) {
			if old.Trustee == t.ID && old.Right == right {
				return errorf(ErrExists, "%s already has %s on %s (grant %s, effective %s)", t.Address, right, m.Address,
					old.ID, old.EffectiveAt.UTC().Format("2006-01-02T15:04:05Z"))
			}
		}
		tenant, _ := d.Tenant(m.Tenant)
		n, err := next(txn, keyNextGrant)
		if err != nil {
			return err
		}
		// Whole seconds, so that the effective time shown (RFC 3339) is exact.
		now := s.now().UTC().Truncate(time.Second)
		g = delegation.Grant{
			ID: fmt.Sprintf("g%d", n), Mailbox: m.ID, Trustee: t.ID, Right: right,
			CreatedAt: now, EffectiveAt: now.Add(tenant.Propagation), CreatedBy: createdBy,
		}
		if immediate {
			g.EffectiveAt = now
		}
		if err := setJSON(txn, key(prefGrant, g.ID), g); err != nil {
			return err
		}
		return auditTxn(txn, s.now(), []AuditRecord{s.grantAudit("grant_add", createdBy, m, t, g)})
	})
	return g, err
}

// grantAudit is the audit record of a grant change, written in the same
// transaction as the change.
func (s *Store) grantAudit(action, by string, m, t *delegation.Principal, g delegation.Grant) AuditRecord {
	if by == "" {
		by = "admin"
	}
	rec := s.NewAudit("admin", action, Party{Address: by}, PartyOf(m), delegation.Decision{Allowed: true, Right: g.Right, GrantID: g.ID})
	rec.Detail = fmt.Sprintf("trustee %s (%s), effective %s", t.Address, t.ID, g.EffectiveAt.UTC().Format(time.RFC3339))
	return rec
}

// RemoveGrant revokes a right at once.
func (s *Store) RemoveGrant(mailboxAddr, trusteeAddr string, right delegation.Right) (delegation.Grant, error) {
	return s.RemoveGrantBy(mailboxAddr, trusteeAddr, right, "")
}

// RemoveGrantBy is RemoveGrant recording who asked for it in the audit
// trail ("" is "admin").
func (s *Store) RemoveGrantBy(mailboxAddr, trusteeAddr string, right delegation.Right, by string) (delegation.Grant, error) {
	var g delegation.Grant
	err := s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		m, err := resolve(d, mailboxAddr)
		if err != nil {
			return err
		}
		t, err := resolve(d, trusteeAddr)
		if err != nil {
			return err
		}
		for _, old := range d.GrantsOn(m.ID) {
			if old.Trustee == t.ID && old.Right == right {
				g = *old
				if err := txn.Delete(key(prefGrant, g.ID)); err != nil {
					return err
				}
				return auditTxn(txn, s.now(), []AuditRecord{s.grantAudit("grant_remove", by, m, t, g)})
			}
		}
		return errorf(ErrNotFound, "%s has no %s grant on %s", t.Address, right, m.Address)
	})
	return g, err
}

// Grants lists grants, optionally only those on one mailbox and/or to one
// trustee (addresses; empty means any), ordered by mailbox, then effective
// time.
func (s *Store) Grants(mailboxAddr, trusteeAddr string) ([]delegation.Grant, error) {
	d := s.Directory()
	var mid, tid delegation.ID
	if mailboxAddr != "" {
		m, err := resolve(d, mailboxAddr)
		if err != nil {
			return nil, err
		}
		mid = m.ID
	}
	if trusteeAddr != "" {
		t, err := resolve(d, trusteeAddr)
		if err != nil {
			return nil, err
		}
		tid = t.ID
	}
	var out []delegation.Grant
	for _, g := range d.Grants() {
		if (mid == "" || g.Mailbox == mid) && (tid == "" || g.Trustee == tid) {
			out = append(out, *g)
		}
	}
	addr := func(id delegation.ID) string { p, _ := d.Principal(id); return p.Address }
	slices.SortFunc(out, func(a, b delegation.Grant) int {
		return cmp.Or(cmp.Compare(addr(a.Mailbox), addr(b.Mailbox)), a.EffectiveAt.Compare(b.EffectiveAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
