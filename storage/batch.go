package storage

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/mailgate/delegation"
)

// The kinds of a batch record (BatchRecord.Kind), one per single
// operation of the CLI.
const (
	BatchTenant = "tenant"
	BatchUser   = "user"
	BatchShared = "shared"
	BatchGroup  = "group"
	BatchMember = "member"
	BatchAlias  = "alias"
	BatchGrant  = "grant"
)

// BatchKinds lists the kinds in the order a batch applies them (and an
// export writes them): what a record refers to comes before it.
var BatchKinds = []string{BatchTenant, BatchUser, BatchShared, BatchGroup, BatchAlias, BatchMember, BatchGrant,
	BatchCalendar, BatchCalendarObject}

// Batch is a whole set of directory additions applied at once
// (ApplyBatch): all of them in one commit with one directory rebuild, or
// none. Records may refer to each other in any order (a grant to a user
// defined further down).
type Batch struct {
	Records []BatchRecord
	// By is the administrator who applies it: the actor of its audit
	// records and the creator of grants that name none.
	By string
	// Calendars are the calendars the store has (nil: none), for the
	// calendar lines' checks; ApplyBatch sets the store's own.
	Calendars BatchCalendars
}

// BatchRecord is one addition. Which fields count depends on Kind:
//
//	tenant: Domain, Propagation (nil: DefaultPropagation)
//	user:   Address, Name, PasswordHash ("" for none: no login until one is set)
//	shared, group: Address, Name
//	alias:  Address (the principal), Alias
//	member: Group, Member
//	grant:  Mailbox, Trustee, Right, and Immediate or EffectiveAt (zero:
//	        after the tenant's delay); Until (zero: open-ended); CreatedAt
//	        (zero: now), CreatedBy ("": Batch.By)
//	calendar:        Address (the owner), Calendar (its name), DisplayName, Color
//	calendar_object: Address, Calendar, Object (Name, Data and the fields
//	                 parsed from it, as PutCalendarObject takes them)
type BatchRecord struct {
	Line         int // where it came from, for errors (0: its index + 1)
	Kind         string
	Domain       string
	Propagation  *time.Duration
	Address      string
	Name         string
	PasswordHash string
	Alias        string
	Group        string
	Member       string
	Mailbox      string
	Trustee      string
	Right        delegation.Right
	Immediate    bool
	CreatedAt    time.Time
	EffectiveAt  time.Time
	Until        time.Time
	CreatedBy    string
	Calendar     string
	DisplayName  string
	Color        string
	Object       CalendarObject
}

// BatchResult counts what a batch added, per kind.
type BatchResult map[string]int

// LineError is what is wrong with one record of a batch.
type LineError struct {
	Line int    `json:"line"`
	Msg  string `json:"error"`
}

// BatchError is a refused batch: every bad record, by line. Nothing of
// the batch was applied. It is an ErrInvalid.
type BatchError struct {
	Lines []LineError
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad line(s), nothing applied:", len(e.Lines))
	for _, l := range e.Lines {
		fmt.Fprintf(&b, "\nline %d: %s", l.Line, l.Msg)
	}
	return b.String()
}

func (e *BatchError) Unwrap() error { return ErrInvalid }

// BatchPlan is a checked batch as a store writes it.
type BatchPlan struct {
	Tenants []delegation.Tenant
	// Principals are the new principals, with their aliases and members.
	Principals []Record
	// Aliases and Members are additions to principals that existed
	// before the batch.
	Aliases []AliasAdded
	Members []MemberAdded
	Grants  []delegation.Grant // with their IDs
	// Calendars are the calendars created, or added objects to, with
	// their owners' IDs.
	Calendars []CalendarPlan
	// Audit has one record per addition, as the single operation writes
	// it but with the batch's administrator as actor, then a summary.
	Audit  []AuditRecord
	Result BatchResult
}

// AliasAdded is an alias added to a principal that existed before.
type AliasAdded struct {
	ID    delegation.ID
	Alias string
}

// MemberAdded is a member added to a group that existed before.
type MemberAdded struct {
	Group, Member delegation.ID
}

