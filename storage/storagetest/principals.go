package storagetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// RunPrincipals runs the tests of principal edits and removal.
func RunPrincipals(t *testing.T, open Open) {
	t.Run("RenameKeepsGrants", func(t *testing.T) { renameKeepsGrants(t, open(t)) })
	t.Run("AliasesAndMembers", func(t *testing.T) { aliasesAndMembers(t, open(t)) })
	t.Run("PasswordsAndSettings", func(t *testing.T) { passwordsAndSettings(t, open(t)) })
	t.Run("RemovePrincipal", func(t *testing.T) { removePrincipal(t, open(t)) })
	t.Run("Propagation", func(t *testing.T) { propagation(t, open(t)) })
	t.Run("NestedGroups", func(t *testing.T) { nestedGroups(t, open(t)) })
	t.Run("TrailingDot", func(t *testing.T) { trailingDot(t, open(t)) })
}

// seed: example.test (no delay) with alice, bob, carol, shared info@ and
// group sales@; other.test with zed.
func seed(t *testing.T, st storage.DirectoryStore) {
	t.Helper()
	for _, dom := range []string{"example.test", "other.test"} {
		if _, err := st.AddTenant(dom, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, np := range []storage.NewPrincipal{
		user("alice@example.test"), user("bob@example.test"), user("carol@example.test"), user("zed@other.test"),
		{Kind: delegation.KindShared, Address: "info@example.test", Name: "Info"},
		{Kind: delegation.KindGroup, Address: "sales@example.test", Name: "Sales"},
	} {
		if _, err := st.AddPrincipal(np); err != nil {
			t.Fatal(err)
		}
	}
}

// heard collects the IDs that pick takes from every directory change
// notice; the function returned gives those heard so far.
func heard(st storage.DirectoryStore, pick func(storage.DirChange) []delegation.ID) func() []delegation.ID {
	var mu sync.Mutex
	var ids []delegation.ID
	st.OnDirectoryChange(func(c storage.DirChange) {
		mu.Lock()
		ids = append(ids, pick(c)...)
		mu.Unlock()
	})
	return func() []delegation.ID {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ids)
	}
}

func id(t *testing.T, st storage.DirectoryStore, addr string) delegation.ID {
	t.Helper()
	p, ok := st.Directory().Lookup(addr)
	if !ok {
		t.Fatalf("no %s in the snapshot", addr)
	}
	return p.ID
}

func renameKeepsGrants(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	alice := id(t, st, "alice@example.test")
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs, Immediate: true})
	fatal(t, err)
	p, err := st.Rename("alice@example.test", "alice.owner@example.test")
	fatal(t, err)
	if p.ID != alice || p.Address != "alice.owner@example.test" || !slices.Contains(p.Aliases, "alice@example.test") {
		t.Errorf("Rename = %+v: want the same ID, the new address, the old one as an alias", p)
	}
	d := st.Directory()
	bob := id(t, st, "bob@example.test")
	for _, from := range []string{"alice.owner@example.test", "alice@example.test"} {
		if dc := d.Send(bob, from, time.Now()); !dc.Allowed || dc.GrantID != g.ID {
			t.Errorf("bob sending as %s after the rename: %+v", from, dc)
		}
	}
	_, err = st.Rename("alice.owner@example.test", "bob@example.test")
	wantKind(t, "rename onto another's address", err, storage.ErrExists)
	_, err = st.Rename("alice.owner@example.test", "alice@other.test")
	wantKind(t, "rename into another tenant", err, storage.ErrInvalid)
	_, err = st.Rename("nobody@example.test", "x@example.test")
	wantKind(t, "rename of nobody", err, storage.ErrNotFound)
	// Back to the old address: it stops being an alias.
	p, err = st.Rename("alice.owner@example.test", "alice@example.test")
	fatal(t, err)
	if p.Address != "alice@example.test" || slices.Contains(p.Aliases, "alice@example.test") || !slices.Contains(p.Aliases, "alice.owner@example.test") {
		t.Errorf("rename back = %+v", p)
	}
	// The trustee's rename keeps its grants too: they follow its ID.
	if p, err := st.Rename("bob@example.test", "robert@example.test"); err != nil || p.ID != bob {
		t.Fatalf("Rename(bob) = %+v, %v", p, err)
	}
	if dc := st.Directory().Send(bob, "alice@example.test", time.Now()); !dc.Allowed || dc.GrantID != g.ID {
		t.Errorf("robert, once bob, sending as alice: %+v", dc)
	}
	if list, err := st.Grants("", "robert@example.test"); err != nil || len(list) != 1 || list[0].ID != g.ID {
		t.Errorf("Grants(to robert) = %+v, %v", list, err)
	}
}

