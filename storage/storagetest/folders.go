package storagetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/storage"
)

var defaultSpecialUse = map[string]string{
	"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`,
}

// defaultFolders: the default folders come on first use, with their
// SPECIAL-USE attributes (RFC 6154), one by one through Folder or all at
// once, and Folders lists them INBOX first, then by name.
func defaultFolders(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	if fs, err := st.Folders(mb.alice); err != nil || len(fs) != 0 {
		t.Fatalf("Folders of a new principal = %v, %v; want none", names(fs), err)
	}
	sent := folder(t, st, mb.alice, "Sent")
	if sent.Name != "Sent" || sent.SpecialUse != `\Sent` || sent.Owner != mb.alice || sent.UIDNext != 1 || sent.Count != 0 ||
		sent.Size != 0 || sent.UIDValidity == 0 || sent.HighestModSeq != 1 {
		t.Errorf("Folder(Sent) on first use = %+v", sent)
	}
	if fs, _ := st.Folders(mb.alice); !slices.Equal(names(fs), []string{"Sent"}) {
		t.Errorf("after Folder(Sent): folders %q, want [Sent]", names(fs))
	}
	if _, err := st.Folder(mb.alice, "Projects"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Folder of a missing non-default folder: %v, want ErrNotFound", err)
	}
	if err := st.EnsureDefaultFolders(mb.alice); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureDefaultFolders(mb.alice); err != nil {
		t.Fatalf("EnsureDefaultFolders twice: %v", err)
	}
	fs, err := st.Folders(mb.alice)
	fatal(t, err)
	if want := []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}; !slices.Equal(names(fs), want) {
		t.Fatalf("Folders = %q, want %q", names(fs), want)
	}
	ids := map[uint64]bool{}
	for _, f := range fs {
		if f.SpecialUse != defaultSpecialUse[f.Name] || f.Owner != mb.alice || f.UIDNext != 1 || f.HighestModSeq != 1 {
			t.Errorf("default folder %+v, want SPECIAL-USE %q", f, defaultSpecialUse[f.Name])
		}
		if ids[f.ID] {
			t.Errorf("two folders with ID %d", f.ID)
		}
		ids[f.ID] = true
		if byID := folderByID(t, st, f.ID); byID.Name != f.Name || byID.UIDValidity != f.UIDValidity {
			t.Errorf("FolderByID(%d) = %+v, Folders has %+v", f.ID, byID, f)
		}
	}
	if again := folder(t, st, mb.alice, "Sent"); again.ID != sent.ID {
		t.Errorf("EnsureDefaultFolders made Sent again: ID %d, was %d", again.ID, sent.ID)
	}
	// Another principal's folders are its own.
	bobInbox := folder(t, st, mb.bob, "INBOX")
	if ids[bobInbox.ID] || bobInbox.Owner != mb.bob {
		t.Errorf("bob's INBOX %+v shares an ID with alice's folders", bobInbox)
	}
	if fs, _ := st.Folders(mb.bob); !slices.Equal(names(fs), []string{"INBOX"}) {
		t.Errorf("bob's folders %q, want [INBOX]", names(fs))
	}
}

