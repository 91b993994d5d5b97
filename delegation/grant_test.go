package delegation

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestNewGrant: the grant rules, and effective_at = created_at + the
// tenant's delay in whole seconds.
func TestNewGrant(t *testing.T) {
	var ps []Principal
	for _, p := range fixture(t).Principals() {
		ps = append(ps, *p)
	}
	d, err := NewDirectory([]Tenant{{Domain: "a.test", Propagation: time.Hour}, {Domain: "b.test"}}, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := func(id ID) *Principal {
		t.Helper()
		pr, ok := d.Principal(id)
		if !ok {
			t.Fatalf("no %s", id)
		}
		return pr
	}
	made := t0.Add(1500 * time.Millisecond)
	g, err := d.NewGrant(GrantRequest{Mailbox: p("alice"), Trustee: p("bob"), Right: SendAs, Now: made, CreatedBy: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	want := Grant{Mailbox: "alice", Trustee: "bob", Right: SendAs, CreatedAt: t0.Add(time.Second), EffectiveAt: t0.Add(time.Hour + time.Second), CreatedBy: "cli"}
	if g != want {
		t.Errorf("NewGrant = %+v, want %+v", g, want)
	}
	if g, _ := d.NewGrant(GrantRequest{Mailbox: p("alice"), Trustee: p("sales"), Right: FullAccess, Immediate: true, Now: made}); !g.EffectiveAt.Equal(g.CreatedAt) {
		t.Errorf("immediate grant effective %s, created %s", g.EffectiveAt, g.CreatedAt)
	}

	dup, err := NewDirectory([]Tenant{{Domain: "a.test"}, {Domain: "b.test"}}, ps, []Grant{{ID: "g1", Mailbox: "alice", Trustee: "bob", Right: SendAs, EffectiveAt: t0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		dir         *Directory
		mailbox, to ID
		right       Right
		kind        error
		says        string
	}{
		{"another tenant", d, "alice", "zed", SendAs, ErrGrantInvalid, "different tenants"},
		{"oneself", d, "alice", "alice", FullAccess, ErrGrantInvalid, "on itself"},
		{"to a shared mailbox", d, "alice", "info", SendAs, ErrGrantInvalid, "shared mailbox"},
		{"no right", d, "alice", "bob", 0, ErrGrantInvalid, "unknown right"},
		{"two rights", d, "alice", "bob", SendAs | SendOnBehalf, ErrGrantInvalid, "unknown right"},
		{"held already", dup, "alice", "bob", SendAs, ErrGrantExists, "grant g1"},
	} {
		m, _ := tc.dir.Principal(tc.mailbox)
		to, _ := tc.dir.Principal(tc.to)
		_, err := tc.dir.NewGrant(GrantRequest{Mailbox: m, Trustee: to, Right: tc.right, Now: made})
		if !errors.Is(err, tc.kind) || !strings.Contains(fmtErr(err), tc.says) {
			t.Errorf("%s: %v, want %v saying %q", tc.name, err, tc.kind, tc.says)
		}
	}
	// The same request on another right is not a duplicate.
	m, _ := dup.Principal("alice")
	to, _ := dup.Principal("bob")
	if _, err := dup.NewGrant(GrantRequest{Mailbox: m, Trustee: to, Right: SendOnBehalf, Now: made}); err != nil {
		t.Errorf("another right: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
