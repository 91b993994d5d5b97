package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/internal/testenv"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// noPoll leaves notices as the only way a change from another node
// arrives (the periodic check never fires during a test).
var noPoll = Options{PollInterval: time.Hour}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not seen after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func seedTwo(t *testing.T, st *Store) {
	t.Helper()
	if _, err := st.AddTenant("example.test", time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: u + "@example.test"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChangeReachesOtherNode: a grant made on node A is in node B's
// snapshot soon after, by its notice alone, and B's listeners hear of it;
// a revocation on B is seen by A the same way.
func TestChangeReachesOtherNode(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	var heard atomic.Int64
	b.OnDirectoryChange(func(storage.DirChange) { heard.Add(1) })
	seedTwo(t, a)
	g, err := a.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: "bob@example.test", Right: delegation.FullAccess, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	lag := waitFor(t, "A's grant on B", func() bool {
		bob, ok := b.Directory().Lookup("bob@example.test")
		return ok && b.Directory().Open(bob.ID, mustID(t, b, "alice@example.test"), time.Now()).Allowed
	})
	waitFor(t, "B's listeners told of A's four changes", func() bool { return heard.Load() == 4 })
	if _, err := b.RemoveGrantBy("alice@example.test", "bob@example.test", delegation.FullAccess, ""); err != nil {
		t.Fatal(err)
	}
	lag2 := waitFor(t, "B's revocation on A", func() bool { return len(a.Directory().GrantsOn(g.Mailbox)) == 0 })
	t.Logf("seen on the other node after %s and %s", lag, lag2)
}

func mustID(t *testing.T, st *Store, addr string) delegation.ID {
	t.Helper()
	p, ok := st.Directory().Lookup(addr)
	if !ok {
		t.Fatalf("no %s", addr)
	}
	return p.ID
}

// TestMissedNoticeCaughtUp: when node B's listening connection is cut, a
// change made meanwhile (its notice lost) still reaches B: B reconnects
// and catches up from the change log.
func TestMissedNoticeCaughtUp(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	seedTwo(t, a)
	waitFor(t, "the seed on B", func() bool { _, ok := b.Directory().Lookup("bob@example.test"); return ok })
	for round := range 3 {
		// Cut every listening connection (B's and A's), then change at once.
		ctx := context.Background()
		var cut int
		if err := a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&cut); err != nil {
			t.Fatal(err)
		}
		if cut == 0 {
			t.Fatal("no listening connection found to cut")
		}
		addr := fmt.Sprintf("u%d@example.test", round)
		if _, err := a.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: addr}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, addr+" on B after its listener was cut", func() bool { _, ok := b.Directory().Lookup(addr); return ok })
	}
}

// TestConcurrentNodesWrite: two nodes writing at once never both pass a
// check that only one may (the same address twice), and every grant they
// make gets its own ID.
func TestConcurrentNodesWrite(t *testing.T) {
	dsn := testenv.Postgres(t)
	nodes := []*Store{open(t, dsn, Options{}), open(t, dsn, Options{})}
	seedTwo(t, nodes[0])
	waitFor(t, "seed on node 2", func() bool { _, ok := nodes[1].Directory().Lookup("bob@example.test"); return ok })
	const each = 10
	var wg sync.WaitGroup
	var created, refused atomic.Int64
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				// The same addresses from both nodes: each one is created once.
				_, err := n.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: fmt.Sprintf("same%d@example.test", k)})
				switch {
				case err == nil:
					created.Add(1)
				case errors.Is(err, storage.ErrExists):
					refused.Add(1)
				default:
					t.Errorf("node %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	if created.Load() != each || refused.Load() != each {
		t.Errorf("%d created, %d refused; want %d each", created.Load(), refused.Load(), each)
	}
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				if _, err := n.AddGrant(storage.NewGrant{Mailbox: "alice@example.test", Trustee: fmt.Sprintf("same%d@example.test", k), Right: delegation.Right(1 << i), Immediate: true}); err != nil {
					t.Errorf("node %d grant %d: %v", i, k, err)
				}
			}
		}()
	}
	wg.Wait()
	for i, n := range nodes {
		waitFor(t, fmt.Sprintf("all grants on node %d", i), func() bool { return len(n.Directory().Grants()) == 2*each })
		seen := map[string]bool{}
		for _, g := range n.Directory().Grants() {
			if seen[g.ID] {
				t.Errorf("grant ID %s twice", g.ID)
			}
			seen[g.ID] = true
		}
	}
}

// TestMigrate: nodes starting together on an empty database all come up
// on one schema, applied once; migrating again does nothing.
func TestMigrate(t *testing.T) {
	dsn := testenv.Postgres(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Open(context.Background(), dsn, Options{Logger: testenv.Logger(t)})
			if err != nil {
				t.Error(err)
				return
			}
			st.Close()
		}()
	}
	wg.Wait()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var rows, top int
	if err := pool.QueryRow(context.Background(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&rows, &top); err != nil {
		t.Fatal(err)
	}
	if rows != SchemaVersion() || top != SchemaVersion() {
		t.Errorf("schema_migrations: %d rows up to %d, want %d", rows, top, SchemaVersion())
	}
	applied, err := Migrate(context.Background(), pool)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate applied %v, %v", applied, err)
	}
	// A database from a newer mailgate is refused, not misread.
	if _, err := pool.Exec(context.Background(), "INSERT INTO schema_migrations (version) VALUES ($1)", SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dsn, Options{}); err == nil {
		t.Error("Open of a newer schema succeeded")
	}
}

