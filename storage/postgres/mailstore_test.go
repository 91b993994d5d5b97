package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

func msgOf(subject string) []byte {
	return []byte("From: a@example.org\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n")
}

// changeLog records notices, in order, as a listener sees them.
type changeLog struct {
	mu sync.Mutex
	cs []storage.Change
}

func (l *changeLog) add(c storage.Change) { l.mu.Lock(); l.cs = append(l.cs, c); l.mu.Unlock() }

func (l *changeLog) kinds() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := ""
	for _, c := range l.cs {
		s += fmt.Sprintf("%d:%d ", c.Kind, c.UID)
	}
	return s
}

func (l *changeLog) len() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.cs) }

func (l *changeLog) all() []storage.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.cs)
}

// TestMailstoreLifecycle is the Badger store's lifecycle test on
// PostgreSQL: deliver, read, flags, copy, move, expunge, rename, delete,
// with the same results and the same notices in the same order.
func TestMailstoreLifecycle(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	var log changeLog
	st.OnChange(log.add)
	const alice, bob = delegation.ID("p1"), delegation.ID("p2")

	date := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("x", 3600))
	placed, err := st.Deliver(storage.Delivery{Message: msgOf("one"), Date: date,
		Targets: []storage.Target{{Owner: alice}, {Owner: bob, Folder: "Sent", Flags: []string{`\seen`, `\SEEN`, "$Label"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(placed) != 2 || placed[0].UID != 1 || placed[1].Folder != "Sent" || placed[1].UIDValidity == 0 {
		t.Fatalf("Deliver placed %+v", placed)
	}
	inbox, _ := st.Folder(alice, "inbox")
	sent, _ := st.Folder(bob, "Sent")
	if inbox.Name != "INBOX" || inbox.Count != 1 || sent.SpecialUse != `\Sent` || sent.UIDNext != 2 || sent.Size != uint64(len(msgOf("one"))) {
		t.Fatalf("folders after Deliver: %+v %+v", inbox, sent)
	}
	m, _ := st.Messages(sent.ID, 0, 0)
	if len(m) != 1 || !slices.Equal(m[0].Flags, []string{`\Seen`, "$Label"}) || m[0].ModSeq != 2 {
		t.Fatalf("Sent messages %+v: want flags normalised, modseq 2", m)
	}
	if !m[0].InternalDate.Equal(date) || m[0].InternalDate.Location() != time.UTC {
		t.Errorf("internal date %v, want %v in UTC, to the nanosecond", m[0].InternalDate, date)
	}
	blob := m[0].Blob
	if n, _ := st.BlobRefs(blob); n != 2 {
		t.Fatalf("one body for two copies: %d references", n)
	}
	if body, err := st.Body(blob); err != nil || string(body) != string(msgOf("one")) {
		t.Fatalf("Body = %q, %v", body, err)
	}
	if hdr, err := st.Header(blob); err != nil || string(hdr) != "From: a@example.org\r\nSubject: one\r\n\r\n" {
		t.Fatalf("Header = %q, %v", hdr, err)
	}
	if _, err := st.Deliver(storage.Delivery{Message: msgOf("x"), Targets: []storage.Target{{Owner: alice, Folder: "NoSuch"}}}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Deliver to a missing custom folder: %v", err)
	}

	// COPY shares the body; MOVE keeps it; EXPUNGE drops references.
	work, err := st.CreateFolder(alice, "Work/2026", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFolder(alice, "Work/2026", "", nil); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("CreateFolder twice: %v", err)
	}
	res, err := st.Copy(inbox.ID, []uint32{1, 99}, work.ID, storage.NoOrigin, nil)
	if err != nil || !slices.Equal(res.Src, []uint32{1}) || !slices.Equal(res.Dst, []uint32{1}) || res.UIDValidity != work.UIDValidity {
		t.Fatalf("Copy = %+v, %v", res, err)
	}
	if n, _ := st.BlobRefs(blob); n != 3 {
		t.Fatalf("after Copy: %d references, want 3", n)
	}
	res, err = st.Move(work.ID, []uint32{1}, inbox.ID, storage.NoOrigin, nil)
	if err != nil || !slices.Equal(res.Dst, []uint32{2}) {
		t.Fatalf("Move = %+v, %v", res, err)
	}
	if n, _ := st.BlobRefs(blob); n != 3 {
		t.Fatalf("after Move: %d references, want 3", n)
	}
	if v, _ := st.Vanished(work.ID, 0); !slices.Equal(v, []uint32{1}) {
		t.Errorf("Vanished(Work/2026) = %v, want [1]", v)
	}
	got, err := st.StoreFlags(inbox.ID, []uint32{2, 1}, storage.FlagsAdd, []string{`\deleted`}, storage.NoOrigin)
	if err != nil || len(got) != 2 || got[0].UID != 1 || !storage.HasFlag(got[1].Flags, `\Deleted`) {
		t.Fatalf("StoreFlags = %+v, %v", got, err)
	}
	gone, err := st.Expunge(inbox.ID, []uint32{2}, storage.NoOrigin, nil)
	if err != nil || !slices.Equal(gone, []uint32{2}) {
		t.Fatalf("Expunge(2) = %v, %v", gone, err)
	}
	gone, err = st.Expunge(inbox.ID, nil, storage.NoOrigin, nil)
	if err != nil || !slices.Equal(gone, []uint32{1}) {
		t.Fatalf("Expunge(all deleted) = %v, %v", gone, err)
	}
	if n, _ := st.BlobRefs(blob); n != 1 {
		t.Fatalf("after expunging alice's copies: %d references, want 1 (bob's Sent)", n)
	}
	inbox, _ = st.Folder(alice, "INBOX")
	if inbox.Count != 0 || inbox.UIDNext != 3 || inbox.Size != 0 {
		t.Fatalf("INBOX after expunge: %+v", inbox)
	}

	// RENAME keeps IDs (UIDVALIDITY); DELETE refuses parents and INBOX.
	if err := st.RenameFolder(alice, "Work", "Jobs/Old", nil); err != nil {
		t.Fatal(err)
	}
	moved, err := st.Folder(alice, "Jobs/Old/2026")
	if err != nil || moved.ID != work.ID || moved.UIDValidity != work.UIDValidity {
		t.Fatalf("renamed child: %+v, %v", moved, err)
	}
	if _, err := st.Folder(alice, "Jobs"); err != nil {
		t.Fatalf("rename did not create the new parent: %v", err)
	}
	if _, err := st.DeleteFolder(alice, "Jobs/Old", nil); !errors.Is(err, storage.ErrHasChildren) {
		t.Fatalf("DeleteFolder with children: %v", err)
	}
	if _, err := st.DeleteFolder(alice, "INBOX", nil); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("DeleteFolder INBOX: %v", err)
	}
	if err := st.RenameFolder(alice, "Jobs", "Jobs/Sub", nil); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("rename into itself: %v", err)
	}

	// DELETE a folder with messages releases their bodies.
	res, err = st.Copy(sent.ID, []uint32{1}, moved.ID, storage.NoOrigin, nil)
	if err != nil || len(res.Dst) != 1 {
		t.Fatal(res, err)
	}
	if _, err := st.DeleteFolder(alice, "Jobs/Old/2026", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 1 {
		t.Fatalf("after DeleteFolder: %d references, want 1", n)
	}
	if _, err := st.FolderByID(moved.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted folder still found: %v", err)
	}
	if v, _ := st.Vanished(moved.ID, 0); v != nil {
		t.Errorf("Vanished of a deleted folder = %v, want none", v)
	}
	if _, err := st.Expunge(sent.ID, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StoreFlags(sent.ID, []uint32{1}, storage.FlagsSet, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(sent.ID, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 0 {
		t.Fatalf("last copy gone, body kept: %d references", n)
	}
	if _, err := st.Body(blob); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("body of a blob with no references: %v", err)
	}
	// append×2, create Work + Work/2026, copy, move (append, expunge),
	// flags×2, expunge×2, rename×3, copy, delete, flags, expunge.
	want := "1:1 1:1 4:0 4:0 1:1 1:2 2:1 3:1 3:2 2:2 2:1 4:0 4:0 4:0 1:2 5:0 3:1 2:1 "
	if got := log.kinds(); got != want {
		t.Errorf("changes in order = %q, want %q", got, want)
	}

	// RENAME INBOX moves its messages and leaves INBOX (RFC 3501 §6.3.5).
	if _, err := st.Deliver(storage.Delivery{Message: msgOf("two"), Targets: []storage.Target{{Owner: alice}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(alice, "INBOX", "Old Inbox", nil); err != nil {
		t.Fatal(err)
	}
	inbox2, _ := st.Folder(alice, "INBOX")
	old, _ := st.Folder(alice, "Old Inbox")
	if inbox2.ID != inbox.ID || inbox2.Count != 0 || old.Count != 1 {
		t.Fatalf("after RENAME INBOX: %+v %+v", inbox2, old)
	}
	fs, err := st.Folders(alice)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if want := []string{"INBOX", "Jobs", "Jobs/Old", "Old Inbox"}; !slices.Equal(names, want) {
		t.Errorf("Folders = %q, want %q", names, want)
	}
}

// TestBlobDedup: the same bytes delivered twice are one blob with two
// references; copies and queue entries add references, and the blob goes
// when the last one does.
func TestBlobDedup(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	const alice = delegation.ID("p1")
	msg := msgOf("same")
	var blobs []uint64
	for range 2 {
		p, err := st.Append(alice, "INBOX", msg, nil, time.Time{}, storage.NoOrigin)
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := st.Messages(p.FolderID, p.UID, p.UID)
		blobs = append(blobs, ms[0].Blob)
	}
	if blobs[0] != blobs[1] {
		t.Fatalf("the same bytes twice: blobs %d and %d, want one", blobs[0], blobs[1])
	}
	blob := blobs[0]
	var stored int
	if err := st.pool.QueryRow(context.Background(), "SELECT count(*) FROM blobs").Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("%d blob rows (%v), want 1", stored, err)
	}
	d := storage.Delivery{Message: msg, Queue: []storage.QueueEntry{{From: "a@x.test", To: []string{"b@y.test"}}}}
	if _, err := st.Deliver(d); err != nil {
		t.Fatal(err)
	}
	if d.Queue[0].ID == 0 || d.Queue[0].Blob != blob {
		t.Fatalf("queue entry %+v: want an ID and blob %d", d.Queue[0], blob)
	}
	inbox, _ := st.Folder(alice, "INBOX")
	other, err := st.CreateFolder(alice, "Other", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Copy(inbox.ID, []uint32{1, 2}, other.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 5 {
		t.Fatalf("two appends, one queue entry, two copies: %d references, want 5", n)
	}
	if _, err := st.StoreFlags(inbox.ID, []uint32{1, 2}, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(inbox.ID, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteFolder(alice, "Other", nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 1 {
		t.Fatalf("only the queue entry left: %d references, want 1", n)
	}
	if err := st.QueueDone(d.Queue[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(blob); n != 0 {
		t.Fatalf("no reference left: %d references", n)
	}
	if _, err := st.Body(blob); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Body of a released blob: %v, want ErrNotFound", err)
	}
	if err := st.pool.QueryRow(context.Background(), "SELECT count(*) FROM blobs").Scan(&stored); err != nil || stored != 0 {
		t.Errorf("%d blob rows (%v) after the last reference, want 0", stored, err)
	}
	// AppendAll's bodies go in one pipeline: the same bytes twice in it
	// are one blob too.
	twice, err := st.AppendAll(alice, "INBOX", []storage.AppendMessage{{Message: msgOf("pair")}, {Message: msgOf("pair")}}, storage.NoOrigin, nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := st.Messages(twice[0].FolderID, twice[0].UID, twice[1].UID)
	if len(pair) != 2 || pair[0].Blob != pair[1].Blob {
		t.Fatalf("AppendAll of the same bytes twice: %+v", pair)
	}
	if n, _ := st.BlobRefs(pair[0].Blob); n != 2 {
		t.Errorf("AppendAll of the same bytes twice: %d references, want 2", n)
	}
	// Headers: in order, nil for a blob that is gone.
	p, err := st.Append(alice, "INBOX", msgOf("new"), nil, time.Time{}, storage.NoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := st.Messages(p.FolderID, p.UID, 0)
	var hdrs []string
	if err := st.Headers([]uint64{blob, ms[0].Blob}, func(i int, h []byte) { hdrs = append(hdrs, fmt.Sprintf("%d:%q", i, h)) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{`0:""`, fmt.Sprintf("1:%q", "From: a@example.org\r\nSubject: new\r\n\r\n")}; !slices.Equal(hdrs, want) {
		t.Errorf("Headers = %v, want %v", hdrs, want)
	}
}

// TestNodesDeliverConcurrently: two Store handles ("nodes") on one
// database deliver to one folder at once: the UIDs are 1..n with none
// twice, and each node's listeners hear every append, in UID order.
func TestNodesDeliverConcurrently(t *testing.T) {
	dsn := testenv.Postgres(t)
	nodes := []*Store{open(t, dsn, noPoll), open(t, dsn, noPoll)}
	f, err := nodes[0].Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 3, 20 // per node
	logs := make([]*changeLog, len(nodes))
	for i, n := range nodes {
		logs[i] = new(changeLog)
		n.OnChange(logs[i].add)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	uids := map[uint32]int{}
	nodeOrigin := make([]storage.Origin, len(nodes))
	for i := range nodes {
		nodeOrigin[i] = storage.NewOrigin()
	}
	for i, n := range nodes {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range each {
					p, err := n.Append("p1", "INBOX", msgOf(fmt.Sprint(i, w, k)), nil, time.Time{}, nodeOrigin[i])
					if err != nil {
						t.Errorf("node %d: %v", i, err)
						return
					}
					mu.Lock()
					uids[p.UID]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	const total = 2 * workers * each
	for uid := uint32(1); uid <= total; uid++ {
		if uids[uid] != 1 {
			t.Errorf("UID %d given %d times", uid, uids[uid])
		}
	}
	f, _ = nodes[1].FolderByID(f.ID)
	if f.Count != total || f.UIDNext != total+1 || f.HighestModSeq != total+1 {
		t.Errorf("folder after %d deliveries: %+v", total, f)
	}
	for i, l := range logs {
		waitFor(t, fmt.Sprintf("node %d hears all %d appends", i, total), func() bool { return l.len() >= total })
		var last uint32
		var lastMod uint64
		for _, c := range l.all() {
			if c.Kind != storage.ChangeAppend {
				continue
			}
			if c.UID != last+1 || c.ModSeq <= lastMod {
				t.Errorf("node %d: append UID %d (modseq %d) after %d (%d)", i, c.UID, c.ModSeq, last, lastMod)
			}
			if own := c.Origin == nodeOrigin[i]; !own && c.Origin != storage.NoOrigin {
				t.Errorf("node %d heard origin %v", i, c.Origin)
			}
			last, lastMod = c.UID, c.ModSeq
		}
		if l.len() != total {
			t.Errorf("node %d heard %d changes, want %d", i, l.len(), total)
		}
	}
}

// TestChangeHeardOnOtherNode: a change made on node A reaches node B's
// listeners by its notice alone, with NoOrigin and the same content
// A's listeners heard (with A's Origin), also after B's listening
// connection was cut.
func TestChangeHeardOnOtherNode(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	var la, lb changeLog
	a.OnChange(la.add)
	b.OnChange(lb.add)
	session := storage.NewOrigin()
	p, err := a.Append("p1", "INBOX", msgOf("hello"), []string{"$x"}, time.Time{}, session)
	if err != nil {
		t.Fatal(err)
	}
	if la.len() != 1 {
		t.Fatalf("A heard %d changes when Append returned, want 1", la.len())
	}
	lag := waitFor(t, "A's append on B", func() bool { return lb.len() == 1 })
	t.Logf("heard on the other node after %s", lag)
	ca, cb := la.all()[0], lb.all()[0]
	if ca.Origin != session || cb.Origin != storage.NoOrigin {
		t.Errorf("origins: A %v, B %v; want %v and none", ca.Origin, cb.Origin, session)
	}
	ca.Origin = storage.NoOrigin
	if fmt.Sprintf("%+v", ca) != fmt.Sprintf("%+v", cb) {
		t.Errorf("B heard %+v\nA heard %+v", cb, ca)
	}
	if cb.Kind != storage.ChangeAppend || cb.UID != p.UID || cb.Message.Blob == 0 || !slices.Equal(cb.Message.Flags, []string{"$x"}) {
		t.Errorf("B heard %+v", cb)
	}
	// Cut every listening connection, then change at once: B catches up
	// from the log when it reconnects.
	var cut int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&cut); err != nil || cut == 0 {
		t.Fatalf("cut %d listening connections: %v", cut, err)
	}
	if _, err := a.StoreFlags(p.FolderID, []uint32{p.UID}, storage.FlagsAdd, []string{`\Seen`}, session); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A's flag change on B after its listener was cut", func() bool { return lb.len() == 2 })
	if c := lb.all()[1]; c.Kind != storage.ChangeFlags || !slices.Equal(c.Flags, []string{"$x", `\Seen`}) || c.Origin != storage.NoOrigin {
		t.Errorf("B heard %+v", c)
	}
	if la.len() != 2 {
		t.Errorf("A heard %d changes, want 2", la.len())
	}
}

// TestMoveManyInOneTransaction: a MOVE of 5,000 messages is one
// transaction: one change-log entry, every message in the target and none
// left in the source, the counters and tombstones right.
func TestMoveManyInOneTransaction(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	const n = 5000
	msgs := make([]storage.AppendMessage, n)
	for i := range msgs {
		msgs[i] = storage.AppendMessage{Message: msgOf(fmt.Sprint("m", i)), Flags: []string{`\Seen`}}
	}
	start := time.Now()
	placed, err := st.AppendAll("p1", "INBOX", msgs, storage.NoOrigin, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendTook := time.Since(start)
	src, _ := st.Folder("p1", "INBOX")
	dst, _ := st.Folder("p1", "Archive")
	uids := make([]uint32, len(placed))
	for i, p := range placed {
		uids[i] = p.UID
	}
	var before int64
	st.pool.QueryRow(context.Background(), "SELECT max(seq) FROM mail_changes").Scan(&before)
	var log changeLog
	st.OnChange(log.add)
	var recorded storage.Outcome
	start = time.Now()
	res, err := st.Move(src.ID, uids, dst.ID, storage.NewOrigin(), func(o storage.Outcome) []storage.AuditRecord {
		recorded = o
		return []storage.AuditRecord{{Proto: "imap", Action: "move", Detail: fmt.Sprint(len(o.UIDs))}}
	})
	if err != nil {
		t.Fatal(err)
	}
	moveTook := time.Since(start)
	t.Logf("AppendAll of %d: %s; Move of %d: %s", n, appendTook, n, moveTook)
	if len(res.Src) != n || len(res.Dst) != n || res.Dst[0] != 1 || res.Dst[n-1] != n || len(recorded.DstUIDs) != n {
		t.Fatalf("Move: %d src, %d dst, audit saw %d", len(res.Src), len(res.Dst), len(recorded.DstUIDs))
	}
	var entries int
	st.pool.QueryRow(context.Background(), "SELECT count(*) FROM mail_changes WHERE seq > $1", before).Scan(&entries)
	if entries != 1 {
		t.Errorf("Move wrote %d change-log entries, want 1 (one transaction)", entries)
	}
	if log.len() != 2*n {
		t.Errorf("%d changes announced, want %d", log.len(), 2*n)
	}
	src, _ = st.FolderByID(src.ID)
	dst, _ = st.FolderByID(dst.ID)
	if src.Count != 0 || src.Size != 0 || dst.Count != n || dst.UIDNext != n+1 {
		t.Errorf("after Move: source %+v, target %+v", src, dst)
	}
	if ms, _ := st.Messages(src.ID, 0, 0); len(ms) != 0 {
		t.Errorf("%d messages left in the source", len(ms))
	}
	ms, _ := st.Messages(dst.ID, 0, 0)
	if len(ms) != n || !slices.Equal(ms[0].Flags, []string{`\Seen`}) {
		t.Errorf("target has %d messages (first %+v)", len(ms), ms[0])
	}
	if v, _ := st.Vanished(src.ID, 0); len(v) != n {
		t.Errorf("%d tombstones, want %d", len(v), n)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "move"}); len(recs) != 1 || recs[0].Detail != fmt.Sprint(n) {
		t.Errorf("audit records %+v", recs)
	}
}
