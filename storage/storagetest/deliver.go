package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// deliver: one message to several targets is one body with a reference
// per copy, placed in Targets order, with UIDs that increase per folder,
// counters that follow, and flags normalised.
func deliver(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	create(t, st, mb.alice, "Lists")
	date := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("x", 3600)) // kept to the nanosecond
	msg := msgOf("one")
	placed, err := st.Deliver(storage.Delivery{Message: msg, Date: date, Targets: []storage.Target{
		{Owner: mb.alice, Folder: "Lists", Flags: []string{"$Work"}},
		{Owner: mb.bob, Folder: "Sent", Flags: []string{`\seen`, `\SEEN`, "$Label", `\Recent`, "$label", ""}},
		{Owner: mb.alice},
		{Owner: mb.alice, Folder: "Lists"},
	}})
	fatal(t, err)
	lists, sent, inbox := folder(t, st, mb.alice, "Lists"), folder(t, st, mb.bob, "Sent"), folder(t, st, mb.alice, "INBOX")
	want := []storage.Placed{
		{Owner: mb.alice, FolderID: lists.ID, Folder: "Lists", UID: 1, UIDValidity: lists.UIDValidity},
		{Owner: mb.bob, FolderID: sent.ID, Folder: "Sent", UID: 1, UIDValidity: sent.UIDValidity},
		{Owner: mb.alice, FolderID: inbox.ID, Folder: "INBOX", UID: 1, UIDValidity: inbox.UIDValidity},
		{Owner: mb.alice, FolderID: lists.ID, Folder: "Lists", UID: 2, UIDValidity: lists.UIDValidity},
	}
	if !slices.Equal(placed, want) {
		t.Fatalf("Deliver placed\n%+v\nwant\n%+v", placed, want)
	}
	if sent.SpecialUse != `\Sent` {
		t.Errorf("Sent made by delivery: %+v", sent)
	}
	sz := uint64(len(msg))
	for _, c := range []struct {
		f           storage.Folder
		count, next uint32
		size        uint64
		wantFlags   [][]string
		wantModSeqs []uint64
	}{
		{lists, 2, 3, 2 * sz, [][]string{{"$Work"}, nil}, []uint64{2, 3}},
		{sent, 1, 2, sz, [][]string{{`\Seen`, "$Label"}}, []uint64{2}},
		{inbox, 1, 2, sz, [][]string{nil}, []uint64{2}},
	} {
		if c.f.Count != c.count || c.f.UIDNext != c.next || c.f.Size != c.size || c.f.HighestModSeq != uint64(c.count)+1 {
			t.Errorf("%s after Deliver: %+v; want count %d, UIDNEXT %d, size %d, HIGHESTMODSEQ %d", c.f.Name, c.f, c.count, c.next, c.size, c.count+1)
		}
		ms := messages(t, st, c.f.ID)
		if len(ms) != int(c.count) {
			t.Fatalf("%s holds %d messages, want %d", c.f.Name, len(ms), c.count)
		}
		for i, m := range ms {
			if m.UID != uint32(i+1) || !slices.Equal(m.Flags, c.wantFlags[i]) || m.Size != int64(sz) || !m.InternalDate.Equal(date) ||
				m.ModSeq != c.wantModSeqs[i] || m.Blob != ms[0].Blob {
				t.Errorf("%s message %d = %+v; want UID %d, flags %q, size %d, date %v, modseq %d", c.f.Name, i, m, i+1, c.wantFlags[i], sz, date, c.wantModSeqs[i])
			}
		}
	}
	blob := messages(t, st, inbox.ID)[0].Blob
	if n := refs(t, st, blob); n != 4 {
		t.Errorf("one body for four copies: %d references, want 4", n)
	}
	if b, err := st.Body(blob); err != nil || string(b) != string(msg) {
		t.Errorf("Body = %q, %v", b, err)
	}

	// A second delivery: a new body, the next UIDs, a date of now.
	before := time.Now().Add(-time.Minute)
	p2, err := st.Deliver(storage.Delivery{Message: msgOf("two"), Targets: []storage.Target{{Owner: mb.alice}, {Owner: mb.alice, Folder: "Lists"}}})
	fatal(t, err)
	if len(p2) != 2 || p2[0].UID != 2 || p2[0].FolderID != inbox.ID || p2[1].UID != 3 || p2[1].FolderID != lists.ID {
		t.Errorf("second Deliver placed %+v", p2)
	}
	// The same default folder, not made yet, twice: one folder, two UIDs.
	_, err = st.Deliver(storage.Delivery{Message: msgOf("three"), Targets: []storage.Target{{Owner: mb.bob, Folder: "Trash"}, {Owner: mb.bob, Folder: "trash"}}})
	wantKind(t, "Deliver to trash (only INBOX is case-insensitive)", err, storage.ErrNotFound)
	p3, err := st.Deliver(storage.Delivery{Message: msgOf("three"), Targets: []storage.Target{{Owner: mb.bob, Folder: "Trash"}, {Owner: mb.bob, Folder: "Trash"}}})
	fatal(t, err)
	if trash := folder(t, st, mb.bob, "Trash"); len(p3) != 2 || p3[0].FolderID != trash.ID || p3[1].FolderID != trash.ID || p3[0].UID != 1 || p3[1].UID != 2 || trash.Count != 2 {
		t.Errorf("two copies into bob's new Trash: placed %+v, folder %+v", p3, trash)
	}
	ms, err := st.Messages(inbox.ID, 2, 2)
	fatal(t, err)
	if len(ms) != 1 || ms[0].Blob == blob || ms[0].InternalDate.Before(before) || ms[0].InternalDate.After(time.Now().Add(time.Minute)) {
		t.Errorf("second delivery's message %+v: want a new blob dated now", ms)
	}
}

