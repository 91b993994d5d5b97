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

	"github.com/mailgate/mailgate/storage"
)

// TestInvalidObjectIsPrecondition: what is not one valid iCalendar
// object of one VEVENT or VTODO is refused with a CalDAV precondition
// (RFC 4791 §5.3.2.1), never a 500, and nothing is stored.
func TestInvalidObjectIsPrecondition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := defaultCal("alice") + "bad.ics"
	two := strings.Replace(eventICS("a", "A", day, time.Hour), "END:VCALENDAR",
		"BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261201T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR", 1)
	journal := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VJOURNAL\r\nUID:j\r\nDTSTAMP:20261201T080000Z\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
	noUID := strings.Replace(eventICS("x", "No UID", day, time.Hour), "UID:x\r\n", "", 1)
	for _, tc := range []struct {
		name, contentType, body, precond string
	}{
		{"garbage", "text/calendar", "this is not iCalendar", "valid-calendar-data"},
		{"truncated", "text/calendar", eventICS("t", "T", day, time.Hour)[:60], "valid-calendar-data"},
		{"empty", "text/calendar", "", "valid-calendar-data"},
		{"two UIDs", "text/calendar", two, "valid-calendar-object-resource"},
		{"METHOD", "text/calendar", strings.Replace(eventICS("m", "M", day, time.Hour), "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST", 1), "valid-calendar-object-resource"},
		{"no UID", "text/calendar", noUID, "valid-calendar-object-resource"},
		{"VJOURNAL", "text/calendar", journal, "supported-calendar-component"},
		{"vCard", "text/vcard", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n", "supported-calendar-data"},
		{"too big", "text/calendar", eventICS("big", strings.Repeat("x", storage.MaxCalendarObject), day, time.Hour), "max-resource-size"},
	} {
		code, body, _ := e.do("alice", http.MethodPut, p, map[string]string{"Content-Type": tc.contentType}, tc.body)
		if code != http.StatusForbidden || !strings.Contains(body, `urn:ietf:params:xml:ns:caldav`) || !strings.Contains(body, "<C:"+tc.precond+"/>") {
			t.Errorf("PUT %s = %d %q, want 403 with %s", tc.name, code, body, tc.precond)
		}
	}
	cal, _ := e.st.EnsureDefaultCalendar(e.ids["alice"])
	if objs, _ := e.st.CalendarObjects(cal.ID); len(objs) != 0 {
		t.Errorf("stored after refusals: %+v", objs)
	}
	// One UID is one object of the calendar.
	if code, body, _ := e.do("alice", http.MethodPut, defaultCal("alice")+"one.ics", icsHeader, eventICS("same", "One", day, time.Hour)); code != http.StatusCreated {
		t.Fatalf("PUT one.ics = %d %s", code, body)
	}
	code, body, _ := e.do("alice", http.MethodPut, defaultCal("alice")+"two.ics", icsHeader, eventICS("same", "Two", day, time.Hour))
	if code != http.StatusForbidden || !strings.Contains(body, "<C:no-uid-conflict/>") {
		t.Errorf("PUT of a UID in use = %d %q, want 403 no-uid-conflict", code, body)
	}
	// PUT into a collection or a home set is not an object.
	if code, _, _ := e.do("alice", http.MethodPut, defaultCal("alice"), icsHeader, eventICS("c", "C", day, time.Hour)); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT on a calendar = %d, want 405", code)
	}
}

