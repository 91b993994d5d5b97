package admin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// Arguments of the operations. Each is the JSON body of POST /v1/<op>.
type (
	TenantArgs struct {
		Domain      string    `json:"domain"`
		Propagation *Duration `json:"propagation,omitempty"` // nil: the default (60m)
	}
	ListArgs struct {
		Tenant string `json:"tenant,omitempty"`
	}
	PrincipalArgs struct {
		Address  string `json:"address"`
		Name     string `json:"name,omitempty"`
		Password string `json:"password,omitempty"`
	}
	RenameArgs struct {
		Old string `json:"old"`
		New string `json:"new"`
	}
	MemberArgs struct {
		Group  string `json:"group"`
		Member string `json:"member"`
	}
	AliasArgs struct {
		Address string `json:"address,omitempty"`
		Alias   string `json:"alias"`
	}
	GrantArgs struct {
		Mailbox string `json:"mailbox"`
		Trustee string `json:"trustee"`
		Right   string `json:"right"`
		Now     bool   `json:"now,omitempty"`
		By      string `json:"by,omitempty"`
		// A time-boxed grant ends at Until, or For after it is made (at
		// most one); neither: open-ended. grant.add only.
		Until *time.Time `json:"until,omitempty"`
		For   *Duration  `json:"for,omitempty"`
	}
	GrantListArgs struct {
		Mailbox string `json:"mailbox,omitempty"`
		Trustee string `json:"trustee,omitempty"`
	}
	ExplainArgs struct {
		Actor   string     `json:"actor"`
		Address string     `json:"address"`      // From address (send) or mailbox (open)
		At      *time.Time `json:"at,omitempty"` // nil: now
	}
	MailboxSetArgs struct {
		Address          string  `json:"address"`
		CopySentAs       *bool   `json:"copy_sent_as,omitempty"`
		CopySentOnBehalf *bool   `json:"copy_sent_on_behalf,omitempty"`
		Quota            *uint64 `json:"quota,omitempty"` // bytes; 0 removes the quota
		// DelegatesSeePrivate lets delegates see private calendar items.
		DelegatesSeePrivate *bool `json:"delegates_see_private,omitempty"`
	}
	AuditArgs struct {
		Mailbox string     `json:"mailbox,omitempty"`
		Actor   string     `json:"actor,omitempty"`
		Action  string     `json:"action,omitempty"`
		Result  string     `json:"result,omitempty"` // allowed or refused
		Since   *Duration  `json:"since,omitempty"`  // this long ago
		From    *time.Time `json:"from,omitempty"`   // or this time
		Until   *time.Time `json:"until,omitempty"`  // records before this time
		Limit   int        `json:"limit,omitempty"`
	}
)

// Explanation is the answer of explain send / explain open.
type Explanation struct {
	Actor    string              `json:"actor"`
	Address  string              `json:"address"`
	At       time.Time           `json:"at"`
	Decision delegation.Decision `json:"decision"`
	Via      string              `json:"via,omitempty"` // group address the grant was made to
	Text     string              `json:"text"`
}

func (s *Service) now() time.Time { return s.st.Now().UTC() }

// TenantAdd creates a tenant (propagation default 60m).
func (s *Service) TenantAdd(_ context.Context, a TenantArgs) (TenantView, error) {
	p := storage.DefaultPropagation
	if a.Propagation != nil {
		p = time.Duration(*a.Propagation)
	}
	t, err := s.st.AddTenant(a.Domain, p)
	return TenantView{Domain: t.Domain, Propagation: Duration(t.Propagation)}, s.apiError("tenant add", err)
}

// TenantSet changes a tenant's propagation delay.
func (s *Service) TenantSet(_ context.Context, a TenantArgs) (TenantView, error) {
	if a.Propagation == nil {
		return TenantView{}, badRequest("nothing to set: give --propagation")
	}
	t, err := s.st.SetPropagation(a.Domain, time.Duration(*a.Propagation))
	return TenantView{Domain: t.Domain, Propagation: Duration(t.Propagation)}, s.apiError("tenant set", err)
}

