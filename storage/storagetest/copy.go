package storagetest

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Filled names what Fill made.
type Filled struct {
	Alice, Bob, Carol, Info, Sales delegation.ID
	Removed                        delegation.ID // a principal removed again: its ID must never come back
	Pending                        delegation.Grant
	Inbox, Work                    storage.Folder // alice's INBOX and her renamed Projects/2026 (now Work/2026)
	Deleted                        storage.Folder // a folder deleted again
	Copied                         uint64         // the blob of a message copied to Work/2026 (two references)
	Queued                         storage.QueueEntry
	Calendar                       storage.Calendar // alice's "work" calendar, after its changes
	DeletedCalendar                storage.Calendar // a calendar deleted again: its ID must never come back
}

// Fill gives st one of everything a store keeps, through the contract:
// two tenants (one with a propagation delay), users with passwords,
// settings and a quota, a shared mailbox, a group with a member, an
// alias, a renamed user, a removed one, grants (one pending, one
// time-boxed, one revoked), folders (one renamed, one deleted) with subscriptions,
// messages with flags and internal dates, a copy (a shared body), an
// expunge (a tombstone), a relay queue entry, audit records, and
// calendars (a default one, one renamed with a color, one deleted) with
// an event, a task without times, a changed object and a deleted one (a
// calendar tombstone).
func Fill(t *testing.T, st storage.Backend) Filled {
	t.Helper()
	var f Filled
	_, err := st.AddTenant("example.test", 0)
	fatal(t, err)
	_, err = st.AddTenant("slow.test", 90*time.Minute)
	fatal(t, err)
	add := func(np storage.NewPrincipal) delegation.ID {
		t.Helper()
		p, err := st.AddPrincipal(np)
		fatal(t, err)
		return p.ID
	}
	f.Alice = add(storage.NewPrincipal{Kind: delegation.KindUser, Address: "alice@example.test", Name: "Alice", PasswordHash: "hash-alice"})
	f.Bob = add(storage.NewPrincipal{Kind: delegation.KindUser, Address: "bob@example.test", Name: "Bob", PasswordHash: "hash-bob"})
	f.Removed = add(storage.NewPrincipal{Kind: delegation.KindUser, Address: "dave@example.test"})
	f.Carol = add(storage.NewPrincipal{Kind: delegation.KindUser, Address: "carol@slow.test", PasswordHash: "hash-carol"})
	slowBoss := add(storage.NewPrincipal{Kind: delegation.KindUser, Address: "boss@slow.test"})
	f.Info = add(storage.NewPrincipal{Kind: delegation.KindShared, Address: "info@example.test", Name: "Info"})
	f.Sales = add(storage.NewPrincipal{Kind: delegation.KindGroup, Address: "sales@example.test", Name: "Sales"})
	_, err = st.AddMember("sales@example.test", "bob@example.test")
	fatal(t, err)
	_, err = st.AddAlias("alice@example.test", "al@example.test")
	fatal(t, err)
	_, err = st.Rename("carol@slow.test", "caroline@slow.test")
	fatal(t, err)
	yes := true
	_, err = st.SetSettings("alice@example.test", &yes, nil)
	fatal(t, err)
	_, err = st.SetQuota("bob@example.test", 1<<20)
	fatal(t, err)

	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.FullAccess, Immediate: true, CreatedBy: "admin-cli"})
	fatal(t, err)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "info@example.test", Trustee: "sales@example.test", Right: delegation.SendAs})
	fatal(t, err)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "dave@example.test", Right: delegation.SendAs, Immediate: true})
	fatal(t, err)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendOnBehalf, Immediate: true, For: 720 * time.Hour}) // time-boxed
	fatal(t, err)
	_, err = st.RemoveGrantBy("alice@example.test", "bob@example.test", delegation.SendOnBehalf, "admin-cli")
	fatal(t, err)
	f.Pending, err = st.AddGrant(storage.NewGrant{Mailbox: "boss@slow.test", Trustee: "caroline@slow.test", Right: delegation.FullAccess})
	fatal(t, err)
	_ = slowBoss
	_, err = st.RemovePrincipal("dave@example.test")
	fatal(t, err)

	fatal(t, st.EnsureDefaultFolders(f.Alice))
	_, err = st.CreateFolder(f.Alice, "Projects/2026", "", nil)
	fatal(t, err)
	fatal(t, st.RenameFolder(f.Alice, "Projects", "Work", nil))
	f.Deleted, err = st.CreateFolder(f.Alice, "Tmp", "", nil)
	fatal(t, err)
	fatal(t, st.Subscribe(f.Alice, "Tmp"))
	_, err = st.DeleteFolder(f.Alice, "Tmp", nil) // its subscription stays (RFC 9051 §6.3.7)
	fatal(t, err)
	fatal(t, st.Subscribe(f.Alice, "Work/2026"))
	f.Inbox, f.Work = folder(t, st, f.Alice, "INBOX"), folder(t, st, f.Alice, "Work/2026")

	date := time.Date(2025, 11, 3, 8, 15, 30, 123456789, time.UTC)
	for i, s := range []string{"one", "two", "three", "four"} {
		_, err := st.Deliver(storage.Delivery{Message: msgOf(s), Date: date.Add(time.Duration(i) * time.Hour),
			Targets: []storage.Target{{Owner: f.Alice, Flags: []string{`\Seen`}[:i%2]}}})
		fatal(t, err)
	}
	_, err = st.StoreFlags(f.Inbox.ID, []uint32{2, 3}, storage.FlagsAdd, []string{`\Flagged`, "$Work"}, storage.NoOrigin)
	fatal(t, err)
	if _, err := st.Copy(f.Inbox.ID, []uint32{1}, f.Work.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	_, err = st.StoreFlags(f.Inbox.ID, []uint32{3}, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin)
	fatal(t, err)
	if gone, err := st.Expunge(f.Inbox.ID, nil, storage.NoOrigin, nil); err != nil || !slices.Equal(gone, []uint32{3}) {
		t.Fatalf("Expunge = %v, %v", gone, err)
	}
	if _, err := st.Append(f.Bob, "INBOX", msgOf("for bob"), []string{"$Label1"}, date, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	// The same bytes twice, each its own delivery.
	for range 2 {
		_, err := st.Deliver(storage.Delivery{Message: msgOf("twice"), Targets: []storage.Target{{Owner: f.Bob}}})
		fatal(t, err)
	}
	f.Copied = messages(t, st, f.Work.ID)[0].Blob
	if n := refs(t, st, f.Copied); n != 2 {
		t.Fatalf("BlobRefs of a message and its copy = %d, want 2", n)
	}

	q := storage.QueueEntry{From: "alice@example.test", To: []string{"x@remote.test", "y@remote.test"}, Created: date,
		NextAttempt: date.Add(time.Minute), Attempts: 2, LastError: "451 try later", MessageID: "<q@example.test>", Actor: "alice@example.test"}
	_, err = st.Deliver(storage.Delivery{Message: msgOf("outgoing"), Targets: []storage.Target{{Owner: f.Alice, Folder: "Sent", Flags: []string{`\Seen`}}},
		Queue: []storage.QueueEntry{q}, Audit: []storage.AuditRecord{{Proto: "smtp", Action: "send", Actor: "alice@example.test",
			ActorID: string(f.Alice), Mailbox: "alice@example.test", MailboxID: string(f.Alice), Decision: storage.AuditAllowed, MessageID: "<q@example.test>"}}})
	fatal(t, err)
	all, err := st.QueueList()
	fatal(t, err)
	if len(all) != 1 {
		t.Fatalf("QueueList = %+v, want one entry", all)
	}
	f.Queued = all[0]
	fatal(t, st.Audit(storage.AuditRecord{Time: date, Proto: "imap", Action: "folder_bind", Actor: "bob@example.test", ActorID: string(f.Bob),
		Mailbox: "alice@example.test", MailboxID: string(f.Alice), Right: "full-access", Decision: storage.AuditRefused, Reason: "no_grant",
		Folder: "INBOX", Remote: "192.0.2.1:1234"}))
	fillCalendars(t, st, &f)
	return f
}

func fillCalendars(t *testing.T, st storage.Backend, f *Filled) {
	t.Helper()
	_, err := st.EnsureDefaultCalendar(f.Alice)
	fatal(t, err)
	_, err = st.EnsureDefaultCalendar(f.Info)
	fatal(t, err)
	_, err = st.CreateCalendar(f.Alice, "work", "Work", "")
	fatal(t, err)
	f.DeletedCalendar, err = st.CreateCalendar(f.Alice, "old", "Old", "")
	fatal(t, err)
	fatal(t, st.DeleteCalendar(f.Alice, "old"))
	_, err = st.SetCalendarDisplay(f.Alice, "work", "Work 2026", "#FF0000FF")
	fatal(t, err)
	f.Calendar, err = st.Calendar(f.Alice, "work")
	fatal(t, err)
	start := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	ics := func(comp, uid, extra string) []byte {
		return []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:" + comp + "\r\nUID:" + uid +
			"\r\nDTSTAMP:20260301T000000Z\r\n" + extra + "END:" + comp + "\r\nEND:VCALENDAR\r\n")
	}
	for _, o := range []storage.CalendarObject{
		{Name: "review.ics", UID: "review", Component: "VEVENT", Start: start, End: start.Add(time.Hour),
			Data: ics("VEVENT", "review", "DTSTART:20260302T093000Z\r\nDTEND:20260302T103000Z\r\nSUMMARY:Review\r\n")},
		{Name: "review.ics", UID: "review", Component: "VEVENT", Start: start.Add(time.Hour), End: start.Add(2 * time.Hour),
			Data: ics("VEVENT", "review", "DTSTART:20260302T103000Z\r\nDTEND:20260302T113000Z\r\nSUMMARY:Review (moved)\r\n")},
		{Name: "todo.ics", UID: "todo", Component: "VTODO", Data: ics("VTODO", "todo", "SUMMARY:Report\r\n")},
		{Name: "gone.ics", UID: "gone", Component: "VTODO", Data: ics("VTODO", "gone", "SUMMARY:Gone\r\n")},
	} {
		o.Calendar = f.Calendar.ID
		_, err := st.PutCalendarObject(o, storage.Condition{})
		fatal(t, err)
	}
	fatal(t, st.DeleteCalendarObject(f.Calendar.ID, "gone.ics", storage.Condition{}))
	f.Calendar, err = st.Calendar(f.Alice, "work")
	fatal(t, err)
}

