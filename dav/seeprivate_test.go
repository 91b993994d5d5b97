package dav

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDelegatesSeePrivate: with alice's DelegatesSeePrivate on, bob (Full
// Access) reads her private event in full by GET and calendar-multiget
// and may change it, from the next request; off again, it is busy time
// only and read-only for him; alice sees it whole throughout.
func TestDelegatesSeePrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := defaultCal("alice")
	p := cal + "doctor.ics"
	private := eventICS("doctor", "Doctor", day.Add(15*time.Hour), time.Hour, "CLASS:PRIVATE", "LOCATION:Clinic")
	if code, body, _ := e.do("alice", http.MethodPut, p, icsHeader, private); code != http.StatusCreated {
		t.Fatalf("PUT = %d %s", code, body)
	}
	multiget := `<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
		`<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>` + p + `</D:href></C:calendar-multiget>`
	bobSees := func(how string, full bool) {
		t.Helper()
		code, got, _ := e.do("bob", http.MethodGet, p, nil, "")
		if code != http.StatusOK {
			t.Errorf("%s: bob's GET = %d, want 200", how, code)
		}
		_, multi, _ := e.do("bob", "REPORT", cal, map[string]string{"Content-Type": "application/xml", "Depth": "1"}, multiget)
		for what, s := range map[string]string{"GET": got, "multiget": multi} {
			// BEGIN:VEVENT: the event is shown (busy time at least), not
			// a 404 that would lack Clinic and Doctor too.
			if strings.Contains(s, "Clinic") != full || strings.Contains(s, "Doctor") != full || !strings.Contains(s, "doctor") ||
				!strings.Contains(s, "BEGIN:VEVENT") {
				t.Errorf("%s: bob's %s (full %t):\n%s", how, what, full, s)
			}
		}
	}
	bobSees("setting off (the default)", false)
	if _, err := e.st.SetDelegatesSeePrivate(addr("alice"), true); err != nil {
		t.Fatal(err)
	}
	bobSees("setting on", true)
	changed := eventICS("doctor", "Doctor (moved)", day.Add(16*time.Hour), time.Hour, "CLASS:PRIVATE", "LOCATION:Clinic")
	if code, body, _ := e.do("bob", http.MethodPut, p, icsHeader, changed); code != http.StatusNoContent {
		t.Errorf("setting on: bob's PUT over the private event = %d %s, want 204", code, body)
	}
	if _, got, _ := e.do("alice", http.MethodGet, p, nil, ""); got != changed {
		t.Errorf("alice after bob's change: %q", got)
	}
	if _, err := e.st.SetDelegatesSeePrivate(addr("alice"), false); err != nil {
		t.Fatal(err)
	}
	bobSees("setting off again", false)
	if code, _, _ := e.do("bob", http.MethodDelete, p, nil, ""); code != http.StatusForbidden {
		t.Errorf("setting off again: bob's DELETE = %d, want 403", code)
	}
	if _, got, _ := e.do("alice", http.MethodGet, p, nil, ""); got != changed {
		t.Errorf("alice: %q", got)
	}
}
