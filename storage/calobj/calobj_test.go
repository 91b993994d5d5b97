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
