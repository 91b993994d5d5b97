package dav

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/emersion/go-ical"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Private items stay private (RFC 5545 §3.8.1.3 CLASS): a component the
// owner marks CLASS:PRIVATE reaches a delegate as busy time only, its
// times, recurrence and free/busy transparency kept and everything that
// says what it is (summary, description, location, attendees, alarms,
// attachments...) removed. The delegate sees the ETag of what it is
// shown, and may not change or delete such an object: a write of the
// redacted copy would erase the owner's details. The owner's mailbox
// setting DelegatesSeePrivate (`mailgate mailbox set A
// --delegates-see-private on`) shows delegates such items in full, and
// lets them change them, from the next request.

// keptPrivate are the properties a private component keeps.
var keptPrivate = map[string]bool{
	ical.PropUID: true, ical.PropDateTimeStamp: true, ical.PropDateTimeStart: true, ical.PropDateTimeEnd: true,
	ical.PropDuration: true, ical.PropDue: true, ical.PropRecurrenceRule: true, ical.PropRecurrenceDates: true,
	ical.PropExceptionDates: true, ical.PropRecurrenceID: true, ical.PropSequence: true, ical.PropClass: true,
	ical.PropTransparency: true, ical.PropStatus: true, ical.PropCreated: true, ical.PropLastModified: true,
}

func isPrivate(c *ical.Component) bool {
	p := c.Props.Get(ical.PropClass)
	return p != nil && strings.EqualFold(strings.TrimSpace(p.Value), "PRIVATE")
}

// redact gives the delegate's copy of an object's bytes, and whether
// anything in it is private (false: data is shown as it is).
func redact(data []byte) ([]byte, bool) {
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return data, false // toObject reports a stored object that does not parse
	}
	private := false
	for _, c := range cal.Children {
		if (c.Name != ical.CompEvent && c.Name != ical.CompToDo) || !isPrivate(c) {
			continue
		}
		private = true
		for name := range c.Props {
			if !keptPrivate[name] {
				delete(c.Props, name)
			}
		}
		c.Children = nil // alarms
	}
	if !private {
		return data, false
	}
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(cal); err != nil {
		return nil, true // shown as nothing rather than in full
	}
	return b.Bytes(), true
}

// delegated reports whether rq's user reaches t's calendar as a delegate.
func delegated(rq *request, t target) bool { return t.owner != nil && t.owner.ID != rq.actor.ID }

// hidesPrivate reports whether rq's user reaches t's calendar as a
// delegate that sees the owner's private items as busy time only: the
// owner's DelegatesSeePrivate setting is off. The setting is read live,
// once per request and owner; when it cannot be read, private items
// stay hidden.
func (s *Server) hidesPrivate(rq *request, t target) bool {
	if !delegated(rq, t) {
		return false
	}
	see, ok := rq.private[t.owner.ID]
	if !ok {
		p, err := s.st.Principal(t.owner.ID)
		if err != nil {
			rq.log.Error("reading the owner's settings", "owner", t.owner.Address, "err", err)
		}
		see = err == nil && p.Settings.DelegatesSeePrivate
		if rq.private == nil {
			rq.private = map[delegation.ID]bool{}
		}
		rq.private[t.owner.ID] = see
	}
	return !see
}

// view is o as rq's user may see it.
func (s *Server) view(rq *request, t target, o storage.CalendarObject) storage.CalendarObject {
	if !s.hidesPrivate(rq, t) {
		return o
	}
	if data, private := redact(o.Data); private {
		o.Data, o.ETag = data, storage.ETagOf(data)
	}
	return o
}

// checkWritable refuses a delegate's change of a private object it is
// shown as busy time only.
func (s *Server) checkWritable(rq *request, t target) error {
	if !s.hidesPrivate(rq, t) {
		return nil
	}
	o, err := s.st.CalendarObject(t.cal.ID, t.name)
	if err != nil {
		return nil // none: nothing to protect (the write itself decides)
	}
	return s.checkWritableObject(rq, t, o)
}

// checkWritableObject is checkWritable of o, the object t names as read.
func (s *Server) checkWritableObject(rq *request, t target, o storage.CalendarObject) error {
	if !s.hidesPrivate(rq, t) {
		return nil
	}
	if _, private := redact(o.Data); private {
		return &davError{code: http.StatusForbidden, msg: "a private item of the owner cannot be changed by a delegate"}
	}
	return nil
}

// sentBy marks who acted (RFC 5545 §3.2.18): in an object a delegate
// writes for the owner, an ORGANIZER that is the owner (any of its
// addresses) gets SENT-BY the delegate, replacing whatever the client
// put there, so invitations show "delegate on behalf of owner" as
// Send on Behalf does for mail. It reports whether it changed cal.
func sentBy(rq *request, t target, cal *ical.Calendar) bool {
	if !delegated(rq, t) {
		return false
	}
	owner := map[string]bool{strings.ToLower(t.owner.Address): true}
	for _, a := range t.owner.Aliases {
		owner[strings.ToLower(a)] = true
	}
	want := "mailto:" + rq.actor.Address
	changed := false
	for _, c := range cal.Children {
		for i := range c.Props[ical.PropOrganizer] {
			p := &c.Props[ical.PropOrganizer][i]
			v := strings.ToLower(strings.TrimSpace(p.Value))
			if !owner[strings.TrimPrefix(v, "mailto:")] || p.Params.Get(ical.ParamSentBy) == want {
				continue
			}
			p.Params.Set(ical.ParamSentBy, want)
			changed = true
		}
	}
	return changed
}
