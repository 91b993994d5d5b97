package message

import (
	"bytes"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(typical))
	f.Add([]byte(nested))
	f.Add([]byte("Content-Type: multipart/digest; boundary=x\r\n\r\n--x\r\n\r\nSubject: a\r\n\r\nb\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 1<<16 {
			return
		}
		for _, lim := range []Limits{{}, {MaxDepth: 2, MaxParts: 3}} {
			root := Parse(msg, lim)
			checkInvariants(t, msg, root)
			for _, ext := range []bool{false, true} {
				out := AppendBodyStructure(nil, msg, root, ext)
				if !balanced(out) {
					t.Fatalf("unbalanced bodystructure %q", out)
				}
			}
			for _, n := range []string{"a", "É", ""} {
				TextContains(msg, root, n, true)
			}
		}
	})
}

func FuzzEnvelope(f *testing.F) {
	for _, h := range []string{
		"From: \"Joe\" <joe@example.com>\r\nTo: g: a@b, c@d;, e@f (c)\r\n",
		"To: <@a,@b:u@c>\r\nCc: (x) <>\r\nSubject: =?utf-8?q?x?=\r\n",
		"From: a\"b(c\\d[e<f@g\r\n",
	} {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		out := AppendEnvelope(nil, h)
		if !balanced(out) || !bytes.HasPrefix(out, []byte("(")) {
			t.Fatalf("bad envelope %q", out)
		}
		for _, v := range HeaderValues(h, "from") {
			AddressSearchText(v)
			DecodeHeader(v)
		}
	})
}
