package dav

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
)

// go-webdav answers PROPFIND with the properties it knows; a calendar's
// getctag (calendarserver.org), DAV:sync-token (RFC 6578 §4) and
// DAV:supported-report-set (RFC 3253 §3.1.5), which clients read to
// decide how to sync, it lists as not found. propfind fills them in: in
// each response for a calendar, what the client asked of these moves
// from the 404 propstat to a 200 one; so does, in the response for the
// login's own principal, calendar-proxy-write-for, -read-for and
// DAV:group-membership (proxy.go). It
// works on go-webdav's output as
// that library writes it (one form for an empty property); TestCTag
// fails if a new version writes it otherwise.
func (s *Server) propfind(w http.ResponseWriter, r *http.Request, rq *request) {
	buf := &bufferedWriter{header: w.Header(), code: http.StatusOK}
	s.dav.ServeHTTP(buf, r)
	body := buf.buf.Bytes()
	if buf.code == http.StatusMultiStatus {
		body = s.addCalendarProps(rq, body)
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(buf.code)
	w.Write(body)
}

const (
	respOpen = `<response xmlns="DAV:">`
	notFound = `<propstat xmlns="DAV:"><prop xmlns="DAV:"></prop><status>HTTP/1.1 404 Not Found</status></propstat>`
)

// reportSet is a calendar's supported-report-set: the REPORTs answered.
var reportSet = func() string {
	var b strings.Builder
	b.WriteString(`<supported-report-set xmlns="DAV:">`)
	for _, r := range []string{`<calendar-query xmlns="urn:ietf:params:xml:ns:caldav"></calendar-query>`,
		`<calendar-multiget xmlns="urn:ietf:params:xml:ns:caldav"></calendar-multiget>`,
		`<sync-collection xmlns="DAV:"></sync-collection>`} {
		b.WriteString(`<supported-report xmlns="DAV:"><report xmlns="DAV:">` + r + `</report></supported-report>`)
	}
	return b.String() + `</supported-report-set>`
}()

func (s *Server) addCalendarProps(rq *request, body []byte) []byte {
	parts := strings.Split(string(body), respOpen)
	changed := false
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		href, _, _ := strings.Cut(strings.TrimPrefix(p, "<href>"), "</href>")
		path, err := url.PathUnescape(href)
		if err != nil {
			continue
		}
		segs, ok := splitPath(path)
		if ok && len(segs) == int(kindPrincipal) && path == principalPath(rq.home.Address) {
			if p, ok = fillProps(p, principalFills(rq)); ok {
				parts[i], changed = p, true
			}
			continue
		}
		if !ok || len(segs) != int(kindCalendar) {
			continue
		}
		o, found := rq.dir.Lookup(segs[0])
		if !found || o.ID != rq.target.ID {
			continue
		}
		cal, err := s.requestCalendar(rq, o.ID, segs[2])
		if err != nil {
			continue
		}
		tok := escape(syncToken(cal))
		if p, ok = fillProps(p, [][2]string{
			{`<getctag xmlns="http://calendarserver.org/ns/"></getctag>`, `<getctag xmlns="http://calendarserver.org/ns/">` + tok + `</getctag>`},
			{`<sync-token xmlns="DAV:"></sync-token>`, `<sync-token xmlns="DAV:">` + tok + `</sync-token>`},
			{`<supported-report-set xmlns="DAV:"></supported-report-set>`, reportSet},
		}); ok {
			parts[i], changed = p, true
		}
	}
	if !changed {
		return body
	}
	return []byte(strings.Join(parts, respOpen))
}

// bufferedWriter keeps go-webdav's answer for propfind to complete.
type bufferedWriter struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferedWriter) WriteHeader(code int)        { b.code = code }

// fillProps moves, in one response of go-webdav's, each property of
// props (its empty form, its filled one) that it lists as not found to a
// 200 propstat; false when there was none.
func fillProps(p string, props [][2]string) (string, bool) {
	var add strings.Builder
	for _, pr := range props {
		if strings.Contains(p, pr[0]) {
			p = strings.Replace(p, pr[0], "", 1)
			add.WriteString(pr[1])
		}
	}
	if add.Len() == 0 {
		return p, false
	}
	p = strings.Replace(p, notFound, "", 1)
	return strings.Replace(p, "</response>", `<propstat xmlns="DAV:"><prop xmlns="DAV:">`+add.String()+
		`</prop><status>HTTP/1.1 200 OK</status></propstat></response>`, 1), true
}
