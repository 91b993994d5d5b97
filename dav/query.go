package dav

import (
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/storage"
)

// span is the time range an object occupies, as the store keeps it for
// calendar-query (RFC 4791 §9.9): zero ends are unbounded. A recurring
// object (RRULE or RDATE) is unbounded after its first start, and is
// matched occurrence by occurrence at query time.
type span struct{ start, end time.Time }

// spanOf computes the span of an object's components of type comp.
// Times are read in UTC (floating times too); what cannot be read makes
// the span unbounded, so a query finds the object rather than missing it.
func spanOf(cal *ical.Calendar, comp string) span {
	var sp span
	first := true
	for _, c := range cal.Children {
		if c.Name != comp {
			continue
		}
		s, e, ok := compSpan(c)
		if !ok {
			return span{}
		}
		if c.Props.Get(ical.PropRecurrenceRule) != nil || c.Props.Get(ical.PropRecurrenceDates) != nil {
			e = time.Time{}
		}
		if first || s.IsZero() || !sp.start.IsZero() && s.Before(sp.start) {
			sp.start = s
		}
		if first || e.IsZero() || !sp.end.IsZero() && e.After(sp.end) {
			sp.end = e
		}
		first = false
	}
	return sp
}

// compSpan is one component's range: a VEVENT's DTSTART to its DTEND
// (or DTSTART+DURATION, or a day for a date), a VTODO's DTSTART or DUE
// to DUE or DTSTART+DURATION. A point in time ends a microsecond later,
// so that it overlaps a range that holds it (RFC 4791 §9.9: start <=
// DTSTART < end).
func compSpan(c *ical.Component) (start, end time.Time, ok bool) {
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

// queryRange is the time range a calendar-query asks of its component
// (VCALENDAR > VEVENT or VTODO time-range), and that component's name
// ("" for any).
func queryRange(f caldav.CompFilter) (comp string, start, end time.Time) {
	if len(f.Comps) != 1 {
		return "", time.Time{}, time.Time{}
	}
	c := f.Comps[0]
	return c.Name, c.Start, c.End
}

// query answers a calendar-query on t's calendar.
func (s *Server) query(rq *request, t target, q *caldav.CalendarQuery) ([]caldav.CalendarObject, error) {
	comp, start, end := queryRange(q.CompFilter)
	objs, err := s.st.QueryCalendarObjects(t.cal.ID, start, end)
	if err != nil {
		return nil, s.webdavError(rq, err)
	}
	// What else the filter asks (properties, text) is go-webdav's Match,
	// without the time range, which it gets wrong at the edges and for
	// tasks; a recurring object's occurrences are checked here.
	rest := q.CompFilter
	if len(rest.Comps) == 1 {
		rest.Comps = []caldav.CompFilter{rest.Comps[0]}
		rest.Comps[0].Start, rest.Comps[0].End = time.Time{}, time.Time{}
	}
	var out []caldav.CalendarObject
	for _, o := range objs {
		if comp != "" && o.Component != comp {
			continue
		}
		co, err := s.toObject(rq, t, o)
		if err != nil {
			return nil, err
		}
		if !start.IsZero() && !occursIn(co.Data, o.Component, start, end) {
			continue
		}
		ok, err := caldav.Match(rest, &co)
		if err != nil || !ok {
			continue // a filter it cannot apply to this object does not match it
		}
		out = append(out, co)
	}
	return out, nil
}

// occursIn reports whether an object overlaps [start, end): its stored
// span said so already unless it recurs, so only recurring ones are
// checked, each occurrence lasting as long as the first.
func occursIn(cal *ical.Calendar, comp string, start, end time.Time) bool {
	for _, c := range cal.Children {
		if c.Name != comp {
			continue
		}
		s, e, ok := compSpan(c)
		if !ok {
			return true
		}
		rs, err := c.RecurrenceSet(time.UTC)
		if err != nil {
			return true
		}
		if rs == nil { // RDATE only, or an overridden occurrence
			if (end.IsZero() || s.Before(end)) && e.After(start) || c.Props.Get(ical.PropRecurrenceDates) != nil {
				return true
			}
			continue
		}
		from := start.Add(-e.Sub(s))
		next := rs.After(from, false)
		if !next.IsZero() && (end.IsZero() || next.Before(end)) {
			return true
		}
	}
	return false
}

// objectSpan gives a stored object its range.
func objectSpan(o *storage.CalendarObject, cal *ical.Calendar) {
	sp := spanOf(cal, o.Component)
	o.Start, o.End = sp.start, sp.end
}
