package message

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mailgate/mailgate/internal/testenv"
)

func imaptestDir(t testing.TB) string { return testenv.ImaptestDir(t, "../..", "fetch-body.mbox") }

// crlf turns LF line ends into CRLF, as imaptest does when it APPENDs.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// loadMbox splits an mbox file into messages: each is what follows a
// "From " line up to the next one, in CRLF.
func loadMbox(t testing.TB, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(imaptestDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	var cur []string
	in := false
	lines := strings.SplitAfter(string(data), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "From ") {
			if in {
				msgs = append(msgs, []byte(crlf(strings.Join(cur, ""))))
			}
			cur, in = nil, true
			continue
		}
		if in {
			cur = append(cur, l)
		}
	}
	if in {
		msgs = append(msgs, []byte(crlf(strings.Join(cur, ""))))
	}
	return msgs
}

func readScript(t testing.TB, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(imaptestDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(data), "\n")
}

// parseSection splits "2.header.fields (from subject)" into a part
// path, a spec and field names.
func parseSection(s string) (path []int, spec string, fields []string) {
	if i := strings.IndexByte(s, '('); i >= 0 {
		fields = strings.Fields(strings.TrimSuffix(s[i+1:], ")"))
		s = strings.TrimSpace(s[:i])
	}
	for s != "" {
		num := s
		rest := ""
		if i := strings.IndexByte(s, '.'); i >= 0 {
			num, rest = s[:i], s[i+1:]
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			break
		}
		path = append(path, n)
		s = rest
	}
	return path, strings.ToUpper(s), fields
}

var (
	reFetchOne = regexp.MustCompile(`(?i)^ok fetch (\d+) \(?(body\.peek|binary\.peek|binary\.size|rfc822\.header|rfc822\.text|rfc822)(\[([^\]]*)\])?\)?$`)
	reFetchAll = regexp.MustCompile(`(?i)^ok fetch 1:\* (envelope|body|bodystructure)$`)
	reAnswer   = regexp.MustCompile(`(?i)^([*!]) (\d+) fetch \((envelope|body|bodystructure) (.*)\)$`)
	reSize     = regexp.MustCompile(`(?i)^\* \d+ fetch \(binary\.size\[[^\]]*\] (\d+)\)$`)
)

// runScript checks every expectation of an imaptest fetch script that
// names one item: FETCH n BODY.PEEK[s], BINARY.PEEK[s], BINARY.SIZE[s],
// RFC822*, and FETCH 1:* ENVELOPE/BODY/BODYSTRUCTURE. Partial fetches
// (the caller's job) and multi-item fetches are left to other tests.
func runScript(t *testing.T, script, mbox string) {
	msgs := loadMbox(t, mbox)
	roots := make([]*Part, len(msgs))
	for i, m := range msgs {
		roots[i] = Parse(m, Limits{})
	}
	lines := readScript(t, script)
	checked := 0
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if m := reFetchAll.FindStringSubmatch(line); m != nil {
			item := strings.ToLower(m[1])
			for j := i + 1; j < len(lines); j++ {
				a := reAnswer.FindStringSubmatch(strings.TrimSpace(lines[j]))
				if a == nil {
					break
				}
				n, _ := strconv.Atoi(a[2])
				msg, root := msgs[n-1], roots[n-1]
				var got []byte
				switch item {
				case "envelope":
					got = AppendEnvelope(nil, msg[root.HeaderStart:root.BodyStart])
				case "body":
					got = AppendBodyStructure(nil, msg, root, false)
				default:
					got = AppendBodyStructure(nil, msg, root, true)
				}
				if !strings.EqualFold(string(got), a[4]) {
					t.Errorf("%s: message %d %s:\n got  %s\n want %s", script, n, item, got, a[4])
				}
				checked++
			}
			continue
		}
		m := reFetchOne.FindStringSubmatch(line)
		if m == nil || i+1 >= len(lines) {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		msg, root := msgs[n-1], roots[n-1]
		item := strings.ToLower(m[2])
		path, spec, fields := parseSection(m[4])
		ans := lines[i+1]
		negate := strings.HasPrefix(ans, "!")
		var want string
		switch {
		case item == "binary.size":
			s := reSize.FindStringSubmatch(strings.TrimSpace(ans))
			if s == nil {
				continue
			}
			want = s[1]
		case strings.HasSuffix(ans, "{{{"):
			var body []string
			j := i + 2
			for ; j < len(lines) && !strings.HasPrefix(lines[j], "}}}"); j++ {
				body = append(body, lines[j])
			}
			if j >= len(lines) || strings.TrimSpace(lines[j]) != "}}})" {
				continue // more items follow
			}
			want = crlf(strings.Join(body, "\n"))
		default:
			continue // a $variable
		}
		var got []byte
		var ok bool
		var err error
		switch item {
		case "body.peek":
			got, ok = Section(msg, root, path, spec, fields)
		case "rfc822.header":
			got, ok = Section(msg, root, nil, "HEADER", nil)
		case "rfc822.text":
			got, ok = Section(msg, root, nil, "TEXT", nil)
		case "rfc822":
			got, ok = Section(msg, root, nil, "", nil)
		case "binary.peek", "binary.size":
			got, ok, err = Binary(msg, root, path)
			if item == "binary.size" {
				got = []byte(strconv.Itoa(len(got)))
			}
		}
		if err != nil || !ok {
			t.Errorf("%s: %s: ok=%v err=%v", script, line, ok, err)
			continue
		}
		if eq := strings.EqualFold(string(got), want); eq == negate {
			t.Errorf("%s: %s (negated %v):\n got  %q\n want %q", script, line, negate, got, want)
		}
		checked++
	}
	if checked == 0 {
		t.Fatalf("%s: no expectation checked", script)
	}
	t.Logf("%s: %d expectations checked", script, checked)
}

