// Package delegation decides what one principal may do with another's
// mailbox: send with its address (Send As, Send on Behalf) or open it (Full
// Access).
//
// It is pure: no I/O, no logging, no globals, and the time is an argument.
// It imports only the standard library; smtp, imap, admin and `mailgate
// explain` all ask it, so the same rule answers everywhere.
package delegation

import (
	"fmt"
	"strings"
	"time"
)

// ID is a principal's permanent identifier. It is never reused, and grants
// refer to it, never to an address, so renames keep every grant.
type ID string

// Kind is the kind of a principal.
type Kind string

const (
	KindUser   Kind = "user"
	KindShared Kind = "shared" // shared mailbox: no password, cannot log in
	KindGroup  Kind = "group"
)

// Right is one of the three Exchange mailbox rights. Rights are bits so that
// a refusal can name "Send As or Send on Behalf" as its missing right.
type Right uint8

const (
	FullAccess Right = 1 << iota
	SendAs
	SendOnBehalf
)

// SendRights is what a refused send was missing.
const SendRights = SendAs | SendOnBehalf

var rightNames = []struct {
	r          Right
	flag, name string
}{
	{FullAccess, "full-access", "Full Access"},
	{SendAs, "send-as", "Send As"},
	{SendOnBehalf, "send-on-behalf", "Send on Behalf"},
}

// ParseRight parses the CLI spelling of one right: full-access, send-as or
// send-on-behalf (case-insensitive, '_' accepted for '-').
func ParseRight(s string) (Right, error) {
	k := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	for _, n := range rightNames {
		if k == n.flag {
			return n.r, nil
		}
	}
	return 0, fmt.Errorf("unknown right %q: use full-access, send-as or send-on-behalf", s)
}

// String gives the Exchange name ("Send As"), joining several with " or ".
func (r Right) String() string { return r.join(func(flag, name string) string { return name }, " or ") }

// Flags gives the CLI spelling of a right or a set of rights, joined with
// "|" ("send-as|send-on-behalf"); "" for none.
func (r Right) Flags() string { return r.join(func(flag, name string) string { return flag }, "|") }

func (r Right) join(pick func(flag, name string) string, sep string) string {
	var parts []string
	for _, n := range rightNames {
		if r&n.r != 0 {
			parts = append(parts, pick(n.flag, n.name))
		}
	}
	return strings.Join(parts, sep)
}

// MarshalText writes Flags, so JSON shows "send-as".
func (r Right) MarshalText() ([]byte, error) { return []byte(r.Flags()), nil }

// UnmarshalText reads what MarshalText writes.
func (r *Right) UnmarshalText(b []byte) error {
	*r = 0
	if len(b) == 0 {
		return nil
	}
	for _, part := range strings.Split(string(b), "|") {
		v, err := ParseRight(part)
		if err != nil {
			return err
		}
		*r |= v
	}
	return nil
}

// Tenant is one organisation: a domain and its propagation delay.
type Tenant struct {
	Domain      string        `json:"domain"`
	Propagation time.Duration `json:"propagation"`
}

// Principal is a user, a shared mailbox or a group.
type Principal struct {
	ID      ID       `json:"id"`
	Kind    Kind     `json:"kind"`
	Tenant  string   `json:"tenant"`  // the tenant's domain
	Address string   `json:"address"` // primary address, normalised
	Aliases []string `json:"aliases,omitempty"`
	Name    string   `json:"name,omitempty"`
	Members []ID     `json:"members,omitempty"` // groups only: users or groups
}

// Grant gives Trustee one Right on Mailbox from EffectiveAt on, until Until
// when that is set (a time-boxed grant: holiday cover, an assistant for a
// month); a zero Until is open-ended.
type Grant struct {
	ID          string    `json:"id"`
	Mailbox     ID        `json:"mailbox"`
	Trustee     ID        `json:"trustee"`
	Right       Right     `json:"right"`
	CreatedAt   time.Time `json:"created_at"`
	EffectiveAt time.Time `json:"effective_at"`
	Until       time.Time `json:"until,omitzero"`
	CreatedBy   string    `json:"created_by,omitempty"`
}

// GrantState is where a grant stands at some instant.
type GrantState string

const (
	StatePending   GrantState = "pending"   // before EffectiveAt
	StateEffective GrantState = "effective" // from EffectiveAt, before Until
	StateExpired   GrantState = "expired"   // from Until on
)

// Effective reports whether the grant counts at now: from its EffectiveAt
// instant (inclusive) until its Until instant (exclusive), if it has one.
func (g *Grant) Effective(now time.Time) bool { return g.State(now) == StateEffective }

// Expired reports whether a time-boxed grant has ended at now.
func (g *Grant) Expired(now time.Time) bool { return !g.Until.IsZero() && !now.Before(g.Until) }

// State is the grant's state at now. A grant whose end has come is
// expired, never effective, whatever its start.
func (g *Grant) State(now time.Time) GrantState {
	switch {
	case g.Expired(now):
		return StateExpired
	case now.Before(g.EffectiveAt):
		return StatePending
	default:
		return StateEffective
	}
}

// NormalizeAddress checks an address and returns its canonical form. The
// whole address is lower-cased: mailgate treats local parts
// case-insensitively (as Exchange does), so Alice@X and alice@x are one
// address and cannot belong to two principals. For the same reason a
// domain with a trailing (root) dot is refused, never a second spelling.
func NormalizeAddress(s string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", fmt.Errorf("invalid address %q: want local@domain", s)
	}
	for _, c := range a {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`<>()[],;:"\`, c) {
			return "", fmt.Errorf("invalid address %q: contains %q", s, c)
		}
	}
	dom := a[at+1:]
	if strings.HasSuffix(dom, ".") && strings.TrimRight(dom, ".") != "" {
		// A DNS root dot: example.test. names the same domain as
		// example.test, so accepting it would give one mailbox two
		// spellings (or a look-alike second principal). RFC 5321 §4.1.2
		// has no trailing dot in a Domain; refuse it.
		return "", fmt.Errorf("invalid address %q: the domain ends with a dot (write %s)", s, strings.TrimRight(a, "."))
	}
	if strings.Contains(a[:at], "@") || strings.Contains(dom, "..") || strings.HasPrefix(dom, ".") {
		return "", fmt.Errorf("invalid address %q", s)
	}
	return a, nil
}

// Domain returns the domain part of a normalised address.
func Domain(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// SplitLogin splits an Exchange-style delegate login "delegate\owner" into
// its two addresses. ok is false for a plain login.
func SplitLogin(login string) (delegate, owner string, ok bool) {
	i := strings.IndexByte(login, '\\')
	if i < 0 {
		return login, "", false
	}
	return login[:i], login[i+1:], true
}
