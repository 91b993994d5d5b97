package dav

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
	"github.com/mailgate/mailgate/storage/calobj"
	"github.com/mailgate/mailgate/storage/postgres"
)

// The benchmarks of issue 13, on a real HTTPS listener and raw HTTP as a
// client sends it, on each backend:
//
//	multiget-1000/{owner,delegate}  one calendar-multiget REPORT naming all
//	                                1,000 events of a calendar, with their data
//	sync-collection-10k             one sync-collection REPORT after one change
//	                                in a 10,000-event calendar
//	query-day-10k                   one calendar-query of a day (about 27 events)
//	                                in the 10,000-event calendar
//
// Each reports the latency of one request at the 50th and 99th
// percentile (p50-ms, p99-ms) besides ns/op. Run:
//
//	go test -run '^$' -bench CalDAV -benchtime 200x ./dav/
//
// The calendars are made once per backend (through the store, not timed).
func BenchmarkCalDAV(b *testing.B) {
	for _, name := range []string{"badger", "postgres"} {
		b.Run(name, func(b *testing.B) {
			var st storage.Backend
			if name == "badger" {
				s, err := storage.Open(b.TempDir(), storage.Options{Logger: testenv.Logger(b)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				st = s
			} else {
				s, err := postgres.Open(context.Background(), testenv.Postgres(b), postgres.Options{Logger: testenv.Logger(b)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				st = s
			}
			benchCalDAV(b, st)
		})
	}
}

func benchCalDAV(b *testing.B, st storage.Backend) {
	be := newBenchEnv(b, st)
	small := be.calendar("small", 1000)
	big := be.calendar("big", 10000)

	multiget := func(login string) func(b *testing.B) {
		var body strings.Builder
		body.WriteString(`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>`)
		for _, n := range small.names {
			body.WriteString("<D:href>" + objectPath(addr("alice"), small.cal.Name, n) + "</D:href>")
		}
		body.WriteString(`</C:calendar-multiget>`)
		return func(b *testing.B) {
			be.measure(b, func(i int) time.Duration {
				t0 := time.Now()
				resp := be.report(login, calendarPath(addr("alice"), small.cal.Name), body.String())
				d := time.Since(t0)
				if n := strings.Count(resp, "<calendar-data"); n != len(small.names) {
					b.Fatalf("multiget answered %d objects, not %d", n, len(small.names))
				}
				return d
			})
		}
	}
	b.Run("multiget-1000/owner", multiget("alice"))
	b.Run("multiget-1000/delegate", multiget("bob"))

	b.Run("sync-collection-10k", func(b *testing.B) {
		token := syncToken(be.reload(big.cal))
		be.measure(b, func(i int) time.Duration {
			name := big.names[i%len(big.names)]
			be.put(big.cal.ID, name, fmt.Sprintf("changed %d", i), big.start[name])
			t0 := time.Now()
			resp := be.report("bob", calendarPath(addr("alice"), big.cal.Name),
				`<D:sync-collection xmlns:D="DAV:"><D:sync-token>`+token+`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`)
			d := time.Since(t0)
			if n := strings.Count(resp, "<D:response>"); n != 1 || !strings.Contains(resp, name) {
				b.Fatalf("sync-collection after one change answered %d responses: %.300s", n, resp)
			}
			_, rest, _ := strings.Cut(resp, "<D:sync-token>")
			token, _, _ = strings.Cut(rest, "</D:sync-token>")
			return d
		})
	})

	b.Run("query-day-10k", func(b *testing.B) {
		day := benchStart.AddDate(0, 0, 100)
		q := `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>` +
			`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="` + day.Format("20060102T150405Z") +
			`" end="` + day.AddDate(0, 0, 1).Format("20060102T150405Z") + `"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`
		want := 0
		for _, s := range big.start {
			if !s.Before(day) && s.Before(day.AddDate(0, 0, 1)) {
				want++
			}
		}
		be.measure(b, func(i int) time.Duration {
			t0 := time.Now()
			resp := be.report("bob", calendarPath(addr("alice"), big.cal.Name), q)
			d := time.Since(t0)
			if n := strings.Count(resp, "<calendar-data"); n != want {
				b.Fatalf("query of a day answered %d objects, not %d", n, want)
			}
			return d
		})
	})
}

// benchStart is the first event's start; the n events of a calendar are
// spread over 365 days from it.
var benchStart = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

type benchEnv struct {
	b    *testing.B
	st   storage.Backend
	ids  map[string]delegation.ID
	base string
	http *http.Client
}

// benchCalendar is a calendar of alice's filled for a benchmark.
type benchCalendar struct {
	cal   storage.Calendar
	names []string
	start map[string]time.Time
}

// newBenchEnv seeds alice and bob (Full Access on alice) in st and serves
// CalDAV over it on 127.0.0.1:0 (HTTPS).
func newBenchEnv(b *testing.B, st storage.Backend) *benchEnv {
	b.Helper()
	be := &benchEnv{b: b, st: st, ids: map[string]delegation.ID{}}
	if _, err := st.AddTenant("example.test", 0); err != nil {
		b.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		p, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: addr(u), Name: u, PasswordHash: testdir.PasswordHash()})
		if err != nil {
			b.Fatal(err)
		}
		be.ids[u] = p.ID
	}
	if _, err := st.AddGrant(storage.NewGrant{Mailbox: addr("alice"), Trustee: addr("bob"), Right: delegation.FullAccess, Immediate: true, CreatedBy: "bench"}); err != nil {
		b.Fatal(err)
	}
	tlsCfg, pool := testenv.SelfSigned(b, "dav.example.test")
	srv := New(Config{TLS: tlsCfg, Auth: auth.New(st, st.Now)}, st, testenv.Logger(b))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	be.base = "https://" + ln.Addr().String()
	be.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: time.Minute}
	b.Cleanup(be.http.CloseIdleConnections)
	return be
}

// calendar makes alice's calendar name with n one-hour events.
func (be *benchEnv) calendar(name string, n int) benchCalendar {
	be.b.Helper()
	cal, err := be.st.CreateCalendar(be.ids["alice"], name, name, "")
	if err != nil {
		be.b.Fatal(err)
	}
	bc := benchCalendar{cal: cal, start: map[string]time.Time{}}
	for i := range n {
		name := fmt.Sprintf("event-%05d.ics", i)
		bc.names = append(bc.names, name)
		bc.start[name] = benchStart.Add(time.Duration(i) * 365 * 24 * time.Hour / time.Duration(n)).Truncate(time.Minute)
	}
	// Concurrent writers, so that the backends group their commits.
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				be.put(cal.ID, name, "Event "+name, bc.start[name])
			}
		}()
	}
	for _, name := range bc.names {
		work <- name
	}
	close(work)
	wg.Wait()
	return bc
}

