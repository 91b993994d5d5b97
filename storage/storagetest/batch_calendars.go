package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
)

// RunBatchCalendars runs the tests of calendar records in ApplyBatch:
// collections and objects committed with the directory records, numbered
// as CreateCalendar and PutCalendarObject number them, every bad line
// named and nothing applied, and a batch too big for one Badger
// transaction.
func RunBatchCalendars(t *testing.T, open func(t *testing.T) storage.Backend) {
	t.Run("Applied", func(t *testing.T) { batchCalendarsApplied(t, open(t)) })
	t.Run("BadLines", func(t *testing.T) { batchCalendarsBad(t, open(t)) })
	t.Run("Big", func(t *testing.T) { batchCalendarsBig(t, open(t)) })
}

// calRec is a calendar_object record of an event as the import gives it.
func calRec(owner, cal, uid string) storage.BatchRecord {
	o := event(0, uid, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), time.Hour)
	return storage.BatchRecord{Kind: storage.BatchCalendarObject, Address: owner, Calendar: cal, Object: o}
}

func batchCalendarsApplied(t *testing.T, st storage.Backend) {
	seed(t, st)
	alice := id(t, st, "alice@example.test")
	def := mustCal(t)(st.EnsureDefaultCalendar(alice))
	for _, uid := range []string{"kept", "gone"} {
		if _, err := st.PutCalendarObject(event(def.ID, uid, time.Now(), time.Hour), storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	fatal(t, st.DeleteCalendarObject(def.ID, "gone.ics", storage.Condition{}))
	def = mustCal(t)(st.Calendar(alice, storage.DefaultCalendar)) // seq 4
	recs := []storage.BatchRecord{
		calRec("nina@new.test", "work", "w2"), // before its calendar and owner
		{Kind: storage.BatchCalendar, Address: "nina@new.test", Calendar: "work", DisplayName: "Work", Color: "#ff0000"},
		{Kind: storage.BatchTenant, Domain: "new.test"},
		{Kind: storage.BatchUser, Address: "nina@new.test", Name: "Nina"},
		{Kind: storage.BatchCalendar, Address: "nina@new.test", Calendar: storage.DefaultCalendar, DisplayName: "Calendar"},
		calRec("nina@new.test", "work", "w1"),
		// alice's default exists: fine, and its objects go into it.
		{Kind: storage.BatchCalendar, Address: "alice@example.test", Calendar: storage.DefaultCalendar, DisplayName: "Other"},
		calRec("alice@example.test", storage.DefaultCalendar, "gone"), // where a tombstone is
		calRec("alice@example.test", storage.DefaultCalendar, "new"),
	}
	res, err := st.ApplyBatch(storage.Batch{Records: recs, By: "cli:tester"})
	fatal(t, err)
	if res[storage.BatchCalendar] != 3 || res[storage.BatchCalendarObject] != 4 || res[storage.BatchUser] != 1 {
		t.Errorf("ApplyBatch = %v", res)
	}
	nina := id(t, st, "nina@new.test")
	cals, err := st.Calendars(nina)
	fatal(t, err)
	if len(cals) != 2 || cals[0].Name != storage.DefaultCalendar || cals[0].Seq != 1 || cals[1].Name != "work" ||
		cals[1].DisplayName != "Work" || cals[1].Color != "#ff0000" || cals[1].Seq != 3 || cals[0].ID == cals[1].ID ||
		cals[0].ID == def.ID || cals[1].ID == def.ID || cals[1].Created.IsZero() {
		t.Errorf("nina's calendars after the batch: %+v", cals)
	}
	objs, err := st.CalendarObjects(cals[1].ID)
	fatal(t, err)
	if len(objs) != 2 {
		t.Fatalf("work has %d objects, want 2", len(objs))
	}
	seqs := []uint64{objs[0].Seq, objs[1].Seq}
	slices.Sort(seqs)
	for _, o := range objs {
		if o.ETag != storage.ETagOf(o.Data) || o.Calendar != cals[1].ID || o.Modified.IsZero() || o.Start.IsZero() {
			t.Errorf("object after the batch: %+v", o)
		}
	}
	if seqs[0] != 2 || seqs[1] != 3 {
		t.Errorf("work's objects have sequences %v, want 2 and 3", seqs)
	}
	if q, err := st.QueryCalendarObjects(cals[1].ID, time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)); err != nil || len(q) != 2 {
		t.Errorf("a time-range query finds %d of the batch's objects (%v), want 2", len(q), err)
	}
	after := mustCal(t)(st.Calendar(alice, storage.DefaultCalendar))
	if after.ID != def.ID || after.Seq != def.Seq+2 || after.DisplayName != def.DisplayName {
		t.Errorf("alice's default after the batch: %+v, before %+v", after, def)
	}
	changes, seq, err := st.CalendarChanges(def.ID, def.Seq-2)
	fatal(t, err)
	var names []string
	for _, c := range changes {
		names = append(names, fmt.Sprintf("%s:%v", c.Name, c.Deleted))
	}
	if seq != after.Seq || strings.Join(names, " ") != "gone.ics:false new.ics:false" {
		t.Errorf("CalendarChanges after the batch = %v, %d; want gone.ics and new.ics added, at %d", names, seq, after.Seq)
	}
	if _, err := st.PutCalendarObject(event(def.ID, "new", time.Now(), time.Hour), storage.Condition{IfNoneMatch: true}); !errors.Is(err, storage.ErrPrecondition) {
		t.Errorf("the batch's object is not there for a conditional PUT: %v", err)
	}
	o, err := st.PutCalendarObject(event(def.ID, "later", time.Now(), time.Hour), storage.Condition{})
	fatal(t, err)
	if o.Seq != after.Seq+1 {
		t.Errorf("a PUT after the batch has sequence %d, want %d", o.Seq, after.Seq+1)
	}
	c := mustCal(t)(st.CreateCalendar(alice, "later", "Later", ""))
	for _, x := range append(cals, def) {
		if x.ID == c.ID {
			t.Errorf("CreateCalendar after the batch reused ID %d", c.ID)
		}
	}
}

func batchCalendarsBad(t *testing.T, st storage.Backend) {
	seed(t, st)
	alice := id(t, st, "alice@example.test")
	mustCal(t)(st.CreateCalendar(alice, "work", "Work", ""))
	recs := []storage.BatchRecord{
		{Kind: storage.BatchUser, Address: "nina@example.test"},
		{Kind: storage.BatchCalendar, Address: "nina@example.test", Calendar: "home"},
		calRec("nina@example.test", "home", "a"),                                          // good
		{Kind: storage.BatchCalendar, Address: "nobody@example.test", Calendar: "x"},      // 4: no owner
		{Kind: storage.BatchCalendar, Address: "alice@example.test", Calendar: "work"},    // 5: exists
		{Kind: storage.BatchCalendar, Address: "sales@example.test", Calendar: "x"},       // 6: a group
		calRec("nina@example.test", "home", "a"),                                          // 7: same name
		calRec("nina@example.test", "nowhere", "b"),                                       // 8: no calendar
		{Kind: storage.BatchCalendar, Address: "nina@example.test", Calendar: "bad/name"}, // 9
		calRec("nina@example.test", "bad/name", "c"),                                      // 10: its calendar is bad
	}
	r := calRec("nina@example.test", "home", "a")
	r.Object.Name = "other.ics" // 11: same UID
	recs = append(recs, r)
	_, err := st.ApplyBatch(storage.Batch{Records: recs})
	var be *storage.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("ApplyBatch with bad calendar lines = %v, want a *BatchError", err)
	}
	var lines []int
	for _, l := range be.Lines {
		lines = append(lines, l.Line)
	}
	if fmt.Sprint(lines) != "[4 5 6 7 8 9 10 11]" {
		t.Errorf("bad lines %v (%v), want 4 to 11", lines, err)
	}
	if _, ok := st.Directory().Lookup("nina@example.test"); ok {
		t.Error("a refused batch added its user")
	}
	if cals, _ := st.Calendars(alice); len(cals) != 1 {
		t.Errorf("alice has %d calendars after a refused batch, want 1", len(cals))
	}
}

