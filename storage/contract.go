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
	// PasswordHash is a user's stored hash ("" for none), for storage/auth.
	PasswordHash(id delegation.ID) (string, error)
	// The edits of edits.go, one policy for every store.
	SetPassword(addr, hash string) (Principal, error)
	SetSettings(addr string, copySentAs, copySentOnBehalf *bool) (Principal, error)
	SetQuota(addr string, quota uint64) (Principal, error)
	SetDelegatesSeePrivate(addr string, on bool) (Principal, error)
	Rename(oldAddr, newAddr string) (Principal, error)
	AddAlias(addr, alias string) (Principal, error)
	RemoveAlias(alias string) (Principal, error)
	AddMember(groupAddr, memberAddr string) (Principal, error)
	RemoveMember(groupAddr, memberAddr string) (Principal, error)
	// AddGrant applies delegation.Directory.NewGrant's policy; a
	// time-boxed grant's end (Until) is kept with it.
	AddGrant(ng NewGrant) (delegation.Grant, error)
	RemoveGrantBy(mailboxAddr, trusteeAddr string, right delegation.Right, by string) (delegation.Grant, error)
	Grants(mailboxAddr, trusteeAddr string) ([]delegation.Grant, error)
	// ApplyBatch applies a whole batch of additions (PlanBatch's checks
	// and plan) in one commit with one directory rebuild and one notice,
	// or nothing: a bad batch gives a *BatchError naming every bad record.
	ApplyBatch(b Batch) (BatchResult, error)
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

// GrantRefusal gives a refusal of delegation's grant policy its storage
// kind (ErrInvalid, or ErrExists for a right held already).
func GrantRefusal(err error) error { return grantError(err) }

// PrincipalAuditAction is the audit action of creating a principal of
// kind k: user_add, shared_mailbox_add, group_add.
func PrincipalAuditAction(k delegation.Kind) string { return principalAddAction(k) }

// Mailstore is the mail part of the storage contract: folders, messages
// and their bodies, flags and mod-sequences, the relay queue that
// Deliver fills, and change notices. Every backend keeps these promises
// (storage/storagetest checks them):
//
//   - A write returns nil only once it is durable (fsynced, or committed
//     with synchronous_commit on); Deliver's copies, queue entries, audit
//     records and settled entry commit together, and so does an
//     AuditFunc's record with its write.
//   - UIDs are strictly increasing per folder, never reused while its
//     UIDVALIDITY stands; a folder's UIDVALIDITY never changes (RENAME
//     keeps it) and a folder's ID is never reused.
//   - Each change to a folder's messages takes the folder's next
//     mod-sequence; HighestModSeq is the latest; an expunge leaves a
//     tombstone that Vanished reports.
//   - A body is stored once however many copies refer to it, with a
//     reference count (BlobRefs); the last reference gone, it is removed.
//   - OnChange listeners hear every change to a folder in commit order,
//     on every node, the changes of other nodes with NoOrigin.
//   - MOVE, COPY and EXPUNGE of any number of messages are atomic: after
//     a crash the messages are in the source or the target, never both or
//     neither.
type Mailstore interface {
	OnChange(fn func(Change))
	EnsureDefaultFolders(owner delegation.ID) error
	Folders(owner delegation.ID) ([]Folder, error)
	Folder(owner delegation.ID, name string) (Folder, error)
	FolderByID(id uint64) (Folder, error)
	CreateFolder(owner delegation.ID, name, specialUse string, audit AuditFunc) (Folder, error)
	DeleteFolder(owner delegation.ID, name string, audit AuditFunc) (Folder, error)
	RenameFolder(owner delegation.ID, oldName, newName string, audit AuditFunc) error
	Subscriptions(owner delegation.ID) ([]string, error)
	Subscribe(owner delegation.ID, name string) error
	Unsubscribe(owner delegation.ID, name string) error

	Deliver(d Delivery) ([]Placed, error)
	Append(owner delegation.ID, folder string, msg []byte, flags []string, date time.Time, origin Origin) (Placed, error)
	AppendAll(owner delegation.ID, folder string, msgs []AppendMessage, origin Origin, audit AuditFunc) ([]Placed, error)
	Messages(folderID uint64, from, to uint32) ([]Message, error)
	Snapshot(folderID uint64, fn func(Folder, []Message)) error
	Body(blob uint64) ([]byte, error)
	Header(blob uint64) ([]byte, error)
	Headers(blobs []uint64, fn func(i int, hdr []byte)) error
	BlobRefs(blob uint64) (uint64, error)
	StoreFlags(folderID uint64, uids []uint32, op FlagOp, flags []string, origin Origin) ([]Message, error)
	StoreFlagsIf(folderID uint64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64, origin Origin) (updated []Message, modified []uint32, err error)
	Expunge(folderID uint64, uids []uint32, origin Origin, audit AuditFunc) ([]uint32, error)
	Copy(srcID uint64, uids []uint32, dstID uint64, origin Origin, audit AuditFunc) (CopyResult, error)
	Move(srcID uint64, uids []uint32, dstID uint64, origin Origin, audit AuditFunc) (CopyResult, error)
	Vanished(folderID uint64, since uint64) ([]uint32, error)
	Usage(owner delegation.ID) (used, quota uint64, err error)
	CheckQuota(owner delegation.ID, size uint64) error

	QueueList() ([]QueueEntry, error)
	QueueDue(now time.Time, limit int) (due []QueueEntry, next time.Time, err error)
	// QueueClaim is QueueDue for a relay worker: the entries it returns are
	// leased (their next attempt moved to now+lease in the same commit),
	// so no other worker, on any node, takes one while it is delivered.
	QueueClaim(now time.Time, limit int, lease time.Duration) (claimed []QueueEntry, next time.Time, err error)
	QueueStats() (n int, oldest time.Time, err error)
	QueueRetry(e QueueEntry) error
	QueueDone(id uint64) error
}

var _ Mailstore = (*Store)(nil)

// Backend is the whole contract: what smtp, imap and admin will take
// instead of *Store.
type Backend interface {
	DirectoryStore
	Mailstore
	Calendars
	// Now is the store's clock (its records' times, grants' effective
	// times).
	Now() time.Time
}

var _ Backend = (*Store)(nil)
