package storage

import (
	"errors"
	"sync"
	"time"
)

// ErrThrottled means too many recent failed logins from this remote address
// or for this account; the caller answers with a temporary error.
var ErrThrottled = errors.New("too many failed logins, try again later")

// Failed-login throttling: after MaxFailures failures within Window from one
// remote IP, or for one account, further attempts are refused (without
// checking the password) until the window has passed since the last failure.
const (
	MaxFailuresPerIP      = 10
	MaxFailuresPerAccount = 20
	FailureWindow         = 5 * time.Minute
)

type throttle struct {
	mu   sync.Mutex
	byIP map[string]*failures // guarded by mu
	byID map[string]*failures // guarded by mu
}

type failures struct {
	n    int
	last time.Time
}

func (t *throttle) blocked(ip, account string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return over(t.byIP, ip, MaxFailuresPerIP, now) || over(t.byID, account, MaxFailuresPerAccount, now)
}

func over(m map[string]*failures, k string, max int, now time.Time) bool {
	f := m[k]
	if f == nil || k == "" {
		return false
	}
	if now.Sub(f.last) > FailureWindow {
		delete(m, k)
		return false
	}
	return f.n >= max
}

func (t *throttle) fail(ip, account string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIP == nil {
		t.byIP, t.byID = map[string]*failures{}, map[string]*failures{}
	}
	for _, e := range []struct {
		m map[string]*failures
		k string
	}{{t.byIP, ip}, {t.byID, account}} {
		if e.k == "" {
			continue
		}
		f := e.m[e.k]
		if f == nil || now.Sub(f.last) > FailureWindow {
			f = &failures{}
			e.m[e.k] = f
		}
		f.n++
		f.last = now
	}
	if len(t.byIP) > 100000 { // bound memory under a spray of addresses
		clear(t.byIP)
	}
	if len(t.byID) > 100000 {
		clear(t.byID)
	}
}

func (t *throttle) succeed(ip string) {
	t.mu.Lock()
	delete(t.byIP, ip)
	t.mu.Unlock()
}