// BatchIDs reserves IDs for a checked batch's new principals and grants.
// nil gives provisional IDs (a dry run).
type BatchIDs func(principals, grants int) ([]delegation.ID, []string, error)

// PlanBatch checks a batch against the snapshot d and its own records,
// with the policies of the single operations (AddTenant, AddPrincipal,
// edits.go's EditAddAlias and EditAddMember, delegation's NewGrant), and
// returns what to write. A batch with bad records gives a *BatchError
// naming every one; ids is asked only for a good batch. Both stores call
// it inside their directory write, so that it checks what they commit.
func PlanBatch(d *delegation.Directory, b Batch, now time.Time, ids BatchIDs) (*BatchPlan, error) {
	b.Records = slices.Clone(b.Records) // the caller's are left alone
	pl := &planner{d: d, b: b, now: now.UTC(), byAddr: map[string]*Record{}, addrLine: map[string]int{},
		badAddr: map[string]int{}, work: map[delegation.ID]*Record{}, tenants: map[string]int{},
		cals: map[string]*calPlan{}, badCal: map[string]int{}}
	for i := range b.Records {
		if b.Records[i].Line == 0 {
			b.Records[i].Line = i + 1
		}
	}
	byKind := map[string][]*BatchRecord{}
	for i := range b.Records {
		r := &b.Records[i]
		if !slices.Contains(BatchKinds, r.Kind) {
			pl.bad(r, errorf(ErrInvalid, "unknown kind %q: use %s", r.Kind, strings.Join(BatchKinds, ", ")))
			continue
		}
		byKind[r.Kind] = append(byKind[r.Kind], r)
	}
	for _, r := range byKind[BatchTenant] {
		pl.tenant(r)
	}
	for _, k := range []string{BatchUser, BatchShared, BatchGroup} {
		for _, r := range byKind[k] {
			pl.principal(r)
		}
	}
	for _, r := range byKind[BatchAlias] {
		pl.alias(r)
	}
	for _, r := range byKind[BatchMember] {
		pl.member(r)
	}
	for _, r := range byKind[BatchGrant] {
		pl.grant(r)
	}
	for _, r := range byKind[BatchCalendar] {
		pl.calendar(r)
	}
	for _, r := range byKind[BatchCalendarObject] {
		pl.calendarObject(r)
	}
	if len(pl.errs) > 0 {
		slices.SortStableFunc(pl.errs, func(a, b LineError) int { return cmp.Compare(a.Line, b.Line) })
		return nil, &BatchError{Lines: pl.errs}
	}
	return pl.finish(ids)
}

// planner is PlanBatch's state.
type planner struct {
	d    *delegation.Directory
	b    Batch
	now  time.Time
	errs []LineError

	plan     BatchPlan
	tenants  map[string]int            // new tenant → line
	news     []*Record                 // new principals, provisional IDs
	work     map[delegation.ID]*Record // every principal the batch changes, new or not
	byAddr   map[string]*Record        // addresses (and aliases) the batch adds → principal
	addrLine map[string]int            // address → the line that adds it
	badAddr  map[string]int            // address → the bad line that would have added it
	cur      *delegation.Directory     // d with the batch's tenants and principals (rebuilt on need)
	stale    bool                      // members added since cur was built
	grantKey map[[3]string]int         // mailbox, trustee, right → line
	grants   []grantPlan
	edits    []AuditRecord       // of aliases and members, provisional IDs
	cals     map[string]*calPlan // owner address, NUL, name → calendar
	calOrder []string            // cals' keys, in the order planned
	badCal   map[string]int      // cals' key → the bad line that would have added it
}

type grantPlan struct {
	g    delegation.Grant
	m, t *delegation.Principal
}

func (pl *planner) bad(r *BatchRecord, err error) {
	msg := err.Error()
	var se *Error
	if errors.As(err, &se) {
		msg = se.Msg
	}
	pl.errs = append(pl.errs, LineError{Line: r.Line, Msg: msg})
}

