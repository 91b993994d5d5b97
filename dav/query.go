package dav

import (
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/storage/calobj"
)

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
		s, e, ok := calobj.CompSpan(c)
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