// TestETagPreconditions: If-Match and If-None-Match on PUT and DELETE
// (RFC 9110 §13.1) give 412 when the object is not as expected.
func TestETagPreconditions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := defaultCal("alice") + "e.ics"
	hdr := func(k, v string) map[string]string { return map[string]string{"Content-Type": "text/calendar", k: v} }
	v1 := eventICS("e", "One", day, time.Hour)
	if code, _, _ := e.do("alice", http.MethodPut, p, hdr("If-Match", "*"), v1); code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-Match * of a new object = %d, want 412", code)
	}
	code, _, h := e.do("alice", http.MethodPut, p, hdr("If-None-Match", "*"), v1)
	etag := h.Get("ETag")
	if code != http.StatusCreated || etag == "" {
		t.Fatalf("PUT If-None-Match * = %d ETag %q, want 201", code, etag)
	}
	if code, _, _ := e.do("alice", http.MethodPut, p, hdr("If-None-Match", "*"), v1); code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-None-Match * of an existing object = %d, want 412", code)
	}
	v2 := eventICS("e", "Two", day, time.Hour)
	if code, _, _ := e.do("alice", http.MethodPut, p, hdr("If-Match", `"0123"`), v2); code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-Match of another ETag = %d, want 412", code)
	}
	code, _, h = e.do("alice", http.MethodPut, p, hdr("If-Match", etag), v2)
	if code != http.StatusNoContent || h.Get("ETag") == etag {
		t.Errorf("PUT If-Match of the current ETag = %d ETag %q (was %q), want 204 and a new ETag", code, h.Get("ETag"), etag)
	}
	// The old ETag is stale now, for DELETE too.
	if code, _, _ := e.do("alice", http.MethodDelete, p, map[string]string{"If-Match": etag}, ""); code != http.StatusPreconditionFailed {
		t.Errorf("DELETE If-Match of a stale ETag = %d, want 412", code)
	}
	code, body, gh := e.do("alice", http.MethodGet, p, nil, "")
	if code != http.StatusOK || body != v2 || gh.Get("ETag") != h.Get("ETag") || !strings.HasPrefix(gh.Get("Content-Type"), "text/calendar") {
		t.Errorf("GET = %d %q ETag %q", code, body, gh.Get("ETag"))
	}
	if code, _, _ := e.do("alice", http.MethodDelete, p, map[string]string{"If-Match": h.Get("ETag")}, ""); code != http.StatusNoContent {
		t.Errorf("DELETE If-Match of the current ETag = %d, want 204", code)
	}
	if code, _, _ := e.do("alice", http.MethodGet, p, nil, ""); code != http.StatusNotFound {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
}

// TestTimeRangeQuery: calendar-query with a time-range (RFC 4791 §9.9)
// returns the events and tasks that overlap it, recurring ones by their
// occurrences, and nothing else.
func TestTimeRangeQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.client("alice")
	cal := defaultCal("alice")
	todo := func(uid, due string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTODO\r\nUID:" + uid +
			"\r\nDTSTAMP:20261201T080000Z\r\nSUMMARY:" + uid + "\r\nDUE:" + due + "\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
	}
	for name, ics := range map[string]string{
		"morning":  eventICS("morning", "Morning", day.Add(9*time.Hour), time.Hour),                                           // 09:00-10:00
		"noon":     eventICS("noon", "Noon", day.Add(12*time.Hour), time.Hour),                                                // 12:00-13:00
		"tomorrow": eventICS("tomorrow", "Tomorrow", day.Add(33*time.Hour), time.Hour),                                        // next day 09:00
		"lastweek": eventICS("lastweek", "Last week", day.AddDate(0, 0, -7), time.Hour),                                       // a week before
		"weekly":   eventICS("weekly", "Weekly", day.AddDate(0, 0, -14).Add(11*time.Hour), time.Hour, "RRULE:FREQ=WEEKLY"),    // Tuesdays 11:00
		"monthly":  eventICS("monthly", "Monthly", day.AddDate(0, 0, -27).Add(11*time.Hour), time.Hour, "RRULE:FREQ=MONTHLY"), // the 4th, 11:00
		"report":   todo("report", "20261201T170000Z"),
		"taxes":    todo("taxes", "20270401T000000Z"),
	} {
		code, body, _ := e.do("alice", http.MethodPut, cal+name+".ics", icsHeader, ics)
		if code != http.StatusCreated {
			t.Fatalf("PUT %s = %d %s", name, code, body)
		}
	}
	query := func(comp string, start, end time.Time) []string {
		t.Helper()
		q := &caldav.CalendarQuery{CompFilter: caldav.CompFilter{Name: "VCALENDAR",
			Comps: []caldav.CompFilter{{Name: comp, Start: start, End: end}}}}
		objs, err := c.QueryCalendar(ctx, cal, q)
		if err != nil {
			t.Fatal(err)
		}
		var uids []string
		for _, o := range objs {
			uids = append(uids, strings.TrimSuffix(o.Path[strings.LastIndex(o.Path, "/")+1:], ".ics"))
		}
		slices.Sort(uids)
		return uids
	}
	for _, tc := range []struct {
		comp       string
		start, end time.Time
		want       []string
	}{
		{"VEVENT", day, day.Add(24 * time.Hour), []string{"morning", "noon", "weekly"}},
		{"VEVENT", day.Add(10 * time.Hour), day.Add(11 * time.Hour), nil}, // between; touching ends do not overlap
		{"VEVENT", day.Add(9*time.Hour + 30*time.Minute), day.Add(9*time.Hour + 45*time.Minute), []string{"morning"}},
		{"VEVENT", day.Add(11*time.Hour + 30*time.Minute), day.Add(12*time.Hour + 30*time.Minute), []string{"noon", "weekly"}},
		{"VEVENT", day.Add(24 * time.Hour), day.Add(48 * time.Hour), []string{"tomorrow"}},
		{"VEVENT", day.AddDate(0, 0, 3), day.AddDate(0, 0, 4), []string{"monthly"}},              // the 4th
		{"VEVENT", day.AddDate(0, 0, -8), day.AddDate(0, 0, -6), []string{"lastweek", "weekly"}}, // the weekly's first week
		{"VEVENT", day.AddDate(-1, 0, 0), day.AddDate(0, 0, -30), nil},                           // before everything
		{"VTODO", day, day.Add(24 * time.Hour), []string{"report"}},
		{"VTODO", day, day.AddDate(1, 0, 0), []string{"report", "taxes"}},
	} {
		if got := query(tc.comp, tc.start, tc.end); !slices.Equal(got, tc.want) {
			t.Errorf("calendar-query %s [%v, %v) = %v, want %v", tc.comp, tc.start, tc.end, got, tc.want)
		}
	}
}

