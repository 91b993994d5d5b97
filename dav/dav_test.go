package dav

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

var day = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// TestOwnerCRUD: alice discovers her principal, home set and default
// calendar, and creates, reads, queries, changes and deletes events and
// calendars with go-webdav's client.
func TestOwnerCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.client("alice")
	principal, err := c.FindCurrentUserPrincipal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if principal != principalPath(addr("alice")) {
		t.Errorf("current-user-principal = %q", principal)
	}
	home, err := c.FindCalendarHomeSet(ctx, principal)
	if err != nil {
		t.Fatal(err)
	}
	if home != homePath(addr("alice")) {
		t.Errorf("calendar-home-set = %q", home)
	}
	cals, err := c.FindCalendars(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	if len(cals) != 1 || cals[0].Path != defaultCal("alice") || cals[0].Name != "Calendar" ||
		!slices.Equal(cals[0].SupportedComponentSet, []string{"VEVENT", "VTODO"}) {
		t.Fatalf("calendars = %+v", cals)
	}

	p := defaultCal("alice") + "standup.ics"
	put, err := c.PutCalendarObject(ctx, p, parseICS(t, eventICS("standup", "Standup", day.Add(9*time.Hour), 15*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetCalendarObject(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if summary(t, got.Data) != "Standup" || got.ETag == "" || got.ETag != put.ETag {
		t.Errorf("GET = %q ETag %q, PUT gave ETag %q", summary(t, got.Data), got.ETag, put.ETag)
	}
	multi, err := c.MultiGetCalendar(ctx, defaultCal("alice"), &caldav.CalendarMultiGet{
		Paths: []string{p}, CompRequest: caldav.CalendarCompRequest{AllProps: true, AllComps: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(multi) != 1 || multi[0].Path != p || summary(t, multi[0].Data) != "Standup" {
		t.Errorf("calendar-multiget = %+v", multi)
	}
	// A change: another ETag.
	changed, err := c.PutCalendarObject(ctx, p, parseICS(t, eventICS("standup", "Standup (moved)", day.Add(10*time.Hour), 15*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if changed.ETag == put.ETag {
		t.Errorf("ETag unchanged by a change: %q", changed.ETag)
	}

	// MKCALENDAR with a display name; then PROPFIND lists both.
	code, body, _ := e.do("alice", "MKCALENDAR", homePath(addr("alice"))+"work/", map[string]string{"Content-Type": "application/xml"},
		`<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>`+
			`<D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>`)
	if code != http.StatusCreated {
		t.Fatalf("MKCALENDAR = %d %s", code, body)
	}
	if code, _, _ := e.do("alice", "MKCALENDAR", homePath(addr("alice"))+"work/", nil, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("MKCALENDAR of an existing calendar = %d, want 405", code)
	}
	cals, err = c.FindCalendars(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	if len(cals) != 2 || cals[1].Name != "Work" {
		t.Errorf("calendars after MKCALENDAR = %+v", cals)
	}
	work := homePath(addr("alice")) + "work/"
	if _, err := c.PutCalendarObject(ctx, work+"review.ics", parseICS(t, eventICS("review", "Review", day, time.Hour))); err != nil {
		t.Fatal(err)
	}
	objs, err := c.QueryCalendar(ctx, work, &caldav.CalendarQuery{CompFilter: caldav.CompFilter{Name: "VCALENDAR"}})
	if err != nil || len(objs) != 1 {
		t.Fatalf("query of work = %+v, %v", objs, err)
	}

	// DELETE of an object, of a calendar; the default one stays.
	if err := c.RemoveAll(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetCalendarObject(ctx, p); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("GET after DELETE: %v, want 404", err)
	}
	if err := c.RemoveAll(ctx, work); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.do("alice", http.MethodDelete, defaultCal("alice"), nil, ""); code != http.StatusForbidden {
		t.Errorf("DELETE of the default calendar = %d, want 403", code)
	}
	cals, _ = c.FindCalendars(ctx, home)
	if len(cals) != 1 || cals[0].Path != defaultCal("alice") {
		t.Errorf("calendars after DELETE = %+v", cals)
	}
	if st, err := e.st.Calendar(e.ids["alice"], "work"); err == nil {
		t.Errorf("work still stored: %+v", st)
	}
}

// TestDelegateCRUD: Full Access on alice (bob directly, frank through
// sales@) is read and write on her calendars; what a delegate writes the
// owner reads and the other way round; a delegate login (bob\alice) has
// alice's principal as its home; first access per calendar is audited
// once.
func TestDelegateCRUD(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	alice, bob, frank := e.client("alice"), e.client("bob"), e.client("frank")
	own := defaultCal("alice")
	if _, err := alice.PutCalendarObject(ctx, own+"board.ics", parseICS(t, eventICS("board", "Board meeting", day.Add(14*time.Hour), time.Hour))); err != nil {
		t.Fatal(err)
	}
	// bob reads alice's home set and calendar, and writes there.
	cals, err := bob.FindCalendars(ctx, homePath(addr("alice")))
	if err != nil || len(cals) != 1 || cals[0].Path != own {
		t.Fatalf("bob: alice's calendars = %+v, %v", cals, err)
	}
	got, err := bob.GetCalendarObject(ctx, own+"board.ics")
	if err != nil || summary(t, got.Data) != "Board meeting" {
		t.Fatalf("bob: GET alice's event = %v", err)
	}
	if _, err := bob.PutCalendarObject(ctx, own+"dentist.ics", parseICS(t, eventICS("dentist", "Dentist", day.Add(8*time.Hour), time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.GetCalendarObject(ctx, own+"dentist.ics"); err != nil || summary(t, got.Data) != "Dentist" {
		t.Errorf("alice: GET of bob's event: %v", err)
	}
	// frank, through the group, edits and deletes.
	if _, err := frank.PutCalendarObject(ctx, own+"board.ics", parseICS(t, eventICS("board", "Board meeting (room 2)", day.Add(14*time.Hour), time.Hour))); err != nil {
		t.Fatal(err)
	}
	if got, _ := alice.GetCalendarObject(ctx, own+"board.ics"); got == nil || summary(t, got.Data) != "Board meeting (room 2)" {
		t.Errorf("alice does not see frank's edit")
	}
	if err := frank.RemoveAll(ctx, own+"dentist.ics"); err != nil {
		t.Fatal(err)
	}
	objs, err := alice.QueryCalendar(ctx, own, &caldav.CalendarQuery{CompFilter: caldav.CompFilter{Name: "VCALENDAR"}})
	if err != nil || len(objs) != 1 {
		t.Errorf("alice's calendar after frank's delete = %d objects, %v", len(objs), err)
	}
	// bob makes a calendar for alice and on the shared mailbox info@.
	if code, body, _ := e.do("bob", "MKCALENDAR", homePath(addr("alice"))+"travel/", nil, ""); code != http.StatusCreated {
		t.Errorf("bob: MKCALENDAR for alice = %d %s", code, body)
	}
	if _, err := e.st.Calendar(e.ids["alice"], "travel"); err != nil {
		t.Errorf("alice's travel calendar: %v", err)
	}
	if _, err := bob.PutCalendarObject(ctx, defaultCal("info")+"fair.ics", parseICS(t, eventICS("fair", "Trade fair", day, 8*time.Hour))); err != nil {
		t.Errorf("bob: PUT on info@'s calendar: %v", err)
	}
	// bob\alice: alice's principal and home set.
	as := e.client(addr("bob") + `\` + addr("alice"))
	principal, err := as.FindCurrentUserPrincipal(ctx)
	if err != nil || principal != principalPath(addr("alice")) {
		t.Errorf(`bob\alice: current-user-principal = %q, %v`, principal, err)
	}
	home, err := as.FindCalendarHomeSet(ctx, principal)
	if err != nil || home != homePath(addr("alice")) {
		t.Errorf(`bob\alice: calendar-home-set = %q, %v`, home, err)
	}
	// Audit: one calendar_bind per calendar for bob, however many requests.
	var binds []string
	for _, r := range e.auditBinds("bob") {
		if r.Decision != storage.AuditAllowed || r.Right != delegation.FullAccess.Flags() || r.Proto != "caldav" {
			t.Errorf("bob's calendar_bind = %+v", r)
		}
		binds = append(binds, r.Mailbox+"/"+r.Folder)
	}
	slices.Sort(binds)
	want := []string{addr("alice") + "/default", addr("alice") + "/travel", addr("info") + "/default"}
	if !slices.Equal(binds, want) {
		t.Errorf("bob's calendar_bind records = %v, want %v", binds, want)
	}
	if n := len(e.auditBinds("alice")); n != 0 {
		t.Errorf("alice's own access audited: %d records", n)
	}
}

// noAccess is what a user without effective Full Access on alice tries,
// each answered 404 like a URL that does not exist.
func noAccess(t *testing.T, e *env, user string) {
	t.Helper()
	base := principalPath(addr("alice"))
	propfind := map[string]string{"Content-Type": "application/xml", "Depth": "1"}
	allprop := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`
	query := `<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
		`<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>`
	multiget := `<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
		`<D:prop><C:calendar-data/></D:prop><D:href>` + defaultCal("alice") + `board.ics</D:href></C:calendar-multiget>`
	for _, tc := range []struct {
		method, path string
		hdr          map[string]string
		body         string
	}{
		{"PROPFIND", base, propfind, allprop},
		{"PROPFIND", base + "calendars/", propfind, allprop},
		{"PROPFIND", defaultCal("alice"), propfind, allprop},
		{"PROPFIND", defaultCal("alice") + "board.ics", propfind, allprop},
		{"PROPFIND", base + "calendars/work/", propfind, allprop},    // exists: guessed
		{"PROPFIND", base + "calendars/nothere/", propfind, allprop}, // does not
		{"REPORT", defaultCal("alice"), propfind, query},
		{"REPORT", base + "calendars/work/", propfind, query},
		{"REPORT", defaultCal("alice"), propfind, multiget},
		{"GET", defaultCal("alice") + "board.ics", nil, ""},
		{"GET", base + "calendars/work/secret.ics", nil, ""},
		{"GET", defaultCal("alice") + "guessed.ics", nil, ""},
		{"PUT", defaultCal("alice") + "board.ics", icsHeader, eventICS("board", "Hijacked", day, time.Hour)},
		{"PUT", defaultCal("alice") + "new.ics", icsHeader, eventICS("new", "Planted", day, time.Hour)},
		{"DELETE", defaultCal("alice") + "board.ics", nil, ""},
		{"DELETE", base + "calendars/work/", nil, ""},
		{"MKCALENDAR", base + "calendars/planted/", nil, ""},
		{"PROPPATCH", defaultCal("alice"), propfind, `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>` +
			`<D:displayname>Mine</D:displayname></D:prop></D:set></D:propertyupdate>`},
		{"OPTIONS", defaultCal("alice"), nil, ""},
	} {
		code, body, _ := e.do(user, tc.method, tc.path, tc.hdr, tc.body)
		if code != http.StatusNotFound {
			t.Errorf("%s: %s %s = %d %q, want 404", user, tc.method, tc.path, code, body)
			continue
		}
		// The same answer as for an address nobody has.
		nobody := strings.Replace(tc.path, addr("alice"), addr("nobody"), 1)
		if code2, body2, _ := e.do(user, tc.method, nobody, tc.hdr, tc.body); code2 != code || body2 != body {
			t.Errorf("%s: %s %s = %d %q, for a missing address %d %q", user, tc.method, tc.path, code, body, code2, body2)
		}
	}
	// go-webdav's client too.
	c := e.client(user)
	if _, err := c.FindCalendars(context.Background(), base+"calendars/"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("%s: FindCalendars(alice) = %v, want 404", user, err)
	}
	if _, err := c.GetCalendarObject(context.Background(), defaultCal("alice")+"board.ics"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("%s: GetCalendarObject(alice's) = %v, want 404", user, err)
	}
}

// seedAlice gives alice an event in her default calendar and a calendar
// "work" with one, to be guessed at.
func seedAlice(t *testing.T, e *env) {
	t.Helper()
	cal, err := e.st.EnsureDefaultCalendar(e.ids["alice"])
	if err != nil {
		t.Fatal(err)
	}
	work, err := e.st.CreateCalendar(e.ids["alice"], "work", "Work", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []storage.CalendarObject{
		{Calendar: cal.ID, Name: "board.ics", UID: "board", Data: []byte(eventICS("board", "Board", day, time.Hour))},
		{Calendar: work.ID, Name: "secret.ics", UID: "secret", Data: []byte(eventICS("secret", "Secret", day, time.Hour))},
	} {
		o.Component = ical.CompEvent
		if _, err := e.st.PutCalendarObject(o, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNoRightsIs404: dave (no grant), gina (a pending grant), zed
// (another tenant) and carol (Send on Behalf only) reach nothing of
// alice's, and it stays as it was.
func TestNoRightsIs404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedAlice(t, e)
	before, _ := e.st.Calendars(e.ids["alice"])
	for _, u := range []string{"dave", "gina", "zed@other.test", "carol"} {
		noAccess(t, e, u)
	}
	after, _ := e.st.Calendars(e.ids["alice"])
	if !slices.Equal(before, after) {
		t.Errorf("alice's calendars changed: %+v → %+v", before, after)
	}
	cal, _ := e.st.Calendar(e.ids["alice"], storage.DefaultCalendar)
	o, err := e.st.CalendarObject(cal.ID, "board.ics")
	if err != nil || !strings.Contains(string(o.Data), "SUMMARY:Board\r\n") {
		t.Errorf("alice's board.ics = %q, %v", o.Data, err)
	}
	// A refused attempt is audited once per calendar name and window.
	var names []string
	for _, r := range e.auditBinds("dave") {
		if r.Decision != storage.AuditRefused || r.Mailbox != addr("alice") || r.Reason != string(delegation.ReasonNoGrant) {
			t.Errorf("dave's calendar_bind = %+v", r)
		}
		names = append(names, r.Folder)
	}
	slices.Sort(names)
	if want := []string{"default", "nothere", "planted", "work"}; !slices.Equal(names, want) {
		t.Errorf("dave's calendar_bind records name %v, want %v", names, want)
	}
}

// TestRevocationRefusesNextRequest: erin reads alice's calendar; the
// grant revoked, her next request is 404, and erin\alice logs in no more.
func TestRevocationRefusesNextRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seedAlice(t, e)
	p := defaultCal("alice") + "board.ics"
	if code, _, _ := e.do("erin", http.MethodGet, p, nil, ""); code != http.StatusOK {
		t.Fatalf("erin: GET before revocation = %d", code)
	}
	as := addr("erin") + `\` + addr("alice")
	if code, _, _ := e.do(as, http.MethodGet, p, nil, ""); code != http.StatusOK {
		t.Fatalf(`erin\alice: GET before revocation = %d`, code)
	}
	if _, err := e.st.RemoveGrant(addr("alice"), addr("erin"), delegation.FullAccess); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.do("erin", http.MethodGet, p, nil, ""); code != http.StatusNotFound {
		t.Errorf("erin: GET after revocation = %d, want 404", code)
	}
	if code, _, _ := e.do(as, http.MethodGet, p, nil, ""); code != http.StatusUnauthorized {
		t.Errorf(`erin\alice: GET after revocation = %d, want 401`, code)
	}
	noAccess(t, e, "erin")
}

// TestAuthentication: no credentials, a wrong password and an unknown
// user get the same 401; a shared mailbox cannot log in; the well-known
// URL sends to the principal.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, _, hdr := e.do("", "PROPFIND", "/dav/", nil, "")
	if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("no credentials: %d, WWW-Authenticate %q", code, hdr.Get("WWW-Authenticate"))
	}
	answer := func(login, pass string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.base+defaultCal("alice")+"x.ics", nil)
		req.SetBasicAuth(login, pass)
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	c1, b1 := answer(addr("alice"), "wrong")
	c2, b2 := answer(addr("nobody"), "wrong")
	c3, b3 := answer(addr("info"), "")
	c4, b4 := answer(addr("dave")+`\`+addr("alice"), "correct horse")
	if c1 != http.StatusUnauthorized || c2 != c1 || b2 != b1 || c3 != c1 || b3 != b1 || c4 != c1 || b4 != b1 {
		t.Errorf("wrong password %d %q, unknown user %d %q, shared mailbox %d %q, refused delegate %d %q: want one 401",
			c1, b1, c2, b2, c3, b3, c4, b4)
	}
	code, _, hdr = e.do("bob", "PROPFIND", "/.well-known/caldav", nil, "")
	if code != http.StatusMovedPermanently || hdr.Get("Location") != principalPath(addr("bob")) {
		t.Errorf("/.well-known/caldav = %d to %q", code, hdr.Get("Location"))
	}
}

// TestPendingGrantCountsFromItsInstant: gina's Full Access on alice is
// pending for the tenant's propagation delay: 404 until its effective
// time, read and write from then on, with no new login.
func TestPendingGrantCountsFromItsInstant(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	e := newEnvAt(t, clock.Now)
	seedAlice(t, e)
	p := defaultCal("alice") + "board.ics"
	if code, _, _ := e.do("gina", http.MethodGet, p, nil, ""); code != http.StatusNotFound {
		t.Fatalf("gina: GET while pending = %d, want 404", code)
	}
	clock.Add(testdir.Propagation - time.Second)
	if code, _, _ := e.do("gina", http.MethodGet, p, nil, ""); code != http.StatusNotFound {
		t.Errorf("gina: GET a second before the grant's instant = %d, want 404", code)
	}
	clock.Add(time.Second)
	if code, _, _ := e.do("gina", http.MethodGet, p, nil, ""); code != http.StatusOK {
		t.Errorf("gina: GET at the grant's instant = %d, want 200", code)
	}
	if code, _, _ := e.do("gina", http.MethodPut, defaultCal("alice")+"g.ics", icsHeader, eventICS("g", "G", day, time.Hour)); code != http.StatusCreated {
		t.Errorf("gina: PUT at the grant's instant = %d, want 201", code)
	}
}
