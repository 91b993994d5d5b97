package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

func TestAuthenticate(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	h, err := HashPassword("right")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, clock, h, "u")
	if _, err := st.AddPrincipal(storage.NewPrincipal{Kind: delegation.KindShared, Address: "s@a.test"}); err != nil {
		t.Fatal(err)
	}
	au := New(st, clock)
	if _, err := au.Authenticate("U@a.test", "right", "1.2.3.4"); err != nil {
		t.Fatalf("good login: %v", err)
	}
	for _, c := range [][2]string{{"u@a.test", "wrong"}, {"nobody@a.test", "right"}, {"s@a.test", ""}, {"s@a.test", "x"},
		{"u@a.test.", "right"}} { // a trailing dot is no second spelling of u@a.test
		if _, err := au.Authenticate(c[0], c[1], "1.2.3.5"); err != ErrAuthFailed {
			t.Errorf("Authenticate(%s, %s) = %v, want ErrAuthFailed", c[0], c[1], err)
		}
	}
	// Throttling per IP: after MaxFailuresPerIP failures even the right
	// password is refused from that IP, not from another.
	for range MaxFailuresPerIP {
		au.Authenticate("u@a.test", "wrong", "9.9.9.9")
	}
	if _, err := au.Authenticate("u@a.test", "right", "9.9.9.9"); err != ErrThrottled {
		t.Errorf("after %d failures: %v, want ErrThrottled", MaxFailuresPerIP, err)
	}
	if _, err := au.Authenticate("u@a.test", "right", "8.8.8.8"); err != nil {
		t.Errorf("other IP: %v", err)
	}
	now = now.Add(FailureWindow + time.Second)
	if _, err := au.Authenticate("u@a.test", "right", "9.9.9.9"); err != nil {
		t.Errorf("after the window: %v", err)
	}
	// A password change empties the cache.
	h2, err := HashPassword("new")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetPassword("u@a.test", h2); err != nil {
		t.Fatal(err)
	}
	if _, err := au.Authenticate("u@a.test", "right", "7.7.7.7"); err != ErrAuthFailed {
		t.Errorf("old password after change: %v", err)
	}
	if _, err := au.Authenticate("u@a.test", "new", "7.7.7.7"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := HashPassword(""); err == nil {
		t.Error("an empty password was hashed")
	}
}

// TestAuthenticateConcurrent: logins that arrive together with a cold
// cache share one bcrypt check per (account, password): the right
// password lets every one in, a wrong one none, and a password changed
// while a check runs is not cached as the old one.
func TestAuthenticateConcurrent(t *testing.T) {
	h, err := HashPassword("right")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, nil, h, "u")
	au := New(st, nil)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			pw := "right"
			if i%2 == 1 {
				pw = "wrong"
			}
			_, errs[i] = au.Authenticate("u@a.test", pw, fmt.Sprintf("10.0.0.%d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := map[bool]error{true: ErrAuthFailed, false: nil}[i%2 == 1]; err != want {
			t.Errorf("login %d: %v, want %v", i, err, want)
		}
	}
	// A check that began before a password change does not cache the old
	// password for later logins.
	p, _ := st.Directory().Lookup("u@a.test")
	au.cache.reset() // "right" is cached from above
	hit, cl, leader, gen := au.cache.lookup(p.ID, "right")
	if hit || !leader {
		t.Fatalf("lookup after reset: hit %v, leader %v", hit, leader)
	}
	h2, err := HashPassword("new")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetPassword("u@a.test", h2); err != nil {
		t.Fatal(err)
	}
	cl.id = p.ID
	au.cache.finish(p.ID, "right", gen, cl) // the old hash said yes
	if _, err := au.Authenticate("u@a.test", "right", "7.7.7.7"); err != ErrAuthFailed {
		t.Errorf("old password after a change during its check: %v", err)
	}
	if _, err := au.Authenticate("u@a.test", "new", "7.7.7.8"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestCheckHash(t *testing.T) {
	h, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckHash(h); err != nil {
		t.Errorf("CheckHash(HashPassword) = %v", err)
	}
	for _, bad := range []string{"", "pw", "$1$abc$def", h[:20], "$2a$99$" + h[7:]} {
		if err := CheckHash(bad); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("CheckHash(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
