package dav

import (
	"cmp"
	"encoding/xml"
	"net/http"
	"slices"
	"strings"

	"github.com/mailgate/mailgate/delegation"
)

// Apple's calendar-proxy extension (calendarserver.org's
// caldav-proxy.txt) and DAV:group-membership (RFC 3744 §4.4), on top of
// the principals of principals.go, and the expand-property REPORT (RFC
// 3253 §3.8) that Apple Calendar sends to build its Delegates list.
//
// Every mailbox's principal has two child principals, groups in the
// sense of RFC 3744:
//
//	/dav/<owner>/calendar-proxy-write/  DAV:group-member-set: the users
//	                                    with effective Full Access on
//	                                    the owner (read and write)
//	/dav/<owner>/calendar-proxy-read/   empty: mailgate has no read-only
//	                                    right, but clients look for it
//
// and, on a user's own principal, calendar-proxy-write-for lists the
// owners it has effective Full Access to, calendar-proxy-read-for none,
// and DAV:group-membership those owners' calendar-proxy-write
// principals. All of it is computed from the request's snapshot at its
// instant: a pending grant counts from its effective time, a revoked one
// no more at the next request, another tenant never. The member set is
// shown whole to the owner only; a delegate sees itself in it, not the
// owner's other delegates. Members are changed by granting Full Access,
// not by PROPPATCH.

const (
	proxyWrite = "calendar-proxy-write"
	proxyRead  = "calendar-proxy-read"
)

func proxyPath(addr, which string) string { return principalPath(addr) + which + "/" }

func isProxy(seg string) bool { return seg == proxyWrite || seg == proxyRead }