// Equal checks that got holds what want does, as far as the contract
// shows it: the directory (tenants, principals with their attributes and
// password hashes, grants with their IDs and times, to the microsecond),
// every principal's folders with their IDs, UIDVALIDITY, UIDNEXT,
// HIGHESTMODSEQ and subscriptions, every message (UID, flags, internal
// date, size, mod-sequence, body, its body's reference count), the
// tombstones, the relay queue, the audit trail, and every principal's
// calendars (IDs, sequences, display) with their objects (bytes, ETags,
// times, sequences) and change logs.
func Equal(t *testing.T, want, got storage.Backend) {
	t.Helper()
	wd, gd := want.Directory(), got.Directory()
	sameAs(t, "tenants", sortedBy(wd.Tenants(), func(x delegation.Tenant) string { return x.Domain }),
		sortedBy(gd.Tenants(), func(x delegation.Tenant) string { return x.Domain }))
	deref := func(ps []*delegation.Principal) []delegation.Principal {
		var out []delegation.Principal
		for _, p := range ps {
			out = append(out, *p)
		}
		return sortedBy(out, func(p delegation.Principal) string { return string(p.ID) })
	}
	sameAs(t, "directory principals", deref(wd.Principals()), deref(gd.Principals()))
	grants := func(gs []*delegation.Grant) []delegation.Grant {
		var out []delegation.Grant
		for _, g := range gs {
			c := *g
			c.CreatedAt, c.EffectiveAt, c.Until = micro(c.CreatedAt), micro(c.EffectiveAt), micro(c.Until)
			out = append(out, c)
		}
		return sortedBy(out, func(g delegation.Grant) string { return g.ID })
	}
	sameAs(t, "grants", grants(wd.Grants()), grants(gd.Grants()))

	wp, err := want.Principals("")
	fatal(t, err)
	shared := sharedRefs(t, want, wp)
	gp, err := got.Principals("")
	fatal(t, err)
	for i := range wp {
		wp[i].CreatedAt = micro(wp[i].CreatedAt)
	}
	for i := range gp {
		gp[i].CreatedAt = micro(gp[i].CreatedAt)
	}
	sameAs(t, "principals", wp, gp)
	for _, p := range wp {
		wh, err := want.PasswordHash(p.ID)
		fatal(t, err)
		gh, err := got.PasswordHash(p.ID)
		fatal(t, err)
		if wh != gh {
			t.Errorf("PasswordHash(%s) = %q, want %q", p.ID, gh, wh)
		}
		equalMail(t, want, got, p.ID, shared)
		equalCalendars(t, want, got, p.ID)
	}

	wq, err := want.QueueList()
	fatal(t, err)
	gq, err := got.QueueList()
	fatal(t, err)
	if len(wq) != len(gq) {
		t.Fatalf("QueueList: %d entries, want %d", len(gq), len(wq))
	}
	for i := range wq {
		sameBody(t, "queue entry", want, got, wq[i].Blob, gq[i].Blob, shared)
		w, g := wq[i], gq[i]
		w.Blob, g.Blob = 0, 0
		sameAs(t, "queue entry", w, g)
	}
	wa, err := want.AuditList(storage.AuditFilter{})
	fatal(t, err)
	ga, err := got.AuditList(storage.AuditFilter{})
	fatal(t, err)
	sameAs(t, "audit", wa, ga)
}

