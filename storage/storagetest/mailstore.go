package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// OpenBackend opens a new, empty store for one mailstore test.
type OpenBackend func(t *testing.T) storage.Backend

// RunMailstore runs the mailstore tests (storage.Mailstore) on stores from
// open. They are black-box: a tenant and its principals are made through
// the directory methods, everything else through the mail methods. Each
// subtest has a store of its own.
func RunMailstore(t *testing.T, open func(t *testing.T) storage.Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, storage.Backend)
	}{
		{"DefaultFolders", defaultFolders},
		{"CreateFolder", createFolder},
		{"FolderNames", folderNames},
		{"DeleteFolder", deleteFolder},
		{"RenameFolder", renameFolder},
		{"RenameInbox", renameInbox},
		{"Subscriptions", subscriptions},
		{"FolderAudit", folderAudit},
		{"Deliver", deliver},
		{"DeliverRefused", deliverRefused},
		{"DeliverAudit", deliverAudit},
		{"Append", appendOne},
		{"AppendAll", appendAll},
		{"MessagesRanges", messagesRanges},
		{"Bodies", bodies},
		{"Snapshot", snapshot},
		{"ConcurrentDeliveries", concurrentDeliveries},
		{"StoreFlags", storeFlags},
		{"StoreFlagsIf", storeFlagsIf},
		{"FlagLimit", flagLimit},
		{"Expunge", expunge},
		{"Vanished", vanished},
		{"Copy", copyMessages},
		{"Move", moveMessages},
		{"CopyMoveSameFolder", copyMoveSameFolder},
		{"CopyMoveMissing", copyMoveMissing},
		{"LargeMove", largeMove},
		{"LargeExpunge", largeExpunge},
		{"LargeCopy", largeCopy},
		{"LargeStoreLimit", largeStoreLimit},
		{"Quota", quota},
		{"DelegateCopyQuota", delegateCopyQuota},
		{"ChangeOrder", changeOrder},
		{"ConcurrentModSeq", concurrentModSeq},
		{"Queue", queue},
		{"QueueRetry", queueRetry},
		{"QueueClaim", queueClaim},
		{"QueueWithTargets", queueWithTargets},
		{"DeliverSettles", deliverSettles},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// mailbox is the seed of a mailstore test: tenant example.test (no
// propagation delay) with users alice and bob.
type mailbox struct {
	alice, bob delegation.ID
}

func seedMail(t *testing.T, st storage.Backend) mailbox {
	t.Helper()
	if _, err := st.AddTenant("example.test", 0); err != nil {
		t.Fatal(err)
	}
	var m mailbox
	for _, p := range []struct {
		addr string
		id   *delegation.ID
	}{{"alice@example.test", &m.alice}, {"bob@example.test", &m.bob}} {
		pr, err := st.AddPrincipal(user(p.addr))
		if err != nil {
			t.Fatal(err)
		}
		*p.id = pr.ID
	}
	return m
}

func msgOf(subject string) []byte {
	return []byte("From: a@example.org\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n")
}

// sized is a message of exactly n bytes (n >= 14).
func sized(n int) []byte {
	return append([]byte("Subject: q\r\n\r\n"), strings.Repeat("x", n-14)...)
}

func keywords(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func seq(from, to uint32) []uint32 {
	var out []uint32
	for u := from; u <= to; u++ {
		out = append(out, u)
	}
	return out
}

func folder(t *testing.T, st storage.Backend, owner delegation.ID, name string) storage.Folder {
	t.Helper()
	f, err := st.Folder(owner, name)
	if err != nil {
		t.Fatalf("Folder(%s, %q): %v", owner, name, err)
	}
	return f
}

func folderByID(t *testing.T, st storage.Backend, id uint64) storage.Folder {
	t.Helper()
	f, err := st.FolderByID(id)
	if err != nil {
		t.Fatalf("FolderByID(%d): %v", id, err)
	}
	return f
}

func create(t *testing.T, st storage.Backend, owner delegation.ID, name string) storage.Folder {
	t.Helper()
	f, err := st.CreateFolder(owner, name, "", nil)
	if err != nil {
		t.Fatalf("CreateFolder(%q): %v", name, err)
	}
	return f
}

func messages(t *testing.T, st storage.Backend, folderID uint64) []storage.Message {
	t.Helper()
	ms, err := st.Messages(folderID, 0, 0)
	if err != nil {
		t.Fatalf("Messages(%d): %v", folderID, err)
	}
	return ms
}

func uidsOf(ms []storage.Message) []uint32 {
	out := []uint32{}
	for _, m := range ms {
		out = append(out, m.UID)
	}
	return out
}

func modseqs(t *testing.T, st storage.Backend, folderID uint64) map[uint32]uint64 {
	t.Helper()
	out := map[uint32]uint64{}
	for _, m := range messages(t, st, folderID) {
		out[m.UID] = m.ModSeq
	}
	return out
}

func refs(t *testing.T, st storage.Backend, blob uint64) uint64 {
	t.Helper()
	n, err := st.BlobRefs(blob)
	if err != nil {
		t.Fatalf("BlobRefs(%d): %v", blob, err)
	}
	return n
}

func appendMsg(t *testing.T, st storage.Backend, owner delegation.ID, name string, msg []byte, flags ...string) storage.Placed {
	t.Helper()
	p, err := st.Append(owner, name, msg, flags, time.Time{}, storage.NoOrigin)
	if err != nil {
		t.Fatalf("Append to %s: %v", name, err)
	}
	return p
}

// fill appends n messages to a folder, in batches of AppendAll, each
// with its own body, and returns the folder.
func fill(t *testing.T, st storage.Backend, owner delegation.ID, name string, n int, flags ...string) storage.Folder {
	t.Helper()
	for done := 0; done < n; {
		var batch []storage.AppendMessage
		for ; done < n && len(batch) < 250; done++ {
			batch = append(batch, storage.AppendMessage{Message: msgOf(fmt.Sprintf("%s %d", name, done)), Flags: flags})
		}
		if _, err := st.AppendAll(owner, name, batch, storage.NoOrigin, nil); err != nil {
			t.Fatalf("AppendAll %d messages to %s: %v", len(batch), name, err)
		}
	}
	return folder(t, st, owner, name)
}

// changeLog records the changes announced by OnChange, in order.
type changeLog struct {
	mu sync.Mutex
	cs []storage.Change
}

func listen(st storage.Backend) *changeLog {
	l := &changeLog{}
	st.OnChange(func(c storage.Change) {
		l.mu.Lock()
		l.cs = append(l.cs, c)
		l.mu.Unlock()
	})
	return l
}

func (l *changeLog) take() []storage.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.cs
	l.cs = nil
	return cs
}

// mailChanges keeps the changes to messages (append, flags, expunge).
func mailChanges(cs []storage.Change) []storage.Change {
	var out []storage.Change
	for _, c := range cs {
		if c.Kind == storage.ChangeAppend || c.Kind == storage.ChangeFlags || c.Kind == storage.ChangeExpunge {
			out = append(out, c)
		}
	}
	return out
}

// checkModSeqs checks that each folder's message changes come with
// strictly increasing mod-sequences, an append's Message.ModSeq its
// Change.ModSeq, and returns each folder's last.
func checkModSeqs(t *testing.T, cs []storage.Change) map[uint64]uint64 {
	t.Helper()
	last := map[uint64]uint64{}
	bad := 0
	for _, c := range mailChanges(cs) {
		if c.ModSeq <= last[c.FolderID] && bad < 5 {
			t.Errorf("folder %d: change %d of UID %d with ModSeq %d after %d", c.FolderID, c.Kind, c.UID, c.ModSeq, last[c.FolderID])
			bad++
		}
		if c.Kind == storage.ChangeAppend && (c.Message.ModSeq != c.ModSeq || c.Message.UID != c.UID) && bad < 5 {
			t.Errorf("folder %d: append of UID %d: Message %+v, Change.ModSeq %d", c.FolderID, c.UID, c.Message, c.ModSeq)
			bad++
		}
		last[c.FolderID] = c.ModSeq
	}
	return last
}

func names(fs []storage.Folder) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
