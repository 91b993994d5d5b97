package dav

import (
	"context"
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/delegation"
)

// TestPrivateItems: an event alice marks CLASS:PRIVATE reaches bob (Full
// Access) as busy time only, by GET, calendar-multiget, calendar-query
// and sync-collection, and bob may not change or delete it; alice sees
// it whole, and bob sees her other events whole.
func TestPrivateItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := defaultCal("alice")
	private := eventICS("doctor", "Doctor", day.Add(15*time.Hour), time.Hour, "CLASS:PRIVATE", "DESCRIPTION:the results",
		"LOCATION:Clinic", "ATTENDEE;CN=Dr Who:mailto:who@clinic.example", "BEGIN:VALARM", "ACTION:DISPLAY",
		"DESCRIPTION:go to the doctor", "TRIGGER:-PT15M", "END:VALARM")
	public := eventICS("lunch", "Lunch", day.Add(12*time.Hour), time.Hour, "LOCATION:Canteen")
	for name, ics := range map[string]string{"doctor": private, "lunch": public} {
		if code, body, _ := e.do("alice", http.MethodPut, cal+name+".ics", icsHeader, ics); code != http.StatusCreated {
			t.Fatalf("PUT %s = %d %s", name, code, body)
		}
	}
	hidden := []string{"Doctor", "the results", "Clinic", "who@clinic", "VALARM", "go to the doctor"}
	checkRedacted := func(how, got string) {
		t.Helper()
		for _, h := range hidden {
			if strings.Contains(got, h) {
				t.Errorf("%s: bob sees %q of a private event:\n%s", how, h, got)
			}
		}
		for _, kept := range []string{"UID:doctor", "DTSTART:20261201T150000Z", "DTEND:20261201T160000Z", "CLASS:PRIVATE"} {
			if !strings.Contains(got, kept) {
				t.Errorf("%s: the private event lacks %q for bob:\n%s", how, kept, got)
			}
		}
	}
	code, got, h := e.do("bob", http.MethodGet, cal+"doctor.ics", nil, "")
	if code != http.StatusOK {
		t.Fatalf("bob: GET = %d", code)
	}
	checkRedacted("GET", got)
	_, whole, ah := e.do("alice", http.MethodGet, cal+"doctor.ics", nil, "")
	if whole != private || h.Get("ETag") == ah.Get("ETag") {
		t.Errorf("alice: GET = %q (ETag %s; bob's %s)", whole, ah.Get("ETag"), h.Get("ETag"))
	}
	if _, lunch, _ := e.do("bob", http.MethodGet, cal+"lunch.ics", nil, ""); lunch != public {
		t.Errorf("bob: GET of a public event = %q", lunch)
	}

	ctx := context.Background()
	bob := e.client("bob")
	multi, err := bob.MultiGetCalendar(ctx, cal, &caldav.CalendarMultiGet{Paths: []string{cal + "doctor.ics"},
		CompRequest: caldav.CalendarCompRequest{AllProps: true, AllComps: true}})
	if err != nil || len(multi) != 1 {
		t.Fatalf("bob: multiget = %v, %v", multi, err)
	}
	if s, _ := multi[0].Data.Children[0].Props.Text("SUMMARY"); s != "" || multi[0].ETag != strings.Trim(h.Get("ETag"), `"`) {
		t.Errorf("bob: multiget SUMMARY %q, ETag %q (GET's %s)", s, multi[0].ETag, h.Get("ETag"))
	}
	objs, err := bob.QueryCalendar(ctx, cal, &caldav.CalendarQuery{CompFilter: caldav.CompFilter{Name: "VCALENDAR",
		Comps: []caldav.CompFilter{{Name: "VEVENT", Start: day, End: day.Add(24 * time.Hour)}}}})
	if err != nil || len(objs) != 2 {
		t.Fatalf("bob: query = %d objects, %v", len(objs), err)
	}
	for _, o := range objs {
		if strings.HasSuffix(o.Path, "doctor.ics") {
			if s, _ := o.Data.Children[0].Props.Text("SUMMARY"); s != "" {
				t.Errorf("bob: query gives the private SUMMARY %q", s)
			}
		}
	}
	syncBody := `<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/>` +
		`<D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>`
	_, synced, _ := e.do("bob", "REPORT", cal, map[string]string{"Content-Type": "application/xml"}, syncBody)
	if !strings.Contains(synced, "Canteen") {
		t.Errorf("bob: sync-collection lacks the public event:\n%s", synced)
	}
	checkRedacted("sync-collection", strings.ReplaceAll(synced, "&#xD;", "\r"))

	// bob can change neither the private event nor delete it.
	if code, _, _ := e.do("bob", http.MethodPut, cal+"doctor.ics", icsHeader, eventICS("doctor", "Busy", day, time.Hour)); code != http.StatusForbidden {
		t.Errorf("bob: PUT over a private event = %d, want 403", code)
	}
	if code, _, _ := e.do("bob", http.MethodDelete, cal+"doctor.ics", nil, ""); code != http.StatusForbidden {
		t.Errorf("bob: DELETE of a private event = %d, want 403", code)
	}
	if _, still, _ := e.do("alice", http.MethodGet, cal+"doctor.ics", nil, ""); still != private {
		t.Errorf("alice's private event changed: %q", still)
	}
}

