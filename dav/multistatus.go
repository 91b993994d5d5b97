package dav

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
)

// multistatus builds the 207 answers mailgate writes itself (RFC 4918
// §13: sync-collection, PROPPATCH, another owner's principal).
type multistatus struct{ b strings.Builder }

// propstat is one propstat: property elements, and their status line's
// code and text ("200 OK"). An empty one is left out.
type propstat struct{ props, status string }

// response adds a member: its href (a path) and its propstats.
func (m *multistatus) response(path string, pss ...propstat) {
	m.b.WriteString("<D:response><D:href>" + escape(hrefOf(path)) + "</D:href>")
	for _, ps := range pss {
		if ps.props != "" {
			m.b.WriteString("<D:propstat><D:prop>" + ps.props + "</D:prop><D:status>HTTP/1.1 " + ps.status + "</D:status></D:propstat>")
		}
	}
	m.b.WriteString("</D:response>\n")
}

// gone adds a member that is no more (sync-collection, RFC 6578 §3.5.2).
func (m *multistatus) gone(path string) {
	m.b.WriteString("<D:response><D:href>" + escape(hrefOf(path)) + "</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>\n")
}

func (m *multistatus) serve(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", `application/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusMultiStatus)
	_, err := io.WriteString(w, xml.Header+`<D:multistatus xmlns:D="DAV:" xmlns:C="`+nsCalDAV+`">`+"\n"+m.b.String()+"</D:multistatus>\n")
	return err
}

// element is a property element of n holding inner (empty: none).
func element(n xml.Name, inner string) string {
	el := "X:" + escape(n.Local)
	open := "<" + el + ` xmlns:X="` + escape(n.Space) + `"`
	if inner == "" {
		return open + "/>"
	}
	return open + ">" + inner + "</" + el + ">"
}
