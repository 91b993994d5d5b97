// Package calobj is the pure part of calendar objects that more than one
// caller needs: checking that bytes are one storable iCalendar object
// (a PUT in package dav, a calendar_object line of `mailgate import` in
// package admin) and the time range the store indexes it by. It sits
// under storage so that admin can use it without importing dav; it does
// no I/O.
package calobj

import (
	"bytes"
	"fmt"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/storage"
)

// Error is why bytes are not a storable object, with the CalDAV
// precondition (RFC 4791 §5.3.2.1) a PUT of them fails.
type Error struct {
	Precondition string // e.g. "valid-calendar-data"
	Msg          string
}

func (e *Error) Error() string { return e.Msg }

func fail(pre, format string, a ...any) *Error {
	return &Error{Precondition: pre, Msg: fmt.Sprintf(format, a...)}
}

// Parse checks data as one calendar object resource: at most
// storage.MaxCalendarObject bytes of valid iCalendar, of one component
// kind, VEVENT or VTODO, with one UID. It returns the parsed calendar
// and the object's Data, Component, UID, Start and End (Calendar and
// Name are the caller's).
func Parse(data []byte) (*ical.Calendar, storage.CalendarObject, error) {
	var o storage.CalendarObject
	if len(data) > storage.MaxCalendarObject {
		return nil, o, fail("max-resource-size", "the object is over %d bytes", storage.MaxCalendarObject)
	}
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, o, fail("valid-calendar-data", "not valid iCalendar: %v", err)
	}
	comp, uid, err := caldav.ValidateCalendarObject(cal)
	if err != nil {
		return nil, o, fail("valid-calendar-object-resource", "%v", err)
	}
	if uid == "" {
		return nil, o, fail("valid-calendar-object-resource", "the object has no UID")
	}
	if comp != ical.CompEvent && comp != ical.CompToDo {
		return nil, o, fail("supported-calendar-component", "only VEVENT and VTODO are stored, not %q", comp)
	}
	o.Data, o.Component, o.UID = data, comp, uid
	o.Start, o.End = Span(cal, comp)
	return cal, o, nil
}

// Span is the time range an object occupies, as the store keeps it for
// calendar-query (RFC 4791 §9.9): zero ends are unbounded. A recurring
// object (RRULE or RDATE) is unbounded after its first start, and is
// matched occurrence by occurrence at query time. Times are read in UTC
// (floating times too); what cannot be read makes the span unbounded,
// so a query finds the object rather than missing it.
func Span(cal *ical.Calendar, comp string) (start, end time.Time) {
	first := true
	for _, c := range cal.Children {
		if c.Name != comp {
			continue
		}
		s, e, ok := CompSpan(c)
		if !ok {
			return time.Time{}, time.Time{}
		}
		if c.Props.Get(ical.PropRecurrenceRule) != nil || c.Props.Get(ical.PropRecurrenceDates) != nil {
			e = time.Time{}
		}
		if first || s.IsZero() || !start.IsZero() && s.Before(start) {
			start = s
		}
		if first || e.IsZero() || !end.IsZero() && e.After(end) {
			end = e
		}
		first = false
	}
	return start, end
}

// CompSpan is one component's range: a VEVENT's DTSTART to its DTEND
// (or DTSTART+DURATION, or a day for a date), a VTODO's DTSTART or DUE
// to DUE or DTSTART+DURATION. A point in time ends a microsecond later,
// so that it overlaps a range that holds it (RFC 4791 §9.9: start <=
// DTSTART < end).
func CompSpan(c *ical.Component) (start, end time.Time, ok bool) {
	var err error
	switch c.Name {
	case ical.CompEvent:
		ev := ical.Event{Component: c}
		if start, err = ev.DateTimeStart(time.UTC); err != nil {
			return start, end, false
		}
		if end, err = ev.DateTimeEnd(time.UTC); err != nil {
			return start, end, false
		}
	case ical.CompToDo:
		if p := c.Props.Get(ical.PropDateTimeStart); p != nil {
			if start, err = p.DateTime(time.UTC); err != nil {
				return start, end, false
			}
		}
		if p := c.Props.Get(ical.PropDue); p != nil {
			if end, err = p.DateTime(time.UTC); err != nil {
				return start, end, false
			}
		} else if p := c.Props.Get(ical.PropDuration); p != nil && !start.IsZero() {
			d, err := p.Duration()
			if err != nil {
				return start, end, false
			}
			end = start.Add(d)
		}
		if start.IsZero() {
			start = end // a task with a due date only
		}
		if end.IsZero() {
			end = start
		}
	}
	if !start.IsZero() && !end.After(start) {
		end = start.Add(time.Microsecond)
	}
	return start, end, true
}
