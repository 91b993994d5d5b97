package wire

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

const benchFetch = "a12 UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (From To Cc Subject Date Message-ID Content-Type)])"

// loopReader replays the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(b []byte) (int, error) {
	n := copy(b, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func BenchmarkReadCommand(b *testing.B) {
	in := benchFetch + "\r\na13 LOGIN {3}\r\nbob {6+}\r\nsecret\r\n"
	r := NewReader(&loopReader{data: []byte(in)}, Limits{}, func() error { return nil })
	b.SetBytes(int64(len(in)) / 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFetch(b *testing.B) {
	cmd := []byte(benchFetch)
	b.ReportAllocs()
	for b.Loop() {
		p := NewParser(cmd)
		p.Tag()
		p.SP()
		p.Atom()
		p.SP()
		p.Atom()
		p.SP()
		if _, _, err := p.Fetch(true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeFetchLine(b *testing.B) {
	w := bufio.NewWriter(io.Discard)
	e := NewEncoder(w)
	hdr := []byte("From: Alice <alice@example.test>\r\nSubject: lunch?\r\n\r\n")
	flags := []goimap.Flag{goimap.FlagSeen, "$Forwarded"}
	b.ReportAllocs()
	for b.Loop() {
		e.Atom("*").SP().Number(1234).SP().Atom("FETCH").SP().Byte('(').
			Atom("UID").SP().Number(98765).SP().
			Atom("FLAGS").SP().Flags(flags).SP().
			Atom("RFC822.SIZE").SP().Number(4567).SP().
			Atom("BODY[HEADER.FIELDS (From Subject)]").SP().Literal(hdr).SP().
			Atom("X-SUBJECT").SP().String("lunch? \"soon\"").
			Byte(')').CRLF()
	}
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
}

// TestBenchInputs keeps the benchmark inputs honest.
func TestBenchInputs(t *testing.T) {
	p, uid := argsOf(t, benchFetch)
	_, req, err := p.Fetch(uid)
	if err != nil || len(req.Atts) != 5 || req.Atts[4].Name() != "BODY[HEADER.FIELDS (From To Cc Subject Date Message-ID Content-Type)]" {
		t.Fatalf("%+v %v", req, err)
	}
	var out bytes.Buffer
	r := NewReader(io.TeeReader(strings.NewReader(benchFetch+"\r\n"), &out), Limits{}, nil)
	if cmd, err := r.ReadCommand(); err != nil || string(cmd) != benchFetch {
		t.Fatalf("%q %v", cmd, err)
	}
}