func (pl *planner) tenant(r *BatchRecord) {
	p := DefaultPropagation
	if r.Propagation != nil {
		p = *r.Propagation
	}
	t, err := TenantOf(r.Domain, p)
	switch {
	case err != nil:
		pl.bad(r, err)
	case pl.tenants[t.Domain] != 0:
		pl.bad(r, errorf(ErrExists, "tenant %s is also on line %d", t.Domain, pl.tenants[t.Domain]))
	default:
		if _, ok := pl.d.Tenant(t.Domain); ok {
			pl.bad(r, errorf(ErrExists, "tenant %s already exists", t.Domain))
			return
		}
		pl.tenants[t.Domain] = r.Line
		pl.plan.Tenants = append(pl.plan.Tenants, t)
		pl.plan.Audit = append(pl.plan.Audit, AdminAudit("tenant_add", "", "", "tenant "+t.Domain+", propagation "+p.String()))
	}
}

// taken says who uses addr already: a principal of d or a line of the batch.
func (pl *planner) taken(addr string) error {
	if p, ok := pl.d.Lookup(addr); ok {
		return errorf(ErrExists, "address %s is already used by %s %s", addr, p.Kind, p.Address)
	}
	if l := pl.addrLine[addr]; l != 0 {
		return errorf(ErrExists, "address %s is also added on line %d", addr, l)
	}
	return nil
}

func (pl *planner) principal(r *BatchRecord) {
	kind := delegation.Kind(r.Kind)
	addr, err := delegation.NormalizeAddress(r.Address)
	if err != nil {
		pl.bad(r, err)
		return
	}
	fail := func(err error) { pl.badAddr[addr] = r.Line; pl.bad(r, err) }
	dom := delegation.Domain(addr)
	_, known := pl.d.Tenant(dom)
	switch {
	case strings.ContainsAny(r.Name, "\r\n\x00"):
		fail(errorf(ErrInvalid, "display name contains a line break or NUL"))
	case kind != delegation.KindUser && r.PasswordHash != "":
		fail(errorf(ErrInvalid, "%s is a %s: only users have passwords", addr, kindName(kind)))
	case !known && pl.tenants[dom] == 0:
		fail(errorf(ErrNotFound, "no tenant for %s: add it first (a tenant line, or `mailgate tenant add %s`)", addr, dom))
	default:
		if err := pl.taken(addr); err != nil {
			fail(err)
			return
		}
		rec := &Record{Principal: delegation.Principal{ID: delegation.ID(fmt.Sprintf("new%d", len(pl.news)+1)),
			Kind: kind, Tenant: dom, Address: addr, Name: r.Name}, PasswordHash: r.PasswordHash, CreatedAt: pl.now}
		pl.news = append(pl.news, rec)
		pl.work[rec.ID] = rec
		pl.byAddr[addr], pl.addrLine[addr] = rec, r.Line
	}
}

// record resolves addr to the working record of its principal, which
// the batch adds or which d has (then copied, to be changed).
func (pl *planner) record(addr string) (*Record, error) {
	a, err := delegation.NormalizeAddress(addr)
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Msg: err.Error()}
	}
	if rec := pl.byAddr[a]; rec != nil {
		return rec, nil
	}
	p, err := resolve(pl.d, a)
	if l := pl.badAddr[a]; errors.Is(err, ErrNotFound) && l != 0 {
		return nil, errorf(ErrInvalid, "%s is added on line %d, which is bad", a, l)
	}
	if err != nil {
		return nil, err
	}
	if rec := pl.work[p.ID]; rec != nil {
		return rec, nil
	}
	rec := &Record{Principal: *p}
	rec.Aliases, rec.Members = slices.Clone(p.Aliases), slices.Clone(p.Members)
	pl.work[p.ID] = rec
	return rec, nil
}