// put stores one event through the store, as dav's PUT would.
func (be *benchEnv) put(cal uint64, name, summary string, start time.Time) {
	uid := strings.TrimSuffix(name, ".ics")
	data := eventICS(uid, summary, start, time.Hour, "DESCRIPTION:An event of the benchmark calendar, with a line of text.",
		"LOCATION:Room 4", "ORGANIZER:mailto:alice@example.test", "ATTENDEE:mailto:bob@example.test")
	_, o, err := calobj.Parse([]byte(data))
	if err != nil {
		be.b.Error(err)
		return
	}
	o.Calendar, o.Name = cal, name
	if _, err := be.st.PutCalendarObject(o, storage.Condition{}); err != nil {
		be.b.Error(err) // not Fatal: called from the loaders' goroutines too
	}
}

func (be *benchEnv) reload(c storage.Calendar) storage.Calendar {
	c, err := be.st.Calendar(c.Owner, c.Name)
	if err != nil {
		be.b.Fatal(err)
	}
	return c
}

// report sends one REPORT (Depth 1) as login and returns its 207 body.
func (be *benchEnv) report(login, path, body string) string {
	req, err := http.NewRequest("REPORT", be.base+path, strings.NewReader(body))
	if err != nil {
		be.b.Fatal(err)
	}
	req.SetBasicAuth(addr(login), testdir.Password)
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("Depth", "1")
	resp, err := be.http.Do(req)
	if err != nil {
		be.b.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		be.b.Fatal(err)
	}
	if resp.StatusCode != http.StatusMultiStatus {
		be.b.Fatalf("REPORT %s: %s: %.300s", path, resp.Status, out)
	}
	return string(out)
}

// measure runs op b.N times (its argument the iteration) and reports the
// 50th and 99th percentile of the latencies it returns.
func (be *benchEnv) measure(b *testing.B, op func(i int) time.Duration) {
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		lat = append(lat, op(i))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
