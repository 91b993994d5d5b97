package delegation

import (
	"strings"
	"testing"
	"time"
)

// FuzzNormalizeAddress: an accepted address is lower case, has exactly one
// usable '@', no trailing dot (one domain, one spelling), no space or
// control character, and normalising it again
// changes nothing.
func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"alice@example.test", " Bob@Example.TEST ", "a@b@c", "\"q\"@x.test", "a\r\nb@x.test", "@x", "x@", "ü@ß.test", "a..b@x..test", "bob@x.test.", "bob@x.test.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := NormalizeAddress(s)
		if err != nil {
			return
		}
		if a != strings.ToLower(a) || strings.Count(a, "@") != 1 || strings.HasPrefix(a, "@") || strings.HasSuffix(a, "@") || strings.HasSuffix(a, ".") {
			t.Fatalf("NormalizeAddress(%q) = %q", s, a)
		}
		for _, c := range a {
			if c <= ' ' || c == 0x7f {
				t.Fatalf("NormalizeAddress(%q) = %q keeps a control character or space", s, a)
			}
		}
		if b, err := NormalizeAddress(a); err != nil || b != a {
			t.Fatalf("NormalizeAddress not idempotent: %q → %q → %q, %v", s, a, b, err)
		}
	})
}

// FuzzSend: whatever address is asked about, the engine never allows a send
// from another principal's address without an effective Send As or Send on
// Behalf grant (never a pending or expired one), and never across tenants.
func FuzzSend(f *testing.F) {
	for _, s := range []string{"alice@a.test", "ALICE@A.TEST", "al@a.test", "zed@b.test", "info@a.test", "x@nowhere.test", "carol@a.test"} {
		f.Add(s, int64(0))
	}
	// dave@ on either side of the end of carol's time-boxed grant g11
	// (offset 26h is t0+2h).
	f.Add("dave@a.test", int64(26*time.Hour-time.Nanosecond))
	f.Add("dave@a.test", int64(26*time.Hour))
	d := fixture(f)
	f.Fuzz(func(t *testing.T, addr string, offset int64) {
		now := t0.Add(time.Duration(offset%int64(48*time.Hour)) - 24*time.Hour)
		for _, actor := range []ID{"bob", "carol", "dave", "erin", "zed"} {
			dc := d.Send(actor, addr, now)
			if !dc.Allowed {
				continue
			}
			p, ok := d.Lookup(addr)
			if !ok {
				t.Fatalf("Send(%s, %q) allowed for an unknown address: %+v", actor, addr, dc)
			}
			if p.ID == actor {
				continue
			}
			a, _ := d.Principal(actor)
			if p.Tenant != a.Tenant {
				t.Fatalf("Send(%s, %q) allowed across tenants", actor, addr)
			}
			var g *Grant
			for _, x := range d.GrantsOn(p.ID) {
				if x.ID == dc.GrantID {
					g = x
				}
			}
			if g == nil || !g.Effective(now) || g.Right != dc.Right || (g.Right != SendAs && g.Right != SendOnBehalf) ||
				!(g.Trustee == actor || d.Contains(g.Trustee, actor)) {
				t.Fatalf("Send(%s, %q, %v) = %+v: not backed by an effective send grant of the actor", actor, addr, now, dc)
			}
		}
	})
}
