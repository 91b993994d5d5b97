package dav

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/storage"
)

// backend is go-webdav's view of the store, for the methods it answers
// (PROPFIND, REPORT, OPTIONS, MKCOL). Every path it is given is resolved
// again for the request's user: a calendar-multiget may name any URL.
type backend struct{ s *Server }

var _ caldav.Backend = backend{}

var supportedComponents = []string{ical.CompEvent, ical.CompToDo}

func (b backend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	return principalPath(requestOf(ctx).home.Address), nil
}

// CalendarHomeSetPath is the home set of the owner the URL names (the
// login's own when it names none).
func (b backend) CalendarHomeSetPath(ctx context.Context) (string, error) {
	return homePath(requestOf(ctx).target.Address), nil
}

func toCalendar(addr string, c storage.Calendar) caldav.Calendar {
	return caldav.Calendar{Path: calendarPath(addr, c.Name), Name: c.DisplayName,
		MaxResourceSize: storage.MaxCalendarObject, SupportedComponentSet: supportedComponents}
}

// ListCalendars lists the target owner's calendars, the default one
// made on first use.
func (b backend) ListCalendars(ctx context.Context) ([]caldav.Calendar, error) {
	rq := requestOf(ctx)
	if _, err := b.s.st.EnsureDefaultCalendar(rq.target.ID); err != nil {
		return nil, b.s.webdavError(rq, err)
	}
	cals, err := b.s.st.Calendars(rq.target.ID)
	if err != nil {
		return nil, b.s.webdavError(rq, err)
	}
	out := make([]caldav.Calendar, 0, len(cals))
	for _, c := range cals {
		out = append(out, toCalendar(rq.target.Address, c))
		rq.keepCalendar(rq.target.ID, c) // for props.go's sync tokens
	}
	return out, nil
}

// resolveKind resolves p and requires it to name a k.
func (b backend) resolveKind(ctx context.Context, p string, k kind) (target, error) {
	rq := requestOf(ctx)
	t, err := b.s.resolve(rq, p, false)
	if err == nil && t.kind != k {
		err = errNotFound
	}
	if err != nil {
		return t, b.s.webdavError(rq, err)
	}
	return t, nil
}

func (b backend) GetCalendar(ctx context.Context, p string) (*caldav.Calendar, error) {
	t, err := b.resolveKind(ctx, p, kindCalendar)
	if err != nil {
		return nil, err
	}
	c := toCalendar(t.owner.Address, t.cal)
	return &c, nil
}

// CreateCalendar answers an extended MKCOL (RFC 5689).
func (b backend) CreateCalendar(ctx context.Context, cal *caldav.Calendar) error {
	rq := requestOf(ctx)
	t, err := b.s.resolve(rq, cal.Path, true)
	if err == nil {
		err = b.s.create(t, cal.Name, "")
	}
	if err != nil {
		return b.s.webdavError(rq, err)
	}
	return nil
}

// toObject decodes a stored object of t's calendar for go-webdav, as
// rq's user may see it (private.go).
func (s *Server) toObject(rq *request, t target, o storage.CalendarObject) (caldav.CalendarObject, error) {
	o = s.view(rq, t, o)
	data, err := ical.NewDecoder(bytes.NewReader(o.Data)).Decode()
	if err != nil { // stored only once validated: the store is damaged
		rq.log.Error("stored calendar object does not parse", "calendar", t.cal.Name, "object", o.Name, "err", err)
		return caldav.CalendarObject{}, webdav.NewHTTPError(http.StatusInternalServerError, errors.New("internal error"))
	}
	return caldav.CalendarObject{Path: objectPath(t.owner.Address, t.cal.Name, o.Name), ModTime: o.Modified,
		ContentLength: int64(len(o.Data)), ETag: o.ETag, Data: data}, nil
}

func (s *Server) toObjects(rq *request, t target, objs []storage.CalendarObject) ([]caldav.CalendarObject, error) {
	out := make([]caldav.CalendarObject, 0, len(objs))
	for _, o := range objs {
		co, err := s.toObject(rq, t, o)
		if err != nil {
			return nil, err
		}
		out = append(out, co)
	}
	return out, nil
}

func (b backend) GetCalendarObject(ctx context.Context, p string, _ *caldav.CalendarCompRequest) (*caldav.CalendarObject, error) {
	t, err := b.resolveKind(ctx, p, kindObject)
	if err != nil {
		return nil, err
	}
	rq := requestOf(ctx)
	o, err := b.s.st.CalendarObject(t.cal.ID, t.name)
	if err != nil {
		return nil, b.s.webdavError(rq, err)
	}
	co, err := b.s.toObject(rq, t, o)
	return &co, err
}

func (b backend) ListCalendarObjects(ctx context.Context, p string, _ *caldav.CalendarCompRequest) ([]caldav.CalendarObject, error) {
	t, err := b.resolveKind(ctx, p, kindCalendar)
	if err != nil {
		return nil, err
	}
	rq := requestOf(ctx)
	objs, err := b.s.st.CalendarObjects(t.cal.ID)
	if err != nil {
		return nil, b.s.webdavError(rq, err)
	}
	return b.s.toObjects(rq, t, objs)
}

// QueryCalendarObjects answers calendar-query (RFC 4791 §7.8): the
// store selects by the time range it keeps (query.go), then the rest of
// the filter is matched on the parsed objects.
func (b backend) QueryCalendarObjects(ctx context.Context, p string, q *caldav.CalendarQuery) ([]caldav.CalendarObject, error) {
	t, err := b.resolveKind(ctx, p, kindCalendar)
	if err != nil {
		return nil, err
	}
	rq := requestOf(ctx)
	return b.s.query(rq, t, q)
}

// PutCalendarObject is not reached: PUT is answered in objects.go (for
// its preconditions and status codes).
func (b backend) PutCalendarObject(ctx context.Context, _ string, _ *ical.Calendar, _ *caldav.PutCalendarObjectOptions) (*caldav.CalendarObject, error) {
	return nil, webdav.NewHTTPError(http.StatusMethodNotAllowed, errMethod)
}

// DeleteCalendarObject is not reached: DELETE is answered in objects.go
// (for If-Match).
func (b backend) DeleteCalendarObject(ctx context.Context, _ string) error {
	return webdav.NewHTTPError(http.StatusMethodNotAllowed, errMethod)
}
