package delegation

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Reason is a stable, machine-readable code for a decision.
type Reason string

const (
	ReasonOwnAddress   Reason = "own_address"    // the address is the actor's own (primary or alias)
	ReasonOwner        Reason = "owner"          // the actor opens its own mailbox
	ReasonSendAs       Reason = "send_as"        // allowed by an effective Send As grant
	ReasonSendOnBehalf Reason = "send_on_behalf" // allowed by an effective Send on Behalf grant
	ReasonFullAccess   Reason = "full_access"    // allowed by an effective Full Access grant
	ReasonPending      Reason = "pending"        // a grant exists but is not yet effective
	ReasonExpired      Reason = "expired"        // a time-boxed grant existed, and has ended
	ReasonFullOnly     Reason = "full_access_only"
	ReasonNoGrant      Reason = "no_grant"
	ReasonOtherTenant  Reason = "other_tenant"
	ReasonExternal     Reason = "external_address" // not an address of any tenant
	ReasonUnknown      Reason = "unknown_address"  // a tenant's domain, but nobody has it
	ReasonUnknownActor Reason = "unknown_actor"
)

// Decision is the engine's answer. Every answer names what decided it: the
// grant used (GrantID, Via, and Until if it ends) or why not (Reason,
// Missing, Pending or Until).
type Decision struct {
	Allowed bool      `json:"allowed"`
	Right   Right     `json:"right,omitempty"`   // right used; 0 when acting as oneself
	GrantID string    `json:"grant,omitempty"`   // grant used, or the pending grant
	Via     ID        `json:"via,omitempty"`     // the group the grant was made to, if not the actor
	Mailbox ID        `json:"mailbox,omitempty"` // the principal owning the address or mailbox
	Missing Right     `json:"missing,omitempty"` // on refusal: the right that would allow it
	Pending time.Time `json:"pending,omitzero"`  // on refusal by a pending grant: when it takes effect
	// Until is the end of a time-boxed grant: when the grant used stops
	// counting, or (ReasonExpired) when the grant refused with ended.
	Until   time.Time `json:"until,omitzero"`
	Reason  Reason    `json:"reason"`
	Address string    `json:"address,omitempty"` // the address asked about, normalised
}

// stamp is how explanations and refusals show an instant: RFC 3339, UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Text is a one-line human explanation, fit for an SMTP reply or the CLI.
// It names the address, the right used or missing, and a pending grant's
// effective time or an expired one's end, never other people's grants.
func (dc Decision) Text() string {
	switch dc.Reason {
	case ReasonOwnAddress:
		return fmt.Sprintf("%s is the sender's own address", dc.Address)
	case ReasonOwner:
		return fmt.Sprintf("%s is the actor's own mailbox", dc.Address)
	case ReasonSendAs, ReasonSendOnBehalf, ReasonFullAccess:
		if !dc.Until.IsZero() {
			return fmt.Sprintf("allowed on %s by %s (grant %s, until %s)", dc.Address, dc.Right, dc.GrantID, stamp(dc.Until))
		}
		return fmt.Sprintf("allowed on %s by %s (grant %s)", dc.Address, dc.Right, dc.GrantID)
	case ReasonPending:
		return fmt.Sprintf("missing %s on %s: the %s grant is not effective until %s", dc.Missing, dc.Address,
			dc.Right, stamp(dc.Pending))
	case ReasonExpired:
		return fmt.Sprintf("missing %s on %s: the %s grant %s expired at %s", dc.Missing, dc.Address,
			dc.Right, dc.GrantID, stamp(dc.Until))
	case ReasonOtherTenant:
		return fmt.Sprintf("%s is in another tenant: missing %s", dc.Address, dc.Missing)
	case ReasonExternal:
		return fmt.Sprintf("%s is not a local address: missing %s", dc.Address, dc.Missing)
	case ReasonUnknown:
		return fmt.Sprintf("%s does not exist: missing %s", dc.Address, dc.Missing)
	case ReasonUnknownActor:
		return "unknown actor"
	case ReasonFullOnly:
		return fmt.Sprintf("missing %s on %s (Full Access does not allow sending)", dc.Missing, dc.Address)
	default:
		return fmt.Sprintf("missing %s on %s", dc.Missing, dc.Address)
	}
}

// Send decides whether actor may send a message whose From (or envelope
// sender) is addr, and how. Send As beats Send on Behalf; a pending grant
// does not count, and the refusal says when it will; an expired one does
// not either, and the refusal says when it ended.
func (d *Directory) Send(actor ID, addr string, now time.Time) Decision {
	dc := Decision{Missing: SendRights}
	norm, err := NormalizeAddress(addr)
	if err != nil {
		dc.Address, dc.Reason = addr, ReasonExternal
		return dc
	}
	dc.Address = norm
	a, ok := d.principals[actor]
	if !ok {
		dc.Reason = ReasonUnknownActor
		return dc
	}
	id, ok := d.byAddr[norm]
	if !ok {
		dc.Reason = ReasonExternal
		if d.IsLocalDomain(Domain(norm)) {
			dc.Reason = ReasonUnknown
		}
		return dc
	}
	dc.Mailbox = id
	if id == actor {
		return Decision{Allowed: true, Reason: ReasonOwnAddress, Address: norm, Mailbox: id}
	}
	if d.principals[id].Tenant != a.Tenant {
		dc.Reason = ReasonOtherTenant
		return dc
	}
	return d.decide(dc, actor, id, now, []Right{SendAs, SendOnBehalf})
}

