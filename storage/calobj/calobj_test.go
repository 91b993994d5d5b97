package calobj

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage"
)

func TestParse(t *testing.T) {
	head := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
	ev := head + "BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	_, o, err := Parse([]byte(ev))
	if err != nil || o.UID != "u1" || o.Component != "VEVENT" || string(o.Data) != ev ||
		!o.Start.Equal(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) || !o.End.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("Parse(event) = %+v, %v", o, err)
	}
	for _, c := range []struct{ name, data, pre string }{
		{"garbage", "not ical", "valid-calendar-data"},
		{"no UID", strings.Replace(ev, "UID:u1\r\n", "", 1), "valid-calendar-object-resource"},
		{"journal", head + "BEGIN:VJOURNAL\r\nUID:j\r\nDTSTAMP:20261201T080000Z\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n", "supported-calendar-component"},
		{"two UIDs", strings.Replace(ev, "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:u2\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261201T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR", 1), "valid-calendar-object-resource"},
		{"too big", ev + strings.Repeat("x", storage.MaxCalendarObject), "max-resource-size"},
	} {
		_, _, err := Parse([]byte(c.data))
		var ce *Error
		if !errors.As(err, &ce) || ce.Precondition != c.pre {
			t.Errorf("%s: Parse = %v, want precondition %s", c.name, err, c.pre)
		}
	}
}

// TestSpan: the indexed range of a timed event, a recurring one (no
// end), a task with only a due time (a point: one microsecond), a task
// with a start and a duration, and two events (the hull of both).
func TestSpan(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 12, 1, h, 0, 0, 0, time.UTC) }
	wrap := func(comps ...string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + strings.Join(comps, "") + "END:VCALENDAR\r\n"
	}
	event := func(extra string) string {
		return "BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20261201T080000Z\r\n" + extra + "END:VEVENT\r\n"
	}
	todo := func(extra string) string {
		return "BEGIN:VTODO\r\nUID:u\r\nDTSTAMP:20261201T080000Z\r\n" + extra + "END:VTODO\r\n"
	}
	for _, c := range []struct {
		name, data string
		start, end time.Time
	}{
		{"event", wrap(event("DTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n")), at(9), at(10)},
		{"recurring event", wrap(event("DTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nRRULE:FREQ=DAILY\r\n")), at(9), time.Time{}},
		{"task due only", wrap(todo("DUE:20261201T170000Z\r\n")), at(17), at(17).Add(time.Microsecond)},
		{"task with a duration", wrap(todo("DTSTART:20261201T090000Z\r\nDURATION:PT2H\r\n")), at(9), at(11)},
		{"two events", wrap(event("DTSTART:20261201T120000Z\r\nDTEND:20261201T130000Z\r\n"),
			"BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20261201T080000Z\r\nRECURRENCE-ID:20261202T120000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nEND:VEVENT\r\n"), at(9), at(13)},
	} {
		_, o, err := Parse([]byte(c.data))
		if err != nil {
			t.Errorf("%s: Parse: %v", c.name, err)
			continue
		}
		if !o.Start.Equal(c.start) || !o.End.Equal(c.end) {
			t.Errorf("%s: span [%v, %v), want [%v, %v)", c.name, o.Start, o.End, c.start, c.end)
		}
	}
}
