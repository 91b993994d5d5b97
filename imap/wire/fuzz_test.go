package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzLimits = Limits{MaxLine: 64, MaxLiteral: 100, MaxAppend: 300, MaxCommand: 500}

// readAll reads every command of data, checking the Reader's invariants.
func readAll(t *testing.T, data []byte) (cmds [][]byte, conts int) {
	r := NewReader(bytes.NewReader(data), fuzzLimits, func() error { conts++; return nil })
	// Each command, refused or not, consumes at least one byte.
	for i := 0; i <= len(data)+1; i++ {
		cmd, err := r.ReadCommand()
		if err != nil {
			var re *ReadError
			if errors.As(err, &re) {
				if re.Msg == "" || re.Kind < ErrLineTooLong || re.Kind > ErrBadLiteral {
					t.Fatalf("bad ReadError %+v", *re)
				}
				if re.Fatal {
					return cmds, conts
				}
				continue
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return cmds, conts
			}
			t.Fatalf("ReadCommand: unexpected error %v", err)
		}
		max := 2*int64(fuzzLimits.MaxLine) + fuzzLimits.MaxLiteral
		if isAppend(cmd) {
			max = fuzzLimits.MaxCommand
		}
		if int64(len(cmd)) > max {
			t.Fatalf("command of %d bytes, limit %d", len(cmd), max)
		}
		checkFraming(t, cmd)
		cmds = append(cmds, cmd)
	}
	t.Fatalf("reading %d bytes did not terminate", len(data))
	return nil, 0
}

// checkFraming walks a command as a client framed it: a line break only
// after a literal header, exactly its data after it, and no literal
// header on the last line.
func checkFraming(t *testing.T, cmd []byte) {
	i := 0
	for {
		j := bytes.IndexByte(cmd[i:], '\n')
		if j < 0 {
			if lh := literalHeader(cmd[i:]); lh.found {
				t.Fatalf("command %q ends with a literal header", cmd)
			}
			return
		}
		line := bytes.TrimSuffix(cmd[i:i+j], []byte("\r"))
		lh := literalHeader(line)
		if !lh.found || lh.bad {
			t.Fatalf("command %q breaks a line without a literal at %d", cmd, i+j)
		}
		i += j + 1 + int(lh.size)
		if i > len(cmd) {
			t.Fatalf("command %q is missing literal data", cmd)
		}
	}
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a1 NOOP\r\n",
		"a1 LOGIN {3}\r\nbob {2+}\r\npw\r\na2 LOGOUT\r\n",
		"a APPEND INBOX (\\Seen) ~{5}\r\nhel\x00o\r\n",
		"a APPEND INBOX {90+}\r\n" + strings.Repeat("x", 90) + " {10}\r\n0123456789\r\n",
		"a LOGIN {99999999999}\r\nb NOOP\n",
		"a " + strings.Repeat("y", 100) + "\r\nb NOOP\r\n",
		"x {12a}\r\n{+}\r\n{}\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, conts := readAll(t, data)
		// Framing is stable: a command read back on its own is the same
		// command, with as many continuations.
		for _, cmd := range cmds {
			again, c := readAll(t, append(bytes.Clone(cmd), "\r\n"...))
			if len(again) != 1 || !bytes.Equal(again[0], cmd) {
				t.Fatalf("command %q reads back as %q", cmd, again)
			}
			conts -= c
		}
		if conts < 0 {
			t.Fatalf("fewer continuations than the commands need")
		}
	})
}

