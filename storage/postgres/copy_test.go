package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/storagetest"
)

func openBadger(t *testing.T) *storage.Store {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestCopyFromBadger: an embedded store with one of everything, exported
// and imported into an empty PostgreSQL database, reads back the same
// through the contract (IDs, UIDVALIDITY, UIDs, mod-sequences, flags,
// bodies, grants with their times, queue, audit), also on a node opened
// afterwards; the counts agree; what is made afterwards gets fresh IDs
// (never a removed principal's, a revoked grant's or a deleted folder's);
// and a second import is refused.
func TestCopyFromBadger(t *testing.T) {
	ctx := context.Background()
	src := openBadger(t)
	f := storagetest.Fill(t, src)
	dsn := testenv.Postgres(t)
	dst := open(t, dsn, Options{})
	last := map[storage.RecordKind]storage.Progress{}
	var order []storage.RecordKind
	var stages []string
	census, err := storage.Copy(ctx, src, dst, func(p storage.Progress) {
		if p.Stage != "" {
			stages = append(stages, p.Stage)
			return
		}
		if _, seen := last[p.Kind]; !seen {
			order = append(order, p.Kind)
		}
		last[p.Kind] = p
	})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	storagetest.Equal(t, src, dst)
	storagetest.Equal(t, src, open(t, dsn, Options{})) // a node started after the copy

	if !slices.IsSorted(order) || !slices.Equal(stages, []string{storage.StageCommitting, storage.StageCounting}) {
		t.Errorf("progress came in the order %v, stages %v", order, stages)
	}
	for _, k := range order {
		if !last[k].Done {
			t.Errorf("progress of %s never done: %+v", k, last[k])
		}
	}
	if p := last[storage.RecordMessage]; p.N != census.Messages || p.Bytes != census.MessageBytes {
		t.Errorf("message progress %+v, census %d messages, %d bytes", p, census.Messages, census.MessageBytes)
	}
	// alice: INBOX 1, 2, 4 (3 expunged), Work/2026 1, Sent 1; bob: 3.
	// Calendars: alice's default and work, info's default; work holds
	// two objects and one tombstone.
	if census.Tenants != 2 || census.Principals != 6 || census.Grants != 3 || census.Messages != 8 || census.Queued != 1 || census.Tombstones != 1 ||
		census.Calendars != 3 || census.CalendarObjects != 2 || census.CalendarTombstones != 1 {
		t.Errorf("census %+v", census)
	}
	if n, err := dst.BlobRefs(f.Copied); err != nil || n != 2 {
		t.Errorf("BlobRefs of the copied body = %d, %v, want 2", n, err)
	}
	bobInbox, err := dst.Folder(f.Bob, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := dst.Messages(bobInbox.ID, 0, 0)
	if err != nil || len(msgs) != 3 || msgs[1].Blob != msgs[2].Blob {
		t.Errorf("bob's INBOX %+v, %v: want the two equal bodies stored once", msgs, err)
	} else if n, _ := dst.BlobRefs(msgs[1].Blob); n != 2 {
		t.Errorf("BlobRefs of a body delivered twice = %d, want 2", n)
	}
	if v, err := dst.Vanished(f.Inbox.ID, 0); err != nil || !slices.Equal(v, []uint32{3}) {
		t.Errorf("Vanished(INBOX) = %v, %v", v, err)
	}
	if g, ok := dst.Directory().Principal(f.Alice); !ok || g.Address != "alice@example.test" {
		t.Errorf("alice after the copy: %+v", g)
	}
	if dc := dst.Directory().Open(f.Carol, mustLookup(t, dst, "boss@slow.test"), f.Pending.EffectiveAt.Add(-time.Second)); dc.Allowed {
		t.Errorf("the pending grant counts before its time: %+v", dc)
	}
	if dc := dst.Directory().Open(f.Carol, mustLookup(t, dst, "boss@slow.test"), f.Pending.EffectiveAt.Add(time.Microsecond)); !dc.Allowed || dc.GrantID != f.Pending.ID {
		t.Errorf("the pending grant at its time: %+v", dc)
	}

	// Fresh IDs after the copy.
	p, err := dst.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: "new@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if numericID(string(p.ID), "p") <= numericID(string(f.Sales), "p") || p.ID == f.Removed {
		t.Errorf("new principal after the copy: %s (removed %s, last %s)", p.ID, f.Removed, f.Sales)
	}
	g, err := dst.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "new@example.test", Right: delegation.SendAs, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range src.Directory().Grants() {
		if numericID(g.ID, "g") <= numericID(old.ID, "g") {
			t.Errorf("new grant %s after the copy, the source had %s", g.ID, old.ID)
		}
	}
	nf, err := dst.CreateFolder(f.Alice, "Later", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if nf.ID <= f.Deleted.ID {
		t.Errorf("new folder ID %d after the copy, a deleted folder had %d", nf.ID, f.Deleted.ID)
	}
	nc, err := dst.CreateCalendar(f.Alice, "later", "Later", "")
	if err != nil {
		t.Fatal(err)
	}
	if nc.ID <= f.DeletedCalendar.ID {
		t.Errorf("new calendar ID %d after the copy, a deleted calendar had %d", nc.ID, f.DeletedCalendar.ID)
	}
	if ch, seq, err := dst.CalendarChanges(f.Calendar.ID, 1); err != nil || seq != f.Calendar.Seq || len(ch) != 3 {
		t.Errorf("changes of the copied work calendar since its creation = %+v, %d, %v (want 3 up to %d)", ch, seq, err, f.Calendar.Seq)
	}
	placed, err := dst.Deliver(storage.Delivery{Message: []byte("From: a@example.org\r\nSubject: one\r\n\r\nbody of one\r\n"),
		Targets: []storage.Target{{Owner: f.Alice}}})
	if err != nil {
		t.Fatal(err)
	}
	if placed[0].UID != f.Inbox.UIDNext+4 || placed[0].UIDValidity != f.Inbox.UIDValidity {
		t.Errorf("delivery after the copy placed %+v, want UID %d in UIDVALIDITY %d", placed[0], f.Inbox.UIDNext+4, f.Inbox.UIDValidity)
	}
	if n, _ := dst.BlobRefs(f.Copied); n != 3 {
		t.Errorf("a delivery of copied bytes after the copy: BlobRefs %d, want 3 (the body stored once)", n)
	}

	// Into a database that is not empty: refused, and nothing changes.
	before, err := dst.Census(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = storage.Copy(ctx, src, dst, nil)
	if !errors.Is(err, storage.ErrExists) || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second copy: %v, want a refusal of a database that is not empty", err)
	}
	if after, err := dst.Census(ctx); err != nil || before.Diff(after) != nil {
		t.Errorf("a refused copy changed the target: %v, %v", before.Diff(after), err)
	}
}

// dropping is an importer that loses one kind of record on the way.
type dropping struct {
	*Store
	kind storage.RecordKind
}

func (d dropping) Import(ctx context.Context, items iter.Seq2[storage.Item, error]) error {
	return d.Store.Import(ctx, func(yield func(storage.Item, error) bool) {
		for it, err := range items {
			if err == nil && it.Kind == d.kind {
				continue
			}
			if !yield(it, err) {
				return
			}
		}
	})
}

// TestCopyMismatch: a copy whose target does not hold what the source
// does (here: an importer that drops the audit trail)
// is a *MismatchError that names what differs.
func TestCopyMismatch(t *testing.T) {
	src := openBadger(t)
	storagetest.Fill(t, src)
	dst := open(t, testenv.Postgres(t), Options{})
	_, err := storage.Copy(context.Background(), src, dropping{dst, storage.RecordAudit}, nil)
	var me *storage.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Copy through a lossy importer: %v, want a MismatchError", err)
	}
	want, err := src.AuditList(storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(me.Diffs) != 1 || me.Diffs[0] != fmt.Sprintf("audit records: %d in the source, 0 in the target", len(want)) {
		t.Errorf("differences %q", me.Diffs)
	}
}

func mustLookup(t *testing.T, st storage.Backend, addr string) delegation.ID {
	t.Helper()
	p, ok := st.Directory().Lookup(addr)
	if !ok {
		t.Fatalf("no %s", addr)
	}
	return p.ID
}

// TestImportAllOrNothing: an export that fails half-way, one cancelled,
// and one whose message refers to a body it lacks leave the target empty,
// and the target takes a complete import afterwards.
func TestImportAllOrNothing(t *testing.T) {
	src := openBadger(t)
	storagetest.Fill(t, src)
	dst := open(t, testenv.Postgres(t), Options{})
	failAt := func(kind storage.RecordKind, err error) iter.Seq2[storage.Item, error] {
		return func(yield func(storage.Item, error) bool) {
			for it, e := range src.Export(context.Background()) {
				if e == nil && it.Kind == kind {
					yield(storage.Item{}, err)
					return
				}
				if !yield(it, e) {
					return
				}
			}
		}
	}
	broken := errors.New("disk on fire")
	if err := dst.Import(context.Background(), failAt(storage.RecordAudit, broken)); !errors.Is(err, broken) {
		t.Errorf("import of a failing export: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := func(yield func(storage.Item, error) bool) {
		for it, e := range src.Export(ctx) {
			if it.Kind == storage.RecordMessage {
				cancel()
			}
			if !yield(it, e) {
				return
			}
		}
	}
	if err := dst.Import(ctx, cancelled); err == nil {
		t.Error("a cancelled import succeeded")
	}
	dangling := func(yield func(storage.Item, error) bool) {
		for it, e := range src.Export(context.Background()) {
			if it.Kind == storage.RecordMessage {
				it.Message.Blob += 1 << 40
			}
			if !yield(it, e) {
				return
			}
		}
	}
	if err := dst.Import(context.Background(), dangling); err == nil || !strings.Contains(err.Error(), "refer to a body") {
		t.Errorf("import of messages without their bodies: %v", err)
	}
	empty, err := dst.Census(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := (storage.Census{PerFolder: map[uint64]storage.FolderCensus{}}).Diff(empty); d != nil {
		t.Errorf("failed imports left %v", d)
	}
	if len(dst.Directory().Principals()) != 0 {
		t.Error("the directory snapshot shows principals of a failed import")
	}
	if _, err := storage.Copy(context.Background(), src, dst, nil); err != nil {
		t.Fatalf("copy after the failed ones: %v", err)
	}
	storagetest.Equal(t, src, dst)
}

// TestCopyFigure measures a copy of COPYSTORE_FIGURE small messages
// (e.g. 10000); it only runs when asked.
func TestCopyFigure(t *testing.T) {
	n := 0
	fmt.Sscan(os.Getenv("COPYSTORE_FIGURE"), &n)
	if n == 0 {
		t.Skip("set COPYSTORE_FIGURE=N to measure a copy of N messages")
	}
	src := openBadger(t)
	if _, err := src.AddTenant("example.test", 0); err != nil {
		t.Fatal(err)
	}
	p, err := src.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]storage.AppendMessage, 0, 500)
	for i := 0; i < n; {
		msgs = msgs[:0]
		for ; len(msgs) < cap(msgs) && i < n; i++ {
			msgs = append(msgs, storage.AppendMessage{Message: fmt.Appendf(nil,
				"From: b@example.org\r\nTo: alice@example.test\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\n%s\r\n", i, i,
				strings.Repeat("a line of a small message body\r\n", 30))})
		}
		if _, err := src.AppendAll(p.ID, "INBOX", msgs, storage.NoOrigin, nil); err != nil {
			t.Fatal(err)
		}
	}
	dst := open(t, testenv.Postgres(t), Options{})
	start := time.Now()
	c, err := storage.Copy(context.Background(), src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copied %d messages (%.1f MiB) in %v (%.0f messages/s), verification included",
		c.Messages, float64(c.MessageBytes)/(1<<20), time.Since(start).Round(time.Millisecond), float64(c.Messages)/time.Since(start).Seconds())
}
