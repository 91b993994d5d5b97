package storage

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
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

var auditSeq atomic.Uint64

func auditKey(t time.Time) []byte {
	return fmt.Appendf(append([]byte(nil), prefAudit...), "%016x/%016x", uint64(t.UnixNano()), auditSeq.Add(1))
}

// Audit appends records to the audit log (durably).
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
