package imap

import (
	"net"
	"sync"
	"time"
)

// imapserver flushes its buffered writer after every response line, so a
// FETCH 1:* over 10,000 messages costs 10,000 write syscalls (and as many
// TLS records and client wake-ups). bufConn coalesces writes and sends them
// when the server is about to wait for the client: before every Read, or
// when 64 KiB are pending. Writes made while a Read is blocked (IDLE
// updates from another goroutine) go out at once, so nothing waits.
//
// It sits below TLS, like the idle-deadline wrapper of notes/libraries.md,
// so imapserver still sees a *tls.Conn where it type-asserts one.

const bufConnMax = 64 << 10

type bufListener struct{ net.Listener }

func (l bufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &bufConn{Conn: c}, nil
}

type bufConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte    // guarded by mu
	reading bool      // guarded by mu: a Read is blocked on the socket
	wdl     time.Time // guarded by mu: the write deadline the library asked for
	applied time.Time // guarded by mu: the one set on the socket
}

// SetWriteDeadline is called by imapserver around every response line;
// it only matters when bytes go to the socket, so it is applied then.
func (c *bufConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	return nil
}

func (c *bufConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

// writeLocked writes to the socket under the current write deadline (or
// def when the library has none set).
func (c *bufConn) writeLocked(p []byte, def time.Duration) (int, error) {
	dl := c.wdl
	if dl.IsZero() && def > 0 {
		dl = time.Now().Add(def)
	}
	if !dl.Equal(c.applied) {
		c.Conn.SetWriteDeadline(dl)
		c.applied = dl
	}
	return c.Conn.Write(p)
}

func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading || len(c.buf)+len(p) > bufConnMax {
		if err := c.flushLocked(flushDeadline); err != nil {
			return 0, err
		}
		if c.reading || len(p) > bufConnMax/2 {
			return c.writeLocked(p, flushDeadline)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *bufConn) flushLocked(def time.Duration) error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.writeLocked(c.buf, def)
	c.buf = c.buf[:0]
	if cap(c.buf) > 4*bufConnMax {
		c.buf = nil
	}
	return err
}

// flushDeadline bounds a socket write when the library has no write
// deadline set (its deadlines cover only the time it spends writing a
// response into the buffer).
const flushDeadline = time.Minute

func (c *bufConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked(flushDeadline)
	c.reading = err == nil
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// Close flushes what is pending, unless a write is stuck on a client that
// does not read: then it closes at once, which also unblocks that write.
func (c *bufConn) Close() error {
	if c.mu.TryLock() {
		c.wdl = time.Time{}
		c.flushLocked(5 * time.Second)
		c.mu.Unlock()
	}
	return c.Conn.Close()
}
