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
	// The grant's end, if it has one: Until, or For after it is made
	// (at most one of the two). Zero for an open-ended grant.
	Until time.Time
	For   time.Duration
}

// NewGrant is the policy for a new grant, the same for every store:
//
//   - the right is one of the three (Full Access, Send As, Send on Behalf);
//   - mailbox and trustee are in one tenant, and are not the same principal;
//   - the trustee is a user or a group, never a shared mailbox;
//   - the trustee does not hold that right on that mailbox already;
//   - effective_at = created_at + the tenant's propagation delay, or
//     created_at when immediate; both in whole seconds (UTC), so that the
//     effective time shown in RFC 3339 is exact;
//   - a time-boxed grant (Until, or For after created_at) ends after it
//     takes effect, in whole seconds too (a fraction is dropped); an end
//     that has passed, or that comes before the propagation delay is
//     over, is refused.
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
	now := r.Now.UTC().Truncate(time.Second)
	for _, old := range d.GrantsOn(m.ID) {
		if old.Trustee == t.ID && old.Right == r.Right {
			if old.Expired(now) {
				return Grant{}, fmt.Errorf("%w: %s still has the expired %s grant %s on %s (ended %s): remove it first", ErrGrantExists,
					t.Address, r.Right, old.ID, m.Address, stamp(old.Until))
			}
			return Grant{}, fmt.Errorf("%w: %s already has %s on %s (grant %s, effective %s)", ErrGrantExists, t.Address, r.Right,
				m.Address, old.ID, stamp(old.EffectiveAt))
		}
	}
	g := Grant{Mailbox: m.ID, Trustee: t.ID, Right: r.Right, CreatedAt: now, EffectiveAt: now, CreatedBy: r.CreatedBy}
	if !r.Immediate {
		tenant, _ := d.Tenant(m.Tenant)
		g.EffectiveAt = now.Add(tenant.Propagation)
	}
	until, err := grantEnd(r, now, g.EffectiveAt)
	if err != nil {
		return Grant{}, err
	}
	g.Until = until
	return g, nil
}

// grantEnd is a request's end in whole seconds (UTC), or zero for none,
// checked against the grant's creation (now) and effective time.
func grantEnd(r GrantRequest, now, effective time.Time) (time.Time, error) {
	var until time.Time
	switch {
	case !r.Until.IsZero() && r.For != 0:
		return until, fmt.Errorf("%w: give the grant's end as a time or as a duration, not both", ErrGrantInvalid)
	case r.For < 0:
		return until, fmt.Errorf("%w: the grant's duration %s is negative: give how long it lasts from now", ErrGrantInvalid, r.For)
	case r.For > 0:
		until = now.Add(r.For).Truncate(time.Second)
	case !r.Until.IsZero():
		until = r.Until.UTC().Truncate(time.Second)
	default:
		return until, nil
	}
	if !until.After(now) {
		return time.Time{}, fmt.Errorf("%w: the grant's end %s is not in the future (it is now %s)", ErrGrantInvalid, stamp(until), stamp(now))
	}
	if !until.After(effective) {
		return time.Time{}, fmt.Errorf("%w: the grant would end at %s, before it takes effect at %s (after the tenant's propagation delay of %s): give a later end, or make it effective now",
			ErrGrantInvalid, stamp(until), stamp(effective), effective.Sub(now))
	}
	return until, nil
}
