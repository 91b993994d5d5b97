package storage

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// DefaultPropagation is a new tenant's propagation delay, as Exchange's "up
// to 60 minutes", made exact.
const DefaultPropagation = 60 * time.Minute

// MailboxSettings are per-mailbox options (Exchange's
// MessageCopyForSentAsEnabled and MessageCopyForSendOnBehalfEnabled).
type MailboxSettings struct {
	CopySentAs       bool `json:"copy_sent_as"`
	CopySentOnBehalf bool `json:"copy_sent_on_behalf"`
	// Quota is Exchange's "prohibit receive" quota in bytes: a mailbox at
	// or over it takes no more mail (0: no quota). See quota.go.
	Quota uint64 `json:"quota,omitempty"`
	// DelegatesSeePrivate lets delegates see the owner's CLASS:PRIVATE
	// calendar items in full (off: busy time only; see package dav).
	DelegatesSeePrivate bool `json:"delegates_see_private,omitempty"`
}

// principalRec is how Badger keeps a principal (principal/<id>, JSON).
type principalRec = Record

// Principal is a principal with its stored attributes (but never its
// password hash).
type Principal struct {
	delegation.Principal
	Settings    MailboxSettings `json:"settings"`
	CreatedAt   time.Time       `json:"created_at"`
	HasPassword bool            `json:"has_password"`
}

// Directory returns the current snapshot. It is immutable and cheap to get:
// callers ask for it on every decision so that a change is seen at once.
func (s *Store) Directory() *delegation.Directory { return s.dir.Load() }

func (s *Store) reloadDirectory() error {
	// A batch flipped but not all moved (a failure or a crash after its
	// flip) is finished first, so no snapshot holds part of one.
	if err := s.finishBatch(); err != nil {
		s.res.batch.Store(true)
		return err
	}
	s.res.batch.Store(false)
	var (
		ts []delegation.Tenant
		ps []delegation.Principal
		gs []delegation.Grant
	)
	err := s.view(func(txn *badger.Txn) error {
		if err := scan(txn, prefTenant, func(_, v []byte) error {
			var t delegation.Tenant
			ts = append(ts, t)
			return unmarshal(v, &ts[len(ts)-1])
		}); err != nil {
			return err
		}
		if err := scan(txn, prefPrincipal, func(_, v []byte) error {
			var r principalRec
			if err := unmarshal(v, &r); err != nil {
				return err
			}
			ps = append(ps, r.Principal)
			return nil
		}); err != nil {
			return err
		}
		return scan(txn, prefGrant, func(_, v []byte) error {
			var g delegation.Grant
			gs = append(gs, g)
			return unmarshal(v, &gs[len(gs)-1])
		})
	})
	if err != nil {
		return fmt.Errorf("load directory: %w", err)
	}
	d, err := delegation.NewDirectory(ts, ps, gs)
	if err != nil {
		return fmt.Errorf("load directory: %w", err)
	}
	s.dir.Store(d)
	return nil
}

// dirWrite runs one directory change: fn sees the current snapshot and a
// transaction; afterwards the snapshot is rebuilt. Directory writes are
// serialised, so fn's checks against the snapshot cannot race.
func (s *Store) dirWrite(fn func(txn *badger.Txn, d *delegation.Directory) error) error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if err := s.settleBatchLocked(); err != nil {
		return err
	}
	d := s.dir.Load()
	if err := s.update(func(txn *badger.Txn) error { return fn(txn, d) }); err != nil {
		return err
	}
	if err := s.reloadDirectory(); err != nil {
		return err
	}
	s.dirNotify(DirChange{})
	return nil
}

// DirChange tells directory listeners what changed. Every directory write
// is announced (then both lists may be empty: a grant, a member, a rename);
// a password change or a removal also names the principals, so that
// servers can end their sessions.
type DirChange struct {
	PasswordChanged []delegation.ID
	Removed         []delegation.ID
}

