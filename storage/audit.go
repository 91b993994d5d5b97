package storage

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// AuditRecord is one delegated action or refusal. Addresses are recorded as
// they were at the time (a later rename does not rewrite history); IDs make
// records joinable across renames.
type AuditRecord struct {
	Time      time.Time   `json:"time"`
	Proto     string      `json:"proto"`            // smtp, imap
	Action    string      `json:"action"`           // send, folder_bind, delete, expunge, move, ...
	Actor     string      `json:"actor"`            // address of the authenticated user
	ActorID   string      `json:"actor_id"`         //
	Mailbox   string      `json:"mailbox"`          // address of the owner
	MailboxID string      `json:"mailbox_id"`       //
	Right     string      `json:"right,omitempty"`  // send-as, send-on-behalf, full-access
	Decision  AuditResult `json:"decision"`         // allowed or refused
	Reason    string      `json:"reason,omitempty"` // delegation.Reason
	GrantID   string      `json:"grant,omitempty"`
	MessageID string      `json:"message_id,omitempty"`
	Folder    string      `json:"folder,omitempty"`
	Remote    string      `json:"remote,omitempty"`
	Detail    string      `json:"detail,omitempty"`
}

// AuditResult is an audit record's outcome.
type AuditResult string

const (
	AuditAllowed AuditResult = "allowed"
	AuditRefused AuditResult = "refused"
)

// ResultOf is the outcome of a decision.
func ResultOf(allowed bool) AuditResult {
	if allowed {
		return AuditAllowed
	}
	return AuditRefused
}

// Party is whom an audit record names as actor or mailbox: an address as
// it was at the time, and the principal's ID when there is one (an
// administrator or an unknown address has none).
type Party struct {
	Address string
	ID      delegation.ID
}

// PartyOf is how an audit record names p.
func PartyOf(p *delegation.Principal) Party { return Party{Address: p.Address, ID: p.ID} }

// NewAuditRecord is the one builder of audit records: actor's action on
// mailbox's, as the delegation engine decided it (dc). The right is the
// one used when allowed and the one missing when refused (the pending
// grant's when that is all there is); a right held through a group names
// the group. Callers add what only they know (Folder, MessageID, Remote,
// Detail; Time, when their clock is not the store's, which stamps records
// at their write) and hand the record to the write that does the action, so that
// both commit together, or to Audit when the record is all there is (a
// refusal, a login).
// d (may be nil) names a group the right was held through.
func NewAuditRecord(d *delegation.Directory, proto, action string, actor, mailbox Party, dc delegation.Decision) AuditRecord {
	rec := AuditRecord{
		Proto: proto, Action: action,
		Actor: actor.Address, ActorID: string(actor.ID), Mailbox: mailbox.Address, MailboxID: string(mailbox.ID),
		Decision: ResultOf(dc.Allowed), Reason: string(dc.Reason), GrantID: dc.GrantID, Right: dc.Right.Flags(),
	}
	if !dc.Allowed && dc.Missing != 0 {
		rec.Right = dc.Missing.Flags()
	}
	if dc.Via != "" {
		rec.Detail = "via group " + string(dc.Via)
		if d != nil {
			if g, ok := d.Principal(dc.Via); ok {
				rec.Detail = "via group " + g.Address
			}
		}
	}
	return rec
}

// Outcome is what a mailstore write did, for its audit records.
type Outcome struct {
	UIDs    []uint32 // the messages acted on: appended, expunged, copied or moved (at the source)
	DstUIDs []uint32 // copy, move: the copies' UIDs, in the order of UIDs; nil when the operation spans transactions
}

// AuditFunc builds a mailstore write's audit records from its outcome.
// The write calls it inside its transaction and commits the records with
// the change, so no action is done without its record nor recorded
// without being done. An operation of several transactions (more than
// batchSize messages) records itself in the first, the one that also
// writes its intent: from then on it is certain to complete. nil records
// nothing.
type AuditFunc func(Outcome) []AuditRecord

// auditWith writes audit's records of o in txn.
func (s *Store) auditWith(txn *badger.Txn, audit AuditFunc, o Outcome) error {
	if audit == nil {
		return nil
	}
	return auditTxn(txn, s.now(), audit(o))
}

var auditSeq atomic.Uint64

func auditKey(t time.Time) []byte {
	return fmt.Appendf(append([]byte(nil), prefAudit...), "%016x/%016x", uint64(t.UnixNano()), auditSeq.Add(1))
}

// Audit appends records that go with no other write (a refusal, a
// login) to the audit log, durably.
func (s *Store) Audit(recs ...AuditRecord) error {
	return s.update(func(txn *badger.Txn) error { return auditTxn(txn, s.now(), recs) })
}

func auditTxn(txn *badger.Txn, now time.Time, recs []AuditRecord) error {
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = now.UTC()
		}
		if err := setJSON(txn, auditKey(r.Time), r); err != nil {
			return err
		}
	}
	return nil
}

// AuditFilter selects audit records; zero fields match everything.
type AuditFilter struct {
	MailboxID string
	ActorID   string
	Action    string      // e.g. "send", "folder_bind", "login"
	Decision  AuditResult // AuditAllowed or AuditRefused; "" is either
	Since     time.Time   // records at or after
	Until     time.Time   // records before
	Limit     int         // 0 means no limit; the newest are kept
}

func (f AuditFilter) match(r *AuditRecord) bool {
	return (f.MailboxID == "" || r.MailboxID == f.MailboxID) && (f.ActorID == "" || r.ActorID == f.ActorID) &&
		(f.Action == "" || r.Action == f.Action) && (f.Decision == "" || r.Decision == f.Decision)
}

// AuditList returns matching records, oldest first.
func (s *Store) AuditList(f AuditFilter) ([]AuditRecord, error) {
	var out []AuditRecord
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefAudit})
		defer it.Close()
		start := prefAudit
		if !f.Since.IsZero() {
			start = fmt.Appendf(append([]byte(nil), prefAudit...), "%016x", uint64(f.Since.UnixNano()))
		}
		var end []byte
		if !f.Until.IsZero() {
			end = fmt.Appendf(append([]byte(nil), prefAudit...), "%016x", uint64(f.Until.UnixNano()))
		}
		for it.Seek(start); it.Valid(); it.Next() {
			if end != nil && bytes.Compare(it.Item().Key(), end) >= 0 {
				break
			}
			var r AuditRecord
			if err := it.Item().Value(func(v []byte) error { return unmarshal(v, &r) }); err != nil {
				return err
			}
			if f.match(&r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, err
}
