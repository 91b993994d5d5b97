package delegation

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestGrantState: a grant is pending before EffectiveAt, effective from it
// (inclusive) until Until (exclusive), expired from Until on; an
// open-ended grant never expires.
func TestGrantState(t *testing.T) {
	boxed := Grant{EffectiveAt: t0, Until: t0.Add(time.Hour)}
	open := Grant{EffectiveAt: t0}
	for _, tc := range []struct {
		g    Grant
		at   time.Time
		want GrantState
	}{
		{boxed, t0.Add(-time.Nanosecond), StatePending},
		{boxed, t0, StateEffective},
		{boxed, t0.Add(time.Hour - time.Nanosecond), StateEffective},
		{boxed, t0.Add(time.Hour), StateExpired},
		{boxed, t0.Add(1000 * time.Hour), StateExpired},
		{open, t0.Add(-time.Second), StatePending},
		{open, t0.Add(1000 * time.Hour), StateEffective},
	} {
		if got := tc.g.State(tc.at); got != tc.want {
			t.Errorf("%+v at %v: State = %s, want %s", tc.g, tc.at, got, tc.want)
		}
		if got := tc.g.Effective(tc.at); got != (tc.want == StateEffective) {
			t.Errorf("%+v at %v: Effective = %v", tc.g, tc.at, got)
		}
		if got := tc.g.Expired(tc.at); got != (tc.want == StateExpired) {
			t.Errorf("%+v at %v: Expired = %v", tc.g, tc.at, got)
		}
	}
}

// TestExpiredDecisions: an expired grant stops counting at its end for
// sending and opening, the refusal says which grant ended when, and an
// allowed decision carries the end of the grant it used.
func TestExpiredDecisions(t *testing.T) {
	d := fixture(t)
	ok := d.Send("carol", "dave@a.test", t0)
	if !ok.Allowed || !ok.Until.Equal(t0.Add(2*time.Hour)) ||
		ok.Text() != "allowed on dave@a.test by Send on Behalf (grant g11, until 2026-11-25T12:00:00Z)" {
		t.Errorf("Send within the box = %+v, %q", ok, ok.Text())
	}
	if open := d.Send("bob", "alice@a.test", t0); !open.Until.IsZero() || strings.Contains(open.Text(), "until") {
		t.Errorf("open-ended grant: %+v, %q", open, open.Text())
	}
	gone := d.Send("carol", "dave@a.test", t0.Add(2*time.Hour))
	want := "missing Send As or Send on Behalf on dave@a.test: the Send on Behalf grant g11 expired at 2026-11-25T12:00:00Z"
	if gone.Allowed || gone.Reason != ReasonExpired || gone.Text() != want || !gone.Until.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("Send after the end = %+v, %q; want %q", gone, gone.Text(), want)
	}

	if dc := d.Open("carol", "dave", t0.Add(-time.Second)); !dc.Allowed || dc.GrantID != "g12" || !dc.Until.Equal(t0) {
		t.Errorf("Open before the end = %+v", dc)
	}
	dc := d.Open("carol", "dave", t0)
	if dc.Allowed || dc.Reason != ReasonExpired || dc.GrantID != "g12" || dc.Missing != FullAccess ||
		dc.Text() != "missing Full Access on dave@a.test: the Full Access grant g12 expired at 2026-11-25T10:00:00Z" {
		t.Errorf("Open at the end = %+v, %q", dc, dc.Text())
	}
	for _, at := range []time.Time{t0.Add(-time.Hour), t0} {
		var got []ID
		for _, a := range d.FullAccessMailboxes("carol", at) {
			got = append(got, a.Owner)
		}
		if want := at.Before(t0); (len(got) == 1 && got[0] == "dave") != want || len(got) > 1 {
			t.Errorf("FullAccessMailboxes(carol, %v) = %v", at, got)
		}
	}
}

// TestExpiredAndPending: a refusal names a pending grant (it will count)
// before an expired one (it will not), and the latest of several ended
// grants; another effective grant still allows.
func TestExpiredAndPending(t *testing.T) {
	d := fixture(t,
		Grant{ID: "g30", Mailbox: "dave", Trustee: "erin", Right: SendAs, EffectiveAt: t0.Add(-3 * time.Hour), Until: t0.Add(-2 * time.Hour)},
		Grant{ID: "g31", Mailbox: "dave", Trustee: "team", Right: SendAs, EffectiveAt: t0.Add(-3 * time.Hour), Until: t0.Add(-time.Hour)},
		Grant{ID: "g32", Mailbox: "dave", Trustee: "sales", Right: SendAs, EffectiveAt: t0.Add(time.Hour)},
	)
	if dc := d.Send("erin", "dave@a.test", t0.Add(-90*time.Minute)); !dc.Allowed || dc.GrantID != "g31" || dc.Via != "team" {
		t.Errorf("one grant ended, one through a group still runs: %+v", dc)
	}
	if dc := d.Send("erin", "dave@a.test", t0); dc.Reason != ReasonPending || dc.GrantID != "g32" {
		t.Errorf("pending and expired: %+v, want pending g32", dc)
	}
	d2 := fixture(t, Grant{ID: "g30", Mailbox: "dave", Trustee: "erin", Right: SendAs, EffectiveAt: t0.Add(-3 * time.Hour), Until: t0.Add(-2 * time.Hour)},
		Grant{ID: "g31", Mailbox: "dave", Trustee: "team", Right: SendOnBehalf, EffectiveAt: t0.Add(-3 * time.Hour), Until: t0.Add(-time.Hour)})
	if dc := d2.Send("erin", "dave@a.test", t0); dc.Reason != ReasonExpired || dc.GrantID != "g31" || dc.Right != SendOnBehalf || !dc.Until.Equal(t0.Add(-time.Hour)) {
		t.Errorf("two expired: %+v, want the later one, g31", dc)
	}
}

