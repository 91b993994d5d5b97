package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawLogin is a raw connection logged in as user.
func (e *env) rawLogin(user string) *raw {
	e.t.Helper()
	r := e.raw()
	if _, st := r.cmd(`LOGIN %s "%s"`, addr(user), pw); !strings.HasPrefix(st, "OK") {
		e.t.Fatalf("LOGIN %s: %s", user, st)
	}
	return r
}

// send writes bytes as they are.
func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// until reads lines up to one starting with prefix and returns it.
func (r *raw) until(prefix string) string {
	r.t.Helper()
	for {
		if l := r.line(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// closed reports whether the server closed the connection (after
// draining what it still sent).
func (r *raw) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(r.r)
	return err == nil // EOF: ReadAll returns nil
}

// TestCommandLimits: a line over the limit, a synchronizing literal over
// its limit (refused before any data, no continuation), an APPEND over
// APPENDLIMIT (NO [TOOBIG] at once), an unterminated quote: each is
// answered and the connection goes on; a non-synchronizing literal over the
// limit and repeated abuse end it with BYE.
func TestCommandLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startServer(Config{Hostname: "mail.example.test", InsecureAuth: true, AppendLimit: 1 << 20})
	r := e.rawLogin("alice")

	// C: a NOOP <70 KiB of x>   S: a BAD   then the next command works.
	r.send("a1 NOOP " + strings.Repeat("x", 70<<10) + "\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a1 BAD") {
		t.Errorf("70 KiB line: %q, want a1 BAD", l)
	}
	if _, st := r.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("NOOP after the long line: %q", st)
	}

	// C: a2 LOGIN {99999999999}   S: a2 BAD (no "+": the client sends nothing more)
	r.send("a2 SELECT {99999999999}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a2 BAD") {
		t.Errorf("huge synchronizing literal: %q, want a2 BAD without a continuation", l)
	}
	// C: a3 APPEND INBOX {2000000}   S: a3 NO [TOOBIG]
	r.send("a3 APPEND INBOX {2000000}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a3 NO [TOOBIG]") {
		t.Errorf("APPEND over APPENDLIMIT: %q, want a3 NO [TOOBIG] at once", l)
	}
	// C: a4 SELECT "INBOX   S: a4 BAD
	if _, st := r.cmd(`SELECT "INBOX`); !strings.HasPrefix(st, "BAD") {
		t.Errorf("unterminated quote: %q, want BAD", st)
	}
	if _, st := r.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Errorf("SELECT after the refusals: %q", st)
	}

	// A non-synchronizing literal over the limit cannot be skipped: BYE.
	r.send("a5 SELECT {99999999+}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("huge LITERAL+: %q, want * BYE", l)
	}
	if !r.closed() {
		t.Error("connection still open after the LITERAL+ BYE")
	}

	// Line after line over the limit: BYE and close.
	r = e.rawLogin("alice")
	long := strings.Repeat("y", 70<<10)
	var bye bool
	for i := 0; i < 10 && !bye; i++ {
		r.send(fmt.Sprintf("b%d NOOP %s\r\n", i, long))
		bye = strings.HasPrefix(r.line(), "* BYE")
	}
	if !bye {
		t.Error("ten over-long lines in a row: no BYE")
	}
}

// TestConnectionCapPerIP: connections past MaxConnsPerIP get BYE [UNAVAILABLE].
func TestConnectionCapPerIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startServer(Config{Hostname: "mail.example.test", InsecureAuth: true, MaxConnsPerIP: 2})
	e.raw()
	e.raw()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "* BYE [UNAVAILABLE]") {
		t.Errorf("third connection from one address: %q, want * BYE [UNAVAILABLE] and close", b)
	}
}

// TestPreAuthTimeout: a client that never logs in is told BYE and
// disconnected.
func TestPreAuthTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startServer(Config{Hostname: "mail.example.test", InsecureAuth: true, PreAuthTimeout: 200 * time.Millisecond})
	r := e.raw()
	if l := r.line(); !strings.HasPrefix(l, "* BYE") || !strings.Contains(l, "autologout") {
		t.Errorf("silent client: %q, want * BYE autologout", l)
	}
}

// TestKeywordLimit: a STORE of more keywords than a message may carry is
// NO [LIMIT], quickly, and changes nothing.
func TestKeywordLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "kw")
	r := e.rawLogin("alice")
	r.cmd("SELECT INBOX")
	kws := make([]string, 8000)
	for i := range kws {
		kws[i] = fmt.Sprintf("k%d", i)
	}
	start := time.Now()
	_, st := r.cmd("STORE 1 +FLAGS (%s)", strings.Join(kws, " "))
	if !strings.HasPrefix(st, "NO [LIMIT]") {
		t.Errorf("STORE of 8,000 keywords: %q, want NO [LIMIT]", st)
	}
	t.Logf("8,000-keyword STORE answered in %v", time.Since(start))
	un, _ := r.cmd("FETCH 1 FLAGS")
	if len(un) != 1 || strings.Contains(un[0], "k1") {
		t.Errorf("flags after the refused STORE: %q", un)
	}
}