// createFolder: CREATE makes missing parents (RFC 3501 §6.3.3), refuses a
// folder that exists, stores a SPECIAL-USE attribute, and never reuses a
// folder's ID or UIDVALIDITY.
func createFolder(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	w, err := st.CreateFolder(mb.alice, "Work/2026/Q1", "", nil)
	fatal(t, err)
	if w.Name != "Work/2026/Q1" || w.Owner != mb.alice || w.UIDNext != 1 || w.Count != 0 || w.UIDValidity == 0 || w.HighestModSeq != 1 || w.SpecialUse != "" {
		t.Errorf("CreateFolder = %+v", w)
	}
	fs, err := st.Folders(mb.alice)
	fatal(t, err)
	if want := []string{"Work", "Work/2026", "Work/2026/Q1"}; !slices.Equal(names(fs), want) {
		t.Errorf("folders after CreateFolder(Work/2026/Q1) = %q, want %q", names(fs), want)
	}
	for _, n := range []string{"Work/2026/Q1", "Work", "Work/2026"} {
		_, err := st.CreateFolder(mb.alice, n, "", nil)
		wantKind(t, "CreateFolder("+n+") again", err, storage.ErrExists)
	}
	if _, err := st.CreateFolder(mb.bob, "Work", "", nil); err != nil {
		t.Errorf("bob's Work beside alice's: %v", err)
	}
	arch, err := st.CreateFolder(mb.alice, "Stuff/Old", `\Archive`, nil)
	fatal(t, err)
	if arch.SpecialUse != `\Archive` || folder(t, st, mb.alice, "Stuff/Old").SpecialUse != `\Archive` {
		t.Errorf("CreateFolder with \\Archive: %+v", arch)
	}
	if p := folder(t, st, mb.alice, "Stuff"); p.SpecialUse != "" {
		t.Errorf("parent made by CREATE has SPECIAL-USE %q", p.SpecialUse)
	}
	// A default folder created by hand gets its attribute too.
	if d, err := st.CreateFolder(mb.alice, "Drafts", "", nil); err != nil || d.SpecialUse != `\Drafts` {
		t.Errorf("CreateFolder(Drafts) = %+v, %v; want \\Drafts", d, err)
	}
	folder(t, st, mb.alice, "INBOX")
	_, err = st.CreateFolder(mb.alice, "inbox", "", nil)
	wantKind(t, "CreateFolder(inbox) once INBOX is there", err, storage.ErrExists)

	// Deleted and made again: a new ID and a new UIDVALIDITY (RFC 3501
	// §2.3.1.1), and UIDs start again.
	x := create(t, st, mb.alice, "X")
	appendMsg(t, st, mb.alice, "X", msgOf("1"))
	if _, err := st.DeleteFolder(mb.alice, "X", nil); err != nil {
		t.Fatal(err)
	}
	x2 := create(t, st, mb.alice, "X")
	if x2.ID == x.ID || x2.UIDValidity == x.UIDValidity || x2.UIDNext != 1 || x2.Count != 0 {
		t.Errorf("X made again = %+v, was %+v: want a new ID and UIDVALIDITY", x2, x)
	}
}

// folderNames: the API applies storage.NormalizeFolder's rules: INBOX in
// any case is INBOX (also as the first level), "" is INBOX, and empty
// levels, "." and "..", control characters and LIST wildcards are refused.
func folderNames(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	inbox := folder(t, st, mb.alice, "INBOX")
	for _, n := range []string{"inbox", "InBoX", ""} {
		if f := folder(t, st, mb.alice, n); f.ID != inbox.ID || f.Name != "INBOX" {
			t.Errorf("Folder(%q) = %+v, want INBOX %d", n, f, inbox.ID)
		}
	}
	sub, err := st.CreateFolder(mb.alice, "inbox/Sub", "", nil)
	fatal(t, err)
	if sub.Name != "INBOX/Sub" {
		t.Errorf("CreateFolder(inbox/Sub) named %q, want INBOX/Sub", sub.Name)
	}
	if f := folder(t, st, mb.alice, "Inbox/Sub"); f.ID != sub.ID {
		t.Errorf("Folder(Inbox/Sub) = %+v", f)
	}
	// Only INBOX is case-insensitive.
	work := create(t, st, mb.alice, "Work")
	if _, err := st.Folder(mb.alice, "work"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Folder(work) with only Work: %v, want ErrNotFound", err)
	}
	if w, err := st.CreateFolder(mb.alice, "work", "", nil); err != nil || w.ID == work.ID {
		t.Errorf("CreateFolder(work) beside Work = %+v, %v", w, err)
	}
	// INBOX is special only as the first level.
	if f, err := st.CreateFolder(mb.alice, "Work/inbox", "", nil); err != nil || f.Name != "Work/inbox" {
		t.Errorf("CreateFolder(Work/inbox) = %+v, %v; want the name kept", f, err)
	}
	for _, bad := range []string{strings.Repeat("x", 1001), "a//b", "/a", "a/", "a/./b", "..", "a/../b", "a*", "a%b", "a\x01b", "a\x7fb", "tab\there"} {
		_, err := st.CreateFolder(mb.alice, bad, "", nil)
		wantKind(t, "CreateFolder("+bad+")", err, storage.ErrInvalid)
		_, err = st.Folder(mb.alice, bad)
		wantKind(t, "Folder("+bad+")", err, storage.ErrInvalid)
	}
	_, err = st.Deliver(storage.Delivery{Message: msgOf("x"), Targets: []storage.Target{{Owner: mb.alice, Folder: "a//b"}}})
	wantKind(t, "Deliver to a//b", err, storage.ErrInvalid)
	err = st.RenameFolder(mb.alice, "Work", "W*", nil)
	wantKind(t, "RenameFolder to W*", err, storage.ErrInvalid)
	fs, err := st.Folders(mb.alice)
	fatal(t, err)
	if want := []string{"INBOX", "INBOX/Sub", "Work", "Work/inbox", "work"}; !slices.Equal(names(fs), want) {
		t.Errorf("folders = %q, want %q", names(fs), want)
	}
}

