package dav

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// env is a CalDAV server over HTTPS on 127.0.0.1:0, on a Badger store
// holding testdir's fixture directory (alice the owner; bob Full Access
// on alice and info@; erin Full Access on alice; frank through sales@;
// gina pending; dave nothing; zed another tenant).
type env struct {
	t    *testing.T
	st   *storage.Store
	ids  map[string]delegation.ID
	base string // https://127.0.0.1:port
	http *http.Client
}

func newEnv(t *testing.T) *env { return newEnvAt(t, nil) }

// testClock is a clock a test moves on (for newEnvAt(t, c.Now)).
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *testClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// newEnvAt is newEnv on the clock now (nil: time.Now).
func newEnvAt(t *testing.T, now func() time.Time) *env {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Logger: testenv.Logger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, ids: testdir.Seed(t, st)}
	tlsCfg, pool := testenv.SelfSigned(t, "dav.example.test")
	srv := New(Config{TLS: tlsCfg, Auth: auth.New(st, st.Now)}, st, testenv.Logger(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.base = "https://" + ln.Addr().String()
	e.http = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		// Redirects are for the test to see, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	t.Cleanup(e.http.CloseIdleConnections)
	return e
}

func addr(name string) string { return name + "@example.test" }

// client is go-webdav's CalDAV client logged in as login (a short name,
// or a full login such as `bob@example.test\alice@example.test`).
func (e *env) client(login string) *caldav.Client {
	e.t.Helper()
	if !strings.Contains(login, "@") {
		login = addr(login)
	}
	c, err := caldav.NewClient(webdav.HTTPClientWithBasicAuth(e.http, login, testdir.Password), e.base+"/dav/")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do sends one raw request as login and returns the status and body.
func (e *env) do(login, method, path string, hdr map[string]string, body string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if login != "" {
		if !strings.Contains(login, "@") {
			login = addr(login)
		}
		req.SetBasicAuth(login, testdir.Password)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

var icsHeader = map[string]string{"Content-Type": "text/calendar; charset=utf-8"}

// eventICS is one VEVENT from start, lasting d, with extra lines (RRULE,
// CLASS...) before its END.
func eventICS(uid, summary string, start time.Time, d time.Duration, extra ...string) string {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailgate//test//EN\r\nBEGIN:VEVENT\r\n")
	b.WriteString("UID:" + uid + "\r\nDTSTAMP:20261201T080000Z\r\nSUMMARY:" + summary + "\r\n")
	b.WriteString("DTSTART:" + start.UTC().Format("20060102T150405Z") + "\r\n")
	b.WriteString("DTEND:" + start.Add(d).UTC().Format("20060102T150405Z") + "\r\n")
	for _, x := range extra {
		b.WriteString(x + "\r\n")
	}
	b.WriteString("END:VEVENT\r\nEND:VCALENDAR\r\n")
	return b.String()
}

func parseICS(t *testing.T, s string) *ical.Calendar {
	t.Helper()
	cal, err := ical.NewDecoder(strings.NewReader(s)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

// summary is the SUMMARY of an object's first component.
func summary(t *testing.T, cal *ical.Calendar) string {
	t.Helper()
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent || c.Name == ical.CompToDo {
			s, err := c.Props.Text(ical.PropSummary)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatal("no event or task in the object")
	return ""
}

func defaultCal(owner string) string { return calendarPath(addr(owner), storage.DefaultCalendar) }

func (e *env) auditBinds(actor string) []storage.AuditRecord {
	e.t.Helper()
	recs, err := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids[actor])})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []storage.AuditRecord
	for _, r := range recs {
		if r.Action == "calendar_bind" {
			out = append(out, r)
		}
	}
	return out
}
