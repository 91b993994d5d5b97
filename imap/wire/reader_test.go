package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pipeClient drives a Reader through an io.Pipe: the client side writes
// only what a real client would, and waits for each continuation before
// sending a synchronizing literal's data.
type pipeClient struct {
	w     *io.PipeWriter
	conts chan struct{}
	r     *Reader
}

func newPipeClient(t *testing.T, lim Limits) *pipeClient {
	pr, pw := io.Pipe()
	c := &pipeClient{w: pw, conts: make(chan struct{}, 10)}
	c.r = NewReader(pr, lim, func() error {
		c.conts <- struct{}{}
		return nil
	})
	t.Cleanup(func() { pr.Close(); pw.Close() })
	return c
}

func (c *pipeClient) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c.w, s); err != nil {
		t.Errorf("client write: %v", err)
	}
}

func (c *pipeClient) waitCont(t *testing.T) bool {
	select {
	case <-c.conts:
		return true
	case <-time.After(5 * time.Second):
		t.Error("no continuation within 5s")
		return false
	}
}

type result struct {
	cmd []byte
	err error
}

func (c *pipeClient) read() chan result {
	ch := make(chan result, 1)
	go func() {
		cmd, err := c.r.ReadCommand()
		ch <- result{cmd, err}
	}()
	return ch
}

func wait(t *testing.T, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("ReadCommand did not return within 5s")
		return result{}
	}
}

func TestReaderSyncLiteral(t *testing.T) {
	c := newPipeClient(t, Limits{})
	ch := c.read()
	go func() {
		c.send(t, "a1 LOGIN {3}\r\n")
		if !c.waitCont(t) {
			return
		}
		c.send(t, "bob {6}\r\n")
		if !c.waitCont(t) {
			return
		}
		c.send(t, "pa\r\nss\r\n")
	}()
	r := wait(t, ch)
	if r.err != nil || string(r.cmd) != "a1 LOGIN {3}\r\nbob {6}\r\npa\r\nss" {
		t.Fatalf("ReadCommand = %q, %v", r.cmd, r.err)
	}
	if n := len(c.conts); n != 0 {
		t.Errorf("%d extra continuations", n)
	}
}

func TestReaderNonSyncLiteral(t *testing.T) {
	c := newPipeClient(t, Limits{})
	ch := c.read()
	go c.send(t, "a1 LOGIN {3+}\r\nbob ~{2+}\r\npw\r\n")
	r := wait(t, ch)
	if r.err != nil || string(r.cmd) != "a1 LOGIN {3+}\r\nbob ~{2+}\r\npw" {
		t.Fatalf("ReadCommand = %q, %v", r.cmd, r.err)
	}
	if n := len(c.conts); n != 0 {
		t.Errorf("LITERAL+ got %d continuations", n)
	}
}

// strictReader hands out its data once and then fails the test if read
// again: the Reader must decide on the first line alone.
type strictReader struct {
	t      *testing.T
	data   []byte
	reread bool
}

