package delegation

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of a refused grant, for callers to map to their own answers
// (the CLI's exit code, the admin API's status).
var (
	ErrGrantInvalid = errors.New("invalid grant") // a rule below is broken
	ErrGrantExists  = errors.New("grant exists")  // the trustee has the right already
)

// GrantRequest is an administrator's request for a new grant.
type GrantRequest struct {
	Mailbox, Trustee *Principal
	Right            Right
	Immediate        bool      // effective at once, not after the tenant's propagation delay
	Now              time.Time // when it is made
	CreatedBy        string
}

// NewGrant is the policy for a new grant, the same for every store:
//
//   - the right is one of the three (Full Access, Send As, Send on Behalf);
//   - mailbox and trustee are in one tenant, and are not the same principal;
//   - the trustee is a user or a group, never a shared mailbox;
//   - the trustee does not hold that right on that mailbox already;
//   - effective_at = created_at + the tenant's propagation delay, or
//     created_at when immediate; both in whole seconds (UTC), so that the
//     effective time shown in RFC 3339 is exact.
//
// The ID is left for the store to assign. A refusal wraps ErrGrantInvalid
// or ErrGrantExists and says, in words, what to change.
func (d *Directory) NewGrant(r GrantRequest) (Grant, error) {
	m, t := r.Mailbox, r.Trustee
	if r.Right != FullAccess && r.Right != SendAs && r.Right != SendOnBehalf {
		return Grant{}, fmt.Errorf("%w: unknown right: use full-access, send-as or send-on-behalf", ErrGrantInvalid)
	}
	if m.Tenant != t.Tenant {
		return Grant{}, fmt.Errorf("%w: %s and %s are in different tenants: rights can only be granted inside one tenant",
			ErrGrantInvalid, m.Address, t.Address)
	}
	if m.ID == t.ID {
		return Grant{}, fmt.Errorf("%w: %s cannot be granted rights on itself", ErrGrantInvalid, m.Address)
	}
	if t.Kind == KindShared {
		return Grant{}, fmt.Errorf("%w: %s is a shared mailbox: rights go to users or groups", ErrGrantInvalid, t.Address)
	}
	for _, old := range d.GrantsOn(m.ID) {
		if old.Trustee == t.ID && old.Right == r.Right {
			return Grant{}, fmt.Errorf("%w: %s already has %s on %s (grant %s, effective %s)", ErrGrantExists, t.Address, r.Right,
				m.Address, old.ID, old.EffectiveAt.UTC().Format(time.RFC3339))
		}
	}
	now := r.Now.UTC().Truncate(time.Second)
	g := Grant{Mailbox: m.ID, Trustee: t.ID, Right: r.Right, CreatedAt: now, EffectiveAt: now, CreatedBy: r.CreatedBy}
	if !r.Immediate {
		tenant, _ := d.Tenant(m.Tenant)
		g.EffectiveAt = now.Add(tenant.Propagation)
	}
	return g, nil
}