func (pl *planner) alias(r *BatchRecord) {
	rec, err := pl.record(r.Address)
	if err == nil {
		al, nerr := delegation.NormalizeAddress(r.Alias)
		if nerr == nil && pl.addrLine[al] != 0 {
			err = pl.taken(al)
		}
	}
	if err != nil {
		pl.bad(r, err)
		return
	}
	before := len(rec.Aliases)
	detail, err := EditAddAlias(r.Alias).Apply(pl.d, rec)
	if err != nil {
		pl.bad(r, err)
		return
	}
	al := rec.Aliases[before]
	pl.byAddr[al], pl.addrLine[al] = rec, r.Line
	pl.cur = nil // its Lookup must see the alias
	pl.edits = append(pl.edits, AdminAudit("alias_add", rec.Address, rec.ID, detail))
}

// directory is d with the batch's tenants and principals (and the
// members added so far), built once and again only when a check needs
// members it has not seen.
func (pl *planner) directory() (*delegation.Directory, error) {
	if pl.cur != nil && !pl.stale {
		return pl.cur, nil
	}
	ts := pl.d.Tenants()
	ts = append(ts, pl.plan.Tenants...)
	var ps []delegation.Principal
	for _, p := range pl.d.Principals() {
		if rec := pl.work[p.ID]; rec != nil {
			ps = append(ps, rec.Principal)
		} else {
			ps = append(ps, *p)
		}
	}
	for _, rec := range pl.news {
		ps = append(ps, rec.Principal)
	}
	gs := make([]delegation.Grant, 0, len(pl.d.Grants()))
	for _, g := range pl.d.Grants() {
		gs = append(gs, *g)
	}
	cur, err := delegation.NewDirectory(ts, ps, gs)
	if err != nil {
		return nil, err
	}
	pl.cur, pl.stale = cur, false
	return cur, nil
}

func (pl *planner) member(r *BatchRecord) {
	rec, err := pl.record(r.Group)
	if err == nil {
		_, err = pl.record(r.Member) // names the bad line that should have added it
	}
	d := pl.cur
	if err == nil {
		// Only a group member can close a cycle, and only memberships
		// the snapshot has can show it: rebuild for those alone (a
		// stale snapshot answers every other check).
		if m, _ := pl.record(r.Member); m.Kind == delegation.KindGroup || d == nil {
			d, err = pl.directory()
		}
	}
	if err != nil {
		pl.bad(r, err)
		return
	}
	detail, err := EditAddMember(r.Member).Apply(d, rec)
	if err != nil {
		pl.bad(r, err)
		return
	}
	pl.stale = true
	pl.edits = append(pl.edits, AdminAudit("member_add", rec.Address, rec.ID, detail))
}

func (pl *planner) grant(r *BatchRecord) {
	d, err := pl.directory()
	if err != nil {
		pl.bad(r, err)
		return
	}
	var m, t *Record
	if m, err = pl.record(r.Mailbox); err == nil {
		t, err = pl.record(r.Trustee)
	}
	if err != nil {
		pl.bad(r, err)
		return
	}
	created := pl.now
	if !r.CreatedAt.IsZero() {
		if created = r.CreatedAt.UTC(); created.After(pl.now) {
			pl.bad(r, errorf(ErrInvalid, "created_at %s is in the future", created.Format(time.RFC3339)))
			return
		}
	}
	by := cmp.Or(r.CreatedBy, pl.b.By)
	mp, tp := m.Principal, t.Principal
	// A given effective_at replaces the delay, so the end is checked
	// against it below (an export's grant made under another delay).
	g, err := d.NewGrant(delegation.GrantRequest{Mailbox: &mp, Trustee: &tp, Right: r.Right, Immediate: r.Immediate || !r.EffectiveAt.IsZero(),
		Now: created, CreatedBy: by, Until: r.Until})
	if err != nil {
		pl.bad(r, grantError(err))
		return
	}
	if !r.EffectiveAt.IsZero() {
		eff := r.EffectiveAt.UTC().Truncate(time.Second)
		switch {
		case r.Immediate:
			pl.bad(r, errorf(ErrInvalid, "give immediate or effective_at, not both"))
			return
		case eff.Before(g.CreatedAt):
			pl.bad(r, errorf(ErrInvalid, "effective_at %s is before created_at %s", eff.Format(time.RFC3339), g.CreatedAt.Format(time.RFC3339)))
			return
		case !g.Until.IsZero() && !g.Until.After(eff):
			pl.bad(r, errorf(ErrInvalid, "until %s is not after effective_at %s", g.Until.Format(time.RFC3339), eff.Format(time.RFC3339)))
			return
		}
		g.EffectiveAt = eff
	}
	if pl.grantKey == nil {
		pl.grantKey = map[[3]string]int{}
	}
	k := [3]string{string(m.ID), string(t.ID), r.Right.Flags()}
	if l := pl.grantKey[k]; l != 0 {
		pl.bad(r, errorf(ErrExists, "%s already gets %s on %s on line %d", t.Address, r.Right, m.Address, l))
		return
	}
	pl.grantKey[k] = r.Line
	pl.grants = append(pl.grants, grantPlan{g: g, m: &mp, t: &tp})
}

