package imap

import (
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// boxedGrant gives dave (no right in the fixture) Full Access on alice
// for d from now.
func (e *env) boxedGrant(d time.Duration) delegation.Grant {
	e.t.Helper()
	g, err := e.st.AddGrant(storage.NewGrant{Mailbox: addr("alice"), Trustee: addr("dave"), Right: delegation.FullAccess, Immediate: true, For: d})
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

// TestGrantExpiresMidSession: at the end of a time-boxed grant (and not a
// nanosecond before) the open Other Users folder answers NO [NOPERM]
// naming the end, the delegate login ends with BYE at its next command,
// LIST drops the owner, SELECT and a new delegate login are refused as
// with no grant, and the refused login is audited as expired.
func TestGrantExpiresMidSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "boxed")
	g := e.boxedGrant(2 * time.Second)
	end := g.Until.Format(time.RFC3339)
	c := e.login("dave", nil)
	if got := otherUsersNames(listNames(t, c, "", "*", nil)); !slices.Equal(got, aliceTree) {
		t.Fatalf("LIST within the grant = %v", got)
	}
	if _, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fetch := func() error {
		_, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
		return err
	}
	r := e.raw()
	if _, st := r.cmd(`LOGIN "dave@example.test\\alice@example.test" "%s"`, pw); !strings.HasPrefix(st, "OK") {
		t.Fatalf("delegate LOGIN within the grant: %s", st)
	}
	if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("delegate SELECT INBOX: %s", st)
	}

	e.clk.Advance(2*time.Second - time.Nanosecond)
	if err := fetch(); err != nil {
		t.Fatalf("FETCH a nanosecond before the end: %v", err)
	}
	if _, st := r.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("delegate NOOP a nanosecond before the end: %s", st)
	}
	e.clk.Advance(time.Nanosecond)

	err := fetch()
	wantCode(t, "FETCH at the end", err, goimap.ResponseCodeNoPerm)
	if text := imapErr(t, err).Text; !strings.Contains(text, "expired at "+end) {
		t.Errorf("FETCH at the end: %q, want it to name the end %s", text, end)
	}
	r.send("r9 NOOP\r\n")
	if l := r.line(); !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "access to alice@example.test expired at "+end) {
		t.Errorf("delegate session at the end: %q, want * BYE naming the end", l)
	}
	if !r.closed() {
		t.Error("delegate session goes on after BYE")
	}
	if got := otherUsersNames(listNames(t, c, "", "*", nil)); len(got) != 0 {
		t.Errorf("LIST after the end = %v", got)
	}
	_, err = c.Select("Other Users/alice@example.test/INBOX", nil).Wait()
	wantCode(t, "SELECT after the end", err, goimap.ResponseCodeNonExistent)
	err = e.dial(nil).Login(`dave@example.test\alice@example.test`, pw).Wait()
	wantCode(t, "delegate login after the end", err, goimap.ResponseCodeAuthenticationFailed)
	if ie := imapErr(t, err); ie.Text != "Authentication failed" {
		t.Errorf("delegate login after the end: text %q differs from a wrong password's", ie.Text)
	}
	recs, aerr := e.st.AuditList(storage.AuditFilter{ActorID: string(e.ids["dave"]), Action: "login"})
	if aerr != nil || len(recs) != 2 || recs[1].Decision != storage.AuditRefused || recs[1].Reason != string(delegation.ReasonExpired) || recs[1].GrantID != g.ID {
		t.Errorf("dave's delegate logins audited as %+v, %v; want the second refused as expired, grant %s", recs, aerr, g.ID)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil { // own folders still work
		t.Fatal(err)
	}
}

// idlers are sessions of dave open on a time-boxed grant: two raw ones
// idling (in the Other Users folder, and a delegate login in INBOX), a
// go-imap client idling and one with the folder selected.
type idlers struct {
	g               delegation.Grant
	folder, deleg   *raw
	idler, selected *imapclient.Client
	idle            *imapclient.IdleCommand
}

