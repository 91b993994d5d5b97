package dav

import (
	"errors"
	"path"
	"strings"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

const prefix = "/dav"

func principalPath(addr string) string { return prefix + "/" + addr + "/" }

// DefaultCalendarPath is the URL path of a mailbox's default calendar
// (for `mailgate explain open`).
func DefaultCalendarPath(addr string) string { return calendarPath(addr, storage.DefaultCalendar) }
func homePath(addr string) string            { return principalPath(addr) + "calendars/" }
func calendarPath(addr, name string) string {
	return homePath(addr) + name + "/"
}
func objectPath(addr, cal, name string) string { return calendarPath(addr, cal) + name }

// kind is what a URL names.
type kind int

const (
	kindRoot kind = iota
	kindPrincipal
	kindHome
	kindCalendar
	kindObject
	kindProxy // an owner's calendar-proxy-write or -read principal (proxy.go)
)

// target is a URL resolved for a request's user: its owner reachable
// (own, or by effective Full Access), its calendar existing.
type target struct {
	kind  kind
	owner *delegation.Principal // nil for kindRoot
	dc    delegation.Decision   // how the user reaches owner
	cal   storage.Calendar      // kindCalendar (unless creating) and kindObject
	name  string                // the calendar's (kindCalendar) or the object's (kindObject) segment
}

var errNotFound = &davError{code: 404, msg: "not found"}

// resolve parses p and checks it for rq's user. Everything the user may
// not reach is errNotFound, as what does not exist: an unknown address,
// a group, another's mailbox without effective Full Access, a calendar
// that is not there (unless creating, for MKCALENDAR and MKCOL).
func (s *Server) resolve(rq *request, p string, creating bool) (target, error) {
	segs, ok := splitPath(p)
	if !ok {
		return target{}, errNotFound
	}
	t := target{kind: kind(len(segs))}
	if t.kind == kindRoot {
		return t, nil
	}
	if t.kind == kindHome && isProxy(segs[1]) {
		t.kind, t.name = kindProxy, segs[1]
	} else if t.kind >= kindHome && segs[1] != "calendars" {
		return target{}, errNotFound
	}
	o, found := rq.dir.Lookup(segs[0])
	if !found || o.Kind == delegation.KindGroup {
		return target{}, errNotFound
	}
	calName := ""
	if t.kind >= kindCalendar && t.kind != kindProxy {
		calName = segs[2]
	}
	if o.ID != rq.actor.ID {
		t.dc = rq.open(o.ID)
		if !t.dc.Allowed {
			if calName != "" {
				s.auditBind(rq, o, calName, t.dc)
			}
			return target{}, errNotFound
		}
	}
	t.owner = o
	if t.kind < kindCalendar || t.kind == kindProxy {
		return t, nil
	}
	t.name = segs[len(segs)-1]
	cal, err := s.requestCalendar(rq, o.ID, calName)
	switch {
	case errors.Is(err, storage.ErrNotFound) && creating && t.kind == kindCalendar:
	case err != nil:
		return target{}, err
	}
	t.cal = cal
	if o.ID != rq.actor.ID {
		s.auditBind(rq, o, calName, t.dc)
	}
	return t, nil
}

// open is the request's decision on the actor's access to owner, made
// once per request and owner.
func (rq *request) open(owner delegation.ID) delegation.Decision {
	dc, ok := rq.opened[owner]
	if !ok {
		dc = rq.dir.Open(rq.actor.ID, owner, rq.now)
		if rq.opened == nil {
			rq.opened = map[delegation.ID]delegation.Decision{}
		}
		rq.opened[owner] = dc
	}
	return dc
}

type calKey struct {
	owner delegation.ID
	name  string
}

// requestCalendar is s.calendar read once per request: what is not
// found is not kept (MKCALENDAR creates it).
func (s *Server) requestCalendar(rq *request, owner delegation.ID, name string) (storage.Calendar, error) {
	k := calKey{owner, name}
	if c, ok := rq.cals[k]; ok {
		return c, nil
	}
	c, err := s.calendar(owner, name)
	if err != nil {
		return c, err
	}
	rq.keepCalendar(owner, c)
	return c, nil
}

// keepCalendar caches c, an owner's calendar read for this request.
func (rq *request) keepCalendar(owner delegation.ID, c storage.Calendar) {
	if rq.cals == nil {
		rq.cals = map[calKey]storage.Calendar{}
	}
	rq.cals[calKey{owner, c.Name}] = c
}

// calendar reads one calendar, the default one made on first use.
func (s *Server) calendar(owner delegation.ID, name string) (storage.Calendar, error) {
	if name == storage.DefaultCalendar {
		return s.st.EnsureDefaultCalendar(owner)
	}
	return s.st.Calendar(owner, name)
}

// splitPath gives the segments of p under prefix ("/" is the root too);
// false for a path elsewhere, one too deep, or with empty or dot
// segments.
func splitPath(p string) ([]string, bool) {
	if p == "/" {
		return nil, true
	}
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return nil, false
	}
	rest = strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/")
	if rest == "" {
		return nil, true
	}
	if path.Clean("/"+rest) != "/"+rest {
		return nil, false
	}
	segs := strings.Split(rest, "/")
	if len(segs) > int(kindObject) {
		return nil, false
	}
	return segs, true
}

// bindKey names one calendar_bind record of a window (storage.BindWindow,
// as imap does for FolderBind): one per actor, calendar and outcome.
type bindKey struct {
	actor, owner delegation.ID
	calendar     string
	refused      bool
}

// auditBind records a delegate's access to (or refused attempt at) a
// calendar of another mailbox, once per window.
func (s *Server) auditBind(rq *request, owner *delegation.Principal, calendar string, dc delegation.Decision) {
	k := bindKey{actor: rq.actor.ID, owner: owner.ID, calendar: calendar, refused: !dc.Allowed}
	if !s.binds.First(k, rq.now, s.cfg.BindWindow) {
		return
	}
	if dc.Allowed {
		rq.log.Info("delegated calendar access", "owner", owner.Address, "calendar", calendar, "right", dc.Right.Flags(), "grant", dc.GrantID)
	} else {
		rq.log.Info("delegated calendar access refused", "owner", owner.Address, "calendar", calendar, "reason", dc.Reason)
	}
	rec := storage.NewAuditRecord(rq.dir, "caldav", "calendar_bind", storage.PartyOf(rq.actor), storage.PartyOf(owner), dc)
	rec.Folder, rec.Remote = calendar, rq.ip
	if err := s.st.Audit(rec); err != nil {
		rq.log.Error("audit", "err", err)
		s.binds.Forget(k)
	}
}
