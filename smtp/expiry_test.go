package smtp

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

// TestGrantExpires: Send As and Send on Behalf granted to dave for two
// seconds work until the end and are 550 5.7.1 from it on, in the From
// field and the envelope sender, each refusal naming the expired grant
// and its end, and audited as expired. The store and the server share a
// clock that the test sets.
func TestGrantExpires(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	st, err := storage.Open(t.TempDir(), storage.Options{Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testdir.Seed(t, st)
	f := startServer(t, st, Config{InsecureAuth: true, Now: now})
	grant := func(mailbox string, r delegation.Right) delegation.Grant {
		t.Helper()
		g, err := st.AddGrant(storage.NewGrant{Mailbox: mailbox, Trustee: "dave@example.test", Right: r, Immediate: true, For: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	as := grant("alice@example.test", delegation.SendAs)
	behalf := grant("info@example.test", delegation.SendOnBehalf)
	c := login(t, f.sub, "dave@example.test")
	clock.Store(as.Until.UnixNano() - 1) // a nanosecond before the end
	if err := send(c, "dave@example.test", []string{"bob@example.test"}, msg("alice@example.test", "", "as, before the end")); err != nil {
		t.Fatalf("Send As before the end: %v", err)
	}
	if err := send(c, "info@example.test", []string{"bob@example.test"}, msg("info@example.test", "", "on behalf, before the end")); err != nil {
		t.Fatalf("Send on Behalf before the end: %v", err)
	}
	msgs := inbox(t, st, "bob@example.test")
	if len(msgs) != 2 || len(headerValues(t, msgs[0], "Sender")) != 0 || strings.Join(headerValues(t, msgs[1], "Sender"), "") != `"Dave" <dave@example.test>` {
		t.Fatalf("before the end, bob got %d messages: %q", len(msgs), msgs)
	}

	clock.Store(as.Until.UnixNano()) // the end
	for _, tc := range []struct {
		what, envelope, from string
		g                    delegation.Grant
		right                string
	}{
		{"From alice", "dave@example.test", "alice@example.test", as, "Send As"},
		{"From info", "dave@example.test", "info@example.test", behalf, "Send on Behalf"},
		{"MAIL FROM alice", "alice@example.test", "dave@example.test", as, "Send As"},
	} {
		err := send(c, tc.envelope, []string{"bob@example.test"}, msg(tc.from, "", tc.what+" after the end"))
		c.Reset()
		addr := tc.from
		if tc.envelope != "dave@example.test" {
			addr = tc.envelope
		}
		wantReply(t, tc.what, err, 550, ec571, addr, "the "+tc.right+" grant "+tc.g.ID+" expired at "+tc.g.Until.Format(time.RFC3339))
		rec := lastAudit(t, st)
		if rec.Decision != "refused" || rec.Reason != string(delegation.ReasonExpired) || rec.GrantID != tc.g.ID || rec.Mailbox != addr {
			t.Errorf("%s: audit = %+v, want refused as expired, grant %s", tc.what, rec, tc.g.ID)
		}
	}
	if n := len(inbox(t, st, "bob@example.test")); n != 2 {
		t.Errorf("bob has %d messages after the end, want the 2 from before", n)
	}
	if err := send(c, "dave@example.test", []string{"bob@example.test"}, msg("dave@example.test", "", "own")); err != nil {
		t.Errorf("own address after the end: %v", err)
	}
}
