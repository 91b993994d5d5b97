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

// RunBatch runs the tests of ApplyBatch: one commit, one rebuild and one
// notice, the single operations' policies, every bad record named and
// nothing applied then, and a batch bigger than one Badger transaction.
func RunBatch(t *testing.T, open Open) {
	t.Run("Applied", func(t *testing.T) { batchApplied(t, open(t)) })
	t.Run("BadLines", func(t *testing.T) { batchBadLines(t, open(t)) })
	t.Run("Big", func(t *testing.T) { batchBig(t, open(t)) })
}

func batchApplied(t *testing.T, st storage.DirectoryStore) {
	seed(t, st) // example.test: alice, bob, carol, info@, sales@; other.test: zed
	var notices atomic.Int64
	st.OnDirectoryChange(func(storage.DirChange) { notices.Add(1) })
	hour := time.Hour
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []storage.BatchRecord{
		// A grant first, to a user defined further down.
		{Kind: storage.BatchGrant, Mailbox: "desk@new.test", Trustee: "nina@new.test", Right: delegation.SendAs},
		{Kind: storage.BatchGrant, Mailbox: "nina@new.test", Trustee: "team@new.test", Right: delegation.FullAccess, Immediate: true},
		{Kind: storage.BatchGrant, Mailbox: "info@example.test", Trustee: "bob@example.test", Right: delegation.SendOnBehalf,
			CreatedAt: created, EffectiveAt: created.Add(time.Minute), Until: created.Add(2 * time.Hour), CreatedBy: "old-admin"}, // expired: kept so
		{Kind: storage.BatchUser, Address: "Nina@New.test", Name: "Nina", PasswordHash: "$2a$04$abc"},
		{Kind: storage.BatchTenant, Domain: "new.test", Propagation: &hour},
		{Kind: storage.BatchGroup, Address: "team@new.test", Name: "Team"},
		{Kind: storage.BatchShared, Address: "desk@new.test"},
		{Kind: storage.BatchMember, Group: "team@new.test", Member: "nina@new.test"},
		{Kind: storage.BatchMember, Group: "sales@example.test", Member: "bob@example.test"},
		{Kind: storage.BatchAlias, Address: "nina@new.test", Alias: "n@new.test"},
		{Kind: storage.BatchAlias, Address: "alice@example.test", Alias: "ally@example.test"},
		{Kind: storage.BatchGrant, Mailbox: "alice@example.test", Trustee: "sales@example.test", Right: delegation.FullAccess},
	}
	aliceID := id(t, st, "alice@example.test")
	before := time.Now()
	audit, err := st.AuditList(storage.AuditFilter{})
	fatal(t, err)
	res, err := st.ApplyBatch(storage.Batch{Records: recs, By: "cli:tester"})
	fatal(t, err)
	want := storage.BatchResult{"tenant": 1, "user": 1, "shared": 1, "group": 1, "member": 2, "alias": 2, "grant": 4}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("ApplyBatch = %v, want %v", res, want)
	}
	if n := notices.Load(); n != 1 {
		t.Errorf("ApplyBatch: %d directory notices, want 1", n)
	}
	d := st.Directory()
	nina, ok := d.Lookup("n@new.test")
	if !ok || nina.Address != "nina@new.test" || nina.Name != "Nina" || nina.Kind != delegation.KindUser {
		t.Fatalf("Lookup(n@new.test) = %+v, %v", nina, ok)
	}
	if h, err := st.PasswordHash(nina.ID); err != nil || h != "$2a$04$abc" {
		t.Errorf("PasswordHash(nina) = %q, %v", h, err)
	}
	if tn, ok := d.Tenant("new.test"); !ok || tn.Propagation != time.Hour {
		t.Errorf("Tenant(new.test) = %+v, %v", tn, ok)
	}
	team, _ := d.Lookup("team@new.test")
	sales, _ := d.Lookup("sales@example.test")
	bob, _ := d.Lookup("bob@example.test")
	if !slices.Equal(team.Members, []delegation.ID{nina.ID}) || !slices.Contains(sales.Members, bob.ID) {
		t.Errorf("members: team %v, sales %v", team.Members, sales.Members)
	}
	if p, ok := d.Lookup("ally@example.test"); !ok || p.ID != aliceID {
		t.Errorf("alias ally@ → %+v", p)
	}
	// The alias's record kept what it had (a Badger record is rewritten).
	if p, err := st.Principal(aliceID); err != nil || !p.HasPassword {
		t.Errorf("Principal(alice) after the batch = %+v, %v", p, err)
	}
	gs, err := st.Grants("desk@new.test", "nina@new.test")
	fatal(t, err)
	if len(gs) != 1 || !gs[0].EffectiveAt.Equal(gs[0].CreatedAt.Add(time.Hour)) {
		t.Errorf("grant after the new tenant's delay = %+v", gs)
	}
	gs, err = st.Grants("nina@new.test", "team@new.test")
	fatal(t, err)
	if len(gs) != 1 || !gs[0].EffectiveAt.Equal(gs[0].CreatedAt) {
		t.Errorf("immediate grant = %+v", gs)
	}
	gs, err = st.Grants("info@example.test", "bob@example.test")
	fatal(t, err)
	if len(gs) != 1 || !gs[0].CreatedAt.Equal(created) || !gs[0].EffectiveAt.Equal(created.Add(time.Minute)) || gs[0].CreatedBy != "old-admin" ||
		!gs[0].Until.Equal(created.Add(2*time.Hour)) || gs[0].State(time.Now()) != delegation.StateExpired {
		t.Errorf("restored grant = %+v", gs)
	}
	gs, err = st.Grants("alice@example.test", "sales@example.test")
	fatal(t, err)
	if len(gs) != 1 || gs[0].CreatedBy != "cli:tester" || gs[0].EffectiveAt.Before(before.Truncate(time.Second)) {
		t.Errorf("new grant = %+v", gs)
	}
	recsAfter, err := st.AuditList(storage.AuditFilter{})
	fatal(t, err)
	actions := map[string]int{}
	for _, r := range recsAfter[len(audit):] {
		actions[r.Action]++
		if r.Actor != "cli:tester" {
			t.Errorf("audit record %s by %q, want cli:tester", r.Action, r.Actor)
		}
	}
	wantActions := map[string]int{"tenant_add": 1, "user_add": 1, "shared_mailbox_add": 1, "group_add": 1,
		"member_add": 2, "alias_add": 2, "grant_add": 4, "import": 1}
	if fmt.Sprint(actions) != fmt.Sprint(wantActions) {
		t.Errorf("audit actions %v, want %v", actions, wantActions)
	}
}

