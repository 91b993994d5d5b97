package storage

import (
	"errors"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	st, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	var ids []uint64
	for i, at := range []time.Time{t0.Add(time.Minute), t0} {
		_, err := st.Deliver(Delivery{Message: []byte("Subject: q\r\n\r\nbody\r\n"),
			Queue: []QueueEntry{{From: "a@x.test", To: []string{"b@y.test"}, Created: t0, NextAttempt: at, MessageID: string(rune('a' + i))}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.QueueList()
	if err != nil || len(all) != 2 || all[0].MessageID != "b" || all[0].ID == 0 || all[0].ID == all[1].ID {
		t.Fatalf("QueueList = %+v, %v; want two entries, the earlier due first", all, err)
	}
	for _, e := range all {
		ids = append(ids, e.ID)
	}
	due, next, err := st.QueueDue(t0, 10)
	if err != nil || len(due) != 1 || due[0].MessageID != "b" || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("QueueDue(t0) = %+v, next %v, %v", due, next, err)
	}
	if n, oldest, err := st.QueueStats(); n != 2 || !oldest.Equal(t0) || err != nil {
		t.Errorf("QueueStats = %d, %v, %v", n, oldest, err)
	}
	e := due[0]
	e.Attempts, e.NextAttempt, e.LastError = 1, t0.Add(time.Hour), "451 later"
	if err := st.QueueRetry(e); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := st.QueueDue(t0.Add(2*time.Minute), 10); len(due) != 1 || due[0].MessageID != "a" {
		t.Errorf("after retry, due = %+v", due)
	}
	for _, id := range ids {
		if err := st.QueueDone(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Body(e.Blob); !errors.Is(err, ErrNotFound) {
		t.Errorf("blob of a finished queue-only message still there: %v", err)
	}
	if err := st.QueueDone(ids[0]); err != nil {
		t.Errorf("QueueDone twice: %v", err)
	}
	if err := st.QueueRetry(e); !errors.Is(err, ErrNotFound) {
		t.Errorf("QueueRetry of a removed entry = %v, want ErrNotFound", err)
	}
}

// A DSN's Deliver settles its queue entry in the same commit: removed when
// no recipient is left (dropping the blob reference), rewritten otherwise.
func TestDeliverSettlesQueueEntry(t *testing.T) {
	st, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for range 2 {
		if _, err := st.Deliver(Delivery{Message: []byte("Subject: q\r\n\r\nbody\r\n"),
			Queue: []QueueEntry{{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}, Created: t0, NextAttempt: t0}}}); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := st.QueueList()
	if len(all) != 2 {
		t.Fatalf("queue has %d entries, want 2", len(all))
	}
	done, partial := all[0], all[1]
	done.To = nil
	partial.To, partial.Attempts = []string{"c@y.test"}, 1
	for _, settle := range []QueueEntry{done, partial} {
		dsn := Delivery{Message: []byte("Subject: dsn\r\n\r\nreport\r\n"), Settle: &settle,
			Queue: []QueueEntry{{From: "", To: []string{"a@x.test"}, Created: t0, NextAttempt: t0}}}
		if _, err := st.Deliver(dsn); err != nil {
			t.Fatal(err)
		}
	}
	all, _ = st.QueueList()
	var got []string
	for _, e := range all {
		got = append(got, e.From+">"+e.To[0])
		if e.ID == done.ID {
			t.Errorf("settled entry %d still queued", e.ID)
		}
		if e.ID == partial.ID && (len(e.To) != 1 || e.Attempts != 1) {
			t.Errorf("partially settled entry = %+v", e)
		}
	}
	if len(all) != 3 { // the partial entry and two DSNs
		t.Errorf("queue after settling = %v, want the partial entry and two DSNs", got)
	}
	if n, _ := st.BlobRefs(done.Blob); n != 0 {
		t.Errorf("settled entry's blob still has %d references", n)
	}
	if n, _ := st.BlobRefs(partial.Blob); n != 1 {
		t.Errorf("partial entry's blob has %d references, want 1", n)
	}
}

// TestQueueCreatedByStoreClock: an entry queued without a creation time
// gets the store's clock, not the machine's (and is due at once).
func TestQueueCreatedByStoreClock(t *testing.T) {
	t0 := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	st, err := Open("", Options{InMemory: true, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Deliver(Delivery{Message: []byte("Subject: q\r\n\r\nbody\r\n"),
		Queue: []QueueEntry{{From: "a@x.test", To: []string{"b@y.test"}}}}); err != nil {
		t.Fatal(err)
	}
	all, err := st.QueueList()
	if err != nil || len(all) != 1 || !all[0].Created.Equal(t0) || !all[0].NextAttempt.Equal(t0) {
		t.Fatalf("QueueList = %+v, %v; want one entry created and due at %v", all, err, t0)
	}
}
