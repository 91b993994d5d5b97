package storage

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// NewGrant is a request for a grant (AddGrant): Right on the Mailbox for
// the Trustee (addresses or aliases), effective after the tenant's
// propagation delay or at once when Immediate, open-ended or time-boxed
// (Until, or For from its creation; delegation.GrantRequest).
type NewGrant struct {
	Mailbox, Trustee string
	Right            delegation.Right
	Immediate        bool
	Until            time.Time
	For              time.Duration
	CreatedBy        string
}

// Request is ng as the grant policy's request, made now, for any store.
func (ng NewGrant) Request(m, t *delegation.Principal, now time.Time) delegation.GrantRequest {
	return delegation.GrantRequest{Mailbox: m, Trustee: t, Right: ng.Right, Immediate: ng.Immediate, Now: now,
		CreatedBy: ng.CreatedBy, Until: ng.Until, For: ng.For}
}

// AddGrant gives trustee a right on mailbox, by the rules of
// delegation.Directory.NewGrant: it takes effect after the tenant's
// propagation delay (effective_at = created_at + delay), or at once when
// immediate, ends at its Until if it has one, and exists only inside one
// tenant.
func (s *Store) AddGrant(ng NewGrant) (delegation.Grant, error) {
	var g delegation.Grant
	err := s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		m, t, err := ResolvePair(d, ng.Mailbox, ng.Trustee)
		if err != nil {
			return err
		}
		g, err = d.NewGrant(ng.Request(m, t, s.now()))
		if err != nil {
			return grantError(err)
		}
		n, err := next(txn, keyNextGrant)
		if err != nil {
			return err
		}
		g.ID = fmt.Sprintf("g%d", n)
		if err := setJSON(txn, key(prefGrant, g.ID), g); err != nil {
			return err
		}
		return auditTxn(txn, s.now(), []AuditRecord{GrantAudit("grant_add", ng.CreatedBy, m, t, g)})
	})
	return g, err
}

// ResolvePair resolves a grant's mailbox and trustee (Resolve).
func ResolvePair(d *delegation.Directory, mailboxAddr, trusteeAddr string) (m, t *delegation.Principal, err error) {
	if m, err = resolve(d, mailboxAddr); err != nil {
		return nil, nil, err
	}
	if t, err = resolve(d, trusteeAddr); err != nil {
		return nil, nil, err
	}
	return m, t, nil
}

// grantError gives a refusal of the grant policy its storage kind.
func grantError(err error) error {
	kind := ErrInvalid
	if errors.Is(err, delegation.ErrGrantExists) {
		kind = ErrExists
	}
	msg := err.Error()
	for _, k := range []error{delegation.ErrGrantInvalid, delegation.ErrGrantExists} {
		msg = strings.TrimPrefix(msg, k.Error()+": ")
	}
	return errorf(kind, "%s", msg)
}

// GrantAudit is the audit record of a grant change (grant_add,
// grant_remove) by the CLI user by ("" is "admin"), for any store.
func GrantAudit(action, by string, m, t *delegation.Principal, g delegation.Grant) AuditRecord {
	if by == "" {
		by = "admin"
	}
	rec := NewAuditRecord(nil, "admin", action, Party{Address: by}, PartyOf(m), delegation.Decision{Allowed: true, Right: g.Right, GrantID: g.ID})
	rec.Detail = fmt.Sprintf("trustee %s (%s), effective %s", t.Address, t.ID, g.EffectiveAt.UTC().Format(time.RFC3339))
	if !g.Until.IsZero() {
		rec.Detail += ", until " + g.Until.UTC().Format(time.RFC3339)
	}
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
		m, t, err := ResolvePair(d, mailboxAddr, trusteeAddr)
		if err != nil {
			return err
		}
		for _, old := range d.GrantsOn(m.ID) {
			if old.Trustee == t.ID && old.Right == right {
				g = *old
				if err := txn.Delete(key(prefGrant, g.ID)); err != nil {
					return err
				}
				return auditTxn(txn, s.now(), []AuditRecord{GrantAudit("grant_remove", by, m, t, g)})
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
	return GrantsIn(s.Directory(), mailboxAddr, trusteeAddr)
}

// GrantsIn is Grants from the snapshot d, for any store.
func GrantsIn(d *delegation.Directory, mailboxAddr, trusteeAddr string) ([]delegation.Grant, error) {
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
