package storage

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

var (
	prefQueue    = []byte("queue/") // queue/<id:16x> → QueueEntry
	keyNextQueue = []byte("meta/next-queue")
)

// QueueEntry is one message waiting for the relay (smarthost), for one or
// more recipients of other domains.
type QueueEntry struct {
	ID          uint64    `json:"id"`
	Blob        uint64    `json:"blob"` // set by Deliver
	From        string    `json:"from"` // envelope sender, "" for a bounce
	To          []string  `json:"to"`
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
}

func putQueueTxn(txn *badger.Txn, e *QueueEntry) error {
	if e.ID == 0 {
		n, err := next(txn, keyNextQueue)
		if err != nil {
			return err
		}
		e.ID = n
	}
	return setJSON(txn, queueKey(e.ID), e)
}

func queueKey(id uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefQueue...), "%016x", id)
}
