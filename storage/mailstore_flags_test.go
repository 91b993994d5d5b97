package storage

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func keywords(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// normalizeFlagsQuadratic is NormalizeFlags as it was, the reference for
// its semantics.
func normalizeFlagsQuadratic(flags []string) []string {
	if len(flags) == 0 {
		return nil
	}
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f == "" || HasFlag([]string{`\Recent`}, f) || HasFlag(out, f) {
			continue
		}
		for _, sf := range []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`} {
			if HasFlag([]string{sf}, f) {
				f = sf
				break
			}
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func TestNormalizeFlags(t *testing.T) {
	for _, in := range [][]string{
		nil,
		{},
		{""},
		{`\recent`},
		{`\seen`, `\SEEN`, "$Label", "$label", `\Recent`, "", `\deleted`, "$LABEL", "Junk"},
		{"ab", "AB", "aB", `\DRAFT`, `\answered`, `\Flagged`, `\flagged`},
		{"\\\u017Feen", `\Seen`, "\u212Aey", "key", "Ǆ", "ǅ", "ǆ", "straße", "STRASSE", "\xff", "\xfe"},
	} {
		got, want := NormalizeFlags(in), normalizeFlagsQuadratic(in)
		if !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("NormalizeFlags(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNormalizeFlagsLinear: 8,000 keywords (a STORE a client may send)
// normalise in well under 10 ms (about 1.5 ms; the race detector makes
// it about 5 ms, and the bound is scaled for it). The quadratic version
// took about 400 ms (2 s with the race detector).
func TestNormalizeFlagsLinear(t *testing.T) {
	in := keywords(8000, "$Keyword")
	in = append(in, "$KEYWORD0", "$keyword7999") // duplicates are dropped
	bound := 10 * time.Millisecond * raceSlowdown
	best := time.Hour
	for range 5 {
		start := time.Now()
		out := NormalizeFlags(in)
		best = min(best, time.Since(start))
		if len(out) != 8000 || out[0] != "$Keyword0" || out[7999] != "$Keyword7999" {
			t.Fatalf("NormalizeFlags of 8000 keywords and 2 duplicates: %d flags, %q ... %q", len(out), out[0], out[len(out)-1])
		}
	}
	if best > bound {
		t.Fatalf("NormalizeFlags of 8000 keywords took %v, want well under %v", best, bound)
	}
	t.Logf("NormalizeFlags of 8000 keywords: %v (bound %v)", best, bound)
}

func BenchmarkNormalizeFlags8000(b *testing.B) {
	in := keywords(8000, "$Keyword")
	for b.Loop() {
		NormalizeFlags(in)
	}
}
