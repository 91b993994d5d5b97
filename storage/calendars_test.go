package storage_test

import (
	"bytes"
	"testing"

	"github.com/mailgate/mailgate/storage"
)

// TestCalendarsBackup: a backup holds the calendars, their objects and
// their counters: restored, they read back the same, and a new
// calendar takes a new ID.
func TestCalendarsBackup(t *testing.T) {
	src := openBadger(t)
	cal, err := src.CreateCalendar("p1", "work", "Work", "#123456")
	if err != nil {
		t.Fatal(err)
	}
	o, err := src.PutCalendarObject(storage.CalendarObject{Calendar: cal.ID, Name: "a.ics", UID: "a", Component: "VEVENT",
		Data: []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")}, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst := openBadger(t)
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := dst.Calendar("p1", "work")
	if err != nil || got.ID != cal.ID || got.Seq != o.Seq || got.DisplayName != "Work" {
		t.Errorf("restored calendar = %+v, %v; want %+v at seq %d", got, err, cal, o.Seq)
	}
	if ro, err := dst.CalendarObject(cal.ID, "a.ics"); err != nil || ro.ETag != o.ETag || string(ro.Data) != string(o.Data) {
		t.Errorf("restored object = %+v, %v", ro, err)
	}
	next, err := dst.CreateCalendar("p1", "home", "", "")
	if err != nil || next.ID <= cal.ID {
		t.Errorf("calendar made after restore = %+v, %v", next, err)
	}
}
