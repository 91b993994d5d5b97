package dav

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-webdav/caldav"
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
