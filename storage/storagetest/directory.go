// Package storagetest is the storage conformance suite: black-box tests of
// the storage contract (storage.DirectoryStore, ...) that every backend
// runs, so that Badger and PostgreSQL answer the same way. A test that
// only one backend passes is a bug in that backend or in the test.
package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Open opens a new, empty store for one test.
type Open func(t *testing.T) storage.DirectoryStore

// RunDirectory runs the directory tests on stores from open.
func RunDirectory(t *testing.T, open Open) {
	t.Run("TenantsAndPrincipals", func(t *testing.T) { tenantsAndPrincipals(t, open(t)) })
	t.Run("Grants", func(t *testing.T) { grants(t, open(t)) })
	t.Run("AuditInTheChange", func(t *testing.T) { auditInTheChange(t, open(t)) })
	t.Run("Batch", func(t *testing.T) { RunBatch(t, open) })
	t.Run("TimeBoxedGrants", func(t *testing.T) { timeBoxedGrants(t, open(t)) })
}

func fatal(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: %v, want %v", what, err, kind)
	}
}

// wantErr is wantKind for an error whose text must also say what is
// wrong (the CLI and the admin API show it as it is).
func wantErr(t *testing.T, what string, err, kind error, text string) {
	t.Helper()
	if !errors.Is(err, kind) || !strings.Contains(fmt.Sprint(err), text) {
		t.Errorf("%s: %v, want %v saying %q", what, err, kind, text)
	}
}

func user(addr string) storage.NewPrincipal {
	return storage.NewPrincipal{Kind: delegation.KindUser, Address: addr, Name: strings.Split(addr, "@")[0], PasswordHash: "$2a$04$x"}
}

func tenantsAndPrincipals(t *testing.T, st storage.DirectoryStore) {
	var changes atomic.Int64
	st.OnDirectoryChange(func(storage.DirChange) { changes.Add(1) })
	tn, err := st.AddTenant("Example.TEST", time.Hour)
	fatal(t, err)
	if tn.Domain != "example.test" || tn.Propagation != time.Hour {
		t.Errorf("AddTenant = %+v", tn)
	}
	_, err = st.AddTenant("example.test", 0)
	wantKind(t, "second tenant example.test", err, storage.ErrExists)
	_, err = st.AddTenant("example.test.", 0)
	wantKind(t, "tenant with a trailing dot", err, storage.ErrInvalid)
	_, err = st.AddTenant("other.test", -time.Second)
	wantKind(t, "negative delay", err, storage.ErrInvalid)

	alice, err := st.AddPrincipal(user("Alice@Example.test"))
	fatal(t, err)
	if alice.Address != "alice@example.test" || alice.Kind != delegation.KindUser || alice.Tenant != "example.test" || !alice.HasPassword || alice.ID == "" {
		t.Errorf("AddPrincipal = %+v", alice)
	}
	bob, err := st.AddPrincipal(user("bob@example.test"))
	fatal(t, err)
	if bob.ID == alice.ID {
		t.Errorf("two principals with ID %s", bob.ID)
	}
	info, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindShared, Address: "info@example.test", Name: "Info", PasswordHash: "ignored"})
	fatal(t, err)
	if info.HasPassword {
		t.Error("a shared mailbox got a password")
	}
	_, err = st.AddPrincipal(user("alice@example.test"))
	wantErr(t, "address used twice", err, storage.ErrExists, "already used")
	_, err = st.AddPrincipal(user("ALICE@example.TEST"))
	wantErr(t, "address used twice, in other case", err, storage.ErrExists, "already used")
	_, err = st.AddPrincipal(user("zed@nowhere.test"))
	wantErr(t, "address of no tenant", err, storage.ErrNotFound, "tenant add nowhere.test")
	_, err = st.AddPrincipal(user("bad address"))
	wantKind(t, "malformed address", err, storage.ErrInvalid)
	_, err = st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: "eve@example.test", Name: "Eve\r\nBcc: x"})
	wantKind(t, "name with a line break", err, storage.ErrInvalid)

	d := st.Directory()
	if p, ok := d.Lookup("alice@example.test"); !ok || p.ID != alice.ID {
		t.Errorf("snapshot lookup of alice: %+v %v", p, ok)
	}
	if _, ok := d.Tenant("example.test"); !ok || len(d.Principals()) != 3 {
		t.Errorf("snapshot: %d principals", len(d.Principals()))
	}
	if n := changes.Load(); n != 4 { // one tenant and three principals
		t.Errorf("%d change notices, want 4", n)
	}
}