// deleteFolder: DELETE (RFC 3501 §6.3.4) refuses INBOX and a folder with
// subfolders, removes the messages and drops their bodies' references.
func deleteFolder(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	folder(t, st, mb.alice, "INBOX")
	for _, n := range []string{"INBOX", "inbox"} {
		_, err := st.DeleteFolder(mb.alice, n, nil)
		wantKind(t, "DeleteFolder("+n+")", err, storage.ErrInvalid)
	}
	create(t, st, mb.alice, "P/Q")
	_, err := st.DeleteFolder(mb.alice, "P", nil)
	wantKind(t, "DeleteFolder with a subfolder", err, storage.ErrHasChildren)
	_, err = st.DeleteFolder(mb.alice, "Nope", nil)
	wantKind(t, "DeleteFolder of a missing folder", err, storage.ErrNotFound)

	// Q holds two messages; the first has a copy in INBOX.
	pq := folder(t, st, mb.alice, "P/Q")
	p1 := appendMsg(t, st, mb.alice, "P/Q", msgOf("one"))
	appendMsg(t, st, mb.alice, "P/Q", msgOf("two"), `\Deleted`)
	if _, err := st.Expunge(pq.ID, nil, storage.NoOrigin, nil); err != nil { // a tombstone too
		t.Fatal(err)
	}
	appendMsg(t, st, mb.alice, "P/Q", msgOf("three"))
	ms := messages(t, st, pq.ID)
	if len(ms) != 2 {
		t.Fatalf("P/Q holds %d messages, want 2", len(ms))
	}
	inbox := folder(t, st, mb.alice, "INBOX")
	if _, err := st.Copy(pq.ID, []uint32{p1.UID}, inbox.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	shared, only := ms[0].Blob, ms[1].Blob
	if refs(t, st, shared) != 2 || refs(t, st, only) != 1 {
		t.Fatalf("before DELETE: references %d and %d, want 2 and 1", refs(t, st, shared), refs(t, st, only))
	}
	del, err := st.DeleteFolder(mb.alice, "P/Q", nil)
	fatal(t, err)
	if del.ID != pq.ID || del.Name != "P/Q" {
		t.Errorf("DeleteFolder returned %+v, want folder %d", del, pq.ID)
	}
	if _, err := st.FolderByID(pq.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("FolderByID of a deleted folder: %v, want ErrNotFound", err)
	}
	if _, err := st.Folder(mb.alice, "P/Q"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Folder(P/Q) after DELETE: %v, want ErrNotFound", err)
	}
	if ms, err := st.Messages(pq.ID, 0, 0); err != nil || len(ms) != 0 {
		t.Errorf("Messages of a deleted folder = %d messages, %v; want none", len(ms), err)
	}
	if v, err := st.Vanished(pq.ID, 0); err != nil || len(v) != 0 {
		t.Errorf("Vanished of a deleted folder = %v, %v; want none", v, err)
	}
	if n := refs(t, st, shared); n != 1 {
		t.Errorf("body also in INBOX: %d references after DELETE, want 1", n)
	}
	if n := refs(t, st, only); n != 0 {
		t.Errorf("body only in the deleted folder: %d references, want 0", n)
	}
	if _, err := st.Body(only); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Body of a blob with no references: %v, want ErrNotFound", err)
	}
	if b, err := st.Body(shared); err != nil || string(b) != string(msgOf("one")) {
		t.Errorf("Body of the copy left in INBOX = %q, %v", b, err)
	}
	// Now P has no children and goes.
	if _, err := st.DeleteFolder(mb.alice, "P", nil); err != nil {
		t.Errorf("DeleteFolder(P) once empty of subfolders: %v", err)
	}
	fs, err := st.Folders(mb.alice)
	fatal(t, err)
	if !slices.Equal(names(fs), []string{"INBOX"}) {
		t.Errorf("folders after the deletions: %q, want [INBOX]", names(fs))
	}
	// A default folder can be deleted and comes back, new, on next use.
	sent := folder(t, st, mb.alice, "Sent")
	if _, err := st.DeleteFolder(mb.alice, "Sent", nil); err != nil {
		t.Fatal(err)
	}
	if again := folder(t, st, mb.alice, "Sent"); again.ID == sent.ID || again.SpecialUse != `\Sent` {
		t.Errorf("Sent after DELETE and use = %+v, was %d", again, sent.ID)
	}
}

