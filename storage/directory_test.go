package storage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
)

// openTest opens a real Badger store in a temp dir with a settable clock.
func openTest(t testing.TB, now *time.Time) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := Open(dir, Options{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestDirectoryLifecycle(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	st, dir := openTest(t, &now)
	must[delegation.Tenant](t)(st.AddTenant("A.test", DefaultPropagation))
	must[delegation.Tenant](t)(st.AddTenant("b.test", 0))
	hash := must[string](t)(HashPassword("secret"))
	alice := must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "Alice@A.test", PasswordHash: hash}))
	bob := must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "bob@a.test", PasswordHash: hash}))
	must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindShared, Address: "info@a.test"}))
	must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "zed@b.test", PasswordHash: hash}))
	if alice.Address != "alice@a.test" || alice.Tenant != "a.test" {
		t.Fatalf("AddPrincipal normalised to %+v", alice)
	}

	for _, tc := range []struct {
		name string
		err  error
		kind error
		want string
	}{
		{"duplicate address", second(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "ALICE@a.test"})), ErrExists, "already used"},
		{"no tenant", second(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "x@c.test"})), ErrNotFound, "tenant add c.test"},
		{"cross tenant", second(st.AddGrant("alice@a.test", "zed@b.test", delegation.SendAs, false, "")), ErrInvalid,
			"alice@a.test and zed@b.test are in different tenants: rights can only be granted inside one tenant"},
		{"shared as trustee", second(st.AddGrant("alice@a.test", "info@a.test", delegation.SendAs, false, "")), ErrInvalid, "shared mailbox"},
		{"self grant", second(st.AddGrant("alice@a.test", "alice@a.test", delegation.SendAs, false, "")), ErrInvalid, "itself"},
		{"unknown trustee", second(st.AddGrant("alice@a.test", "nobody@a.test", delegation.SendAs, false, "")), ErrNotFound, "nobody@a.test"},
	} {
		if !errors.Is(tc.err, tc.kind) || !strings.Contains(fmtErr(tc.err), tc.want) {
			t.Errorf("%s: err = %v, want %v containing %q", tc.name, tc.err, tc.kind, tc.want)
		}
	}

	g := must[delegation.Grant](t)(st.AddGrant("alice@a.test", "bob@a.test", delegation.SendAs, false, "test"))
	if !g.EffectiveAt.Equal(now.Add(time.Hour)) || !g.CreatedAt.Equal(now) || g.CreatedBy != "test" {
		t.Errorf("grant times %v → %v, by %q; want created %v, effective +60m", g.CreatedAt, g.EffectiveAt, g.CreatedBy, now)
	}
	if _, err := st.AddGrant("alice@a.test", "bob@a.test", delegation.SendAs, true, ""); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate grant: %v, want ErrExists", err)
	}
	if dc := st.Directory().Send(bob.ID, "alice@a.test", now); dc.Allowed || dc.Reason != delegation.ReasonPending {
		t.Errorf("Send before effective = %+v", dc)
	}
	// Rename both sides: grants follow IDs.
	must[Principal](t)(st.Rename("alice@a.test", "alice.smith@a.test"))
	must[Principal](t)(st.Rename("bob@a.test", "robert@a.test"))
	later := now.Add(time.Hour)
	for _, from := range []string{"alice.smith@a.test", "alice@a.test"} {
		if dc := st.Directory().Send(bob.ID, from, later); !dc.Allowed || dc.GrantID != g.ID {
			t.Errorf("Send(robert, %s) after renames = %+v", from, dc)
		}
	}
	if _, err := st.Rename("robert@a.test", "robert@b.test"); !errors.Is(err, ErrInvalid) {
		t.Errorf("rename into another tenant: %v", err)
	}

	// Durability across reopen, and IDs are never reused.
	st.Close()
	st2, err := Open(dir, Options{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if dc := st2.Directory().Send(bob.ID, "alice@a.test", later); !dc.Allowed {
		t.Errorf("after reopen Send = %+v", dc)
	}
	must[Principal](t)(st2.RemovePrincipal("robert@a.test"))
	if gs, _ := st2.Grants("", ""); len(gs) != 0 {
		t.Errorf("grants after removing the trustee: %+v", gs)
	}
	again := must[Principal](t)(st2.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "robert@a.test", PasswordHash: hash}))
	if again.ID == bob.ID {
		t.Errorf("ID %s reused", again.ID)
	}
}