func grants(t *testing.T, st storage.DirectoryStore) {
	if _, err := st.AddTenant("example.test", 90*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddTenant("other.test", 0); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test", "carol@example.test", "zed@other.test"} {
		if _, err := st.AddPrincipal(user(a)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindShared, Address: "info@example.test"}); err != nil {
		t.Fatal(err)
	}

	before := time.Now().Add(-time.Second)
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs, CreatedBy: "cli-user"})
	fatal(t, err)
	if g.ID == "" || g.Right != delegation.SendAs || g.CreatedBy != "cli-user" || g.CreatedAt.Before(before) ||
		g.EffectiveAt.Sub(g.CreatedAt) != 90*time.Minute || g.CreatedAt.Nanosecond() != 0 {
		t.Errorf("AddGrant = %+v: want effective 90m after a whole-second creation", g)
	}
	now, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "carol@example.test", Right: delegation.FullAccess, Immediate: true})
	fatal(t, err)
	if !now.EffectiveAt.Equal(now.CreatedAt) {
		t.Errorf("immediate grant: %+v", now)
	}
	if now.ID == g.ID {
		t.Errorf("two grants with ID %s", g.ID)
	}
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs, Immediate: true})
	wantKind(t, "the same grant again", err, storage.ErrExists)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "zed@other.test", Right: delegation.SendAs, Immediate: true})
	wantErr(t, "grant across tenants", err, storage.ErrInvalid,
		"alice@example.test and zed@other.test are in different tenants: rights can only be granted inside one tenant")
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "info@example.test", Right: delegation.SendAs, Immediate: true})
	wantErr(t, "grant to a shared mailbox", err, storage.ErrInvalid, "shared mailbox")
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "alice@example.test", Right: delegation.FullAccess, Immediate: true})
	wantErr(t, "grant to oneself", err, storage.ErrInvalid, "itself")
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "nobody@example.test", Right: delegation.SendAs, Immediate: true})
	wantErr(t, "grant to nobody", err, storage.ErrNotFound, "nobody@example.test")

	d := st.Directory()
	bob, _ := d.Lookup("bob@example.test")
	alice, _ := d.Lookup("alice@example.test")
	if dc := d.Send(bob.ID, "alice@example.test", g.EffectiveAt.Add(-time.Second)); dc.Allowed || dc.Reason != delegation.ReasonPending {
		t.Errorf("pending Send As: %+v, want refused as pending", dc)
	}
	if dc := d.Send(bob.ID, "alice@example.test", g.EffectiveAt); !dc.Allowed || dc.GrantID != g.ID {
		t.Errorf("effective Send As: %+v", dc)
	}
	list, err := st.Grants("alice@example.test", "")
	fatal(t, err)
	if len(list) != 2 || list[0].ID != now.ID || list[1].ID != g.ID { // by effective time
		t.Errorf("Grants(alice) = %+v", list)
	}
	toBob, err := st.Grants("", "bob@example.test")
	fatal(t, err)
	if list := toBob; len(list) != 1 || list[0].Mailbox != alice.ID {
		t.Errorf("Grants(to bob) = %+v", list)
	}

	gone, err := st.RemoveGrantBy("alice@example.test", "bob@example.test", delegation.SendAs, "cli-user")
	fatal(t, err)
	if gone.ID != g.ID {
		t.Errorf("RemoveGrantBy removed %+v, want %s", gone, g.ID)
	}
	if dc := st.Directory().Send(bob.ID, "alice@example.test", g.EffectiveAt); dc.Allowed {
		t.Errorf("Send As after revocation: %+v", dc)
	}
	_, err = st.RemoveGrantBy("alice@example.test", "bob@example.test", delegation.SendAs, "")
	wantKind(t, "revoking twice", err, storage.ErrNotFound)
	if recs, err := st.AuditList(storage.AuditFilter{Action: "grant_remove"}); err != nil || len(recs) != 1 || recs[0].Actor != "cli-user" || recs[0].GrantID != g.ID {
		t.Errorf("grant_remove audit = %+v, %v; want one, by cli-user, of %s", recs, err, g.ID)
	}
}

