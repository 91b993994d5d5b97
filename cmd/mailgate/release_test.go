package main

import "testing"

// TestIdleReleaser: memory is returned only after a busy spell of at
// least minBurst, once the allocation rate has been under idleAllocRate
// for each of releaseAfter's quiet times, never while busy, and a trickle
// of work makes no spell.
func TestIdleReleaser(t *testing.T) {
	var n uint64
	r := newIdleReleaser(n)
	run := func(ticks int, perTick uint64) (releases []int) {
		for i := 1; i <= ticks; i++ {
			n += perTick
			if r.tick(n) {
				releases = append(releases, i)
				r.done(n)
			}
		}
		return releases
	}
	if got := run(100, 0); got != nil {
		t.Errorf("idle from the start: releases at ticks %v, want none", got)
	}
	if got := run(30, idleAllocRate/2); got != nil {
		t.Errorf("a trickle: releases at ticks %v, want none", got)
	}
	if got := run(20, minBurst/10); got != nil {
		t.Errorf("busy: releases at ticks %v, want none", got)
	}
	want := make([]int, len(releaseAfter))
	for i, d := range releaseAfter {
		want[i] = int(d / releaseTick)
	}
	got := run(int(releaseAfter[len(releaseAfter)-1]/releaseTick)+100, 0)
	if len(got) != len(want) {
		t.Fatalf("quiet after a busy spell: releases at ticks %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("quiet after a busy spell: releases at ticks %v, want %v", got, want)
		}
	}
	// A short burst under minBurst after the releases makes no new spell.
	if got := run(3, minBurst/8); got != nil {
		t.Errorf("a short burst: releases at %v, want none", got)
	}
	if got := run(30, 0); got != nil {
		t.Errorf("quiet after a short burst: releases at %v, want none", got)
	}
	run(10, minBurst/5)
	if got := run(2, 0); len(got) != 1 || got[0] != 1 {
		t.Errorf("quiet after the second spell: releases at %v, want [1] (one tick of quiet)", got)
	}
}
