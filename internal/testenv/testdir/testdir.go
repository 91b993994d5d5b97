// Package testdir seeds the one fixture directory (tenants, principals and
// grants) that the smtp and imap tests share, so that bob, carol, dave and
// the others hold the same rights in every package's tests; Snapshot gives
// the same directory without storage, for the pure tests. Only tests
// import it. It imports only storage, storage/auth and delegation, and must not import a
// protocol package (smtp, imap), admin or cmd; it is a package of its own,
// not part of internal/testenv, because storage's own tests use testenv.
package testdir

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// Password is every fixture user's password.
const Password = "correct horse"

// Propagation is both fixture tenants' propagation delay: a pending grant
// becomes effective this long after Seed.
const Propagation = time.Hour

// PasswordHash is the bcrypt hash of Password, computed once per test
// binary: bcrypt is slow on purpose, and every fixture user shares it.
var PasswordHash = sync.OnceValue(func() string {
	h, err := auth.HashPassword(Password)
	if err != nil {
		panic(err)
	}
	return h
})

// Seed creates the fixture directory in st and returns each principal's ID
// by its short name (the address's local part: "alice", "info", "sales",
// "zed"). Grants are made at st's clock: an immediate grant is effective at
// once, a pending one Propagation later. Snapshot is the same directory
// without storage.
//
// Tenants example.test and other.test, both with Propagation (60m). Users,
// all with Password, named after themselves ("Bob"), except alice:
//
//	alice  "Alice Owner", alias a.owner@example.test; the owner
//	bob    Full Access and Send As on alice; Full Access on info@
//	carol  Send on Behalf on alice
//	dave   no rights; nobody has rights on him; member of team@
//	erin   Full Access on alice only (direct)
//	frank  member of sales@, so through the group: Full Access on
//	       alice, Send As on info@, Full Access on info@ pending
//	       (Propagation); no grant of his own
//	gina   Send As and Full Access on alice, both pending (Propagation)
//	henry  Send As and Send on Behalf on alice
//	ivan   Send As on alice, granted and revoked
//	zed    zed@other.test, another tenant
//
// Shared mailbox info@ "Info" (no password). Groups: sales@ "Sales" =
// {frank}, with Full Access on alice, Send As on info@ and Full Access on
// info@ pending; team@ "Team" = {sales@, dave}, with no grants.
func Seed(t testing.TB, st *storage.Store) map[string]delegation.ID {
	t.Helper()
	ids := map[string]delegation.ID{}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed fixture directory: %v", err)
		}
	}
	for _, tn := range tenants {
		must(st.AddTenant(tn, Propagation))
	}
	for _, p := range principals {
		np := storage.NewPrincipal{Kind: p.kind, Address: p.addr, Name: p.name}
		if p.kind == delegation.KindUser {
			np.PasswordHash = PasswordHash()
		}
		sp, err := st.AddPrincipal(np)
		must(sp, err)
		ids[shortName(p.addr)] = sp.ID
		for _, a := range p.aliases {
			must(st.AddAlias(p.addr, a))
		}
	}
	for _, p := range principals {
		for _, m := range p.members {
			must(st.AddMember(p.addr, m))
		}
	}
	for _, g := range grants {
		must(st.AddGrant(storage.NewGrant{Mailbox: g.mailbox, Trustee: g.trustee, Right: g.right, Immediate: !g.pending, CreatedBy: "test"}))
		if g.revoked {
			must(st.RemoveGrant(g.mailbox, g.trustee, g.right))
		}
	}
	return ids
}

