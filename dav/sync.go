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

// report answers REPORT: sync-collection here, the others (calendar-query,
// calendar-multiget) through go-webdav.
func (s *Server) report(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return &davError{code: http.StatusBadRequest, msg: "reading the body: " + err.Error()}
	}
	if len(body) > 1<<20 {
		return &davError{code: http.StatusRequestEntityTooLarge, msg: "request body too large"}
	}
	if root := rootElement(body); root != (xml.Name{Space: "DAV:", Local: "sync-collection"}) {
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
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` + "\n")
	for _, c := range changes {
		href := objectPath(t.owner.Address, t.cal.Name, c.Name)
		if c.Deleted {
			if since != 0 { // an initial sync lists members only (RFC 6578 §3.3)
				fmt.Fprintf(&b, "<D:response><D:href>%s</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>\n", escape(hrefOf(href)))
			}
			continue
		}
		o, err := s.st.CalendarObject(t.cal.ID, c.Name)
		if err != nil { // deleted since CalendarChanges: the next sync reports it
			continue
		}
		writeMember(&b, hrefOf(href), view(rq, t, o), props)
	}
	cal := t.cal
	cal.Seq = seq
	fmt.Fprintf(&b, "<D:sync-token>%s</D:sync-token>\n</D:multistatus>\n", escape(syncToken(cal)))
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusMultiStatus)
	_, err = io.WriteString(w, b.String())
	return err
}

// writeMember writes one member's response with the properties asked
// (those mailgate has in a 200 propstat, the others in a 404 one).
func writeMember(b *strings.Builder, href string, o storage.CalendarObject, props []xml.Name) {
	var ok, missing strings.Builder
	for _, p := range props {
		switch p {
		case xml.Name{Space: "DAV:", Local: "getetag"}:
			fmt.Fprintf(&ok, "<D:getetag>%s</D:getetag>", escape(quoteETag(o.ETag)))
		case xml.Name{Space: "DAV:", Local: "getcontenttype"}:
			fmt.Fprintf(&ok, "<D:getcontenttype>%s; charset=utf-8</D:getcontenttype>", ical.MIMEType)
		case xml.Name{Space: "DAV:", Local: "getcontentlength"}:
			fmt.Fprintf(&ok, "<D:getcontentlength>%d</D:getcontentlength>", len(o.Data))
		case xml.Name{Space: "DAV:", Local: "getlastmodified"}:
			fmt.Fprintf(&ok, "<D:getlastmodified>%s</D:getlastmodified>", o.Modified.UTC().Format(http.TimeFormat))
		case xml.Name{Space: nsCalDAV, Local: "calendar-data"}:
			fmt.Fprintf(&ok, "<C:calendar-data>%s</C:calendar-data>", escape(string(o.Data)))
		default:
			fmt.Fprintf(&missing, "<X:%s xmlns:X=\"%s\"/>", p.Local, escape(p.Space))
		}
	}
	fmt.Fprintf(b, "<D:response><D:href>%s</D:href>", escape(href))
	if ok.Len() > 0 || missing.Len() == 0 {
		fmt.Fprintf(b, "<D:propstat><D:prop>%s</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>", ok.String())
	}
	if missing.Len() > 0 {
		fmt.Fprintf(b, "<D:propstat><D:prop>%s</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>", missing.String())
	}
	b.WriteString("</D:response>\n")
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
