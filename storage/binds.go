package storage

import (
	"sync"
	"time"
)

// BindWindow remembers which bind records (a delegate opening a folder or
// a calendar of another mailbox: Exchange's FolderBind) were written in
// the current window, so that a delegate's repeated opens of one folder
// make one record per window and not one per open (Exchange merges them
// the same way). The caller writes the record of the first open of a
// window before answering it, so a record is never lost to a crash that
// this open survived; a restart forgets the window and at most writes one
// record more. K names what one record is about (actor, owner, folder or
// calendar, outcome). The zero BindWindow is ready to use.
type BindWindow[K comparable] struct {
	mu     sync.Mutex
	window time.Time  // guarded by mu: start of the current window
	seen   map[K]bool // guarded by mu
}

// First reports whether k has no record yet in the window (of length
// window) holding now, and marks it as recorded. A negative window
// records every open.
func (b *BindWindow[K]) First(k K, now time.Time, window time.Duration) bool {
	if window < 0 {
		return true
	}
	start := now.Truncate(window)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !start.Equal(b.window) || b.seen == nil {
		b.window, b.seen = start, map[K]bool{} // the old window's keys go with it
	}
	if b.seen[k] {
		return false
	}
	b.seen[k] = true
	return true
}

// Forget undoes First when the record could not be written, so the next
// open tries again.
func (b *BindWindow[K]) Forget(k K) {
	b.mu.Lock()
	delete(b.seen, k)
	b.mu.Unlock()
}
