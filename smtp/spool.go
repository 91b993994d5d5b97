package smtp

import (
	"bufio"
	"bytes"
	"container/list"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// spool holds one message while it arrives: in memory up to a threshold,
// past it in a temporary file in the spool directory. The file is unlinked
// as soon as it is created, so it is gone when closed, even after a crash.
// A write error (a full disk) is kept and reported by err; writes go on
// being accepted, so DATA is read to its end and the client gets a reply.
type spool struct {
	dir       string
	threshold int64
	count     *atomic.Int64 // may be nil: adds the bytes held, until Close

	mem  bytes.Buffer
	f    *os.File
	w    *bufio.Writer // over f
	n    int64
	werr error
}

func (sp *spool) Write(p []byte) (int, error) {
	if sp.werr != nil {
		return len(p), nil
	}
	sp.n += int64(len(p))
	if sp.count != nil {
		sp.count.Add(int64(len(p)))
	}
	if sp.f == nil && int64(sp.mem.Len()+len(p)) <= sp.threshold {
		return sp.mem.Write(p)
	}
	if sp.f == nil {
		f, err := os.CreateTemp(sp.dir, "smtp-data-*")
		if err != nil {
			sp.werr = fmt.Errorf("spool message: %w", err)
			return len(p), nil
		}
		os.Remove(f.Name()) // open until Close; nothing is left behind
		sp.f, sp.w = f, bufio.NewWriterSize(f, 64<<10)
		sp.w.Write(sp.mem.Bytes())
		sp.mem = bytes.Buffer{}
	}
	if _, err := sp.w.Write(p); err != nil {
		sp.werr = fmt.Errorf("spool message: %w", err)
	}
	return len(p), nil
}

// size is the number of bytes written.
func (sp *spool) size() int64 { return sp.n }

// reader returns the message from its start; call it once, after the last
// Write.
func (sp *spool) reader() (io.Reader, error) {
	if sp.werr != nil {
		return nil, sp.werr
	}
	if sp.f == nil {
		return bytes.NewReader(sp.mem.Bytes()), nil
	}
	if err := sp.w.Flush(); err != nil {
		return nil, fmt.Errorf("spool message: %w", err)
	}
	return io.NewSectionReader(sp.f, 0, sp.n), nil
}

func (sp *spool) Close() {
	if sp.count != nil {
		sp.count.Add(-sp.n)
		sp.count = nil
	}
	if sp.f != nil {
		sp.f.Close()
		sp.f = nil
	}
	sp.mem = bytes.Buffer{}
}

// budget bounds the bytes of messages held in memory at once while they
// are parsed and stored: storage.Deliver takes the message as one slice.
// Waiters are served in order.
type budget struct {
	max int64 // immutable

	mu      sync.Mutex
	used    int64      // guarded by mu
	waiters *list.List // guarded by mu; of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newBudget(max int64) *budget { return &budget{max: max, waiters: list.New()} }

// acquire takes n bytes (at most the whole budget), waiting up to d. It
// returns false when d passed first.
func (b *budget) acquire(n int64, d time.Duration) (release func(), ok bool) {
	n = min(n, b.max)
	release = func() { b.release(n) }
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.max {
		b.used += n
		b.mu.Unlock()
		return release, true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.mu.Unlock()

	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ready:
		return release, true
	case <-t.C:
	}
	b.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile
		b.mu.Unlock()
		return release, true
	default:
	}
	front := b.waiters.Front() == e
	b.waiters.Remove(e)
	if front {
		b.wakeLocked() // the next one may fit now
	}
	b.mu.Unlock()
	return nil, false
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.wakeLocked()
	b.mu.Unlock()
}

func (b *budget) wakeLocked() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.used+w.n > b.max {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}
