package storage

import (
	"errors"
	"strconv"

	"github.com/mailgate/mailgate/delegation"
)

// The calendar kinds of a batch: collections and their objects, written
// with the directory records in the same commit (an export writes them
// after the directory, so an import reads its owners first).
const (
	BatchCalendar       = "calendar"
	BatchCalendarObject = "calendar_object"
)

// BatchCalendars is how PlanBatch sees the calendars a store has
// already (Batch.Calendars); both stores give their own, read under the
// lock that keeps calendar writes out while the batch is applied.
type BatchCalendars interface {
	Calendar(owner delegation.ID, name string) (Calendar, error)
	CalendarObjects(calendar uint64) ([]CalendarObject, error)
	CalendarChanges(calendar uint64, since uint64) ([]CalendarChange, uint64, error)
}

// CalendarPlan is one calendar a batch creates or adds objects to.
// Calendar.ID is 0 for a new one (the store gives it one); Calendar.Seq
// is its sequence after the batch: a new calendar's creation is 1 and
// each object takes the next, as CreateCalendar and PutCalendarObject
// number them. Objects have their ETag, Seq and Modified (Calendar is
// the store's to set).
type CalendarPlan struct {
	Calendar Calendar
	New      bool
	// Gone are the sequences of tombstones of an existing calendar that
	// objects of the batch replace (name → seq), for the store to drop.
	Gone    map[string]uint64
	Objects []CalendarObject
}

// calPlan is a calendar as the planner builds it.
type calPlan struct {
	line  int // the calendar line (0: the store has it, no line)
	owner *Record
	cal   Calendar
	isNew bool
	names map[string]int // object name → line (0: in the store)
	uids  map[string]int // UID → line (0: in the store)
	gone  map[string]uint64
	objs  []CalendarObject
}

// calendarOwner resolves a calendar line's owner: a user or shared
// mailbox of the directory or the batch.
func (pl *planner) calendarOwner(r *BatchRecord) (*Record, error) {
	rec, err := pl.record(r.Address)
	if err != nil {
		return nil, err
	}
	if rec.Kind != delegation.KindUser && rec.Kind != delegation.KindShared {
		return nil, errorf(ErrInvalid, "%s is a %s: only users and shared mailboxes have calendars", rec.Address, kindName(rec.Kind))
	}
	return rec, nil
}

func calPlanKey(rec *Record, name string) string { return rec.Address + "\x00" + name }

// existing gives the store's calendar name of rec (nil when it has
// none, or rec is new), with its objects indexed.
func (pl *planner) existingCalendar(rec *Record, name string) (*calPlan, error) {
	if pl.b.Calendars == nil {
		return nil, nil
	}
	if _, old := pl.d.Principal(rec.ID); !old {
		return nil, nil
	}
	c, err := pl.b.Calendars.Calendar(rec.ID, name)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	objs, err := pl.b.Calendars.CalendarObjects(c.ID)
	if err != nil {
		return nil, err
	}
	cp := &calPlan{owner: rec, cal: c, names: map[string]int{}, uids: map[string]int{}}
	for _, o := range objs {
		cp.names[o.Name], cp.uids[o.UID] = 0, 0
	}
	changes, _, err := pl.b.Calendars.CalendarChanges(c.ID, 0)
	if err != nil {
		return nil, err
	}
	for _, ch := range changes {
		if ch.Deleted {
			if cp.gone == nil {
				cp.gone = map[string]uint64{}
			}
			cp.gone[ch.Name] = ch.Seq
		}
	}
	return cp, nil
}

func (pl *planner) calendar(r *BatchRecord) {
	if !pl.calendarLine(r) {
		pl.badCalendarLine(r)
	}
}