// renameFolder: RENAME (RFC 3501 §6.3.5) keeps the folder's ID,
// UIDVALIDITY, UIDs and messages, moves its subfolders, and creates the
// new name's missing parents.
func renameFolder(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	work := create(t, st, mb.alice, "Work/2026")
	parent := folder(t, st, mb.alice, "Work")
	appendMsg(t, st, mb.alice, "Work/2026", msgOf("a"), `\Seen`)
	appendMsg(t, st, mb.alice, "Work/2026", msgOf("b"))
	appendMsg(t, st, mb.alice, "Work/2026", msgOf("gone"), `\Deleted`)
	if _, err := st.Expunge(work.ID, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	before := messages(t, st, work.ID)
	hms := folderByID(t, st, work.ID).HighestModSeq
	create(t, st, mb.alice, "Other")

	err := st.RenameFolder(mb.alice, "Work", "Other", nil)
	wantKind(t, "RenameFolder onto an existing folder", err, storage.ErrExists)
	err = st.RenameFolder(mb.alice, "Nope", "Else", nil)
	wantKind(t, "RenameFolder of a missing folder", err, storage.ErrNotFound)
	err = st.RenameFolder(mb.alice, "Work", "Work/Sub", nil)
	wantKind(t, "RenameFolder into itself", err, storage.ErrInvalid)
	err = st.RenameFolder(mb.alice, "Work", "Work", nil)
	wantKind(t, "RenameFolder to its own name", err, storage.ErrInvalid)

	cl := listen(st)
	if err := st.RenameFolder(mb.alice, "Work", "Jobs/Old", nil); err != nil {
		t.Fatal(err)
	}
	var announced []string
	for _, c := range cl.take() {
		if c.Kind == storage.ChangeFolder && c.Owner == mb.alice {
			announced = append(announced, c.Folder)
		}
	}
	if want := []string{"Jobs", "Jobs/Old", "Jobs/Old/2026"}; !slices.Equal(sortedCopy(announced), want) {
		t.Errorf("RENAME Work Jobs/Old announced folders %q, want %q (the new parent too)", announced, want)
	}
	fs, err := st.Folders(mb.alice)
	fatal(t, err)
	if want := []string{"Jobs", "Jobs/Old", "Jobs/Old/2026", "Other"}; !slices.Equal(names(fs), want) {
		t.Errorf("folders after RENAME Work Jobs/Old = %q, want %q", names(fs), want)
	}
	moved := folder(t, st, mb.alice, "Jobs/Old/2026")
	if v, err := st.Vanished(work.ID, 0); err != nil || !slices.Equal(v, []uint32{3}) {
		t.Errorf("Vanished after RENAME = %v, %v; want [3]", v, err)
	}
	if moved.ID != work.ID || moved.UIDValidity != work.UIDValidity || moved.UIDNext != 4 || moved.Count != 2 || moved.HighestModSeq != hms {
		t.Errorf("renamed child = %+v, was %+v (HighestModSeq %d)", moved, work, hms)
	}
	if p := folder(t, st, mb.alice, "Jobs/Old"); p.ID != parent.ID || p.UIDValidity != parent.UIDValidity {
		t.Errorf("renamed folder = %+v, was %+v", p, parent)
	}
	if byID := folderByID(t, st, work.ID); byID.Name != "Jobs/Old/2026" {
		t.Errorf("FolderByID after RENAME: name %q", byID.Name)
	}
	after := messages(t, st, work.ID)
	if len(after) != len(before) {
		t.Fatalf("renamed folder holds %d messages, want %d", len(after), len(before))
	}
	for i := range after {
		if a, b := after[i], before[i]; a.UID != b.UID || a.Blob != b.Blob || a.ModSeq != b.ModSeq || !slices.Equal(a.Flags, b.Flags) {
			t.Errorf("message after RENAME %+v, before %+v", a, b)
		}
	}
	for _, n := range []string{"Work", "Work/2026"} {
		if _, err := st.Folder(mb.alice, n); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("old name %s after RENAME: %v, want ErrNotFound", n, err)
		}
	}
	// The old name is free again, with a new ID.
	if w := create(t, st, mb.alice, "Work"); w.ID == parent.ID {
		t.Errorf("Work made again with the renamed folder's ID %d", w.ID)
	}
	// Mail goes on arriving under the new name.
	if p := appendMsg(t, st, mb.alice, "Jobs/Old/2026", msgOf("c")); p.UID != 4 || p.FolderID != work.ID || p.UIDValidity != work.UIDValidity {
		t.Errorf("Append after RENAME placed %+v", p)
	}
}