func second[T any](_ T, err error) error { return err }

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestGroupsAndCycles(t *testing.T) {
	now := time.Now()
	st, _ := openTest(t, &now)
	must[delegation.Tenant](t)(st.AddTenant("a.test", 0))
	for _, a := range []string{"u1@a.test", "u2@a.test"} {
		must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: a, PasswordHash: "x"}))
	}
	for _, a := range []string{"g1@a.test", "g2@a.test", "g3@a.test"} {
		must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindGroup, Address: a}))
	}
	must[Principal](t)(st.AddMember("g1@a.test", "g2@a.test"))
	must[Principal](t)(st.AddMember("g2@a.test", "g3@a.test"))
	must[Principal](t)(st.AddMember("g3@a.test", "u1@a.test"))
	for _, pair := range [][2]string{{"g3@a.test", "g1@a.test"}, {"g2@a.test", "g2@a.test"}, {"g3@a.test", "g2@a.test"}} {
		if _, err := st.AddMember(pair[0], pair[1]); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cycle") {
			t.Errorf("AddMember(%s, %s) = %v, want a cycle error", pair[0], pair[1], err)
		}
	}
	if _, err := st.AddMember("u2@a.test", "u1@a.test"); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddMember to a user: %v", err)
	}
	g := must[delegation.Grant](t)(st.AddGrant("u2@a.test", "g1@a.test", delegation.FullAccess, false, ""))
	u1, _ := st.Directory().Lookup("u1@a.test")
	u2, _ := st.Directory().Lookup("u2@a.test")
	if dc := st.Directory().Open(u1.ID, u2.ID, now); !dc.Allowed || dc.GrantID != g.ID {
		t.Errorf("nested group Open = %+v", dc)
	}
	must[Principal](t)(st.RemoveMember("g3@a.test", "u1@a.test"))
	if dc := st.Directory().Open(u1.ID, u2.ID, now); dc.Allowed {
		t.Errorf("after member removal Open = %+v", dc)
	}
}

func TestAuthenticate(t *testing.T) {
	now := time.Now()
	st, _ := openTest(t, &now)
	must[delegation.Tenant](t)(st.AddTenant("a.test", 0))
	h := must[string](t)(HashPassword("right"))
	must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "u@a.test", PasswordHash: h}))
	must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindShared, Address: "s@a.test"}))
	if _, err := st.Authenticate("U@a.test", "right", "1.2.3.4"); err != nil {
		t.Fatalf("good login: %v", err)
	}
	for _, c := range [][2]string{{"u@a.test", "wrong"}, {"nobody@a.test", "right"}, {"s@a.test", ""}, {"s@a.test", "x"}} {
		if _, err := st.Authenticate(c[0], c[1], "1.2.3.5"); err != ErrAuthFailed {
			t.Errorf("Authenticate(%s, %s) = %v, want ErrAuthFailed", c[0], c[1], err)
		}
	}
	// Throttling per IP: after MaxFailuresPerIP failures even the right
	// password is refused from that IP, not from another.
	for range MaxFailuresPerIP {
		st.Authenticate("u@a.test", "wrong", "9.9.9.9")
	}
	if _, err := st.Authenticate("u@a.test", "right", "9.9.9.9"); err != ErrThrottled {
		t.Errorf("after %d failures: %v, want ErrThrottled", MaxFailuresPerIP, err)
	}
	if _, err := st.Authenticate("u@a.test", "right", "8.8.8.8"); err != nil {
		t.Errorf("other IP: %v", err)
	}
	now = now.Add(FailureWindow + time.Second)
	if _, err := st.Authenticate("u@a.test", "right", "9.9.9.9"); err != nil {
		t.Errorf("after the window: %v", err)
	}
	// A password change empties the cache.
	h2 := must[string](t)(HashPassword("new"))
	must[Principal](t)(st.SetPassword("u@a.test", h2))
	if _, err := st.Authenticate("u@a.test", "right", "7.7.7.7"); err != ErrAuthFailed {
		t.Errorf("old password after change: %v", err)
	}
}

