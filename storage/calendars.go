package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailgate/mailgate/delegation"
)

// Calendars is the calendar part of the storage contract (CalDAV, RFC
// 4791): per owner a set of collections, each holding iCalendar objects
// by name, with a change sequence per collection for CTag and
// sync-collection (RFC 6578). Every backend keeps these promises
// (storage/storagetest checks them):
//
//   - A write returns nil only once it is durable.
//   - Each write to a collection (put, delete, display change) takes the
//     collection's next sequence number; Calendar.Seq is the latest, so it
//     grows with every change and never goes back: a CTag and a sync token.
//   - An object's ETag is a hash of its bytes: the same bytes, the same
//     ETag; other bytes, another.
//   - Within a collection a UID names one object (CalDAV no-uid-conflict).
//   - A collection's ID is never reused; deleting it removes its objects
//     and its change log.
//
// Owners are principals' IDs, with no reference: the storage does not
// check that the owner exists (the caller decides who may reach what).
type Calendars interface {
	// EnsureDefaultCalendar creates the owner's DefaultCalendar when it
	// does not exist, and returns it.
	EnsureDefaultCalendar(owner delegation.ID) (Calendar, error)
	// Calendars lists the owner's collections by name.
	Calendars(owner delegation.ID) ([]Calendar, error)
	Calendar(owner delegation.ID, name string) (Calendar, error)
	// CreateCalendar makes a collection (ErrExists for a name in use,
	// ErrInvalid for a bad one: see CheckCalendarName).
	CreateCalendar(owner delegation.ID, name, displayName, color string) (Calendar, error)
	// SetCalendarDisplay changes a collection's display name and color.
	SetCalendarDisplay(owner delegation.ID, name, displayName, color string) (Calendar, error)
	// DeleteCalendar removes a collection with its objects. The default
	// calendar cannot be deleted (ErrInvalid), like INBOX.
	DeleteCalendar(owner delegation.ID, name string) error

	// PutCalendarObject stores o (o.Calendar, o.Name, o.Data and the
	// fields parsed from it) if the object's current state meets cond
	// (ErrPrecondition otherwise), and returns it with its ETag, Seq and
	// Modified set. ErrExists: another object of the collection has the
	// same UID. ErrLimit: Data is over MaxCalendarObject.
	PutCalendarObject(o CalendarObject, cond Condition) (CalendarObject, error)
	CalendarObject(calendar uint64, name string) (CalendarObject, error)
	// DeleteCalendarObject removes an object if it meets cond.
	DeleteCalendarObject(calendar uint64, name string, cond Condition) error
	// CalendarObjects lists a collection's objects by name.
	CalendarObjects(calendar uint64) ([]CalendarObject, error)
	// QueryCalendarObjects lists the objects whose stored time range
	// overlaps [start, end) (RFC 4791 §9.9); a zero start or end is
	// unbounded on that side, and so is an object's zero Start or End.
	QueryCalendarObjects(calendar uint64, start, end time.Time) ([]CalendarObject, error)
	// CalendarChanges lists the objects changed or deleted after sequence
	// since, each once with its latest state, by sequence, and the
	// collection's current sequence (the next sync token).
	CalendarChanges(calendar uint64, since uint64) (changes []CalendarChange, seq uint64, err error)
}

// DefaultCalendar is the name of the collection every mailbox has.
const DefaultCalendar = "default"

// MaxCalendarObject is the largest iCalendar object stored, in bytes
// (CalDAV max-resource-size).
const MaxCalendarObject = 512 << 10

// ErrPrecondition means a conditional write found the object in another
// state than the caller expected (HTTP 412: If-Match, If-None-Match).
var ErrPrecondition = errors.New("precondition failed")

// Calendar is one calendar collection.
type Calendar struct {
	ID          uint64        `json:"id"` // never reused
	Owner       delegation.ID `json:"owner"`
	Name        string        `json:"name"` // the URL path segment
	DisplayName string        `json:"display_name"`
	Color       string        `json:"color,omitempty"`
	// Seq is the sequence number of the collection's latest change (its
	// creation is 1): the CTag and the sync token.
	Seq     uint64    `json:"seq"`
	Created time.Time `json:"created"`
}