func auditInTheChange(t *testing.T, st storage.DirectoryStore) {
	if _, err := st.AddTenant("example.test", 0); err != nil {
		t.Fatal(err)
	}
	alice, err := st.AddPrincipal(user("alice@example.test"))
	fatal(t, err)
	if _, err := st.AddPrincipal(user("bob@example.test")); err != nil {
		t.Fatal(err)
	}
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.FullAccess, Immediate: true, CreatedBy: "root"})
	fatal(t, err)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.FullAccess, Immediate: true, CreatedBy: "root"})
	wantKind(t, "the same grant again", err, storage.ErrExists) // and no record of it below
	if _, err := st.RemoveGrantBy("alice@example.test", "bob@example.test", delegation.FullAccess, ""); err != nil {
		t.Fatal(err)
	}
	rec := storage.AuditRecord{Proto: "imap", Action: "folder_bind", Actor: "bob@example.test", Mailbox: "alice@example.test",
		MailboxID: string(alice.ID), Decision: storage.AuditRefused, Folder: "INBOX"}
	if err := st.Audit(rec); err != nil {
		t.Fatal(err)
	}
	recs, err := st.AuditList(storage.AuditFilter{})
	fatal(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, r.Proto+" "+r.Action+" "+r.Actor+" "+r.Mailbox+" "+string(r.Decision))
		if r.Time.IsZero() {
			t.Errorf("record without a time: %+v", r)
		}
	}
	want := []string{
		"admin tenant_add admin  allowed",
		"admin user_add admin alice@example.test allowed",
		"admin user_add admin bob@example.test allowed",
		"admin grant_add root alice@example.test allowed",
		"admin grant_remove admin alice@example.test allowed",
		"imap folder_bind bob@example.test alice@example.test refused",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit, oldest first:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range recs[3:5] {
		if r.GrantID != g.ID || r.Right != "full-access" || r.MailboxID != string(alice.ID) || !strings.HasPrefix(r.Detail, "trustee bob@example.test") {
			t.Errorf("%s record: %+v", r.Action, r)
		}
	}
	byAction, err := st.AuditList(storage.AuditFilter{Action: "grant_remove"})
	fatal(t, err)
	refused, err := st.AuditList(storage.AuditFilter{Decision: storage.AuditRefused, MailboxID: string(alice.ID)})
	fatal(t, err)
	if len(byAction) != 1 || len(refused) != 1 || refused[0].Folder != "INBOX" {
		t.Errorf("filters: %d grant_remove, %d refused on alice", len(byAction), len(refused))
	}
	last, err := st.AuditList(storage.AuditFilter{Limit: 2})
	fatal(t, err)
	if len(last) != 2 || last[1].Action != "folder_bind" {
		t.Errorf("Limit 2 keeps the newest: %+v", last)
	}
}