// deliverRefused: a delivery that fails stores nothing for any target.
func deliverRefused(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	inbox := folder(t, st, mb.alice, "INBOX")
	bobInbox := folder(t, st, mb.bob, "INBOX")
	_, err := st.Deliver(storage.Delivery{Message: msgOf("x"), Targets: []storage.Target{{Owner: mb.bob}, {Owner: mb.alice, Folder: "NoSuch"}}})
	wantKind(t, "Deliver to a missing non-default folder", err, storage.ErrNotFound)
	_, err = st.Deliver(storage.Delivery{Message: msgOf("x"), Targets: []storage.Target{{Owner: mb.bob},
		{Owner: mb.alice, Flags: keywords(storage.MaxFlags+1, "$k")}}})
	wantKind(t, "Deliver with too many flags on one target", err, storage.ErrLimit)
	for _, f := range []storage.Folder{inbox, bobInbox} {
		if got := folderByID(t, st, f.ID); got.UIDNext != 1 || got.Count != 0 || got.Size != 0 || got.HighestModSeq != 1 {
			t.Errorf("refused deliveries changed %s: %+v", f.Name, got)
		}
		if ms := messages(t, st, f.ID); len(ms) != 0 {
			t.Errorf("refused deliveries left %d messages", len(ms))
		}
	}
	if _, err := st.Folder(mb.alice, "NoSuch"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused delivery made NoSuch: %v", err)
	}
	// At the limit after normalisation (duplicates and \Recent do not
	// count): accepted.
	flags := append(keywords(storage.MaxFlags, "$k"), "$K0", `\Recent`)
	p, err := st.Deliver(storage.Delivery{Message: msgOf("full"), Targets: []storage.Target{{Owner: mb.alice, Flags: flags}}})
	fatal(t, err)
	if ms := messages(t, st, inbox.ID); len(ms) != 1 || len(ms[0].Flags) != storage.MaxFlags || p[0].UID != 1 {
		t.Errorf("delivery with %d flags after normalisation: %+v", storage.MaxFlags, p)
	}
}