// renameInbox: RENAME INBOX moves its messages to the new folder and
// leaves INBOX, empty, in place (RFC 3501 §6.3.5).
func renameInbox(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	inbox := folder(t, st, mb.alice, "INBOX")
	appendMsg(t, st, mb.alice, "INBOX", msgOf("a"), `\Seen`)
	appendMsg(t, st, mb.alice, "INBOX", msgOf("b"))
	blobs := []uint64{}
	for _, m := range messages(t, st, inbox.ID) {
		blobs = append(blobs, m.Blob)
	}
	if err := st.RenameFolder(mb.alice, "inbox", "Old Inbox", nil); err != nil {
		t.Fatal(err)
	}
	in := folder(t, st, mb.alice, "INBOX")
	if in.ID != inbox.ID || in.UIDValidity != inbox.UIDValidity || in.Count != 0 || in.Size != 0 || in.UIDNext != 3 {
		t.Errorf("INBOX after RENAME INBOX = %+v: want the same folder, empty, UIDNEXT kept at 3", in)
	}
	if ms := messages(t, st, inbox.ID); len(ms) != 0 {
		t.Errorf("INBOX still holds %d messages", len(ms))
	}
	old := folder(t, st, mb.alice, "Old Inbox")
	if old.ID == inbox.ID || old.Count != 2 || old.SpecialUse != "" {
		t.Errorf("Old Inbox = %+v", old)
	}
	ms := messages(t, st, old.ID)
	if len(ms) != 2 || ms[0].Blob != blobs[0] || ms[1].Blob != blobs[1] || !slices.Equal(ms[0].Flags, []string{`\Seen`}) {
		t.Errorf("Old Inbox messages %+v", ms)
	}
	for _, b := range blobs {
		if n := refs(t, st, b); n != 1 {
			t.Errorf("blob %d: %d references after RENAME INBOX, want 1", b, n)
		}
	}
	if p := appendMsg(t, st, mb.alice, "INBOX", msgOf("c")); p.UID != 3 || p.FolderID != inbox.ID {
		t.Errorf("delivery to INBOX after its RENAME placed %+v, want UID 3", p)
	}
	err := st.RenameFolder(mb.alice, "INBOX", "Old Inbox", nil)
	wantKind(t, "RENAME INBOX onto an existing folder", err, storage.ErrExists)
}

