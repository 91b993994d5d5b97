package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func queueMsg(subject string) []byte { return []byte("Subject: " + subject + "\r\n\r\nbody\r\n") }

func queueList(t *testing.T, st storage.Backend) []storage.QueueEntry {
	t.Helper()
	all, err := st.QueueList()
	if err != nil {
		t.Fatalf("QueueList: %v", err)
	}
	return all
}

// queue: Deliver's queue entries are listed the next due first, QueueDue
// gives the due ones, the longest waiting first, up to a limit, and the
// next attempt's time; QueueStats counts them; QueueDone removes an entry
// and drops its body reference, and is idempotent.
func queue(t *testing.T, st storage.Backend) {
	seedMail(t, st)
	if n, oldest, err := st.QueueStats(); err != nil || n != 0 || !oldest.IsZero() {
		t.Errorf("QueueStats of an empty queue = %d, %v, %v", n, oldest, err)
	}
	if due, next, err := st.QueueDue(t0, 10); err != nil || len(due) != 0 || !next.IsZero() {
		t.Errorf("QueueDue of an empty queue = %+v, %v, %v", due, next, err)
	}
	// c is due last, a at t0+1m, b at t0; b was created first.
	for _, e := range []storage.QueueEntry{
		{From: "a@example.test", To: []string{"x@remote.test"}, Created: t0.Add(-time.Minute), NextAttempt: t0.Add(time.Minute), MessageID: "a"},
		{From: "b@example.test", To: []string{"y@remote.test", "z@remote.test"}, Created: t0.Add(-time.Hour), NextAttempt: t0, MessageID: "b", Actor: "bob@example.test"},
		{From: "", To: []string{"w@remote.test"}, Created: t0, NextAttempt: t0.Add(time.Hour), MessageID: "c"},
	} {
		placed, err := st.Deliver(storage.Delivery{Message: queueMsg(e.MessageID), Queue: []storage.QueueEntry{e}})
		if err != nil || len(placed) != 0 {
			t.Fatalf("Deliver of a queue-only message = %+v, %v", placed, err)
		}
	}
	all := queueList(t, st)
	var order []string
	ids := map[uint64]bool{}
	for _, e := range all {
		order = append(order, e.MessageID)
		if e.ID == 0 || ids[e.ID] || e.Blob == 0 && e.MessageID != "" {
			t.Errorf("queue entry %+v: want a fresh ID and its blob", e)
		}
		ids[e.ID] = true
		if b, err := st.Body(e.Blob); err != nil || string(b) != string(queueMsg(e.MessageID)) {
			t.Errorf("body of queue entry %s = %q, %v", e.MessageID, b, err)
		}
		if n := refs(t, st, e.Blob); n != 1 {
			t.Errorf("queue-only message %s: %d references, want 1 (the queue's)", e.MessageID, n)
		}
	}
	if !slices.Equal(order, []string{"b", "a", "c"}) {
		t.Fatalf("QueueList order %q, want [b a c] (the next due first)", order)
	}
	if b := all[0]; b.From != "b@example.test" || !slices.Equal(b.To, []string{"y@remote.test", "z@remote.test"}) || !b.Created.Equal(t0.Add(-time.Hour)) ||
		!b.NextAttempt.Equal(t0) || b.Attempts != 0 || b.Actor != "bob@example.test" || b.LastError != "" {
		t.Errorf("queue entry b = %+v", b)
	}
	if c := all[2]; c.From != "" {
		t.Errorf("a bounce's entry has From %q", c.From)
	}
	due, next, err := st.QueueDue(t0, 10)
	if err != nil || len(due) != 1 || due[0].MessageID != "b" || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("QueueDue(t0) = %+v, next %v, %v; want b, next at t0+1m", due, next, err)
	}
	due, next, err = st.QueueDue(t0.Add(2*time.Hour), 10)
	if err != nil || len(due) != 3 || due[0].MessageID != "b" || due[1].MessageID != "a" || !next.IsZero() {
		t.Errorf("QueueDue(t0+2h) = %+v, next %v, %v; want b a c and no next", due, next, err)
	}
	due, _, err = st.QueueDue(t0.Add(2*time.Hour), 2)
	if err != nil || len(due) != 2 || due[0].MessageID != "b" || due[1].MessageID != "a" {
		t.Errorf("QueueDue(limit 2) = %+v, %v", due, err)
	}
	if due, next, _ := st.QueueDue(t0.Add(-time.Second), 10); len(due) != 0 || !next.Equal(t0) {
		t.Errorf("QueueDue before anything is due = %+v, next %v; want none, next at t0", due, next)
	}
	if n, oldest, err := st.QueueStats(); n != 3 || !oldest.Equal(t0.Add(-time.Hour)) || err != nil {
		t.Errorf("QueueStats = %d, %v, %v; want 3, oldest t0-1h", n, oldest, err)
	}

	b := all[0]
	if err := st.QueueDone(b.ID); err != nil {
		t.Fatal(err)
	}
	if n := refs(t, st, b.Blob); n != 0 {
		t.Errorf("after QueueDone: %d references to a queue-only body", n)
	}
	if _, err := st.Body(b.Blob); err == nil {
		t.Errorf("body of a finished queue-only message still there")
	}
	if err := st.QueueDone(b.ID); err != nil {
		t.Errorf("QueueDone twice: %v", err)
	}
	if err := st.QueueDone(b.ID + 12345); err != nil {
		t.Errorf("QueueDone of an ID never used: %v", err)
	}
	var left []string
	for _, e := range queueList(t, st) {
		left = append(left, e.MessageID)
	}
	if !slices.Equal(left, []string{"a", "c"}) {
		t.Errorf("queue after QueueDone(b) = %q, want [a c]", left)
	}
	if n, oldest, _ := st.QueueStats(); n != 2 || !oldest.Equal(t0.Add(-time.Minute)) {
		t.Errorf("QueueStats after QueueDone = %d, %v", n, oldest)
	}
	// An entry queued without times is created by the store's clock and
	// due at once.
	before := time.Now().Add(-time.Minute)
	if _, err := st.Deliver(storage.Delivery{Message: queueMsg("now"), Queue: []storage.QueueEntry{{From: "a@example.test", To: []string{"v@remote.test"}, MessageID: "now"}}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range queueList(t, st) {
		if e.MessageID == "now" && (e.Created.Before(before) || e.Created.After(time.Now().Add(time.Minute)) || !e.NextAttempt.Equal(e.Created)) {
			t.Errorf("entry queued without times = %+v; want created now and due at once", e)
		}
	}
}

// queueRetry: QueueRetry rewrites an entry (fewer recipients, a later
// attempt, the error), removes it when no recipient is left, and fails
// with ErrNotFound once it is gone.
func queueRetry(t *testing.T, st storage.Backend) {
	seedMail(t, st)
	for _, id := range []string{"one", "two"} {
		if _, err := st.Deliver(storage.Delivery{Message: queueMsg(id), Queue: []storage.QueueEntry{
			{From: "a@example.test", To: []string{"x@remote.test", "y@remote.test"}, Created: t0, NextAttempt: t0, MessageID: id}}}); err != nil {
			t.Fatal(err)
		}
	}
	all := queueList(t, st)
	if len(all) != 2 {
		t.Fatalf("%d entries, want 2", len(all))
	}
	e := all[0]
	e.To, e.Attempts, e.NextAttempt, e.LastError = []string{"y@remote.test"}, 1, t0.Add(time.Hour), "451 4.3.0 later"
	if err := st.QueueRetry(e); err != nil {
		t.Fatal(err)
	}
	var got storage.QueueEntry
	for _, x := range queueList(t, st) {
		if x.ID == e.ID {
			got = x
		}
	}
	if got.ID != e.ID || !slices.Equal(got.To, []string{"y@remote.test"}) || got.Attempts != 1 || !got.NextAttempt.Equal(t0.Add(time.Hour)) ||
		got.LastError != "451 4.3.0 later" || got.Blob != e.Blob || !got.Created.Equal(t0) || got.MessageID != e.MessageID {
		t.Errorf("entry after QueueRetry = %+v, want %+v", got, e)
	}
	if due, next, _ := st.QueueDue(t0.Add(time.Minute), 10); len(due) != 1 || due[0].ID == e.ID || !next.Equal(t0.Add(time.Hour)) {
		t.Errorf("QueueDue after the retry = %+v, next %v", due, next)
	}
	if n := refs(t, st, e.Blob); n != 1 {
		t.Errorf("retried entry's body: %d references, want 1", n)
	}
	// No recipient left: removed, with its body reference.
	e.To = nil
	if err := st.QueueRetry(e); err != nil {
		t.Fatalf("QueueRetry with no recipient left: %v", err)
	}
	if all := queueList(t, st); len(all) != 1 || all[0].ID == e.ID {
		t.Errorf("queue after QueueRetry with no recipient: %+v", all)
	}
	if n := refs(t, st, e.Blob); n != 0 {
		t.Errorf("removed entry's body: %d references, want 0", n)
	}
	e.To = []string{"y@remote.test"}
	err := st.QueueRetry(e)
	wantKind(t, "QueueRetry of a removed entry", err, storage.ErrNotFound)
	if all := queueList(t, st); len(all) != 1 {
		t.Errorf("QueueRetry of a removed entry brought it back: %+v", all)
	}
	other := queueList(t, st)[0]
	if err := st.QueueDone(other.ID); err != nil {
		t.Fatal(err)
	}
	other.LastError = "x"
	err = st.QueueRetry(other)
	wantKind(t, "QueueRetry after QueueDone", err, storage.ErrNotFound)
}

// queueWithTargets: a delivery with local copies and queue entries stores
// one body with a reference per copy and per entry (BlobRefs counts the
// messages and queue entries that refer to it), so the body outlives
// whichever of them goes last.
func queueWithTargets(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	one, err := st.Deliver(storage.Delivery{Message: queueMsg("one"), Targets: []storage.Target{{Owner: mb.alice, Folder: "Sent"}},
		Queue: []storage.QueueEntry{{From: "alice@example.test", To: []string{"x@remote.test", "y@remote.test"}, Created: t0, NextAttempt: t0}}})
	fatal(t, err)
	oneBlob := messages(t, st, one[0].FolderID)[0].Blob
	if n := refs(t, st, oneBlob); n != 2 {
		t.Errorf("one copy and one queue entry: %d references, want 2", n)
	}
	e := queueList(t, st)[0]
	if e.Blob != oneBlob {
		t.Fatalf("queue entry on blob %d, the copy on %d", e.Blob, oneBlob)
	}
	if err := st.QueueDone(e.ID); err != nil {
		t.Fatal(err)
	}
	if n := refs(t, st, oneBlob); n != 1 {
		t.Errorf("the entry done: %d references, want 1 (the copy)", n)
	}

	placed, err := st.Deliver(storage.Delivery{Message: queueMsg("mixed"),
		Targets: []storage.Target{{Owner: mb.alice, Folder: "Sent"}, {Owner: mb.bob}},
		Queue: []storage.QueueEntry{
			{From: "alice@example.test", To: []string{"x@remote.test"}, Created: t0, NextAttempt: t0},
			{From: "alice@example.test", To: []string{"y@other.test"}, Created: t0, NextAttempt: t0},
		}})
	fatal(t, err)
	if len(placed) != 2 {
		t.Fatalf("Deliver placed %+v", placed)
	}
	ms, err := st.Messages(placed[0].FolderID, placed[0].UID, placed[0].UID)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Messages of the copy in Sent = %+v, %v", ms, err)
	}
	blob := ms[0].Blob
	all := queueList(t, st)
	if len(all) != 2 || all[0].Blob != blob || all[1].Blob != blob || all[0].ID == all[1].ID {
		t.Fatalf("queue = %+v, want two entries on blob %d", all, blob)
	}
	if n := refs(t, st, blob); n != 4 {
		t.Errorf("two copies and two queue entries: %d references, want 4", n)
	}
	if err := st.QueueDone(all[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := refs(t, st, blob); n != 3 {
		t.Errorf("one queue entry done: %d references, want 3", n)
	}
	if err := st.QueueDone(all[1].ID); err != nil {
		t.Fatal(err)
	}
	if n := refs(t, st, blob); n != 2 {
		t.Errorf("queue done: %d references, want 2 (the copies)", n)
	}
	if b, err := st.Body(blob); err != nil || string(b) != string(queueMsg("mixed")) {
		t.Errorf("body after the queue is done = %q, %v", b, err)
	}
	// One copy expunged: the other still has its body.
	sent := placed[0].FolderID
	if _, err := st.StoreFlags(sent, []uint32{placed[0].UID}, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(sent, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Body(blob); err != nil || string(b) != string(queueMsg("mixed")) {
		t.Errorf("bob's copy lost its body when alice's went: %q, %v", b, err)
	}
	if n := refs(t, st, blob); n != 1 {
		t.Errorf("one copy left: %d references, want 1", n)
	}
}

// deliverSettles: a DSN's Deliver settles its queue entry in the same
// commit: removed when no recipient is left (dropping the body reference),
// rewritten otherwise; an entry already gone fails the delivery.
func deliverSettles(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	for _, id := range []string{"done", "partial"} {
		if _, err := st.Deliver(storage.Delivery{Message: queueMsg(id),
			Queue: []storage.QueueEntry{{From: "alice@example.test", To: []string{"b@remote.test", "c@remote.test"}, Created: t0, NextAttempt: t0, MessageID: id}}}); err != nil {
			t.Fatal(err)
		}
	}
	var done, partial storage.QueueEntry
	for _, e := range queueList(t, st) {
		switch e.MessageID {
		case "done":
			done = e
		case "partial":
			partial = e
		}
	}
	done.To = nil
	partial.To, partial.Attempts, partial.NextAttempt = []string{"c@remote.test"}, 1, t0.Add(time.Hour)
	for _, settle := range []storage.QueueEntry{done, partial} {
		dsn := storage.Delivery{Message: queueMsg("dsn " + settle.MessageID), Settle: &settle,
			Targets: []storage.Target{{Owner: mb.alice}},
			Queue:   []storage.QueueEntry{{From: "", To: []string{"alice@remote.test"}, Created: t0, NextAttempt: t0, MessageID: "dsn"}}}
		if _, err := st.Deliver(dsn); err != nil {
			t.Fatal(err)
		}
	}
	var dsns int
	for _, e := range queueList(t, st) {
		switch {
		case e.ID == done.ID:
			t.Errorf("settled entry %d still queued", e.ID)
		case e.ID == partial.ID:
			if !slices.Equal(e.To, []string{"c@remote.test"}) || e.Attempts != 1 || !e.NextAttempt.Equal(t0.Add(time.Hour)) {
				t.Errorf("partially settled entry = %+v", e)
			}
		case e.MessageID == "dsn":
			dsns++
		default:
			t.Errorf("unexpected entry %+v", e)
		}
	}
	if n := len(queueList(t, st)); n != 3 || dsns != 2 {
		t.Errorf("queue after settling: %d entries, %d DSNs; want the partial entry and two DSNs", n, dsns)
	}
	if n := refs(t, st, done.Blob); n != 0 {
		t.Errorf("settled entry's body still has %d references", n)
	}
	if n := refs(t, st, partial.Blob); n != 1 {
		t.Errorf("partial entry's body has %d references, want 1", n)
	}
	if f := folder(t, st, mb.alice, "INBOX"); f.Count != 2 {
		t.Errorf("the DSNs' local copies: INBOX count %d, want 2", f.Count)
	}
	// Settling an entry that is gone (but has recipients) fails the whole
	// delivery: no copy, no new entry.
	gone := partial
	if err := st.QueueDone(gone.ID); err != nil {
		t.Fatal(err)
	}
	_, err := st.Deliver(storage.Delivery{Message: queueMsg("late dsn"), Settle: &gone, Targets: []storage.Target{{Owner: mb.alice}},
		Queue: []storage.QueueEntry{{To: []string{"alice@remote.test"}, Created: t0, NextAttempt: t0, MessageID: "late"}}})
	wantKind(t, "Deliver settling an entry that is gone", err, storage.ErrNotFound)
	if f := folder(t, st, mb.alice, "INBOX"); f.Count != 2 {
		t.Errorf("the refused DSN left a copy: INBOX count %d", f.Count)
	}
	for _, e := range queueList(t, st) {
		if e.MessageID == "late" {
			t.Errorf("the refused DSN left a queue entry %+v", e)
		}
	}
}

// queueClaim: a relay worker's claim leases the due entries (their next
// attempt moves to now+lease), so a second claim, or one running at the
// same time, gets none of them until the lease ends; then they are due
// again, and a claimed entry settles as any other. Claims running
// together never hand out one entry twice.
func queueClaim(t *testing.T, st storage.Backend) {
	seedMail(t, st)
	const lease = 10 * time.Minute
	for i := range 20 {
		e := storage.QueueEntry{From: "a@example.test", To: []string{"x@remote.test"}, Created: t0, NextAttempt: t0, MessageID: fmt.Sprint("m", i)}
		if _, err := st.Deliver(storage.Delivery{Message: queueMsg(e.MessageID), Queue: []storage.QueueEntry{e}}); err != nil {
			t.Fatal(err)
		}
	}
	later := storage.QueueEntry{From: "a@example.test", To: []string{"y@remote.test"}, Created: t0, NextAttempt: t0.Add(time.Hour), MessageID: "later"}
	if _, err := st.Deliver(storage.Delivery{Message: queueMsg("later"), Queue: []storage.QueueEntry{later}}); err != nil {
		t.Fatal(err)
	}
	// Four workers claim at once, five at a time: each entry goes to one.
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				claimed, _, err := st.QueueClaim(t0, 5, lease)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				mu.Lock()
				for _, e := range claimed {
					got[e.MessageID]++
					if !e.NextAttempt.Equal(t0.Add(lease)) {
						t.Errorf("claimed %s: next attempt %v, want the lease's end", e.MessageID, e.NextAttempt)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != 20 {
		t.Errorf("%d entries claimed, want the 20 due", len(got))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("entry %s claimed %d times", id, n)
		}
	}
	claimed, next, err := st.QueueClaim(t0.Add(time.Minute), 100, lease)
	if err != nil || len(claimed) != 0 || !next.Equal(t0.Add(lease)) {
		t.Errorf("claim during the lease = %d entries, next %v, %v; want none, next at the lease's end", len(claimed), next, err)
	}
	claimed, _, err = st.QueueClaim(t0.Add(lease), 100, lease)
	if err != nil || len(claimed) != 20 {
		t.Fatalf("claim when the lease ends = %d entries, %v; want the 20 again", len(claimed), err)
	}
	if err := st.QueueDone(claimed[0].ID); err != nil {
		t.Fatal(err)
	}
	retry := claimed[1]
	retry.NextAttempt, retry.Attempts, retry.LastError = t0.Add(3*time.Hour), 1, "451 try later"
	if err := st.QueueRetry(retry); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := st.QueueStats(); n != 20 {
		t.Errorf("%d entries after one done, want 20", n)
	}
	for _, e := range queueList(t, st) {
		if e.ID == retry.ID && (e.Attempts != 1 || !e.NextAttempt.Equal(retry.NextAttempt)) {
			t.Errorf("retried entry = %+v", e)
		}
	}
}
