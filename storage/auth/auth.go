// Package auth checks logins for every protocol, above the storage
// backends: password hashing (bcrypt), a cache of recent successes so
// that a client opening many connections does not pay bcrypt each time,
// and failed-login throttling. A store provides only the credentials (the
// directory and a user's password hash); one Authenticator serves SMTP
// and IMAP alike, so their failures count together, and on a store that
// several nodes share (PostgreSQL) each node also counts the others'.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// ErrAuthFailed is the one answer for an unknown login, a wrong password, and
// a principal that cannot log in (shared mailbox, group).
var ErrAuthFailed = errors.New("authentication failed")

// HashPassword hashes a password with bcrypt.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", storage.Errorf(storage.ErrInvalid, "empty password")
	}
	if len(pw) > 72 {
		return "", storage.Errorf(storage.ErrInvalid, "password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// CheckHash checks that h is a bcrypt hash HashPassword could have made
// (an imported user's password_hash).
func CheckHash(h string) error {
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return storage.Errorf(storage.ErrInvalid, "password_hash is not a bcrypt hash ($2a$, $2b$ or $2y$)")
	}
	return nil
}

// dummyHash makes a failed lookup cost as much as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("mailgate-dummy"), bcrypt.DefaultCost)

// Credentials is what a store gives the Authenticator.
type Credentials interface {
	Directory() *delegation.Directory
	// PasswordHash is a user's bcrypt hash ("" for none).
	PasswordHash(id delegation.ID) (string, error)
	OnDirectoryChange(fn func(storage.DirChange))
}

// Authenticator checks logins against a store's credentials.
type Authenticator struct {
	creds    Credentials
	now      func() time.Time
	cache    cache
	throttle throttle
	shared   sharedLogins // nil for a store of one node
}

// sharedLogins is what a store that several nodes share offers for
// throttling across them (storage/postgres): each node publishes its
// login outcomes and counts the others'. Found by a type assertion, so a
// store that has no other nodes need not know of it.
type sharedLogins interface {
	PublishLogin(ip, account string, ok bool, at time.Time)
	OnLogin(fn func(ip, account string, ok bool, at time.Time))
}

// New returns an Authenticator over creds; now is the clock of the
// throttling windows (nil: time.Now). Every directory change empties its
// cache (a password change, a removal, a rename).
func New(creds Credentials, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{creds: creds, now: now}
	creds.OnDirectoryChange(func(storage.DirChange) { a.cache.reset() })
	if sh, ok := creds.(sharedLogins); ok {
		a.shared = sh
		sh.OnLogin(func(ip, account string, ok bool, at time.Time) {
			if ok {
				a.throttle.succeed(ip, account, at)
			} else {
				a.throttle.fail(ip, account, at)
			}
		})
	}
	return a
}

// cache remembers successful verifications. It keeps a salted SHA-256 of
// the password, never the password. Concurrent checks of the same login
// and password share one bcrypt run (ten clients connecting at once with
// a cold cache pay it once, not ten times on two cores).
type cache struct {
	mu       sync.Mutex
	salt     [32]byte
	ok       map[delegation.ID][32]byte // guarded by mu
	gen      uint64                     // guarded by mu: reset count
	inflight map[cacheKey]*call         // guarded by mu: bcrypt checks running now
}

type cacheKey struct {
	id  delegation.ID
	sum [32]byte
}

// call is one bcrypt check that other logins may wait for; id and err are
// set before done is closed.
type call struct {
	done chan struct{}
	id   delegation.ID
	err  error
}

func (c *cache) sumLocked(pw string) [32]byte {
	if c.salt == ([32]byte{}) {
		rand.Read(c.salt[:])
	}
	return sha256.Sum256(append(c.salt[:], pw...))
}

// lookup reports a cached success for (id, pw). Otherwise it returns the
// running check of the same pair to wait for, or, when there is none,
// registers a new one that the caller must finish (leader) with the reset
// generation it started in.
func (c *cache) lookup(id delegation.ID, pw string) (hit bool, cl *call, leader bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.sumLocked(pw)
	if want, ok := c.ok[id]; ok && subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
		return true, nil, false, 0
	}
	k := cacheKey{id, got}
	if cl := c.inflight[k]; cl != nil {
		return false, cl, false, 0
	}
	if c.inflight == nil {
		c.inflight = map[cacheKey]*call{}
	}
	cl = &call{done: make(chan struct{})}
	c.inflight[k] = cl
	return false, cl, true, c.gen
}