// openIdlers makes the grant for window and opens the sessions on it. On
// a loaded machine that can take longer than the window: then it revokes
// the grant and reports false, for the caller to try a longer one.
func (e *env) openIdlers(window time.Duration) (*idlers, bool) {
	t := e.t
	t.Helper()
	s := &idlers{folder: e.rawLogin("dave"), idler: e.login("dave", nil), selected: e.login("dave", nil)}
	s.g = e.boxedGrant(window)
	late := func(what string, err any) bool {
		t.Helper()
		if time.Now().Before(s.g.Until.Add(-500 * time.Millisecond)) {
			t.Fatalf("%s within the grant: %v", what, err)
		}
		t.Logf("%s: the grant of %s ended first; trying a longer one", what, window)
		if _, err := e.st.RemoveGrant(addr("alice"), addr("dave"), delegation.FullAccess); err != nil {
			t.Fatal(err)
		}
		return false
	}
	s.deleg = e.raw()
	if _, st := s.deleg.cmd(`LOGIN "dave@example.test\\alice@example.test" "%s"`, pw); !strings.HasPrefix(st, "OK") {
		return nil, late("delegate LOGIN", st)
	}
	for _, r := range []*raw{s.folder, s.deleg} {
		name := "INBOX"
		if r == s.folder {
			name = `"Other Users/alice@example.test/INBOX"`
		}
		if _, st := r.cmd("SELECT %s", name); !strings.HasPrefix(st, "OK") {
			return nil, late("SELECT "+name, st)
		}
		r.send("i1 IDLE\r\n")
		if l := r.line(); !strings.HasPrefix(l, "+ ") {
			return nil, late("IDLE", l)
		}
	}
	for _, c := range []*imapclient.Client{s.idler, s.selected} {
		if _, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
			return nil, late("SELECT", err)
		}
	}
	var err error
	if s.idle, err = s.idler.Idle(); err != nil {
		return nil, late("IDLE", err)
	}
	if _, err := s.selected.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect(); err != nil {
		return nil, late("FETCH", err)
	}
	if !time.Now().Before(s.g.Until) {
		return nil, late("opening the sessions", "too slow")
	}
	return s, true
}

// TestIdleToldAtExpiry, on the wall clock: sessions idling on a
// time-boxed grant (an Other Users folder, a delegate login) are told with
// BYE at its end, unasked and not before; a FETCH in an open session works
// before the end and is refused after it.
func TestIdleToldAtExpiry(t *testing.T) {
	t.Parallel()
	e := newEnvClock(t, t.TempDir(), nil, nil)
	e.deliver("alice", "INBOX", "boxed")
	var s *idlers
	for window := 3 * time.Second; s == nil; window *= 2 {
		if window > time.Minute {
			t.Fatal("could not open the sessions within a grant of a minute")
		}
		s, _ = e.openIdlers(window)
	}
	end := s.g.Until.Format(time.RFC3339)
	for _, tc := range []struct {
		r    *raw
		what string
	}{{s.folder, "Other Users/alice@example.test/INBOX"}, {s.deleg, "alice@example.test"}} {
		tc.r.c.SetReadDeadline(s.g.Until.Add(10 * time.Second))
		l := tc.r.line()
		at := time.Now()
		if !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "access to "+tc.what+" expired at "+end) {
			t.Errorf("IDLE on %s: %q, want * BYE naming the end", tc.what, l)
		}
		if at.Before(s.g.Until) {
			t.Errorf("IDLE on %s told at %v, before the end %v", tc.what, at, s.g.Until)
		}
		t.Logf("IDLE on %s told %v after the end", tc.what, at.Sub(s.g.Until).Round(time.Millisecond))
		if !tc.r.closed() {
			t.Errorf("IDLE on %s: the connection goes on after BYE", tc.what)
		}
	}
	select {
	case <-s.idler.Closed():
	case <-time.After(10 * time.Second):
		t.Error("go-imap client's IDLE session not closed at the end")
	}
	if err := s.idle.Wait(); err == nil {
		t.Error("go-imap client's IDLE ended without error at the end; want BYE")
	}
	_, err := s.selected.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
	wantCode(t, "FETCH after the end", err, goimap.ResponseCodeNoPerm)
}