// CalendarObject is one iCalendar object resource of a collection.
type CalendarObject struct {
	Calendar  uint64    `json:"calendar"`
	Name      string    `json:"name"` // the URL path segment, such as "<uid>.ics"
	ETag      string    `json:"etag"` // ETagOf(Data), set by the store
	Data      []byte    `json:"data"` // the iCalendar bytes
	Component string    `json:"component"`
	UID       string    `json:"uid"`
	Start     time.Time `json:"start"` // zero: unbounded
	End       time.Time `json:"end"`   // zero: unbounded
	Seq       uint64    `json:"seq"`   // the change that wrote it, set by the store
	Modified  time.Time `json:"modified"`
}

// CalendarChange is an object changed (or deleted) after a sync token.
type CalendarChange struct {
	Name    string
	Deleted bool
	Seq     uint64
}

// Condition is what a conditional write expects of an object's current
// state (RFC 9110 §13.1.1, §13.1.2): the zero Condition expects nothing.
type Condition struct {
	IfMatch     string // the ETag it must have; "*": it must exist
	IfNoneMatch bool   // it must not exist
}

// Check applies c to an object's current ETag ("" for none).
func (c Condition) Check(current string) error {
	switch {
	case c.IfNoneMatch && current != "":
		return errorf(ErrPrecondition, "the object exists")
	case c.IfMatch == "*" && current == "":
		return errorf(ErrPrecondition, "the object does not exist")
	case c.IfMatch != "" && c.IfMatch != "*" && c.IfMatch != current:
		return errorf(ErrPrecondition, "the object has another ETag")
	}
	return nil
}

// ETagOf is the ETag of an object's bytes.
func ETagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// CheckCalendarName refuses a collection name that is not a plain URL
// path segment: 1 to 64 letters, digits, '.', '-', '_' or '@', not
// starting with a dot.
func CheckCalendarName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return errorf(ErrInvalid, "invalid calendar name %q", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@", r)) {
			return errorf(ErrInvalid, "invalid calendar name %q", name)
		}
	}
	return nil
}

// CheckCalendarObjectName refuses an object name that is not one URL
// path segment of valid UTF-8 (1 to 255 bytes, no '/', no control
// characters, not "." or "..").
func CheckCalendarObjectName(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r < 0x20 || r == 0x7f }) {
		return errorf(ErrInvalid, "invalid calendar object name %q", name)
	}
	return nil
}

// PrepareCalendarObject checks what a caller gives PutCalendarObject and
// gives it the ETag of its bytes and its times in UTC to the microsecond
// (what every backend keeps).
func PrepareCalendarObject(o CalendarObject) (CalendarObject, error) {
	if err := CheckCalendarObjectName(o.Name); err != nil {
		return o, err
	}
	if len(o.Data) > MaxCalendarObject {
		return o, errorf(ErrLimit, "calendar object of %d bytes is over the limit of %d", len(o.Data), MaxCalendarObject)
	}
	if len(o.Data) == 0 || o.UID == "" || o.Component == "" || len(o.UID) > 255 || len(o.Component) > 32 {
		return o, errorf(ErrInvalid, "calendar object %q lacks data, UID or component", o.Name)
	}
	o.ETag = ETagOf(o.Data)
	o.Start, o.End = CalendarTime(o.Start), CalendarTime(o.End)
	return o, nil
}

// CalendarTime is t as calendars keep it: UTC, to the microsecond, the
// zero time (unbounded) as it is.
func CalendarTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Overlaps reports whether an object's stored range overlaps [start,
// end), zero times being unbounded (QueryCalendarObjects).
func (o CalendarObject) Overlaps(start, end time.Time) bool {
	return (end.IsZero() || o.Start.IsZero() || o.Start.Before(end)) &&
		(start.IsZero() || o.End.IsZero() || o.End.After(start))
}

// CheckCalendarDisplay bounds a display name and color.
func CheckCalendarDisplay(displayName, color string) error {
	if len(displayName) > 256 || len(color) > 32 || !utf8.ValidString(displayName) || !utf8.ValidString(color) {
		return errorf(ErrInvalid, "invalid calendar display name or color")
	}
	return nil
}