// finish gives the checked batch its IDs and its audit records.
func (pl *planner) finish(ids BatchIDs) (*BatchPlan, error) {
	if ids == nil {
		ids = func(np, ng int) ([]delegation.ID, []string, error) {
			pids, gids := make([]delegation.ID, np), make([]string, ng)
			for i := range pids {
				pids[i] = delegation.ID(fmt.Sprintf("new%d", i+1))
			}
			for i := range gids {
				gids[i] = fmt.Sprintf("new%d", i+1)
			}
			return pids, gids, nil
		}
	}
	pids, gids, err := ids(len(pl.news), len(pl.grants))
	if err != nil {
		return nil, err
	}
	remap := map[delegation.ID]delegation.ID{}
	for i, rec := range pl.news {
		remap[rec.ID] = pids[i]
	}
	id := func(x delegation.ID) delegation.ID { return cmp.Or(remap[x], x) }
	p := &pl.plan // its Audit has the tenants' records so far
	for _, rec := range pl.news {
		rec.ID = id(rec.ID)
		for i, m := range rec.Members {
			rec.Members[i] = id(m)
		}
		p.Principals = append(p.Principals, *rec)
		p.Audit = append(p.Audit, AdminAudit(principalAddAction(rec.Kind), rec.Address, rec.ID, ""))
	}
	for _, r := range pl.edits {
		r.MailboxID = string(id(delegation.ID(r.MailboxID)))
		p.Audit = append(p.Audit, r)
	}
	// Additions to principals that existed before, in a stable order.
	changed := make([]delegation.ID, 0, len(pl.work))
	for oid := range pl.work {
		changed = append(changed, oid)
	}
	slices.Sort(changed)
	for _, oid := range changed {
		rec := pl.work[oid]
		old, ok := pl.d.Principal(oid)
		if !ok {
			continue // new: written whole
		}
		for _, a := range rec.Aliases[len(old.Aliases):] {
			p.Aliases = append(p.Aliases, AliasAdded{ID: oid, Alias: a})
		}
		for _, m := range rec.Members[len(old.Members):] {
			p.Members = append(p.Members, MemberAdded{Group: oid, Member: id(m)})
		}
	}
	for i, gp := range pl.grants {
		g := gp.g
		g.ID, g.Mailbox, g.Trustee = gids[i], id(g.Mailbox), id(g.Trustee)
		gp.m.ID, gp.t.ID = g.Mailbox, g.Trustee
		p.Grants = append(p.Grants, g)
		p.Audit = append(p.Audit, GrantAudit("grant_add", pl.b.By, gp.m, gp.t, g))
	}
	pl.finishCalendars(id)
	p.Result = BatchResult{}
	for _, r := range pl.b.Records {
		p.Result[r.Kind]++
	}
	by := cmp.Or(pl.b.By, "admin")
	for i := range p.Audit {
		p.Audit[i].Actor = by
	}
	p.Audit = append(p.Audit, AdminAudit("import", "", "", "by "+by+": "+p.Result.String()))
	p.Audit[len(p.Audit)-1].Actor = by
	return p, nil
}

// String counts per kind, in BatchKinds order: "2 user, 1 grant".
func (r BatchResult) String() string {
	var parts []string
	for _, k := range BatchKinds {
		if n := r[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