// OnDirectoryChange registers a listener called after each directory write,
// once the new snapshot is in place. It must be quick and must not write
// to the directory.
func (s *Store) OnDirectoryChange(fn func(DirChange)) {
	s.hub.mu.Lock()
	s.hub.dirListeners = append(s.hub.dirListeners, fn)
	s.hub.mu.Unlock()
}

func (s *Store) dirNotify(c DirChange) {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	for _, fn := range s.hub.dirListeners {
		fn(c)
	}
}

func resolve(d *delegation.Directory, addr string) (*delegation.Principal, error) {
	a, err := delegation.NormalizeAddress(addr)
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Msg: err.Error()}
	}
	p, ok := d.Lookup(a)
	if !ok {
		return nil, errorf(ErrNotFound, "no user, shared mailbox or group has the address %s", a)
	}
	return p, nil
}

// Principal returns a principal's stored attributes.
func (s *Store) Principal(id delegation.ID) (Principal, error) {
	var r principalRec
	err := s.view(func(txn *badger.Txn) error { return getJSON(txn, key(prefPrincipal, string(id)), &r) })
	if err != nil {
		if err == ErrNotFound {
			return Principal{}, errorf(ErrNotFound, "no principal %s", id)
		}
		return Principal{}, err
	}
	return r.Public(), nil
}

// Principals lists principals (all, or one tenant's), sorted by address.
func (s *Store) Principals(tenant string) ([]Principal, error) {
	var out []Principal
	err := s.view(func(txn *badger.Txn) error {
		return scan(txn, prefPrincipal, func(_, v []byte) error {
			var r principalRec
			if err := unmarshal(v, &r); err != nil {
				return err
			}
			if tenant == "" || r.Tenant == tenant {
				out = append(out, r.Public())
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Principal) int { return strings.Compare(a.Address, b.Address) })
	return out, err
}

// AddTenant creates a tenant for a domain.
func (s *Store) AddTenant(domain string, propagation time.Duration) (delegation.Tenant, error) {
	t, err := TenantOf(domain, propagation)
	if err != nil {
		return t, err
	}
	dom := t.Domain
	err = s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		if _, ok := d.Tenant(dom); ok {
			return errorf(ErrExists, "tenant %s already exists", dom)
		}
		if err := setJSON(txn, key(prefTenant, dom), t); err != nil {
			return err
		}
		return s.adminAuditTxn(txn, "tenant_add", "", "", "tenant "+dom+", propagation "+propagation.String())
	})
	return t, err
}

// SetPropagation changes a tenant's propagation delay. Grants made before
// keep the effective time they were given.
func (s *Store) SetPropagation(domain string, propagation time.Duration) (delegation.Tenant, error) {
	t, err := TenantOf(domain, propagation)
	if err != nil {
		return t, err
	}
	dom := t.Domain
	err = s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		if _, ok := d.Tenant(dom); !ok {
			return errorf(ErrNotFound, "no tenant %s", dom)
		}
		if err := setJSON(txn, key(prefTenant, dom), t); err != nil {
			return err
		}
		return s.adminAuditTxn(txn, "tenant_set", "", "", "tenant "+dom+", propagation "+propagation.String())
	})
	return t, err
}

// TenantOf checks an administrator's tenant: its domain (normalizeDomain)
// and a delay that is not negative.
func TenantOf(domain string, propagation time.Duration) (delegation.Tenant, error) {
	dom, err := normalizeDomain(domain)
	if err != nil {
		return delegation.Tenant{}, err
	}
	if propagation < 0 {
		return delegation.Tenant{}, errorf(ErrInvalid, "propagation delay %s is negative", propagation)
	}
	return delegation.Tenant{Domain: dom, Propagation: propagation}, nil
}

