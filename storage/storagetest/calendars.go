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

// RunCalendars runs the calendar tests (storage.Calendars) on stores from
// open, each subtest with a store of its own.
func RunCalendars(t *testing.T, open func(t *testing.T) storage.Backend) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, storage.Backend)
	}{
		{"Collections", calendarCollections},
		{"Objects", calendarObjects},
		{"Conditions", calendarConditions},
		{"Query", calendarQuery},
		{"Changes", calendarChanges},
		{"ConcurrentPuts", calendarConcurrentPuts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// mustCal(t)(c, err) is c, or fails the test with err.
func mustCal(t *testing.T) func(storage.Calendar, error) storage.Calendar {
	return func(c storage.Calendar, err error) storage.Calendar {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// event is a calendar object as the CalDAV layer would give it.
func event(cal uint64, uid string, start time.Time, d time.Duration) storage.CalendarObject {
	data := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTART:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		uid, start.UTC().Format("20060102T150405Z"))
	return storage.CalendarObject{Calendar: cal, Name: uid + ".ics", Data: []byte(data), Component: "VEVENT", UID: uid,
		Start: start, End: start.Add(d)}
}

func calendarCollections(t *testing.T, st storage.Backend) {
	const alice, bob = delegation.ID("p-alice"), delegation.ID("p-bob")
	def := mustCal(t)(st.EnsureDefaultCalendar(alice))
	if def.Name != storage.DefaultCalendar || def.Owner != alice || def.Seq != 1 || def.ID == 0 || def.Created.IsZero() {
		t.Errorf("EnsureDefaultCalendar = %+v", def)
	}
	if again := mustCal(t)(st.EnsureDefaultCalendar(alice)); again != def {
		t.Errorf("EnsureDefaultCalendar again = %+v, want %+v", again, def)
	}
	work := mustCal(t)(st.CreateCalendar(alice, "work", "Work", "#ff0000"))
	if work.ID == def.ID || work.DisplayName != "Work" || work.Color != "#ff0000" {
		t.Errorf("CreateCalendar = %+v", work)
	}
	_, err := st.CreateCalendar(alice, "work", "", "")
	wantKind(t, "CreateCalendar of a name in use", err, storage.ErrExists)
	for _, bad := range []string{"", ".hidden", "a/b", "sp ace", string(make([]byte, 65))} {
		_, err := st.CreateCalendar(alice, bad, "", "")
		wantKind(t, fmt.Sprintf("CreateCalendar(%q)", bad), err, storage.ErrInvalid)
	}
	// Another owner has a namespace of its own.
	bobWork := mustCal(t)(st.CreateCalendar(bob, "work", "", ""))
	if bobWork.ID == work.ID {
		t.Errorf("bob's work has alice's ID %d", work.ID)
	}
	cals, err := st.Calendars(alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(cals) != 2 || cals[0] != def || cals[1] != work {
		t.Errorf("Calendars(alice) = %+v, want default and work", cals)
	}
	renamed := mustCal(t)(st.SetCalendarDisplay(alice, "work", "Office", ""))
	if renamed.DisplayName != "Office" || renamed.Color != "" || renamed.Seq <= work.Seq || renamed.ID != work.ID {
		t.Errorf("SetCalendarDisplay = %+v (was %+v)", renamed, work)
	}
	if got := mustCal(t)(st.Calendar(alice, "work")); got != renamed {
		t.Errorf("Calendar after SetCalendarDisplay = %+v, want %+v", got, renamed)
	}
	_, err = st.SetCalendarDisplay(alice, "nope", "", "")
	wantKind(t, "SetCalendarDisplay of a missing calendar", err, storage.ErrNotFound)

	wantKind(t, "DeleteCalendar(default)", st.DeleteCalendar(alice, storage.DefaultCalendar), storage.ErrInvalid)
	if _, err := st.PutCalendarObject(event(work.ID, "w1", time.Now(), time.Hour), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCalendar(alice, "work"); err != nil {
		t.Fatal(err)
	}
	_, err = st.Calendar(alice, "work")
	wantKind(t, "Calendar after delete", err, storage.ErrNotFound)
	wantKind(t, "DeleteCalendar again", st.DeleteCalendar(alice, "work"), storage.ErrNotFound)
	_, err = st.CalendarObjects(work.ID)
	wantKind(t, "CalendarObjects of a deleted calendar", err, storage.ErrNotFound)
	_, err = st.PutCalendarObject(event(work.ID, "w2", time.Now(), time.Hour), storage.Condition{})
	wantKind(t, "PutCalendarObject into a deleted calendar", err, storage.ErrNotFound)
	// A new calendar of the same name is another collection, empty.
	again := mustCal(t)(st.CreateCalendar(alice, "work", "", ""))
	if again.ID == work.ID {
		t.Errorf("a re-created calendar reuses ID %d", work.ID)
	}
	if objs, err := st.CalendarObjects(again.ID); err != nil || len(objs) != 0 {
		t.Errorf("CalendarObjects of a re-created calendar = %v, %v", objs, err)
	}
	if _, err := st.Calendar(bob, "work"); err != nil {
		t.Errorf("bob's work after alice's delete: %v", err)
	}
}

func calendarObjects(t *testing.T, st storage.Backend) {
	cal := mustCal(t)(st.EnsureDefaultCalendar("p-alice"))
	start := time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	o := event(cal.ID, "ev1", start, time.Hour)
	got, err := st.PutCalendarObject(o, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ETag != storage.ETagOf(o.Data) || got.Seq != cal.Seq+1 || got.Modified.IsZero() ||
		!got.Start.Equal(start.Truncate(time.Microsecond)) || !got.End.Equal(start.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("PutCalendarObject = %+v", got)
	}
	read, err := st.CalendarObject(cal.ID, "ev1.ics")
	if err != nil {
		t.Fatal(err)
	}
	if read.ETag != got.ETag || string(read.Data) != string(o.Data) || read.UID != "ev1" || read.Component != "VEVENT" ||
		!read.Start.Equal(got.Start) || !read.End.Equal(got.End) || !read.Modified.Equal(got.Modified) || read.Seq != got.Seq {
		t.Errorf("CalendarObject = %+v, want %+v", read, got)
	}
	if now := mustCal(t)(st.Calendar("p-alice", cal.Name)); now.Seq != got.Seq {
		t.Errorf("calendar Seq = %d after a put of seq %d", now.Seq, got.Seq)
	}
	// Other bytes, another ETag; the same bytes, the same.
	o2 := o
	o2.Data = append([]byte(nil), o.Data...)
	o2.Data = append(o2.Data[:len(o2.Data)-len("END:VCALENDAR\r\n")], "X-EDIT:1\r\nEND:VCALENDAR\r\n"...)
	changed, err := st.PutCalendarObject(o2, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if changed.ETag == got.ETag || changed.Seq <= got.Seq {
		t.Errorf("changed object: ETag %s (was %s), Seq %d (was %d)", changed.ETag, got.ETag, changed.Seq, got.Seq)
	}
	// One UID, one object in the collection.
	dup := event(cal.ID, "ev1", start, time.Hour)
	dup.Name = "other.ics"
	_, err = st.PutCalendarObject(dup, storage.Condition{})
	wantKind(t, "PutCalendarObject of a UID in use", err, storage.ErrExists)
	// The UID moves with a new UID for the name: the old one is free.
	moved := event(cal.ID, "ev1b", start, time.Hour)
	moved.Name = "ev1.ics"
	if _, err := st.PutCalendarObject(moved, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutCalendarObject(dup, storage.Condition{}); err != nil {
		t.Errorf("PutCalendarObject of a UID freed by an edit: %v", err)
	}
	for _, bad := range []storage.CalendarObject{
		{Calendar: cal.ID, Name: "", Data: o.Data, UID: "x", Component: "VEVENT"},
		{Calendar: cal.ID, Name: "a/b.ics", Data: o.Data, UID: "x", Component: "VEVENT"},
		{Calendar: cal.ID, Name: "..", Data: o.Data, UID: "x", Component: "VEVENT"},
		{Calendar: cal.ID, Name: "x.ics", UID: "x", Component: "VEVENT"},
		{Calendar: cal.ID, Name: "x.ics", Data: o.Data, Component: "VEVENT"},
	} {
		_, err := st.PutCalendarObject(bad, storage.Condition{})
		wantKind(t, fmt.Sprintf("PutCalendarObject(name %q, %d bytes, uid %q)", bad.Name, len(bad.Data), bad.UID), err, storage.ErrInvalid)
	}
	big := event(cal.ID, "big", start, time.Hour)
	big.Data = make([]byte, storage.MaxCalendarObject+1)
	_, err = st.PutCalendarObject(big, storage.Condition{})
	wantKind(t, "PutCalendarObject over the limit", err, storage.ErrLimit)

	objs, err := st.CalendarObjects(cal.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.Name)
	}
	if !slices.Equal(names, []string{"ev1.ics", "other.ics"}) {
		t.Errorf("CalendarObjects = %v", names)
	}
	if err := st.DeleteCalendarObject(cal.ID, "ev1.ics", storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	_, err = st.CalendarObject(cal.ID, "ev1.ics")
	wantKind(t, "CalendarObject after delete", err, storage.ErrNotFound)
	wantKind(t, "DeleteCalendarObject again", st.DeleteCalendarObject(cal.ID, "ev1.ics", storage.Condition{}), storage.ErrNotFound)
	_, err = st.CalendarObject(cal.ID+1000, "ev1.ics")
	wantKind(t, "CalendarObject of a missing calendar", err, storage.ErrNotFound)
}

func calendarConditions(t *testing.T, st storage.Backend) {
	cal := mustCal(t)(st.EnsureDefaultCalendar("p-alice"))
	o := event(cal.ID, "c1", time.Now(), time.Hour)
	_, err := st.PutCalendarObject(o, storage.Condition{IfMatch: "*"})
	wantKind(t, "If-Match * on a new object", err, storage.ErrPrecondition)
	_, err = st.PutCalendarObject(o, storage.Condition{IfMatch: storage.ETagOf(o.Data)})
	wantKind(t, "If-Match on a new object", err, storage.ErrPrecondition)
	first, err := st.PutCalendarObject(o, storage.Condition{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.PutCalendarObject(o, storage.Condition{IfNoneMatch: true})
	wantKind(t, "If-None-Match * on an existing object", err, storage.ErrPrecondition)
	_, err = st.PutCalendarObject(o, storage.Condition{IfMatch: "0000"})
	wantKind(t, "If-Match of another ETag", err, storage.ErrPrecondition)
	if _, err := st.PutCalendarObject(o, storage.Condition{IfMatch: first.ETag}); err != nil {
		t.Errorf("If-Match of the current ETag: %v", err)
	}
	if _, err := st.PutCalendarObject(o, storage.Condition{IfMatch: "*"}); err != nil {
		t.Errorf("If-Match * on an existing object: %v", err)
	}
	before := mustCal(t)(st.Calendar("p-alice", cal.Name))
	wantKind(t, "DeleteCalendarObject If-Match of another ETag",
		st.DeleteCalendarObject(cal.ID, o.Name, storage.Condition{IfMatch: "0000"}), storage.ErrPrecondition)
	if after := mustCal(t)(st.Calendar("p-alice", cal.Name)); after.Seq != before.Seq {
		t.Errorf("a refused delete moved Seq from %d to %d", before.Seq, after.Seq)
	}
	if err := st.DeleteCalendarObject(cal.ID, o.Name, storage.Condition{IfMatch: first.ETag}); err != nil {
		t.Errorf("DeleteCalendarObject If-Match of the current ETag: %v", err)
	}
}

func calendarQuery(t *testing.T, st storage.Backend) {
	cal := mustCal(t)(st.EnsureDefaultCalendar("p-alice"))
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	put := func(o storage.CalendarObject) {
		t.Helper()
		if _, err := st.PutCalendarObject(o, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	put(event(cal.ID, "morning", day.Add(9*time.Hour), time.Hour))   // 09-10
	put(event(cal.ID, "noon", day.Add(12*time.Hour), time.Hour))     // 12-13
	put(event(cal.ID, "nextday", day.Add(33*time.Hour), time.Hour))  // next day 09-10
	put(event(cal.ID, "lastyear", day.AddDate(-1, 0, 0), time.Hour)) // a year before
	open := event(cal.ID, "recurring", day.AddDate(-2, 0, 0), 0)     // from two years ago, no end
	open.End = time.Time{}
	put(open)
	task := event(cal.ID, "task", time.Time{}, 0) // a task with no dates
	task.Start, task.End, task.Component = time.Time{}, time.Time{}, "VTODO"
	put(task)
	for _, tc := range []struct {
		start, end time.Time
		want       []string
	}{
		{day, day.Add(24 * time.Hour), []string{"morning", "noon", "recurring", "task"}},
		{day.Add(10 * time.Hour), day.Add(12 * time.Hour), []string{"recurring", "task"}}, // touching ends do not overlap
		{day.Add(9*time.Hour + 30*time.Minute), day.Add(12*time.Hour + time.Minute), []string{"morning", "noon", "recurring", "task"}},
		{day.Add(24 * time.Hour), time.Time{}, []string{"nextday", "recurring", "task"}},
		{time.Time{}, day, []string{"lastyear", "recurring", "task"}},
		{time.Time{}, time.Time{}, []string{"lastyear", "morning", "nextday", "noon", "recurring", "task"}},
	} {
		objs, err := st.QueryCalendarObjects(cal.ID, tc.start, tc.end)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.UID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("QueryCalendarObjects(%v, %v) = %v, want %v", tc.start, tc.end, got, tc.want)
		}
	}
	_, err := st.QueryCalendarObjects(cal.ID+1000, day, day)
	wantKind(t, "QueryCalendarObjects of a missing calendar", err, storage.ErrNotFound)
}

func calendarChanges(t *testing.T, st storage.Backend) {
	cal := mustCal(t)(st.EnsureDefaultCalendar("p-alice"))
	changes, token, err := st.CalendarChanges(cal.ID, 0)
	if err != nil || len(changes) != 0 || token != cal.Seq {
		t.Fatalf("CalendarChanges of a new calendar = %v, %d, %v; want none at %d", changes, token, err, cal.Seq)
	}
	now := time.Now()
	for _, uid := range []string{"a", "b", "c"} {
		if _, err := st.PutCalendarObject(event(cal.ID, uid, now, time.Hour), storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	changes, t1, err := st.CalendarChanges(cal.ID, token)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || t1 != token+3 || changes[0].Name != "a.ics" || changes[2].Name != "c.ics" || changes[2].Seq != t1 {
		t.Errorf("CalendarChanges after 3 puts = %+v, token %d", changes, t1)
	}
	// b changes, a goes: each reported once, with its latest state.
	b := event(cal.ID, "b", now.Add(time.Hour), time.Hour)
	if _, err := st.PutCalendarObject(b, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCalendarObject(cal.ID, "a.ics", storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	changes, t2, err := st.CalendarChanges(cal.ID, t1)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.CalendarChange{{Name: "b.ics", Seq: t1 + 1}, {Name: "a.ics", Deleted: true, Seq: t1 + 2}}
	if !slices.Equal(changes, want) || t2 != t1+2 {
		t.Errorf("CalendarChanges(%d) = %+v, %d; want %+v, %d", t1, changes, t2, want, t1+2)
	}
	// From the start: a is gone (a tombstone), b and c are there.
	changes, _, _ = st.CalendarChanges(cal.ID, 0)
	if len(changes) != 3 || changes[0].Name != "c.ics" || changes[1].Name != "b.ics" || !changes[2].Deleted {
		t.Errorf("CalendarChanges(0) = %+v", changes)
	}
	// a comes back: no longer a tombstone.
	if _, err := st.PutCalendarObject(event(cal.ID, "a", now, time.Hour), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	changes, t3, _ := st.CalendarChanges(cal.ID, t2)
	if !slices.Equal(changes, []storage.CalendarChange{{Name: "a.ics", Seq: t2 + 1}}) || t3 != t2+1 {
		t.Errorf("CalendarChanges after a comes back = %+v, %d", changes, t3)
	}
	if changes, _, _ := st.CalendarChanges(cal.ID, t3); len(changes) != 0 {
		t.Errorf("CalendarChanges at the current token = %+v", changes)
	}
	_, _, err = st.CalendarChanges(cal.ID+1000, 0)
	wantKind(t, "CalendarChanges of a missing calendar", err, storage.ErrNotFound)
}

// calendarConcurrentPuts: writers at once each get a sequence of their
// own, and the calendar ends at the last.
func calendarConcurrentPuts(t *testing.T, st storage.Backend) {
	cal := mustCal(t)(st.EnsureDefaultCalendar("p-alice"))
	const n = 16
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o, err := st.PutCalendarObject(event(cal.ID, fmt.Sprint("u", i), time.Now(), time.Hour), storage.Condition{})
			if err != nil {
				t.Error(err)
			}
			seqs[i] = o.Seq
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != cal.Seq+uint64(i)+1 {
			t.Fatalf("sequences of concurrent puts = %v, want %d.. %d", seqs, cal.Seq+1, cal.Seq+n)
		}
	}
	if now := mustCal(t)(st.Calendar("p-alice", cal.Name)); now.Seq != cal.Seq+n {
		t.Errorf("calendar Seq = %d, want %d", now.Seq, cal.Seq+n)
	}
}
