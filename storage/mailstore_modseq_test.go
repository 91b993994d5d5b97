package storage

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// modseqLog records the ModSeq of every announced change, per folder.
type modseqLog struct {
	mu   sync.Mutex
	last map[uint64]uint64 // folder → ModSeq of its latest change
	bad  []string
}

func (l *modseqLog) add(c Change) {
	if c.Kind != ChangeAppend && c.Kind != ChangeFlags && c.Kind != ChangeExpunge {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[uint64]uint64{}
	}
	if c.ModSeq <= l.last[c.FolderID] {
		l.bad = append(l.bad, fmt.Sprintf("folder %d: change %d:%d with modseq %d after %d", c.FolderID, c.Kind, c.UID, c.ModSeq, l.last[c.FolderID]))
	}
	if c.Kind == ChangeAppend && c.Message.ModSeq != c.ModSeq {
		l.bad = append(l.bad, fmt.Sprintf("folder %d: append %d: Message.ModSeq %d, Change.ModSeq %d", c.FolderID, c.UID, c.Message.ModSeq, c.ModSeq))
	}
	l.last[c.FolderID] = c.ModSeq
}

func (l *modseqLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) > 0 {
		t.Fatalf("change modseqs: %v", l.bad[:min(5, len(l.bad))])
	}
}

func folderByID(t *testing.T, st *Store, id uint64) Folder {
	t.Helper()
	f, err := st.FolderByID(id)
	if err != nil {
		t.Fatalf("FolderByID(%d): %v", id, err)
	}
	return f
}

func modseqs(t *testing.T, st *Store, folder uint64) map[uint32]uint64 {
	t.Helper()
	ms, err := st.Messages(folder, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]uint64{}
	for _, m := range ms {
		out[m.UID] = m.ModSeq
	}
	return out
}

// TestModSeqOldRecords: a folder and a message written before
// mod-sequences existed read as 1, and their next change is 2.
func TestModSeqOldRecords(t *testing.T) {
	st := openMailTest(t)
	f, err := st.Folder("p1", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	// The records as the previous version wrote them: no modseq fields.
	type oldFolder struct {
		ID          uint64        `json:"id"`
		Owner       delegation.ID `json:"owner"`
		Name        string        `json:"name"`
		UIDValidity uint32        `json:"uid_validity"`
		UIDNext     uint32        `json:"uid_next"`
		Count       uint32        `json:"count"`
		Subscribed  bool          `json:"subscribed"`
	}
	if err := st.update(func(txn *badger.Txn) error {
		if err := setJSON(txn, foldRecKey(f.ID), oldFolder{ID: f.ID, Owner: f.Owner, Name: f.Name, UIDValidity: f.UIDValidity, UIDNext: 2, Count: 1, Subscribed: true}); err != nil {
			return err
		}
		return txn.Set(msgKey(f.ID, 1), []byte(`{"uid":1,"flags":["\\Seen"],"date":"2024-01-02T03:04:05Z","size":3,"blob":0}`))
	}); err != nil {
		t.Fatal(err)
	}
	if got := folderByID(t, st, f.ID); got.HighestModSeq != 1 || got.UIDNext != 2 {
		t.Fatalf("old folder record reads as %+v, want HighestModSeq 1", got)
	}
	if got, _ := st.Folder("p1", "INBOX"); got.HighestModSeq != 1 {
		t.Fatalf("Folder: HighestModSeq %d, want 1", got.HighestModSeq)
	}
	ms, err := st.Messages(f.ID, 0, 0)
	if err != nil || len(ms) != 1 || ms[0].ModSeq != 1 {
		t.Fatalf("old message record reads as %+v, %v; want ModSeq 1", ms, err)
	}
	if err := st.Snapshot(f.ID, func(f Folder, msgs []Message) {
		if f.HighestModSeq != 1 || len(msgs) != 1 || msgs[0].ModSeq != 1 {
			t.Errorf("Snapshot of old records: %+v %+v", f, msgs)
		}
	}); err != nil {
		t.Fatal(err)
	}
	got, err := st.StoreFlags(f.ID, []uint32{1}, FlagsAdd, []string{`\Seen`}, NoOrigin)
	if err != nil || len(got) != 1 || got[0].ModSeq != 1 {
		t.Fatalf("no-op StoreFlags on an old record = %+v, %v; want ModSeq 1", got, err)
	}
	got, err = st.StoreFlags(f.ID, []uint32{1}, FlagsAdd, []string{`\Flagged`}, NoOrigin)
	if err != nil || len(got) != 1 || got[0].ModSeq != 2 {
		t.Fatalf("first change of an old record = %+v, %v; want ModSeq 2", got, err)
	}
	if got := folderByID(t, st, f.ID); got.HighestModSeq != 2 {
		t.Fatalf("HighestModSeq after the first change: %d, want 2", got.HighestModSeq)
	}
}