// normalizeDomain checks a tenant domain. A trailing (root) dot is refused
// with the spelling to use: "example.test." must never become a second
// tenant beside "example.test" (delegation.NormalizeAddress refuses it in
// addresses for the same reason).
func normalizeDomain(domain string) (string, error) {
	dom := strings.ToLower(strings.TrimSpace(domain))
	if t := strings.TrimRight(dom, "."); t != dom && t != "" {
		return "", errorf(ErrInvalid, "invalid domain %q: it ends with a dot (write %s)", domain, t)
	}
	if _, err := delegation.NormalizeAddress("x@" + dom); err != nil || dom == "" || !strings.Contains(dom, ".") && dom != "localhost" {
		return "", errorf(ErrInvalid, "invalid domain %q", domain)
	}
	return dom, nil
}

// NewPrincipal describes a principal to create.
type NewPrincipal struct {
	Kind         delegation.Kind
	Address      string
	Name         string
	PasswordHash string // users only
}

// AddPrincipal creates a user, shared mailbox or group. The address's
// domain must be a tenant's, and no principal may already use it.
func (s *Store) AddPrincipal(np NewPrincipal) (Principal, error) {
	addr, err := delegation.NormalizeAddress(np.Address)
	if err != nil {
		return Principal{}, &Error{Kind: ErrInvalid, Msg: err.Error()}
	}
	if strings.ContainsAny(np.Name, "\r\n\x00") {
		return Principal{}, errorf(ErrInvalid, "display name contains a line break or NUL")
	}
	var rec principalRec
	err = s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		dom := delegation.Domain(addr)
		if _, ok := d.Tenant(dom); !ok {
			return errorf(ErrNotFound, "no tenant for %s: add it first with `mailgate tenant add %s`", addr, dom)
		}
		if p, ok := d.Lookup(addr); ok {
			return errorf(ErrExists, "address %s is already used by %s %s", addr, p.Kind, p.Address)
		}
		n, err := next(txn, keyNextID)
		if err != nil {
			return err
		}
		rec = principalRec{
			Principal: delegation.Principal{
				ID: delegation.ID(fmt.Sprintf("p%d", n)), Kind: np.Kind, Tenant: dom, Address: addr, Name: np.Name,
			},
			CreatedAt: s.now().UTC(),
		}
		if np.Kind == delegation.KindUser {
			rec.PasswordHash = np.PasswordHash
		}
		if err := setJSON(txn, key(prefPrincipal, string(rec.ID)), rec); err != nil {
			return err
		}
		return s.adminAuditTxn(txn, principalAddAction(np.Kind), addr, rec.ID, "")
	})
	return rec.Public(), err
}

// modify applies an edit to the principal addr names: the record and an
// audit record of the change go in one commit.
func (s *Store) modify(addr string, e Edit) (Principal, error) {
	var rec principalRec
	err := s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		p, err := resolve(d, addr)
		if err != nil {
			return err
		}
		if err := getJSON(txn, key(prefPrincipal, string(p.ID)), &rec); err != nil {
			return err
		}
		detail, err := e.Apply(d, &rec)
		if err != nil {
			return err
		}
		if err := setJSON(txn, key(prefPrincipal, string(rec.ID)), rec); err != nil {
			return err
		}
		return s.adminAuditTxn(txn, e.Action, rec.Address, rec.ID, detail)
	})
	if err == nil && e.Change != nil {
		s.dirNotify(e.Change(rec.ID))
	}
	return rec.Public(), err
}

// adminAuditTxn writes the audit record of an administrator's change to the
// directory, in the change's own transaction. The admin socket is the
// server owner's (mode 0600), so the actor is "admin"; grant changes also
// name the CLI user (GrantAudit).
func (s *Store) adminAuditTxn(txn *badger.Txn, action, addr string, id delegation.ID, detail string) error {
	return auditTxn(txn, s.now(), []AuditRecord{AdminAudit(action, addr, id, detail)})
}

// AdminAudit is the audit record of an administrator's change to the
// directory (actor "admin"), for any store.
func AdminAudit(action, addr string, id delegation.ID, detail string) AuditRecord {
	rec := NewAuditRecord(nil, "admin", action, Party{Address: "admin"}, Party{Address: addr, ID: id}, delegation.Decision{Allowed: true})
	rec.Detail = detail
	return rec
}