func (s *strictReader) Read(b []byte) (int, error) {
	if len(s.data) == 0 {
		s.reread = true
		return 0, errors.New("read past the announced line")
	}
	n := copy(b, s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestReaderRefusesBigLiteral(t *testing.T) {
	tests := []struct {
		line  string
		kind  ErrKind
		fatal bool
	}{
		{"a1 LOGIN {99999999999}\r\n", ErrLiteralTooBig, false},
		{"a1 APPEND INBOX {99999999999}\r\n", ErrAppendTooBig, false},
		{"a1 append INBOX (\\Seen) {52428801}\r\n", ErrAppendTooBig, false},
		{"a1 LOGIN {65537+}\r\n", ErrLiteralTooBig, true},
		{"a1 APPEND INBOX {99999999999+}\r\n", ErrAppendTooBig, true},
		{"a1 LOGIN {99999999999999999999}\r\n", ErrBadLiteral, false},
		{"a1 LOGIN {99999999999999999999+}\r\n", ErrBadLiteral, true},
		{"a1 LOGIN {12a}\r\n", ErrBadLiteral, false},
		{"a1 LOGIN {}\r\n", ErrBadLiteral, false},
	}
	for _, tt := range tests {
		sr := &strictReader{t: t, data: []byte(tt.line)}
		conts := 0
		r := NewReader(sr, Limits{}, func() error { conts++; return nil })
		cmd, err := r.ReadCommand()
		var re *ReadError
		if !errors.As(err, &re) {
			t.Errorf("%q: ReadCommand = %q, %v; want a *ReadError", tt.line, cmd, err)
			continue
		}
		if re.Kind != tt.kind || re.Fatal != tt.fatal || re.Tag != "a1" || re.Msg == "" {
			t.Errorf("%q: %+v, want kind %d fatal %v", tt.line, *re, tt.kind, tt.fatal)
		}
		if conts != 0 || sr.reread {
			t.Errorf("%q: continuations %d, read past the line %v", tt.line, conts, sr.reread)
		}
	}
	// A literal within its limit but past the command's total.
	lim := Limits{MaxLine: 100, MaxLiteral: 1000}
	r := NewReader(strings.NewReader("a LOGIN {900+}\r\n"+strings.Repeat("x", 900)+" {900}\r\n"), lim, nil)
	if _, err := r.ReadCommand(); !isKind(err, ErrLiteralTooBig) {
		t.Errorf("two literals over the command limit: %v", err)
	}
	// MULTIAPPEND within MaxAppend per message, over MaxCommand in all.
	lim = Limits{MaxAppend: 100, MaxCommand: 150}
	r = NewReader(strings.NewReader("a APPEND INBOX {90+}\r\n"+strings.Repeat("x", 90)+" {90}\r\n"), lim, nil)
	if _, err := r.ReadCommand(); !isKind(err, ErrAppendTooBig) {
		t.Errorf("MULTIAPPEND over MaxCommand: %v", err)
	}
}

func isKind(err error, k ErrKind) bool {
	var re *ReadError
	return errors.As(err, &re) && re.Kind == k
}

func TestReaderAfterRefusal(t *testing.T) {
	// The server answers the refused literal, and the client goes on with
	// its next command (RFC 9051 §4.3: it must not send the data).
	in := "a1 LOGIN {70000}\r\na2 NOOP\r\n"
	r := NewReader(strings.NewReader(in), Limits{}, func() error { t.Error("continuation sent"); return nil })
	if _, err := r.ReadCommand(); !isKind(err, ErrLiteralTooBig) {
		t.Fatalf("first: %v", err)
	}
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "a2 NOOP" {
		t.Fatalf("second = %q, %v", cmd, err)
	}
}

func TestReaderLongLine(t *testing.T) {
	in := "a1 NOOP " + strings.Repeat("x", 1<<20) + "\r\nb2 NOOP\nc3 CHECK\r\n"
	r := NewReader(strings.NewReader(in), Limits{}, nil)
	_, err := r.ReadCommand()
	var re *ReadError
	if !errors.As(err, &re) || re.Kind != ErrLineTooLong || re.Tag != "a1" || re.Fatal {
		t.Fatalf("1 MB line: %#v", err)
	}
	for _, want := range []string{"b2 NOOP", "c3 CHECK"} { // bare LF is a line end too
		if cmd, err := r.ReadCommand(); err != nil || string(cmd) != want {
			t.Fatalf("next = %q, %v; want %q", cmd, err, want)
		}
	}
	if _, err := r.ReadCommand(); err != io.EOF {
		t.Errorf("at end: %v, want io.EOF", err)
	}

	// A dropped line ending in a non-synchronizing literal leaves data
	// that cannot be told from commands.
	in = "a1 LOGIN " + strings.Repeat("x", 1<<17) + " {5+}\r\nhello\r\n"
	r = NewReader(strings.NewReader(in), Limits{}, nil)
	if _, err := r.ReadCommand(); !errors.As(err, &re) || re.Kind != ErrLineTooLong || !re.Fatal {
		t.Errorf("long line with {5+}: %#v", err)
	}

	// A long line after a literal.
	in = "a1 LOGIN {1}\r\nx " + strings.Repeat("y", 200) + "\r\na2 NOOP\r\n"
	r = NewReader(strings.NewReader(in), Limits{MaxLine: 100}, nil)
	if _, err := r.ReadCommand(); !errors.As(err, &re) || re.Kind != ErrLineTooLong || re.Tag != "a1" {
		t.Errorf("long second line: %#v", err)
	}
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "a2 NOOP" {
		t.Errorf("after long second line: %q %v", cmd, err)
	}
}

// genReader yields n bytes of 'x' and then a line end, without holding
// them.
type genReader struct {
	n    int
	tail string
}

func (g *genReader) Read(b []byte) (int, error) {
	if g.n > 0 {
		k := min(len(b), g.n)
		for i := range b[:k] {
			b[i] = 'x'
		}
		g.n -= k
		return k, nil
	}
	if g.tail == "" {
		return 0, io.EOF
	}
	k := copy(b, g.tail)
	g.tail = g.tail[k:]
	return k, nil
}

func TestReaderBoundedMemory(t *testing.T) {
	const size = 10 << 20
	g := &genReader{n: size, tail: "\r\nz NOOP\r\n"}
	r := NewReader(g, Limits{}, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := r.ReadCommand()
	runtime.ReadMemStats(&after)
	if !isKind(err, ErrLineTooLong) {
		t.Fatalf("10 MB line: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("reading a 10 MB line allocated %d bytes, want < 1 MB", alloc)
	}
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "z NOOP" {
		t.Errorf("after: %q %v", cmd, err)
	}

	// A literal announced but not sent holds no more than one chunk.
	pr, pw := io.Pipe()
	defer pw.Close()
	r = NewReader(pr, Limits{}, nil)
	go io.WriteString(pw, "a APPEND INBOX {40000000+}\r\nabc")
	done := make(chan struct{})
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() { r.ReadCommand(); close(done) }()
	time.Sleep(50 * time.Millisecond) // let it block on the missing data
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*literalChunk {
		t.Errorf("an announced 40 MB literal allocated %d bytes before its data came", alloc)
	}
	pw.CloseWithError(io.ErrClosedPipe)
	<-done
}

func TestReaderLimitsOK(t *testing.T) {
	msg := strings.Repeat("m", 1000)
	in := "a APPEND INBOX {1000}\r\n" + msg + " (\\Seen) {1000+}\r\n" + msg + "\r\n"
	r := NewReader(strings.NewReader(in), Limits{MaxLiteral: 10, MaxAppend: 1000, MaxCommand: 2100}, nil)
	cmd, err := r.ReadCommand()
	if err != nil || !bytes.Equal(cmd, []byte(in[:len(in)-2])) {
		t.Fatalf("MULTIAPPEND within limits: %.40q %v", cmd, err)
	}
	p, _ := argsOf(t, string(cmd))
	if _, msgs, err := p.Append(); err != nil || len(msgs) != 2 || string(msgs[1].Data) != msg {
		t.Errorf("parse: %d %v", len(msgs), err)
	}
}

func TestReaderEOF(t *testing.T) {
	for in, want := range map[string]error{
		"":                     io.EOF,
		"a NOOP":               io.ErrUnexpectedEOF,
		"a LOGIN {5+}\r\nab":   io.ErrUnexpectedEOF,
		"a LOGIN {2+}\r\nab x": io.ErrUnexpectedEOF,
	} {
		r := NewReader(strings.NewReader(in), Limits{}, nil)
		if cmd, err := r.ReadCommand(); err != want {
			t.Errorf("%q: %q %v, want %v", in, cmd, err, want)
		}
	}
	r := NewReader(strings.NewReader("\r\n"), Limits{}, nil)
	if cmd, err := r.ReadCommand(); err != nil || len(cmd) != 0 {
		t.Errorf("empty line: %q %v", cmd, err)
	}
}

func TestReaderLiteralDataLooksLikeHeader(t *testing.T) {
	// The literal's data ends in "{1}" and the command ends with it: that
	// is data, not another literal.
	in := "a LOGIN bob {5+}\r\nab{1}\r\nb NOOP\r\n"
	r := NewReader(strings.NewReader(in), Limits{}, func() error { t.Error("continuation sent"); return nil })
	for _, want := range []string{"a LOGIN bob {5+}\r\nab{1}", "b NOOP"} {
		if cmd, err := r.ReadCommand(); err != nil || string(cmd) != want {
			t.Fatalf("ReadCommand = %q, %v; want %q", cmd, err, want)
		}
	}
}

func TestReaderContError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(strings.NewReader("a LOGIN {3}\r\nbob x\r\n"), Limits{}, func() error { return boom })
	if _, err := r.ReadCommand(); err != boom {
		t.Errorf("cont error: %v", err)
	}
}

func TestReaderLineAndReset(t *testing.T) {
	r := NewReader(strings.NewReader("DONE\r\n"+strings.Repeat("x", 200)+"\r\nok\r\nrest"), Limits{MaxLine: 100}, nil)
	if l, err := r.ReadLine(); err != nil || string(l) != "DONE" {
		t.Errorf("ReadLine = %q %v", l, err)
	}
	if _, err := r.ReadLine(); !isKind(err, ErrLineTooLong) {
		t.Errorf("long ReadLine: %v", err)
	}
	if l, err := r.ReadLine(); err != nil || string(l) != "ok" {
		t.Errorf("ReadLine after = %q %v", l, err)
	}
	if n := r.Buffered(); n != 4 {
		t.Errorf("Buffered = %d, want 4", n)
	}
	r = NewReader(strings.NewReader("a STARTTLS\r\n"), Limits{}, nil)
	r.ReadCommand()
	if n := r.Buffered(); n != 0 {
		t.Fatalf("Buffered = %d", n)
	}
	r.Reset(strings.NewReader("b NOOP\r\n"))
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != "b NOOP" {
		t.Errorf("after Reset: %q %v", cmd, err)
	}
}