// deliverAudit: a delivery's audit records commit with it.
func deliverAudit(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	recs := []storage.AuditRecord{
		{Proto: "smtp", Action: "send", Actor: "bob@example.test", ActorID: string(mb.bob), Mailbox: "alice@example.test",
			MailboxID: string(mb.alice), Right: "send-as", Decision: storage.AuditAllowed, MessageID: "<m1@example.test>", Detail: "first"},
		{Proto: "smtp", Action: "send", Actor: "bob@example.test", ActorID: string(mb.bob), Mailbox: "alice@example.test",
			MailboxID: string(mb.alice), Decision: storage.AuditAllowed, Time: at, Detail: "second"},
	}
	before := time.Now().Add(-time.Minute)
	if _, err := st.Deliver(storage.Delivery{Message: msgOf("a"), Targets: []storage.Target{{Owner: mb.alice, Folder: "Sent"}}, Audit: recs}); err != nil {
		t.Fatal(err)
	}
	got, err := st.AuditList(storage.AuditFilter{Action: "send"})
	fatal(t, err)
	if len(got) != 2 {
		t.Fatalf("AuditList(send) = %+v, want the delivery's two records", got)
	}
	// Oldest first: the one stamped in 2026-05 before the one stamped now.
	second, first := got[0], got[1]
	if second.Detail != "second" || !second.Time.Equal(at) {
		t.Errorf("record with its own time: %+v", second)
	}
	if first.Detail != "first" || first.Time.Before(before) || first.Time.After(time.Now().Add(time.Minute)) ||
		first.MessageID != "<m1@example.test>" || first.Right != "send-as" || first.ActorID != string(mb.bob) ||
		first.MailboxID != string(mb.alice) || first.Decision != storage.AuditAllowed || first.Proto != "smtp" {
		t.Errorf("record stamped by the store: %+v", first)
	}
	// A refused delivery writes none.
	_, err = st.Deliver(storage.Delivery{Message: msgOf("b"), Targets: []storage.Target{{Owner: mb.alice, Folder: "NoSuch"}},
		Audit: []storage.AuditRecord{{Proto: "smtp", Action: "send", Detail: "refused"}}})
	wantKind(t, "Deliver to NoSuch", err, storage.ErrNotFound)
	if got, _ := st.AuditList(storage.AuditFilter{Action: "send"}); len(got) != 2 {
		t.Errorf("a refused delivery wrote its audit records: %d records", len(got))
	}
}

// appendOne: Append is a delivery with one target, into an existing or a
// default folder.
func appendOne(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	origin := originOf("session 1")
	cl := listen(st)
	date := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := st.Append(mb.alice, "Drafts", msgOf("d"), []string{`\draft`, `\Seen`}, date, origin)
	fatal(t, err)
	drafts := folder(t, st, mb.alice, "Drafts")
	if want := (storage.Placed{Owner: mb.alice, FolderID: drafts.ID, Folder: "Drafts", UID: 1, UIDValidity: drafts.UIDValidity}); p != want {
		t.Errorf("Append placed %+v, want %+v", p, want)
	}
	ms := messages(t, st, drafts.ID)
	if len(ms) != 1 || !slices.Equal(ms[0].Flags, []string{`\Draft`, `\Seen`}) || !ms[0].InternalDate.Equal(date) || ms[0].Size != int64(len(msgOf("d"))) {
		t.Errorf("appended message %+v", ms)
	}
	cs := mailChanges(cl.take())
	if len(cs) != 1 || cs[0].Kind != storage.ChangeAppend || cs[0].Origin != origin || cs[0].UID != 1 || cs[0].FolderID != drafts.ID ||
		cs[0].ModSeq != drafts.HighestModSeq || cs[0].Owner != mb.alice || cs[0].Folder != "Drafts" || cs[0].Message.Blob != ms[0].Blob ||
		cs[0].Message.Size != ms[0].Size || !cs[0].Message.InternalDate.Equal(date) || !slices.Equal(cs[0].Message.Flags, ms[0].Flags) ||
		!slices.Equal(cs[0].Flags, []string{`\Draft`, `\Seen`}) {
		t.Errorf("Append announced %+v", cs)
	}
	_, err = st.Append(mb.alice, "NoSuch", msgOf("x"), nil, time.Time{}, storage.NoOrigin)
	wantKind(t, "Append to a missing folder", err, storage.ErrNotFound)
	_, err = st.Append(mb.alice, "Drafts", msgOf("x"), keywords(storage.MaxFlags+1, "$k"), time.Time{}, storage.NoOrigin)
	wantKind(t, "Append with too many flags", err, storage.ErrLimit)
	if f := folderByID(t, st, drafts.ID); f.Count != 1 || f.UIDNext != 2 {
		t.Errorf("refused appends changed Drafts: %+v", f)
	}
}