func aliasesAndMembers(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	p, err := st.AddAlias("bob@example.test", "Robert@Example.test")
	fatal(t, err)
	if !slices.Contains(p.Aliases, "robert@example.test") {
		t.Errorf("AddAlias = %+v", p)
	}
	if q, ok := st.Directory().Lookup("robert@example.test"); !ok || q.ID != p.ID {
		t.Error("the alias does not resolve to bob")
	}
	_, err = st.AddAlias("bob@example.test", "alice@example.test")
	wantKind(t, "alias of another's address", err, storage.ErrExists)
	_, err = st.AddAlias("bob@example.test", "bob@other.test")
	wantKind(t, "alias in another tenant", err, storage.ErrInvalid)
	_, err = st.RemoveAlias("bob@example.test")
	wantKind(t, "removing a primary address as an alias", err, storage.ErrInvalid)
	p, err = st.RemoveAlias("robert@example.test")
	fatal(t, err)
	if len(p.Aliases) != 0 {
		t.Errorf("after RemoveAlias: %+v", p)
	}
	if _, ok := st.Directory().Lookup("robert@example.test"); ok {
		t.Error("a removed alias still resolves")
	}

	_, err = st.AddMember("sales@example.test", "bob@example.test")
	fatal(t, err)
	g, err := st.AddMember("sales@example.test", "carol@example.test")
	fatal(t, err)
	if len(g.Members) != 2 {
		t.Errorf("sales members: %v", g.Members)
	}
	_, err = st.AddMember("sales@example.test", "bob@example.test")
	wantKind(t, "a member twice", err, storage.ErrExists)
	_, err = st.AddMember("sales@example.test", "info@example.test")
	wantKind(t, "a shared mailbox as member", err, storage.ErrInvalid)
	_, err = st.AddMember("sales@example.test", "zed@other.test")
	wantKind(t, "a member from another tenant", err, storage.ErrInvalid)
	_, err = st.AddMember("sales@example.test", "sales@example.test")
	wantKind(t, "a group in itself", err, storage.ErrInvalid)
	_, err = st.AddMember("bob@example.test", "carol@example.test")
	wantKind(t, "a member of a user", err, storage.ErrInvalid)
	// A right given to the group holds for its members, and ends with
	// their membership.
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "sales@example.test", Right: delegation.FullAccess, Immediate: true})
	fatal(t, err)
	carol, alice := id(t, st, "carol@example.test"), id(t, st, "alice@example.test")
	if dc := st.Directory().Open(carol, alice, time.Now()); !dc.Allowed || dc.Via != id(t, st, "sales@example.test") {
		t.Errorf("carol through sales: %+v", dc)
	}
	_, err = st.RemoveMember("sales@example.test", "carol@example.test")
	fatal(t, err)
	if dc := st.Directory().Open(carol, alice, time.Now()); dc.Allowed {
		t.Errorf("carol after leaving sales: %+v", dc)
	}
	_, err = st.RemoveMember("sales@example.test", "carol@example.test")
	wantKind(t, "removing a non-member", err, storage.ErrNotFound)
}