// finish records the leader's result: a success is cached unless the
// directory changed since the check began (the hash it read may be the
// old password's).
func (c *cache) finish(id delegation.ID, pw string, gen uint64, cl *call) {
	c.mu.Lock()
	k := cacheKey{id, c.sumLocked(pw)}
	if c.inflight[k] == cl {
		delete(c.inflight, k)
	}
	if cl.err == nil && gen == c.gen {
		if c.ok == nil {
			c.ok = map[delegation.ID][32]byte{}
		}
		c.ok[id] = k.sum
	}
	c.mu.Unlock()
	close(cl.done)
}

func (c *cache) reset() {
	c.mu.Lock()
	c.ok = nil
	c.inflight = nil // checks started from now on read the new directory
	c.gen++
	c.mu.Unlock()
}

// Authenticate checks a user's password. login is an address or alias;
// remoteIP (may be "") is the client's address, for throttling (see
// throttle.go for the policy). Every failure returns ErrAuthFailed after
// the same work; too many recent failures return ErrThrottled, for an
// unknown login exactly as for a known one. From a source that logged in
// to this account before, a throttled attempt waits (ThrottleDelay per
// attempt) instead of being refused.
func (a *Authenticator) Authenticate(login, password, remoteIP string) (delegation.ID, error) {
	account := a.throttleKey(login)
	wait, err := a.throttle.admit(remoteIP, account, a.now())
	if err != nil {
		return "", err
	}
	if wait > 0 {
		a.throttle.sleep(wait)
	}
	id, err := a.check(login, password)
	if err != nil && err != ErrAuthFailed {
		return id, err // the store failed: no outcome to count
	}
	now := a.now()
	if err == ErrAuthFailed {
		a.throttle.fail(remoteIP, account, now)
	} else {
		a.throttle.succeed(remoteIP, account, now)
	}
	if a.shared != nil {
		a.shared.PublishLogin(remoteIP, account, err == nil, now)
	}
	return id, err
}

// throttleKey names the account a login counts against: the principal
// for a known address or alias (so aliases share one counter), else the
// login as typed, lower-cased (so an unknown or malformed name counts just
// like a known one); a long one is hashed to keep the key small.
func (a *Authenticator) throttleKey(login string) string {
	if p, ok := a.creds.Directory().Lookup(login); ok {
		return "id:" + string(p.ID)
	}
	l := strings.ToLower(strings.TrimSpace(login))
	if len(l) > 320 {
		sum := sha256.Sum256([]byte(l))
		return "login#" + hex.EncodeToString(sum[:])
	}
	return "login:" + l
}

func (a *Authenticator) check(login, password string) (delegation.ID, error) {
	p, ok := a.creds.Directory().Lookup(login)
	if !ok || p.Kind != delegation.KindUser {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", ErrAuthFailed
	}
	hit, cl, leader, gen := a.cache.lookup(p.ID, password)
	if hit {
		return p.ID, nil
	}
	if !leader {
		<-cl.done
		return cl.id, cl.err
	}
	cl.id, cl.err = a.checkPassword(p.ID, password)
	a.cache.finish(p.ID, password, gen, cl)
	return cl.id, cl.err
}

// checkPassword runs bcrypt against the stored hash.
func (a *Authenticator) checkPassword(id delegation.ID, password string) (delegation.ID, error) {
	stored, err := a.creds.PasswordHash(id)
	if err != nil {
		return "", err
	}
	hash := []byte(stored)
	if len(hash) == 0 {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || stored == "" {
		return "", ErrAuthFailed
	}
	return id, nil
}
