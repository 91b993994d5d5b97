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
	buf     []byte // guarded by mu
	reading bool   // guarded by mu: a Read is blocked on the socket
}

func (c *bufConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading || len(c.buf)+len(p) > bufConnMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if c.reading || len(p) > bufConnMax/2 {
			return c.Conn.Write(p)
		}
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *bufConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 4*bufConnMax {
		c.buf = nil
	}
	return err
}

// flushDeadline bounds a flush done on behalf of Read or Close, when no
// write deadline of the library applies any more.
const flushDeadline = time.Minute

func (c *bufConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	var err error
	if len(c.buf) > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(flushDeadline))
		err = c.flushLocked()
		c.Conn.SetWriteDeadline(time.Time{})
	}
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

func (c *bufConn) Close() error {
	c.mu.Lock()
	if len(c.buf) > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.flushLocked()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}
