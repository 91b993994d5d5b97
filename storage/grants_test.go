package storage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// TestSchema4GrantsOpenEnded: a grant record as schema 4 wrote it (no
// until) reads back open-ended after the step to 5, and a time-boxed
// grant's end survives a restart; the new records carry it, the old ones
// are untouched.
func TestSchema4GrantsOpenEnded(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	opts := Options{Now: func() time.Time { return now }}
	st, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddTenant("a.test", 0); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@a.test", "bob@a.test", "carol@a.test"} {
		if _, err := st.AddPrincipal(NewPrincipal{Kind: delegation.KindUser, Address: a}); err != nil {
			t.Fatal(err)
		}
	}
	d := st.Directory()
	alice, _ := d.Lookup("alice@a.test")
	bob, _ := d.Lookup("bob@a.test")
	carol, _ := d.Lookup("carol@a.test")
	boxed, err := st.AddGrant(NewGrant{Mailbox: "alice@a.test", Trustee: "carol@a.test", Right: delegation.SendAs, Immediate: true, For: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	old := `{"id":"g99","mailbox":"` + string(alice.ID) + `","trustee":"` + string(bob.ID) +
		`","right":"send-as","created_at":"2026-11-20T10:00:00Z","effective_at":"2026-11-20T10:00:00Z","created_by":"cli"}`
	if err := st.update(func(txn *badger.Txn) error {
		if err := txn.Set(key(prefGrant, "g99"), []byte(old)); err != nil {
			return err
		}
		return txn.Set(keySchema, []byte(fmt.Sprint(SchemaVersion-1)))
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if st, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	far := now.Add(100 * 365 * 24 * time.Hour)
	if dc := st.Directory().Send(bob.ID, "alice@a.test", far); !dc.Allowed || dc.GrantID != "g99" || !dc.Until.IsZero() {
		t.Errorf("schema 4 grant, a century on: %+v, want allowed by g99, open-ended", dc)
	}
	if dc := st.Directory().Send(carol.ID, "alice@a.test", boxed.Until); dc.Reason != delegation.ReasonExpired || dc.GrantID != boxed.ID {
		t.Errorf("time-boxed grant after a restart, at its end: %+v", dc)
	}
	if err := st.view(func(txn *badger.Txn) error {
		for id, want := range map[string]bool{"g99": false, boxed.ID: true} {
			item, err := txn.Get(key(prefGrant, id))
			if err != nil {
				return err
			}
			v, _ := item.ValueCopy(nil)
			if strings.Contains(string(v), `"until"`) != want {
				t.Errorf("record of %s: %s", id, v)
			}
		}
		item, err := txn.Get(keySchema)
		if err != nil {
			return err
		}
		if v, _ := item.ValueCopy(nil); string(v) != fmt.Sprint(SchemaVersion) {
			t.Errorf("schema %s after opening, want %d", v, SchemaVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