// timeBoxedGrants: a grant's end is kept in whole seconds (UTC), read back
// from the database into the snapshot and the list, counted by the engine
// and named in the grant_add audit record; an end that is past, or before
// the propagation delay is over, is refused.
func timeBoxedGrants(t *testing.T, st storage.DirectoryStore) {
	_, err := st.AddTenant("example.test", time.Hour)
	fatal(t, err)
	for _, a := range []string{"alice@example.test", "bob@example.test", "carol@example.test"} {
		_, err := st.AddPrincipal(user(a))
		fatal(t, err)
	}
	end := time.Now().Add(3*time.Hour + 500*time.Millisecond).In(time.FixedZone("CET", 3600))
	boxed, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs, Until: end, CreatedBy: "cli-user"})
	fatal(t, err)
	if want := end.UTC().Truncate(time.Second); !boxed.Until.Equal(want) || boxed.Until.Location() != time.UTC {
		t.Errorf("AddGrant until %v = %+v, want until %v", end, boxed, want)
	}
	month, err := st.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "carol@example.test", Right: delegation.FullAccess, Immediate: true, For: 720 * time.Hour})
	fatal(t, err)
	if month.Until.Sub(month.CreatedAt) != 720*time.Hour || !month.EffectiveAt.Equal(month.CreatedAt) {
		t.Errorf("AddGrant for 720h = %+v", month)
	}
	open, err := st.AddGrant(storage.NewGrant{Mailbox: "bob@example.test", Trustee: "carol@example.test", Right: delegation.SendAs, Immediate: true})
	fatal(t, err)
	if !open.Until.IsZero() {
		t.Errorf("open-ended grant: %+v", open)
	}
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "bob@example.test", Trustee: "alice@example.test", Right: delegation.SendAs, Until: time.Now().Add(30 * time.Minute)})
	wantKind(t, "an end before the propagation delay is over", err, storage.ErrInvalid)
	_, err = st.AddGrant(storage.NewGrant{Mailbox: "bob@example.test", Trustee: "alice@example.test", Right: delegation.SendAs, Immediate: true, Until: time.Now().Add(-time.Minute)})
	wantKind(t, "an end in the past", err, storage.ErrInvalid)

	list, err := st.Grants("", "")
	fatal(t, err)
	got := map[string]time.Time{}
	for _, g := range list {
		got[g.ID] = g.Until
	}
	if len(list) != 3 || !got[boxed.ID].Equal(boxed.Until) || !got[month.ID].Equal(month.Until) || !got[open.ID].IsZero() {
		t.Errorf("Grants = %+v: want the ends kept", list)
	}
	d := st.Directory()
	bob, _ := d.Lookup("bob@example.test")
	carol, _ := d.Lookup("carol@example.test")
	alice, _ := d.Lookup("alice@example.test")
	if dc := d.Send(bob.ID, "alice@example.test", boxed.Until.Add(-time.Second)); !dc.Allowed || !dc.Until.Equal(boxed.Until) {
		t.Errorf("Send As before its end: %+v", dc)
	}
	if dc := d.Send(bob.ID, "alice@example.test", boxed.Until); dc.Allowed || dc.Reason != delegation.ReasonExpired || dc.GrantID != boxed.ID {
		t.Errorf("Send As at its end: %+v", dc)
	}
	if dc := d.Open(carol.ID, alice.ID, month.Until); dc.Allowed || dc.Reason != delegation.ReasonExpired {
		t.Errorf("Full Access at its end: %+v", dc)
	}

	recs, err := st.AuditList(storage.AuditFilter{Action: "grant_add"})
	fatal(t, err)
	details := map[string]string{}
	for _, r := range recs {
		details[r.GrantID] = r.Detail
	}
	if want := "until " + boxed.Until.Format(time.RFC3339); !strings.Contains(details[boxed.ID], want) {
		t.Errorf("grant_add audit of %s: %q, want it to say %q", boxed.ID, details[boxed.ID], want)
	}
	if strings.Contains(details[open.ID], "until") || details[open.ID] == "" {
		t.Errorf("grant_add audit of the open-ended %s: %q", open.ID, details[open.ID])
	}
}