// syncResult is one sync-collection answer: member hrefs with their
// ETags ("" for removed ones), and the new token.
type syncResult struct {
	etags map[string]string
	token string
}

func (e *env) sync(user, cal, token string) (int, syncResult, string) {
	e.t.Helper()
	body := `<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>` + token +
		`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/><X:unknown xmlns:X="urn:x"/></D:prop></D:sync-collection>`
	code, resp, _ := e.do(user, "REPORT", cal, map[string]string{"Content-Type": "application/xml"}, body)
	if code != http.StatusMultiStatus {
		return code, syncResult{}, resp
	}
	var ms struct {
		Responses []struct {
			Href      string `xml:"DAV: href"`
			Status    string `xml:"DAV: status"`
			Propstats []struct {
				ETag   string `xml:"DAV: prop>getetag"`
				Status string `xml:"DAV: status"`
			} `xml:"DAV: propstat"`
		} `xml:"DAV: response"`
		Token string `xml:"DAV: sync-token"`
	}
	if err := xml.Unmarshal([]byte(resp), &ms); err != nil {
		e.t.Fatalf("sync-collection answer %q: %v", resp, err)
	}
	r := syncResult{etags: map[string]string{}, token: ms.Token}
	for _, x := range ms.Responses {
		name := x.Href[strings.LastIndex(x.Href, "/")+1:]
		switch {
		case strings.Contains(x.Status, "404"):
			r.etags[name] = ""
		case len(x.Propstats) == 2 && strings.Contains(x.Propstats[0].Status, "200") && strings.Contains(x.Propstats[1].Status, "404"):
			r.etags[name] = x.Propstats[0].ETag
		default:
			e.t.Errorf("sync-collection response %+v", x)
		}
	}
	return code, r, resp
}