func batchBadLines(t *testing.T, st storage.DirectoryStore) {
	seed(t, st)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []storage.BatchRecord{
		{Line: 2, Kind: storage.BatchUser, Address: "ok@example.test"},
		{Line: 3, Kind: storage.BatchGrant, Mailbox: "alice@example.test", Trustee: "zed@other.test", Right: delegation.SendAs},
		{Line: 4, Kind: storage.BatchUser, Address: "bob@example.test"},
		{Line: 5, Kind: storage.BatchUser, Address: "twice@example.test"},
		{Line: 6, Kind: storage.BatchShared, Address: "Twice@example.test"},
		{Line: 7, Kind: storage.BatchGrant, Mailbox: "alice@example.test", Trustee: "info@example.test", Right: delegation.FullAccess},
		{Line: 8, Kind: storage.BatchGrant, Mailbox: "ok@example.test", Trustee: "ok@example.test", Right: delegation.FullAccess},
		{Line: 9, Kind: storage.BatchGroup, Address: "g1@example.test"},
		{Line: 10, Kind: storage.BatchGroup, Address: "g2@example.test"},
		{Line: 11, Kind: storage.BatchMember, Group: "g1@example.test", Member: "g2@example.test"},
		{Line: 12, Kind: storage.BatchMember, Group: "g2@example.test", Member: "g1@example.test"},
		{Line: 13, Kind: storage.BatchAlias, Address: "ok@example.test", Alias: "x@example.test"},
		{Line: 14, Kind: storage.BatchAlias, Address: "carol@example.test", Alias: "x@example.test"},
		{Line: 15, Kind: storage.BatchUser, Address: "nobody@unknown.test"},
		{Line: 16, Kind: "robot", Address: "r@example.test"},
		{Line: 17, Kind: storage.BatchGrant, Mailbox: "ok@example.test", Trustee: "bob@example.test", Right: delegation.SendAs},
		{Line: 18, Kind: storage.BatchGrant, Mailbox: "ok@example.test", Trustee: "bob@example.test", Right: delegation.SendAs},
		{Line: 19, Kind: storage.BatchShared, Address: "s@example.test", PasswordHash: "$2a$04$x"},
		{Line: 20, Kind: storage.BatchGrant, Mailbox: "twice@example.test", Trustee: "bob@example.test", Right: delegation.SendAs},
		{Line: 21, Kind: storage.BatchGrant, Mailbox: "carol@example.test", Trustee: "bob@example.test", Right: delegation.SendAs,
			CreatedAt: created, EffectiveAt: created.Add(time.Hour), Until: created.Add(time.Minute)},
		{Line: 22, Kind: storage.BatchGrant, Mailbox: "carol@example.test", Trustee: "alice@example.test", Right: delegation.SendAs,
			Immediate: true, Until: time.Now().Add(-time.Hour)},
	}
	before := st.Directory()
	audit, err := st.AuditList(storage.AuditFilter{})
	fatal(t, err)
	_, err = st.ApplyBatch(storage.Batch{Records: recs})
	var be *storage.BatchError
	if !errors.As(err, &be) || !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("ApplyBatch with bad lines = %v, want a *BatchError", err)
	}
	var lines []int
	for _, l := range be.Lines {
		lines = append(lines, l.Line)
	}
	wantLines := []int{3, 4, 6, 7, 8, 12, 14, 15, 16, 18, 19, 21, 22}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("bad lines %v, want %v:\n%v", lines, wantLines, err)
	}
	for _, l := range be.Lines {
		if l.Line == 3 && !strings.Contains(l.Msg, "different tenants") {
			t.Errorf("line 3 (a grant across tenants): %q", l.Msg)
		}
		if l.Line == 12 && !strings.Contains(l.Msg, "cycle") {
			t.Errorf("line 12 (a group cycle): %q", l.Msg)
		}
		if l.Line == 21 && !strings.Contains(l.Msg, "not after effective_at") {
			t.Errorf("line 21 (a grant ending before it starts): %q", l.Msg)
		}
		if l.Line == 22 && !strings.Contains(l.Msg, "not in the future") {
			t.Errorf("line 22 (a new grant ending in the past): %q", l.Msg)
		}
	}
	if st.Directory() != before {
		t.Error("a refused batch rebuilt the directory")
	}
	if _, ok := st.Directory().Lookup("ok@example.test"); ok {
		t.Error("a refused batch added a user")
	}
	after, err := st.AuditList(storage.AuditFilter{})
	fatal(t, err)
	if len(after) != len(audit) {
		t.Errorf("a refused batch wrote %d audit records", len(after)-len(audit))
	}
}

