package storage

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailgate/mailgate/delegation"
)

// Record is a principal as a store keeps it: what Principal shows, and
// its password hash.
type Record struct {
	delegation.Principal
	PasswordHash string          `json:"password_hash,omitempty"`
	Settings     MailboxSettings `json:"settings"`
	CreatedAt    time.Time       `json:"created_at"`
}

// Public is the record without its secret.
func (r Record) Public() Principal {
	return Principal{Principal: r.Principal, Settings: r.Settings, CreatedAt: r.CreatedAt, HasPassword: r.PasswordHash != ""}
}

// An Edit is one administrator's change to one principal's record, the
// same policy for every store: Apply checks it against the snapshot d and
// changes r, and returns the audit record's detail. The store loads the
// record of the principal the address names, applies the edit, and
// writes the record and an audit record of Action in one commit.
type Edit struct {
	Action string
	Apply  func(d *delegation.Directory, r *Record) (detail string, err error)
	// Change is what listeners are told besides the new snapshot.
	Change func(id delegation.ID) DirChange
}

// EditPassword replaces a user's password hash; sessions logged in with
// the old one are told (DirChange.PasswordChanged) so they can be ended.
func EditPassword(hash string) Edit {
	return Edit{
		Action: "password_set",
		Apply: func(_ *delegation.Directory, r *Record) (string, error) {
			if r.Kind != delegation.KindUser {
				return "", errorf(ErrInvalid, "%s is a %s: only users have passwords", r.Address, kindName(r.Kind))
			}
			r.PasswordHash = hash
			return "", nil
		},
		Change: func(id delegation.ID) DirChange { return DirChange{PasswordChanged: []delegation.ID{id}} },
	}
}

// mailboxEdit is an edit of a mailbox's settings: set changes r and
// returns the audit detail; a group, which has no mailbox, is refused.
func mailboxEdit(action string, set func(r *Record) string) Edit {
	return Edit{Action: action, Apply: func(_ *delegation.Directory, r *Record) (string, error) {
		if r.Kind == delegation.KindGroup {
			return "", errorf(ErrInvalid, "%s is a group, not a mailbox", r.Address)
		}
		return set(r), nil
	}}
}

// EditSettings changes mailbox settings; nil fields are left alone.
func EditSettings(copySentAs, copySentOnBehalf *bool) Edit {
	return mailboxEdit("mailbox_set", func(r *Record) string {
		if copySentAs != nil {
			r.Settings.CopySentAs = *copySentAs
		}
		if copySentOnBehalf != nil {
			r.Settings.CopySentOnBehalf = *copySentOnBehalf
		}
		return fmt.Sprintf("copy_sent_as %t, copy_sent_on_behalf %t", r.Settings.CopySentAs, r.Settings.CopySentOnBehalf)
	})
}

// EditDelegatesSeePrivate sets whether delegates see the mailbox's
// CLASS:PRIVATE calendar items in full.
func EditDelegatesSeePrivate(on bool) Edit {
	return mailboxEdit("mailbox_set", func(r *Record) string {
		r.Settings.DelegatesSeePrivate = on
		return fmt.Sprintf("delegates_see_private %t", on)
	})
}

// EditQuota sets a mailbox's quota in bytes (0: none).
func EditQuota(quota uint64) Edit {
	return mailboxEdit("quota_set", func(r *Record) string {
		r.Settings.Quota = quota
		return fmt.Sprintf("quota %d bytes", quota)
	})
}

// EditRename gives a principal a new primary address in its tenant. The
// old one stays as an alias; grants are keyed by ID and so are all kept.
func EditRename(newAddr string) Edit {
	return Edit{Action: "rename", Apply: func(d *delegation.Directory, r *Record) (string, error) {
		na, err := delegation.NormalizeAddress(newAddr)
		if err != nil {
			return "", &Error{Kind: ErrInvalid, Msg: err.Error()}
		}
		if delegation.Domain(na) != r.Tenant {
			return "", errorf(ErrInvalid, "%s is not in tenant %s: a principal keeps its tenant", na, r.Tenant)
		}
		if p, ok := d.Lookup(na); ok && p.ID != r.ID {
			return "", errorf(ErrExists, "address %s is already used by %s %s", na, p.Kind, p.Address)
		}
		old := r.Address
		if na == old {
			return "unchanged", nil
		}
		r.Aliases = slices.DeleteFunc(r.Aliases, func(a string) bool { return a == na })
		r.Aliases = append(r.Aliases, r.Address)
		r.Address = na
		return "from " + old, nil
	}}
}

