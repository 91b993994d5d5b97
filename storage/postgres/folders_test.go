package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
)

// TestSubscriptions: a name stays subscribed when its folder is deleted,
// comes back subscribed when created again, moves with RENAME, and only an
// existing folder can be subscribed (the Badger store's test).
func TestSubscriptions(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	const alice = delegation.ID("p1")
	if subs, err := st.Subscriptions(alice); subs != nil || err != nil {
		t.Errorf("Subscriptions of no one = %q, %v", subs, err)
	}
	if err := st.EnsureDefaultFolders(alice); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a/b", "a/c", "x"} {
		if _, err := st.CreateFolder(alice, n, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, names ...string) {
		t.Helper()
		got, err := st.Subscriptions(alice)
		if err != nil {
			t.Fatal(err)
		}
		all := append([]string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}, names...)
		slices.Sort(all)
		if !slices.Equal(got, all) {
			t.Errorf("%s: subscriptions %q, want %q", what, got, all)
		}
	}
	want("created folders (only the defaults are subscribed)")
	if err := st.Subscribe(alice, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Subscribe of a missing folder: %v, want ErrNotFound", err)
	}
	for _, n := range []string{"a/b", "x", "x"} {
		if err := st.Subscribe(alice, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DeleteFolder(alice, "x", nil); err != nil {
		t.Fatal(err)
	}
	want("after DELETE x", "a/b", "x")
	if err := st.RenameFolder(alice, "a", "z", nil); err != nil {
		t.Fatal(err)
	}
	want("after RENAME a z", "x", "z/b")
	if err := st.Unsubscribe(alice, "x"); err != nil {
		t.Errorf("Unsubscribe of a deleted folder: %v", err)
	}
	if err := st.Unsubscribe(alice, "z/c"); err != nil {
		t.Errorf("Unsubscribe of an unsubscribed folder: %v", err)
	}
	if err := st.Unsubscribe(alice, "x"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Unsubscribe of a name neither subscribed nor a folder: %v, want ErrNotFound", err)
	}
	want("after UNSUBSCRIBE x", "z/b")
	// A folder renamed onto a name still subscribed (its folder deleted)
	// keeps the one subscription.
	if _, err := st.CreateFolder(alice, "y", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Subscribe(alice, "y"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteFolder(alice, "y", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(alice, "z", "y", nil); err != nil {
		t.Fatal(err)
	}
	want("after RENAME z y", "y", "y/b")
}

// TestFolderErrors: the error kinds of the Badger store, for the same
// requests.
func TestFolderErrors(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	const alice = delegation.ID("p1")
	if _, err := st.Folder(alice, "Nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Folder(Nope) = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"a//b", "a/*", "../x", "a\x01"} {
		if _, err := st.CreateFolder(alice, bad, "", nil); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("CreateFolder(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// PostgreSQL's text is UTF-8; Badger would take these bytes.
	if _, err := st.CreateFolder(alice, "caf\xe9", "", nil); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("CreateFolder(Latin-1 name) = %v, want ErrInvalid", err)
	}
	if _, err := st.DeleteFolder(alice, "Nope", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteFolder(Nope) = %v, want ErrNotFound", err)
	}
	if err := st.RenameFolder(alice, "Nope", "Other", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RenameFolder(Nope) = %v, want ErrNotFound", err)
	}
	if _, err := st.CreateFolder(alice, "A", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFolder(alice, "B/C", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(alice, "A", "B", nil); !errors.Is(err, storage.ErrExists) {
		t.Errorf("RenameFolder onto an existing folder = %v, want ErrExists", err)
	}
	if _, err := st.FolderByID(1 << 40); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("FolderByID(missing) = %v, want ErrNotFound", err)
	}
	if _, err := st.Copy(1<<40, []uint32{1}, 1<<41, nil, nil); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Copy between missing folders = %v, want ErrNotFound", err)
	}
	if res, err := st.Copy(1<<40, nil, 1<<41, nil, nil); err != nil || res.UIDValidity != 0 {
		t.Errorf("Copy of nothing = %+v, %v; want nothing done", res, err)
	}
	if gone, err := st.Expunge(1<<40, nil, nil, nil); gone != nil || err != nil {
		t.Errorf("Expunge of a missing folder = %v, %v", gone, err)
	}
	sent, err := st.CreateFolder(alice, "Sent", "", nil)
	if err != nil || sent.SpecialUse != `\Sent` {
		t.Errorf("CreateFolder(Sent) = %+v, %v; want its SPECIAL-USE", sent, err)
	}
	own, err := st.CreateFolder(alice, "Mine", `\Flagged`, nil)
	if err != nil || own.SpecialUse != `\Flagged` || own.UIDValidity != uint32(own.ID) || own.UIDNext != 1 || own.HighestModSeq != 1 {
		t.Errorf("CreateFolder(Mine) = %+v, %v", own, err)
	}
	tooMany := make([]string, storage.MaxFlags+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("$k", i)
	}
	if _, err := st.Append(alice, "INBOX", msgOf("x"), tooMany, time.Time{}, nil); !errors.Is(err, storage.ErrLimit) {
		t.Errorf("Append with %d flags = %v, want ErrLimit", len(tooMany), err)
	}
}

// TestFolderAudit: a write's AuditFunc records commit with it, with the
// write's outcome.
func TestFolderAudit(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	const alice = delegation.ID("p1")
	rec := func(action string) storage.AuditFunc {
		return func(o storage.Outcome) []storage.AuditRecord {
			return []storage.AuditRecord{{Proto: "imap", Action: action, MailboxID: string(alice), Detail: fmt.Sprint(o.UIDs, o.DstUIDs)}}
		}
	}
	if _, err := st.CreateFolder(alice, "F", "", rec("create")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateFolder(alice, "F", "", rec("create")); !errors.Is(err, storage.ErrExists) {
		t.Fatal(err)
	}
	placed, err := st.AppendAll(alice, "F", []storage.AppendMessage{{Message: msgOf("1")}, {Message: msgOf("2"), Flags: []string{`\Deleted`}}}, nil, rec("append"))
	if err != nil || len(placed) != 2 || placed[1].UID != 2 {
		t.Fatalf("AppendAll = %+v, %v", placed, err)
	}
	f := placed[0].FolderID
	inbox, _ := st.Folder(alice, "INBOX")
	if _, err := st.Copy(f, []uint32{1, 2}, inbox.ID, nil, rec("copy")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(f, nil, nil, rec("expunge")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(f, nil, nil, rec("expunge-nothing")); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(alice, "F", "G", rec("rename")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteFolder(alice, "G", rec("delete")); err != nil {
		t.Fatal(err)
	}
	recs, err := st.AuditList(storage.AuditFilter{MailboxID: string(alice)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Action+" "+r.Detail)
		if r.Time.IsZero() {
			t.Errorf("record %s has no time", r.Action)
		}
	}
	want := []string{"create [] []", "append [1 2] []", "copy [1 2] [1 2]", "expunge [2] []", "rename [] []", "delete [] []"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit = %q\nwant    %q", got, want)
	}
}

// TestModSeqAndFlags: mod-sequences step once per real change, STORE
// UNCHANGEDSINCE leaves modified messages alone, and a flag change over
// MaxFlags writes nothing.
func TestModSeqAndFlags(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	const alice = delegation.ID("p1")
	var log changeLog
	st.OnChange(log.add)
	for i := range 3 {
		if _, err := st.Append(alice, "INBOX", msgOf(fmt.Sprint(i)), nil, time.Time{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ := st.Folder(alice, "INBOX")
	if inbox.HighestModSeq != 4 {
		t.Fatalf("HighestModSeq after 3 appends = %d, want 4", inbox.HighestModSeq)
	}
	got, err := st.StoreFlags(inbox.ID, []uint32{1, 2, 9}, storage.FlagsAdd, []string{`\seen`}, "s")
	if err != nil || len(got) != 2 || got[0].ModSeq != 5 || got[1].ModSeq != 6 || !slices.Equal(got[0].Flags, []string{`\Seen`}) {
		t.Fatalf("StoreFlags = %+v, %v", got, err)
	}
	// No real change: nothing written, nothing announced.
	n := log.len()
	got, err = st.StoreFlags(inbox.ID, []uint32{1}, storage.FlagsAdd, []string{`\Seen`}, "s")
	if err != nil || len(got) != 1 || got[0].ModSeq != 5 || log.len() != n {
		t.Fatalf("StoreFlags of no change = %+v, %v (%d new notices)", got, err, log.len()-n)
	}
	updated, modified, err := st.StoreFlagsIf(inbox.ID, []uint32{1, 2, 3}, storage.FlagsSet, []string{"$a"}, 5, nil)
	if err != nil || len(updated) != 2 || updated[0].UID != 1 || updated[1].UID != 3 || !slices.Equal(modified, []uint32{2}) {
		t.Fatalf("StoreFlagsIf(5) = %+v, %v, %v", updated, modified, err)
	}
	if updated[0].ModSeq != 7 || updated[1].ModSeq != 8 {
		t.Errorf("mod-sequences %d, %d; want 7, 8", updated[0].ModSeq, updated[1].ModSeq)
	}
	if _, modified, _ := st.StoreFlagsIf(inbox.ID, []uint32{1}, storage.FlagsSet, nil, 0, nil); !slices.Equal(modified, []uint32{1}) {
		t.Errorf("UNCHANGEDSINCE 0 = %v, want every message modified", modified)
	}
	many := make([]string, storage.MaxFlags)
	for i := range many {
		many[i] = fmt.Sprint("$k", i)
	}
	if _, err := st.StoreFlags(inbox.ID, []uint32{2}, storage.FlagsAdd, many, nil); !errors.Is(err, storage.ErrLimit) {
		t.Errorf("STORE over MaxFlags = %v, want ErrLimit", err)
	}
	ms, _ := st.Messages(inbox.ID, 2, 2)
	if len(ms) != 1 || len(ms[0].Flags) != 1 || ms[0].ModSeq != 6 {
		t.Errorf("message 2 after a refused STORE: %+v", ms)
	}
	if _, err := st.StoreFlags(inbox.ID, []uint32{1, 2, 3}, storage.FlagsAdd, []string{`\Deleted`}, nil); err != nil {
		t.Fatal(err)
	}
	inbox, _ = st.FolderByID(inbox.ID)
	hms := inbox.HighestModSeq
	if gone, err := st.Expunge(inbox.ID, []uint32{3, 1}, nil, nil); err != nil || !slices.Equal(gone, []uint32{1, 3}) {
		t.Fatalf("Expunge = %v, %v", gone, err)
	}
	if v, _ := st.Vanished(inbox.ID, hms); !slices.Equal(v, []uint32{1, 3}) {
		t.Errorf("Vanished(%d) = %v, want [1 3]", hms, v)
	}
	if v, _ := st.Vanished(inbox.ID, hms+1); !slices.Equal(v, []uint32{3}) {
		t.Errorf("Vanished(%d) = %v, want [3]", hms+1, v)
	}
	var last uint64
	for _, c := range log.all() {
		if c.ModSeq != 0 && c.ModSeq <= last {
			t.Errorf("change %+v: modseq not above %d", c, last)
		}
		last = max(last, c.ModSeq)
	}
	// MOVE within one folder: the copies' mod-sequences, then the removals'.
	res, err := st.Move(inbox.ID, []uint32{2}, inbox.ID, nil, nil)
	if err != nil || !slices.Equal(res.Dst, []uint32{4}) {
		t.Fatalf("Move within INBOX = %+v, %v", res, err)
	}
	cs := log.all()
	add, del := cs[len(cs)-2], cs[len(cs)-1]
	if add.Kind != storage.ChangeAppend || del.Kind != storage.ChangeExpunge || del.ModSeq != add.ModSeq+1 {
		t.Errorf("Move within a folder announced %+v then %+v", add, del)
	}
}

// TestQueue: entries in due order, retried, settled by a DSN's delivery,
// removed with their blob reference.
func TestQueue(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	st := open(t, testenv.Postgres(t), Options{Now: func() time.Time { return t0 }})
	for i, at := range []time.Time{t0.Add(time.Minute), t0} {
		_, err := st.Deliver(storage.Delivery{Message: []byte(fmt.Sprintf("Subject: q%d\r\n\r\nbody\r\n", i)),
			Queue: []storage.QueueEntry{{From: "a@x.test", To: []string{"b@y.test", "c@y.test"}, Created: t0, NextAttempt: at, MessageID: string(rune('a' + i))}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Deliver(storage.Delivery{Message: []byte("Subject: clock\r\n\r\n"), Queue: []storage.QueueEntry{{To: []string{"d@y.test"}}}}); err != nil {
		t.Fatal(err)
	}
	all, err := st.QueueList()
	if err != nil || len(all) != 3 || all[0].MessageID != "b" || all[2].MessageID != "a" || all[0].ID == all[1].ID {
		t.Fatalf("QueueList = %+v, %v; want the earlier due first", all, err)
	}
	if !all[1].Created.Equal(t0) || !all[1].NextAttempt.Equal(t0) {
		t.Errorf("entry without times = %+v; want the store's clock", all[1])
	}
	due, next, err := st.QueueDue(t0, 1)
	if err != nil || len(due) != 1 || due[0].MessageID != "b" || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("QueueDue(t0, 1) = %+v, next %v, %v", due, next, err)
	}
	if n, oldest, err := st.QueueStats(); n != 3 || !oldest.Equal(t0) || err != nil {
		t.Errorf("QueueStats = %d, %v, %v", n, oldest, err)
	}
	e := due[0]
	e.Attempts, e.NextAttempt, e.LastError, e.To = 1, t0.Add(time.Hour), "451 later", []string{"c@y.test"}
	if err := st.QueueRetry(e); err != nil {
		t.Fatal(err)
	}
	if all, _ := st.QueueList(); all[len(all)-1].ID != e.ID || all[len(all)-1].LastError != "451 later" || len(all[len(all)-1].To) != 1 {
		t.Errorf("after retry: %+v", all)
	}
	// A DSN settles the retried entry in its own commit.
	settle := e
	settle.To = nil
	if _, err := st.Deliver(storage.Delivery{Message: []byte("Subject: dsn\r\n\r\n"), Targets: []storage.Target{{Owner: "p1"}}, Settle: &settle}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.BlobRefs(e.Blob); n != 0 {
		t.Errorf("settled entry's blob has %d references", n)
	}
	if err := st.QueueRetry(e); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("QueueRetry of a removed entry = %v, want ErrNotFound", err)
	}
	if err := st.QueueDone(e.ID); err != nil {
		t.Errorf("QueueDone of a removed entry = %v", err)
	}
	gone := storage.QueueEntry{ID: 1 << 40, To: []string{"x@y.test"}}
	if _, err := st.Deliver(storage.Delivery{Message: []byte("Subject: dsn2\r\n\r\n"), Targets: []storage.Target{{Owner: "p1"}}, Settle: &gone}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Deliver settling a missing entry = %v, want ErrNotFound", err)
	}
	inbox, _ := st.Folder("p1", "INBOX")
	if inbox.Count != 1 {
		t.Errorf("INBOX holds %d messages; the refused delivery must leave none", inbox.Count)
	}
}

// TestUsage: usage is the sum of the owner's folder sizes; CheckQuota
// refuses what would go over.
func TestUsage(t *testing.T) {
	st := open(t, testenv.Postgres(t), Options{})
	seedTwo(t, st)
	alice := mustID(t, st, "alice@example.test")
	if _, _, err := st.Usage("nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Usage(nobody) = %v, want ErrNotFound", err)
	}
	msg := msgOf("quota")
	size := uint64(len(msg))
	for _, f := range []string{"INBOX", "Sent"} {
		if _, err := st.Append(alice, f, msg, nil, time.Time{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if used, quota, err := st.Usage(alice); used != 2*size || quota != 0 || err != nil {
		t.Errorf("Usage = %d, %d, %v; want %d, 0", used, quota, err, 2*size)
	}
	if err := st.CheckQuota(alice, 1<<40); err != nil {
		t.Errorf("CheckQuota without a quota = %v", err)
	}
	if _, err := st.SetQuota("alice@example.test", 3*size); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(alice, size); err != nil {
		t.Errorf("CheckQuota up to the quota = %v", err)
	}
	if err := st.CheckQuota(alice, size+1); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota over the quota = %v, want ErrOverQuota", err)
	}
	if _, err := st.Append(alice, "INBOX", msg, nil, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckQuota(alice, 0); !errors.Is(err, storage.ErrOverQuota) {
		t.Errorf("CheckQuota(0) at the quota = %v, want ErrOverQuota", err)
	}
}