// batchBig applies 5,000 users and 10,000 grants: more than one Badger
// transaction holds.
func batchBig(t *testing.T, st storage.DirectoryStore) {
	const users, perUser = 5000, 2
	hash := "$2a$10$" + strings.Repeat("x", 53) // a bcrypt hash's length
	recs := []storage.BatchRecord{{Kind: storage.BatchTenant, Domain: "big.test"}}
	for i := range users {
		recs = append(recs, storage.BatchRecord{Kind: storage.BatchUser, Address: fmt.Sprintf("u%05d@big.test", i), Name: fmt.Sprintf("User %d", i), PasswordHash: hash})
		for j := 1; j <= perUser; j++ {
			recs = append(recs, storage.BatchRecord{Kind: storage.BatchGrant, Mailbox: fmt.Sprintf("u%05d@big.test", i),
				Trustee: fmt.Sprintf("u%05d@big.test", (i+j)%users), Right: delegation.FullAccess})
		}
	}
	start := time.Now()
	res, err := st.ApplyBatch(storage.Batch{Records: recs, By: "cli:tester"})
	fatal(t, err)
	t.Logf("ApplyBatch of %d users and %d grants: %v", users, users*perUser, time.Since(start))
	if res[storage.BatchUser] != users || res[storage.BatchGrant] != users*perUser {
		t.Errorf("ApplyBatch = %v", res)
	}
	d := st.Directory()
	if n := len(d.Grants()); n != users*perUser {
		t.Errorf("%d grants in the directory, want %d", n, users*perUser)
	}
	ps, err := st.Principals("big.test")
	fatal(t, err)
	if len(ps) != users {
		t.Errorf("%d principals, want %d", len(ps), users)
	}
	// IDs keep counting after the batch.
	p, err := st.AddPrincipal(user("after@big.test"))
	fatal(t, err)
	for _, q := range ps {
		if q.ID == p.ID {
			t.Fatalf("AddPrincipal after a batch reused ID %s", p.ID)
		}
	}
	g, err := st.AddGrant(storage.NewGrant{Mailbox: "after@big.test", Trustee: "u00000@big.test", Right: delegation.SendAs, Immediate: true})
	fatal(t, err)
	for _, old := range d.Grants() {
		if old.ID == g.ID {
			t.Fatalf("AddGrant after a batch reused ID %s", g.ID)
		}
	}
}