func syntaxOnly(t *testing.T, what string, err error) {
	if err == nil {
		return
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Msg == "" || strings.ContainsAny(se.Msg, "\r\n") {
		t.Fatalf("%s: error %#v is not a one-line *SyntaxError", what, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>) (CHANGEDSINCE 12345 VANISHED)",
		"RETURN (MIN COUNT) CHARSET UTF-8 OR FROM alice NOT SEEN 1:5,$",
		"(SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" INBOX) RETURN (CHILDREN STATUS (MESSAGES))",
		"INBOX (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nhello CATENATE (URL x TEXT {1}\r\ny)",
		"INBOX (QRESYNC (1 2 3:4 (1 2)))",
		"2:4 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Deleted $Junk)",
		"RETURN (PARTIAL -1:-5) (REVERSE DATE) UTF-8 MODSEQ \"/flags/\\\\seen\" all 5",
		"\"~peter/mail/&U,BTFw-/&ZeVnLIqe-\" (MESSAGES UNSEEN)",
		"bob@example.test\\alice \"unterminated",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, uid := range []bool{false, true} {
			_, _, err := NewParser(data).Fetch(uid)
			syntaxOnly(t, "Fetch", err)
			_, err = NewParser(data).Search(uid)
			syntaxOnly(t, "Search", err)
			_, err = NewParser(data).Sort(uid)
			syntaxOnly(t, "Sort", err)
			_, err = NewParser(data).Thread(uid)
			syntaxOnly(t, "Thread", err)
			_, _, err = NewParser(data).Store(uid)
			syntaxOnly(t, "Store", err)
			_, err = NewParser(data).NumSet(uid)
			syntaxOnly(t, "NumSet", err)
		}
		for _, u8 := range []bool{false, true} {
			p := NewParser(data)
			p.UTF8 = u8
			_, err := p.List()
			syntaxOnly(t, "List", err)
			p = NewParser(data)
			p.UTF8 = u8
			_, _, err = p.Status()
			syntaxOnly(t, "Status", err)
			p = NewParser(data)
			p.UTF8 = u8
			_, _, err = p.Select()
			syntaxOnly(t, "Select", err)
			p = NewParser(data)
			p.UTF8 = u8
			_, msgs, err := p.Append()
			syntaxOnly(t, "Append", err)
			for _, m := range msgs {
				if m.Data == nil && m.Catenate == nil {
					t.Fatalf("APPEND message without data: %+v", m)
				}
			}

			// A mailbox name that parses, sent back by the Encoder,
			// parses to the same name.
			p = NewParser(data)
			p.UTF8 = u8
			if name, err := p.Mailbox(); err == nil {
				out := encodeWith(u8, func(e *Encoder) { e.Mailbox(name) })
				q := NewParser([]byte(out))
				q.UTF8 = u8
				back, err := q.Mailbox()
				if err != nil || back != name || !q.AtEnd() {
					t.Fatalf("mailbox %q encoded as %q parses back as %q, %v", name, out, back, err)
				}
			} else {
				syntaxOnly(t, "Mailbox", err)
			}
		}
		p := NewParser(data)
		if s, err := p.AString(); err == nil {
			for _, u8 := range []bool{false, true} {
				out := encodeWith(u8, func(e *Encoder) { e.String(s) })
				q := NewParser([]byte(out))
				back, err := q.AString()
				if err != nil || back != s || !q.AtEnd() {
					t.Fatalf("astring %q encoded as %q parses back as %q, %v", s, out, back, err)
				}
			}
		} else {
			syntaxOnly(t, "AString", err)
		}
		p = NewParser(data)
		_, err := p.FlagList()
		syntaxOnly(t, "FlagList", err)
		p = NewParser(data)
		_, err = p.DateTime()
		syntaxOnly(t, "DateTime", err)
		p = NewParser(data)
		_, _, err = p.NString()
		syntaxOnly(t, "NString", err)
	})
}

func encodeWith(u8 bool, f func(e *Encoder)) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	e := NewEncoder(w)
	e.UTF8 = u8
	f(e)
	e.Flush()
	return b.String()
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"~peter/mail/台北/日本語", "&U,BTFw-", "R&D", "&-", "😀\x00\t", "&AGE-", "&2D0-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) {
			enc := EncodeMUTF7(s)
			for i := 0; i < len(enc); i++ {
				if !printable(rune(enc[i])) {
					t.Fatalf("EncodeMUTF7(%q) = %q: not printable ASCII", s, enc)
				}
			}
			if dec, err := DecodeMUTF7(enc); err != nil || dec != s {
				t.Fatalf("DecodeMUTF7(EncodeMUTF7(%q)) = %q, %v (via %q)", s, dec, err, enc)
			}
		}
		if dec, err := DecodeMUTF7(s); err == nil {
			if !utf8.ValidString(dec) {
				t.Fatalf("DecodeMUTF7(%q) = %q: not UTF-8", s, dec)
			}
			if again, err := DecodeMUTF7(EncodeMUTF7(dec)); err != nil || again != dec {
				t.Fatalf("%q: decoded %q does not survive a round trip", s, dec)
			}
		}
	})
}
