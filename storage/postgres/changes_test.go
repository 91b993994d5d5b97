package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// TestSnapshotConsistent: snapshots taken on node B while node A
// delivers each hold exactly the messages B has announced so far, no
// more, no fewer.
func TestSnapshotConsistent(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	f, err := a.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var mu sync.Mutex
	announced := 0
	b.OnChange(func(c storage.Change) {
		if c.Kind != storage.ChangeAppend || c.FolderID != f.ID {
			return
		}
		mu.Lock()
		announced++
		mu.Unlock()
	})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for i := range n {
			if _, err := a.Deliver(storage.Delivery{Message: msgOf(fmt.Sprint(i)), Targets: []storage.Target{{Owner: "p1"}}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	snapshots, overlapped := 0, 0
	for running := true; running; {
		select {
		case err, ok := <-errs:
			if ok {
				t.Fatalf("Deliver: %v", err)
			}
			running = false
		default:
		}
		err := b.Snapshot(f.ID, func(_ storage.Folder, msgs []storage.Message) {
			mu.Lock()
			defer mu.Unlock()
			snapshots++
			if announced > 0 && announced < n {
				overlapped++
			}
			if len(msgs) != announced {
				t.Errorf("snapshot has %d messages, %d announced", len(msgs), announced)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every append announced on B", func() bool { mu.Lock(); defer mu.Unlock(); return announced == n })
	if overlapped == 0 {
		t.Errorf("none of %d snapshots overlapped the deliveries", snapshots)
	}
	if err := b.Snapshot(1<<40, func(storage.Folder, []storage.Message) {}); err == nil {
		t.Error("Snapshot of a missing folder succeeded")
	}
}

// TestLateCommitAnnounced: a log entry whose transaction took its seq
// before a later one committed, but commits after it, is still announced
// (the cursor waits for it); an entry that never commits does not hold
// the cursor back once its transaction is gone.
func TestLateCommitAnnounced(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	var lb changeLog
	b.OnChange(lb.add)
	ctx := context.Background()
	f, err := a.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	late := func() (commit func(), abort func()) {
		tx, err := a.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := encodeChanges([]storage.Change{{Kind: storage.ChangeFlags, FolderID: 999, UID: 7}})
		if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO mail_changes (changes) VALUES ($1)", b); err != nil {
			t.Fatal(err)
		}
		return func() {
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := a.pool.Exec(ctx, "SELECT pg_notify($1, '')", mailChannel); err != nil {
					t.Fatal(err)
				}
			}, func() {
				tx.Rollback(ctx)
			}
	}
	commit, _ := late()
	if _, err := a.Append("p1", "INBOX", msgOf("after"), nil, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later append on B", func() bool { return lb.len() == 1 })
	commit()
	waitFor(t, "the late entry on B", func() bool { return lb.len() == 2 })
	if c := lb.all()[1]; c.FolderID != 999 || c.UID != 7 {
		t.Errorf("B heard %+v, want the late entry", c)
	}
	_, abort := late()
	if _, err := a.Append("p1", "INBOX", msgOf("after 2"), nil, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second append on B", func() bool { return lb.len() == 3 })
	abort()
	if _, err := a.Append("p1", "INBOX", msgOf("after 3"), nil, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	var top int64
	if err := a.pool.QueryRow(ctx, "SELECT max(seq) FROM mail_changes").Scan(&top); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's cursor past the aborted entry", func() bool {
		if err := b.announce(ctx); err != nil {
			t.Fatal(err)
		}
		b.mail.mu.Lock()
		defer b.mail.mu.Unlock()
		return b.mail.cursor == top && len(b.mail.gaps) == 0 && len(b.mail.announced) == 0
	})
	if lb.len() != 4 {
		t.Errorf("B heard %d changes, want 4", lb.len())
	}
	msgs, _ := b.Messages(f.ID, 0, 0)
	if len(msgs) != 3 {
		t.Errorf("%d messages, want 3", len(msgs))
	}
}
