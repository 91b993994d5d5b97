package message

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func bs(msg string, ext bool) string {
	m := []byte(msg)
	return string(AppendBodyStructure(nil, m, Parse(m, Limits{}), ext))
}

func sec(t *testing.T, msg string, path []int, spec string, fields ...string) string {
	t.Helper()
	m := []byte(msg)
	b, ok := Section(m, Parse(m, Limits{}), path, spec, fields)
	if !ok {
		t.Fatalf("section %v %s: not ok", path, spec)
	}
	return string(b)
}

func env(h string) string { return string(AppendEnvelope(nil, []byte(h))) }

func TestNoBlankLine(t *testing.T) {
	msg := "Subject: x\r\nFrom: a@b\r\n"
	p := Parse([]byte(msg), Limits{})
	if p.HeaderStart != 0 || p.BodyStart != len(msg) || p.End != len(msg) {
		t.Fatalf("offsets %d %d %d", p.HeaderStart, p.BodyStart, p.End)
	}
	if got := sec(t, msg, nil, "HEADER"); got != msg {
		t.Errorf("header %q", got)
	}
	if got := sec(t, msg, nil, "TEXT"); got != "" {
		t.Errorf("text %q", got)
	}
	if got := sec(t, msg, nil, "HEADER.FIELDS", "from"); got != "From: a@b\r\n\r\n" {
		t.Errorf("fields %q", got)
	}
	// a last line without line end still ends its field
	if got := sec(t, "Subject: x\r\nFrom: a@b", nil, "HEADER.FIELDS", "FROM"); got != "From: a@b\r\n\r\n" {
		t.Errorf("fields %q", got)
	}
}

func TestBareLF(t *testing.T) {
	msg := "Subject: x\nTo: a@b\n\nbody\nline2\n"
	p := Parse([]byte(msg), Limits{})
	if p.BodyStart != len("Subject: x\nTo: a@b\n\n") || p.Lines != 2 {
		t.Fatalf("body start %d lines %d", p.BodyStart, p.Lines)
	}
	if got := sec(t, msg, nil, "TEXT"); got != "body\nline2\n" {
		t.Errorf("text %q", got)
	}
	if got := sec(t, msg, nil, "HEADER.FIELDS.NOT", "subject"); got != "To: a@b\n\r\n" {
		t.Errorf("fields.not %q", got)
	}
	mp := "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>\n--b\n\nplain\n--b--\n"
	if got, want := bs(mp, false), `(("TEXT" "HTML" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 0)("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 5 0) "MIXED")`; got != want {
		t.Errorf("bare LF multipart\n got  %s\n want %s", got, want)
	}
	if got := sec(t, mp, []int{2}, ""); got != "plain" {
		t.Errorf("part 2 %q", got)
	}
}

func TestEmptyMessage(t *testing.T) {
	p := Parse(nil, Limits{})
	if p.HeaderStart != 0 || p.BodyStart != 0 || p.End != 0 {
		t.Fatal("offsets")
	}
	if got, want := bs("", true), `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)`; got != want {
		t.Errorf("got %s", got)
	}
	if got, want := env(""), `(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)`; got != want {
		t.Errorf("got %s", got)
	}
	if got := sec(t, "", []int{1}, ""); got != "" {
		t.Errorf("part 1 %q", got)
	}
	if _, ok := Section(nil, p, []int{2}, "", nil); ok {
		t.Error("part 2 of a single part message")
	}
}

func TestDocExample(t *testing.T) {
	if got, want := bs("Subject: x\r\n\r\nhello\r\n", false), `("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1)`; got != want {
		t.Errorf("got %s", got)
	}
}

func TestMissingBoundary(t *testing.T) {
	for _, msg := range []string{
		"Content-Type: multipart/mixed\r\n\r\nno parts here\r\n",
		"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno parts here\r\n--z\r\n",
		"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz--\r\n",
	} {
		p := Parse([]byte(msg), Limits{})
		if p.Children != nil {
			t.Errorf("%q: children", msg)
		}
		if got, want := bs(msg, false), `(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0) "MIXED")`; got != want {
			t.Errorf("%q: got %s", msg, got)
		}
		if got := sec(t, msg, []int{1}, ""); !strings.HasPrefix(got, "no parts") && !strings.HasPrefix(got, "--zz--") {
			t.Errorf("part 1 %q", got)
		}
		if !TextContains([]byte(msg), p, "PARTS HERE", false) && strings.Contains(msg, "parts here") {
			t.Errorf("%q: body not searched", msg)
		}
	}
}