// EditAddAlias gives a principal another address in its tenant.
func EditAddAlias(alias string) Edit {
	return Edit{Action: "alias_add", Apply: func(d *delegation.Directory, r *Record) (string, error) {
		al, err := delegation.NormalizeAddress(alias)
		if err != nil {
			return "", &Error{Kind: ErrInvalid, Msg: err.Error()}
		}
		if delegation.Domain(al) != r.Tenant {
			return "", errorf(ErrInvalid, "alias %s is not in tenant %s", al, r.Tenant)
		}
		if p, ok := d.Lookup(al); ok {
			return "", errorf(ErrExists, "address %s is already used by %s %s", al, p.Kind, p.Address)
		}
		r.Aliases = append(r.Aliases, al)
		return "alias " + al, nil
	}}
}

// EditRemoveAlias removes an alias (never a primary address). The store
// finds the principal by the alias itself.
func EditRemoveAlias(alias string) Edit {
	return Edit{Action: "alias_remove", Apply: func(_ *delegation.Directory, r *Record) (string, error) {
		al, _ := delegation.NormalizeAddress(alias)
		if al == r.Address {
			return "", errorf(ErrInvalid, "%s is the primary address of %s, not an alias", al, kindName(r.Kind))
		}
		r.Aliases = slices.DeleteFunc(r.Aliases, func(a string) bool { return a == al })
		return "alias " + al, nil
	}}
}

// EditAddMember adds a user or group of the same tenant to a group. A
// change that would make a group contain itself is refused.
func EditAddMember(memberAddr string) Edit {
	return Edit{Action: "member_add", Apply: func(d *delegation.Directory, r *Record) (string, error) {
		if r.Kind != delegation.KindGroup {
			return "", errorf(ErrInvalid, "%s is a %s, not a group", r.Address, kindName(r.Kind))
		}
		m, err := resolve(d, memberAddr)
		if err != nil {
			return "", err
		}
		if m.Tenant != r.Tenant {
			return "", errorf(ErrInvalid, "%s and %s are in different tenants: a group's members must be in its tenant", m.Address, r.Address)
		}
		if m.Kind == delegation.KindShared {
			return "", errorf(ErrInvalid, "%s is a shared mailbox: group members are users or groups", m.Address)
		}
		if m.ID == r.ID || d.Contains(m.ID, r.ID) {
			return "", errorf(ErrInvalid, "adding %s to %s would make a group cycle", m.Address, r.Address)
		}
		if slices.Contains(r.Members, m.ID) {
			return "", errorf(ErrExists, "%s is already a member of %s", m.Address, r.Address)
		}
		r.Members = append(r.Members, m.ID)
		return "member " + m.Address, nil
	}}
}

// EditRemoveMember removes a direct member from a group.
func EditRemoveMember(memberAddr string) Edit {
	return Edit{Action: "member_remove", Apply: func(d *delegation.Directory, r *Record) (string, error) {
		if r.Kind != delegation.KindGroup {
			return "", errorf(ErrInvalid, "%s is a %s, not a group", r.Address, kindName(r.Kind))
		}
		m, err := resolve(d, memberAddr)
		if err != nil {
			return "", err
		}
		if !slices.Contains(r.Members, m.ID) {
			return "", errorf(ErrNotFound, "%s is not a member of %s", m.Address, r.Address)
		}
		r.Members = slices.DeleteFunc(r.Members, func(id delegation.ID) bool { return id == m.ID })
		return "member " + m.Address, nil
	}}
}

// RemovalDetail is the audit detail of removing p, whose grants (to or on
// it) go with it.
func RemovalDetail(p *delegation.Principal, grants []string) string {
	detail := kindName(p.Kind)
	if len(grants) > 0 {
		detail += "; its grants removed: " + strings.Join(grants, ", ")
	}
	return detail
}
