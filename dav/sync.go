package dav

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/emersion/go-ical"

	"github.com/mailgate/mailgate/storage"
)

// sync-collection (RFC 6578), which go-webdav lacks: the REPORT is
// answered here from the store's per-calendar change sequence
// (storage.Calendars.CalendarChanges). A token names the calendar's ID
// and a sequence, so a token of a deleted calendar, or of another one,
// is refused (DAV:valid-sync-token) rather than misread.

const tokenPrefix = "urn:mailgate:sync:"

func syncToken(cal storage.Calendar) string {
	return fmt.Sprintf("%s%d:%d", tokenPrefix, cal.ID, cal.Seq)
}

// parseToken gives the sequence of a token of cal; false for a token of
// another calendar, of the future, or not one of ours.
func parseToken(tok string, cal storage.Calendar) (uint64, bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return 0, false
	}
	id, seq, ok := strings.Cut(rest, ":")
	if !ok || id != strconv.FormatUint(cal.ID, 10) {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, err == nil && n <= cal.Seq
}

type syncRequest struct {
	XMLName xml.Name `xml:"DAV: sync-collection"`
	Token   string   `xml:"DAV: sync-token"`
	Level   string   `xml:"DAV: sync-level"`
	Prop    struct {
		Names []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"DAV: prop"`
}

// report answers REPORT: sync-collection here, expand-property in
// proxy.go, the others (calendar-query,
// calendar-multiget) through go-webdav.
func (s *Server) report(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return &davError{code: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	if len(body) > 1<<20 {
		return &davError{code: http.StatusRequestEntityTooLarge, msg: "request body too large"}
	}
	root := rootElement(body)
	if root == (xml.Name{Space: "DAV:", Local: "expand-property"}) {
		return s.expandProperty(w, body, rq, t)
	}
	if t.kind == kindProxy {
		return &davError{code: http.StatusForbidden, msg: "a proxy principal answers expand-property only"}
	}
	if root != (xml.Name{Space: "DAV:", Local: "sync-collection"}) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.dav.ServeHTTP(w, r)
		return nil
	}
	if t.kind != kindCalendar {
		return &davError{code: http.StatusForbidden, msg: "sync-collection is for a calendar"}
	}
	var req syncRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return &davError{code: http.StatusBadRequest, msg: fmt.Sprintf("malformed sync-collection: %v", err)}
	}
	if lv := strings.TrimSpace(req.Level); lv != "1" && lv != "infinite" { // a calendar has no sub-collections
		return &davError{code: http.StatusBadRequest, msg: "sync-level must be 1 or infinite"}
	}
	var since uint64
	if tok := strings.TrimSpace(req.Token); tok != "" {
		var ok bool
		if since, ok = parseToken(tok, t.cal); !ok {
			return &davError{code: http.StatusForbidden, precond: xml.Name{Space: "DAV:", Local: "valid-sync-token"}, msg: "unknown sync token"}
		}
	}
	changes, seq, err := s.st.CalendarChanges(t.cal.ID, since)
	if err != nil {
		return err
	}
	var props []xml.Name
	for _, n := range req.Prop.Names {
		props = append(props, n.XMLName)
	}
	var m multistatus
	for _, c := range changes {
		p := objectPath(t.owner.Address, t.cal.Name, c.Name)
		if c.Deleted {
			if since != 0 { // an initial sync lists members only (RFC 6578 §3.3)
				m.gone(p)
			}
			continue
		}
		o, err := s.st.CalendarObject(t.cal.ID, c.Name)
		if err != nil { // deleted since CalendarChanges: the next sync reports it
			continue
		}
		ok, missing := memberProps(s.view(rq, t, o), props)
		if ok == "" && missing == "" {
			ok = "<D:getetag>" + escape(quoteETag(o.ETag)) + "</D:getetag>" // no props asked: at least what changed
		}
		m.response(p, propstat{ok, "200 OK"}, propstat{missing, "404 Not Found"})
	}
	cal := t.cal
	cal.Seq = seq
	m.b.WriteString("<D:sync-token>" + escape(syncToken(cal)) + "</D:sync-token>\n")
	return m.serve(w)
}

// memberProps gives the properties asked of a member: those mailgate
// has, and the empty elements of the others.
func memberProps(o storage.CalendarObject, props []xml.Name) (ok, missing string) {
	var okb, missb strings.Builder
	for _, p := range props {
		switch p {
		case xml.Name{Space: "DAV:", Local: "getetag"}:
			okb.WriteString("<D:getetag>" + escape(quoteETag(o.ETag)) + "</D:getetag>")
		case xml.Name{Space: "DAV:", Local: "getcontenttype"}:
			okb.WriteString("<D:getcontenttype>" + ical.MIMEType + "; charset=utf-8</D:getcontenttype>")
		case xml.Name{Space: "DAV:", Local: "getcontentlength"}:
			okb.WriteString("<D:getcontentlength>" + strconv.Itoa(len(o.Data)) + "</D:getcontentlength>")
		case xml.Name{Space: "DAV:", Local: "getlastmodified"}:
			okb.WriteString("<D:getlastmodified>" + o.Modified.UTC().Format(http.TimeFormat) + "</D:getlastmodified>")
		case xml.Name{Space: nsCalDAV, Local: "calendar-data"}:
			okb.WriteString("<C:calendar-data>" + escape(string(o.Data)) + "</C:calendar-data>")
		default:
			missb.WriteString(element(p, ""))
		}
	}
	return okb.String(), missb.String()
}

// rootElement is the name of an XML document's first element (zero when
// there is none).
func rootElement(body []byte) xml.Name {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name
		}
	}
}

func escape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// hrefOf is a path as an href: each segment percent-encoded where a URL
// needs it.
func hrefOf(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
