package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/storagetest"
)

// TestSnapshotConsistent: snapshots taken on node B while node A
// delivers each hold exactly the messages B has announced so far, no
// more, no fewer.
func TestSnapshotConsistent(t *testing.T) {
	dsn := testenv.Postgres(t)
	storagetest.SnapshotAcross(t, open(t, dsn, noPoll), open(t, dsn, noPoll))
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
	if _, err := a.Append("p1", "INBOX", msgOf("after"), nil, time.Time{}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later append on B", func() bool { return lb.len() == 1 })
	commit()
	waitFor(t, "the late entry on B", func() bool { return lb.len() == 2 })
	if c := lb.all()[1]; c.FolderID != 999 || c.UID != 7 {
		t.Errorf("B heard %+v, want the late entry", c)
	}
	_, abort := late()
	if _, err := a.Append("p1", "INBOX", msgOf("after 2"), nil, time.Time{}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second append on B", func() bool { return lb.len() == 3 })
	abort()
	if _, err := a.Append("p1", "INBOX", msgOf("after 3"), nil, time.Time{}, storage.NoOrigin); err != nil {
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

// TestCrossMovesFromTwoNodes: two nodes move messages between the same
// two folders in opposite directions, and copy out of them and expunge
// the copies (sharing blobs) at once: the folder and blob locks are taken in one order, so
// nothing fails, and no message is lost or doubled.
func TestCrossMovesFromTwoNodes(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	f1, err := a.CreateFolder("p1", "One", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := a.CreateFolder("p1", "Two", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The copiers' copies go to folders the movers do not touch, so that
	// each copy is still where its copier expunges it (a copy moved away
	// first would survive, and the count below could not be exact).
	c1, err := a.CreateFolder("p1", "Copies1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := a.CreateFolder("p1", "Copies2", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if _, err := a.Append("p1", "One", msgOf(fmt.Sprint(i)), nil, time.Time{}, storage.NoOrigin); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	mover := func(st *Store, from, to uint64) {
		defer wg.Done()
		for range 15 {
			ms, err := st.Messages(from, 0, 0)
			if err != nil {
				t.Error(err)
				return
			}
			var uids []uint32
			for _, m := range ms {
				uids = append(uids, m.UID)
			}
			if _, err := st.Move(from, uids, to, storage.NoOrigin, nil); err != nil {
				t.Errorf("Move %d → %d: %v", from, to, err)
				return
			}
		}
	}
	copier := func(st *Store, from, to uint64) {
		defer wg.Done()
		for range 10 {
			ms, _ := st.Messages(from, 0, 0)
			if len(ms) == 0 {
				continue
			}
			res, err := st.Copy(from, []uint32{ms[0].UID, ms[len(ms)-1].UID}, to, storage.NoOrigin, nil)
			if err != nil {
				t.Errorf("Copy: %v", err)
				return
			}
			if _, err := st.StoreFlags(to, res.Dst, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin); err != nil {
				t.Errorf("StoreFlags: %v", err)
				return
			}
			if _, err := st.Expunge(to, res.Dst, storage.NoOrigin, nil); err != nil {
				t.Errorf("Expunge: %v", err)
				return
			}
		}
	}
	wg.Add(4)
	go mover(a, f1.ID, f2.ID)
	go mover(b, f2.ID, f1.ID)
	go copier(a, f1.ID, c1.ID)
	go copier(b, f2.ID, c2.ID)
	wg.Wait()
	m1, _ := a.Messages(f1.ID, 0, 0)
	m2, _ := a.Messages(f2.ID, 0, 0)
	for _, c := range []uint64{c1.ID, c2.ID} {
		if left, _ := a.Messages(c, 0, 0); len(left) != 0 {
			t.Errorf("%d copies left in folder %d after their expunge", len(left), c)
		}
	}
	blobs := map[uint64]int{}
	for _, m := range append(m1, m2...) {
		blobs[m.Blob]++
	}
	if len(m1)+len(m2) != n || len(blobs) != n {
		t.Fatalf("%d + %d messages on %d blobs, want %d on %d", len(m1), len(m2), len(blobs), n, n)
	}
	for blob, uses := range blobs {
		if refs, _ := a.BlobRefs(blob); refs != uint64(uses) {
			t.Errorf("blob %d: %d references, %d messages", blob, refs, uses)
		}
	}
	g1, _ := a.FolderByID(f1.ID)
	g2, _ := a.FolderByID(f2.ID)
	if int(g1.Count) != len(m1) || int(g2.Count) != len(m2) {
		t.Errorf("counters %d, %d; messages %d, %d", g1.Count, g2.Count, len(m1), len(m2))
	}
}

// TestFailedWriteLeavesNothing: a MOVE that fails inside its transaction
// (here a trigger refuses its tombstones, after the messages were taken
// from the source) leaves every message where it was, announces nothing
// and keeps nothing pending.
func TestFailedWriteLeavesNothing(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	var log changeLog
	const n = 300
	msgs := make([]storage.AppendMessage, n)
	for i := range msgs {
		msgs[i] = storage.AppendMessage{Message: msgOf(fmt.Sprint("m", i))}
	}
	placed, err := st.AppendAll("p1", "INBOX", msgs, storage.NoOrigin, nil)
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := st.Folder("p1", "INBOX")
	arch, _ := st.Folder("p1", "Archive")
	st.OnChange(log.add)
	ctx := context.Background()
	if _, err := st.pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON tombstones FOR EACH STATEMENT EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	uids := make([]uint32, len(placed))
	for i, p := range placed {
		uids[i] = p.UID
	}
	audited := false
	_, err = st.Move(inbox.ID, uids, arch.ID, storage.NoOrigin, func(storage.Outcome) []storage.AuditRecord {
		audited = true
		return []storage.AuditRecord{{Action: "move"}}
	})
	if err == nil {
		t.Fatal("Move succeeded despite the trigger")
	}
	if audited {
		t.Error("the audit function ran before the failure")
	}
	if ms, _ := st.Messages(inbox.ID, 0, 0); len(ms) != n {
		t.Errorf("%d messages left in INBOX, want all %d", len(ms), n)
	}
	if ms, _ := st.Messages(arch.ID, 0, 0); len(ms) != 0 {
		t.Errorf("%d messages in Archive, want none", len(ms))
	}
	after, _ := st.FolderByID(inbox.ID)
	if after != inbox {
		t.Errorf("INBOX %+v, was %+v", after, inbox)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "move"}); len(recs) != 0 {
		t.Errorf("audit records of a failed move: %+v", recs)
	}
	if _, err := st.pool.Exec(ctx, "DROP TRIGGER refuse ON tombstones"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(inbox.ID, uids[:1], arch.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if log.len() != 2 {
		t.Errorf("%d changes announced, want the 2 of the later move only", log.len())
	}
	st.mail.pmu.Lock()
	defer st.mail.pmu.Unlock()
	if len(st.mail.pending) != 0 {
		t.Errorf("%d log entries pending", len(st.mail.pending))
	}
}

// TestChangeLogPruned: entries older than changeLogAge are deleted, the
// newer kept.
func TestChangeLogPruned(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	ctx := context.Background()
	if _, err := st.Append("p1", "INBOX", msgOf("kept"), nil, time.Time{}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(ctx, "INSERT INTO mail_changes (at, changes) VALUES (now() - interval '2 hours', '[]')"); err != nil {
		t.Fatal(err)
	}
	st.mail.mu.Lock()
	st.mail.pruned = time.Time{}
	st.mail.mu.Unlock()
	st.pruneMailChanges(ctx)
	var old, kept int
	if err := st.pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE at < now() - interval '1 hour'), count(*) FROM mail_changes").Scan(&old, &kept); err != nil {
		t.Fatal(err)
	}
	if old != 0 || kept != 1 {
		t.Errorf("after pruning: %d old entries, %d in all; want 0 and 1", old, kept)
	}
}
