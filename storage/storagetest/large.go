package storagetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mailgate/mailgate/storage"
)

// large is more messages than one transaction of the Badger store holds
// (1,000), so that MOVE, COPY and EXPUNGE span several of them there and
// must still act as one operation.
const large = 1500

// watch calls look repeatedly until done is closed or has a value, and
// returns how many looks it made and the operation's error.
func watch(done <-chan error, look func()) (int, error) {
	for n := 1; ; n++ {
		look()
		select {
		case err := <-done:
			look()
			return n + 1, err
		default:
		}
	}
}

// largeMove: a MOVE of 1,500 messages moves them all, each to the next
// UID in order, with a tombstone each; while it runs, a reader's view
// (a Snapshot of the source, reading the target inside it) has every
// message in exactly one of the two folders.
func largeMove(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	src := fill(t, st, mb.alice, "INBOX", large)
	dst := create(t, st, mb.alice, "Archive")
	blobs := map[uint64]bool{}
	for _, m := range messages(t, st, src.ID) {
		blobs[m.Blob] = true
	}
	cl := listen(st)
	var outcomes []storage.Outcome
	audit := func(o storage.Outcome) []storage.AuditRecord {
		outcomes = append(outcomes, o)
		return []storage.AuditRecord{{Proto: "imap", Action: "move", Detail: fmt.Sprint(len(o.UIDs))}}
	}
	done := make(chan error, 1)
	var res storage.CopyResult
	go func() {
		var err error
		res, err = st.Move(src.ID, seq(1, large), dst.ID, originOf("big"), audit)
		done <- err
	}()
	bad := 0
	looks, err := watch(done, func() {
		if err := st.Snapshot(src.ID, func(_ storage.Folder, in []storage.Message) {
			out, err := st.Messages(dst.ID, 0, 0)
			if err != nil {
				t.Error(err)
				return
			}
			seen := map[uint64]int{}
			for _, m := range append(slices.Clip(in), out...) {
				seen[m.Blob]++
			}
			for b := range blobs {
				if seen[b] != 1 && bad < 3 {
					t.Errorf("a reader saw message %d in %d folders during the MOVE (%d in the source, %d in the target)", b, seen[b], len(in), len(out))
					bad++
				}
			}
		}); err != nil {
			t.Error(err)
		}
	})
	fatal(t, err)
	t.Logf("%d looks during the move", looks)
	if !slices.Equal(res.Src, seq(1, large)) || !slices.Equal(res.Dst, seq(1, large)) || res.UIDValidity != dst.UIDValidity {
		t.Errorf("Move of %d messages: %d → %d UIDs, UIDVALIDITY %d", large, len(res.Src), len(res.Dst), res.UIDValidity)
	}
	if ms := messages(t, st, src.ID); len(ms) != 0 {
		t.Errorf("%d messages left in the source", len(ms))
	}
	got := messages(t, st, dst.ID)
	if len(got) != large || !slices.Equal(uidsOf(got), seq(1, large)) {
		t.Fatalf("target holds %d messages, want %d with UIDs 1..%d", len(got), large, large)
	}
	for i, m := range got {
		if m.ModSeq != uint64(i)+2 {
			t.Errorf("target UID %d has modseq %d, want %d", m.UID, m.ModSeq, i+2)
			break
		}
		if refs(t, st, m.Blob) != 1 {
			t.Errorf("message %d: %d references, want 1", m.UID, refs(t, st, m.Blob))
			break
		}
	}
	sf, df := folderByID(t, st, src.ID), folderByID(t, st, dst.ID)
	if sf.Count != 0 || sf.Size != 0 || sf.UIDNext != large+1 || sf.HighestModSeq != src.HighestModSeq+large {
		t.Errorf("source after the MOVE = %+v, was %+v", sf, src)
	}
	if df.Count != large || df.Size != src.Size || df.UIDNext != large+1 || df.HighestModSeq != large+1 {
		t.Errorf("target after the MOVE = %+v", df)
	}
	if v, err := st.Vanished(src.ID, src.HighestModSeq); err != nil || !slices.Equal(v, seq(1, large)) {
		t.Errorf("Vanished after the MOVE: %d UIDs, %v; want %d", len(v), err, large)
	}
	if len(outcomes) != 1 || len(outcomes[0].UIDs) != large {
		t.Errorf("the MOVE was audited %d times (%+v), want once with every source UID", len(outcomes), outcomes)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "move"}); len(recs) != 1 || recs[0].Detail != fmt.Sprint(large) {
		t.Errorf("the MOVE's audit records: %+v", recs)
	}
	cs := cl.take()
	var adds, dels int
	for _, c := range cs {
		switch {
		case c.Kind == storage.ChangeAppend && c.FolderID == dst.ID && c.Origin == originOf("big"):
			adds++
		case c.Kind == storage.ChangeExpunge && c.FolderID == src.ID && c.Origin == originOf("big"):
			dels++
		}
	}
	if adds != large || dels != large {
		t.Errorf("the MOVE announced %d appends and %d expunges, want %d each", adds, dels, large)
	}
	last := checkModSeqs(t, cs)
	if last[src.ID] != sf.HighestModSeq || last[dst.ID] != df.HighestModSeq {
		t.Errorf("last announced modseqs %d and %d, HighestModSeqs %d and %d", last[src.ID], last[dst.ID], sf.HighestModSeq, df.HighestModSeq)
	}
}

