package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/calobj"
)

// vevent is an iCalendar object of one event, with CRLF line ends and a
// folded description, as a CalDAV client sends it.
func vevent(uid, extra string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20261201T080000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nSUMMARY:Meeting, \"quoted\"\r\n" +
		"DESCRIPTION:a long line that is folded\r\n  onto the next one\r\n" + extra + "END:VEVENT\r\nEND:VCALENDAR\r\n"
}

const vtodo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:task-1\r\nDTSTAMP:20261201T080000Z\r\n" +
	"DUE:20261203T170000Z\r\nSUMMARY:File the report\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"

// putObject stores data as a CalDAV PUT would.
func putObject(t *testing.T, st Store, cal uint64, name, data string) storage.CalendarObject {
	t.Helper()
	_, o, err := calobj.Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	o.Calendar, o.Name = cal, name
	if o, err = st.PutCalendarObject(o, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	return o
}

func principalID(t *testing.T, s *Service, addr string) delegation.ID {
	t.Helper()
	p, ok := s.st.Directory().Lookup(addr)
	if !ok {
		t.Fatalf("no %s", addr)
	}
	return p.ID
}

// calendarService is a store with a.test (alice, bob, desk@) and b.test
// (zed), and calendars: alice's default with two events, her "work" with
// one, desk@'s default with a task, zed's default with an event.
func calendarService(t *testing.T) *Service {
	ctx := context.Background()
	s := newService(t)
	if _, err := s.Import(ctx, ImportArgs{Content: "kind,domain,address,password_hash\ntenant,a.test,,\ntenant,b.test,,\n" +
		"user,,alice@a.test," + testHash + "\nuser,,bob@a.test," + testHash + "\nshared,,desk@a.test,\nuser,,zed@b.test," + testHash + "\n"}); err != nil {
		t.Fatal(err)
	}
	alice := principalID(t, s, "alice@a.test")
	def, err := s.st.EnsureDefaultCalendar(alice)
	if err != nil {
		t.Fatal(err)
	}
	work, err := s.st.CreateCalendar(alice, "work", "Work, \"office\"", "#00ff00")
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, s.st, def.ID, "b.ics", vevent("b", ""))
	putObject(t, s.st, def.ID, "a.ics", vevent("a", "CLASS:PRIVATE\r\n"))
	putObject(t, s.st, work.ID, "w.ics", vevent("w", ""))
	desk, err := s.st.EnsureDefaultCalendar(principalID(t, s, "desk@a.test"))
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, s.st, desk.ID, "task-1.ics", vtodo)
	zed, err := s.st.EnsureDefaultCalendar(principalID(t, s, "zed@b.test"))
	if err != nil {
		t.Fatal(err)
	}
	putObject(t, s.st, zed.ID, "z.ics", vevent("z", ""))
	return s
}