// batchCalendarsBig applies 2,000 users with a calendar and an event
// each: more than one Badger transaction holds, so it is staged.
func batchCalendarsBig(t *testing.T, st storage.Backend) {
	const users = 2000
	recs := []storage.BatchRecord{{Kind: storage.BatchTenant, Domain: "big.test"}}
	for i := range users {
		addr := fmt.Sprintf("u%05d@big.test", i)
		recs = append(recs, storage.BatchRecord{Kind: storage.BatchUser, Address: addr, Name: strings.Repeat("n", 100)},
			storage.BatchRecord{Kind: storage.BatchCalendar, Address: addr, Calendar: storage.DefaultCalendar, DisplayName: "Calendar"},
			calRec(addr, storage.DefaultCalendar, fmt.Sprintf("ev%05d-%s", i, strings.Repeat("x", 200))))
	}
	res, err := st.ApplyBatch(storage.Batch{Records: recs, By: "cli:tester"})
	fatal(t, err)
	if res[storage.BatchCalendarObject] != users {
		t.Errorf("ApplyBatch = %v", res)
	}
	for _, i := range []int{0, users / 2, users - 1} {
		p, ok := st.Directory().Lookup(fmt.Sprintf("u%05d@big.test", i))
		if !ok {
			t.Fatalf("user %d missing", i)
		}
		c := mustCal(t)(st.Calendar(p.ID, storage.DefaultCalendar))
		objs, err := st.CalendarObjects(c.ID)
		if err != nil || len(objs) != 1 || c.Seq != 2 || objs[0].Seq != 2 {
			t.Errorf("user %d: calendar %+v, objects %d (%v)", i, c, len(objs), err)
		}
	}
}