// TestSyncCollection: sync-collection (RFC 6578) gives every member at
// first, then only what changed (with the new ETag) or went (404), with
// a new token each time; a token not of this calendar is refused with
// DAV:valid-sync-token; a delegate syncs the owner's calendar, a user
// without rights gets 404.
func TestSyncCollection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := defaultCal("alice")
	put := func(user, name, summary string) string {
		t.Helper()
		code, body, h := e.do(user, http.MethodPut, cal+name+".ics", icsHeader, eventICS(name, summary, day, time.Hour))
		if code != http.StatusCreated && code != http.StatusNoContent {
			t.Fatalf("PUT %s = %d %s", name, code, body)
		}
		return h.Get("ETag")
	}
	ea, eb := put("alice", "a", "A"), put("alice", "b", "B")
	code, first, body := e.sync("alice", cal, "")
	if code != http.StatusMultiStatus || len(first.etags) != 2 || first.etags["a.ics"] != ea || first.etags["b.ics"] != eb || first.token == "" {
		t.Fatalf("initial sync = %d %+v %s", code, first, body)
	}
	ea2 := put("bob", "a", "A changed by bob")
	ec := put("alice", "c", "C")
	if code, _, _ := e.do("alice", http.MethodDelete, cal+"b.ics", nil, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE b = %d", code)
	}
	_, second, body := e.sync("bob", cal, first.token)
	if len(second.etags) != 3 || second.etags["a.ics"] != ea2 || second.etags["c.ics"] != ec || second.etags["b.ics"] != "" ||
		second.token == first.token {
		t.Errorf("sync after changes = %+v\n%s", second, body)
	}
	if _, third, _ := e.sync("alice", cal, second.token); len(third.etags) != 0 || third.token != second.token {
		t.Errorf("sync with the current token = %+v, want nothing and the same token", third)
	}
	// The first token still works, and gives the same changes.
	if _, again, _ := e.sync("alice", cal, first.token); len(again.etags) != 3 {
		t.Errorf("sync again from the first token = %+v", again)
	}
	// A token of another calendar, of the future, or not ours.
	work, err := e.st.CreateCalendar(e.ids["alice"], "work", "", "")
	if err != nil {
		t.Fatal(err)
	}
	bad := []string{syncToken(work), first.token[:strings.LastIndex(first.token, ":")] + ":999", "http://example.org/token"}
	for _, tok := range bad {
		if code, _, body := e.sync("alice", cal, tok); code != http.StatusForbidden || !strings.Contains(body, "valid-sync-token") {
			t.Errorf("sync with token %q = %d %s, want 403 valid-sync-token", tok, code, body)
		}
	}
	if code, _, _ := e.sync("dave", cal, ""); code != http.StatusNotFound {
		t.Errorf("dave: sync of alice's calendar = %d, want 404", code)
	}
}