// Export writes the calendars and their objects after the directory,
// sorted; importing it into an empty store and exporting again gives the
// same file, in both formats, with the objects' bytes (so ETags) kept.
func TestExportImportCalendarsRoundTrip(t *testing.T) {
	ctx := context.Background()
	a := calendarService(t)
	for _, format := range []string{FormatCSV, FormatJSONL} {
		t.Run(format, func(t *testing.T) {
			first, err := a.Export(ctx, ExportArgs{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if first.Counts[storage.BatchCalendar] != 4 || first.Counts[storage.BatchCalendarObject] != 5 {
				t.Errorf("export counts %v, want 4 calendars and 5 objects", first.Counts)
			}
			// After the directory, by owner, calendar, object.
			var order []string
			for _, l := range strings.Split(first.Content, "\n") {
				for _, k := range []string{"calendar_object", "calendar", "grant", "user"} {
					if strings.HasPrefix(l, k+",") || strings.HasPrefix(l, `{"kind":"`+k+`"`) {
						order = append(order, k)
						break
					}
				}
			}
			if i := slices.Index(order, "calendar"); i < 0 || slices.Contains(order[i:], "user") {
				t.Errorf("calendars are not after the directory: %v", order)
			}
			for _, want := range [][2]string{{"a.ics", "b.ics"}, {"b.ics", "w.ics"}, {"w.ics", "task-1.ics"}, {"task-1.ics", "z.ics"}} {
				if i, j := strings.Index(first.Content, want[0]), strings.Index(first.Content, want[1]); i < 0 || j < i {
					t.Errorf("%s is not before %s in the export", want[0], want[1])
				}
			}
			b := newService(t)
			res, err := b.Import(ctx, ImportArgs{Content: first.Content, By: "cli:other"})
			if err != nil {
				t.Fatalf("import of an export: %v\n%s", err, first.Content)
			}
			if res.Counts[storage.BatchCalendarObject] != 5 {
				t.Errorf("import counts %v", res.Counts)
			}
			second, err := b.Export(ctx, ExportArgs{Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if second.Content != first.Content {
				t.Errorf("export → import → export differs:\n%s\n---\n%s", first.Content, second.Content)
			}
			for _, addr := range []string{"alice@a.test", "desk@a.test", "zed@b.test"} {
				ca, _ := a.st.Calendars(principalID(t, a, addr))
				cb, _ := b.st.Calendars(principalID(t, b, addr))
				if len(ca) != len(cb) {
					t.Fatalf("%s: %d calendars after the import, want %d", addr, len(cb), len(ca))
				}
				for i := range ca {
					oa, _ := a.st.CalendarObjects(ca[i].ID)
					ob, _ := b.st.CalendarObjects(cb[i].ID)
					if len(oa) != len(ob) || cb[i].Seq != uint64(len(ob))+1 {
						t.Errorf("%s/%s: %d objects, seq %d; want %d", addr, cb[i].Name, len(ob), cb[i].Seq, len(oa))
						continue
					}
					for j := range oa {
						if oa[j].ETag != ob[j].ETag || !oa[j].Start.Equal(ob[j].Start) || !oa[j].End.Equal(ob[j].End) {
							t.Errorf("%s/%s/%s: imported as %+v, was %+v", addr, cb[i].Name, ob[j].Name, ob[j], oa[j])
						}
					}
				}
			}
		})
	}
	none, err := a.Export(ctx, ExportArgs{NoCalendars: true})
	if err != nil || strings.Contains(none.Content, "calendar") || strings.Contains(none.Content, "VEVENT") || !strings.Contains(none.Content, "alice@a.test") {
		t.Errorf("Export(NoCalendars) = %v:\n%s", err, none.Content)
	}
	one, err := a.Export(ctx, ExportArgs{Tenant: "a.test"})
	if err != nil || strings.Contains(one.Content, "b.test") || !strings.Contains(one.Content, "task-1.ics") || one.Counts[storage.BatchCalendarObject] != 4 {
		t.Errorf("Export(a.test) = %v, %v:\n%s", err, one.Counts, one.Content)
	}
}

// A bad iCalendar line in the middle of a file is named, with the other
// bad calendar lines, and nothing of the file is applied: not its
// directory lines either.
func TestImportCalendarBadLines(t *testing.T) {
	ctx := context.Background()
	s := calendarService(t)
	q := func(v string) string { return `"` + strings.ReplaceAll(v, `"`, `""`) + `"` }
	noUID := strings.Replace(vevent("x", ""), "UID:x\r\n", "", 1)
	journal := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VJOURNAL\r\nUID:j\r\nDTSTAMP:20261201T080000Z\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
	lines := []string{
		"kind,address,calendar,display_name,object,data",
		"user,new@a.test,,,,",                                                                 // 2: fine
		"calendar,new@a.test,default,Calendar,,",                                              // 3: fine
		"calendar_object,new@a.test,default,,e.ics," + q(vevent("e", "")),                     // 4: fine
		"calendar_object,new@a.test,default,,bad.ics," + q("BEGIN:VCALENDAR\r\nnot ical\r\n"), // 6 (its data spans 2 lines)
		"calendar_object,new@a.test,default,,n.ics," + q(noUID),                               // 8: no UID
		"calendar_object,new@a.test,default,,j.ics," + q(journal),                             // no VEVENT/VTODO
		"calendar_object,new@a.test,default,,e2.ics," + q(vevent("e", "")),                    // same UID as line 4
		"calendar,alice@a.test,work,,,",                                                       // alice has it
		"calendar,alice@a.test,default,,,",                                                    // fine: the default
		"calendar_object,alice@a.test,default,,a.ics," + q(vevent("a2", "")),                  // a.ics exists
		"calendar_object,bob@a.test,default,,x.ics," + q(vevent("x", "")),                     // bob has no calendar
	}
	file := strings.Join(lines, "\n") + "\n"
	_, err := s.Import(ctx, ImportArgs{Content: file})
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("Import of bad calendar lines = %v", err)
	}
	var got []string
	for _, l := range ae.Lines {
		got = append(got, fmt.Sprintf("%d", l.Line))
	}
	// Line numbers count the CSV's physical lines: each object spans
	// as many as its data.
	start := 1
	var want []string
	for i, l := range lines {
		if i >= 4 && i != 9 {
			want = append(want, fmt.Sprint(start))
		}
		start += strings.Count(l, "\n") + 1
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("bad lines %v, want %v:\n%s", got, want, ae.Msg)
	}
	for _, frag := range []string{"not valid iCalendar", "no UID", "VJOURNAL", "UID \"e\"", "already", "no calendar default"} {
		if !strings.Contains(ae.Msg, frag) {
			t.Errorf("the error does not say %q:\n%s", frag, ae.Msg)
		}
	}
	if _, ok := s.st.Directory().Lookup("new@a.test"); ok {
		t.Error("a refused import added its user")
	}
	if cals, _ := s.st.Calendars(principalID(t, s, "bob@a.test")); len(cals) != 0 {
		t.Errorf("bob has calendars after a refused import: %v", cals)
	}

	// A tenant administrator's import may not add to another tenant's calendars.
	_, err = s.Import(ctx, ImportArgs{Content: "kind,address,calendar\ncalendar,zed@b.test,more\n", Tenant: "a.test"})
	if !errors.As(err, &ae) || len(ae.Lines) != 1 || !strings.Contains(ae.Lines[0].Msg, "the only one this import may change") {
		t.Errorf("Import(Tenant a.test) of zed's calendar = %v", err)
	}
	// Its own are fine.
	if _, err := s.Import(ctx, ImportArgs{Content: "kind,address,calendar,display_name\ncalendar,bob@a.test,home,Home\n", Tenant: "a.test"}); err != nil {
		t.Errorf("Import(Tenant a.test) of bob's calendar: %v", err)
	}
}
