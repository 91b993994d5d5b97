package dav

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/mailgate/mailgate/delegation"
)

// Discovery for delegates. go-webdav answers PROPFIND of the login's own
// principal only; the principal of an owner the user reaches (effective
// Full Access) is answered here, so a client given the owner's URL finds
// the owner's calendar home set. And the login's own principal lists, in
// calendarserver.org's calendar-proxy-write-for, the principals of the
// mailboxes it has Full Access to (filled into go-webdav's answer by
// props.go), so clients that read it (Apple Calendar's "Delegates",
// DAVx5) offer them.

const nsCalServer = "http://calendarserver.org/ns/"

type propfindRequest struct {
	XMLName xml.Name  `xml:"DAV: propfind"`
	AllProp *struct{} `xml:"DAV: allprop"`
	Prop    struct {
		Names []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"DAV: prop"`
}

// propfindPrincipal answers PROPFIND of another owner's principal.
func (s *Server) propfindPrincipal(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	var req propfindRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	o := t.owner
	known := map[xml.Name]string{
		{Space: "DAV:", Local: "resourcetype"}:                `<D:collection/><D:principal/>`,
		{Space: "DAV:", Local: "displayname"}:                 escape(displayName(o)),
		{Space: "DAV:", Local: "principal-URL"}:               href(principalPath(o.Address)),
		{Space: "DAV:", Local: "current-user-principal"}:      href(principalPath(rq.home.Address)),
		{Space: nsCalDAV, Local: "calendar-home-set"}:         href(homePath(o.Address)),
		{Space: nsCalDAV, Local: "calendar-user-address-set"}: href("mailto:" + o.Address),
	}
	var names []xml.Name
	for _, n := range req.Prop.Names {
		names = append(names, n.XMLName)
	}
	if req.XMLName.Local == "" || req.AllProp != nil { // RFC 4918 §9.1: no body is allprop
		names = []xml.Name{{Space: "DAV:", Local: "resourcetype"}, {Space: "DAV:", Local: "displayname"},
			{Space: "DAV:", Local: "principal-URL"}, {Space: nsCalDAV, Local: "calendar-home-set"}}
	}
	var ok, missing strings.Builder
	for _, n := range names {
		if v, found := known[n]; found {
			ok.WriteString(element(n, v))
		} else {
			missing.WriteString(element(n, ""))
		}
	}
	var m multistatus
	m.response(principalPath(o.Address), propstat{ok.String(), "200 OK"}, propstat{missing.String(), "404 Not Found"})
	return m.serve(w)
}

func href(p string) string { return "<D:href>" + escape(hrefOf(p)) + "</D:href>" }

func displayName(p *delegation.Principal) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Address
}

// proxyFor is the calendar-proxy-write-for value of rq's own principal:
// the mailboxes (users and shared, not groups) it has effective Full
// Access to. A delegate login (delegate\owner) lists none: its principal
// is the owner's.
func proxyFor(rq *request) string {
	if rq.home.ID != rq.actor.ID {
		return ""
	}
	var b strings.Builder
	for _, a := range rq.dir.FullAccessMailboxes(rq.actor.ID, rq.now) {
		if o, ok := rq.dir.Principal(a.Owner); ok && o.Kind != delegation.KindGroup {
			b.WriteString(`<href xmlns="DAV:">` + escape(hrefOf(principalPath(o.Address))) + `</href>`)
		}
	}
	return b.String()
}