const nested = "From: a@b.c\r\n" +
	"Subject: outer\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"Content-Language: en, de\r\n" +
	"\r\n" +
	"caf=E9\r\n" +
	"--outer  \r\n" +
	"Content-Type: message/rfc822\r\n" +
	"Content-Disposition: attachment; filename=\"fwd.eml\"\r\n" +
	"\r\n" +
	"From: \"Inner, Person\" <in@x.org>\r\n" +
	"Subject: =?utf-8?b?w7xiZXI=?=\r\n" +
	"Content-Type: text/plain; charset=koi8-r\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"8NLJ18XU\r\n" + // "привет" in KOI8-R
	"--outer\r\n" +
	"Content-Type: application/octet-stream; name*0*=utf-8''%E2%82%AC; name*1=\".bin\"\r\n" +
	"Content-Transfer-Encoding: x-uuencode\r\n" +
	"Content-ID: <id1@x>\r\n" +
	"Content-Description: some data\r\n" +
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n" +
	"Content-Location: http://example.org/\r\n" +
	" data.bin\r\n" +
	"\r\n" +
	"xyz\r\n" +
	"--outer--\r\n" +
	"epilogue\r\n"

func TestNestedStructure(t *testing.T) {
	want := `(("TEXT" "PLAIN" ("CHARSET" "iso-8859-1") NIL NIL "QUOTED-PRINTABLE" 6 0 NIL NIL ("en" "de") NIL)` +
		`("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 152 (NIL "=?utf-8?b?w7xiZXI=?=" (("Inner, Person" NIL "in" "x.org")) (("Inner, Person" NIL "in" "x.org")) (("Inner, Person" NIL "in" "x.org")) NIL NIL NIL NIL NIL) ` +
		`("TEXT" "PLAIN" ("CHARSET" "koi8-r") NIL NIL "BASE64" 8 0 NIL NIL NIL NIL) 5 NIL ("ATTACHMENT" ("FILENAME" "fwd.eml")) NIL NIL)` +
		`("APPLICATION" "OCTET-STREAM" ("NAME" {7}` + "\r\n€.bin" + `) "<id1@x>" "some data" "X-UUENCODE" 3 "Q2hlY2sgSW50ZWdyaXR5IQ==" NIL NIL "http://example.org/data.bin")` +
		` "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)`
	if got := bs(nested, true); got != want {
		t.Errorf("bodystructure\n got  %s\n want %s", got, want)
	}
	m := []byte(nested)
	root := Parse(m, Limits{})
	if got := sec(t, nested, []int{2, 1}, ""); got != "8NLJ18XU" {
		t.Errorf("2.1 = %q", got)
	}
	if got := sec(t, nested, []int{2}, "HEADER.FIELDS", "subject"); got != "Subject: =?utf-8?b?w7xiZXI=?=\r\n\r\n" {
		t.Errorf("2.header.fields = %q", got)
	}
	if got := sec(t, nested, []int{3}, "MIME"); !strings.HasPrefix(got, "Content-Type: application") || !strings.HasSuffix(got, "data.bin\r\n\r\n") {
		t.Errorf("3.mime = %q", got)
	}
	if b, ok, err := Binary(m, root, []int{1}); !ok || err != nil || string(b) != "caf\xe9" {
		t.Errorf("binary 1 = %q %v %v", b, ok, err)
	}
	if _, ok, err := Binary(m, root, []int{3}); !ok || !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("binary 3: %v %v", ok, err)
	}
	if _, ok, _ := Binary(m, root, []int{4}); ok {
		t.Error("binary 4 exists")
	}
	if _, ok := Section(m, root, []int{1, 1}, "", nil); ok {
		t.Error("1.1 of a text part")
	}
	for _, c := range []struct {
		needle  string
		headers bool
		want    bool
	}{
		{"CAFÉ", false, true}, {"ПРИВЕТ", false, true}, {"привет", false, true},
		{"über", false, false}, {"ÜBER", true, true}, {"epilogue", true, false}, {"preamble", false, false},
		{"xyz", false, false}, {"inner, person", true, true}, {"8NLJ", false, false},
	} {
		if got := TextContains(m, root, c.needle, c.headers); got != c.want {
			t.Errorf("TextContains(%q, %v) = %v", c.needle, c.headers, got)
		}
	}
}

func TestFindPaths(t *testing.T) {
	m := []byte(nested)
	root := Parse(m, Limits{})
	if root.Find(nil) != root || root.Find([]int{1}) != root.Children[0] || root.Find([]int{2, 1}) != root.Children[1].Children[0] {
		t.Error("find")
	}
	for _, p := range [][]int{{0}, {4}, {2, 2}, {1, 1}, {3, 1}, {-1}} {
		if root.Find(p) != nil {
			t.Errorf("find %v", p)
		}
	}
	var nilPart *Part
	if nilPart.Find([]int{1}) != nil {
		t.Error("nil find")
	}
}