// subscriptions: only an existing folder can be subscribed; a name stays
// subscribed when its folder is deleted (RFC 9051 §6.3.7) and so is the
// folder made again under it, moves with RENAME, and the default folders
// come subscribed.
func subscriptions(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	if err := st.EnsureDefaultFolders(mb.alice); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a/b", "a/c", "x"} {
		create(t, st, mb.alice, n)
	}
	want := func(what string, names ...string) {
		t.Helper()
		got, err := st.Subscriptions(mb.alice)
		if err != nil {
			t.Fatal(err)
		}
		all := sortedCopy(append([]string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}, names...))
		if !slices.Equal(got, all) {
			t.Errorf("%s: subscriptions %q, want %q", what, got, all)
		}
	}
	want("created folders (only the defaults are subscribed)")
	if got, err := st.Subscriptions(mb.bob); err != nil || len(got) != 0 {
		t.Errorf("bob's subscriptions = %q, %v; want none", got, err)
	}
	err := st.Subscribe(mb.alice, "nope")
	wantKind(t, "Subscribe of a missing folder", err, storage.ErrNotFound)
	err = st.Subscribe(mb.alice, "a//b")
	wantKind(t, "Subscribe of a bad name", err, storage.ErrInvalid)
	for _, n := range []string{"a/b", "x", "x"} {
		if err := st.Subscribe(mb.alice, n); err != nil {
			t.Fatalf("Subscribe(%s): %v", n, err)
		}
	}
	want("after SUBSCRIBE a/b x", "a/b", "x")
	if _, err := st.DeleteFolder(mb.alice, "x", nil); err != nil {
		t.Fatal(err)
	}
	want("after DELETE x", "a/b", "x")
	// Made again, the folder is subscribed as it was.
	create(t, st, mb.alice, "x")
	want("after CREATE x again", "a/b", "x")
	if _, err := st.DeleteFolder(mb.alice, "x", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.RenameFolder(mb.alice, "a", "z", nil); err != nil {
		t.Fatal(err)
	}
	want("after RENAME a z", "x", "z/b")
	if err := st.Unsubscribe(mb.alice, "x"); err != nil {
		t.Errorf("Unsubscribe of a deleted folder: %v", err)
	}
	if err := st.Unsubscribe(mb.alice, "z/c"); err != nil {
		t.Errorf("Unsubscribe of an unsubscribed folder: %v", err)
	}
	err = st.Unsubscribe(mb.alice, "x")
	wantKind(t, "Unsubscribe of a name neither subscribed nor a folder", err, storage.ErrNotFound)
	if err := st.Unsubscribe(mb.alice, "inbox"); err != nil {
		t.Errorf("Unsubscribe(inbox): %v", err)
	}
	got, err := st.Subscriptions(mb.alice)
	fatal(t, err)
	if want := []string{"Archive", "Drafts", "Junk", "Sent", "Trash", "z/b"}; !slices.Equal(got, want) {
		t.Errorf("after UNSUBSCRIBE x, inbox: %q, want %q", got, want)
	}
}

