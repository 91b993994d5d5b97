package storagetest

import (
	"slices"
	"testing"

	"github.com/mailgate/mailgate/storage"
)

// storeFlags: STORE (RFC 3501 §6.4.6) adds, removes or replaces flags,
// returns every message found in UID order with its new flags and
// mod-sequence; only real changes take a mod-sequence (RFC 7162 §3.1) and
// are announced.
func storeFlags(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", 3)
	hms := folderByID(t, st, f.ID).HighestModSeq
	if hms != 4 {
		t.Fatalf("after three appends: HighestModSeq %d, want 4", hms)
	}
	cl := listen(st)
	type step struct {
		what      string
		uids      []uint32
		op        storage.FlagOp
		flags     []string
		wantFlags map[uint32][]string // after the step, every message
		changed   []uint32            // the messages that take a new modseq, in UID order
	}

	for _, s := range []step{
		{"+FLAGS \\seen on 2", []uint32{2}, storage.FlagsAdd, []string{`\seen`}, map[uint32][]string{1: nil, 2: {`\Seen`}, 3: nil}, []uint32{2}},
		{"+FLAGS \\Seen $A on 3 1 2 9", []uint32{3, 1, 2, 9, 1}, storage.FlagsAdd, []string{`\SEEN`, "$A"},
			map[uint32][]string{1: {`\Seen`, "$A"}, 2: {`\Seen`, "$A"}, 3: {`\Seen`, "$A"}}, []uint32{1, 2, 3}},
		{"no-op +FLAGS $a", []uint32{1, 2, 3}, storage.FlagsAdd, []string{"$a"},
			map[uint32][]string{1: {`\Seen`, "$A"}, 2: {`\Seen`, "$A"}, 3: {`\Seen`, "$A"}}, nil},
		{"-FLAGS \\seen on 1", []uint32{1}, storage.FlagsRemove, []string{`\seen`}, map[uint32][]string{1: {"$A"}, 2: {`\Seen`, "$A"}, 3: {`\Seen`, "$A"}}, []uint32{1}},
		{"-FLAGS of an absent flag", []uint32{1, 2}, storage.FlagsRemove, []string{`\Flagged`},
			map[uint32][]string{1: {"$A"}, 2: {`\Seen`, "$A"}, 3: {`\Seen`, "$A"}}, nil},
		{"FLAGS (\\Flagged \\Recent) on 2 3", []uint32{2, 3}, storage.FlagsSet, []string{`\flagged`, `\Recent`},
			map[uint32][]string{1: {"$A"}, 2: {`\Flagged`}, 3: {`\Flagged`}}, []uint32{2, 3}},
		{"FLAGS the same set again", []uint32{3}, storage.FlagsSet, []string{`\FLAGGED`},
			map[uint32][]string{1: {"$A"}, 2: {`\Flagged`}, 3: {`\Flagged`}}, nil},
		{"FLAGS () on 1", []uint32{1}, storage.FlagsSet, nil, map[uint32][]string{1: nil, 2: {`\Flagged`}, 3: {`\Flagged`}}, []uint32{1}},
	} {
		before := modseqs(t, st, f.ID)
		got, err := st.StoreFlags(f.ID, s.uids, s.op, s.flags, originOf("s1"))
		if err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		var wantUIDs []uint32
		for _, u := range []uint32{1, 2, 3} {
			if slices.Contains(s.uids, u) {
				wantUIDs = append(wantUIDs, u)
			}
		}
		if !slices.Equal(uidsOf(got), wantUIDs) {
			t.Errorf("%s: returned UIDs %v, want %v", s.what, uidsOf(got), wantUIDs)
		}
		after := modseqs(t, st, f.ID)
		next := hms
		for _, m := range got {
			if !sameFlags(m.Flags, s.wantFlags[m.UID]) || m.ModSeq != after[m.UID] {
				t.Errorf("%s: returned %+v; want flags %q and the stored modseq %d", s.what, m, s.wantFlags[m.UID], after[m.UID])
			}
		}
		for _, u := range []uint32{1, 2, 3} {
			if slices.Contains(s.changed, u) {
				next++
				if after[u] != next {
					t.Errorf("%s: message %d modseq %d, want %d", s.what, u, after[u], next)
				}
			} else if after[u] != before[u] {
				t.Errorf("%s: unchanged message %d took modseq %d (was %d)", s.what, u, after[u], before[u])
			}
		}
		for _, m := range messages(t, st, f.ID) {
			if !sameFlags(m.Flags, s.wantFlags[m.UID]) {
				t.Errorf("%s: message %d stored with %q, want %q", s.what, m.UID, m.Flags, s.wantFlags[m.UID])
			}
		}
		if h := folderByID(t, st, f.ID).HighestModSeq; h != next {
			t.Errorf("%s: HighestModSeq %d, want %d", s.what, h, next)
		}
		hms = next
		cs := mailChanges(cl.take())
		var announced []uint32
		for _, c := range cs {
			announced = append(announced, c.UID)
			if c.Kind != storage.ChangeFlags || c.FolderID != f.ID || c.ModSeq != after[c.UID] || c.Origin != originOf("s1") || !sameFlags(c.Flags, s.wantFlags[c.UID]) {
				t.Errorf("%s: announced %+v", s.what, c)
			}
		}
		if !slices.Equal(announced, s.changed) {
			t.Errorf("%s: announced changes of %v, want %v", s.what, announced, s.changed)
		}

	}

	if got, err := st.StoreFlags(f.ID, []uint32{7, 8}, storage.FlagsAdd, []string{`\Seen`}, storage.NoOrigin); err != nil || len(got) != 0 {
		t.Errorf("StoreFlags of missing UIDs = %+v, %v; want nothing", got, err)
	}
}

