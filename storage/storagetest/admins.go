package storagetest

import (
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// AdminBackend is a store with administrators.
type AdminBackend interface {
	storage.DirectoryStore
	storage.AdminStore
}

// RunAdmins runs the administrators tests on stores from open.
func RunAdmins(t *testing.T, open func(t *testing.T) AdminBackend) {
	t.Run("Admins", func(t *testing.T) { admins(t, open(t)) })
}

func admins(t *testing.T, st AdminBackend) {
	for _, d := range []string{"example.test", "other.test"} {
		_, err := st.AddTenant(d, time.Hour)
		fatal(t, err)
	}
	alice, err := st.AddPrincipal(user("alice@example.test"))
	fatal(t, err)
	_, err = st.AddPrincipal(user("root@other.test"))
	fatal(t, err)
	_, err = st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindShared, Address: "info@example.test"})
	fatal(t, err)

	if as, err := st.Admins(); err != nil || len(as) != 0 {
		t.Fatalf("Admins of a new store = %v, %v", as, err)
	}
	a, err := st.SetAdmin("Alice@Example.TEST", "Example.test")
	fatal(t, err)
	if a.ID != alice.ID || a.Address != "alice@example.test" || a.Tenant != "example.test" || a.Global || a.CreatedAt.IsZero() {
		t.Errorf("SetAdmin(tenant) = %+v", a)
	}
	g, err := st.SetAdmin("root@other.test", "")
	fatal(t, err)
	if !g.Global || g.Tenant != "" {
		t.Errorf("SetAdmin(global) = %+v", g)
	}
	_, err = st.SetAdmin("info@example.test", "example.test")
	wantKind(t, "a shared mailbox as administrator", err, storage.ErrInvalid)
	_, err = st.SetAdmin("nobody@example.test", "example.test")
	wantKind(t, "an unknown user as administrator", err, storage.ErrNotFound)
	_, err = st.SetAdmin("alice@example.test", "nowhere.test")
	wantKind(t, "administrator of an unknown tenant", err, storage.ErrNotFound)

	as, err := st.Admins()
	fatal(t, err)
	if len(as) != 2 || as[0].Address != "alice@example.test" || as[0].Tenant != "example.test" || as[1].Address != "root@other.test" || !as[1].Global {
		t.Errorf("Admins = %+v", as)
	}
	// A new role replaces the old one.
	_, err = st.SetAdmin("alice@example.test", "other.test")
	fatal(t, err)
	// The role follows a rename (it is the principal's, not the address's).
	_, err = st.Rename("alice@example.test", "alice.new@example.test")
	fatal(t, err)
	as, err = st.Admins()
	fatal(t, err)
	if len(as) != 2 || as[0].Address != "alice.new@example.test" || as[0].Tenant != "other.test" {
		t.Errorf("Admins after a new role and a rename = %+v", as)
	}

	r, err := st.RemoveAdmin("root@other.test")
	fatal(t, err)
	if !r.Global || r.Address != "root@other.test" {
		t.Errorf("RemoveAdmin = %+v", r)
	}
	_, err = st.RemoveAdmin("root@other.test")
	wantKind(t, "removing a role twice", err, storage.ErrNotFound)

	// Removing the user removes the role.
	_, err = st.RemovePrincipal("alice.new@example.test")
	fatal(t, err)
	if as, err := st.Admins(); err != nil || len(as) != 0 {
		t.Errorf("Admins after the users went = %+v, %v", as, err)
	}

	recs, err := st.AuditList(storage.AuditFilter{})
	fatal(t, err)
	var adds, removes int
	for _, r := range recs {
		switch r.Action {
		case "admin_add":
			adds++
		case "admin_remove":
			removes++
		}
	}
	if adds != 3 || removes != 1 {
		t.Errorf("audit has %d admin_add and %d admin_remove records, want 3 and 1", adds, removes)
	}
}
