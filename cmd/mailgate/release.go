package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go heap of a busy server stays near its collection goal, twice the
// live heap, and the runtime hands freed pages back to the kernel only
// slowly; Badger keeps its table builders (several MiB each) pooled for
// seconds after its last flush or compaction. So after a burst (the
// standard load: folder syncs of 10,000 messages, thousands of deliveries)
// the resident set stays where the burst left it although the server is
// quiet. releaseWhenIdle notices the quiet (under idleAllocRate for a
// second after at least minBurst of allocation) and then collects and
// returns the free pages (debug.FreeOSMemory), again after 5 s, 20 s and a
// minute of quiet while Badger drains its pools. A busy server is never
// interrupted, and a trickle of work costs at most one collection per
// minBurst allocated, which the collector spends anyway.
const (
	idleAllocRate = 4 << 20  // bytes allocated per releaseTick below which the server counts as quiet
	minBurst      = 64 << 20 // bytes allocated since the last release that make a busy spell
	releaseTick   = time.Second
)

// releaseAfter are the quiet times after a busy spell at which the free
// pages are returned.
var releaseAfter = []time.Duration{time.Second, 5 * time.Second, 20 * time.Second, time.Minute}

// idleReleaser decides, one tick at a time, when to return memory.
type idleReleaser struct {
	last     uint64        // allocated bytes at the previous tick
	released uint64        // allocated bytes at the last release
	quiet    time.Duration // quiet time so far
	next     int           // index into releaseAfter; len(releaseAfter): nothing to do
}

func newIdleReleaser(allocated uint64) *idleReleaser {
	return &idleReleaser{last: allocated, released: allocated, next: len(releaseAfter)}
}

// tick takes the allocation counter of this tick and says whether to
// release now.
func (r *idleReleaser) tick(allocated uint64) bool {
	rate := allocated - r.last
	r.last = allocated
	if rate >= idleAllocRate {
		r.quiet = 0
		if allocated-r.released >= minBurst {
			r.next = 0
		}
		return false
	}
	r.quiet += releaseTick
	if r.next < len(releaseAfter) && r.quiet >= releaseAfter[r.next] {
		r.next++
		return true
	}
	return false
}

// done records the counter after a release (the collection's own
// allocations are no work).
func (r *idleReleaser) done(allocated uint64) { r.last, r.released = allocated, allocated }

// releaseWhenIdle runs until ctx ends.
func releaseWhenIdle(ctx context.Context, log *slog.Logger) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	allocated := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	r := newIdleReleaser(allocated())
	t := time.NewTicker(releaseTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.tick(allocated()) {
			continue
		}
		start := time.Now()
		debug.FreeOSMemory()
		r.done(allocated())
		log.Debug("returned free memory to the OS", "quiet", r.quiet, "took", time.Since(start))
	}
}
