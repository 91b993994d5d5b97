package storagetest

import (
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// nestedGroups: a right given to a group holds for the members of the
// groups in it, and ends with their membership; a membership that would
// close a cycle is refused.
func nestedGroups(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	for _, g := range []string{"g1@example.test", "g2@example.test", "g3@example.test"} {
		if _, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindGroup, Address: g}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{"g1@example.test", "g2@example.test"}, {"g2@example.test", "g3@example.test"}, {"g3@example.test", "carol@example.test"}} {
		if _, err := st.AddMember(m[0], m[1]); err != nil {
			t.Fatalf("AddMember(%s, %s): %v", m[0], m[1], err)
		}
	}
	for _, m := range [][2]string{{"g3@example.test", "g1@example.test"}, {"g3@example.test", "g2@example.test"}, {"g2@example.test", "g1@example.test"},
		{"g2@example.test", "g2@example.test"}} {
		_, err := st.AddMember(m[0], m[1])
		wantErr(t, "AddMember("+m[0]+", "+m[1]+")", err, storage.ErrInvalid, "cycle")
	}
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "g1@example.test", Right: delegation.FullAccess, Immediate: true})
	fatal(t, err)
	carol, alice := id(t, st, "carol@example.test"), id(t, st, "alice@example.test")
	if dc := st.Directory().Open(carol, alice, time.Now()); !dc.Allowed || dc.GrantID != g.ID {
		t.Errorf("carol in g3 in g2 in g1 opening alice: %+v", dc)
	}
	if _, err := st.RemoveMember("g3@example.test", "carol@example.test"); err != nil {
		t.Fatal(err)
	}
	if dc := st.Directory().Open(carol, alice, time.Now()); dc.Allowed {
		t.Errorf("carol after leaving g3: %+v", dc)
	}
}

// trailingDot: "example.test." is neither a second tenant nor
// "x@example.test." a second principal: every way in refuses the
// trailing dot with the spelling to use, and a lookup with it finds no
// one.
func trailingDot(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	for what, err := range map[string]error{
		"AddTenant(example.test.)":      secondErr(st.AddTenant("example.test.", 0)),
		"AddTenant(New.test.)":          secondErr(st.AddTenant("New.test.", 0)),
		"SetPropagation(example.test.)": secondErr(st.SetPropagation("example.test.", 0)),
		"AddPrincipal(v@example.test.)": secondErr(st.AddPrincipal(user("v@example.test."))),
		"AddPrincipal(alice@example.test.)": secondErr(st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindShared,
			Address: "alice@example.test."})),
		"AddAlias(w@example.test.)":      secondErr(st.AddAlias("alice@example.test", "w@example.test.")),
		"Rename(a2@example.test.)":       secondErr(st.Rename("alice@example.test", "a2@example.test.")),
		"AddGrant(alice@example.test.)":  secondErr(st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test.", Trustee: "bob@example.test", Right: delegation.SendAs, Immediate: true})),
		"AddMember(sales@example.test.)": secondErr(st.AddMember("sales@example.test", "bob@example.test.")),
	} {
		wantErr(t, what, err, storage.ErrInvalid, "ends with a dot (write ")
	}
	if ts := st.Directory().Tenants(); len(ts) != 2 {
		t.Errorf("tenants %+v, want example.test and other.test", ts)
	}
	if p, ok := st.Directory().Lookup("Alice@Example.test."); ok {
		t.Errorf("Lookup(Alice@Example.test.) = %s, want none", p.Address)
	}
	if ps, _ := st.Principals("example.test"); len(ps) != 5 {
		t.Errorf("%d principals in example.test, want the 5 seeded", len(ps))
	}
}

func secondErr[T any](_ T, err error) error { return err }
