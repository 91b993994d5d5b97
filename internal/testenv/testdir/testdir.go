// Package testdir seeds the one fixture directory (tenants, principals and
// grants) that the smtp and imap tests share, so that bob, carol, dave and
// the others hold the same rights in every package's tests. Only tests
// import it. It imports only storage and delegation, and must not import a
// protocol package (smtp, imap), admin or cmd; it is a package of its own,
// not part of internal/testenv, because storage's own tests use testenv.
package testdir

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Password is every fixture user's password.
const Password = "correct horse"

// Propagation is both fixture tenants' propagation delay: a pending grant
// becomes effective this long after Seed.
const Propagation = time.Hour

// PasswordHash is the bcrypt hash of Password, computed once per test
// binary: bcrypt is slow on purpose, and every fixture user shares it.
var PasswordHash = sync.OnceValue(func() string {
	h, err := storage.HashPassword(Password)
	if err != nil {
		panic(err)
	}
	return h
})

// Seed creates the fixture directory in st and returns each principal's ID
// by its short name (the address's local part: "alice", "info", "sales",
// "zed"). Grants are made at st's clock: an immediate grant is effective at
// once, a pending one Propagation later.
//
// Tenants example.test and other.test, both with Propagation (60m). Users,
// all with Password, named after themselves ("Bob"), except alice:
//
//	alice  "Alice Owner", alias a.owner@example.test; the owner
//	bob    Full Access and Send As on alice; Full Access on info@
//	carol  Send on Behalf on alice
//	dave   no rights; nobody has rights on him; member of team@
//	erin   Full Access on alice only (direct)
//	frank  member of sales@, so Full Access on alice and Send As on
//	       info@ through the group; no grant of his own
//	gina   Send As and Full Access on alice, both pending (Propagation)
//	henry  Send As and Send on Behalf on alice
//	ivan   Send As on alice, granted and revoked
//	zed    zed@other.test, another tenant
//
// Shared mailbox info@ "Info" (no password). Groups: sales@ "Sales" =
// {frank}, with Full Access on alice and Send As on info@; team@ "Team" =
// {sales@, dave}, with no grants.
func Seed(t testing.TB, st *storage.Store) map[string]delegation.ID {
	t.Helper()
	ids := map[string]delegation.ID{}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed fixture directory: %v", err)
		}
	}
	add := func(np storage.NewPrincipal) {
		t.Helper()
		p, err := st.AddPrincipal(np)
		must(p, err)
		ids[np.Address[:strings.IndexByte(np.Address, '@')]] = p.ID
	}
	must(st.AddTenant("example.test", Propagation))
	must(st.AddTenant("other.test", Propagation))
	user := func(addr, name string) {
		t.Helper()
		add(storage.NewPrincipal{Kind: delegation.KindUser, Address: addr, Name: name, PasswordHash: PasswordHash()})
	}
	user("alice@example.test", "Alice Owner")
	for _, u := range []string{"bob", "carol", "dave", "erin", "frank", "gina", "henry", "ivan"} {
		user(u+"@example.test", strings.ToUpper(u[:1])+u[1:])
	}
	user("zed@other.test", "Zed")
	must(st.AddAlias("alice@example.test", "a.owner@example.test"))
	add(storage.NewPrincipal{Kind: delegation.KindShared, Address: "info@example.test", Name: "Info"})
	add(storage.NewPrincipal{Kind: delegation.KindGroup, Address: "sales@example.test", Name: "Sales"})
	add(storage.NewPrincipal{Kind: delegation.KindGroup, Address: "team@example.test", Name: "Team"})
	must(st.AddMember("sales@example.test", "frank@example.test"))
	must(st.AddMember("team@example.test", "sales@example.test"))
	must(st.AddMember("team@example.test", "dave@example.test"))
	for _, g := range []struct {
		mailbox, trustee string
		right            delegation.Right
		immediate        bool
	}{
		// bob and carol have the demo tenant's rights (cmd/mailgate
		// seedDemo): bob Full Access and Send As on alice, carol Send on
		// Behalf; dave none.
		{"alice", "bob", delegation.FullAccess, true},
		{"alice", "bob", delegation.SendAs, true},
		{"info", "bob", delegation.FullAccess, true},
		{"alice", "carol", delegation.SendOnBehalf, true},
		{"alice", "erin", delegation.FullAccess, true},
		{"alice", "sales", delegation.FullAccess, true},
		{"info", "sales", delegation.SendAs, true},
		{"alice", "gina", delegation.SendAs, false},
		{"alice", "gina", delegation.FullAccess, false},
		{"alice", "henry", delegation.SendAs, true},
		{"alice", "henry", delegation.SendOnBehalf, true},
		{"alice", "ivan", delegation.SendAs, true},
	} {
		must(st.AddGrant(g.mailbox+"@example.test", g.trustee+"@example.test", g.right, g.immediate, "test"))
	}
	must(st.RemoveGrant("alice@example.test", "ivan@example.test", delegation.SendAs))
	return ids
}