// equalMail compares one owner's folders, subscriptions and messages.
func equalMail(t *testing.T, want, got storage.Backend, owner delegation.ID, shared map[[32]byte]uint64) {
	t.Helper()
	wf, err := want.Folders(owner)
	fatal(t, err)
	gf, err := got.Folders(owner)
	fatal(t, err)
	sameAs(t, "folders of "+string(owner), wf, gf)
	ws, err := want.Subscriptions(owner)
	fatal(t, err)
	gs, err := got.Subscriptions(owner)
	fatal(t, err)
	sameAs(t, "subscriptions of "+string(owner), ws, gs)
	for _, f := range wf {
		wm, gm := messages(t, want, f.ID), messages(t, got, f.ID)
		if len(wm) != len(gm) {
			t.Errorf("folder %s of %s: %d messages, want %d", f.Name, owner, len(gm), len(wm))
			continue
		}
		for i := range wm {
			what := fmt.Sprintf("message %s/%d of %s", f.Name, wm[i].UID, owner)
			sameBody(t, what, want, got, wm[i].Blob, gm[i].Blob, shared)
			w, g := wm[i], gm[i]
			w.Blob, g.Blob = 0, 0
			sameAs(t, what, w, g)
		}
		wv, err := want.Vanished(f.ID, 0)
		fatal(t, err)
		gv, err := got.Vanished(f.ID, 0)
		fatal(t, err)
		sameAs(t, "vanished from "+f.Name, wv, gv)
	}
}

