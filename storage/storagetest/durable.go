package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Data makes the data of a new, empty store for one test and returns how
// to open a handle on it with a clock. Every handle it opens is on the
// same data; the suite closes one before it opens the next.
type Data func(t *testing.T) func(now func() time.Time) storage.Backend

// RunDurable runs the tests that set the store's clock or open its data
// again: what a backend stamps with Backend.Now, and what survives a
// restart.
func RunDurable(t *testing.T, data Data) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, func(now func() time.Time) storage.Backend)
	}{
		{"Clock", storeClock},
		{"Reopen", reopen},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, data(t)) })
	}
}

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// t1 is the clock's start in the durable tests: a whole second, later
// than the machine's time, so that nothing stamped by the machine's clock
// could pass for it.
var t1 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

// storeClock: every time a store writes on its own (principals' and
// grants' creation, a grant's effective time, audit records, internal
// dates, queue entries) is its clock's, Backend.Now; the audit filters
// select by those times, Since inclusive, Until not.
func storeClock(t *testing.T, open func(now func() time.Time) storage.Backend) {
	c := &clock{t: t1}
	st := open(c.now)
	if got := st.Now(); !got.Equal(t1) {
		t.Fatalf("Now() = %v, want the clock's %v", got, t1)
	}
	mb := seedMail(t, st)
	if _, err := st.SetPropagation("example.test", time.Hour); err != nil {
		t.Fatal(err)
	}
	if p, err := st.Principal(mb.alice); err != nil || !p.CreatedAt.Equal(t1) {
		t.Errorf("alice created at %v (%v), want %v", p.CreatedAt, err, t1)
	}
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs, CreatedBy: "test"})
	fatal(t, err)
	if !g.CreatedAt.Equal(t1) || !g.EffectiveAt.Equal(t1.Add(time.Hour)) || g.CreatedBy != "test" {
		t.Errorf("grant created %v, effective %v, by %q; want %v, an hour later, by test", g.CreatedAt, g.EffectiveAt, g.CreatedBy, t1)
	}
	d := st.Directory()
	if dc := d.Send(mb.bob, "alice@example.test", st.Now()); dc.Allowed || dc.Reason != delegation.ReasonPending {
		t.Errorf("Send As at the grant's creation: %+v, want pending", dc)
	}
	if dc := d.Send(mb.bob, "alice@example.test", t1.Add(time.Hour)); !dc.Allowed || dc.GrantID != g.ID {
		t.Errorf("Send As once effective: %+v", dc)
	}
	if recs, err := st.AuditList(storage.AuditFilter{Action: "grant_add"}); err != nil || len(recs) != 1 || !recs[0].Time.Equal(t1) {
		t.Errorf("grant_add audit = %+v, %v; want one at %v", recs, err, t1)
	}

	// Audit records stamped an hour apart by the clock.
	for i, actor := range []string{"a", "b", "a"} {
		c.set(t1.Add(time.Duration(i+1) * time.Hour))
		if err := st.Audit(storage.AuditRecord{Proto: "smtp", Action: "send", ActorID: actor, MailboxID: "m", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f    storage.AuditFilter
		want []string
	}{
		{storage.AuditFilter{ActorID: "a"}, []string{"0", "2"}},
		{storage.AuditFilter{Action: "send", Since: t1.Add(90 * time.Minute)}, []string{"1", "2"}},
		{storage.AuditFilter{Action: "send", Since: t1.Add(2 * time.Hour)}, []string{"1", "2"}},
		{storage.AuditFilter{Action: "send", Until: t1.Add(3 * time.Hour)}, []string{"0", "1"}},
		{storage.AuditFilter{Action: "send", Since: t1.Add(2 * time.Hour), Until: t1.Add(3 * time.Hour)}, []string{"1"}},
		{storage.AuditFilter{MailboxID: "m", Limit: 1}, []string{"2"}},
	} {
		recs, err := st.AuditList(tc.f)
		fatal(t, err)
		got := []string{}
		for _, r := range recs {
			got = append(got, r.Detail)
			// Record i was stamped i+1 hours after t1.
			if want := t1.Add(time.Duration(r.Detail[0]-'0'+1) * time.Hour); !r.Time.Equal(want) {
				t.Errorf("record %s at %v, want %v", r.Detail, r.Time, want)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("AuditList(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}

	// Mail: the internal date of a message given none, a queue entry's
	// times, a delivery's audit record.
	t4 := t1.Add(4 * time.Hour)
	c.set(t4)
	if _, err := st.Deliver(storage.Delivery{Message: msgOf("d"), Targets: []storage.Target{{Owner: mb.alice}},
		Queue: []storage.QueueEntry{{From: "alice@example.test", To: []string{"x@remote.test"}, MessageID: "q"}},
		Audit: []storage.AuditRecord{{Proto: "smtp", Action: "deliver", ActorID: string(mb.alice)}}}); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, st, mb.alice, "INBOX", msgOf("a"))
	if _, err := st.AppendAll(mb.alice, "INBOX", []storage.AppendMessage{{Message: msgOf("b")}}, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range messages(t, st, folder(t, st, mb.alice, "INBOX").ID) {
		if !m.InternalDate.Equal(t4) {
			t.Errorf("message %d given no date: internal date %v, want %v", m.UID, m.InternalDate, t4)
		}
	}
	if q := queueList(t, st); len(q) != 1 || !q[0].Created.Equal(t4) || !q[0].NextAttempt.Equal(t4) {
		t.Errorf("queue entry given no times = %+v, want created and due at %v", q, t4)
	}
	if recs, _ := st.AuditList(storage.AuditFilter{Action: "deliver"}); len(recs) != 1 || !recs[0].Time.Equal(t4) {
		t.Errorf("delivery's audit record = %+v, want one at %v", recs, t4)
	}
	if due, _, err := st.QueueDue(st.Now(), 10); err != nil || len(due) != 1 {
		t.Errorf("QueueDue(Now()) = %d entries, %v; want the one due now", len(due), err)
	}
}

// reopen: what a store holds is there, the same, once its data is opened
// again (a restart, or another node): the directory and its grants, the
// folders, their counters and mod-sequences, messages, tombstones,
// bodies and references, subscriptions, the queue and the audit; and no
// ID or UIDVALIDITY is given out again after it.
func reopen(t *testing.T, open func(now func() time.Time) storage.Backend) {
	c := &clock{t: t1}
	st := open(c.now)
	mb := seedMail(t, st)
	if _, err := st.SetPropagation("example.test", time.Hour); err != nil {
		t.Fatal(err)
	}
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs})
	fatal(t, err)
	carol, err := st.AddPrincipal(user("carol@example.test"))
	fatal(t, err)
	if _, err := st.RemovePrincipal("carol@example.test"); err != nil {
		t.Fatal(err)
	}

	inbox := fill(t, st, mb.alice, "INBOX", 4)
	if _, err := st.StoreFlags(inbox.ID, []uint32{2}, storage.FlagsAdd, []string{`\Seen`, "$Work"}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.StoreFlags(inbox.ID, []uint32{3}, storage.FlagsAdd, []string{`\Deleted`}, storage.NoOrigin); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expunge(inbox.ID, nil, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	work := create(t, st, mb.alice, "Work/2030")
	if _, err := st.Copy(inbox.ID, []uint32{1}, work.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Move(inbox.ID, []uint32{2}, work.ID, storage.NoOrigin, nil); err != nil {
		t.Fatal(err)
	}
	x := create(t, st, mb.alice, "X")
	appendMsg(t, st, mb.alice, "X", msgOf("x"))
	if _, err := st.DeleteFolder(mb.alice, "X", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Subscribe(mb.alice, "Work/2030"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deliver(storage.Delivery{Message: msgOf("out"), Targets: []storage.Target{{Owner: mb.bob, Folder: "Sent"}},
		Queue: []storage.QueueEntry{{From: "bob@example.test", To: []string{"x@remote.test", "y@remote.test"}, MessageID: "out"}}}); err != nil {
		t.Fatal(err)
	}
	e := queueList(t, st)[0]
	e.To, e.Attempts, e.NextAttempt, e.LastError = []string{"y@remote.test"}, 1, t1.Add(time.Hour), "451 later"
	if err := st.QueueRetry(e); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetQuota("alice@example.test", 1<<20); err != nil {
		t.Fatal(err)
	}
	before := durableState(t, st, mb)
	fatal(t, st.Close())

	c.set(t1.Add(2 * time.Hour))
	st = open(c.now)
	after := durableState(t, st, mb)
	for _, k := range sortedKeys(before, after) {
		if after[k] != before[k] {
			t.Errorf("after reopening, %s:\n%s\nwas\n%s", k, after[k], before[k])
		}
	}
	if dc := st.Directory().Send(mb.bob, "alice@example.test", st.Now()); !dc.Allowed || dc.GrantID != g.ID {
		t.Errorf("Send As after reopening, the grant effective: %+v", dc)
	}
	w := folderByID(t, st, work.ID)
	err = st.Snapshot(work.ID, func(f storage.Folder, ms []storage.Message) {
		if f != w || describeMessages(ms) != describeMessages(messages(t, st, work.ID)) {
			t.Errorf("after reopening, Snapshot gives %+v with %s; FolderByID %+v", f, describeMessages(ms), w)
		}
	})
	fatal(t, err)
	in := folderByID(t, st, inbox.ID)
	if p := appendMsg(t, st, mb.alice, "INBOX", msgOf("new")); p.UID != in.UIDNext || p.UIDValidity != in.UIDValidity {
		t.Errorf("Append after reopening placed %+v, want UID %d", p, in.UIDNext)
	}
	if got := folderByID(t, st, inbox.ID); got.HighestModSeq != in.HighestModSeq+1 {
		t.Errorf("Append after reopening: HighestModSeq %d, want %d", got.HighestModSeq, in.HighestModSeq+1)
	}

	// Nothing is given out again: principal IDs, folder IDs, UIDVALIDITY.
	used := map[delegation.ID]bool{mb.alice: true, mb.bob: true, carol.ID: true}
	dave, err := st.AddPrincipal(user("dave@example.test"))
	fatal(t, err)
	if _, err := st.RemovePrincipal("bob@example.test"); err != nil {
		t.Fatal(err)
	}
	bob2, err := st.AddPrincipal(user("bob@example.test"))
	fatal(t, err)
	for _, p := range []storage.Principal{dave, bob2} {
		if used[p.ID] {
			t.Errorf("%s after reopening got the used ID %s", p.Address, p.ID)
		}
		used[p.ID] = true
	}
	x2 := create(t, st, mb.alice, "X")
	if x2.ID == x.ID || x2.ID == inbox.ID || x2.ID == work.ID || x2.UIDValidity == x.UIDValidity {
		t.Errorf("X made again after reopening = %+v, was %+v: want a new ID and UIDVALIDITY", x2, x)
	}
}

// durableState is what reopen compares, by name.
func durableState(t *testing.T, st storage.Backend, mb mailbox) map[string]string {
	t.Helper()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	out := map[string]string{}
	ps, err := st.Principals("")
	must("Principals", err)
	for _, p := range ps {
		p.CreatedAt = p.CreatedAt.UTC()
		out["principal "+p.Address] = fmt.Sprintf("%+v", p)
	}
	out["tenants"] = fmt.Sprintf("%+v", st.Directory().Tenants())
	gs, err := st.Grants("", "")
	must("Grants", err)
	for _, g := range gs {
		g.CreatedAt, g.EffectiveAt = g.CreatedAt.UTC(), g.EffectiveAt.UTC()
		out["grant "+g.ID] = fmt.Sprintf("%+v", g)
	}
	for _, owner := range []delegation.ID{mb.alice, mb.bob} {
		fs, err := st.Folders(owner)
		must("Folders of "+string(owner), err)
		out["folders of "+string(owner)] = fmt.Sprintf("%+v", fs)
		for _, f := range fs {
			k := string(owner) + " " + f.Name
			if byID := folderByID(t, st, f.ID); byID != f {
				t.Errorf("%s: FolderByID %+v, Folders %+v", k, byID, f)
			}
			ms := messages(t, st, f.ID)
			out["messages in "+k] = describeMessages(ms)
			v, err := st.Vanished(f.ID, 0)
			must("Vanished from "+k, err)
			out["vanished from "+k] = fmt.Sprint(v)
			for _, m := range ms {
				b, err := st.Body(m.Blob)
				must(fmt.Sprint("Body of ", k, " ", m.UID), err)
				out[fmt.Sprint("blob ", m.Blob)] = fmt.Sprintf("%d references, %q", refs(t, st, m.Blob), b)
			}
		}
		subs, err := st.Subscriptions(owner)
		must("Subscriptions of "+string(owner), err)
		out["subscriptions of "+string(owner)] = fmt.Sprint(subs)
		u, q, err := st.Usage(owner)
		must("Usage of "+string(owner), err)
		out["usage of "+string(owner)] = fmt.Sprint(u, " of ", q)
	}
	for _, e := range queueList(t, st) {
		e.Created, e.NextAttempt = e.Created.UTC(), e.NextAttempt.UTC()
		out[fmt.Sprint("queue entry ", e.ID)] = fmt.Sprintf("%+v, %d references", e, refs(t, st, e.Blob))
	}
	recs, err := st.AuditList(storage.AuditFilter{})
	must("AuditList", err)
	var audit []string
	for _, r := range recs {
		r.Time = r.Time.UTC()
		audit = append(audit, fmt.Sprintf("%+v", r))
	}
	out["audit"] = fmt.Sprint(len(audit), " records:\n", audit)
	return out
}

func describeMessages(ms []storage.Message) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("[%d %q %s %d %d %d]", m.UID, m.Flags, m.InternalDate.UTC().Format(time.RFC3339Nano), m.Size, m.Blob, m.ModSeq)
	}
	return s
}

// sortedKeys is the union of the maps' keys, sorted.
func sortedKeys(ms ...map[string]string) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
