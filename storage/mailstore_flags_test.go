package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mailgate/mailgate/delegation"
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

// TestFlagLimit: no message is ever written with more than MaxFlags
// flags; a request over the limit fails with ErrLimit and writes nothing.
func TestFlagLimit(t *testing.T) {
	st, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const alice = delegation.ID("p1")
	f, err := st.Folder(alice, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(alice, "INBOX", msgOf("big"), keywords(MaxFlags+1, "$k"), time.Time{}, NoOrigin); !errors.Is(err, ErrLimit) {
		t.Fatalf("Append with %d flags: %v, want ErrLimit", MaxFlags+1, err)
	}
	_, err = st.Deliver(Delivery{Message: msgOf("big"), Targets: []Target{{Owner: "p2"}, {Owner: alice, Flags: keywords(MaxFlags+1, "$k")}}})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("Deliver with %d flags on one target: %v, want ErrLimit", MaxFlags+1, err)
	}
	for _, owner := range []delegation.ID{alice, "p2"} {
		if got, _ := st.Folder(owner, "INBOX"); got.UIDNext != 1 || got.Count != 0 {
			t.Fatalf("refused delivery stored something for %s: %+v", owner, got)
		}
	}
	// At the limit after normalisation: duplicates and \Recent do not count.
	flags := append(keywords(MaxFlags, "$k"), "$K0", `\Recent`)
	if _, err := st.Append(alice, "INBOX", msgOf("full"), flags, time.Time{}, NoOrigin); err != nil {
		t.Fatalf("Append with %d flags after normalisation: %v", MaxFlags, err)
	}
	if _, err := st.Append(alice, "INBOX", msgOf("small"), keywords(200, "$k"), time.Time{}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	hms := folderByID(t, st, f.ID).HighestModSeq

	if _, err := st.StoreFlags(f.ID, []uint32{2}, FlagsSet, keywords(MaxFlags+1, "$x"), NoOrigin); !errors.Is(err, ErrLimit) {
		t.Fatalf("STORE FLAGS with %d flags: %v, want ErrLimit", MaxFlags+1, err)
	}
	// The request alone is over the limit: refused before any message is
	// read (so even when none exists), which keeps a STORE of 8000
	// keywords cheap.
	if _, err := st.StoreFlags(f.ID, []uint32{99}, FlagsAdd, keywords(8000, "$x"), NoOrigin); !errors.Is(err, ErrLimit) {
		t.Fatalf("+FLAGS with 8000 flags on a missing message: %v, want ErrLimit", err)
	}
	if _, err := st.StoreFlags(f.ID, []uint32{1, 2}, FlagsAdd, keywords(51, "$y"), NoOrigin); !errors.Is(err, ErrLimit) {
		t.Fatalf("+FLAGS to 251 flags: %v, want ErrLimit", err)
	}
	if _, _, err := st.StoreFlagsIf(f.ID, []uint32{2}, FlagsAdd, keywords(51, "$y"), hms, NoOrigin); !errors.Is(err, ErrLimit) {
		t.Fatalf("conditional +FLAGS to 251 flags: %v, want ErrLimit", err)
	}
	if got := folderByID(t, st, f.ID).HighestModSeq; got != hms {
		t.Fatalf("refused STOREs changed the folder: HighestModSeq %d → %d", hms, got)
	}
	if _, err := st.StoreFlags(f.ID, []uint32{2}, FlagsAdd, keywords(50, "$y"), NoOrigin); err != nil {
		t.Fatalf("+FLAGS to exactly %d flags: %v", MaxFlags, err)
	}
	// A -FLAGS of thousands of keywords is fine: it can only shrink.
	if got, err := st.StoreFlags(f.ID, []uint32{1, 2}, FlagsRemove, keywords(8000, "$k"), NoOrigin); err != nil || len(got) != 2 || len(got[0].Flags) != 0 || len(got[1].Flags) != 50 {
		t.Fatalf("-FLAGS of 8000 keywords = %d messages, %v", len(got), err)
	}

	// Over several batches, nothing is written either: only the last
	// message would go over the limit, and the first batch must not commit.
	many, err := st.CreateFolder(alice, "Many", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(alice, "Many", msgOf("many"), nil, time.Time{}, NoOrigin); err != nil {
		t.Fatal(err)
	}
	var all []uint32
	for range 10 { // 1 → 1024 messages
		ms, _ := st.Messages(many.ID, 0, 0)
		all = all[:0]
		for _, m := range ms {
			all = append(all, m.UID)
		}
		if _, err := st.Copy(many.ID, all, many.ID, NoOrigin, nil); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := st.Messages(many.ID, 0, 0)
	all = all[:0]
	for _, m := range ms {
		all = append(all, m.UID)
	}
	if len(all) <= batchSize {
		t.Fatalf("%d messages, want more than one batch", len(all))
	}
	last := all[len(all)-1]
	if _, err := st.StoreFlags(many.ID, []uint32{last}, FlagsSet, keywords(200, "$k"), NoOrigin); err != nil {
		t.Fatal(err)
	}
	hms = folderByID(t, st, many.ID).HighestModSeq
	if _, err := st.StoreFlags(many.ID, all, FlagsAdd, keywords(60, "$z"), NoOrigin); !errors.Is(err, ErrLimit) {
		t.Fatalf("+FLAGS over %d messages, the last over the limit: %v, want ErrLimit", len(all), err)
	}
	if got := folderByID(t, st, many.ID).HighestModSeq; got != hms {
		t.Fatalf("refused multi-batch STORE committed something: HighestModSeq %d → %d", hms, got)
	}
	if ms, _ := st.Messages(many.ID, 1, 1); len(ms) != 1 || len(ms[0].Flags) != 0 {
		t.Fatalf("message 1, in the first batch, was changed: %+v", ms)
	}
	got, err := st.StoreFlags(many.ID, all[:len(all)-1], FlagsAdd, keywords(60, "$z"), NoOrigin)
	if err != nil || len(got) != len(all)-1 || len(got[0].Flags) != 60 {
		t.Fatalf("+FLAGS over the others: %d messages, %v", len(got), err)
	}
}