// sameFlags compares flags as sets of their exact spellings.
func sameFlags(a, b []string) bool {
	return slices.Equal(sortedCopy(a), sortedCopy(b))
}

// storeFlagsIf: UNCHANGEDSINCE (RFC 7162 §3.1.3) leaves a message changed
// since alone and reports it in modified; the others change as with
// StoreFlags.
func storeFlagsIf(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", 3)
	since := folderByID(t, st, f.ID).HighestModSeq
	if _, err := st.StoreFlags(f.ID, []uint32{2}, storage.FlagsAdd, []string{"$Other"}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	before := modseqs(t, st, f.ID)
	cl := listen(st)
	updated, modified, err := st.StoreFlagsIf(f.ID, []uint32{3, 1, 2, 9}, storage.FlagsAdd, []string{`\Flagged`}, since, originOf("s2"))
	fatal(t, err)
	if !slices.Equal(modified, []uint32{2}) {
		t.Errorf("StoreFlagsIf(since %d): modified %v, want [2]", since, modified)
	}
	if !slices.Equal(uidsOf(updated), []uint32{1, 3}) {
		t.Fatalf("StoreFlagsIf: updated %v, want messages 1 and 3", uidsOf(updated))
	}
	after := modseqs(t, st, f.ID)
	if after[1] != before[2]+1 || after[3] != before[2]+2 || after[2] != before[2] {
		t.Errorf("modseqs after StoreFlagsIf %v, before %v", after, before)
	}
	for _, m := range updated {
		if !slices.Equal(m.Flags, []string{`\Flagged`}) || m.ModSeq != after[m.UID] {
			t.Errorf("StoreFlagsIf: updated message %+v", m)
		}
	}
	ms, _ := st.Messages(f.ID, 2, 2)
	if len(ms) != 1 || !slices.Equal(ms[0].Flags, []string{"$Other"}) || ms[0].ModSeq != before[2] {
		t.Errorf("message 2, changed since %d, was touched: %+v", since, ms)
	}
	cs := mailChanges(cl.take())
	if len(cs) != 2 || cs[0].UID != 1 || cs[1].UID != 3 || cs[0].Origin != originOf("s2") || cs[1].ModSeq != after[3] {
		t.Errorf("announced %+v, want flag changes of 1 and 3 only", cs)
	}
	// The limit is inclusive: a message whose modseq equals it passes.
	hms := folderByID(t, st, f.ID).HighestModSeq
	updated, modified, err = st.StoreFlagsIf(f.ID, []uint32{3}, storage.FlagsRemove, []string{`\Flagged`}, after[3], storage.NoOrigin)
	if err != nil || len(modified) != 0 || len(updated) != 1 || updated[0].ModSeq != hms+1 || len(updated[0].Flags) != 0 {
		t.Errorf("StoreFlagsIf(since = its modseq) = %+v, %v, %v", updated, modified, err)
	}
	// UNCHANGEDSINCE 0 fails every message: no modseq is 0.
	after = modseqs(t, st, f.ID)
	updated, modified, err = st.StoreFlagsIf(f.ID, []uint32{1, 2, 3}, storage.FlagsSet, nil, 0, storage.NoOrigin)
	if err != nil || len(updated) != 0 || !slices.Equal(modified, []uint32{1, 2, 3}) {
		t.Errorf("StoreFlagsIf(since 0) = %+v, %v, %v; want all modified", updated, modified, err)
	}
	if got := modseqs(t, st, f.ID); !equalMaps(after, got) {
		t.Errorf("StoreFlagsIf(since 0) changed messages: %v → %v", after, got)
	}
	// A passing message whose flags would not change keeps its modseq.
	hms = folderByID(t, st, f.ID).HighestModSeq
	updated, modified, err = st.StoreFlagsIf(f.ID, []uint32{1}, storage.FlagsAdd, []string{`\Flagged`}, hms, storage.NoOrigin)
	if err != nil || len(modified) != 0 || len(updated) != 1 || updated[0].ModSeq != after[1] {
		t.Errorf("no-op StoreFlagsIf = %+v, %v, %v", updated, modified, err)
	}
	if h := folderByID(t, st, f.ID).HighestModSeq; h != hms {
		t.Errorf("no-op StoreFlagsIf: HighestModSeq %d → %d", hms, h)
	}
}

func equalMaps(a, b map[uint32]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// flagLimit: no message is written with more than MaxFlags flags; a
// request over the limit fails with ErrLimit and writes nothing.
func flagLimit(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := folder(t, st, mb.alice, "INBOX")
	appendMsg(t, st, mb.alice, "INBOX", msgOf("full"), keywords(storage.MaxFlags, "$k")...)
	appendMsg(t, st, mb.alice, "INBOX", msgOf("small"), keywords(200, "$k")...)
	hms := folderByID(t, st, f.ID).HighestModSeq
	_, err := st.StoreFlags(f.ID, []uint32{2}, storage.FlagsSet, keywords(storage.MaxFlags+1, "$x"), storage.NoOrigin)
	wantKind(t, "FLAGS with MaxFlags+1 flags", err, storage.ErrLimit)
	// The request alone is over the limit: refused even for no message.
	_, err = st.StoreFlags(f.ID, []uint32{99}, storage.FlagsAdd, keywords(8000, "$x"), storage.NoOrigin)
	wantKind(t, "+FLAGS with 8000 flags on a missing message", err, storage.ErrLimit)
	_, err = st.StoreFlags(f.ID, []uint32{2, 1}, storage.FlagsAdd, keywords(51, "$y"), storage.NoOrigin)
	wantKind(t, "+FLAGS to 251 flags", err, storage.ErrLimit)
	_, _, err = st.StoreFlagsIf(f.ID, []uint32{2}, storage.FlagsAdd, keywords(51, "$y"), hms, storage.NoOrigin)
	wantKind(t, "conditional +FLAGS to 251 flags", err, storage.ErrLimit)
	if got := folderByID(t, st, f.ID).HighestModSeq; got != hms {
		t.Errorf("refused STOREs changed the folder: HighestModSeq %d → %d", hms, got)
	}
	if ms := messages(t, st, f.ID); len(ms) != 2 || len(ms[0].Flags) != storage.MaxFlags || len(ms[1].Flags) != 200 {
		t.Errorf("refused STOREs changed messages: %d and %d flags", len(ms[0].Flags), len(ms[1].Flags))
	}
	// +FLAGS of flags message 1 has already changes nothing there.
	if got, err := st.StoreFlags(f.ID, []uint32{1, 2}, storage.FlagsAdd, keywords(50, "$k"), storage.NoOrigin); err != nil || len(got) != 2 || len(got[1].Flags) != 200 {
		t.Errorf("+FLAGS of flags both already have = %d messages, %v", len(got), err)
	}
	if got, err := st.StoreFlags(f.ID, []uint32{2}, storage.FlagsAdd, keywords(50, "$y"), storage.NoOrigin); err != nil || len(got) != 1 || len(got[0].Flags) != storage.MaxFlags {
		t.Errorf("+FLAGS to exactly MaxFlags = %+v, %v", len(got), err)
	}
	// -FLAGS of thousands of keywords is fine: it can only shrink.
	got, err := st.StoreFlags(f.ID, []uint32{1, 2}, storage.FlagsRemove, keywords(8000, "$k"), storage.NoOrigin)
	if err != nil || len(got) != 2 || len(got[0].Flags) != 0 || len(got[1].Flags) != 50 {
		t.Errorf("-FLAGS of 8000 keywords = %d messages, %v", len(got), err)
	}
}

// expunge: EXPUNGE removes only \Deleted messages (all of them with nil
// UIDs), each with a mod-sequence, a tombstone and an announcement, and
// drops a body reference.
func expunge(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", 5)
	ms := messages(t, st, f.ID)
	if _, err := st.StoreFlags(f.ID, []uint32{1, 2, 4}, storage.FlagsAdd, []string{`\deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	hms := folderByID(t, st, f.ID).HighestModSeq
	cl := listen(st)
	var outcomes []storage.Outcome
	audit := func(o storage.Outcome) []storage.AuditRecord {
		outcomes = append(outcomes, o)
		return []storage.AuditRecord{{Proto: "imap", Action: "expunge", MailboxID: string(mb.alice)}}
	}
	gone, err := st.Expunge(f.ID, []uint32{4, 3, 2, 99}, originOf("s3"), audit)
	fatal(t, err)
	if !slices.Equal(gone, []uint32{2, 4}) {
		t.Errorf("Expunge(4 3 2 99) = %v, want [2 4] (3 is not \\Deleted)", gone)
	}
	if len(outcomes) != 1 || !slices.Equal(outcomes[0].UIDs, []uint32{2, 4}) {
		t.Errorf("Expunge's audit outcome %+v", outcomes)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "expunge"}); len(recs) != 1 {
		t.Errorf("Expunge's audit: %d records, want 1", len(recs))
	}
	cs := mailChanges(cl.take())
	if len(cs) != 2 {
		t.Fatalf("Expunge announced %+v, want two removals", cs)
	}
	for i, c := range cs {
		if c.Kind != storage.ChangeExpunge || c.UID != gone[i] || c.ModSeq != hms+uint64(i)+1 || c.FolderID != f.ID || c.Origin != originOf("s3") {
			t.Errorf("Expunge announced %+v, want the removal of %d at modseq %d", c, gone[i], hms+uint64(i)+1)
		}
	}
	got := folderByID(t, st, f.ID)
	sz := uint64(ms[0].Size)
	if got.Count != 3 || got.UIDNext != 6 || got.Size != 3*sz || got.HighestModSeq != hms+2 {
		t.Errorf("folder after Expunge = %+v; want 3 messages of %d bytes, UIDNEXT 6, HIGHESTMODSEQ %d", got, sz, hms+2)
	}
	if !slices.Equal(uidsOf(messages(t, st, f.ID)), []uint32{1, 3, 5}) {
		t.Errorf("left %v, want [1 3 5]", uidsOf(messages(t, st, f.ID)))
	}
	for i, want := range []uint64{1, 0, 1, 0, 1} {
		if n := refs(t, st, ms[i].Blob); n != want {
			t.Errorf("message %d's blob: %d references, want %d", i+1, n, want)
		}
	}
	if _, err := st.Body(ms[1].Blob); err == nil {
		t.Error("body of an expunged message still there")
	}
	if v, err := st.Vanished(f.ID, hms); err != nil || !slices.Equal(v, []uint32{2, 4}) {
		t.Errorf("Vanished(%d) = %v, %v; want [2 4]", hms, v, err)
	}
	// An empty list is no message (only nil means all).
	if gone, err := st.Expunge(f.ID, []uint32{}, storage.NoOrigin, nil); err != nil || len(gone) != 0 {
		t.Errorf("Expunge of an empty UID list = %v, %v; want nothing", gone, err)
	}
	if got := folderByID(t, st, f.ID); got.Count != 3 {
		t.Errorf("Expunge of an empty UID list removed messages: count %d", got.Count)
	}
	// nil: every \Deleted message; none is not an error.
	if gone, err := st.Expunge(f.ID, nil, storage.NoOrigin, nil); err != nil || !slices.Equal(gone, []uint32{1}) {
		t.Errorf("Expunge(nil) = %v, %v; want [1]", gone, err)
	}
	if gone, err := st.Expunge(f.ID, nil, storage.NoOrigin, nil); err != nil || len(gone) != 0 {
		t.Errorf("Expunge with nothing \\Deleted = %v, %v", gone, err)
	}
	if h := folderByID(t, st, f.ID).HighestModSeq; h != hms+3 {
		t.Errorf("HighestModSeq %d after three removals from %d", h, hms)
	}
	// UIDs are never reused.
	if p := appendMsg(t, st, mb.alice, "INBOX", msgOf("new")); p.UID != 6 {
		t.Errorf("Append after Expunge took UID %d, want 6", p.UID)
	}
}

// vanished: the tombstones tell exactly which UIDs left a folder
// (expunged or moved away) after a mod-sequence, and go with the folder.
func vanished(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	box := create(t, st, mb.alice, "Box")
	other := create(t, st, mb.alice, "Other")
	fill(t, st, mb.alice, "Box", 6, `\Deleted`)
	hms := func() uint64 { return folderByID(t, st, box.ID).HighestModSeq }
	check := func(since uint64, want ...uint32) {
		t.Helper()
		if want == nil {
			want = []uint32{}
		}
		got, err := st.Vanished(box.ID, since)
		if err != nil || !slices.Equal(append([]uint32{}, got...), want) {
			t.Errorf("Vanished(%d) = %v, %v; want %v", since, got, err, want)
		}
	}
	start := hms()
	check(0)
	if _, err := st.Expunge(box.ID, []uint32{4, 2}, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	afterFirst := hms()
	if _, err := st.Copy(box.ID, []uint32{1}, other.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if hms() != afterFirst {
		t.Errorf("COPY out changed the source's HighestModSeq")
	}
	if _, err := st.StoreFlags(box.ID, []uint32{1}, storage.FlagsRemove, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(box.ID, []uint32{5}, other.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	afterMove := hms()
	if _, err := st.Expunge(box.ID, nil, storage.NoOrigin, nil); err != nil { // 3 and 6; 1 lost \Deleted
		t.Fatal(err)
	}
	check(0, 2, 3, 4, 5, 6)
	check(start, 2, 3, 4, 5, 6)
	check(afterFirst, 3, 5, 6)
	check(afterFirst+1, 3, 5, 6) // the STORE on 1
	check(afterMove, 3, 6)
	check(afterMove+1, 6)
	check(hms())
	if got, _ := st.Vanished(other.ID, 0); len(got) != 0 {
		t.Errorf("Vanished of the copy and move destination: %v", got)
	}
	if _, err := st.DeleteFolder(mb.alice, "Box", nil); err != nil {
		t.Fatal(err)
	}
	check(0)
	// Made again under the name: a new folder with no tombstones.
	again := create(t, st, mb.alice, "Box")
	if v, err := st.Vanished(again.ID, 0); err != nil || len(v) != 0 {
		t.Errorf("Vanished of Box made again = %v, %v", v, err)
	}
}
