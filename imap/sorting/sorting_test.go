package sorting

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in, want string
		reply    bool
	}{
		{"", "", false},
		{"   ", "", false},
		{"foo", "FOO", false},
		{"  foo \t  bar  ", "FOO BAR", false},
		{"foo\r\n\tbar", "FOO BAR", false},
		{"Re: foo", "FOO", true},
		{"re:foo", "FOO", true},
		{"RE : foo", "FOO", true},
		{"Re: Re: re: foo", "FOO", true},
		{"Fw: foo", "FOO", true},
		{"FWD: foo", "FOO", true},
		{"Re[2]: foo", "FOO", true},
		{"Re [list] : foo", "FOO", true},
		{"Re:", "", true},
		{"Re: (fwd)", "", true},
		{"Reply: foo", "REPLY: FOO", false},
		{"Ad: Re: Ad: Re: Ad: x", "AD: RE: AD: RE: AD: X", false},
		{"Re: [foo] Fwd: bar (fwd)", "BAR", true},
		{"[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "B", true},
		{"foo (fwd)", "FOO", true},
		{"foo (fwd) (FWD)", "FOO", true},
		{"foo (a)", "FOO (A)", false},
		{"[PATCH] foo", "FOO", false},
		{"[PATCH 1/2] [net] foo", "FOO", false},
		{"[PATCH]", "[PATCH]", false},
		{"[xyz]", "[XYZ]", false},
		{"[a][b]", "[B]", false},
		{"[a] ", "[A]", false},
		{"[fwd: hello]", "HELLO", true},
		{"[Fwd: hello] (fwd)", "HELLO", true},
		{"Fwd: [fwd: Re: x]", "X", true},
		{"Re: [FWD: c]", "C", true},
		{"re: [fwd: [fwd: re: [fwd: babylon]]]", "BABYLON", true},
		{"[fwd: hello", "[FWD: HELLO", false},
		{"[fwd:]", "", true},
		{"=?iso-8859-1?q?RE:_C?=", "C", true},
		{"=?us-ascii?b?UmU6IGM=?=", "C", true},
		{"=?iso-8859-1?q?_?=", "", false},
		{"Re: =?utf-8?q?b?=", "B", true},
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "AB", false},
		{"=?iso-8859-1?q?caf=E9?=", "CAFé", false},
		{"=?utf-8?q?R=C3=A9sum=C3=A9?= Re: x", "RéSUMé RE: X", false},
		{"=?x-unknown?q?a?= b", "=?X-UNKNOWN?Q?A?= B", false},
		{"=?koi8-r?b?8NLJ18XU?=", "Привет", false},
	}
	for _, tc := range tests {
		got, reply := baseSubject(tc.in)
		if got != tc.want || reply != tc.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, got, reply, tc.want, tc.reply)
		}
		if got := BaseSubject(tc.in); got != tc.want {
			t.Errorf("BaseSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFirstAddress(t *testing.T) {
	tests := []struct {
		in                  string
		name, mailbox, host string
		ok                  bool
	}{
		{"", "", "", "", false},
		{"  ", "", "", "", false},
		{"user@example.org", "", "user", "example.org", true},
		{"foo bar <user2@domain2.org>", "foo bar", "user2", "domain2.org", true},
		{"user2@domain2.org (foo bar)", "", "user2", "domain2.org", true},
		{"user2: blah@domain1.org;", "", "user2", "", true},
		{"undisclosed-recipients:;", "", "undisclosed-recipients", "", true},
		{`"Doe, John" <john@x.org>, b@c`, "Doe, John", "john", "x.org", true},
		{"=?iso-8859-1?q?foo_aar?= <e@f.g>", "foo aar", "e", "f.g", true},
		{"John Q. Public <jqp@x.org>", "John Q. Public", "jqp", "x.org", true},
		{"<@route1,@route2:a@b.c>", "", "a", "b.c", true},
		{"a.b@c.d", "", "a.b", "c.d", true},
		{`"a b"@c.d`, "", "a b", "c.d", true},
		{"x@[127.0.0.1]", "", "x", "[127.0.0.1]", true},
		{"d", "", "d", "", true},
		{", , a@b", "", "a", "b", true},
		{"(comment) Name (c2) <a@b>", "Name", "a", "b", true},
		{"<a@b", "", "a", "b", true},
		{"Name <>", "", "", "", false}, // "<>" names no one (as in ENVELOPE, imap/message)
	}
	for _, tc := range tests {
		a, ok := firstAddress(tc.in)
		if ok != tc.ok || a.name != tc.name || a.mailbox != tc.mailbox || a.host != tc.host {
			t.Errorf("firstAddress(%q) = %+v, %v; want {%q %q %q}, %v", tc.in, a, ok, tc.name, tc.mailbox, tc.host, tc.ok)
		}
	}
	if got := displayKey("b@c.d"); got != "B@C.D" {
		t.Errorf("displayKey = %q", got)
	}
	if got := mailboxKey(`"Foo" <Bar@Baz>`); got != "BAR" {
		t.Errorf("mailboxKey = %q", got)
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // UTC, RFC 3339; "" if unparsable
	}{
		{"Fri, 22 Feb 2008 00:00:00 +0200", "2008-02-21T22:00:00Z"},
		{"22 Feb 2008 00:00:00 -0000", "2008-02-22T00:00:00Z"},
		{"Fri, 22 Feb 2008 00:00:00 +0000 (UTC)", "2008-02-22T00:00:00Z"},
		{" Fri,  22 Feb 2008 00:00 EST", "2008-02-22T05:00:00Z"},
		{"Fri, 22 Feb 2008 00:00:00 PDT", "2008-02-22T07:00:00Z"},
		{"Fri, 22 Feb 2008 00:00:00 GMT", "2008-02-22T00:00:00Z"},
		{"garbage", ""},
		{"", ""},
	}
	for _, tc := range tests {
		d, ok := parseDate(tc.in)
		got := ""
		if ok {
			got = d.UTC().Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("parseDate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMsgIDs(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"<a@b>", 0, "a@b"},
		{" <a@b> (comment) <c@d>\r\n <e@f>", 0, "a@b c@d e@f"},
		{"<a@b> <c@d>", 1, "a@b"},
		{"<a@b <c@d>", 0, "c@d"},
		{"<> <x>", 0, "x"},
		{"<a @ b>", 0, "a@b"},
		{"no ids", 0, ""},
		{"<unterminated", 0, ""},
	}
	for _, tc := range tests {
		if got := strings.Join(msgIDs(tc.in, tc.max), " "); got != tc.want {
			t.Errorf("msgIDs(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestParseFieldsLenient(t *testing.T) {
	hdr := []byte(" leading continuation\r\nbogus line\r\nSubject: first\r\n\tfolded\r\nsubject: second\r\nDate: x")
	f := parseFields(hdr)
	if f.subject != "first folded" {
		t.Errorf("subject = %q", f.subject)
	}
	if f.date != "x" {
		t.Errorf("date = %q (a header without a final line end)", f.date)
	}
}

// msg builds a test message from header lines.
func msg(id uint32, arrival string, lines ...string) Msg {
	a, err := time.Parse(time.RFC3339, arrival)
	if err != nil {
		panic(err)
	}
	return Msg{ID: id, Seq: id, Arrival: a, Header: []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")}
}

func TestSortMisc(t *testing.T) {
	msgs := []Msg{
		msg(1, "2020-01-01T10:00:00Z", "Subject: b", "Date: Wed, 01 Jan 2020 09:00:00 +0000"),
		msg(2, "2020-01-01T08:00:00Z", "Subject: Re: a"),
		msg(3, "2020-01-01T07:00:00Z", "Subject: A", "Date: broken"),
		msg(4, "2020-01-01T11:00:00Z", "Subject: [x] b", "Date: Wed, 01 Jan 2020 08:30:00 +0000"),
	}
	msgs[0].ID, msgs[1].ID, msgs[2].ID, msgs[3].ID = 10, 20, 30, 40 // UIDs
	tests := []struct {
		keys []Key
		want string
	}{
		{nil, "10 20 30 40"},
		{[]Key{{Name: "DATE"}}, "30 20 40 10"},
		{[]Key{{Name: "date"}}, "30 20 40 10"},
		{[]Key{{Name: "SUBJECT"}, {Name: "DATE"}}, "30 20 40 10"},
		{[]Key{{Name: "SUBJECT"}, {Name: "DATE", Reverse: true}}, "20 30 10 40"},
		{[]Key{{Name: "SUBJECT", Reverse: true}}, "10 40 20 30"},
		{[]Key{{Name: "NOSUCH"}, {Name: "ARRIVAL"}}, "30 20 10 40"},
	}
	for _, tc := range tests {
		if got := joinIDs(Sort(msgs, tc.keys)); got != tc.want {
			t.Errorf("Sort(%v) = %q, want %q", tc.keys, got, tc.want)
		}
	}
	if got := Sort(nil, []Key{{Name: "DATE"}}); len(got) != 0 {
		t.Errorf("Sort(nil) = %v", got)
	}
}

func TestThreadReferencesMisc(t *testing.T) {
	const d = "2020-01-01T00:00:0"
	tests := []struct {
		name string
		msgs []Msg
		want string
	}{
		{"empty", nil, ""},
		{"loop between two messages", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>", "References: <b>"),
			msg(2, d+"2Z", "Message-ID: <b>", "References: <a>"),
		}, "(2 1)"},
		{"self reference", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>", "References: <a> <a>"),
		}, "(1)"},
		{"in-reply-to when no references", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>"),
			msg(2, d+"2Z", "Message-ID: <b>", "In-Reply-To: <a> <zzz>"),
			msg(3, d+"3Z", "Message-ID: <c>", "References: junk", "In-Reply-To: Your message <b>"),
		}, "(1 2 3)"},
		{"children sorted by date", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>"),
			msg(2, d+"5Z", "Message-ID: <b>", "References: <a>"),
			msg(3, d+"3Z", "Message-ID: <c>", "References: <a>"),
			msg(4, d+"4Z", "Message-ID: <d>", "References: <a> <c>"),
		}, "(1 (3 4)(2))"},
		{"dummy in the middle is spliced", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>"),
			msg(2, d+"2Z", "Message-ID: <c>", "References: <a> <b>"),
			msg(3, d+"3Z", "Message-ID: <d>", "References: <a> <b>"),
		}, "(1 (2)(3))"},
		{"same subject, no replies: a dummy parent", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>", "Subject: foo"),
			msg(2, d+"2Z", "Message-ID: <b>", "Subject: bar"),
			msg(3, d+"3Z", "Message-ID: <c>", "Subject: foo"),
		}, "((1)(3))(2)"},
		{"reply joins the original", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>", "Subject: Re: foo"),
			msg(2, d+"2Z", "Message-ID: <b>", "Subject: foo"),
			msg(3, d+"3Z", "Message-ID: <c>", "Subject: Re: foo"),
		}, "(2 (1)(3))"},
		{"root dummy absorbs a subject match", []Msg{
			msg(1, d+"1Z", "Message-ID: <a>", "References: <x>", "Subject: foo"),
			msg(2, d+"2Z", "Message-ID: <b>", "References: <x>", "Subject: foo"),
			msg(3, d+"3Z", "Message-ID: <c>", "Subject: foo"),
		}, "((1)(2)(3))"},
		{"two root dummies merge", []Msg{
			msg(1, d+"1Z", "References: <x>", "Subject: foo"),
			msg(2, d+"2Z", "References: <x>", "Subject: foo"),
			msg(3, d+"3Z", "References: <y>", "Subject: Re: foo"),
			msg(4, d+"4Z", "References: <y>", "Subject: foo"),
		}, "((1)(2)(3)(4))"},
		{"empty subjects are not gathered", []Msg{
			msg(1, d+"1Z", "Subject: Re:"),
			msg(2, d+"2Z", "Subject: "),
		}, "(1)(2)"},
		{"date header beats arrival", []Msg{
			msg(1, d+"9Z", "Message-ID: <a>", "Date: Wed, 01 Jan 2020 00:00:00 +0000"),
			msg(2, d+"1Z", "Message-ID: <b>"),
		}, "(1)(2)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := ThreadReferences(tc.msgs)
			if got := string(AppendThreads(nil, ts)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			checkTree(t, tc.msgs, ts)
		})
	}
}

