package storage

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// Admin is an administrator of the web admin center: a user who logs in
// with their own mail password and manages one tenant, or every tenant
// (Global).
type Admin struct {
	ID        delegation.ID `json:"id"`
	Address   string        `json:"address"`          // the user's address now
	Tenant    string        `json:"tenant,omitempty"` // "" when Global
	Global    bool          `json:"global"`
	CreatedAt time.Time     `json:"created"`
}

// AdminStore is the administrators part of the storage contract. An
// administrator is a user (it logs in); a tenant administrator names an
// existing tenant. Removing the user removes the role. Setting a role
// replaces the user's previous one. Both writes are audited (admin_add,
// admin_remove) in their own commit.
type AdminStore interface {
	// SetAdmin makes the user at addr an administrator of tenant, or of
	// every tenant when tenant is "".
	SetAdmin(addr, tenant string) (Admin, error)
	// RemoveAdmin takes the role away (ErrNotFound when it has none).
	RemoveAdmin(addr string) (Admin, error)
	// Admins lists the administrators by address.
	Admins() ([]Admin, error)
}

var _ AdminStore = (*Store)(nil)

// AdminRec is an administrator as a backend stores it, keyed by the
// principal's ID.
type AdminRec struct {
	Tenant    string    `json:"tenant,omitempty"`
	CreatedAt time.Time `json:"created"`
}

// CheckAdmin applies the policy of SetAdmin on d: the user at addr, and
// the tenant ("" for global) normalized and existing.
func CheckAdmin(d *delegation.Directory, addr, tenant string) (*delegation.Principal, string, error) {
	p, err := resolve(d, addr)
	if err != nil {
		return nil, "", err
	}
	if p.Kind != delegation.KindUser {
		return nil, "", errorf(ErrInvalid, "%s is a %s: only a user (who logs in) can be an administrator", p.Address, kindName(p.Kind))
	}
	tenant = strings.ToLower(strings.TrimSpace(tenant))
	if _, ok := d.Tenant(tenant); tenant != "" && !ok {
		return nil, "", errorf(ErrNotFound, "no tenant %s", tenant)
	}
	return p, tenant, nil
}

// AdminOf is the Admin that rec makes of the principal id in d (false
// when the principal is gone).
func AdminOf(d *delegation.Directory, id delegation.ID, rec AdminRec) (Admin, bool) {
	p, ok := d.Principal(id)
	if !ok {
		return Admin{}, false
	}
	return Admin{ID: id, Address: p.Address, Tenant: rec.Tenant, Global: rec.Tenant == "", CreatedAt: rec.CreatedAt}, true
}

// SortAdmins orders administrators by address.
func SortAdmins(as []Admin) {
	slices.SortFunc(as, func(a, b Admin) int { return strings.Compare(a.Address, b.Address) })
}

// AdminAuditOf is the audit record of a role change.
func AdminAuditOf(action string, a Admin) AuditRecord {
	scope := "global"
	if !a.Global {
		scope = "tenant " + a.Tenant
	}
	return AdminAudit(action, a.Address, a.ID, "administrator: "+scope)
}

var prefAdmin = []byte("admin/") // admin/<principal id> → AdminRec

// SetAdmin makes a user an administrator (AdminStore).
func (s *Store) SetAdmin(addr, tenant string) (Admin, error) {
	var a Admin
	err := s.update(func(txn *badger.Txn) error {
		d := s.Directory()
		p, tenant, err := CheckAdmin(d, addr, tenant)
		if err != nil {
			return err
		}
		rec := AdminRec{Tenant: tenant, CreatedAt: s.now().UTC()}
		if err := setJSON(txn, key(prefAdmin, string(p.ID)), rec); err != nil {
			return err
		}
		a, _ = AdminOf(d, p.ID, rec)
		return auditTxn(txn, s.now(), []AuditRecord{AdminAuditOf("admin_add", a)})
	})
	return a, err
}

// RemoveAdmin takes a user's administrator role away (AdminStore).
func (s *Store) RemoveAdmin(addr string) (Admin, error) {
	var a Admin
	err := s.update(func(txn *badger.Txn) error {
		d := s.Directory()
		p, err := resolve(d, addr)
		if err != nil {
			return err
		}
		var rec AdminRec
		k := key(prefAdmin, string(p.ID))
		if err := getJSON(txn, k, &rec); errors.Is(err, ErrNotFound) {
			return errorf(ErrNotFound, "%s is not an administrator", p.Address)
		} else if err != nil {
			return err
		}
		a, _ = AdminOf(d, p.ID, rec)
		if err := txn.Delete(k); err != nil {
			return err
		}
		return auditTxn(txn, s.now(), []AuditRecord{AdminAuditOf("admin_remove", a)})
	})
	return a, err
}

// Admins lists the administrators whose user still exists (AdminStore).
func (s *Store) Admins() ([]Admin, error) {
	out := []Admin{}
	d := s.Directory()
	err := s.view(func(txn *badger.Txn) error {
		return scan(txn, prefAdmin, func(k, v []byte) error {
			var rec AdminRec
			if err := unmarshal(v, &rec); err != nil {
				return err
			}
			if a, ok := AdminOf(d, delegation.ID(k[len(prefAdmin):]), rec); ok {
				out = append(out, a)
			}
			return nil
		})
	})
	SortAdmins(out)
	return out, err
}
