package dav

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
)

// msResponse is one response of a 207 answer, with the href-valued
// properties mailgate lists and the principal properties expand-property
// gives, each found in a 200 propstat.
type msResponse struct {
	Href      string `xml:"DAV: href"`
	Status    string `xml:"DAV: status"`
	Propstats []struct {
		Prop struct {
			DisplayName  *string     `xml:"DAV: displayname"`
			MemberSet    *hrefsOrRes `xml:"DAV: group-member-set"`
			Membership   *hrefsOrRes `xml:"DAV: group-membership"`
			WriteFor     *hrefsOrRes `xml:"http://calendarserver.org/ns/ calendar-proxy-write-for"`
			ReadFor      *hrefsOrRes `xml:"http://calendarserver.org/ns/ calendar-proxy-read-for"`
			AddressSet   *hrefsOrRes `xml:"urn:ietf:params:xml:ns:caldav calendar-user-address-set"`
			HomeSet      *hrefsOrRes `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
			ResourceType *struct {
				Principal  *struct{} `xml:"DAV: principal"`
				ProxyWrite *struct{} `xml:"http://calendarserver.org/ns/ calendar-proxy-write"`
				ProxyRead  *struct{} `xml:"http://calendarserver.org/ns/ calendar-proxy-read"`
			} `xml:"DAV: resourcetype"`
		} `xml:"DAV: prop"`
		Status string `xml:"DAV: status"`
	} `xml:"DAV: propstat"`
}

type hrefsOrRes struct {
	Hrefs     []string     `xml:"DAV: href"`
	Responses []msResponse `xml:"DAV: response"`
}

func parseMultistatus(t *testing.T, code int, body string) []msResponse {
	t.Helper()
	var ms struct {
		Responses []msResponse `xml:"DAV: response"`
	}
	if err := xml.Unmarshal([]byte(body), &ms); code != http.StatusMultiStatus || err != nil {
		t.Fatalf("answer %d (%v):\n%s", code, err, body)
	}
	return ms.Responses
}

// ok200 is the 200 propstat's prop of r (zero if none).
func (r msResponse) ok200() (p struct {
	DisplayName  *string
	MemberSet    *hrefsOrRes
	Membership   *hrefsOrRes
	WriteFor     *hrefsOrRes
	ReadFor      *hrefsOrRes
	AddressSet   *hrefsOrRes
	HomeSet      *hrefsOrRes
	ProxyWrite   bool
	ProxyRead    bool
	PrincipalRes bool
}) {
	for _, ps := range r.Propstats {
		if !strings.Contains(ps.Status, " 200 ") {
			continue
		}
		x := ps.Prop
		p.DisplayName, p.MemberSet, p.Membership, p.WriteFor, p.ReadFor, p.AddressSet, p.HomeSet =
			x.DisplayName, x.MemberSet, x.Membership, x.WriteFor, x.ReadFor, x.AddressSet, x.HomeSet
		if rt := x.ResourceType; rt != nil {
			p.ProxyWrite, p.ProxyRead, p.PrincipalRes = rt.ProxyWrite != nil, rt.ProxyRead != nil, rt.Principal != nil
		}
	}
	return p
}

var xmlHeader = map[string]string{"Content-Type": "application/xml", "Depth": "0"}

// memberSet is the group-member-set of owner's proxy principal which as
// user sees it; code is the PROPFIND's status.
func (e *env) memberSet(user, owner, which string) ([]string, int) {
	e.t.Helper()
	code, body, _ := e.do(user, "PROPFIND", proxyPath(addr(owner), which), xmlHeader,
		`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:group-member-set/><D:resourcetype/><D:displayname/></D:prop></D:propfind>`)
	if code != http.StatusMultiStatus {
		return nil, code
	}
	rs := parseMultistatus(e.t, code, body)
	if len(rs) != 1 || rs[0].Href != proxyPath(addr(owner), which) {
		e.t.Fatalf("%s: PROPFIND of %s's %s: %s", user, owner, which, body)
	}
	p := rs[0].ok200()
	if p.MemberSet == nil || !p.PrincipalRes || p.ProxyWrite != (which == proxyWrite) || p.ProxyRead != (which == proxyRead) {
		e.t.Fatalf("%s: PROPFIND of %s's %s lacks the member set or resource type:\n%s", user, owner, which, body)
	}
	return p.MemberSet.Hrefs, code
}

func principals(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, principalPath(addr(n)))
	}
	return out
}

// TestProxyGroupMemberSet: alice's calendar-proxy-write lists exactly
// the users with effective Full Access on her (bob, erin; frank through
// sales@), not gina until her pending grant's instant, not one whose
// grant is revoked, from the next request; calendar-proxy-read is empty.
// A delegate sees itself in the set, not the others; a user without
// rights (dave, zed of another tenant) gets 404 for both.
func TestProxyGroupMemberSet(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	e := newEnvAt(t, clock.Now)

	if got, _ := e.memberSet("alice", "alice", proxyWrite); !slices.Equal(got, principals("bob", "erin", "frank")) {
		t.Errorf("alice: calendar-proxy-write members = %v", got)
	}
	if got, _ := e.memberSet("alice", "alice", proxyRead); len(got) != 0 {
		t.Errorf("alice: calendar-proxy-read members = %v, want none", got)
	}
	if got, _ := e.memberSet("bob", "alice", proxyWrite); !slices.Equal(got, principals("bob")) {
		t.Errorf("bob: alice's calendar-proxy-write members = %v, want bob only", got)
	}
	if got, _ := e.memberSet("dave", "dave", proxyWrite); len(got) != 0 {
		t.Errorf("dave: his own calendar-proxy-write members = %v, want none", got)
	}
	for _, u := range []string{"dave", "zed@other.test", "gina", "carol"} {
		for _, which := range []string{proxyWrite, proxyRead} {
			if _, code := e.memberSet(u, "alice", which); code != http.StatusNotFound {
				t.Errorf("%s: PROPFIND of alice's %s = %d, want 404", u, which, code)
			}
			code, _, _ := e.do(u, "REPORT", proxyPath(addr("alice"), which), xmlHeader,
				`<?xml version="1.0"?><D:expand-property xmlns:D="DAV:"><D:property name="group-member-set"/></D:expand-property>`)
			if code != http.StatusNotFound {
				t.Errorf("%s: expand-property of alice's %s = %d, want 404", u, which, code)
			}
		}
	}

	clock.Add(testdir.Propagation - time.Second)
	if got, _ := e.memberSet("alice", "alice", proxyWrite); !slices.Equal(got, principals("bob", "erin", "frank")) {
		t.Errorf("a second before gina's grant: members = %v", got)
	}
	clock.Add(time.Second)
	if got, _ := e.memberSet("alice", "alice", proxyWrite); !slices.Equal(got, principals("bob", "erin", "frank", "gina")) {
		t.Errorf("at gina's grant's instant: members = %v", got)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("erin"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.memberSet("alice", "alice", proxyWrite); !slices.Equal(got, principals("bob", "frank", "gina")) {
		t.Errorf("after erin's revocation: members = %v", got)
	}
	if _, code := e.memberSet("erin", "alice", proxyWrite); code != http.StatusNotFound {
		t.Errorf("erin after revocation: PROPFIND of alice's proxy = %d, want 404", code)
	}
	// Members change by grants only.
	code, _, _ := e.do("alice", "PROPPATCH", proxyPath(addr("alice"), proxyWrite), map[string]string{"Content-Type": "application/xml"},
		`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:group-member-set><D:href>`+
			principalPath(addr("dave"))+`</D:href></D:group-member-set></D:prop></D:set></D:propertyupdate>`)
	if code != http.StatusForbidden {
		t.Errorf("alice: PROPPATCH of group-member-set = %d, want 403", code)
	}
}

// expandBody is what Apple Calendar sends to its own principal to build
// its Delegates list.
const expandBody = `<?xml version="1.0" encoding="UTF-8"?>
<A:expand-property xmlns:A="DAV:">
  <A:property name="calendar-proxy-write-for" namespace="http://calendarserver.org/ns/">
    <A:property name="displayname" namespace="DAV:"/>
    <A:property name="principal-URL" namespace="DAV:"/>
    <A:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
  </A:property>
  <A:property name="calendar-proxy-read-for" namespace="http://calendarserver.org/ns/">
    <A:property name="displayname" namespace="DAV:"/>
    <A:property name="principal-URL" namespace="DAV:"/>
    <A:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
  </A:property>
</A:expand-property>`

// TestExpandProperty: expand-property of bob's principal gives, in
// calendar-proxy-write-for, a response for each owner he has Full
// Access to (alice and info@) with its display name and addresses, and
// an empty calendar-proxy-read-for; dave's lists none; gina's none
// until her grant's instant. Expanding alice's member set as alice
// names her delegates (whose principals she does not reach otherwise)
// without their calendar homes.
func TestExpandProperty(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	e := newEnvAt(t, clock.Now)
	expand := func(user string) (writeFor []msResponse, readFor *hrefsOrRes) {
		t.Helper()
		code, body, _ := e.do(user, "REPORT", principalPath(addr(user)), xmlHeader, expandBody)
		rs := parseMultistatus(t, code, body)
		if len(rs) != 1 || rs[0].Href != principalPath(addr(user)) {
			t.Fatalf("%s: expand-property = %s", user, body)
		}
		p := rs[0].ok200()
		if p.WriteFor == nil || p.ReadFor == nil {
			t.Fatalf("%s: expand-property lacks calendar-proxy-*-for:\n%s", user, body)
		}
		return p.WriteFor.Responses, p.ReadFor
	}
	w, r := expand("bob")
	if len(r.Hrefs)+len(r.Responses) != 0 {
		t.Errorf("bob: calendar-proxy-read-for = %+v, want empty", r)
	}
	var got []string
	for _, x := range w {
		p := x.ok200()
		name := ""
		if p.DisplayName != nil {
			name = *p.DisplayName
		}
		var addrs []string
		if p.AddressSet != nil {
			addrs = p.AddressSet.Hrefs
		}
		got = append(got, x.Href+" "+name+" "+strings.Join(addrs, ","))
	}
	if want := []string{principalPath(addr("alice")) + " Alice Owner mailto:alice@example.test",
		principalPath(addr("info")) + " Info mailto:info@example.test"}; !slices.Equal(got, want) {
		t.Errorf("bob: calendar-proxy-write-for expanded = %q, want %q", got, want)
	}
	if w, _ := expand("dave"); len(w) != 0 {
		t.Errorf("dave: calendar-proxy-write-for expanded = %+v, want none", w)
	}
	if w, _ := expand("gina"); len(w) != 0 {
		t.Errorf("gina (pending): calendar-proxy-write-for expanded = %+v, want none", w)
	}
	clock.Add(testdir.Propagation)
	if w, _ := expand("gina"); len(w) != 1 || w[0].Href != principalPath(addr("alice")) {
		t.Errorf("gina at her grant's instant: calendar-proxy-write-for expanded = %+v", w)
	}

	// The owner's side: her delegates, named, their homes not given.
	code, body, _ := e.do("alice", "REPORT", proxyPath(addr("alice"), proxyWrite), xmlHeader,
		`<?xml version="1.0"?><D:expand-property xmlns:D="DAV:"><D:property name="group-member-set">`+
			`<D:property name="displayname"/><D:property name="calendar-home-set" namespace="urn:ietf:params:xml:ns:caldav"/>`+
			`</D:property></D:expand-property>`)
	rs := parseMultistatus(t, code, body)
	if len(rs) != 1 || rs[0].ok200().MemberSet == nil {
		t.Fatalf("alice: expand-property of her proxy = %s", body)
	}
	got = nil
	for _, m := range rs[0].ok200().MemberSet.Responses {
		p := m.ok200()
		if p.DisplayName == nil || p.HomeSet != nil {
			t.Errorf("alice: member %s shown as %+v", m.Href, p)
			continue
		}
		got = append(got, *p.DisplayName)
	}
	if want := []string{"Bob", "Erin", "Frank", "Gina"}; !slices.Equal(got, want) {
		t.Errorf("alice: her delegates expanded = %v, want %v", got, want)
	}
	// A principal not listed is not expanded into view: dave's PROPFIND
	// of alice's principal stays 404.
	if code, _, _ := e.do("dave", "REPORT", principalPath(addr("alice")), xmlHeader, expandBody); code != http.StatusNotFound {
		t.Errorf("dave: expand-property of alice's principal = %d, want 404", code)
	}
}

// TestGroupMembership: bob's principal lists in DAV:group-membership the
// calendar-proxy-write principals of the owners he has Full Access to,
// by PROPFIND (as DAVx5 asks it) and expand-property; dave's lists none;
// bob's goes from the next request after a revocation.
func TestGroupMembership(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	membership := func(user string) []string {
		t.Helper()
		code, body, _ := e.do(user, "PROPFIND", principalPath(addr(user)), xmlHeader,
			`<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:group-membership/><D:displayname/></D:prop></D:propfind>`)
		rs := parseMultistatus(t, code, body)
		if len(rs) != 1 || rs[0].ok200().Membership == nil {
			t.Fatalf("%s: PROPFIND group-membership = %s", user, body)
		}
		return rs[0].ok200().Membership.Hrefs
	}
	want := []string{proxyPath(addr("alice"), proxyWrite), proxyPath(addr("info"), proxyWrite)}
	if got := membership("bob"); !slices.Equal(got, want) {
		t.Errorf("bob: group-membership = %v, want %v", got, want)
	}
	if got := membership("dave"); len(got) != 0 {
		t.Errorf("dave: group-membership = %v, want none", got)
	}
	if got := membership("frank"); !slices.Equal(got, want[:1]) {
		t.Errorf("frank (through sales@): group-membership = %v", got)
	}
	// Each is a principal whose member set holds bob.
	for _, p := range want {
		code, body, _ := e.do("bob", "REPORT", principalPath(addr("bob")), xmlHeader,
			`<?xml version="1.0"?><D:expand-property xmlns:D="DAV:"><D:property name="group-membership">`+
				`<D:property name="group-member-set"/></D:property></D:expand-property>`)
		rs := parseMultistatus(t, code, body)
		found := false
		for _, m := range rs[0].ok200().Membership.Responses {
			if m.Href == p {
				found = true
				if ms := m.ok200().MemberSet; ms == nil || !slices.Equal(ms.Hrefs, principals("bob")) {
					t.Errorf("bob: %s's group-member-set = %+v", p, ms)
				}
			}
		}
		if !found {
			t.Errorf("bob: expand-property of group-membership lacks %s:\n%s", p, body)
		}
	}
	if _, err := e.st.RemoveGrant(addr("info"), addr("bob"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	if got := membership("bob"); !slices.Equal(got, want[:1]) {
		t.Errorf("bob after revocation on info@: group-membership = %v", got)
	}
}