// SetPassword replaces a user's password hash (EditPassword).
func (s *Store) SetPassword(addr, hash string) (Principal, error) {
	return s.modify(addr, EditPassword(hash))
}

// SetSettings changes mailbox settings; nil fields are left alone.
func (s *Store) SetSettings(addr string, copySentAs, copySentOnBehalf *bool) (Principal, error) {
	return s.modify(addr, EditSettings(copySentAs, copySentOnBehalf))
}

// SetDelegatesSeePrivate sets whether delegates see the mailbox's
// private calendar items (EditDelegatesSeePrivate).
func (s *Store) SetDelegatesSeePrivate(addr string, on bool) (Principal, error) {
	return s.modify(addr, EditDelegatesSeePrivate(on))
}

// Rename gives a principal a new primary address (EditRename).
func (s *Store) Rename(oldAddr, newAddr string) (Principal, error) {
	return s.modify(oldAddr, EditRename(newAddr))
}

// AddAlias gives a principal another address in its tenant.
func (s *Store) AddAlias(addr, alias string) (Principal, error) {
	return s.modify(addr, EditAddAlias(alias))
}

// RemoveAlias removes an alias (never a primary address).
func (s *Store) RemoveAlias(alias string) (Principal, error) {
	return s.modify(alias, EditRemoveAlias(alias))
}

// AddMember adds a user or group to a group in the same tenant.
func (s *Store) AddMember(groupAddr, memberAddr string) (Principal, error) {
	return s.modify(groupAddr, EditAddMember(memberAddr))
}

// RemoveMember removes a direct member from a group.
func (s *Store) RemoveMember(groupAddr, memberAddr string) (Principal, error) {
	return s.modify(groupAddr, EditRemoveMember(memberAddr))
}

// RemovePrincipal deletes a principal, every grant to or on it and its group
// memberships. Its ID is never reused. Its stored mail is left in place.
func (s *Store) RemovePrincipal(addr string) (Principal, error) {
	var rec principalRec
	err := s.dirWrite(func(txn *badger.Txn, d *delegation.Directory) error {
		p, err := resolve(d, addr)
		if err != nil {
			return err
		}
		if err := getJSON(txn, key(prefPrincipal, string(p.ID)), &rec); err != nil {
			return err
		}
		var grants []string
		for _, g := range d.Grants() {
			if g.Mailbox == p.ID || g.Trustee == p.ID {
				if err := txn.Delete(key(prefGrant, g.ID)); err != nil {
					return err
				}
				grants = append(grants, g.ID)
			}
		}
		if err := s.adminAuditTxn(txn, "remove", p.Address, p.ID, RemovalDetail(p, grants)); err != nil {
			return err
		}
		for _, q := range d.Principals() {
			if q.Kind != delegation.KindGroup || !slices.Contains(q.Members, p.ID) {
				continue
			}
			var gr principalRec
			if err := getJSON(txn, key(prefPrincipal, string(q.ID)), &gr); err != nil {
				return err
			}
			gr.Members = slices.DeleteFunc(gr.Members, func(id delegation.ID) bool { return id == p.ID })
			if err := setJSON(txn, key(prefPrincipal, string(q.ID)), gr); err != nil {
				return err
			}
		}
		return txn.Delete(key(prefPrincipal, string(p.ID)))
	})
	if err == nil {
		s.dirNotify(DirChange{Removed: []delegation.ID{rec.ID}})
	}
	return rec.Public(), err
}

func principalAddAction(k delegation.Kind) string {
	return strings.ReplaceAll(kindName(k), " ", "_") + "_add"
}

func kindName(k delegation.Kind) string {
	switch k {
	case delegation.KindShared:
		return "shared mailbox"
	case delegation.KindGroup:
		return "group"
	}
	return "user"
}
