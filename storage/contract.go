package storage

import (
	"time"

	"github.com/mailgate/mailgate/delegation"
)

// DirectoryStore is the directory part of the storage contract: what
// every backend (Badger here, PostgreSQL in storage/postgres) does the
// same way, and what storage/storagetest checks on each. It grows as the
// callers (smtp, imap, admin, cmd) move from *Store to the contract.
type DirectoryStore interface {
	// Directory is the current snapshot: immutable, cheap, asked for on
	// every decision. A change made through any handle on the same
	// database (on another node too) is in it soon after its commit.
	Directory() *delegation.Directory
	// OnDirectoryChange registers fn, called after each change once the
	// new snapshot is in place (changes from other nodes included).
	OnDirectoryChange(fn func(DirChange))
	AddTenant(domain string, propagation time.Duration) (delegation.Tenant, error)
	SetPropagation(domain string, propagation time.Duration) (delegation.Tenant, error)
	AddPrincipal(np NewPrincipal) (Principal, error)
	// RemovePrincipal removes a principal with every grant to or on it
	// and its group memberships (DirChange.Removed).
	RemovePrincipal(addr string) (Principal, error)
	Principal(id delegation.ID) (Principal, error)
	// Principals lists all principals, or one tenant's, by address.
	Principals(tenant string) ([]Principal, error)
	// The edits of edits.go, one policy for every store.
	SetPassword(addr, hash string) (Principal, error)
	SetSettings(addr string, copySentAs, copySentOnBehalf *bool) (Principal, error)
	SetQuota(addr string, quota uint64) (Principal, error)
	Rename(oldAddr, newAddr string) (Principal, error)
	AddAlias(addr, alias string) (Principal, error)
	RemoveAlias(alias string) (Principal, error)
	AddMember(groupAddr, memberAddr string) (Principal, error)
	RemoveMember(groupAddr, memberAddr string) (Principal, error)
	// AddGrant applies delegation.Directory.NewGrant's policy.
	AddGrant(mailboxAddr, trusteeAddr string, right delegation.Right, immediate bool, createdBy string) (delegation.Grant, error)
	RemoveGrantBy(mailboxAddr, trusteeAddr string, right delegation.Right, by string) (delegation.Grant, error)
	Grants(mailboxAddr, trusteeAddr string) ([]delegation.Grant, error)
	// AuditList gives the records of the changes above (each written in
	// the change's own commit) and of Audit.
	AuditList(f AuditFilter) ([]AuditRecord, error)
	Audit(recs ...AuditRecord) error
	Close() error
}

var _ DirectoryStore = (*Store)(nil)

// Errorf makes an error of one of the kinds above (ErrNotFound, ErrExists,
// ErrInvalid, ...), for backends outside this package.
func Errorf(kind error, format string, a ...any) error { return errorf(kind, format, a...) }

// Resolve finds the principal using addr (primary or alias) in d:
// ErrInvalid for a malformed address, ErrNotFound for an unused one.
func Resolve(d *delegation.Directory, addr string) (*delegation.Principal, error) {
	return resolve(d, addr)
}

// NormalizeDomain checks a tenant domain (see normalizeDomain).
func NormalizeDomain(domain string) (string, error) { return normalizeDomain(domain) }

// KindName is a principal kind in words: user, shared mailbox, group.
func KindName(k delegation.Kind) string { return kindName(k) }

// GrantRefusal gives a refusal of delegation's grant policy its storage
// kind (ErrInvalid, or ErrExists for a right held already).
func GrantRefusal(err error) error { return grantError(err) }

// PrincipalAuditAction is the audit action of creating a principal of
// kind k: user_add, shared_mailbox_add, group_add.
func PrincipalAuditAction(k delegation.Kind) string { return principalAddAction(k) }
