package storage

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Relay queue layout:
//
//	queue/<id:16x> → QueueEntry (JSON)
//
// An entry is written by Deliver in the same transaction as the message's
// blob (each entry holds one reference to it), so a message acknowledged
// with 250 is either delivered locally or queued, durably. The relay worker
// (smtp) reads due entries, and after each attempt either reschedules an
// entry (QueueRetry) or removes it and drops its blob reference (QueueDone).
var prefQueue = []byte("queue/")

// QueueEntry is one message waiting for the relay (smarthost), for one or
// more recipients of other domains.
type QueueEntry struct {
	ID          uint64    `json:"id"`
	Blob        uint64    `json:"blob"` // set by Deliver
	From        string    `json:"from"` // envelope sender, "" for a bounce
	To          []string  `json:"to"`   // recipients still to deliver
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	// MessageID and Actor are for logs and DSNs only.
	MessageID string `json:"message_id,omitempty"`
	Actor     string `json:"actor,omitempty"`
}

// putQueueTxn writes a new entry. Its ID is derived from the blob (unique
// and allocated in the same transaction), not from a shared counter: a
// counter read and written by every delivery would make concurrent
// deliveries conflict and retry, which defeats group commit.
// now is the store's clock, for an entry that does not say when it was
// created.
func putQueueTxn(txn *badger.Txn, e *QueueEntry, now time.Time) error {
	if e.ID == 0 {
		e.ID = e.Blob << 8
		for {
			_, err := txn.Get(queueKey(e.ID))
			if errors.Is(err, badger.ErrKeyNotFound) {
				break
			}
			if err != nil {
				return err
			}
			e.ID++
		}
	}
	if e.Created.IsZero() {
		e.Created = now.UTC()
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.Created
	}
	return setJSON(txn, queueKey(e.ID), e)
}

func queueKey(id uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefQueue...), "%016x", id)
}

// QueueList returns every queue entry, the next due first.
func (s *Store) QueueList() ([]QueueEntry, error) {
	var out []QueueEntry
	err := s.view(func(txn *badger.Txn) error {
		return scan(txn, prefQueue, func(_, v []byte) error {
			var e QueueEntry
			if err := unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b QueueEntry) int { return a.NextAttempt.Compare(b.NextAttempt) })
	return out, err
}

// QueueDue returns up to limit entries whose next attempt is at or before
// now, the longest waiting first, and the time of the earliest later attempt
// (zero when there is none).
func (s *Store) QueueDue(now time.Time, limit int) (due []QueueEntry, next time.Time, err error) {
	all, err := s.QueueList()
	if err != nil {
		return nil, time.Time{}, err
	}
	due, next = DueIn(all, now, limit)
	return due, next, nil
}

// DueIn picks QueueDue's answer from a queue listed the next due first
// (limit <= 0: all due entries).
func DueIn(all []QueueEntry, now time.Time, limit int) (due []QueueEntry, next time.Time) {
	for _, e := range all {
		if e.NextAttempt.After(now) {
			if next.IsZero() || e.NextAttempt.Before(next) {
				next = e.NextAttempt
			}
			continue
		}
		if limit <= 0 || len(due) < limit {
			due = append(due, e)
		}
	}
	return due, next
}

// QueueStats reports the number of entries and the creation time of the
// oldest (zero when the queue is empty).
func (s *Store) QueueStats() (n int, oldest time.Time, err error) {
	all, err := s.QueueList()
	return len(all), OldestIn(all), err
}

// OldestIn is the creation time of the oldest entry (zero for none).
func OldestIn(all []QueueEntry) time.Time {
	var oldest time.Time
	for _, e := range all {
		if oldest.IsZero() || e.Created.Before(oldest) {
			oldest = e.Created
		}
	}
	return oldest
}

// QueueRetry rewrites an existing entry after a failed or partial attempt
// (fewer recipients, later NextAttempt, LastError), or removes it when no
// recipient is left. It fails with ErrNotFound when the entry is gone.
func (s *Store) QueueRetry(e QueueEntry) error {
	return s.update(func(txn *badger.Txn) error { return queueSettleTxn(txn, e) })
}

// QueueDone removes an entry and drops its reference to the message blob.
// Removing an entry that is already gone is not an error.
func (s *Store) QueueDone(id uint64) error {
	return s.update(func(txn *badger.Txn) error { return queueDoneTxn(txn, id) })
}

// queueSettleTxn is QueueRetry inside a transaction.
func queueSettleTxn(txn *badger.Txn, e QueueEntry) error {
	if len(e.To) == 0 {
		return queueDoneTxn(txn, e.ID)
	}
	if _, err := txn.Get(queueKey(e.ID)); err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return errorf(ErrNotFound, "no queue entry %d", e.ID)
		}
		return err
	}
	return setJSON(txn, queueKey(e.ID), e)
}

func queueDoneTxn(txn *badger.Txn, id uint64) error {
	var e QueueEntry
	switch err := getJSON(txn, queueKey(id), &e); {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	if err := txn.Delete(queueKey(id)); err != nil {
		return err
	}
	return unrefBlobTxn(txn, e.Blob)
}

// QueueClaim takes up to limit due entries for the relay worker, the
// longest waiting first, and moves each one's next attempt to now+lease in
// the same commit, so that it is not taken again while it is being
// delivered; if the process dies mid-delivery, the entry is due again
// when the lease ends. next is the earliest attempt after now left in the
// queue (zero when none).
func (s *Store) QueueClaim(now time.Time, limit int, lease time.Duration) (claimed []QueueEntry, next time.Time, err error) {
	all, err := s.QueueList()
	if err != nil {
		return nil, time.Time{}, err
	}
	due, next := DueIn(all, now, limit)
	if len(due) == 0 {
		return nil, next, nil
	}
	until := now.Add(lease).UTC()
	err = s.update(func(txn *badger.Txn) error {
		claimed = claimed[:0]
		for _, e := range due {
			var cur QueueEntry
			switch err := getJSON(txn, queueKey(e.ID), &cur); {
			case errors.Is(err, ErrNotFound):
				continue // settled meanwhile
			case err != nil:
				return err
			}
			if cur.NextAttempt.After(now) {
				continue // claimed or rescheduled meanwhile
			}
			cur.NextAttempt = until
			if err := setJSON(txn, queueKey(cur.ID), cur); err != nil {
				return err
			}
			claimed = append(claimed, cur)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(claimed) > 0 && (next.IsZero() || until.Before(next)) {
		next = until // the claimed entries are due again when their lease ends
	}
	return claimed, next, nil
}