// TestSentBy: an event bob writes for alice with alice as ORGANIZER
// carries ORGANIZER;SENT-BY="mailto:bob@…" (replacing a client's), and
// its PUT gives no ETag (the stored object is not what was sent); alice's
// own events and bob's events without her as organizer are stored as
// sent.
func TestSentBy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := defaultCal("alice")
	invite := func(uid, organizer string) string {
		return eventICS(uid, "Planning", day.Add(10*time.Hour), time.Hour, organizer,
			"ATTENDEE;CN=Dave;PARTSTAT=NEEDS-ACTION:mailto:dave@example.test")
	}
	for _, tc := range []struct {
		user, uid, organizer, want string
		etag                       bool
	}{
		{"bob", "p1", "ORGANIZER;CN=Alice:mailto:alice@example.test", `SENT-BY="mailto:bob@example.test"`, false},
		{"bob", "p2", "ORGANIZER;SENT-BY=\"mailto:carol@example.test\":mailto:ALICE@example.test", `SENT-BY="mailto:bob@example.test"`, false},
		{"bob", "p3", "ORGANIZER:mailto:a.owner@example.test", `SENT-BY="mailto:bob@example.test"`, false}, // alice's alias
		{addr("bob") + `\` + addr("alice"), "p4", "ORGANIZER:mailto:alice@example.test", `SENT-BY="mailto:bob@example.test"`, false},
		{"bob", "p5", "ORGANIZER:mailto:zed@other.test", "", true},
		{"alice", "p6", "ORGANIZER:mailto:alice@example.test", "", true},
	} {
		sent := invite(tc.uid, tc.organizer)
		code, body, h := e.do(tc.user, http.MethodPut, cal+tc.uid+".ics", icsHeader, sent)
		if code != http.StatusCreated || (h.Get("ETag") != "") != tc.etag {
			t.Errorf("%s: PUT %s = %d %s, ETag %q", tc.user, tc.uid, code, body, h.Get("ETag"))
		}
		_, stored, _ := e.do("alice", http.MethodGet, cal+tc.uid+".ics", nil, "")
		switch {
		case tc.want == "" && stored != sent:
			t.Errorf("%s: %s stored as %q, sent %q", tc.user, tc.uid, stored, sent)
		case tc.want != "" && (!strings.Contains(stored, tc.want) || strings.Contains(stored, "carol")):
			t.Errorf("%s: %s stored without %s:\n%s", tc.user, tc.uid, tc.want, stored)
		}
	}
}

// TestDelegateDiscovery: a user's principal lists in
// calendar-proxy-write-for the mailboxes it has effective Full Access to
// (bob: alice and info@; gina, whose grant is pending: none), and the
// principal of such an owner gives its calendar home set, so a client
// goes from the delegate's principal to the owner's calendars.
func TestDelegateDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxyFor := func(user string) []string {
		t.Helper()
		code, body, _ := e.do(user, "PROPFIND", principalPath(addr(user)), map[string]string{"Content-Type": "application/xml", "Depth": "0"},
			`<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>`+
				`<CS:calendar-proxy-write-for/><CS:calendar-proxy-read-for/><D:current-user-principal/></D:prop></D:propfind>`)
		var ms struct {
			Propstats []struct {
				Prop struct {
					Write *struct {
						Hrefs []string `xml:"DAV: href"`
					} `xml:"http://calendarserver.org/ns/ calendar-proxy-write-for"`
					Read *struct{} `xml:"http://calendarserver.org/ns/ calendar-proxy-read-for"`
				} `xml:"DAV: prop"`
				Status string `xml:"DAV: status"`
			} `xml:"DAV: response>propstat"`
		}
		if err := xml.Unmarshal([]byte(body), &ms); code != http.StatusMultiStatus || err != nil {
			t.Fatalf("%s: PROPFIND of the principal = %d %s (%v)", user, code, body, err)
		}
		for _, ps := range ms.Propstats {
			if ps.Prop.Write != nil && ps.Prop.Read != nil && strings.Contains(ps.Status, "200") {
				return ps.Prop.Write.Hrefs
			}
		}
		t.Fatalf("%s: no calendar-proxy-*-for in %s", user, body)
		return nil
	}
	if got, want := proxyFor("bob"), []string{principalPath(addr("alice")), principalPath(addr("info"))}; !slices.Equal(got, want) {
		t.Errorf("bob: calendar-proxy-write-for = %v, want %v", got, want)
	}
	if got := proxyFor("gina"); len(got) != 0 {
		t.Errorf("gina (pending): calendar-proxy-write-for = %v, want none", got)
	}
	if got := proxyFor("frank"); !slices.Equal(got, []string{principalPath(addr("alice"))}) {
		t.Errorf("frank (through sales@): calendar-proxy-write-for = %v", got)
	}
	// From alice's principal to her calendars, as bob.
	c := e.client("bob")
	ctx := context.Background()
	home, err := c.FindCalendarHomeSet(ctx, principalPath(addr("alice")))
	if err != nil || home != homePath(addr("alice")) {
		t.Fatalf("bob: alice's calendar-home-set = %q, %v", home, err)
	}
	cals, err := c.FindCalendars(ctx, home)
	if err != nil || len(cals) != 1 || cals[0].Path != defaultCal("alice") {
		t.Errorf("bob: alice's calendars = %+v, %v", cals, err)
	}
	code, body, _ := e.do("bob", "PROPFIND", principalPath(addr("alice")), map[string]string{"Depth": "0"}, "")
	if code != http.StatusMultiStatus || !strings.Contains(body, "<D:principal/>") || !strings.Contains(body, "Alice Owner") {
		t.Errorf("bob: PROPFIND of alice's principal without a body = %d %s", code, body)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("bob"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	if got := proxyFor("bob"); !slices.Equal(got, []string{principalPath(addr("info"))}) {
		t.Errorf("bob after revocation: calendar-proxy-write-for = %v", got)
	}
	if code, _, _ := e.do("bob", "PROPFIND", principalPath(addr("alice")), map[string]string{"Depth": "0"}, ""); code != http.StatusNotFound {
		t.Errorf("bob after revocation: PROPFIND of alice's principal = %d, want 404", code)
	}
}
