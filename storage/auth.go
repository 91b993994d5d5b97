package storage

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/mailgate/mailgate/delegation"
)

// ErrAuthFailed is the one answer for an unknown login, a wrong password, and
// a principal that cannot log in (shared mailbox, group).
var ErrAuthFailed = errors.New("authentication failed")

// HashPassword hashes a password with bcrypt.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errorf(ErrInvalid, "empty password")
	}
	if len(pw) > 72 {
		return "", errorf(ErrInvalid, "password longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	return string(h), err
}

// dummyHash makes a failed lookup cost as much as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("mailgate-dummy"), bcrypt.DefaultCost)

// authCache remembers successful verifications so that a client opening many
// connections does not pay bcrypt each time. It keeps a salted SHA-256 of
// the password, never the password, and is emptied on every directory
// change (password change, removal, rename). Concurrent checks of the same
// login and password share one bcrypt run (ten clients connecting at once
// with a cold cache pay it once, not ten times on two cores).
type authCache struct {
	mu       sync.Mutex
	salt     [32]byte
	ok       map[delegation.ID][32]byte // guarded by mu
	gen      uint64                     // guarded by mu: reset count
	inflight map[authKey]*authCall      // guarded by mu: bcrypt checks running now
}

type authKey struct {
	id  delegation.ID
	sum [32]byte
}

// authCall is one bcrypt check that other logins may wait for; id and err
// are set before done is closed.
type authCall struct {
	done chan struct{}
	id   delegation.ID
	err  error
}

func (c *authCache) sumLocked(pw string) [32]byte {
	if c.salt == ([32]byte{}) {
		rand.Read(c.salt[:])
	}
	return sha256.Sum256(append(c.salt[:], pw...))
}

// lookup reports a cached success for (id, pw). Otherwise it returns the
// running check of the same pair to wait for, or, when there is none,
// registers a new one that the caller must finish (leader) with the reset
// generation it started in.
func (c *authCache) lookup(id delegation.ID, pw string) (hit bool, call *authCall, leader bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.sumLocked(pw)
	if want, ok := c.ok[id]; ok && subtle.ConstantTimeCompare(want[:], got[:]) == 1 {
		return true, nil, false, 0
	}
	k := authKey{id, got}
	if call := c.inflight[k]; call != nil {
		return false, call, false, 0
	}
	if c.inflight == nil {
		c.inflight = map[authKey]*authCall{}
	}
	call = &authCall{done: make(chan struct{})}
	c.inflight[k] = call
	return false, call, true, c.gen
}

// finish records the leader's result: a success is cached unless the
// directory changed since the check began (the hash it read may be the
// old password's).
func (c *authCache) finish(id delegation.ID, pw string, gen uint64, call *authCall) {
	c.mu.Lock()
	k := authKey{id, c.sumLocked(pw)}
	if c.inflight[k] == call {
		delete(c.inflight, k)
	}
	if call.err == nil && gen == c.gen {
		if c.ok == nil {
			c.ok = map[delegation.ID][32]byte{}
		}
		c.ok[id] = k.sum
	}
	c.mu.Unlock()
	close(call.done)
}

func (c *authCache) reset() {
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
func (s *Store) Authenticate(login, password, remoteIP string) (delegation.ID, error) {
	account := s.throttleKey(login)
	wait, err := s.throttle.admit(remoteIP, account, s.now())
	if err != nil {
		return "", err
	}
	if wait > 0 {
		s.throttle.sleep(wait)
	}
	id, err := s.authenticate(login, password)
	if err == ErrAuthFailed {
		s.throttle.fail(remoteIP, account, s.now())
	} else if err == nil {
		s.throttle.succeed(remoteIP, account, s.now())
	}
	return id, err
}

// throttleKey names the account a login counts against: the principal
// for a known address or alias (so aliases share one counter), else the
// login as typed, lower-cased (so an unknown or malformed name counts just
// like a known one); a long one is hashed to keep the key small.
func (s *Store) throttleKey(login string) string {
	if p, ok := s.Directory().Lookup(login); ok {
		return "id:" + string(p.ID)
	}
	l := strings.ToLower(strings.TrimSpace(login))
	if len(l) > 320 {
		sum := sha256.Sum256([]byte(l))
		return "login#" + hex.EncodeToString(sum[:])
	}
	return "login:" + l
}

func (s *Store) authenticate(login, password string) (delegation.ID, error) {
	p, ok := s.Directory().Lookup(login)
	if !ok || p.Kind != delegation.KindUser {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", ErrAuthFailed
	}
	hit, call, leader, gen := s.auth.lookup(p.ID, password)
	if hit {
		return p.ID, nil
	}
	if !leader {
		<-call.done
		return call.id, call.err
	}
	call.id, call.err = s.checkPassword(p.ID, password)
	s.auth.finish(p.ID, password, gen, call)
	return call.id, call.err
}

// checkPassword runs bcrypt against the stored hash.
func (s *Store) checkPassword(id delegation.ID, password string) (delegation.ID, error) {
	var rec principalRec
	if err := s.view(func(txn *badger.Txn) error { return getJSON(txn, key(prefPrincipal, string(id)), &rec) }); err != nil {
		return "", err
	}
	hash := []byte(rec.PasswordHash)
	if len(hash) == 0 {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || rec.PasswordHash == "" {
		return "", ErrAuthFailed
	}
	return id, nil
}
