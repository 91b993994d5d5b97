package delegation

import (
	"cmp"
	"fmt"
	"slices"
)

// Directory is an immutable snapshot of tenants, principals and grants,
// indexed for answering decisions from memory. Build a new one on change.
type Directory struct {
	tenants    map[string]Tenant
	principals map[ID]*Principal
	byAddr     map[string]ID
	byMailbox  map[ID][]*Grant // sorted by EffectiveAt, then ID
	byTrustee  map[ID][]*Grant
	memberOf   map[ID][]ID // member → groups that list it directly
	grants     []*Grant
}

// NewDirectory indexes a snapshot. It refuses duplicate addresses and
// grants or members that name unknown principals, so that a Directory is
// always consistent.
func NewDirectory(tenants []Tenant, principals []Principal, grants []Grant) (*Directory, error) {
	d := &Directory{
		tenants:    make(map[string]Tenant, len(tenants)),
		principals: make(map[ID]*Principal, len(principals)),
		byAddr:     make(map[string]ID, len(principals)),
		byMailbox:  make(map[ID][]*Grant),
		byTrustee:  make(map[ID][]*Grant),
		memberOf:   make(map[ID][]ID),
	}
	for _, t := range tenants {
		d.tenants[t.Domain] = t
	}
	for i := range principals {
		p := &principals[i]
		if _, dup := d.principals[p.ID]; dup {
			return nil, fmt.Errorf("duplicate principal id %s", p.ID)
		}
		d.principals[p.ID] = p
		for _, a := range append([]string{p.Address}, p.Aliases...) {
			if other, dup := d.byAddr[a]; dup {
				return nil, fmt.Errorf("address %s belongs to both %s and %s", a, other, p.ID)
			}
			d.byAddr[a] = p.ID
		}
	}
	for _, p := range d.principals {
		for _, m := range p.Members {
			if _, ok := d.principals[m]; !ok {
				return nil, fmt.Errorf("group %s has unknown member %s", p.ID, m)
			}
			d.memberOf[m] = append(d.memberOf[m], p.ID)
		}
	}
	d.grants = make([]*Grant, len(grants))
	for i := range grants {
		g := &grants[i]
		if d.principals[g.Mailbox] == nil || d.principals[g.Trustee] == nil {
			return nil, fmt.Errorf("grant %s names an unknown principal", g.ID)
		}
		d.grants[i] = g
		d.byMailbox[g.Mailbox] = append(d.byMailbox[g.Mailbox], g)
		d.byTrustee[g.Trustee] = append(d.byTrustee[g.Trustee], g)
	}
	order := func(a, b *Grant) int {
		return cmp.Or(a.EffectiveAt.Compare(b.EffectiveAt), cmp.Compare(a.ID, b.ID))
	}
	for _, gs := range d.byMailbox {
		slices.SortFunc(gs, order)
	}
	for _, gs := range d.byTrustee {
		slices.SortFunc(gs, order)
	}
	return d, nil
}

// Tenant returns a tenant by domain.
func (d *Directory) Tenant(domain string) (Tenant, bool) {
	t, ok := d.tenants[domain]
	return t, ok
}

// Tenants returns all tenants sorted by domain.
func (d *Directory) Tenants() []Tenant {
	out := make([]Tenant, 0, len(d.tenants))
	for _, t := range d.tenants {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Tenant) int { return cmp.Compare(a.Domain, b.Domain) })
	return out
}

// IsLocalDomain reports whether a domain belongs to a tenant.
func (d *Directory) IsLocalDomain(domain string) bool {
	_, ok := d.tenants[domain]
	return ok
}

// Principal returns a principal by ID; the result must not be modified.
func (d *Directory) Principal(id ID) (*Principal, bool) {
	p, ok := d.principals[id]
	return p, ok
}

// Lookup resolves an address or alias (any case) to its principal.
func (d *Directory) Lookup(addr string) (*Principal, bool) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return nil, false
	}
	id, ok := d.byAddr[a]
	if !ok {
		return nil, false
	}
	return d.principals[id], true
}

// Principals returns every principal sorted by primary address.
func (d *Directory) Principals() []*Principal {
	out := make([]*Principal, 0, len(d.principals))
	for _, p := range d.principals {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Principal) int { return cmp.Compare(a.Address, b.Address) })
	return out
}

// Grants returns every grant, in no particular order.
func (d *Directory) Grants() []*Grant { return d.grants }

// GrantsOn returns the grants on a mailbox, earliest effective first.
func (d *Directory) GrantsOn(mailbox ID) []*Grant { return d.byMailbox[mailbox] }

// GrantsTo returns the grants held directly by a trustee.
func (d *Directory) GrantsTo(trustee ID) []*Grant { return d.byTrustee[trustee] }

// trustees returns the actor and every group it belongs to, directly or
// through nested groups. A group that contains itself (refused by storage)
// cannot loop here.
func (d *Directory) trustees(actor ID) map[ID]bool {
	set := map[ID]bool{actor: true}
	queue := []ID{actor}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, g := range d.memberOf[id] {
			if !set[g] {
				set[g] = true
				queue = append(queue, g)
			}
		}
	}
	return set
}

// Contains reports whether group (directly or through nested groups)
// contains member. A group does not contain itself.
func (d *Directory) Contains(group, member ID) bool {
	return group != member && d.trustees(member)[group]
}

// Expand returns the recipients a message to principal id reaches: itself for
// a user or shared mailbox, the members (nested, deduplicated, groups
// excluded) for a group. The order is stable: first reached first.
func (d *Directory) Expand(id ID) []ID {
	p, ok := d.principals[id]
	if !ok {
		return nil
	}
	if p.Kind != KindGroup {
		return []ID{id}
	}
	var out []ID
	seen := map[ID]bool{id: true}
	var walk func(g *Principal)
	walk = func(g *Principal) {
		for _, m := range g.Members {
			if seen[m] {
				continue
			}
			seen[m] = true
			mp := d.principals[m]
			if mp.Kind == KindGroup {
				walk(mp)
			} else {
				out = append(out, m)
			}
		}
	}
	walk(p)
	return out
}
