package auth

import (
	"errors"
	"sync"
	"time"
)

// ErrThrottled means too many recent failed logins from this remote address
// or for this account; the caller answers with a temporary error.
var ErrThrottled = errors.New("too many failed logins, try again later")

// Failed-login throttling (README "Authentication:"). Every failure counts
// in three counters: per remote IP, per account, and per (IP, account). A
// counter is forgotten FailureWindow after its last failure. A success
// clears only its own (IP, account) counter, never the IP's or the
// account's, so one good login cannot launder a spray of guesses at other
// accounts; and it makes the IP a known-good source for that account for
// GoodSourceTTL.
//
// Once a counter has reached its cap, an attempt from an unknown source is
// refused without checking the password. From a known-good source the caps
// do not lock the owner out: the attempt waits its turn instead, one
// password check per ThrottleDelay for that (IP, account), and only a queue
// longer than MaxThrottleWait is refused. An unknown user is never a
// known-good source, so it is answered exactly like a wrong password.
const (
	MaxFailuresPerIP      = 10
	MaxFailuresPerPair    = 5
	MaxFailuresPerAccount = 20
	FailureWindow         = 5 * time.Minute
	GoodSourceTTL         = 30 * 24 * time.Hour
	ThrottleDelay         = 2 * time.Second
	MaxThrottleWait       = 10 * time.Second

	// maxThrottleEntries bounds each of the four maps: a full map first
	// drops its expired entries, then its stalest one.
	maxThrottleEntries = 100_000
)

type throttle struct {
	mu      sync.Mutex
	byIP    map[string]*failures // guarded by mu
	byPair  map[string]*failures // guarded by mu; key pairKey(ip, account)
	byID    map[string]*failures // guarded by mu
	good    map[string]*source   // guarded by mu; key pairKey(ip, account)
	limit   int                  // entries per map; 0 means maxThrottleEntries (tests set it)
	sleepFn func(time.Duration)  // nil means time.Sleep (tests advance a fake clock)
}

type failures struct {
	n    int
	last time.Time
}

// source is an (IP, account) that logged in successfully.
type source struct {
	last time.Time // last success
	next time.Time // the last reserved password-check slot while throttled
}

// pairKey is "" when the IP is unknown: then no source can be known-good.
func pairKey(ip, account string) string {
	if ip == "" || account == "" {
		return ""
	}
	return ip + "\x00" + account
}

func (t *throttle) initLocked() {
	if t.byIP == nil {
		t.byIP, t.byPair, t.byID = map[string]*failures{}, map[string]*failures{}, map[string]*failures{}
		t.good = map[string]*source{}
	}
	if t.limit == 0 {
		t.limit = maxThrottleEntries
	}
}

// admit decides, before the password is checked, whether an attempt may
// go on: at once (0), after a wait, or not at all (ErrThrottled).
func (t *throttle) admit(ip, account string, now time.Time) (time.Duration, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.initLocked()
	pk := pairKey(ip, account)
	if count(t.byIP, ip, now) < MaxFailuresPerIP && count(t.byPair, pk, now) < MaxFailuresPerPair &&
		count(t.byID, account, now) < MaxFailuresPerAccount {
		return 0, nil
	}
	g := t.good[pk]
	if g == nil || now.Sub(g.last) > GoodSourceTTL {
		return 0, ErrThrottled
	}
	slot := now
	if g.next.After(slot) {
		slot = g.next
	}
	slot = slot.Add(ThrottleDelay)
	if wait := slot.Sub(now); wait > MaxThrottleWait {
		return 0, ErrThrottled
	}
	g.next = slot
	return slot.Sub(now), nil
}

func (t *throttle) sleep(d time.Duration) {
	if t.sleepFn != nil {
		t.sleepFn(d)
		return
	}
	time.Sleep(d)
}

// count is the number of failures for k within the window.
func count(m map[string]*failures, k string, now time.Time) int {
	f := m[k]
	if f == nil || k == "" {
		return 0
	}
	if now.Sub(f.last) > FailureWindow {
		delete(m, k)
		return 0
	}
	return f.n
}

func (t *throttle) fail(ip, account string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.initLocked()
	t.addLocked(t.byIP, ip, now)
	t.addLocked(t.byPair, pairKey(ip, account), now)
	t.addLocked(t.byID, account, now)
}

func (t *throttle) addLocked(m map[string]*failures, k string, now time.Time) {
	if k == "" {
		return
	}
	f := m[k]
	if f == nil || now.Sub(f.last) > FailureWindow {
		if f == nil && len(m) >= t.limit {
			evict(m, func(f *failures) time.Time { return f.last }, now.Add(-FailureWindow))
		}
		f = &failures{}
		m[k] = f
	}
	f.n++
	f.last = now
}

// succeed clears the (IP, account) counter and remembers the source.
func (t *throttle) succeed(ip, account string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.initLocked()
	pk := pairKey(ip, account)
	if pk == "" {
		return
	}
	delete(t.byPair, pk)
	g := t.good[pk]
	if g == nil {
		if len(t.good) >= t.limit {
			evict(t.good, func(s *source) time.Time { return s.last }, now.Add(-GoodSourceTTL))
		}
		g = &source{}
		t.good[pk] = g
	}
	g.last = now
}

// evict makes room in a full map: it drops every entry last seen before
// expired, or, when none is, the one seen longest ago. Only a map at its
// limit pays for the scan.
func evict[V any](m map[string]V, last func(V) time.Time, expired time.Time) {
	oldest, oldestAt := "", time.Time{}
	dropped := false
	for k, v := range m {
		at := last(v)
		if at.Before(expired) {
			delete(m, k)
			dropped = true
			continue
		}
		if oldest == "" || at.Before(oldestAt) {
			oldest, oldestAt = k, at
		}
	}
	if !dropped && oldest != "" {
		delete(m, oldest)
	}
}