// TestNewGrantUntil: a time-boxed grant's end, in whole seconds, after it
// takes effect and in the future; an expired grant still blocks a new one
// of the same right, and says to remove it.
func TestNewGrantUntil(t *testing.T) {
	var ps []Principal
	for _, p := range fixture(t).Principals() {
		ps = append(ps, *p)
	}
	expired := Grant{ID: "g1", Mailbox: "alice", Trustee: "bob", Right: SendAs, EffectiveAt: t0.Add(-2 * time.Hour), Until: t0.Add(-time.Hour)}
	d, err := NewDirectory([]Tenant{{Domain: "a.test", Propagation: time.Hour}, {Domain: "b.test"}}, ps, []Grant{expired})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := d.Principal("alice")
	bob, _ := d.Principal("bob")
	carol, _ := d.Principal("carol")
	made := t0.Add(1500 * time.Millisecond)
	req := func(r Right, immediate bool, until time.Time, dur time.Duration) GrantRequest {
		return GrantRequest{Mailbox: alice, Trustee: carol, Right: r, Immediate: immediate, Now: made, Until: until, For: dur}
	}
	for _, tc := range []struct {
		name string
		r    GrantRequest
		want time.Time
	}{
		{"an end", req(SendAs, false, t0.Add(5*time.Hour+300*time.Millisecond), 0), t0.Add(5 * time.Hour)},
		{"a duration from creation", req(SendAs, false, time.Time{}, 720*time.Hour), t0.Add(720*time.Hour + time.Second)},
		{"a fraction of a second dropped", req(SendAs, true, time.Time{}, 2500*time.Millisecond), t0.Add(3 * time.Second)},
		{"an end in another zone", req(SendAs, true, time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("CET", 3600)), 0), t0.Add(time.Hour)},
		{"open-ended", req(SendAs, false, time.Time{}, 0), time.Time{}},
	} {
		g, err := d.NewGrant(tc.r)
		if err != nil || !g.Until.Equal(tc.want) || g.Until.Location() != time.UTC {
			t.Errorf("%s: NewGrant = %+v, %v; want until %v (UTC)", tc.name, g, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		r    GrantRequest
		kind error
		says string
	}{
		{"an end in the past", req(SendAs, true, t0.Add(-time.Minute), 0), ErrGrantInvalid, "not in the future"},
		{"an end now", req(SendAs, true, t0.Add(1999*time.Millisecond), 0), ErrGrantInvalid, "not in the future"},
		{"an end before the delay is over", req(SendAs, false, t0.Add(30*time.Minute), 0), ErrGrantInvalid, "before it takes effect at 2026-11-25T11:00:01Z"},
		{"an end at the effective time", req(SendAs, false, time.Time{}, time.Hour), ErrGrantInvalid, "before it takes effect"},
		{"a negative duration", req(SendAs, true, time.Time{}, -time.Hour), ErrGrantInvalid, "negative"},
		{"a duration under a second", req(SendAs, true, time.Time{}, 400*time.Millisecond), ErrGrantInvalid, "not in the future"},
		{"both", req(SendAs, true, t0.Add(time.Hour), time.Hour), ErrGrantInvalid, "not both"},
		{"the expired grant's right again", GrantRequest{Mailbox: alice, Trustee: bob, Right: SendAs, Now: made}, ErrGrantExists, "expired Send As grant g1 on alice@a.test (ended 2026-11-25T09:00:00Z): remove it first"},
	} {
		_, err := d.NewGrant(tc.r)
		if !errors.Is(err, tc.kind) || !strings.Contains(fmtErr(err), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.kind, tc.says)
		}
	}
}

// TestLongestGrantDecides: of two effective grants of one right (direct
// and through a group), the one that lasts longest is named, so that the
// decision's end is when the right really stops.
func TestLongestGrantDecides(t *testing.T) {
	boxed := Grant{ID: "g40", Mailbox: "dave", Trustee: "erin", Right: SendAs, EffectiveAt: t0.Add(-time.Hour), Until: t0.Add(time.Hour)}
	longer := Grant{ID: "g41", Mailbox: "dave", Trustee: "team", Right: SendAs, EffectiveAt: t0, Until: t0.Add(3 * time.Hour)}
	open := Grant{ID: "g42", Mailbox: "dave", Trustee: "sales", Right: SendAs, EffectiveAt: t0.Add(time.Minute)}
	for _, tc := range []struct {
		grants []Grant
		at     time.Time
		want   string
		until  time.Time
	}{
		{[]Grant{boxed}, t0, "g40", t0.Add(time.Hour)},
		{[]Grant{boxed, longer}, t0, "g41", t0.Add(3 * time.Hour)},
		{[]Grant{boxed, longer, open}, t0, "g41", t0.Add(3 * time.Hour)}, // open not yet effective
		{[]Grant{boxed, longer, open}, t0.Add(time.Minute), "g42", time.Time{}},
		{[]Grant{boxed, longer}, t0.Add(time.Hour), "g41", t0.Add(3 * time.Hour)},
	} {
		dc := fixture(t, tc.grants...).Send("erin", "dave@a.test", tc.at)
		if !dc.Allowed || dc.GrantID != tc.want || !dc.Until.Equal(tc.until) {
			t.Errorf("%d grants at %v: %+v, want %s until %v", len(tc.grants), tc.at, dc, tc.want, tc.until)
		}
	}
}