func TestImaptestFetchScripts(t *testing.T) {
	for _, name := range []string{
		"fetch-envelope", "fetch-bodystructure", "fetch-body", "fetch-body-mime",
		"fetch-body-message-rfc822", "fetch-body-message-rfc822-mime",
		"fetch-body-message-rfc822-x2", "fetch-binary-mime", "fetch-binary-mime-qp",
	} {
		t.Run(name, func(t *testing.T) { runScript(t, name, name+".mbox") })
	}
}

func TestImaptestBinaryBase64(t *testing.T) {
	msgs := loadMbox(t, "fetch-binary-mime-base64.mbox")
	msg := msgs[0]
	root := Parse(msg, Limits{})
	want := []string{"hello world", "hello world", "hello to you too", "hello to everyone!", "abcdefg\rhijkl\r\nmno\npqrstuvqxyz"}
	for i, w := range want {
		got, ok, err := Binary(msg, root, []int{i + 1})
		if !ok || err != nil || string(got) != w {
			t.Errorf("binary[%d] = %q %v %v, want %q", i+1, got, ok, err, w)
		}
	}
}

func TestImaptestFetchBodyPartial(t *testing.T) {
	// the caller cuts <a.b> out of the section; check the bytes it cuts from
	msgs := loadMbox(t, "fetch-body.mbox")
	for _, c := range []struct {
		n    int
		want string
	}{{1, "body1\r\n\r\n"}, {2, "body22\r\n\r\n"}, {3, "body33\r\n\r\n"}} {
		got, _ := Section(msgs[c.n-1], Parse(msgs[c.n-1], Limits{}), nil, "TEXT", nil)
		if string(got) != c.want {
			t.Errorf("message %d text = %q, want %q", c.n, got, c.want)
		}
	}
	if got, _ := Section(msgs[1], Parse(msgs[1], Limits{}), nil, "TEXT", nil); string(got[3:6]) != "y22" {
		t.Errorf("text<3.3> = %q", got[3:6])
	}
}

func TestImaptestSearchBody(t *testing.T) {
	msgs := loadMbox(t, "search-body.mbox")
	cases := []struct {
		needle  string
		headers bool
		want    string
	}{
		{"asdfghjkl", true, "1 2"}, {"zxcvbnm", true, "1 3 4"}, {"qwertyuiop", true, "2 3 4"},
		{"asdfghjkl", false, "1 2"}, {"zxcvbnm", false, "1 3 4"}, {"qwertyuiop", false, "4"},
		{"sdfghjk", true, "1 2"}, {"xcvbn", true, "1 3 4"}, {"wertyuio", true, "2 3 4"},
		{"sdfghjk", false, "1 2"}, {"xcvbn", false, "1 3 4"}, {"wertyuio", false, "4"},
		{"ZXCVBNM", false, "1 3 4"},
	}
	for _, c := range cases {
		var got []string
		for i, m := range msgs {
			if TextContains(m, Parse(m, Limits{}), c.needle, c.headers) {
				got = append(got, strconv.Itoa(i+1))
			}
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("search %q headers=%v = %q, want %q", c.needle, c.headers, g, c.want)
		}
	}
	nilMsg := loadMbox(t, "nil.mbox")[0]
	if !TextContains(nilMsg, Parse(nilMsg, Limits{}), "nil", false) {
		t.Error("search body nil: no match")
	}
	if v := HeaderValues(nilMsg, "subject"); len(v) != 1 || !strings.Contains(strings.ToLower(v[0]), "nil") {
		t.Errorf("subject NIL: %q", v)
	}
}