func TestAppendThreads(t *testing.T) {
	n := func(id uint32, kids ...*Thread) *Thread { return &Thread{ID: id, Children: kids} }
	tests := []struct {
		ts   []*Thread
		want string
	}{
		{nil, ""},
		{[]*Thread{n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))}, "(2)(3 6 (4 23)(44 7 96))"},
		{[]*Thread{n(0, n(1), n(2))}, "((1)(2))"},
		{[]*Thread{n(0, n(1, n(2)))}, "(1 2)"},
		{[]*Thread{n(0), n(5)}, "(5)"},
		{[]*Thread{n(1, n(0, n(2), n(3)))}, "(1 (2)(3))"},
		{[]*Thread{n(1, n(0, n(2)), n(0))}, "(1 2)"},
		{[]*Thread{n(1, n(2), n(3, n(4), n(5)))}, "(1 (2)(3 (4)(5)))"},
	}
	for _, tc := range tests {
		if got := string(AppendThreads([]byte("x"), tc.ts)); got != "x"+tc.want {
			t.Errorf("AppendThreads = %q, want %q", got, "x"+tc.want)
		}
	}
}

func TestThreadOrderedSubjectMisc(t *testing.T) {
	msgs := []Msg{
		msg(1, "2020-01-01T00:00:05Z", "Subject: foo"),
		msg(2, "2020-01-01T00:00:01Z", "Subject: Re: foo"),
		msg(3, "2020-01-01T00:00:03Z", "Subject: bar"),
		msg(4, "2020-01-01T00:00:02Z", "Subject: [x] FOO"),
	}
	ts := ThreadOrderedSubject(msgs)
	if got, want := string(AppendThreads(nil, ts)), "(2 (4)(1))(3)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	checkTree(t, msgs, ts)
	if ts := ThreadOrderedSubject(nil); len(ts) != 0 {
		t.Errorf("no messages: %v", ts)
	}
}

func ExampleAppendThreads() {
	ts := []*Thread{{ID: 1}, {ID: 2, Children: []*Thread{{ID: 3}}}}
	fmt.Println(string(AppendThreads([]byte("* THREAD "), ts)))
	// Output: * THREAD (1)(2 3)
}