// Snapshot is the directory Seed makes, as of grants made at now, for the
// pure tests that build a delegation.Directory without storage: a
// principal's ID is its short name ("alice"), the grants are g1, g2, ...
// in Seed's order, a pending one effective Propagation after now, and the
// revoked grant is absent. The slices are the caller's to change (a test
// may rename someone or add principals) before delegation.NewDirectory.
func Snapshot(now time.Time) ([]delegation.Tenant, []delegation.Principal, []delegation.Grant) {
	var ts []delegation.Tenant
	for _, tn := range tenants {
		ts = append(ts, delegation.Tenant{Domain: tn, Propagation: Propagation})
	}
	var ps []delegation.Principal
	for _, p := range principals {
		dp := delegation.Principal{ID: delegation.ID(shortName(p.addr)), Kind: p.kind, Tenant: delegation.Domain(p.addr),
			Address: p.addr, Name: p.name, Aliases: append([]string(nil), p.aliases...)}
		for _, m := range p.members {
			dp.Members = append(dp.Members, delegation.ID(shortName(m)))
		}
		ps = append(ps, dp)
	}
	var gs []delegation.Grant
	for i, g := range grants {
		if g.revoked {
			continue
		}
		eff := now
		if g.pending {
			eff = now.Add(Propagation)
		}
		gs = append(gs, delegation.Grant{ID: fmt.Sprintf("g%d", i+1), Mailbox: delegation.ID(shortName(g.mailbox)),
			Trustee: delegation.ID(shortName(g.trustee)), Right: g.right, CreatedAt: now, EffectiveAt: eff, CreatedBy: "test"})
	}
	return ts, ps, gs
}

func shortName(addr string) string { return addr[:strings.IndexByte(addr, '@')] }

var tenants = []string{"example.test", "other.test"}

// principals of the fixture, groups after their members.
var principals = []struct {
	kind       delegation.Kind
	addr, name string
	aliases    []string
	members    []string // groups only
}{
	{kind: delegation.KindUser, addr: "alice@example.test", name: "Alice Owner", aliases: []string{"a.owner@example.test"}},
	{kind: delegation.KindUser, addr: "bob@example.test", name: "Bob"},
	{kind: delegation.KindUser, addr: "carol@example.test", name: "Carol"},
	{kind: delegation.KindUser, addr: "dave@example.test", name: "Dave"},
	{kind: delegation.KindUser, addr: "erin@example.test", name: "Erin"},
	{kind: delegation.KindUser, addr: "frank@example.test", name: "Frank"},
	{kind: delegation.KindUser, addr: "gina@example.test", name: "Gina"},
	{kind: delegation.KindUser, addr: "henry@example.test", name: "Henry"},
	{kind: delegation.KindUser, addr: "ivan@example.test", name: "Ivan"},
	{kind: delegation.KindUser, addr: "zed@other.test", name: "Zed"},
	{kind: delegation.KindShared, addr: "info@example.test", name: "Info"},
	{kind: delegation.KindGroup, addr: "sales@example.test", name: "Sales", members: []string{"frank@example.test"}},
	{kind: delegation.KindGroup, addr: "team@example.test", name: "Team", members: []string{"sales@example.test", "dave@example.test"}},
}

// grants of the fixture. bob and carol have the demo tenant's rights
// (cmd/mailgate seedDemo): bob Full Access and Send As on alice, carol Send
// on Behalf; dave none. The order fixes Snapshot's grant IDs, which the
// smtp rewrite golden files name: the send rights come first, as g1-g7.
var grants = []struct {
	mailbox, trustee string
	right            delegation.Right
	pending          bool // effective Propagation after it is made
	revoked          bool // removed right after it is made
}{
	{mailbox: "alice@example.test", trustee: "bob@example.test", right: delegation.SendAs},
	{mailbox: "alice@example.test", trustee: "carol@example.test", right: delegation.SendOnBehalf},
	{mailbox: "alice@example.test", trustee: "henry@example.test", right: delegation.SendAs},
	{mailbox: "alice@example.test", trustee: "henry@example.test", right: delegation.SendOnBehalf},
	{mailbox: "alice@example.test", trustee: "erin@example.test", right: delegation.FullAccess},
	{mailbox: "alice@example.test", trustee: "gina@example.test", right: delegation.SendAs, pending: true},
	{mailbox: "info@example.test", trustee: "sales@example.test", right: delegation.SendAs},
	{mailbox: "alice@example.test", trustee: "bob@example.test", right: delegation.FullAccess},
	{mailbox: "info@example.test", trustee: "bob@example.test", right: delegation.FullAccess},
	{mailbox: "alice@example.test", trustee: "sales@example.test", right: delegation.FullAccess},
	{mailbox: "alice@example.test", trustee: "gina@example.test", right: delegation.FullAccess, pending: true},
	{mailbox: "alice@example.test", trustee: "ivan@example.test", right: delegation.SendAs, revoked: true},
	{mailbox: "info@example.test", trustee: "sales@example.test", right: delegation.FullAccess, pending: true},
}
