package storage

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// calSeqKeys counts a calendar's change index keys.
func calSeqKeys(t *testing.T, st *Store, id uint64) int { return calIndexKeys(t, st, prefCalSeq, id) }

func calIndexKeys(t *testing.T, st *Store, prefix []byte, id uint64) int {
	t.Helper()
	n := 0
	if err := st.view(func(txn *badger.Txn) error {
		return scanKeys(txn, calSub(prefix, id, ""), func([]byte) { n++ })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// toSchema3 makes st's database what schema 3 left: no calendar indexes.
func toSchema3(t *testing.T, st *Store) {
	t.Helper()
	if err := st.update(func(txn *badger.Txn) error {
		var keys [][]byte
		for _, p := range [][]byte{prefCalSeq, prefCalSpan} {
			if err := scanKeys(txn, p, func(k []byte) { keys = append(keys, append([]byte(nil), k...)) }); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(keySchema, []byte("3"))
	}); err != nil {
		t.Fatal(err)
	}
}

// acrossSchema3 runs check on *st (the store check's closures use), then
// takes the database in dir back to schema 3, reopens it into *st (Open
// builds the indexes again) and runs check again; last it deletes p1's
// calendar "work", id, and wants none of its keys under prefix left.
func acrossSchema3(t *testing.T, dir string, st **Store, prefix []byte, id uint64, what string, check func(when string)) {
	t.Helper()
	check("written")
	toSchema3(t, *st)
	(*st).Close()
	*st = openAt(t, dir)
	defer (*st).Close()
	check("migrated from schema 3")
	if err := (*st).DeleteCalendar("p1", "work"); err != nil {
		t.Fatal(err)
	}
	if n := calIndexKeys(t, *st, prefix, id); n != 0 {
		t.Errorf("%d %s after the calendar's deletion", n, what)
	}
}

// TestCalendarChangeIndex: the change index holds one key per name, at
// its latest write, through rewrites, deletions and a re-creation after a
// tombstone; a schema 3 database gets it built by Open (the same changes
// as before); deleting the calendar removes it.
func TestCalendarChangeIndex(t *testing.T) {
	dir := t.TempDir()
	st := openAt(t, dir)
	cal := must[Calendar](t)(st.CreateCalendar("p1", "work", "", ""))
	put := func(name string) {
		t.Helper()
		must[CalendarObject](t)(st.PutCalendarObject(CalendarObject{Calendar: cal.ID, Name: name + ".ics", UID: name,
			Component: "VEVENT", Data: []byte("x " + fmt.Sprint(st.now().UnixNano()))}, Condition{}))
	}
	del := func(name string) {
		t.Helper()
		if err := st.DeleteCalendarObject(cal.ID, name+".ics", Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	put("a") // 2
	put("b") // 3
	put("c") // 4
	put("a") // 5
	del("b") // 6
	put("d") // 7
	put("b") // 8: b again, its tombstone gone
	del("c") // 9
	changes := func(since uint64) []CalendarChange {
		t.Helper()
		ch, seq, err := st.CalendarChanges(cal.ID, since)
		if err != nil || seq != 9 {
			t.Fatalf("CalendarChanges(%d): seq %d, %v", since, seq, err)
		}
		return ch
	}
	want0 := []CalendarChange{{Name: "a.ics", Seq: 5}, {Name: "d.ics", Seq: 7}, {Name: "b.ics", Seq: 8}, {Name: "c.ics", Deleted: true, Seq: 9}}
	want6 := want0[1:]
	check := func(when string) {
		t.Helper()
		if got := changes(0); !reflect.DeepEqual(got, want0) {
			t.Errorf("%s: changes since 0 = %+v, want %+v", when, got, want0)
		}
		if got := changes(6); !reflect.DeepEqual(got, want6) {
			t.Errorf("%s: changes since 6 = %+v, want %+v", when, got, want6)
		}
		if got := changes(9); len(got) != 0 {
			t.Errorf("%s: changes since 9 = %+v, want none", when, got)
		}
		if n := calSeqKeys(t, st, cal.ID); n != 4 {
			t.Errorf("%s: %d index keys, want 4 (one per name)", when, n)
		}
	}
	acrossSchema3(t, dir, &st, prefCalSeq, cal.ID, "index keys", check)
}

// TestCalendarSpanIndex: a time-range query reads the objects its span
// index selects, which follows moves and deletions, and which Open builds
// for a schema 3 database.
func TestCalendarSpanIndex(t *testing.T) {
	dir := t.TempDir()
	st := openAt(t, dir)
	cal := must[Calendar](t)(st.CreateCalendar("p1", "work", "", ""))
	day := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	put := func(name string, start, end time.Time) {
		t.Helper()
		must[CalendarObject](t)(st.PutCalendarObject(CalendarObject{Calendar: cal.ID, Name: name, UID: name,
			Component: "VEVENT", Data: []byte(name + start.String()), Start: start, End: end}, Condition{}))
	}
	put("early.ics", day.Add(8*time.Hour), day.Add(9*time.Hour))
	put("late.ics", day.Add(20*time.Hour), day.Add(21*time.Hour))
	put("moved.ics", day.Add(8*time.Hour), day.Add(9*time.Hour))
	put("moved.ics", day.AddDate(0, 0, 1), day.AddDate(0, 0, 1).Add(time.Hour)) // the next day now
	put("gone.ics", day.Add(8*time.Hour), day.Add(9*time.Hour))
	if err := st.DeleteCalendarObject(cal.ID, "gone.ics", Condition{}); err != nil {
		t.Fatal(err)
	}
	put("open.ics", day.Add(-time.Hour), time.Time{}) // recurring: no end
	check := func(when string) {
		t.Helper()
		for _, q := range []struct {
			start, end time.Time
			want       string
		}{
			{day, day.Add(12 * time.Hour), "early.ics open.ics"},
			{day.Add(12 * time.Hour), day.AddDate(0, 0, 1), "late.ics open.ics"},
			{day.AddDate(0, 0, 1), time.Time{}, "moved.ics open.ics"},
			{time.Time{}, day.Add(-time.Hour), ""},
			{time.Time{}, time.Time{}, "early.ics late.ics moved.ics open.ics"},
		} {
			objs, err := st.QueryCalendarObjects(cal.ID, q.start, q.end)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.Name)
			}
			if got := strings.Join(names, " "); got != q.want {
				t.Errorf("%s: query [%v, %v) = %q, want %q", when, q.start, q.end, got, q.want)
			}
		}
		if n := calIndexKeys(t, st, prefCalSpan, cal.ID); n != 4 {
			t.Errorf("%s: %d span keys, want 4 (one per object)", when, n)
		}
	}
	acrossSchema3(t, dir, &st, prefCalSpan, cal.ID, "span keys", check)
}