func TestEnvelope(t *testing.T) {
	for _, c := range []struct{ h, want string }{
		{"From: \"Joe \\\"Q\\\" Public\" <joe@example.com>\r\n",
			`(NIL NIL (("Joe \"Q\" Public" NIL "joe" "example.com")) (("Joe \"Q\" Public" NIL "joe" "example.com")) (("Joe \"Q\" Public" NIL "joe" "example.com")) NIL NIL NIL NIL NIL)`},
		{"To: <@a.org,@b.org:u@c.org>, x@[1.2.3.4]\r\nSubject: folded\r\n subject\r\n",
			`(NIL "folded subject" NIL NIL NIL ((NIL "@a.org,@b.org" "u" "c.org")(NIL NIL "x" "[1.2.3.4]")) NIL NIL NIL NIL)`},
		{"To: undisclosed-recipients:;\r\nCc: ,,a@b,,\r\nBcc: Some One\r\n",
			`(NIL NIL NIL NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ((NIL NIL "a" "b")) ((NIL NIL "SomeOne" "")) NIL NIL)`},
		{"From: John Q. Public <\"john q\"@(c) example . com>\r\nSender: <>\r\n",
			`(NIL NIL (("John Q. Public" NIL "john q" "example.com")) (("John Q. Public" NIL "john q" "example.com")) (("John Q. Public" NIL "john q" "example.com")) NIL NIL NIL NIL NIL)`},
		{"Subject: caf\xc3\xa9\r\nMessage-ID: <a@b>\r\nIn-Reply-To: <c@d> <e@f>\r\n",
			"(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL \"<c@d> <e@f>\" \"<a@b>\")"},
		{"To: grp: a@b, <c@d\r\n",
			`(NIL NIL NIL NIL NIL ((NIL NIL "grp" NIL)(NIL NIL "a" "b")(NIL NIL "c" "d")(NIL NIL NIL NIL)) NIL NIL NIL NIL)`},
		{"From: =?utf-8?q?J=C3=B6rg?= <j@x>\r\n",
			`(NIL NIL (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x")) (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x")) (("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x")) NIL NIL NIL NIL NIL)`},
	} {
		if got := env(c.h); got != c.want {
			t.Errorf("%q\n got  %s\n want %s", c.h, got, c.want)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"=?iso-8859-1?q?caf=E9?=", "café"},
		{"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"},
		{"=?utf-8?b?w7xiZXI=?= x =?utf-8?Q?_y?=", "über x  y"},
		{"=?koi8-r?b?8NLJ18XU?=", "Привет"},
		{"=?utf-8*en?q?hi?=", "hi"},
		{"=?x-unknown?q?abc?= ok", "=?x-unknown?q?abc?= ok"},
		{"=?utf-8?q?broken", "=?utf-8?q?broken"},
		{"plain caf\xe9", "plain café"},
		{"=?", "=?"},
	} {
		if got := DecodeHeader(c.in); got != c.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParams2231(t *testing.T) {
	for _, c := range []struct {
		ct   string
		want [][2]string
	}{
		{`text/plain; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A`, [][2]string{{"title", "This is ***fun***"}}},
		{`message/external-body; access-type=URL; URL*0="ftp://"; URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"`,
			[][2]string{{"access-type", "URL"}, {"URL", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}}},
		{`application/x-stuff; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn't it!"; title*0*=us-ascii'en'This%20is%20even%20more%20`,
			[][2]string{{"title", "This is even more ***fun*** isn't it!"}}},
		{`text/plain; name*=iso-8859-1''caf%E9; charset="us-ascii" (comment)`, [][2]string{{"name", "café"}, {"charset", "us-ascii"}}},
		{`text/plain; garbage; a=b;;c = "d\"e"`, [][2]string{{"a", "b"}, {"c", `d"e`}}},
	} {
		m := []byte("Content-Type: " + c.ct + "\r\n\r\n")
		p := Parse(m, Limits{})
		if len(p.Params) != len(c.want) {
			t.Errorf("%s: params %q", c.ct, p.Params)
			continue
		}
		for i := range c.want {
			if p.Params[i] != c.want[i] {
				t.Errorf("%s: params %q, want %q", c.ct, p.Params, c.want)
				break
			}
		}
	}
}

func TestQuoting(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`}, {`a"b\c`, `"a\"b\\c"`}, {"a\r\nb", "{4}\r\na\r\nb"}, {"\xff", "{1}\r\n\xff"}, {"a\x00b", `"ab"`},
	} {
		if got := string(appendString(nil, c.in)); got != c.want {
			t.Errorf("appendString(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestQPAndBase64(t *testing.T) {
	if got := string(decodeQP([]byte("a=3D=3d=\r\nb=ZZ c  \r\nd=\nend="))); got != "a==b=ZZ c\r\ndend" {
		t.Errorf("qp %q", got)
	}
	if got := string(decodeBase64([]byte("aGk=\r\naGk="))); got != "hihi" {
		t.Errorf("b64 %q", got)
	}
}

func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := 0; i < 20; i++ {
		b.WriteString("--b\r\n\r\npart\r\n")
	}
	b.WriteString("--b--\r\n")
	p := Parse([]byte(b.String()), Limits{MaxParts: 5})
	if len(p.Children) != 4 {
		t.Errorf("children %d", len(p.Children))
	}
	p = Parse([]byte(b.String()), Limits{})
	if len(p.Children) != 20 {
		t.Errorf("children %d", len(p.Children))
	}
}

// deepMessage nests n message/rfc822 (or multipart) levels.
func deepMessage(n int, multipart bool) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		if multipart {
			bd := "b" + strconv.Itoa(i) + "z"
			b.WriteString("Content-Type: multipart/mixed; boundary=" + bd + "\r\n\r\n--" + bd + "\r\n")
		} else {
			b.WriteString("Subject: level\r\nContent-Type: message/rfc822\r\n\r\n")
		}
	}
	b.WriteString("Subject: leaf\r\n\r\nhello\r\n")
	return b.Bytes()
}

func depth(p *Part) int {
	d := 0
	for len(p.Children) > 0 {
		p = p.Children[0]
		d++
	}
	return d
}

func TestDeepNesting(t *testing.T) {
	for _, mp := range []bool{false, true} {
		msg := deepMessage(10000, mp)
		start := time.Now()
		p := Parse(msg, Limits{})
		out := AppendBodyStructure(nil, msg, p, true)
		el := time.Since(start)
		if d := depth(p); d != defaultMaxDepth {
			t.Errorf("multipart=%v: depth %d", mp, d)
		}
		if !balanced(out) {
			t.Errorf("multipart=%v: unbalanced", mp)
		}
		if el > 500*time.Millisecond {
			t.Errorf("multipart=%v: took %v", mp, el)
		}
		t.Logf("multipart=%v: %d bytes, parse+bodystructure %v", mp, len(msg), el)
		checkInvariants(t, msg, p)
	}
}

// balanced reports whether the parentheses of an IMAP rendering balance
// outside quoted strings and literals.
func balanced(b []byte) bool {
	d := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return false
			}
		case '{':
			j := bytes.Index(b[i:], []byte("}\r\n"))
			if j < 0 {
				return false
			}
			n := 0
			for _, c := range b[i+1 : i+j] {
				if c < '0' || c > '9' {
					return false
				}
				n = n*10 + int(c-'0')
			}
			i += j + 3 + n - 1
			if i >= len(b) {
				return false
			}
		case '(':
			d++
		case ')':
			d--
			if d < 0 {
				return false
			}
		}
	}
	return d == 0
}

// checkInvariants: offsets nest, children lie in their parent's body,
// every path's section is within the message.
func checkInvariants(t testing.TB, msg []byte, root *Part) {
	var walk func(p *Part, path []int, depth int)
	walk = func(p *Part, path []int, depth int) {
		if !(0 <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= len(msg)) {
			t.Fatalf("part %v offsets %d %d %d of %d", path, p.HeaderStart, p.BodyStart, p.End, len(msg))
		}
		for _, c := range p.Children {
			if c.HeaderStart < p.BodyStart || c.End > p.End {
				t.Fatalf("child of %v outside its body", path)
			}
		}
		if depth > 200 {
			return
		}
		for _, spec := range []string{"", "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"} {
			b, ok := Section(msg, root, path, spec, []string{"subject"})
			if ok && !strings.HasPrefix(spec, "HEADER.") && len(b) > 0 && !within(msg, b) {
				t.Fatalf("section %v %s outside the message", path, spec)
			}
		}
		_, _, _ = Binary(msg, root, path)
		switch {
		case isMultipartType(p) && len(p.Children) > 0:
			for i, c := range p.Children {
				walk(c, append(path[:len(path):len(path)], i+1), depth+1)
			}
		case len(path) == 0 && !isMultipartType(p):
			walk(p, []int{1}, depth+1)
		case isMessageType(p) && len(p.Children) == 1:
			m := p.Children[0]
			if isMultipartType(m) && len(m.Children) > 0 {
				for i, c := range m.Children {
					walk(c, append(path[:len(path):len(path)], i+1), depth+1)
				}
			} else if len(path) > 0 {
				walk(m, append(path[:len(path):len(path)], 1), depth+1)
			}
		}
	}
	walk(root, nil, 0)
}

func within(msg, b []byte) bool {
	if len(msg) == 0 {
		return len(b) == 0
	}
	// b must be a sub-slice of msg
	off := cap(msg) - cap(b)
	return off >= 0 && off+len(b) <= len(msg) && &msg[off] == &b[0]
}