// TestAuthenticateConcurrent: logins that arrive together with a cold
// cache share one bcrypt check per (account, password): the right
// password lets every one in, a wrong one none, and a password changed
// while a check runs is not cached as the old one.
func TestAuthenticateConcurrent(t *testing.T) {
	now := time.Now()
	st, _ := openTest(t, &now)
	must[delegation.Tenant](t)(st.AddTenant("a.test", 0))
	h := must[string](t)(HashPassword("right"))
	must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "u@a.test", PasswordHash: h}))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			pw := "right"
			if i%2 == 1 {
				pw = "wrong"
			}
			_, errs[i] = st.Authenticate("u@a.test", pw, fmt.Sprintf("10.0.0.%d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := map[bool]error{true: ErrAuthFailed, false: nil}[i%2 == 1]; err != want {
			t.Errorf("login %d: %v, want %v", i, err, want)
		}
	}
	// A check that began before a password change does not cache the old
	// password for later logins.
	id := must[*delegation.Principal](t)(resolve(st.Directory(), "u@a.test")).ID
	st.auth.reset() // "right" is cached from above
	hit, call, leader, gen := st.auth.lookup(id, "right")
	if hit || !leader {
		t.Fatalf("lookup after reset: hit %v, leader %v", hit, leader)
	}
	must[Principal](t)(st.SetPassword("u@a.test", must[string](t)(HashPassword("new"))))
	call.id = id
	st.auth.finish(id, "right", gen, call) // the old hash said yes
	if _, err := st.Authenticate("u@a.test", "right", "7.7.7.7"); err != ErrAuthFailed {
		t.Errorf("old password after a change during its check: %v", err)
	}
	if _, err := st.Authenticate("u@a.test", "new", "7.7.7.8"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

// TestTrailingDotLookAlikes: "a.test." is neither a second tenant nor
// "u@a.test." a second principal: every way in refuses the trailing dot
// with the spelling to use, and a login with it is an unknown user.
func TestTrailingDotLookAlikes(t *testing.T) {
	now := time.Now()
	st, _ := openTest(t, &now)
	must[delegation.Tenant](t)(st.AddTenant("a.test", 0))
	h := must[string](t)(HashPassword("right"))
	must[Principal](t)(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "u@a.test", PasswordHash: h}))
	for name, err := range map[string]error{
		"AddTenant(a.test.)":       second(st.AddTenant("a.test.", 0)),
		"AddTenant(B.test.)":       second(st.AddTenant("B.test.", 0)),
		"SetPropagation(a.test.)":  second(st.SetPropagation("a.test.", 0)),
		"AddPrincipal(v@a.test.)":  second(st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: "v@a.test.", PasswordHash: h})),
		"AddPrincipal(u@a.test.)":  second(st.AddPrincipal(NewPrincipal{Kind: delegation.KindShared, Address: "u@a.test."})),
		"AddAlias(w@a.test.)":      second(st.AddAlias("u@a.test", "w@a.test.")),
		"Rename(u2@a.test.)":       second(st.Rename("u@a.test", "u2@a.test.")),
		"AddGrant(u@a.test., ...)": second(st.AddGrant("u@a.test.", "u@a.test", delegation.SendAs, true, "")),
	} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(fmtErr(err), "ends with a dot (write ") {
			t.Errorf("%s: %v, want ErrInvalid naming the trailing dot", name, err)
		}
	}
	if ts := st.Directory().Tenants(); len(ts) != 1 {
		t.Errorf("tenants %+v, want a.test only", ts)
	}
	if p, ok := st.Directory().Lookup("U@A.test."); ok {
		t.Errorf("Lookup(U@A.test.) = %s, want not found", p.Address)
	}
	if _, err := st.Authenticate("u@a.test.", "right", "192.0.2.1"); err != ErrAuthFailed {
		t.Errorf("Authenticate(u@a.test., right) = %v, want ErrAuthFailed", err)
	}
}

func TestAudit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, _ := openTest(t, &now)
	for i, id := range []string{"a", "b", "a"} {
		now = now.Add(time.Hour)
		if err := st.Audit(AuditRecord{Action: "send", ActorID: id, MailboxID: "m", Detail: string(rune('0' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.AuditList(AuditFilter{ActorID: "a"})
	if err != nil || len(recs) != 2 || recs[0].Detail != "0" || recs[1].Detail != "2" {
		t.Errorf("AuditList(actor a) = %+v, %v", recs, err)
	}
	recs, _ = st.AuditList(AuditFilter{Since: now.Add(-90 * time.Minute)})
	if len(recs) != 2 {
		t.Errorf("AuditList(since) = %d records, want 2", len(recs))
	}
}

func TestLocked(t *testing.T) {
	now := time.Now()
	_, dir := openTest(t, &now)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
}

// TestGrantChangesAudited: adding and removing a grant each write an audit
// record (in the same transaction), naming who did it, the mailbox, the
// trustee, the right and the grant.
func TestGrantChangesAudited(t *testing.T) {
	st, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AddTenant("a.test", 0); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: u + "@a.test", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := st.AddGrant("alice@a.test", "bob@a.test", delegation.SendAs, true, "root")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddGrant("alice@a.test", "bob@a.test", delegation.SendAs, true, "root"); err == nil {
		t.Fatal("second AddGrant: no error")
	}
	if _, err := st.RemoveGrantBy("alice@a.test", "bob@a.test", delegation.SendAs, "ops"); err != nil {
		t.Fatal(err)
	}
	recs, err := st.AuditList(AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if !strings.HasPrefix(r.Action, "grant_") {
			continue
		}
		got = append(got, strings.Join([]string{r.Proto, r.Action, r.Actor, r.Mailbox, r.Right, r.GrantID, r.Detail[:len("trustee bob@a.test")]}, " "))
	}
	if len(recs) != len(got)+3 {
		t.Errorf("%d audit records, want the 2 grant changes and tenant_add, user_add, user_add", len(recs))
	}
	want := []string{
		"admin grant_add root alice@a.test send-as " + g.ID + " trustee bob@a.test",
		"admin grant_remove ops alice@a.test send-as " + g.ID + " trustee bob@a.test",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit:\n%s\nwant (the refused second add writes nothing):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