// Open decides whether actor may open owner's mailbox (Full Access).
func (d *Directory) Open(actor, owner ID, now time.Time) Decision {
	dc := Decision{Missing: FullAccess, Mailbox: owner}
	a, ok := d.principals[actor]
	if !ok {
		dc.Reason = ReasonUnknownActor
		return dc
	}
	o, ok := d.principals[owner]
	if !ok {
		dc.Reason = ReasonUnknown
		return dc
	}
	dc.Address = o.Address
	if actor == owner {
		return Decision{Allowed: true, Reason: ReasonOwner, Address: o.Address, Mailbox: owner}
	}
	if o.Tenant != a.Tenant {
		dc.Reason = ReasonOtherTenant
		return dc
	}
	return d.decide(dc, actor, owner, now, []Right{FullAccess})
}

// decide looks for the first right of wanted (in order of preference) that
// the actor holds on mailbox, directly or through groups, and names the
// grant that lasts longest (open-ended before time-boxed, then the earliest
// effective). dc holds the refusal to return when none is effective: it
// names the pending grant that takes effect first, else the expired one
// that ended last.
func (d *Directory) decide(dc Decision, actor, mailbox ID, now time.Time, wanted []Right) Decision {
	trustees := d.trustees(actor)
	var pending, expired *Grant
	fullOnly := false
	for _, want := range wanted {
		// use: the effective grant of want that lasts longest.
		var use *Grant
		for _, g := range d.byMailbox[mailbox] { // earliest effective first
			if !trustees[g.Trustee] {
				continue
			}
			if g.Right == FullAccess && want != FullAccess {
				fullOnly = true
			}
			if g.Right != want {
				continue
			}
			switch g.State(now) {
			case StateEffective:
				if use == nil || !use.Until.IsZero() && (g.Until.IsZero() || g.Until.After(use.Until)) {
					use = g
				}
			case StatePending:
				if pending == nil || g.EffectiveAt.Before(pending.EffectiveAt) {
					pending = g
				}
			case StateExpired:
				if expired == nil || g.Until.After(expired.Until) {
					expired = g
				}
			}
		}
		if use == nil {
			continue
		}
		ok := Decision{Allowed: true, Right: want, GrantID: use.ID, Mailbox: mailbox, Address: dc.Address, Until: use.Until}
		if use.Trustee != actor {
			ok.Via = use.Trustee
		}
		switch want {
		case SendAs:
			ok.Reason = ReasonSendAs
		case SendOnBehalf:
			ok.Reason = ReasonSendOnBehalf
		default:
			ok.Reason = ReasonFullAccess
		}
		return ok
	}
	switch {
	case pending != nil:
		dc.Reason, dc.Pending, dc.GrantID, dc.Right = ReasonPending, pending.EffectiveAt, pending.ID, pending.Right
	case expired != nil:
		dc.Reason, dc.Until, dc.GrantID, dc.Right = ReasonExpired, expired.Until, expired.ID, expired.Right
	case fullOnly:
		dc.Reason = ReasonFullOnly
	default:
		dc.Reason = ReasonNoGrant
	}
	return dc
}

// Access is one mailbox the actor may open, and the grant that allows it.
type Access struct {
	Owner   ID
	GrantID string
	Via     ID // group the grant was made to, if not the actor
}

// FullAccessMailboxes lists the mailboxes, other than its own, that actor has
// effective Full Access to, directly or through groups, in a stable order
// (by owner address). Grants across tenants never count.
func (d *Directory) FullAccessMailboxes(actor ID, now time.Time) []Access {
	a, ok := d.principals[actor]
	if !ok {
		return nil
	}
	seen := map[ID]bool{actor: true}
	var out []Access
	ts := make([]ID, 0, 4)
	for t := range d.trustees(actor) {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(x, y ID) int { // the actor's own grants first, then by ID
		return cmp.Or(-cmp.Compare(boolInt(x == actor), boolInt(y == actor)), cmp.Compare(x, y))
	})
	for _, t := range ts {
		for _, g := range d.byTrustee[t] {
			if g.Right != FullAccess || seen[g.Mailbox] || !g.Effective(now) {
				continue
			}
			if o := d.principals[g.Mailbox]; o.Tenant != a.Tenant {
				continue
			}
			seen[g.Mailbox] = true
			acc := Access{Owner: g.Mailbox, GrantID: g.ID}
			if t != actor {
				acc.Via = t
			}
			out = append(out, acc)
		}
	}
	sortAccess(d, out)
	return out
}

func sortAccess(d *Directory, out []Access) {
	slices.SortFunc(out, func(x, y Access) int {
		return cmp.Compare(d.principals[x.Owner].Address, d.principals[y.Owner].Address)
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