// delegatesOf lists, by address, the users and shared mailboxes with
// effective Full Access on owner at rq's instant (through groups too).
func delegatesOf(rq *request, owner delegation.ID) []*delegation.Principal {
	seen := map[delegation.ID]bool{owner: true}
	var out []*delegation.Principal
	for _, g := range rq.dir.GrantsOn(owner) {
		if g.Right != delegation.FullAccess || !g.Effective(rq.now) {
			continue
		}
		for _, id := range rq.dir.Expand(g.Trustee) {
			if seen[id] {
				continue
			}
			seen[id] = true
			p, ok := rq.dir.Principal(id)
			if ok && rq.dir.Open(id, owner, rq.now).Allowed {
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b *delegation.Principal) int { return cmp.Compare(a.Address, b.Address) })
	return out
}

// proxyOwners are the owners (not groups) whose calendar-proxy-write
// rq's user is in: those it has effective Full Access to.
func proxyOwners(rq *request) []*delegation.Principal {
	var out []*delegation.Principal
	for _, a := range rq.dir.FullAccessMailboxes(rq.actor.ID, rq.now) {
		if o, ok := rq.dir.Principal(a.Owner); ok && o.Kind != delegation.KindGroup {
			out = append(out, o)
		}
	}
	return out
}

// propValue is one property's value: XML, or (hrefs set) a list of
// hrefs that expand-property may expand.
type propValue struct {
	xml      string
	hrefs    []string
	hrefList bool
}

func hrefs(paths ...string) propValue { return propValue{hrefs: paths, hrefList: true} }

func (v propValue) inner() string {
	if !v.hrefList {
		return v.xml
	}
	var b strings.Builder
	for _, p := range v.hrefs {
		b.WriteString(href(p))
	}
	return b.String()
}

var (
	nameResourceType     = xml.Name{Space: "DAV:", Local: "resourcetype"}
	nameDisplayName      = xml.Name{Space: "DAV:", Local: "displayname"}
	namePrincipalURL     = xml.Name{Space: "DAV:", Local: "principal-URL"}
	nameCurrentPrincipal = xml.Name{Space: "DAV:", Local: "current-user-principal"}
	nameGroupMemberSet   = xml.Name{Space: "DAV:", Local: "group-member-set"}
	nameGroupMembership  = xml.Name{Space: "DAV:", Local: "group-membership"}
	nameHomeSet          = xml.Name{Space: nsCalDAV, Local: "calendar-home-set"}
	nameAddressSet       = xml.Name{Space: nsCalDAV, Local: "calendar-user-address-set"}
	nameProxyWriteFor    = xml.Name{Space: nsCalServer, Local: "calendar-proxy-write-for"}
	nameProxyReadFor     = xml.Name{Space: nsCalServer, Local: "calendar-proxy-read-for"}
)

// principalProps gives the properties of the principal at path (an
// owner's, or one of its proxy principals) as rq's user may see them;
// false when the user may not see it. A principal the user does not
// reach (neither its own nor one it has Full Access to) is shown, when
// listed (a member of a set the user may see), as who it is only.
func principalProps(rq *request, path string, listed bool) (map[xml.Name]propValue, bool) {
	segs, ok := splitPath(path)
	if !ok || len(segs) < 1 || len(segs) > 2 || len(segs) == 2 && !isProxy(segs[1]) {
		return nil, false
	}
	o, found := rq.dir.Lookup(segs[0])
	if !found || o.Kind == delegation.KindGroup {
		return nil, false
	}
	own := o.ID == rq.actor.ID
	reach := own || rq.open(o.ID).Allowed
	if !reach && (!listed || len(segs) == 2) {
		return nil, false
	}
	if len(segs) == 2 {
		return proxyProps(rq, o, segs[1]), true
	}
	props := map[xml.Name]propValue{
		nameResourceType: {xml: `<D:collection/><D:principal/>`},
		nameDisplayName:  {xml: escape(displayName(o))},
		namePrincipalURL: hrefs(principalPath(o.Address)),
		nameAddressSet:   hrefs("mailto:" + o.Address),
	}
	if !reach {
		return props, true
	}
	props[nameCurrentPrincipal] = hrefs(principalPath(rq.home.Address))
	props[nameHomeSet] = hrefs(homePath(o.Address))
	var writeFor, membership []string
	if own {
		for _, d := range proxyOwners(rq) {
			writeFor = append(writeFor, principalPath(d.Address))
			membership = append(membership, proxyPath(d.Address, proxyWrite))
		}
	}
	props[nameProxyWriteFor] = hrefs(writeFor...)
	props[nameProxyReadFor] = hrefs()
	props[nameGroupMembership] = hrefs(membership...)
	return props, true
}

// proxyProps are the properties of owner o's proxy principal which, for
// a user that reaches o.
func proxyProps(rq *request, o *delegation.Principal, which string) map[xml.Name]propValue {
	var members []string
	if which == proxyWrite {
		for _, d := range delegatesOf(rq, o.ID) {
			if o.ID == rq.actor.ID || d.ID == rq.actor.ID {
				members = append(members, principalPath(d.Address))
			}
		}
	}
	what := "write"
	if which == proxyRead {
		what = "read"
	}
	return map[xml.Name]propValue{
		nameResourceType:     {xml: `<D:principal/><CS:` + which + ` xmlns:CS="` + nsCalServer + `"/>`},
		nameDisplayName:      {xml: escape(displayName(o) + " (calendar proxy " + what + ")")},
		namePrincipalURL:     hrefs(proxyPath(o.Address, which)),
		nameCurrentPrincipal: hrefs(principalPath(rq.home.Address)),
		nameGroupMemberSet:   hrefs(members...),
		nameGroupMembership:  hrefs(),
	}
}

// principalFills are the proxy properties of the login's own principal
// for props.go to fill into go-webdav's PROPFIND answer (empty form,
// filled form).
func principalFills(rq *request) [][2]string {
	props, _ := principalProps(rq, principalPath(rq.home.Address), false)
	var out [][2]string
	for _, n := range []xml.Name{nameProxyWriteFor, nameProxyReadFor, nameGroupMembership} {
		var inner strings.Builder
		for _, p := range props[n].hrefs { // go-webdav's document declares no prefix
			inner.WriteString(`<href xmlns="DAV:">` + escape(hrefOf(p)) + `</href>`)
		}
		open := `<` + n.Local + ` xmlns="` + n.Space + `">`
		close := `</` + n.Local + `>`
		out = append(out, [2]string{open + close, open + inner.String() + close})
	}
	return out
}

// propfindPrincipal answers PROPFIND of a principal go-webdav does not
// know: another owner's, and the proxy principals.
func (s *Server) propfindPrincipal(w http.ResponseWriter, r *http.Request, rq *request, t target) error {
	var req propfindRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	path := principalPath(t.owner.Address)
	if t.kind == kindProxy {
		path = proxyPath(t.owner.Address, t.name)
	}
	known, ok := principalProps(rq, path, false)
	if !ok {
		return errNotFound
	}
	var names []xml.Name
	for _, n := range req.Prop.Names {
		names = append(names, n.XMLName)
	}
	if req.XMLName.Local == "" || req.AllProp != nil { // RFC 4918 §9.1: no body is allprop
		names = []xml.Name{nameResourceType, nameDisplayName, namePrincipalURL, nameHomeSet}
		if t.kind == kindProxy {
			names[3] = nameGroupMemberSet
		}
	}
	var okb, missing strings.Builder
	for _, n := range names {
		if v, found := known[n]; found {
			okb.WriteString(element(n, v.inner()))
		} else {
			missing.WriteString(element(n, ""))
		}
	}
	var m multistatus
	m.response(path, propstat{okb.String(), "200 OK"}, propstat{missing.String(), "404 Not Found"})
	return m.serve(w)
}

// expandProp is one DAV:property of an expand-property REPORT.
type expandProp struct {
	Name      string       `xml:"name,attr"`
	Namespace string       `xml:"namespace,attr"`
	Props     []expandProp `xml:"DAV: property"`
}

func (p expandProp) xmlName() xml.Name {
	ns := p.Namespace
	if ns == "" {
		ns = "DAV:"
	}
	return xml.Name{Space: ns, Local: p.Name}
}

// maxExpand bounds the nesting expand-property follows.
const maxExpand = 4

// expandProperty answers the expand-property REPORT (RFC 3253 §3.8) of
// a principal: each property asked, and for one whose value is hrefs
// and that names properties of its own, each href replaced by a
// response with those properties of what it names.
func (s *Server) expandProperty(w http.ResponseWriter, body []byte, rq *request, t target) error {
	var path string
	switch t.kind {
	case kindPrincipal:
		path = principalPath(t.owner.Address)
	case kindProxy:
		path = proxyPath(t.owner.Address, t.name)
	default:
		return &davError{code: http.StatusForbidden, msg: "expand-property is answered for principals"}
	}
	var req struct {
		XMLName xml.Name     `xml:"DAV: expand-property"`
		Props   []expandProp `xml:"DAV: property"`
	}
	if err := xml.Unmarshal(body, &req); err != nil {
		return &davError{code: http.StatusBadRequest, msg: "malformed expand-property: " + err.Error()}
	}
	var m multistatus
	m.b.WriteString(expandResponse(rq, path, req.Props, false, 0))
	return m.serve(w)
}

// expandResponse is the response element for path with props expanded.
func expandResponse(rq *request, path string, props []expandProp, listed bool, depth int) string {
	var m multistatus
	known, ok := principalProps(rq, path, listed)
	if !ok {
		m.gone(path)
		return m.b.String()
	}
	var okb, missing strings.Builder
	for _, p := range props {
		n := p.xmlName()
		v, found := known[n]
		switch {
		case !found:
			missing.WriteString(element(n, ""))
		case len(p.Props) > 0 && v.hrefList && depth < maxExpand:
			var inner strings.Builder
			for _, h := range v.hrefs {
				inner.WriteString(expandResponse(rq, h, p.Props, true, depth+1))
			}
			okb.WriteString(element(n, inner.String()))
		default:
			okb.WriteString(element(n, v.inner()))
		}
	}
	m.response(path, propstat{okb.String(), "200 OK"}, propstat{missing.String(), "404 Not Found"})
	return m.b.String()
}