// TestLoginsOnBothNodes: storage/auth over two nodes' stores: a user logs
// in on either; a password changed on node A is refused on node B at
// once (B's cache is emptied by the change notice), the new one accepted.
func TestLoginsOnBothNodes(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	seedTwo(t, a)
	h1, _ := bcrypt.GenerateFromPassword([]byte("first"), bcrypt.MinCost)
	if _, err := a.SetPassword("bob@example.test", string(h1)); err != nil {
		t.Fatal(err)
	}
	authA, authB := auth.New(a, nil), auth.New(b, nil)
	waitFor(t, "bob on B", func() bool { _, err := authB.Authenticate("bob@example.test", "first", ""); return err == nil })
	if _, err := authA.Authenticate("bob@example.test", "first", ""); err != nil {
		t.Fatalf("login on A: %v", err)
	}
	h2, _ := bcrypt.GenerateFromPassword([]byte("second"), bcrypt.MinCost)
	if _, err := a.SetPassword("bob@example.test", string(h2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old password refused on B", func() bool {
		_, err := authB.Authenticate("bob@example.test", "first", "")
		return errors.Is(err, auth.ErrAuthFailed)
	})
	if _, err := authB.Authenticate("bob@example.test", "second", ""); err != nil {
		t.Errorf("new password on B: %v", err)
	}
}

// TestWriteAfterMissedChangeTellsListeners: node B, its notice of A's
// change lost, makes a change of its own: its write reloads the
// snapshot past A's change, and B's listeners still hear of both.
func TestWriteAfterMissedChangeTellsListeners(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	seedTwo(t, a)
	waitFor(t, "the seed on B", func() bool { _, ok := b.Directory().Lookup("bob@example.test"); return ok })
	// The snapshot is in place before its changes are announced: let that
	// announcement finish, so the listener below hears only what follows.
	b.dirMu.Lock()
	t.Logf("B has announced the log up to %d", b.heard)
	b.dirMu.Unlock()
	var mu sync.Mutex
	var heard []storage.DirChange
	b.OnDirectoryChange(func(c storage.DirChange) { mu.Lock(); heard = append(heard, c); mu.Unlock() })
	if _, err := a.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetPassword("bob@example.test", "hash"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: "carol@example.test"}); err != nil {
		t.Fatal(err)
	}
	bob := mustID(t, b, "bob@example.test")
	waitFor(t, "B's listeners told of A's password change and B's principal", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if len(heard[0].PasswordChanged) != 1 || heard[0].PasswordChanged[0] != bob {
		t.Errorf("B heard %+v first, want bob's password change", heard)
	}
}

// TestThrottleAcrossNodes: failed logins on node A count on node B: after
// MaxFailuresPerIP failures from one address on A, B refuses that address
// too (ErrThrottled, even with the right password), while another address
// still logs in on B.
func TestThrottleAcrossNodes(t *testing.T) {
	dsn := testenv.Postgres(t)
	a, b := open(t, dsn, noPoll), open(t, dsn, noPoll)
	seedTwo(t, a)
	h, _ := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if _, err := a.SetPassword("bob@example.test", string(h)); err != nil {
		t.Fatal(err)
	}
	authA, authB := auth.New(a, nil), auth.New(b, nil)
	var heardOnB atomic.Int64 // B's own Authenticator hears them the same way
	b.OnLogin(func(string, string, bool, time.Time) { heardOnB.Add(1) })
	waitFor(t, "bob's password on B", func() bool { return len(mustHash(t, b, "bob@example.test")) > 0 })
	const sprayer = "203.0.113.9"
	for i := range auth.MaxFailuresPerIP {
		// A spray: each guess at another account, so only the address's
		// counter reaches its cap.
		if _, err := authA.Authenticate(fmt.Sprintf("user%d@example.test", i), "guess", sprayer); !errors.Is(err, auth.ErrAuthFailed) {
			t.Fatalf("guess %d on A: %v", i, err)
		}
	}
	waitFor(t, "A's failures heard on B", func() bool { return heardOnB.Load() == auth.MaxFailuresPerIP })
	if _, err := authB.Authenticate("bob@example.test", "right", sprayer); !errors.Is(err, auth.ErrThrottled) {
		t.Errorf("the sprayer's address on B after %d failures on A: %v, want ErrThrottled", auth.MaxFailuresPerIP, err)
	}
	if _, err := authB.Authenticate("bob@example.test", "right", "198.51.100.7"); err != nil {
		t.Errorf("another address on B: %v", err)
	}
}

func mustHash(t *testing.T, st *Store, addr string) string {
	t.Helper()
	p, ok := st.Directory().Lookup(addr)
	if !ok {
		return ""
	}
	h, _ := st.PasswordHash(p.ID)
	return h
}
