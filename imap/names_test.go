package imap

import (
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv/testdir"
	"github.com/mailgate/mailgate/storage"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fuzzDirectory is the shared fixture directory (testdir.Seed lists who
// holds which right) built without storage, as of grants made at t0: for
// Full Access on alice, bob and erin directly, frank through the group
// sales@, gina pending until t0+1h; carol (Send on Behalf) and henry (Send
// As) none; on info@ (shared) bob, and frank through sales@ pending until
// t0+1h; nobody on dave; alice's alias a.owner@. Added for this test:
// mallory@other.test with Full Access on trent@other.test, a grant inside
// another tenant (Full Access "on" alice from there is impossible).
func fuzzDirectory(t testing.TB) *delegation.Directory {
	ts, ps, gs := testdir.Snapshot(t0)
	ps = append(ps,
		delegation.Principal{ID: "mallory", Kind: delegation.KindUser, Tenant: "other.test", Address: "mallory@other.test"},
		delegation.Principal{ID: "trent", Kind: delegation.KindUser, Tenant: "other.test", Address: "trent@other.test"})
	gs = append(gs, delegation.Grant{ID: "mallory-on-trent", Mailbox: "trent", Trustee: "mallory", Right: delegation.FullAccess, EffectiveAt: t0})
	d, err := delegation.NewDirectory(ts, ps, gs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fuzzActors: the corpus names actors by index, so new ones go at the end.
var fuzzActors = []delegation.ID{"alice", "bob", "carol", "dave", "erin", "mallory", "frank", "gina", "henry", "zed"}

// FuzzResolve: whatever the name, the actor, the time and the login form,
// a name never resolves to a folder of a principal the actor may not open
// at that time, the folder part is always a clean storage name, and the
// shown name resolves back to the same place.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"INBOX", "inbox", "Other Users/alice@example.test/INBOX", "other users/ALICE@EXAMPLE.TEST/inbox",
		"Other Users/dave@example.test/INBOX", "Other Users/alice@example.test/../dave@example.test/INBOX",
		"Other Users/a.owner@example.test/Sent", "Other Users//alice@example.test/INBOX", "Other Users/alice@example.test",
		"Other Users/info@example.test/INBOX", "Other Users/trent@other.test/INBOX", "Other Users/alice@example.test/a/b/c",
		"Other Users/alice@example.test/./INBOX", "../Other Users/dave@example.test/INBOX", "Other Users/ dave@example.test/INBOX",
		"Other Users/dave@example.test\x00/INBOX", "Other Users/\"dave\"@example.test/INBOX", "Other Users\\dave@example.test\\INBOX",
	} {
		for i := range fuzzActors {
			f.Add(uint8(i), s, uint8(0), false)
		}
	}
	f.Add(uint8(1), "Other Users/info@example.test/INBOX", uint8(0), false)
	f.Add(uint8(6), "Other Users/info@example.test/INBOX", uint8(2), false)  // frank, once effective
	f.Add(uint8(7), "Other Users/alice@example.test/INBOX", uint8(2), false) // gina, once effective
	f.Add(uint8(1), "INBOX", uint8(0), true)
	dir := fuzzDirectory(f)
	f.Fuzz(func(t *testing.T, actorIdx uint8, name string, hours uint8, delegateLogin bool) {
		actor := fuzzActors[int(actorIdx)%len(fuzzActors)]
		now := t0.Add(time.Duration(hours%4) * time.Hour)
		r := resolver{dir: dir, actor: actor, owner: actor, now: now}
		if delegateLogin {
			r.owner = "alice"
		}
		pl, _, ok := r.resolve(name)
		if !ok {
			return
		}
		if pl.owner != actor && !dir.Open(actor, pl.owner, now).Allowed {
			t.Fatalf("%s resolves %q to %s's folder %q without Full Access at %v", actor, name, pl.owner, pl.folder, now)
		}
		if pl.owner == "dave" && actor != "dave" {
			t.Fatalf("%s reached dave's folder via %q", actor, name)
		}
		if norm, err := storage.NormalizeFolder(pl.folder); err != nil || norm != pl.folder {
			t.Fatalf("%q resolved to an unclean folder %q (%v)", name, pl.folder, err)
		}
		if strings.ContainsAny(pl.name, "\r\n\x00") {
			t.Fatalf("%q shows as %q", name, pl.name)
		}
		back, _, ok := r.resolve(pl.name)
		if !ok || back.owner != pl.owner || back.folder != pl.folder || back.name != pl.name {
			t.Fatalf("%q → %+v, but its name %q → %+v (%v)", name, pl, pl.name, back, ok)
		}
	})
}

func TestResolveTable(t *testing.T) {
	dir := fuzzDirectory(t)
	for _, tc := range []struct {
		actor delegation.ID
		name  string
		hours int
		owner delegation.ID // "" = must not resolve
		shown string
	}{
		{"bob", "Other Users/alice@example.test/INBOX", 0, "alice", "Other Users/alice@example.test/INBOX"},
		{"bob", "other users/ALICE@example.test/inbox", 0, "alice", "Other Users/alice@example.test/INBOX"},
		{"bob", "Other Users/a.owner@example.test/Sent", 0, "alice", "Other Users/alice@example.test/Sent"}, // alias
		{"bob", "Other Users/dave@example.test/INBOX", 0, "", ""},
		{"bob", "Other Users/info@example.test/INBOX", 0, "info", "Other Users/info@example.test/INBOX"}, // shared
		{"carol", "Other Users/alice@example.test/INBOX", 0, "", ""},                                     // Send on Behalf only
		{"henry", "Other Users/alice@example.test/INBOX", 0, "", ""},                                     // Send As and Send on Behalf
		{"erin", "Other Users/alice@example.test/INBOX", 0, "alice", "Other Users/alice@example.test/INBOX"},
		{"erin", "Other Users/info@example.test/INBOX", 0, "", ""},
		{"frank", "Other Users/alice@example.test/INBOX", 0, "alice", "Other Users/alice@example.test/INBOX"}, // through sales@
		{"frank", "Other Users/info@example.test/INBOX", 0, "", ""},                                           // through sales@, pending
		{"frank", "Other Users/info@example.test/INBOX", 1, "info", "Other Users/info@example.test/INBOX"},
		{"gina", "Other Users/alice@example.test/INBOX", 0, "", ""}, // pending
		{"gina", "Other Users/alice@example.test/INBOX", 1, "alice", "Other Users/alice@example.test/INBOX"},
		{"mallory", "Other Users/trent@other.test/INBOX", 0, "trent", "Other Users/trent@other.test/INBOX"},
		{"zed", "Other Users/alice@example.test/INBOX", 0, "", ""}, // another tenant
		{"mallory", "Other Users/alice@example.test/INBOX", 0, "", ""},
		{"bob", "Other Users/alice@example.test/../dave@example.test/INBOX", 0, "", ""},
		{"bob", "Other Users/alice@example.test", 0, "", ""},
		// mutt's stock imap_delim_chars sends every "." as "/".
		{"bob", "Other Users/alice@example/test/INBOX", 0, "alice", "Other Users/alice@example.test/INBOX"},
		{"bob", "Other Users/alice@example/test/Projects/2026", 0, "alice", "Other Users/alice@example.test/Projects/2026"},
		{"bob", "Other Users/dave@example/test/INBOX", 0, "", ""},
		{"mallory", "Other Users/alice@example/test/INBOX", 0, "", ""},
		{"bob", "Other Users/alice@example/test", 0, "", ""},
		{"bob", "Other Users/bob@example.test/INBOX", 0, "", ""}, // oneself: only in the personal namespace
		{"dave", "INBOX", 0, "dave", "INBOX"},
		{"dave", "Work/../INBOX", 0, "", ""},
	} {
		r := resolver{dir: dir, actor: tc.actor, owner: tc.actor, now: t0.Add(time.Duration(tc.hours) * time.Hour)}
		pl, _, ok := r.resolve(tc.name)
		if ok != (tc.owner != "") || ok && (pl.owner != tc.owner || pl.name != tc.shown) {
			t.Errorf("%s resolve(%q) = %+v, %v; want owner %q shown %q", tc.actor, tc.name, pl, ok, tc.owner, tc.shown)
		}
	}
}