// TenantList lists tenants with their user counts.
func (s *Service) TenantList(_ context.Context, _ ListArgs) ([]TenantView, error) {
	d := s.st.Directory()
	out := []TenantView{}
	for _, t := range d.Tenants() {
		v := TenantView{Domain: t.Domain, Propagation: Duration(t.Propagation)}
		for _, p := range d.Principals() {
			if p.Tenant == t.Domain && p.Kind == delegation.KindUser {
				v.Users++
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) addPrincipal(op string, kind delegation.Kind, a PrincipalArgs) (PrincipalView, error) {
	np := storage.NewPrincipal{Kind: kind, Address: a.Address, Name: a.Name}
	if kind == delegation.KindUser {
		h, err := auth.HashPassword(a.Password)
		if err != nil {
			return PrincipalView{}, s.apiError(op, err)
		}
		np.PasswordHash = h
	}
	p, err := s.st.AddPrincipal(np)
	return s.view(p), s.apiError(op, err)
}

// UserAdd creates a user with a password.
func (s *Service) UserAdd(_ context.Context, a PrincipalArgs) (PrincipalView, error) {
	return s.addPrincipal("user add", delegation.KindUser, a)
}

// SharedAdd creates a shared mailbox (no password, cannot log in).
func (s *Service) SharedAdd(_ context.Context, a PrincipalArgs) (PrincipalView, error) {
	return s.addPrincipal("shared add", delegation.KindShared, a)
}

// GroupAdd creates a group.
func (s *Service) GroupAdd(_ context.Context, a PrincipalArgs) (PrincipalView, error) {
	return s.addPrincipal("group add", delegation.KindGroup, a)
}

// UserList lists users, shared mailboxes and groups of one or all tenants.
func (s *Service) UserList(_ context.Context, a ListArgs) ([]PrincipalView, error) {
	tenant := strings.ToLower(a.Tenant)
	if _, ok := s.st.Directory().Tenant(tenant); tenant != "" && !ok {
		return nil, &Error{Status: 404, Msg: "no tenant " + a.Tenant}
	}
	ps, err := s.st.Principals(tenant)
	if err != nil {
		return nil, s.apiError("user list", err)
	}
	out := []PrincipalView{}
	for _, p := range ps {
		out = append(out, s.view(p))
	}
	return out, nil
}

// UserPasswd sets a user's password.
func (s *Service) UserPasswd(_ context.Context, a PrincipalArgs) (PrincipalView, error) {
	h, err := auth.HashPassword(a.Password)
	if err != nil {
		return PrincipalView{}, s.apiError("user passwd", err)
	}
	p, err := s.st.SetPassword(a.Address, h)
	return s.view(p), s.apiError("user passwd", err)
}

// UserRename gives a principal a new primary address; the old one stays as
// an alias and every grant is kept.
func (s *Service) UserRename(_ context.Context, a RenameArgs) (PrincipalView, error) {
	p, err := s.st.Rename(a.Old, a.New)
	return s.view(p), s.apiError("rename", err)
}

// UserRemove removes a principal and its grants.
func (s *Service) UserRemove(_ context.Context, a PrincipalArgs) (PrincipalView, error) {
	p, err := s.st.RemovePrincipal(a.Address)
	return s.view(p), s.apiError("remove", err)
}

// GroupMemberAdd adds a member to a group.
func (s *Service) GroupMemberAdd(_ context.Context, a MemberArgs) (PrincipalView, error) {
	p, err := s.st.AddMember(a.Group, a.Member)
	return s.view(p), s.apiError("group member add", err)
}

// GroupMemberRemove removes a member from a group.
func (s *Service) GroupMemberRemove(_ context.Context, a MemberArgs) (PrincipalView, error) {
	p, err := s.st.RemoveMember(a.Group, a.Member)
	return s.view(p), s.apiError("group member remove", err)
}

// AliasAdd adds an alias.
func (s *Service) AliasAdd(_ context.Context, a AliasArgs) (PrincipalView, error) {
	p, err := s.st.AddAlias(a.Address, a.Alias)
	return s.view(p), s.apiError("alias add", err)
}

// AliasRemove removes an alias.
func (s *Service) AliasRemove(_ context.Context, a AliasArgs) (PrincipalView, error) {
	p, err := s.st.RemoveAlias(a.Alias)
	return s.view(p), s.apiError("alias remove", err)
}

// GrantAdd grants a right; it takes effect after the tenant's propagation
// delay unless Now, and stops counting at its end if it has one (Until,
// or For from now).
func (s *Service) GrantAdd(_ context.Context, a GrantArgs) (GrantView, error) {
	r, err := delegation.ParseRight(a.Right)
	if err != nil {
		return GrantView{}, badRequest("%v", err)
	}
	ng := storage.NewGrant{Mailbox: a.Mailbox, Trustee: a.Trustee, Right: r, Immediate: a.Now, CreatedBy: a.By}
	if a.Until != nil {
		ng.Until = *a.Until
	}
	if a.For != nil {
		ng.For = time.Duration(*a.For)
	}
	g, err := s.st.AddGrant(ng)
	if err != nil {
		return GrantView{}, s.apiError("grant add", err)
	}
	s.log.Info("grant added", "grant", g.ID, "mailbox", a.Mailbox, "trustee", a.Trustee, "right", r.Flags(), "effective_at", g.EffectiveAt, "until", g.Until)
	return s.grantView(g, s.now()), nil
}

// GrantRemove revokes a right at once.
func (s *Service) GrantRemove(_ context.Context, a GrantArgs) (GrantView, error) {
	r, err := delegation.ParseRight(a.Right)
	if err != nil {
		return GrantView{}, badRequest("%v", err)
	}
	g, err := s.st.RemoveGrantBy(a.Mailbox, a.Trustee, r, a.By)
	if err != nil {
		return GrantView{}, s.apiError("grant remove", err)
	}
	s.log.Info("grant removed", "grant", g.ID, "mailbox", a.Mailbox, "trustee", a.Trustee, "right", r.Flags())
	v := s.grantView(g, s.now())
	v.State = "revoked"
	return v, nil
}

// GrantList lists grants with their state now (effective, pending, or
// expired with the instant it ended).
func (s *Service) GrantList(_ context.Context, a GrantListArgs) ([]GrantView, error) {
	gs, err := s.st.Grants(a.Mailbox, a.Trustee)
	if err != nil {
		return nil, s.apiError("grant list", err)
	}
	now := s.now()
	out := []GrantView{}
	for _, g := range gs {
		out = append(out, s.grantView(g, now))
	}
	return out, nil
}

func (s *Service) explain(a ExplainArgs, decide func(d *delegation.Directory, actor *delegation.Principal, at time.Time) (delegation.Decision, error)) (Explanation, error) {
	at := s.now()
	if a.At != nil {
		at = a.At.UTC()
	}
	d := s.st.Directory()
	actor, ok := d.Lookup(a.Actor)
	if !ok {
		return Explanation{}, &Error{Status: 404, Msg: "no user has the address " + a.Actor}
	}
	dc, err := decide(d, actor, at)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Actor: actor.Address, Address: dc.Address, At: at, Decision: dc, Text: dc.Text()}
	if p, ok := d.Principal(dc.Via); ok {
		e.Via = p.Address
		e.Text += " through group " + p.Address
	}
	return e, nil
}

// ExplainSend answers: may actor send with this From address, and how.
func (s *Service) ExplainSend(_ context.Context, a ExplainArgs) (Explanation, error) {
	return s.explain(a, func(d *delegation.Directory, actor *delegation.Principal, at time.Time) (delegation.Decision, error) {
		return d.Send(actor.ID, a.Address, at), nil
	})
}

// ExplainOpen answers: may actor open this mailbox.
func (s *Service) ExplainOpen(_ context.Context, a ExplainArgs) (Explanation, error) {
	return s.explain(a, func(d *delegation.Directory, actor *delegation.Principal, at time.Time) (delegation.Decision, error) {
		m, ok := d.Lookup(a.Address)
		if !ok {
			return delegation.Decision{}, &Error{Status: 404, Msg: "no mailbox has the address " + a.Address}
		}
		return d.Open(actor.ID, m.ID, at), nil
	})
}

// MailboxSet changes a mailbox's sent-copy settings, quota and private
// calendar items setting.
func (s *Service) MailboxSet(_ context.Context, a MailboxSetArgs) (PrincipalView, error) {
	if a.CopySentAs == nil && a.CopySentOnBehalf == nil && a.Quota == nil && a.DelegatesSeePrivate == nil {
		return PrincipalView{}, badRequest("nothing to set: give --copy-sent-as, --copy-sent-on-behalf, --quota and/or --delegates-see-private")
	}
	var p storage.Principal
	var err error
	if a.CopySentAs != nil || a.CopySentOnBehalf != nil {
		p, err = s.st.SetSettings(a.Address, a.CopySentAs, a.CopySentOnBehalf)
	}
	if a.Quota != nil && err == nil {
		p, err = s.st.SetQuota(a.Address, *a.Quota)
	}
	if a.DelegatesSeePrivate != nil && err == nil {
		p, err = s.st.SetDelegatesSeePrivate(a.Address, *a.DelegatesSeePrivate)
	}
	return s.view(p), s.apiError("mailbox set", err)
}

// Audit lists audit records, oldest first.
func (s *Service) Audit(_ context.Context, a AuditArgs) ([]storage.AuditRecord, error) {
	f := storage.AuditFilter{Limit: a.Limit, Action: a.Action}
	switch r := storage.AuditResult(a.Result); r {
	case "", storage.AuditAllowed, storage.AuditRefused:
		f.Decision = r
	default:
		return nil, badRequest("audit: result must be allowed or refused, not %q", a.Result)
	}
	d := s.st.Directory()
	for _, x := range []struct {
		addr string
		id   *string
	}{{a.Mailbox, &f.MailboxID}, {a.Actor, &f.ActorID}} {
		if x.addr == "" {
			continue
		}
		p, ok := d.Lookup(x.addr)
		if !ok {
			return nil, &Error{Status: 404, Msg: "no principal has the address " + x.addr}
		}
		*x.id = string(p.ID)
	}
	if a.Since != nil {
		f.Since = s.now().Add(-time.Duration(*a.Since))
	}
	if a.From != nil {
		f.Since = *a.From
	}
	if a.Until != nil {
		f.Until = *a.Until
	}
	recs, err := s.st.AuditList(f)
	if recs == nil {
		recs = []storage.AuditRecord{}
	}
	return recs, s.apiError("audit", err)
}

// BackupArgs: write a backup to Path (absolute, on the server's machine).
type BackupArgs struct {
	Path string `json:"path"`
}

// BackupResult tells where the backup went and its size.
type BackupResult struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// Backup writes a consistent online backup to a new file, fsynced, then
// renamed into place so a partial file never has the final name.
func (s *Service) Backup(_ context.Context, a BackupArgs) (BackupResult, error) {
	if !filepath.IsAbs(a.Path) {
		return BackupResult{}, badRequest("backup path %q is not absolute", a.Path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.Path), ".mailgate-backup-*")
	if err != nil {
		return BackupResult{}, badRequest("backup: %v", err)
	}
	defer os.Remove(tmp.Name())
	if err := s.st.Backup(tmp); err != nil {
		tmp.Close()
		return BackupResult{}, s.apiError("backup", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return BackupResult{}, s.apiError("backup", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return BackupResult{}, s.apiError("backup", err)
	}
	if err := tmp.Close(); err != nil {
		return BackupResult{}, s.apiError("backup", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return BackupResult{}, s.apiError("backup", err)
	}
	if err := os.Rename(tmp.Name(), a.Path); err != nil {
		return BackupResult{}, badRequest("backup: %v", err)
	}
	return BackupResult{Path: a.Path, Bytes: fi.Size()}, nil
}
