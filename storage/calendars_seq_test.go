package storage

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// calSeqKeys counts a calendar's change index keys.
func calSeqKeys(t *testing.T, st *Store, id uint64) int {
	t.Helper()
	n := 0
	if err := st.view(func(txn *badger.Txn) error {
		return scanKeys(txn, calSub(prefCalSeq, id, ""), func([]byte) { n++ })
	}); err != nil {
		t.Fatal(err)
	}
	return n
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
	check("written")

	// As schema 3 left it: no index.
	if err := st.update(func(txn *badger.Txn) error {
		var keys [][]byte
		if err := scanKeys(txn, prefCalSeq, func(k []byte) { keys = append(keys, append([]byte(nil), k...)) }); err != nil {
			return err
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
	st.Close()
	st = openAt(t, dir)
	defer st.Close()
	check("migrated from schema 3")

	if err := st.DeleteCalendar("p1", "work"); err != nil {
		t.Fatal(err)
	}
	if n := calSeqKeys(t, st, cal.ID); n != 0 {
		t.Errorf("%d index keys after the calendar's deletion", n)
	}
}