func TestImaptestSearchHeader(t *testing.T) {
	msgs := loadMbox(t, "search-header.mbox")
	hdr := func(i int) []byte {
		p := Parse(msgs[i], Limits{})
		return msgs[i][:p.BodyStart]
	}
	match := func(key, needle string) string {
		var got []string
		for i := range msgs {
			for _, v := range HeaderValues(hdr(i), key) {
				if bytes.Contains(fold([]byte(DecodeHeader(v))), fold([]byte(needle))) {
					got = append(got, strconv.Itoa(i+1))
					break
				}
			}
		}
		return strings.Join(got, " ")
	}
	for _, c := range []struct{ key, needle, want string }{
		{"subject", "hello", "1"}, {"subject", "beautiful", "1"}, {"subject", "hello beautiful world", "1"},
		{"subject", "eautiful worl", "1"}, {"subject", "", "1"}, {"x-extra", "", "2"},
		{"x-extra", "hello", "2"}, {"x-extra", "eautiful head", "2"}, {"x-extra", "another", "2"},
	} {
		if got := match(c.key, c.needle); got != c.want {
			t.Errorf("header %s %q = %q, want %q", c.key, c.needle, got, c.want)
		}
	}
	if v := HeaderValues(hdr(1), "X-EXTRA"); len(v) != 2 || v[0] != "hello beautiful header" || v[1] != "another one" {
		t.Errorf("x-extra values %q", v)
	}
}

func TestImaptestSearchAddresses(t *testing.T) {
	msgs := loadMbox(t, "search-addresses.mbox")
	match := func(key, needle string) string {
		var got []string
		for i, m := range msgs {
			p := Parse(m, Limits{})
			for _, v := range HeaderValues(m[:p.BodyStart], key) {
				if bytes.Contains(fold([]byte(AddressSearchText(v))), fold([]byte(needle))) {
					got = append(got, strconv.Itoa(i+1))
					break
				}
			}
		}
		return strings.Join(got, " ")
	}
	for _, c := range []struct{ key, needle, want string }{
		{"from", "user-from@domain.org", "1 2 3 4 6 7"}, {"to", "user-to@domain.org", "1 2 3 4"},
		{"cc", "user-cc@domain.org", "1 2 3 4 5"}, {"bcc", "user-bcc@domain.org", "1 2 3 4"},
		{"from", "realfrom", "2 4 6 7"}, {"to", "realto", "2 4"}, {"cc", "realcc", "2 4"}, {"bcc", "realbcc", "2 4"},
		{"from", "", "1 2 3 4 5 6 7"}, {"to", "", "1 2 3 4 6 7"}, {"cc", "", "1 2 3 4 5"}, {"bcc", "", "1 2 3 4"},
		{"from", "ser-fro", "1 2 3 4 5 6 7"}, {"to", "ser-t", "1 2 3 4"}, {"cc", "ser-c", "1 2 3 4 5"}, {"bcc", "ser-bc", "1 2 3 4"},
		{"from", "ealfro", "2 4 6 7"}, {"to", "ealt", "2 4"}, {"cc", "ealc", "2 4"}, {"bcc", "ealbc", "2 4"},
		{"from", "user-from1", "5"}, {"from", "user-from2", "5"},
		{"to", "groupname", "6 7"}, {"to", "groupname2", "6"}, {"to", "groupuser1", "6"},
		{"to", "groupuser2", "6"}, {"to", "groupuser3", "6"}, {"to", "groupuser4", ""},
	} {
		if got := match(c.key, c.needle); got != c.want {
			t.Errorf("search %s %q = %q, want %q", c.key, c.needle, got, c.want)
		}
	}
}