// TestCompress: COMPRESS DEFLATE (RFC 4978) with a client that sync-flushes
// every command: the tagged OK comes uncompressed and alone, everything
// after it is compressed both ways. (Not advertised; see imapCaps.)
func TestCompress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "compressed")
	r := e.rawLogin("alice")
	if _, st := r.cmd("COMPRESS DEFLATE"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("COMPRESS DEFLATE: %q", st)
	}
	if n := r.r.Buffered(); n != 0 {
		t.Fatalf("%d bytes arrived with the OK of COMPRESS; want the OK alone", n)
	}
	fw, err := flate.NewWriter(r.c, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zr := &raw{t: t, c: writerConn{Conn: r.c, w: fw}, r: bufio.NewReader(flate.NewReader(r.c))}
	un, st := zr.cmd("SELECT INBOX")
	if !strings.HasPrefix(st, "OK") || !slices.Contains(un, "* 1 EXISTS") {
		t.Errorf("SELECT over COMPRESS: %q %q", un, st)
	}
	if _, st := zr.cmd("COMPRESS DEFLATE"); !strings.HasPrefix(st, "NO [COMPRESSIONACTIVE]") {
		t.Errorf("second COMPRESS: %q, want NO [COMPRESSIONACTIVE]", st)
	}
	if un, _ := zr.cmd("CAPABILITY"); len(un) != 1 || strings.Contains(un[0], "COMPRESS") {
		t.Errorf("CAPABILITY with compression on: %q, want no COMPRESS=DEFLATE", un)
	}
}

// TestCompressPartialFlush: a client whose flushes end the deflate block
// but hold back what follows it (as Z_PARTIAL_FLUSH does, mbsync's way) is
// answered at once: the server inflates each block as soon as it ends.
func TestCompressPartialFlush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "compressed")
	r := e.rawLogin("alice")
	if un, _ := r.cmd("CAPABILITY"); len(un) != 1 || !strings.Contains(un[0], " COMPRESS=DEFLATE") {
		t.Fatalf("CAPABILITY: %q, want COMPRESS=DEFLATE", un)
	}
	if _, st := r.cmd("COMPRESS DEFLATE"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("COMPRESS DEFLATE: %q", st)
	}
	var out bytes.Buffer
	fw, err := flate.NewWriter(&out, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zr := &raw{t: t, c: &partialConn{Conn: r.c, w: fw, out: &out}, r: bufio.NewReader(flate.NewReader(r.c))}
	for range 3 {
		r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		un, st := zr.cmd("SELECT INBOX")
		if !strings.HasPrefix(st, "OK") || !slices.Contains(un, "* 1 EXISTS") {
			t.Fatalf("SELECT over COMPRESS with partial flushes: %q %q", un, st)
		}
	}
}

// partialConn compresses each write into one deflate block and sends it
// without the empty stored block Go's Flush puts after it (its last four
// bytes, 00 00 ff ff), which goes out only in front of the next write:
// what arrives ends a block but is no sync flush.
type partialConn struct {
	net.Conn
	w    *flate.Writer
	out  *bytes.Buffer
	held []byte
}

func (c *partialConn) Write(p []byte) (int, error) {
	c.out.Reset()
	c.out.Write(c.held)
	if _, err := c.w.Write(p); err != nil {
		return 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	b := c.out.Bytes()
	c.held = append(c.held[:0], b[len(b)-4:]...)
	_, err := c.Conn.Write(b[:len(b)-4])
	return len(p), err
}

// writerConn sends what a test writes through w, flushed (Z_SYNC_FLUSH)
// after every write, as a COMPRESS client must.
type writerConn struct {
	net.Conn
	w *flate.Writer
}

func (c writerConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.w.Flush()
	}
	return n, err
}

// TestUnknownCommandsEndInBye: unknown commands are BAD, and more than
// maxAbuse of them in a row end the connection with BYE; a good command in
// between starts the count again.
func TestUnknownCommandsEndInBye(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.rawLogin("alice")
	for i := range maxAbuse {
		if _, st := r.cmd("XNOSUCH%d", i); !strings.HasPrefix(st, "BAD [CLIENTBUG] unknown command") {
			t.Fatalf("unknown command %d: %q", i, st)
		}
	}
	if _, st := r.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("NOOP: %q", st)
	}
	for i := range maxAbuse {
		r.cmd("XNOSUCH%d", i)
	}
	r.send("x1 XNOSUCH\r\n")
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("unknown command %d in a row: %q, want * BYE", maxAbuse+1, l)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.r.ReadString('\n'); err == nil {
		t.Errorf("the connection stays open after BYE")
	}
}