// appendAll: MULTIAPPEND stores every message or none (RFC 3502 §6.3.11),
// in order, each with its own body, and the audit records with them.
func appendAll(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	box := create(t, st, mb.alice, "Box")
	appendMsg(t, st, mb.alice, "Box", msgOf("first"))
	d1 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	msgs := []storage.AppendMessage{
		{Message: msgOf("a"), Flags: []string{`\SEEN`}, Date: d1},
		{Message: sized(100)},
		{Message: msgOf("c"), Flags: []string{"$x", "$X"}},
	}
	var outcomes []storage.Outcome
	audit := func(o storage.Outcome) []storage.AuditRecord {
		outcomes = append(outcomes, o)
		return []storage.AuditRecord{{Proto: "imap", Action: "append", ActorID: string(mb.bob), MailboxID: string(mb.alice),
			Decision: storage.AuditAllowed, Folder: "Box", Detail: fmt.Sprint(o.UIDs)}}
	}
	cl := listen(st)
	placed, err := st.AppendAll(mb.alice, "Box", msgs, originOf("s1"), audit)
	fatal(t, err)
	if len(placed) != 3 {
		t.Fatalf("AppendAll placed %+v, want three", placed)
	}
	for i, p := range placed {
		if p.UID != uint32(i+2) || p.FolderID != box.ID || p.UIDValidity != box.UIDValidity || p.Folder != "Box" || p.Owner != mb.alice {
			t.Errorf("AppendAll placed[%d] = %+v, want UID %d (APPENDUID order)", i, p, i+2)
		}
	}
	if len(outcomes) != 1 || !slices.Equal(outcomes[0].UIDs, []uint32{2, 3, 4}) {
		t.Errorf("AppendAll's audit outcome %+v, want UIDs [2 3 4]", outcomes)
	}
	recs, err := st.AuditList(storage.AuditFilter{Action: "append"})
	fatal(t, err)
	if len(recs) != 1 || recs[0].Detail != "[2 3 4]" || recs[0].Folder != "Box" || recs[0].Time.IsZero() {
		t.Errorf("AppendAll's audit records %+v", recs)
	}
	ms := messages(t, st, box.ID)
	if len(ms) != 4 {
		t.Fatalf("Box holds %d messages, want 4", len(ms))
	}
	blobs := map[uint64]bool{}
	for i, m := range ms[1:] {
		blobs[m.Blob] = true
		if b, err := st.Body(m.Blob); err != nil || string(b) != string(msgs[i].Message) || m.Size != int64(len(msgs[i].Message)) {
			t.Errorf("message %d: body %q, %v (size %d)", m.UID, b, err, m.Size)
		}
		if n := refs(t, st, m.Blob); n != 1 {
			t.Errorf("message %d: %d references, want 1", m.UID, n)
		}
	}
	if len(blobs) != 3 {
		t.Errorf("three appended messages share bodies: %d distinct blobs", len(blobs))
	}
	if !slices.Equal(ms[1].Flags, []string{`\Seen`}) || !ms[1].InternalDate.Equal(d1) || ms[2].Flags != nil || !slices.Equal(ms[3].Flags, []string{"$x"}) {
		t.Errorf("flags and dates: %+v", ms[1:])
	}
	if ms[1].ModSeq >= ms[2].ModSeq || ms[2].ModSeq >= ms[3].ModSeq {
		t.Errorf("appended messages' modseqs %d %d %d, want increasing", ms[1].ModSeq, ms[2].ModSeq, ms[3].ModSeq)
	}
	cs := mailChanges(cl.take())
	if len(cs) != 3 {
		t.Fatalf("AppendAll announced %+v, want three appends", cs)
	}
	for i, c := range cs {
		m := ms[i+1]
		if c.Kind != storage.ChangeAppend || c.FolderID != box.ID || c.UID != m.UID || c.ModSeq != m.ModSeq || c.Origin != originOf("s1") ||
			c.Message.Blob != m.Blob || c.Message.Size != m.Size || !c.Message.InternalDate.Equal(m.InternalDate) || !slices.Equal(c.Message.Flags, m.Flags) {
			t.Errorf("AppendAll announced %+v for %+v", c, m)
		}
	}
	f := folderByID(t, st, box.ID)
	if f.Count != 4 || f.UIDNext != 5 || f.HighestModSeq != ms[3].ModSeq {
		t.Errorf("Box after AppendAll = %+v", f)
	}

	// All or nothing: one message over the flag limit refuses them all,
	// and the audit record is not written.
	outcomes = nil
	_, err = st.AppendAll(mb.alice, "Box", []storage.AppendMessage{{Message: msgOf("ok")}, {Message: msgOf("bad"), Flags: keywords(storage.MaxFlags+1, "$k")}}, storage.NoOrigin, audit)
	wantKind(t, "AppendAll with one message over the flag limit", err, storage.ErrLimit)
	_, err = st.AppendAll(mb.alice, "NoSuch", []storage.AppendMessage{{Message: msgOf("ok")}}, storage.NoOrigin, audit)
	wantKind(t, "AppendAll to a missing folder", err, storage.ErrNotFound)
	if got := folderByID(t, st, box.ID); got.Count != 4 || got.UIDNext != 5 || got.HighestModSeq != f.HighestModSeq {
		t.Errorf("refused AppendAll changed Box: %+v", got)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "append"}); len(recs) != 1 {
		t.Errorf("refused AppendAll wrote audit records: %d", len(recs))
	}
	// Into a default folder not yet made.
	p, err := st.AppendAll(mb.bob, "Archive", []storage.AppendMessage{{Message: msgOf("x")}, {Message: msgOf("y")}}, storage.NoOrigin, nil)
	fatal(t, err)
	if a := folder(t, st, mb.bob, "Archive"); len(p) != 2 || p[1].UID != 2 || p[1].FolderID != a.ID || a.Count != 2 || a.SpecialUse != `\Archive` {
		t.Errorf("AppendAll to bob's new Archive placed %+v, folder %+v", p, a)
	}
}

