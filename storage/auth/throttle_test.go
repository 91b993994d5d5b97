package auth

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// throttleFixture: tenant a.test with users alice, bob, carol and mallory
// (password "right") in a real store, an Authenticator over it with a
// fake clock, and a sleep that advances the clock and records every wait.
func throttleFixture(t *testing.T) (au *Authenticator, now *time.Time, waits *[]time.Duration) {
	t.Helper()
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// The lowest bcrypt cost: these tests check hundreds of passwords.
	h, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, func() time.Time { return clock }, string(h), "alice", "bob", "carol", "mallory")
	au = New(st, func() time.Time { return clock })
	var ws []time.Duration
	au.throttle.sleepFn = func(d time.Duration) { ws = append(ws, d); clock = clock.Add(d) }
	return au, &clock, &ws
}

// openStore opens a real Badger store with tenant a.test and the users
// (local parts) with password hash h.
func openStore(t *testing.T, now func() time.Time, h string, users ...string) *storage.Store {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.AddTenant("a.test", 0); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindUser, Address: u + "@a.test", PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func wantAuth(t *testing.T, au *Authenticator, login, pw, ip string, want error) {
	t.Helper()
	if _, err := au.Authenticate(login, pw, ip); err != want {
		t.Errorf("Authenticate(%s, %s, %s) = %v, want %v", login, pw, ip, err, want)
	}
}

// TestThrottleSprayNotLaundered: a sprayer that owns one account and logs
// in to it between guesses at other accounts is still stopped after
// MaxFailuresPerIP guesses; its own good logins do not clear the IP's
// counter, and it cannot then log in to a victim even with the right
// password. Its own account, where that IP is known-good, is only delayed.
func TestThrottleSprayNotLaundered(t *testing.T) {
	au, _, waits := throttleFixture(t)
	const ip = "203.0.113.9"
	wantAuth(t, au, "mallory@a.test", "right", ip, nil)
	failed, throttled := 0, 0
	victims := []string{"alice@a.test", "bob@a.test", "carol@a.test", "nobody@a.test"}
	for i := range 40 {
		if i%3 == 2 {
			au.Authenticate("mallory@a.test", "right", ip)
			continue
		}
		switch _, err := au.Authenticate(victims[i%len(victims)], fmt.Sprint("guess", i), ip); err {
		case ErrAuthFailed:
			failed++
		case ErrThrottled:
			throttled++
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if failed != MaxFailuresPerIP || throttled == 0 {
		t.Errorf("spray with good logins between: %d guesses checked, %d throttled; want %d checked, the rest throttled",
			failed, throttled, MaxFailuresPerIP)
	}
	wantAuth(t, au, "alice@a.test", "right", ip, ErrThrottled)
	wantAuth(t, au, "alice@a.test", "right", "198.51.100.1", nil)
	*waits = nil
	wantAuth(t, au, "mallory@a.test", "right", ip, nil)
	if len(*waits) != 1 || (*waits)[0] != ThrottleDelay {
		t.Errorf("known-good login from a throttled IP waited %v, want one wait of %v", *waits, ThrottleDelay)
	}
}

// TestThrottleOwnerNotLockedOut: a distributed guess at alice (one failure
// from each of many IPs) reaches the account cap. Then an unknown source is
// refused even with the right password (a user that does not exist gets
// the same answers), but alice's own known-good IP still logs in, after a
// short wait; a wrong password from there still fails.
func TestThrottleOwnerNotLockedOut(t *testing.T) {
	au, now, waits := throttleFixture(t)
	const home = "192.0.2.10"
	wantAuth(t, au, "alice@a.test", "right", home, nil)
	for i := range MaxFailuresPerAccount {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		wantAuth(t, au, "alice@a.test", "guess", ip, ErrAuthFailed)
	}
	wantAuth(t, au, "alice@a.test", "right", "198.51.100.200", ErrThrottled)
	wantAuth(t, au, "ALICE@a.test", "right", "198.51.100.201", ErrThrottled) // same account, any spelling
	// A user that does not exist is throttled exactly like one that does
	// (here by the (IP, account) cap).
	for _, login := range []string{"bob@a.test", "nobody@a.test"} {
		for range MaxFailuresPerPair {
			wantAuth(t, au, login, "guess", "203.0.113.50", ErrAuthFailed)
		}
		wantAuth(t, au, login, "right", "203.0.113.50", ErrThrottled)
	}
	if len(*waits) != 0 {
		t.Errorf("unknown sources waited %v; they are refused at once", *waits)
	}
	wantAuth(t, au, "alice@a.test", "right", home, nil)
	wantAuth(t, au, "alice@a.test", "wrong", home, ErrAuthFailed)
	if len(*waits) != 2 || (*waits)[0] != ThrottleDelay || (*waits)[1] != ThrottleDelay {
		t.Errorf("known-good source waited %v, want %v twice", *waits, ThrottleDelay)
	}
	// After the window, everyone is back to normal.
	*now = now.Add(FailureWindow + time.Second)
	*waits = nil
	wantAuth(t, au, "alice@a.test", "right", "198.51.100.200", nil)
	if len(*waits) != 0 {
		t.Errorf("after the window: waited %v", *waits)
	}
}

// TestThrottleSuccessClearsOnlyItsPair: from one IP, failures at alice and
// at bob; alice's success there clears only (IP, alice): the IP keeps its
// count, so a few more failures throttle bob from that IP, while alice
// (known-good there) is only delayed.
func TestThrottleSuccessClearsOnlyItsPair(t *testing.T) {
	au, _, waits := throttleFixture(t)
	const ip = "192.0.2.20"
	for range MaxFailuresPerPair - 1 {
		wantAuth(t, au, "alice@a.test", "wrong", ip, ErrAuthFailed)
		wantAuth(t, au, "bob@a.test", "wrong", ip, ErrAuthFailed)
	}
	wantAuth(t, au, "alice@a.test", "right", ip, nil)
	for range MaxFailuresPerIP - 2*(MaxFailuresPerPair-1) {
		wantAuth(t, au, "carol@a.test", "wrong", ip, ErrAuthFailed)
	}
	wantAuth(t, au, "bob@a.test", "right", ip, ErrThrottled)
	wantAuth(t, au, "alice@a.test", "right", ip, nil)
	if len(*waits) != 1 {
		t.Errorf("waits %v, want one (alice from her known-good IP over the IP cap)", *waits)
	}
}

// TestThrottleQueue: from a known-good source over a cap, concurrent
// attempts get consecutive slots ThrottleDelay apart (one password check
// per delay, however many connections), and a queue longer than
// MaxThrottleWait is refused.
func TestThrottleQueue(t *testing.T) {
	var th throttle
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	th.succeed("192.0.2.1", "id:p1", now)
	for range MaxFailuresPerPair {
		th.fail("192.0.2.1", "id:p1", now)
	}
	var got []time.Duration
	for {
		w, err := th.admit("192.0.2.1", "id:p1", now)
		if err == ErrThrottled {
			break
		}
		got = append(got, w)
		if len(got) > 100 {
			t.Fatal("queue never full")
		}
	}
	want := int(MaxThrottleWait / ThrottleDelay)
	if len(got) != want || got[0] != ThrottleDelay || got[len(got)-1] != MaxThrottleWait {
		t.Errorf("queued waits %v, want %d waits from %v to %v", got, want, ThrottleDelay, MaxThrottleWait)
	}
	if w, err := th.admit("192.0.2.1", "id:p1", now.Add(MaxThrottleWait)); err != nil || w != ThrottleDelay {
		t.Errorf("after the queue drained: wait %v, %v; want %v", w, err, ThrottleDelay)
	}
	if _, err := th.admit("192.0.2.2", "id:p1", now); err != nil {
		t.Errorf("an IP with no failures and an account under its cap: %v", err)
	}
}

// TestThrottleBounded: every map stays at its limit under a flood of new
// keys; a full map drops expired entries first and then only the stalest,
// so a fresh counter (an attacked account) survives the flood instead of
// the whole map being emptied.
func TestThrottleBounded(t *testing.T) {
	th := throttle{limit: 50}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range 40 {
		th.fail(fmt.Sprintf("10.0.0.%d", i), fmt.Sprintf("login:u%d", i), now)
		th.succeed(fmt.Sprintf("10.0.1.%d", i), fmt.Sprintf("login:u%d", i), now)
	}
	now = now.Add(FailureWindow + time.Second)
	for i := range MaxFailuresPerAccount {
		th.fail(fmt.Sprintf("10.1.0.%d", i), "id:victim", now)
	}
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		th.fail(fmt.Sprintf("10.2.%d.%d", i/256, i%256), fmt.Sprintf("login:flood%d", i%25), now)
		th.succeed(fmt.Sprintf("10.3.%d.%d", i/256, i%256), "id:victim", now)
	}
	for name, n := range map[string]int{"byIP": len(th.byIP), "byPair": len(th.byPair), "byID": len(th.byID), "good": len(th.good)} {
		if n > 50 {
			t.Errorf("%s has %d entries, limit 50", name, n)
		}
	}
	if _, err := th.admit("10.9.9.9", "id:victim", now); err != ErrThrottled {
		t.Errorf("attacked account after a flood of other keys: %v, want ErrThrottled", err)
	}
	if _, ok := th.good["10.3.3.231\x00id:victim"]; !ok {
		t.Errorf("the newest known-good source was evicted")
	}
	// Expired counters do not count.
	if _, err := th.admit("10.9.9.9", "id:victim", now.Add(FailureWindow+time.Second)); err != nil {
		t.Errorf("after the window: %v", err)
	}
}
