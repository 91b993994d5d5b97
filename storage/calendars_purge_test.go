package storage

import (
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// calKeys counts the keys a calendar's objects, UIDs and tombstones use.
func calKeys(t *testing.T, st *Store, id uint64) int {
	t.Helper()
	n := 0
	if err := st.view(func(txn *badger.Txn) error {
		for _, p := range [][]byte{prefCalObj, prefCalUID, prefCalGone} {
			if err := scanKeys(txn, calSub(p, id, ""), func([]byte) { n++ }); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeleteLargeCalendar: a calendar of more objects than one commit
// may delete goes at once, and its keys in batches after; a purge that a
// crash interrupted is finished by Open.
func TestDeleteLargeCalendar(t *testing.T) {
	dir := t.TempDir()
	st := openAt(t, dir)
	cal := must[Calendar](t)(st.CreateCalendar("p1", "big", "", ""))
	n := 3*calPurgeBatch/2 + 7
	if err := st.update(func(txn *badger.Txn) error { // faster than n puts; the same keys
		for i := range n {
			name := fmt.Sprintf("e%d.ics", i)
			o := CalendarObject{Calendar: cal.ID, Name: name, UID: name, Component: "VEVENT", Data: []byte("x"), Seq: 2}
			if err := setJSON(txn, calSub(prefCalObj, cal.ID, name), o); err != nil {
				return err
			}
			if err := txn.Set(calSub(prefCalUID, cal.ID, name), []byte(name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCalendarObject(cal.ID, "e0.ics", Condition{}); err != nil { // a tombstone too
		t.Fatal(err)
	}
	if got := calKeys(t, st, cal.ID); got != 2*n-1 {
		t.Fatalf("keys before delete = %d, want %d", got, 2*n-1)
	}
	if err := st.DeleteCalendar("p1", "big"); err != nil {
		t.Fatal(err)
	}
	if got := calKeys(t, st, cal.ID); got != 0 {
		t.Errorf("keys after delete = %d", got)
	}
	if _, err := st.Calendar("p1", "big"); err == nil {
		t.Error("calendar still there")
	}

	// A crash after the delete's commit: the marker and the keys remain.
	cal2 := must[Calendar](t)(st.CreateCalendar("p1", "other", "", ""))
	must[CalendarObject](t)(st.PutCalendarObject(CalendarObject{Calendar: cal2.ID, Name: "a.ics", UID: "a", Component: "VEVENT", Data: []byte("x")}, Condition{}))
	if err := st.update(func(txn *badger.Txn) error {
		if err := txn.Delete(calKey("p1", "other")); err != nil {
			return err
		}
		if err := txn.Delete(calIDKey(cal2.ID)); err != nil {
			return err
		}
		return txn.Set(calPurgeKey(cal2.ID), nil)
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openAt(t, dir)
	defer st.Close()
	if got := calKeys(t, st, cal2.ID); got != 0 {
		t.Errorf("keys after reopen = %d, want the purge finished", got)
	}
	if err := st.view(func(txn *badger.Txn) error {
		_, err := txn.Get(calPurgeKey(cal2.ID))
		if err != badger.ErrKeyNotFound {
			return fmt.Errorf("purge marker: %v", err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// must returns a function that gives a call's value, failing t on its error.
func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