func passwordsAndSettings(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	changed := heard(st, func(c storage.DirChange) []delegation.ID { return c.PasswordChanged })
	bob := id(t, st, "bob@example.test")
	_, err := st.SetPassword("bob@example.test", "$2a$04$new")
	fatal(t, err)
	if got := changed(); !slices.Equal(got, []delegation.ID{bob}) {
		t.Errorf("PasswordChanged notices: %v, want [%s]", got, bob)
	}
	_, err = st.SetPassword("info@example.test", "$2a$04$x")
	wantKind(t, "a password for a shared mailbox", err, storage.ErrInvalid)
	if h, err := st.PasswordHash(bob); err != nil || h != "$2a$04$new" {
		t.Errorf("PasswordHash(bob) = %q, %v", h, err)
	}
	if h, err := st.PasswordHash(id(t, st, "info@example.test")); err != nil || h != "" {
		t.Errorf("PasswordHash(info) = %q, %v; want none", h, err)
	}
	_, err = st.PasswordHash("p999999")
	wantKind(t, "PasswordHash of an unknown ID", err, storage.ErrNotFound)

	yes, no := true, false
	_, err = st.SetSettings("info@example.test", &yes, nil)
	fatal(t, err)
	_, err = st.SetSettings("info@example.test", nil, &no)
	fatal(t, err)
	_, err = st.SetQuota("info@example.test", 2<<30)
	fatal(t, err)
	_, err = st.SetDelegatesSeePrivate("info@example.test", true)
	fatal(t, err)
	_, err = st.SetDelegatesSeePrivate("sales@example.test", true)
	wantKind(t, "delegates-see-private on a group", err, storage.ErrInvalid)
	_, err = st.SetQuota("sales@example.test", 1)
	wantKind(t, "a quota on a group", err, storage.ErrInvalid)
	_, err = st.SetSettings("sales@example.test", &yes, nil)
	wantKind(t, "settings of a group", err, storage.ErrInvalid)
	info, err := st.Principal(id(t, st, "info@example.test"))
	fatal(t, err)
	if !info.Settings.CopySentAs || info.Settings.CopySentOnBehalf || info.Settings.Quota != 2<<30 || !info.Settings.DelegatesSeePrivate || info.Name != "Info" || info.HasPassword {
		t.Errorf("info after its settings: %+v", info)
	}
	_, err = st.Principal("p999999")
	wantKind(t, "Principal of an unknown ID", err, storage.ErrNotFound)
	list, err := st.Principals("example.test")
	fatal(t, err)
	var addrs []string
	for _, p := range list {
		addrs = append(addrs, p.Address)
	}
	want := []string{"alice@example.test", "bob@example.test", "carol@example.test", "info@example.test", "sales@example.test"}
	if !slices.Equal(addrs, want) {
		t.Errorf("Principals(example.test) = %v, want %v", addrs, want)
	}
	if all, _ := st.Principals(""); len(all) != 6 {
		t.Errorf("Principals() = %d, want 6", len(all))
	}
	recs, err := st.AuditList(storage.AuditFilter{Action: "quota_set"})
	fatal(t, err)
	if len(recs) != 1 || recs[0].Detail != "quota 2147483648 bytes" {
		t.Errorf("quota_set audit: %+v", recs)
	}
}

func removePrincipal(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	removed := heard(st, func(c storage.DirChange) []delegation.ID { return c.Removed })
	bob := id(t, st, "bob@example.test")
	_, err := st.AddMember("sales@example.test", "bob@example.test")
	fatal(t, err)
	g1, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs, Immediate: true})
	fatal(t, err)
	g2, err := st.AddGrant(storage.NewGrant{Mailbox: "bob@example.test", Trustee: "carol@example.test", Right: delegation.FullAccess, Immediate: true})
	fatal(t, err)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "carol@example.test", Right: delegation.SendAs, Immediate: true})
	fatal(t, err)
	p, err := st.RemovePrincipal("bob@example.test")
	fatal(t, err)
	if p.ID != bob {
		t.Errorf("removed %+v", p)
	}
	d := st.Directory()
	if _, ok := d.Lookup("bob@example.test"); ok {
		t.Error("bob still resolves")
	}
	if len(d.Grants()) != 1 {
		t.Errorf("grants left: %d, want 1 (carol's on alice)", len(d.Grants()))
	}
	if sales, _ := d.Lookup("sales@example.test"); len(sales.Members) != 0 {
		t.Errorf("sales still lists %v", sales.Members)
	}
	if got := removed(); !slices.Equal(got, []delegation.ID{bob}) {
		t.Errorf("Removed notices: %v", got)
	}
	_, err = st.RemovePrincipal("bob@example.test")
	wantKind(t, "removing twice", err, storage.ErrNotFound)
	recs, err := st.AuditList(storage.AuditFilter{Action: "remove"})
	fatal(t, err)
	if len(recs) != 1 || !strings.Contains(recs[0].Detail, g1.ID) || !strings.Contains(recs[0].Detail, g2.ID) {
		t.Errorf("remove audit: %+v", recs)
	}
	// The address is free again, for a new principal with a new ID.
	again, err := st.AddPrincipal(user("bob@example.test"))
	fatal(t, err)
	if again.ID == bob {
		t.Errorf("ID %s reused", bob)
	}
}

func propagation(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	before, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs})
	fatal(t, err)
	tn, err := st.SetPropagation("example.test", 2*time.Hour)
	fatal(t, err)
	if tn.Propagation != 2*time.Hour {
		t.Errorf("SetPropagation = %+v", tn)
	}
	after, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "carol@example.test", Right: delegation.SendAs})
	fatal(t, err)
	if !before.EffectiveAt.Equal(before.CreatedAt) || after.EffectiveAt.Sub(after.CreatedAt) != 2*time.Hour {
		t.Errorf("grants before and after the change: %+v, %+v", before, after)
	}
	if list, _ := st.Grants("", "bob@example.test"); len(list) != 1 || !list[0].EffectiveAt.Equal(before.EffectiveAt) {
		t.Errorf("the earlier grant's time changed: %+v", list)
	}
	_, err = st.SetPropagation("nowhere.test", 0)
	wantKind(t, "delay of no tenant", err, storage.ErrNotFound)
}