// largeExpunge: an EXPUNGE of 1,500 messages removes them all; while it
// runs a Snapshot never sees a message both present and vanished.
func largeExpunge(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", large, `\Deleted`)
	appendMsg(t, st, mb.alice, "INBOX", msgOf("kept"))
	blobs := messages(t, st, f.ID)
	cl := listen(st)
	var outcomes []storage.Outcome
	audit := func(o storage.Outcome) []storage.AuditRecord {
		outcomes = append(outcomes, o)
		return []storage.AuditRecord{{Proto: "imap", Action: "expunge", Detail: fmt.Sprint(len(o.UIDs))}}
	}
	done := make(chan error, 1)
	var gone []uint32
	go func() {
		var err error
		gone, err = st.Expunge(f.ID, nil, originOf("big"), audit)
		done <- err
	}()
	bad := 0
	looks, err := watch(done, func() {
		if err := st.Snapshot(f.ID, func(sf storage.Folder, in []storage.Message) {
			v, err := st.Vanished(f.ID, 0)
			if err != nil {
				t.Error(err)
				return
			}
			present := map[uint32]bool{}
			for _, m := range in {
				present[m.UID] = true
			}
			both := 0
			for _, u := range v {
				if present[u] {
					both++
				}
			}
			if (both != 0 || len(in)+len(v) != large+1 || sf.Count != uint32(len(in))) && bad < 3 {
				t.Errorf("a reader saw %d messages, %d vanished, %d both, count %d during the EXPUNGE", len(in), len(v), both, sf.Count)
				bad++
			}
		}); err != nil {
			t.Error(err)
		}
	})
	fatal(t, err)
	t.Logf("%d looks during the expunge", looks)
	if !slices.Equal(gone, seq(1, large)) {
		t.Errorf("Expunge removed %d UIDs, want 1..%d", len(gone), large)
	}
	got := folderByID(t, st, f.ID)
	if ms := messages(t, st, got.ID); got.Count != 1 || len(ms) != 1 || ms[0].UID != large+1 || got.HighestModSeq != f.HighestModSeq+1+large {
		t.Errorf("after the EXPUNGE: %+v with %d messages", got, len(ms))
	}
	for _, m := range blobs[:large] {
		if n := refs(t, st, m.Blob); n != 0 {
			t.Errorf("expunged message %d: %d references", m.UID, n)
			break
		}
	}
	if len(outcomes) != 1 || len(outcomes[0].UIDs) != large {
		t.Errorf("the EXPUNGE was audited %d times, want once with every UID", len(outcomes))
	}
	var n int
	for _, c := range cl.take() {
		if c.Kind == storage.ChangeExpunge && c.FolderID == f.ID && c.Origin == originOf("big") {
			n++
		}
	}
	if n != large {
		t.Errorf("the EXPUNGE announced %d removals, want %d", n, large)
	}
}

// largeCopy: a COPY of 1,500 messages copies them all, in order, with one
// more reference each.
func largeCopy(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	src := fill(t, st, mb.alice, "INBOX", large)
	dst := create(t, st, mb.alice, "Copies")
	res, err := st.Copy(src.ID, seq(1, large), dst.ID, storage.NoOrigin, nil)
	fatal(t, err)
	if !slices.Equal(res.Src, seq(1, large)) || !slices.Equal(res.Dst, seq(1, large)) {
		t.Errorf("Copy of %d: %d → %d UIDs", large, len(res.Src), len(res.Dst))
	}
	srcMs, dstMs := messages(t, st, src.ID), messages(t, st, dst.ID)
	if len(srcMs) != large || len(dstMs) != large {
		t.Fatalf("after the COPY: %d in the source, %d in the target", len(srcMs), len(dstMs))
	}
	for i := range dstMs {
		if dstMs[i].Blob != srcMs[i].Blob || refs(t, st, dstMs[i].Blob) != 2 || dstMs[i].ModSeq != uint64(i)+2 {
			t.Errorf("copy %+v of %+v (%d references)", dstMs[i], srcMs[i], refs(t, st, dstMs[i].Blob))
			break
		}
	}
	if f := folderByID(t, st, src.ID); f != src {
		t.Errorf("the COPY changed the source: %+v, was %+v", f, src)
	}
	if f := folderByID(t, st, dst.ID); f.Count != large || f.Size != src.Size || f.HighestModSeq != large+1 {
		t.Errorf("target after the COPY = %+v", f)
	}
}

// largeStoreLimit: a STORE over 1,500 messages of which the last would go
// over MaxFlags writes nothing, not even the first messages.
func largeStoreLimit(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", large)
	if _, err := st.StoreFlags(f.ID, []uint32{large}, storage.FlagsSet, keywords(200, "$k"), storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	hms := folderByID(t, st, f.ID).HighestModSeq
	_, err := st.StoreFlags(f.ID, seq(1, large), storage.FlagsAdd, keywords(60, "$z"), storage.NoOrigin)
	wantKind(t, "+FLAGS over 1,500 messages, the last over the limit", err, storage.ErrLimit)
	if got := folderByID(t, st, f.ID).HighestModSeq; got != hms {
		t.Errorf("refused STORE committed something: HighestModSeq %d → %d", hms, got)
	}
	if ms, _ := st.Messages(f.ID, 1, 1); len(ms) != 1 || len(ms[0].Flags) != 0 {
		t.Errorf("message 1 was changed by the refused STORE: %+v", ms)
	}
	got, err := st.StoreFlags(f.ID, seq(1, large-1), storage.FlagsAdd, keywords(60, "$z"), storage.NoOrigin)
	if err != nil || len(got) != large-1 || len(got[0].Flags) != 60 {
		t.Errorf("+FLAGS over the others: %d messages, %v", len(got), err)
	}
	if h := folderByID(t, st, f.ID).HighestModSeq; h != hms+large-1 {
		t.Errorf("HighestModSeq %d after %d changes from %d", h, large-1, hms)
	}
}
