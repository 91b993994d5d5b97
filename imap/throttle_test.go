package imap

import (
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/storage/auth"
)

// TestLoginThrottleSpray, over the real server from one IP (127.0.0.1):
// dave logs in successfully between guesses at other accounts. His good
// logins do not reset the IP's failure count, so after MaxFailuresPerIP
// guesses the rest answer NO [UNAVAILABLE], and bob's right password too
// (this IP never logged in to bob). alice logged in from here before the
// spray, so her right password still opens, after a short wait.
func TestLoginThrottleSpray(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.login("alice", nil).Logout().Wait()
	failed, throttled := 0, 0
	victims := []string{"bob", "carol", "erin", "nobody"}
	for i := range auth.MaxFailuresPerIP + 5 {
		_, st := e.raw().cmd(`LOGIN %s "guess%d"`, addr(victims[i%len(victims)]), i)
		switch {
		case strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]"):
			failed++
		case strings.HasPrefix(st, "NO [UNAVAILABLE]"):
			throttled++
		default:
			t.Fatalf("guess %d: %q", i, st)
		}
		if i%3 == 2 && i < auth.MaxFailuresPerIP {
			e.login("dave", nil).Logout().Wait()
		}
	}
	if failed != auth.MaxFailuresPerIP || throttled == 0 {
		t.Errorf("%d guesses checked, %d throttled; want %d checked and the rest NO [UNAVAILABLE]", failed, throttled, auth.MaxFailuresPerIP)
	}
	if _, st := e.raw().cmd(`LOGIN %s "%s"`, addr("bob"), pw); !strings.HasPrefix(st, "NO [UNAVAILABLE]") {
		t.Errorf("bob's right password from the spraying IP: %q, want NO [UNAVAILABLE]", st)
	}
	start := time.Now()
	if _, st := e.raw().cmd(`LOGIN %s "%s"`, addr("alice"), pw); !strings.HasPrefix(st, "OK") {
		t.Errorf("alice's right password from her known-good IP: %q, want OK", st)
	}
	if d := time.Since(start); d < auth.ThrottleDelay {
		t.Errorf("alice's login took %v; from a throttled IP it waits %v", d, auth.ThrottleDelay)
	}
}