// equalCalendars compares one owner's calendars, their objects and
// their changes since the start (deleted objects included).
func equalCalendars(t *testing.T, want, got storage.Backend, owner delegation.ID) {
	t.Helper()
	wc, err := want.Calendars(owner)
	fatal(t, err)
	gc, err := got.Calendars(owner)
	fatal(t, err)
	sameAs(t, "calendars of "+string(owner), wc, gc)
	for _, c := range wc {
		wo, err := want.CalendarObjects(c.ID)
		fatal(t, err)
		goo, err := got.CalendarObjects(c.ID)
		fatal(t, err)
		sameAs(t, "objects of calendar "+c.Name, wo, goo)
		wch, wseq, err := want.CalendarChanges(c.ID, 0)
		fatal(t, err)
		gch, gseq, err := got.CalendarChanges(c.ID, 0)
		fatal(t, err)
		sameAs(t, "changes of calendar "+c.Name, wch, gch)
		if wseq != gseq {
			t.Errorf("calendar %s: sequence %d, want %d", c.Name, gseq, wseq)
		}
	}
}

// sameBody compares two blobs: bytes, header block and reference count.
// A target that stores equal bodies once (PostgreSQL) has one blob for
// several of the source's: its count is then theirs together (shared).
func sameBody(t *testing.T, what string, want, got storage.Backend, wb, gb uint64, shared map[[32]byte]uint64) {
	t.Helper()
	w, err := want.Body(wb)
	fatal(t, err)
	g, err := got.Body(gb)
	if err != nil || string(w) != string(g) {
		t.Errorf("%s: body %q, %v, want %q", what, g, err, w)
	}
	if h, err := got.Header(gb); err != nil || string(h) != string(storage.HeaderBlock(w)) {
		t.Errorf("%s: header %q, %v", what, h, err)
	}
	if wr, gr := refs(t, want, wb), refs(t, got, gb); gr != wr && gr != shared[sha256.Sum256(w)] {
		t.Errorf("%s: BlobRefs %d, want %d (or %d for the bodies with its bytes)", what, gr, wr, shared[sha256.Sum256(w)])
	}
}

// sharedRefs sums the reference counts of want's bodies by their bytes.
func sharedRefs(t *testing.T, want storage.Backend, ps []storage.Principal) map[[32]byte]uint64 {
	t.Helper()
	blobs := map[uint64]bool{}
	for _, p := range ps {
		fs, err := want.Folders(p.ID)
		fatal(t, err)
		for _, f := range fs {
			for _, m := range messages(t, want, f.ID) {
				blobs[m.Blob] = true
			}
		}
	}
	q, err := want.QueueList()
	fatal(t, err)
	for _, e := range q {
		blobs[e.Blob] = true
	}
	out := map[[32]byte]uint64{}
	for b := range blobs {
		body, err := want.Body(b)
		fatal(t, err)
		out[sha256.Sum256(body)] += refs(t, want, b)
	}
	return out
}

func sameAs[T any](t *testing.T, what string, want, got T) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func sortedBy[T any](s []T, key func(T) string) []T {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return s
}

// micro is a time as PostgreSQL keeps it.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }
