package dav

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/emersion/go-ical"

	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/calobj"
)

var errMethod = &davError{code: http.StatusMethodNotAllowed, msg: "method not allowed here"}

// get answers GET and HEAD of an object with its stored bytes.
func (s *Server) get(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	if t.kind != kindObject {
		return errMethod
	}
	o, err := s.st.CalendarObject(t.cal.ID, t.name)
	if err != nil {
		return err
	}
	o = s.view(rq, t, o)
	h := w.Header()
	h.Set("Content-Type", ical.MIMEType+"; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(o.Data)))
	h.Set("ETag", quoteETag(o.ETag))
	h.Set("Last-Modified", o.Modified.UTC().Format(http.TimeFormat))
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(o.Data)
	return err
}

func quoteETag(e string) string { return `"` + e + `"` }

// condition reads If-Match and If-None-Match (RFC 9110 §13.1.1-2): an
// entity tag, or "*"; a list is taken at its first member.
func condition(h http.Header) storage.Condition {
	var c storage.Condition
	if v := strings.TrimSpace(h.Get("If-Match")); v != "" {
		first, _, _ := strings.Cut(v, ",")
		c.IfMatch = strings.Trim(strings.TrimPrefix(strings.TrimSpace(first), "W/"), `"`)
		if c.IfMatch == "" {
			c.IfMatch = "-" // matches no ETag
		}
	}
	c.IfNoneMatch = strings.TrimSpace(h.Get("If-None-Match")) == "*"
	return c
}

// put answers PUT of an object (RFC 4791 §5.3.2): the body must be one
// valid iCalendar object of one VEVENT or VTODO, with one UID; it is
// stored as sent, unless a delegate's ORGANIZER needs its SENT-BY.
func (s *Server) put(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	if t.kind != kindObject {
		return errMethod
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ical.MIMEType {
		return precondition("supported-calendar-data", "the body must be text/calendar")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, storage.MaxCalendarObject+1))
	if err != nil {
		return &davError{code: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	cal, parsed, err := calobj.Parse(body)
	var ce *calobj.Error
	if errors.As(err, &ce) {
		return precondition(ce.Precondition, "%s", ce.Msg)
	}
	old, err := s.st.CalendarObject(t.cal.ID, t.name)
	existed := err == nil
	if existed {
		if err := s.checkWritableObject(rq, t, old); err != nil {
			return err
		}
	}
	modified := sentBy(rq, t, cal)
	if modified {
		var b bytes.Buffer
		if err := ical.NewEncoder(&b).Encode(cal); err != nil {
			return precondition("valid-calendar-data", "not valid iCalendar: %v", err)
		}
		body = b.Bytes()
	}
	o := parsed
	o.Calendar, o.Name, o.Data = t.cal.ID, t.name, body
	o, err = s.st.PutCalendarObject(o, condition(r.Header))
	if errors.Is(err, storage.ErrExists) {
		return precondition("no-uid-conflict", "another object of this calendar has UID %q", o.UID)
	}
	if err != nil {
		return err
	}
	if !modified { // else the client must read what was stored (RFC 4791 §5.3.4)
		w.Header().Set("ETag", quoteETag(o.ETag))
	}
	if existed {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	return nil
}

// delete answers DELETE of an object (If-Match applies) or of a whole
// calendar (not the default one).
func (s *Server) delete(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	var err error
	switch t.kind {
	case kindObject:
		if err := s.checkWritable(rq, t); err != nil {
			return err
		}
		err = s.st.DeleteCalendarObject(t.cal.ID, t.name, condition(r.Header))
	case kindCalendar:
		err = s.st.DeleteCalendar(t.owner.ID, t.cal.Name)
	default:
		return errMethod
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// props is the part of MKCALENDAR's body mailgate
// keeps: the display name and Apple's calendar-color.
type props struct {
	DisplayName *string `xml:"DAV: displayname"`
	Color       *string `xml:"http://apple.com/ns/ical/ calendar-color"`
}

type propSet struct {
	Props props `xml:"DAV: prop"`
}

// mkcalendar answers MKCALENDAR (RFC 4791 §5.3.1).
func (s *Server) mkcalendar(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	if t.kind != kindCalendar {
		return precondition("calendar-collection-location-ok", "calendars are made in a calendar home set")
	}
	var req struct {
		XMLName xml.Name `xml:"urn:ietf:params:xml:ns:caldav mkcalendar"`
		Set     propSet  `xml:"DAV: set"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	var name, color string
	if p := req.Set.Props.DisplayName; p != nil {
		name = *p
	}
	if p := req.Set.Props.Color; p != nil {
		color = *p
	}
	if err := s.create(t, name, color); err != nil {
		return err
	}
	w.Header().Set("Location", calendarPath(t.owner.Address, t.name))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// create makes the calendar t names (for MKCALENDAR and extended MKCOL).
func (s *Server) create(t target, displayName, color string) error {
	if t.kind != kindCalendar {
		return precondition("calendar-collection-location-ok", "calendars are made in a calendar home set")
	}
	if t.cal.ID != 0 {
		return &davError{code: http.StatusMethodNotAllowed, msg: "the calendar exists"}
	}
	if displayName == "" {
		displayName = t.name
	}
	_, err := s.st.CreateCalendar(t.owner.ID, t.name, displayName, color)
	if errors.Is(err, storage.ErrExists) {
		return &davError{code: http.StatusMethodNotAllowed, msg: "the calendar exists"}
	}
	return err
}

// decodeBody decodes an XML body into v; an empty body leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return &davError{code: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	if len(b) > 64<<10 {
		return &davError{code: http.StatusRequestEntityTooLarge, msg: "request body too large"}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return &davError{code: http.StatusBadRequest, msg: fmt.Sprintf("malformed XML body: %v", err)}
	}
	return nil
}

// proppatch answers PROPPATCH of a calendar (RFC 4918 §9.2): its
// DAV:displayname and Apple's calendar-color are set or removed; the
// update is atomic, so any other property fails it (403 for that one,
// 424 for the rest) and nothing changes.
func (s *Server) proppatch(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	if t.kind != kindCalendar {
		return &davError{code: http.StatusForbidden, msg: "only a calendar's properties can be changed"}
	}
	var req struct {
		XMLName xml.Name `xml:"DAV: propertyupdate"`
		Items   []struct {
			XMLName xml.Name
			Prop    struct {
				Props []struct {
					XMLName xml.Name
					Value   string `xml:",chardata"`
				} `xml:",any"`
			} `xml:"DAV: prop"`
		} `xml:",any"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.XMLName.Local == "" {
		return &davError{code: http.StatusBadRequest, msg: "PROPPATCH needs a propertyupdate body"}
	}
	displayName, color := t.cal.DisplayName, t.cal.Color
	var known, unknown []xml.Name
	for _, it := range req.Items {
		remove := it.XMLName == xml.Name{Space: "DAV:", Local: "remove"}
		if !remove && it.XMLName != (xml.Name{Space: "DAV:", Local: "set"}) {
			continue
		}
		for _, p := range it.Prop.Props {
			v := p.Value
			if remove {
				v = ""
			}
			switch p.XMLName {
			case xml.Name{Space: "DAV:", Local: "displayname"}:
				displayName = v
			case xml.Name{Space: "http://apple.com/ns/ical/", Local: "calendar-color"}:
				color = v
			default:
				unknown = append(unknown, p.XMLName)
				continue
			}
			known = append(known, p.XMLName)
		}
	}
	okStatus := "200 OK"
	if len(unknown) > 0 {
		okStatus = "424 Failed Dependency"
	} else if _, err := s.st.SetCalendarDisplay(t.owner.ID, t.cal.Name, displayName, color); err != nil {
		return err
	}
	elements := func(names []xml.Name) string {
		var b strings.Builder
		for _, n := range names {
			b.WriteString(element(n, ""))
		}
		return b.String()
	}
	var m multistatus
	m.response(calendarPath(t.owner.Address, t.cal.Name), propstat{elements(known), okStatus}, propstat{elements(unknown), "403 Forbidden"})
	return m.serve(w)
}
