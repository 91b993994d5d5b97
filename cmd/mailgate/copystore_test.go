package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/internal/testenv"
)

// TestCopyStore: a demo installation on the embedded database, where bob
// works in alice's INBOX under Other Users (appends, flags, an expunge),
// and in alice's calendar over CalDAV, is copied with `copy-store` into
// PostgreSQL; a server on PostgreSQL then shows bob the same UIDVALIDITY,
// UIDs, flags and bodies, and the same event with its ETag. copy-store
// refuses while the server runs, into a database that is not empty, and
// from a directory with no embedded database; it never shows the
// password of the URL.
func TestCopyStore(t *testing.T) {
	dsn := testenv.Postgres(t)
	data := t.TempDir()
	addr, davAddr := freeAddr(t), freeAddr(t)
	srv := startServer(t, data, "--demo", "--imap-addr", addr, "--dav-addr", davAddr, "--insecure-auth")
	pw := demoPassword(t, data, "bob@example.test")
	const event = "/dav/alice@example.test/calendars/default/review.ics"
	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//mailgate//test//EN\r\nBEGIN:VEVENT\r\nUID:review\r\n" +
		"DTSTAMP:20261201T080000Z\r\nDTSTART:20261203T100000Z\r\nDTEND:20261203T110000Z\r\nSUMMARY:Review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if code, body, _ := davDo(t, data, davAddr, "bob@example.test", pw, http.MethodPut, event, ics); code != http.StatusCreated {
		t.Fatalf("bob: PUT in alice's calendar = %d %s", code, body)
	}
	_, _, etag := davDo(t, data, davAddr, "bob@example.test", pw, http.MethodGet, event, "")
	const inbox = "Other Users/alice@example.test/INBOX"

	bob := imapLogin(t, addr, "bob@example.test", pw)
	if _, err := bob.Select(inbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		msg := fmt.Sprintf("From: bob@example.test\r\nTo: alice@example.test\r\nSubject: note %d\r\n\r\nfrom bob\r\n", i)
		ac := bob.Append(inbox, int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{"$Note"}, Time: time.Date(2025, 6, 1, 12, 0, i, 0, time.UTC)})
		ac.Write([]byte(msg))
		ac.Close()
		if _, err := ac.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := bob.UIDExpunge(imap.UIDSetNum(1)).Close(); err != nil {
		t.Fatal(err)
	}
	if err := bob.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	before := folderView(t, bob, inbox)
	if len(before.uids) != 3 || before.uids[0] != "2" {
		t.Fatalf("alice's INBOX before the copy: %+v, want UIDs 2, 3, 4", before)
	}

	fails(t, data, "in use by a running server: stop it", "copy-store", "--to", dsn)
	bob.Logout().Wait()
	srv.stop(t)

	r := mailgate(t, data, "", "copy-store", "--to", dsn) // --from: --data
	if r.code != 0 {
		t.Fatalf("copy-store: exit %d, %s", r.code, r.err)
	}
	t.Logf("copy-store:\n%s%s", r.err, r.out)
	verified := regexp.MustCompile(`(?m)^verified: 1 tenants, 6 principals, 5 grants, (\d+) folders, (\d+) messages \([0-9.]+ MiB\), 0 queued, (\d+) audit records, 1 calendars \(1 objects\)$`)
	if m := verified.FindStringSubmatch(r.out); m == nil || m[2] != "4" {
		t.Errorf("copy-store output %q, want the verified counts (4 messages: 3 in alice's INBOX, 1 in info's)", r.out)
	}
	for _, want := range []string{"principals: 6, done", "messages: 4 (", "audit records: "} {
		if !strings.Contains(r.err, want) {
			t.Errorf("copy-store progress %q lacks %q", r.err, want)
		}
	}
	fails(t, data, "the target database is not empty", "copy-store", "--to", dsn)
	fails(t, t.TempDir(), "no embedded database in", "copy-store", "--to", dsn)
	fails(t, data, "want the PostgreSQL database to fill", "copy-store", "--to", "mysql://x")

	// Into a second, new database, through a URL with a password: it is
	// migrated first and the password never shown.
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret")
	r = mailgate(t, data, "", "copy-store", "--from", data, "--to", u.String())
	if r.code != 0 || strings.Contains(r.out+r.err, "s3cret") || !strings.Contains(r.out, "xxxxx@") || !strings.Contains(r.err, "migrated to schema version") {
		t.Errorf("copy-store with a password in the URL: exit %d\n%s\n%s", r.code, r.out, r.err)
	}

	// The server on PostgreSQL (a new --data: nothing comes from the old).
	addr, davAddr = freeAddr(t), freeAddr(t)
	pgData := t.TempDir()
	pg := startServer(t, pgData, "--store", dsn, "--imap-addr", addr, "--dav-addr", davAddr, "--insecure-auth")
	defer pg.stop(t)
	if code, body, got := davDo(t, pgData, davAddr, "bob@example.test", pw, http.MethodGet, event, ""); code != http.StatusOK || body != ics || got != etag {
		t.Errorf("bob: GET of alice's event after the copy = %d %q, ETag %s (before %s)", code, body, got, etag)
	}
	bob = imapLogin(t, addr, "bob@example.test", pw)
	if after := folderView(t, bob, inbox); !after.equal(before) {
		t.Errorf("alice's INBOX after the copy:\n%+v\nwant\n%+v", after, before)
	}
	bob.Logout().Wait()
}

// view is what a client caches of a folder.
type view struct {
	uidValidity uint32
	uidNext     imap.UID
	uids, flags []string
	bodies      []string
}

func (v view) equal(w view) bool { return fmt.Sprint(v) == fmt.Sprint(w) }

func folderView(t *testing.T, c *imapclient.Client, name string) view {
	t.Helper()
	sd, err := c.Select(name, nil).Wait()
	if err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
	v := view{uidValidity: sd.UIDValidity, uidNext: sd.UIDNext}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatalf("FETCH in %s: %v", name, err)
	}
	for _, m := range msgs {
		v.uids = append(v.uids, fmt.Sprint(m.UID))
		// \Recent is a server process's memory (the first session to see
		// a message since it started), not the store's.
		v.flags = append(v.flags, fmt.Sprint(slices.DeleteFunc(m.Flags, func(f imap.Flag) bool { return f == `\Recent` })))
		for _, b := range m.BodySection {
			v.bodies = append(v.bodies, string(b.Bytes))
		}
	}
	return v
}

// demoPassword reads a demo login's password from the file --demo writes.
func demoPassword(t *testing.T, data, addr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "demo-logins.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Split(l, "\t"); len(f) == 3 && f[0] == addr {
			return f[1]
		}
	}
	t.Fatalf("no demo login for %s", addr)
	return ""
}
