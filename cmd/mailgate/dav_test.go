package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
)

// TestServeCalDAV: serve --dav-addr answers CalDAV over HTTPS with the
// listeners' certificate: on the demo directory bob (Full Access on
// alice) writes into alice's calendar and alice reads it; the well-known
// URL sends to the principal; and failed IMAP logins throttle CalDAV too
// (one authenticator).
func TestServeCalDAV(t *testing.T) {
	data := t.TempDir()
	davAddr, imapAddr := freeAddr(t), freeAddr(t)
	s := startServer(t, data, "--demo", "--dav-addr", davAddr, "--imap-addr", imapAddr, "--insecure-auth")
	defer s.stop(t)
	if !strings.Contains(s.banner, "CalDAV (HTTPS)              "+davAddr) {
		t.Errorf("banner lacks the CalDAV listener:\n%s", s.banner)
	}
	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	pw := demoPasswords(t, data)
	client := func(user string) *caldav.Client {
		c, err := caldav.NewClient(webdav.HTTPClientWithBasicAuth(hc, user, pw[user]), "https://"+davAddr+"/dav/")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	p := "/dav/alice@example.test/calendars/default/lunch.ics"
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//mailgate//test//EN")
	ev := ical.NewEvent()
	ev.Props.SetText(ical.PropUID, "lunch")
	ev.Props.SetDateTime(ical.PropDateTimeStamp, time.Now().UTC())
	ev.Props.SetDateTime(ical.PropDateTimeStart, time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	ev.Props.SetText(ical.PropSummary, "Lunch with the board")
	cal.Children = append(cal.Children, ev.Component)
	if _, err := client("bob@example.test").PutCalendarObject(ctx, p, cal); err != nil {
		t.Fatalf("bob: PUT into alice's calendar: %v", err)
	}
	got, err := client("alice@example.test").GetCalendarObject(ctx, p)
	if err != nil {
		t.Fatalf("alice: GET: %v", err)
	}
	if s, _ := got.Data.Children[0].Props.Text(ical.PropSummary); s != "Lunch with the board" {
		t.Errorf("alice reads SUMMARY %q", s)
	}
	if _, err := client("dave@example.test").GetCalendarObject(ctx, p); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("dave: GET of alice's event: %v, want 404", err)
	}
	req, _ := http.NewRequest("PROPFIND", "https://"+davAddr+"/.well-known/caldav", nil)
	req.SetBasicAuth("dave@example.test", pw["dave@example.test"])
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/dav/dave@example.test/" {
		t.Errorf("/.well-known/caldav = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// explain open names the calendar a right opens, and none without.
	if out := ok(t, data, "explain", "open", "--as", "bob@example.test", "--mailbox", "alice@example.test"); !strings.Contains(out,
		"calendar: /dav/alice@example.test/calendars/default/ on the CalDAV listener") {
		t.Errorf("explain open for bob:\n%s", out)
	}
	if out := ok(t, data, "explain", "open", "--as", "dave@example.test", "--mailbox", "alice@example.test"); strings.Contains(out, "calendar:") {
		t.Errorf("explain open for dave names a calendar:\n%s", out)
	}

	// carol has not logged in from here: throttled, she is refused.
	imap := dialLines(t, imapAddr, func(l string) bool { return !strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "* OK") })
	imap("") // greeting
	for i := range 10 {
		if l := imap(fmt.Sprintf("a%d LOGIN carol@example.test wrong-%d", i, i)); !strings.HasPrefix(l, fmt.Sprintf("a%d NO", i)) {
			t.Fatalf("IMAP LOGIN with a wrong password: %q", l)
		}
	}
	req, _ = http.NewRequest("PROPFIND", "https://"+davAddr+"/dav/", nil)
	req.SetBasicAuth("carol@example.test", pw["carol@example.test"])
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("CalDAV with the right password after 10 IMAP failures: %d, want 429", resp.StatusCode)
	}
}

// demoPasswords reads <data>/demo-logins.txt: address → password.
func demoPasswords(t *testing.T, data string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(data, "demo-logins.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && strings.Contains(fs[0], "@") {
			out[fs[0]] = fs[1]
		}
	}
	if len(out) == 0 {
		t.Fatal("no demo logins")
	}
	return out
}