// messagesRanges: Messages gives the UIDs in [from, to], to 0 meaning no
// bound, in UID order, skipping expunged ones.
func messagesRanges(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	f := fill(t, st, mb.alice, "INBOX", 6)
	if _, err := st.StoreFlags(f.ID, []uint32{2, 5}, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(f.ID, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to uint32
		want     []uint32
	}{
		{0, 0, []uint32{1, 3, 4, 6}},
		{1, 0, []uint32{1, 3, 4, 6}},
		{2, 4, []uint32{3, 4}},
		{3, 3, []uint32{3}},
		{2, 2, []uint32{}},
		{5, 0, []uint32{6}},
		{4, 100, []uint32{4, 6}},
		{7, 0, []uint32{}},
		{0, 1, []uint32{1}},
		{5, 3, []uint32{}},
	} {
		ms, err := st.Messages(f.ID, c.from, c.to)
		if err != nil || !slices.Equal(uidsOf(ms), c.want) {
			t.Errorf("Messages(%d, %d) = UIDs %v, %v; want %v", c.from, c.to, uidsOf(ms), err, c.want)
		}
	}
	if ms, err := st.Messages(f.ID+1000, 0, 0); err != nil || len(ms) != 0 {
		t.Errorf("Messages of a folder that does not exist = %v, %v; want none", ms, err)
	}
}

// bodies: Body is the whole message, Header its header block with the
// first empty line, CRLF or bare LF (storage.HeaderBlock; the whole
// message when it has no body), and
// Headers several of them in order, nil for a missing blob.
func bodies(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	crlf := []byte("From: a@example.org\r\nSubject: crlf\r\n\r\nline 1\r\n\r\nline 3\r\n")
	lf := []byte("From: a@example.org\nSubject: lf\n\nbody\n")
	headOnly := []byte("From: a@example.org\r\nSubject: no body\r\n")
	// Bare LF ends the header here; the CRLF blank line is in the body.
	mixed := []byte("Subject: mixed\n\nbody\r\n\r\nmore\r\n")
	// An empty line is one with nothing before its CRLF or LF.
	lfcrlf := []byte("Subject: lf\n\r\nbody\n")
	var blobs []uint64
	for _, m := range [][]byte{crlf, lf, headOnly, mixed, lfcrlf} {
		appendMsg(t, st, mb.alice, "INBOX", m)
	}
	for _, m := range messages(t, st, folder(t, st, mb.alice, "INBOX").ID) {
		blobs = append(blobs, m.Blob)
	}
	if len(blobs) != 5 {
		t.Fatalf("%d messages, want 5", len(blobs))
	}
	wantHdr := []string{"From: a@example.org\r\nSubject: crlf\r\n\r\n", "From: a@example.org\nSubject: lf\n\n", string(headOnly), "Subject: mixed\n\n", "Subject: lf\n\r\n"}
	for i, m := range [][]byte{crlf, lf, headOnly, mixed, lfcrlf} {
		if b, err := st.Body(blobs[i]); err != nil || string(b) != string(m) {
			t.Errorf("Body(%d) = %q, %v; want %q", blobs[i], b, err, m)
		}
		if h, err := st.Header(blobs[i]); err != nil || string(h) != wantHdr[i] {
			t.Errorf("Header(%d) = %q, %v; want %q", blobs[i], h, err, wantHdr[i])
		}
	}
	missing := blobs[0] + blobs[1] + blobs[2] + blobs[3] + blobs[4] + 1000
	_, err := st.Body(missing)
	wantKind(t, "Body of a missing blob", err, storage.ErrNotFound)
	_, err = st.Header(missing)
	wantKind(t, "Header of a missing blob", err, storage.ErrNotFound)
	var got []string
	var nils []int
	err = st.Headers([]uint64{blobs[2], missing, blobs[0], blobs[1]}, func(i int, hdr []byte) {
		if hdr == nil {
			nils = append(nils, i)
		}
		got = append(got, fmt.Sprint(i, ":", string(hdr)))
	})
	fatal(t, err)
	want := []string{"0:" + wantHdr[2], "1:", "2:" + wantHdr[0], "3:" + wantHdr[1]}
	if !slices.Equal(got, want) || !slices.Equal(nils, []int{1}) {
		t.Errorf("Headers = %q (nil at %v), want %q (nil at [1])", got, nils, want)
	}
}

// snapshot: a Snapshot taken while deliveries run sees exactly the
// messages announced before it, no more, no fewer, and its folder record
// agrees with them.
func snapshot(t *testing.T, st storage.Backend) { SnapshotAcross(t, st, st) }

// SnapshotAcross is snapshot with the deliveries made on writer and the
// announcements and snapshots taken on reader, two nodes of one database
// (or one store twice). A reader other than writer is given 10 s to
// announce every delivery; the same store must have announced them all
// when the last delivery returns.
func SnapshotAcross(t *testing.T, writer, reader storage.Backend) {
	t.Helper()
	mb := seedMail(t, writer)
	f := folder(t, writer, mb.alice, "INBOX")
	const n = 100
	var mu sync.Mutex
	announced := 0
	reader.OnChange(func(c storage.Change) {
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
			if _, err := writer.Deliver(storage.Delivery{Message: msgOf(fmt.Sprint(i)), Targets: []storage.Target{{Owner: mb.alice}}}); err != nil {
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
		err := reader.Snapshot(f.ID, func(sf storage.Folder, msgs []storage.Message) {
			mu.Lock()
			defer mu.Unlock()
			snapshots++
			if announced > 0 && announced < n {
				overlapped++
			}
			if len(msgs) != announced || sf.Count != uint32(len(msgs)) || sf.UIDNext != uint32(len(msgs))+1 {
				t.Errorf("snapshot of %+v with %d messages, %d announced", sf, len(msgs), announced)
			}
			for i, m := range msgs {
				if m.UID != uint32(i+1) {
					t.Errorf("snapshot: message %d has UID %d", i, m.UID)
					break
				}
			}
			if len(msgs) > 0 && sf.HighestModSeq != msgs[len(msgs)-1].ModSeq {
				t.Errorf("snapshot: HighestModSeq %d, last message's %d", sf.HighestModSeq, msgs[len(msgs)-1].ModSeq)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		got := announced
		mu.Unlock()
		if got == n {
			break
		}
		if reader == writer || time.Now().After(deadline) {
			t.Errorf("%d appends announced, want %d", got, n)
			break
		}
	}
	if overlapped == 0 {
		t.Errorf("none of %d snapshots overlapped the deliveries", snapshots)
	}
	err := reader.Snapshot(f.ID+1000, func(storage.Folder, []storage.Message) { t.Error("Snapshot of a missing folder called fn") })
	wantKind(t, "Snapshot of a missing folder", err, storage.ErrNotFound)
}

// concurrentDeliveries: parallel deliveries to shared folders all
// succeed, UIDs are dense per folder and announced in UID order, and no
// two deliveries share a body.
func concurrentDeliveries(t *testing.T, st storage.Backend) {
	mb := seedMail(t, st)
	var mu sync.Mutex
	last := map[uint64]uint32{}
	var bad []string
	st.OnChange(func(c storage.Change) {
		if c.Kind != storage.ChangeAppend {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if c.UID != last[c.FolderID]+1 {
			bad = append(bad, fmt.Sprintf("folder %d: UID %d after %d", c.FolderID, c.UID, last[c.FolderID]))
		}
		last[c.FolderID] = c.UID
	})
	const workers, each = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				owner := []delegation.ID{mb.alice, mb.bob}[(w+i)%2]
				if _, err := st.Deliver(storage.Delivery{Message: msgOf(fmt.Sprint(w, i)),
					Targets: []storage.Target{{Owner: owner}, {Owner: mb.bob, Folder: "Sent"}}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("announced out of order: %v", bad[:min(5, len(bad))])
	}
	sent := folder(t, st, mb.bob, "Sent")
	ms := messages(t, st, sent.ID)
	if len(ms) != workers*each || sent.Count != workers*each || !slices.Equal(uidsOf(ms), seq(1, workers*each)) {
		t.Fatalf("Sent holds %d messages (count %d), want %d with UIDs 1..%d", len(ms), sent.Count, workers*each, workers*each)
	}
	a, b := folder(t, st, mb.alice, "INBOX"), folder(t, st, mb.bob, "INBOX")
	if a.Count+b.Count != workers*each || a.UIDNext != a.Count+1 || b.UIDNext != b.Count+1 {
		t.Errorf("INBOXes: %+v and %+v, want %d messages between them", a, b, workers*each)
	}
	seen := map[uint64]bool{}
	for _, m := range ms {
		if seen[m.Blob] {
			t.Fatalf("blob %d used by two deliveries", m.Blob)
		}
		seen[m.Blob] = true
	}
}
