package delegation

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fixture: tenant a.test with alice (owner), bob, carol, dave, erin; group
// sales (bob, and nested group team with erin); shared mailbox info; tenant
// b.test with zed.
func fixture(t testing.TB, extra ...Grant) *Directory {
	t.Helper()
	ps := []Principal{
		{ID: "alice", Kind: KindUser, Tenant: "a.test", Address: "alice@a.test", Aliases: []string{"al@a.test"}},
		{ID: "bob", Kind: KindUser, Tenant: "a.test", Address: "bob@a.test"},
		{ID: "carol", Kind: KindUser, Tenant: "a.test", Address: "carol@a.test"},
		{ID: "dave", Kind: KindUser, Tenant: "a.test", Address: "dave@a.test"},
		{ID: "erin", Kind: KindUser, Tenant: "a.test", Address: "erin@a.test"},
		{ID: "team", Kind: KindGroup, Tenant: "a.test", Address: "team@a.test", Members: []ID{"erin"}},
		{ID: "sales", Kind: KindGroup, Tenant: "a.test", Address: "sales@a.test", Members: []ID{"bob", "team"}},
		{ID: "info", Kind: KindShared, Tenant: "a.test", Address: "info@a.test"},
		{ID: "zed", Kind: KindUser, Tenant: "b.test", Address: "zed@b.test"},
	}
	gs := []Grant{
		{ID: "g1", Mailbox: "alice", Trustee: "bob", Right: SendAs, EffectiveAt: t0},
		{ID: "g2", Mailbox: "alice", Trustee: "bob", Right: FullAccess, EffectiveAt: t0},
		{ID: "g3", Mailbox: "alice", Trustee: "carol", Right: SendOnBehalf, EffectiveAt: t0},
		{ID: "g4", Mailbox: "alice", Trustee: "dave", Right: FullAccess, EffectiveAt: t0},
		{ID: "g5", Mailbox: "info", Trustee: "sales", Right: SendAs, EffectiveAt: t0},
		{ID: "g6", Mailbox: "info", Trustee: "sales", Right: FullAccess, EffectiveAt: t0},
		{ID: "g7", Mailbox: "carol", Trustee: "bob", Right: SendAs, EffectiveAt: t0.Add(time.Hour)},
		{ID: "g8", Mailbox: "carol", Trustee: "erin", Right: SendAs, EffectiveAt: t0},
		{ID: "g9", Mailbox: "carol", Trustee: "erin", Right: SendOnBehalf, EffectiveAt: t0},
		{ID: "g10", Mailbox: "zed", Trustee: "bob", Right: SendAs, EffectiveAt: t0}, // storage refuses these; the engine must too
		// Time-boxed: carol sends on behalf of dave for two hours from t0,
		// and had Full Access to his mailbox for the two hours before.
		{ID: "g11", Mailbox: "dave", Trustee: "carol", Right: SendOnBehalf, EffectiveAt: t0, Until: t0.Add(2 * time.Hour)},
		{ID: "g12", Mailbox: "dave", Trustee: "carol", Right: FullAccess, EffectiveAt: t0.Add(-2 * time.Hour), Until: t0},
	}
	d, err := NewDirectory([]Tenant{{Domain: "a.test"}, {Domain: "b.test"}}, ps, append(gs, extra...))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSend(t *testing.T) {
	d := fixture(t)
	at := t0.Add(time.Minute)
	tests := []struct {
		actor   ID
		from    string
		at      time.Time
		allowed bool
		reason  Reason
		right   Right
		grant   string
		via     ID
	}{
		{"alice", "alice@a.test", at, true, ReasonOwnAddress, 0, "", ""},
		{"alice", "ALICE@A.Test", at, true, ReasonOwnAddress, 0, "", ""},
		{"alice", "al@a.test", at, true, ReasonOwnAddress, 0, "", ""}, // own alias
		{"bob", "alice@a.test", at, true, ReasonSendAs, SendAs, "g1", ""},
		{"bob", "al@a.test", at, true, ReasonSendAs, SendAs, "g1", ""}, // alias of the owner
		{"carol", "alice@a.test", at, true, ReasonSendOnBehalf, SendOnBehalf, "g3", ""},
		{"erin", "carol@a.test", at, true, ReasonSendAs, SendAs, "g8", ""},     // both: Send As wins
		{"dave", "alice@a.test", at, false, ReasonFullOnly, 0, "", ""},         // Full Access only
		{"erin", "alice@a.test", at, false, ReasonNoGrant, 0, "", ""},          // no grant
		{"bob", "info@a.test", at, true, ReasonSendAs, SendAs, "g5", "sales"},  // through a group
		{"erin", "info@a.test", at, true, ReasonSendAs, SendAs, "g5", "sales"}, // through a nested group
		{"bob", "carol@a.test", at, false, ReasonPending, SendAs, "g7", ""},    // pending
		{"bob", "carol@a.test", t0.Add(time.Hour - time.Nanosecond), false, ReasonPending, SendAs, "g7", ""},
		{"bob", "carol@a.test", t0.Add(time.Hour), true, ReasonSendAs, SendAs, "g7", ""}, // boundary: effective
		{"carol", "dave@a.test", at, true, ReasonSendOnBehalf, SendOnBehalf, "g11", ""},  // time-boxed
		{"carol", "dave@a.test", t0.Add(2*time.Hour - time.Nanosecond), true, ReasonSendOnBehalf, SendOnBehalf, "g11", ""},
		{"carol", "dave@a.test", t0.Add(2 * time.Hour), false, ReasonExpired, SendOnBehalf, "g11", ""}, // boundary: expired
		{"carol", "dave@a.test", t0.Add(-time.Nanosecond), false, ReasonPending, SendOnBehalf, "g11", ""},
		{"bob", "zed@b.test", at, false, ReasonOtherTenant, 0, "", ""},
		{"zed", "alice@a.test", at, false, ReasonOtherTenant, 0, "", ""},
		{"bob", "someone@elsewhere.test", at, false, ReasonExternal, 0, "", ""},
		{"bob", "nobody@a.test", at, false, ReasonUnknown, 0, "", ""},
		{"bob", "not an address", at, false, ReasonExternal, 0, "", ""},
		{"ghost", "alice@a.test", at, false, ReasonUnknownActor, 0, "", ""},
	}
	for _, tt := range tests {
		got := d.Send(tt.actor, tt.from, tt.at)
		if got.Allowed != tt.allowed || got.Reason != tt.reason || got.Right != tt.right || got.GrantID != tt.grant || got.Via != tt.via {
			t.Errorf("Send(%s, %s, %v) = %+v, want allowed=%v reason=%s right=%v grant=%s via=%s",
				tt.actor, tt.from, tt.at, got, tt.allowed, tt.reason, tt.right, tt.grant, tt.via)
		}
		if !got.Allowed && got.Reason != ReasonUnknownActor && got.Missing != SendRights {
			t.Errorf("Send(%s, %s): refusal without Missing: %+v", tt.actor, tt.from, got)
		}
	}
}

func TestSendPendingText(t *testing.T) {
	d := fixture(t)
	got := d.Send("bob", "carol@a.test", t0)
	want := "missing Send As or Send on Behalf on carol@a.test: the Send As grant is not effective until 2026-11-25T11:00:00Z"
	if got.Text() != want || !got.Pending.Equal(t0.Add(time.Hour)) {
		t.Errorf("Send pending: Text() = %q, Pending %v; want %q", got.Text(), got.Pending, want)
	}
}

func TestOpen(t *testing.T) {
	d := fixture(t)
	at := t0.Add(time.Minute)
	tests := []struct {
		actor, owner ID
		allowed      bool
		reason       Reason
		grant        string
	}{
		{"alice", "alice", true, ReasonOwner, ""},
		{"bob", "alice", true, ReasonFullAccess, "g2"},
		{"dave", "alice", true, ReasonFullAccess, "g4"},
		{"carol", "alice", false, ReasonNoGrant, ""}, // Send on Behalf gives no access
		{"bob", "info", true, ReasonFullAccess, "g6"},
		{"erin", "info", true, ReasonFullAccess, "g6"}, // nested group
		{"carol", "info", false, ReasonNoGrant, ""},
		{"zed", "alice", false, ReasonOtherTenant, ""},
		{"bob", "nobody", false, ReasonUnknown, ""},
	}
	for _, tt := range tests {
		got := d.Open(tt.actor, tt.owner, at)
		if got.Allowed != tt.allowed || got.Reason != tt.reason || got.GrantID != tt.grant {
			t.Errorf("Open(%s, %s) = %+v, want allowed=%v reason=%s grant=%s", tt.actor, tt.owner, got, tt.allowed, tt.reason, tt.grant)
		}
	}
}

func TestFullAccessMailboxes(t *testing.T) {
	pending := Grant{ID: "g20", Mailbox: "carol", Trustee: "bob", Right: FullAccess, EffectiveAt: t0.Add(time.Hour)}
	d := fixture(t, pending)
	list := func(actor ID, at time.Time) string {
		var s string
		for _, a := range d.FullAccessMailboxes(actor, at) {
			s += fmt.Sprintf("%s:%s:%s ", a.Owner, a.GrantID, a.Via)
		}
		return s
	}
	for _, tt := range []struct {
		actor ID
		at    time.Time
		want  string
	}{
		{"bob", t0, "alice:g2: info:g6:sales "},
		{"bob", t0.Add(time.Hour), "alice:g2: carol:g20: info:g6:sales "},
		{"erin", t0, "info:g6:sales "},
		{"carol", t0, ""},
		{"zed", t0, ""},
	} {
		if got := list(tt.actor, tt.at); got != tt.want {
			t.Errorf("FullAccessMailboxes(%s, %v) = %q, want %q", tt.actor, tt.at, got, tt.want)
		}
	}
}

// Membership changes and revocation are new snapshots: the engine has no
// memory of the old one.
func TestRemovedMemberAndRevocation(t *testing.T) {
	d := fixture(t)
	p, _ := d.Principal("team")
	ps := d.Principals()
	var next []Principal
	for _, q := range ps {
		c := *q
		if c.ID == p.ID {
			c.Members = nil // erin leaves team
		}
		next = append(next, c)
	}
	var gs []Grant
	for _, g := range d.Grants() {
		if g.ID != "g1" { // revoke bob's Send As on alice
			gs = append(gs, *g)
		}
	}
	d2, err := NewDirectory(d.Tenants(), next, gs)
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.Send("erin", "info@a.test", t0); got.Allowed {
		t.Errorf("Send(erin, info) after leaving the group = %+v, want refused", got)
	}
	if got := d2.Open("erin", "info", t0); got.Allowed {
		t.Errorf("Open(erin, info) after leaving the group = %+v, want refused", got)
	}
	if got := d2.Send("bob", "alice@a.test", t0); got.Allowed || got.Reason != ReasonFullOnly {
		t.Errorf("Send(bob, alice) after revocation = %+v, want refused full_access_only", got)
	}
}

// Rename keeps grants both ways: grants name IDs, so a new primary address
// (old one as alias) decides the same.
func TestRenameKeepsGrants(t *testing.T) {
	d := fixture(t)
	var ps []Principal
	for _, q := range d.Principals() {
		c := *q
		switch c.ID {
		case "alice":
			c.Aliases = append(c.Aliases, c.Address)
			c.Address = "alice.smith@a.test"
		case "bob":
			c.Aliases = append(c.Aliases, c.Address)
			c.Address = "robert@a.test"
		}
		ps = append(ps, c)
	}
	var gs []Grant
	for _, g := range d.Grants() {
		gs = append(gs, *g)
	}
	d2, err := NewDirectory(d.Tenants(), ps, gs)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"alice.smith@a.test", "alice@a.test"} {
		if got := d2.Send("bob", from, t0); !got.Allowed || got.GrantID != "g1" {
			t.Errorf("Send(bob, %s) after renames = %+v, want g1", from, got)
		}
	}
	if got := d2.Send("bob", "bob@a.test", t0); got.Reason != ReasonOwnAddress {
		t.Errorf("Send(bob, old address) = %+v, want own address", got)
	}
	if got := d2.Open("bob", "alice", t0); got.GrantID != "g2" {
		t.Errorf("Open(bob, alice) after renames = %+v, want g2", got)
	}
}