// TestCTag: PROPFIND of a calendar gives its getctag and DAV:sync-token
// (the same token sync-collection starts from), changed by every write,
// and DAV:supported-report-set names sync-collection.
func TestCTag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>` +
		`<D:displayname/><CS:getctag/><D:sync-token/><D:supported-report-set/><D:resourcetype/></D:prop></D:propfind>`
	type props struct {
		Href      string `xml:"DAV: href"`
		Propstats []struct {
			CTag    string `xml:"http://calendarserver.org/ns/ prop>getctag"`
			Token   string `xml:"DAV: prop>sync-token"`
			Reports []struct {
				Inner string `xml:",innerxml"`
			} `xml:"DAV: prop>supported-report-set>supported-report>report"`
			Status string `xml:"DAV: status"`
		} `xml:"DAV: propstat"`
	}
	ctag := func(depth string) (string, string, []string) {
		t.Helper()
		code, resp, _ := e.do("bob", "PROPFIND", homePath(addr("alice")), map[string]string{"Content-Type": "application/xml", "Depth": depth}, body)
		if code != http.StatusMultiStatus {
			t.Fatalf("PROPFIND = %d %s", code, resp)
		}
		var ms struct {
			Responses []props `xml:"DAV: response"`
		}
		if err := xml.Unmarshal([]byte(resp), &ms); err != nil {
			t.Fatalf("PROPFIND answer %q: %v", resp, err)
		}
		for _, r := range ms.Responses {
			if r.Href != defaultCal("alice") {
				continue
			}
			for _, ps := range r.Propstats {
				if strings.Contains(ps.Status, "200") && ps.CTag != "" {
					var reports []string
					for _, rp := range ps.Reports {
						reports = append(reports, rp.Inner)
					}
					return ps.CTag, ps.Token, reports
				}
			}
			t.Fatalf("no getctag for the calendar in %s", resp)
		}
		t.Fatalf("no response for the calendar in %s", resp)
		return "", "", nil
	}
	c1, tok1, reports := ctag("1")
	if c1 != tok1 || !strings.HasPrefix(c1, tokenPrefix) || len(reports) != 3 || !strings.Contains(reports[2], "sync-collection") {
		t.Errorf("getctag %q, sync-token %q, reports %q", c1, tok1, reports)
	}
	if code, _, _ := e.do("bob", http.MethodPut, defaultCal("alice")+"x.ics", icsHeader, eventICS("x", "X", day, time.Hour)); code != http.StatusCreated {
		t.Fatalf("PUT = %d", code)
	}
	if c2, _, _ := ctag("1"); c2 == c1 {
		t.Errorf("getctag unchanged by a PUT: %q", c2)
	}
	if _, sync, _ := e.sync("bob", defaultCal("alice"), tok1); len(sync.etags) != 1 {
		t.Errorf("sync from the PROPFIND's token = %+v", sync)
	}
}

// TestRenameCalendar: PROPPATCH sets a calendar's display name and
// color (a delegate's too); an unknown property fails the whole update.
func TestRenameCalendar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := defaultCal("alice")
	patch := func(user, props string) (int, string) {
		t.Helper()
		code, body, _ := e.do(user, "PROPPATCH", cal, map[string]string{"Content-Type": "application/xml"},
			`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>`+props+
				`</D:prop></D:set></D:propertyupdate>`)
		return code, body
	}
	code, body := patch("bob", `<D:displayname>Alice's agenda</D:displayname><A:calendar-color>#00ff00</A:calendar-color>`)
	if code != http.StatusMultiStatus || strings.Count(body, "200 OK") != 1 || !strings.Contains(body, "calendar-color") {
		t.Errorf("PROPPATCH = %d %s", code, body)
	}
	c, err := e.st.Calendar(e.ids["alice"], storage.DefaultCalendar)
	if err != nil || c.DisplayName != "Alice's agenda" || c.Color != "#00ff00" {
		t.Errorf("calendar after PROPPATCH = %+v, %v", c, err)
	}
	cals, err := e.client("alice").FindCalendars(context.Background(), homePath(addr("alice")))
	if err != nil || len(cals) != 1 || cals[0].Name != "Alice's agenda" {
		t.Errorf("FindCalendars after PROPPATCH = %+v, %v", cals, err)
	}
	code, body = patch("alice", `<D:displayname>Other</D:displayname><D:getetag>x</D:getetag>`)
	if code != http.StatusMultiStatus || !strings.Contains(body, "403 Forbidden") || !strings.Contains(body, "424 Failed Dependency") {
		t.Errorf("PROPPATCH with a protected property = %d %s", code, body)
	}
	if c2, _ := e.st.Calendar(e.ids["alice"], storage.DefaultCalendar); c2.DisplayName != "Alice's agenda" {
		t.Errorf("a failed PROPPATCH changed the name to %q", c2.DisplayName)
	}
	if code, _ := patch("dave", `<D:displayname>Mine</D:displayname>`); code != http.StatusNotFound {
		t.Errorf("dave: PROPPATCH of alice's calendar = %d, want 404", code)
	}
}

// TestBodyLimit: a request body over the limit is refused, not read on.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	huge := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop>` + strings.Repeat(" ", maxBody) + `</D:propfind>`
	code, _, _ := e.do("alice", "PROPFIND", defaultCal("alice"), map[string]string{"Content-Type": "application/xml"}, huge)
	if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
		t.Errorf("PROPFIND with a %d-byte body = %d, want 400 or 413", len(huge), code)
	}
	code, _, _ = e.do("alice", "REPORT", defaultCal("alice"), map[string]string{"Content-Type": "application/xml"}, huge)
	if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
		t.Errorf("REPORT with a %d-byte body = %d, want 400 or 413", len(huge), code)
	}
}