// calendarLine plans a calendar line, or says it is bad.
func (pl *planner) calendarLine(r *BatchRecord) bool {
	rec, err := pl.calendarOwner(r)
	if err == nil {
		err = CheckCalendarName(r.Calendar)
	}
	if err == nil {
		err = CheckCalendarDisplay(r.DisplayName, r.Color)
	}
	if err != nil {
		pl.bad(r, err)
		return false
	}
	k := calPlanKey(rec, r.Calendar)
	if cp := pl.cals[k]; cp != nil {
		pl.bad(r, errorf(ErrExists, "calendar %s of %s is also on line %d", r.Calendar, rec.Address, cp.line))
		return false
	}
	cp, err := pl.existingCalendar(rec, r.Calendar)
	switch {
	case err != nil:
		pl.bad(r, err)
		return false
	case cp != nil && r.Calendar != DefaultCalendar:
		pl.bad(r, errorf(ErrExists, "%s has a calendar %s already", rec.Address, r.Calendar))
		return false
	case cp == nil: // new
		cp = &calPlan{owner: rec, isNew: true, names: map[string]int{}, uids: map[string]int{},
			cal: Calendar{Name: r.Calendar, DisplayName: r.DisplayName, Color: r.Color, Seq: 1, Created: CalendarTime(pl.now)}}
	}
	// An existing default calendar keeps its display name and color, as
	// EnsureDefaultCalendar leaves them.
	cp.line = r.Line
	pl.cals[k] = cp
	pl.calOrder = append(pl.calOrder, k)
	return true
}

func (pl *planner) calendarObject(r *BatchRecord) {
	rec, err := pl.calendarOwner(r)
	if err != nil {
		pl.bad(r, err)
		return
	}
	k := calPlanKey(rec, r.Calendar)
	cp := pl.cals[k]
	if cp == nil {
		if l := pl.badCal[k]; l != 0 {
			pl.bad(r, errorf(ErrInvalid, "calendar %s of %s is on line %d, which is bad", r.Calendar, rec.Address, l))
			return
		}
		if cp, err = pl.existingCalendar(rec, r.Calendar); err != nil {
			pl.bad(r, err)
			return
		}
		if cp == nil {
			pl.bad(r, errorf(ErrNotFound, "%s has no calendar %s: add it (a calendar line)", rec.Address, r.Calendar))
			return
		}
		pl.cals[k] = cp
		pl.calOrder = append(pl.calOrder, k)
	}
	o := r.Object
	o.Calendar = 0
	if o, err = PrepareCalendarObject(o); err != nil {
		pl.bad(r, err)
		return
	}
	if l, ok := cp.names[o.Name]; ok {
		pl.bad(r, errorf(ErrExists, "calendar %s of %s has an object %s already%s", r.Calendar, rec.Address, o.Name, onLine(l)))
		return
	}
	if l, ok := cp.uids[o.UID]; ok {
		pl.bad(r, errorf(ErrExists, "calendar %s of %s has an object with UID %q already%s", r.Calendar, rec.Address, o.UID, onLine(l)))
		return
	}
	cp.names[o.Name], cp.uids[o.UID] = r.Line, r.Line
	o.Modified = CalendarTime(pl.now)
	cp.objs = append(cp.objs, o)
}

func onLine(l int) string {
	if l == 0 {
		return ""
	}
	return " on line " + strconv.Itoa(l)
}

// finishCalendars numbers the planned calendars' objects and gives the
// new ones their owners' final IDs.
func (pl *planner) finishCalendars(id func(delegation.ID) delegation.ID) {
	for _, k := range pl.calOrder {
		cp := pl.cals[k]
		if !cp.isNew && len(cp.objs) == 0 {
			continue // an existing default calendar, nothing added
		}
		c := cp.cal
		c.Owner = id(cp.owner.ID)
		objs := make([]CalendarObject, len(cp.objs))
		for i, o := range cp.objs {
			c.Seq++
			o.Seq = c.Seq
			objs[i] = o
		}
		var gone map[string]uint64
		for _, o := range objs {
			if s, ok := cp.gone[o.Name]; ok {
				if gone == nil {
					gone = map[string]uint64{}
				}
				gone[o.Name] = s
			}
		}
		pl.plan.Calendars = append(pl.plan.Calendars, CalendarPlan{Calendar: c, New: cp.isNew, Gone: gone, Objects: objs})
		if cp.isNew {
			pl.plan.Audit = append(pl.plan.Audit, AdminAudit("calendar_add", cp.owner.Address, c.Owner, "calendar "+c.Name))
		}
	}
}

// badCalendarLine remembers a bad calendar line, so that its objects'
// lines say so rather than "no calendar".
func (pl *planner) badCalendarLine(r *BatchRecord) {
	a, err := delegation.NormalizeAddress(r.Address)
	if err == nil {
		if rec := pl.byAddr[a]; rec != nil {
			a = rec.Address
		} else if p, ok := pl.d.Lookup(a); ok {
			a = p.Address
		}
		pl.badCal[a+"\x00"+r.Calendar] = r.Line
	}
}