func TestNewDirectoryRefusesInconsistency(t *testing.T) {
	ps := []Principal{
		{ID: "a", Kind: KindUser, Tenant: "a.test", Address: "x@a.test"},
		{ID: "b", Kind: KindUser, Tenant: "a.test", Address: "y@a.test", Aliases: []string{"x@a.test"}},
	}
	if _, err := NewDirectory(nil, ps, nil); err == nil {
		t.Error("NewDirectory with a duplicate address: no error")
	}
	if _, err := NewDirectory(nil, ps[:1], []Grant{{ID: "g", Mailbox: "a", Trustee: "nobody"}}); err == nil {
		t.Error("NewDirectory with a grant to an unknown principal: no error")
	}
}

func TestExpandAndContains(t *testing.T) {
	d := fixture(t)
	if got := fmt.Sprint(d.Expand("sales")); got != "[bob erin]" {
		t.Errorf("Expand(sales) = %s, want [bob erin]", got)
	}
	if got := fmt.Sprint(d.Expand("alice")); got != "[alice]" {
		t.Errorf("Expand(alice) = %s", got)
	}
	if !d.Contains("sales", "erin") || d.Contains("team", "bob") || d.Contains("sales", "sales") {
		t.Error("Contains wrong")
	}
}

func TestParseRightAndAddress(t *testing.T) {
	for in, want := range map[string]Right{"full-access": FullAccess, "Send-As": SendAs, "send_on_behalf": SendOnBehalf} {
		if got, err := ParseRight(in); err != nil || got != want {
			t.Errorf("ParseRight(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseRight("send-ass"); err == nil {
		t.Error("ParseRight(send-ass): no error")
	}
	for _, bad := range []string{"", "x", "@a.test", "a@", "a b@c.test", "a@b@c.test", "a\r\n@c.test", "<a@c.test>", "a@c.test.", "a@c.test..", "a@."} {
		if a, err := NormalizeAddress(bad); err == nil {
			t.Errorf("NormalizeAddress(%q) = %q, want error", bad, a)
		}
	}
	if a, _ := NormalizeAddress(" Alice@Example.TEST "); a != "alice@example.test" {
		t.Errorf("NormalizeAddress = %q", a)
	}
	if d, o, ok := SplitLogin(`bob@x.test\alice@x.test`); !ok || d != "bob@x.test" || o != "alice@x.test" {
		t.Errorf("SplitLogin = %q %q %v", d, o, ok)
	}
}

func TestRightText(t *testing.T) {
	for _, r := range []Right{0, FullAccess, SendAs, SendOnBehalf, SendRights} {
		b, _ := r.MarshalText()
		var back Right
		if err := back.UnmarshalText(b); err != nil || back != r {
			t.Errorf("Right(%d) → %q → %d, %v", r, b, back, err)
		}
	}
}