// folderAudit: the audit records of CREATE, RENAME and DELETE commit with
// them, once each (RENAME INBOX too), and a refused change writes none.
func folderAudit(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	folder(t, st, mb.alice, "INBOX")
	var calls []string
	rec := func(action string) storage.AuditFunc {
		return func(o storage.Outcome) []storage.AuditRecord {
			calls = append(calls, action)
			return []storage.AuditRecord{{Proto: "imap", Action: "folder_" + action, Actor: "bob@example.test", ActorID: string(mb.bob),
				Mailbox: "alice@example.test", MailboxID: string(mb.alice), Right: "full-access", Decision: storage.AuditAllowed, Folder: action}}
		}
	}
	check := func(what string, want ...string) {
		t.Helper()
		recs, err := st.AuditList(storage.AuditFilter{ActorID: string(mb.bob)})
		fatal(t, err)
		got := []string{}
		for _, r := range recs {
			got = append(got, r.Action)
			if r.MailboxID != string(mb.alice) || r.Time.IsZero() || r.Decision != storage.AuditAllowed {
				t.Errorf("%s: record %+v", what, r)
			}
		}
		if want == nil {
			want = []string{}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: audit %q, want %q", what, got, want)
		}
	}
	if _, err := st.CreateFolder(mb.alice, "A/B", "", rec("create")); err != nil {
		t.Fatal(err)
	}
	check("CreateFolder", "folder_create")
	_, err := st.CreateFolder(mb.alice, "A/B", "", rec("create"))
	wantKind(t, "CreateFolder again", err, storage.ErrExists)
	_, err = st.CreateFolder(mb.alice, "a//b", "", rec("create"))
	wantKind(t, "CreateFolder a//b", err, storage.ErrInvalid)
	check("refused CreateFolder", "folder_create")
	if err := st.RenameFolder(mb.alice, "A", "C", rec("rename")); err != nil {
		t.Fatal(err)
	}
	err = st.RenameFolder(mb.alice, "Nope", "D", rec("rename"))
	wantKind(t, "RenameFolder of a missing folder", err, storage.ErrNotFound)
	create(t, st, mb.alice, "D")
	err = st.RenameFolder(mb.alice, "C", "D", rec("rename"))
	wantKind(t, "RenameFolder onto D", err, storage.ErrExists)
	check("RenameFolder", "folder_create", "folder_rename")
	_, err = st.DeleteFolder(mb.alice, "C", rec("delete"))
	wantKind(t, "DeleteFolder with a subfolder", err, storage.ErrHasChildren)
	check("refused DeleteFolder", "folder_create", "folder_rename")
	if _, err := st.DeleteFolder(mb.alice, "C/B", rec("delete")); err != nil {
		t.Fatal(err)
	}
	check("DeleteFolder", "folder_create", "folder_rename", "folder_delete")
	appendMsg(t, st, mb.alice, "INBOX", msgOf("x"))
	calls = nil
	if err := st.RenameFolder(mb.alice, "INBOX", "Old", rec("rename")); err != nil {
		t.Fatal(err)
	}
	check("RENAME INBOX", "folder_create", "folder_rename", "folder_delete", "folder_rename")
	if len(calls) != 1 {
		t.Errorf("RENAME INBOX called its AuditFunc %d times, want once", len(calls))
	}
	// A refused COPY, MOVE or EXPUNGE records nothing either.
	inbox := folder(t, st, mb.alice, "INBOX")
	old := folder(t, st, mb.alice, "Old")
	if _, err := st.DeleteFolder(mb.alice, "D", nil); err != nil {
		t.Fatal(err)
	}
	d := old.ID + inbox.ID + 1000
	if _, err := st.Copy(old.ID, []uint32{1}, d, storage.NoOrigin, rec("copy")); err == nil {
		t.Errorf("Copy to a missing folder: no error")
	}
	if _, err := st.Move(old.ID, []uint32{1}, d, storage.NoOrigin, rec("move")); err == nil {
		t.Errorf("Move to a missing folder: no error")
	}
	check("refused COPY and MOVE", "folder_create", "folder_rename", "folder_delete", "folder_rename")
}
