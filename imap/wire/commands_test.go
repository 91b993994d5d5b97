package wire

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

func TestFetch(t *testing.T) {
	hdr := Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "Subject"}, Partial: &Partial{0, 100}, Peek: true}
	tests := []struct {
		cmd   string
		set   string
		req   FetchRequest
		names []string
	}{
		{
			cmd: "a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>) (CHANGEDSINCE 12345 VANISHED)",
			set: "1:*",
			req: FetchRequest{Atts: []FetchAtt{{Kind: FetchUID}, {Kind: FetchFlags}, {Kind: FetchSection, Section: hdr}},
				ChangedSince: 12345, Vanished: true},
			names: []string{"UID", "FLAGS", "BODY[HEADER.FIELDS (From Subject)]<0>"},
		},
		{
			cmd:   "a2 FETCH 2,4:6 ALL",
			set:   "2,4:6",
			req:   FetchRequest{Atts: []FetchAtt{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}}},
			names: []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"},
		},
		{
			cmd:   "a3 FETCH 1 full",
			set:   "1",
			req:   FetchRequest{Atts: []FetchAtt{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}, {Kind: FetchBody}}},
			names: []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"},
		},
		{
			cmd:   "a4 FETCH 1 fast",
			set:   "1",
			req:   FetchRequest{Atts: []FetchAtt{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}}},
			names: []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE"},
		},
		{
			cmd: "a5 UID FETCH 7 (uid body[1.2.header.fields.not (X-Spam \"Received\")] BODY[] BODY[1.2.MIME]<10.5> BINARY.PEEK[1]<0.8> BINARY.SIZE[2] BINARY[] MODSEQ)",
			set: "7",
			req: FetchRequest{Atts: []FetchAtt{
				{Kind: FetchUID},
				{Kind: FetchSection, Section: Section{Part: []int{1, 2}, Specifier: "HEADER.FIELDS.NOT", Fields: []string{"X-Spam", "Received"}}},
				{Kind: FetchSection},
				{Kind: FetchSection, Section: Section{Part: []int{1, 2}, Specifier: "MIME", Partial: &Partial{10, 5}}},
				{Kind: FetchBinary, Section: Section{Part: []int{1}, Partial: &Partial{0, 8}, Peek: true}},
				{Kind: FetchBinarySize, Section: Section{Part: []int{2}}},
				{Kind: FetchBinary},
				{Kind: FetchModSeq},
			}},
			names: []string{"UID", "BODY[1.2.HEADER.FIELDS.NOT (X-Spam Received)]", "BODY[]", "BODY[1.2.MIME]<10>",
				"BINARY[1]<0>", "BINARY.SIZE[2]", "BINARY[]", "MODSEQ"},
		},
		{
			cmd: "a6 FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE BODY[TEXT] BODY[3] BODY[HEADER]) (VANISHED CHANGEDSINCE 1)",
			set: "1",
		},
		{
			cmd:   "a7 FETCH $ (BODY.PEEK[1.TEXT])",
			set:   "$",
			req:   FetchRequest{Atts: []FetchAtt{{Kind: FetchSection, Section: Section{Part: []int{1}, Specifier: "TEXT", Peek: true}}}},
			names: []string{"BODY[1.TEXT]"},
		},
	}
	for _, tt := range tests {
		p, uid := argsOf(t, tt.cmd)
		set, req, err := p.Fetch(uid)
		if strings.HasPrefix(tt.cmd, "a6") {
			wantSyntax(t, tt.cmd, err) // VANISHED needs UID FETCH
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.cmd, err)
			continue
		}
		if set.String() != tt.set {
			t.Errorf("%q: set %s, want %s", tt.cmd, set, tt.set)
		}
		if !reflect.DeepEqual(*req, tt.req) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.cmd, *req, tt.req)
		}
		var names []string
		for _, a := range req.Atts {
			names = append(names, a.Name())
		}
		if !reflect.DeepEqual(names, tt.names) {
			t.Errorf("%q: names %q, want %q", tt.cmd, names, tt.names)
		}
	}

	p, _ := argsOf(t, "a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE BODY)")
	_, req, err := p.Fetch(false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range req.Atts {
		names = append(names, a.Name())
	}
	if want := []string{"RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODYSTRUCTURE", "BODY"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}

	for _, bad := range []string{
		"a FETCH 1",
		"a FETCH 1 (FLAGS",
		"a FETCH 1 (ALL)",                       // macros stand alone
		"a FETCH 1 FOO",                         // unknown item
		"a FETCH 1 BODY[MIME]",                  // MIME needs a part
		"a FETCH 1 BODY[0]",                     // parts are non-zero
		"a FETCH 1 BODY[HEADER.FIELDS]",         // needs its list
		"a FETCH 1 BODY[HEADER.FIELDS ()]",      // and a field
		"a FETCH 1 BODY[1.HEADER",               // unclosed
		"a FETCH 1 BODY[]<1>",                   // partial needs a count
		"a FETCH 1 BINARY[1.TEXT]",              // binary takes parts only
		"a FETCH 1 BINARY.SIZE[1]<0.5>",         // and SIZE no partial
		"a UID FETCH 1 FLAGS (VANISHED)",        // RFC 7162 §3.2.6
		"a UID FETCH 1 FLAGS (CHANGEDSINCE 0)",  // positive
		"a UID FETCH 1 FLAGS (CHANGEDSINCE 5) ", // trailing space
		"a FETCH 0 FLAGS",
		"a FETCH 1 FLAGS extra",
	} {
		p, uid := argsOf(t, bad)
		_, _, err := p.Fetch(uid)
		wantSyntax(t, bad, err)
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestSearch(t *testing.T) {
	seq := func(s string) goimap.SeqSet { return mustSeq(t, s) }
	uids := func(s string) goimap.UIDSet { return mustUIDs(t, s) }
	saved := goimap.SearchCriteria{UID: []goimap.UIDSet{goimap.SearchRes()}}
	tests := []struct {
		cmd  string
		want SearchRequest
	}{
		{
			cmd: "a2 SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM alice NOT SEEN 1:5,$",
			want: SearchRequest{Charset: "UTF-8", Return: &SearchReturn{Min: true, Count: true},
				Criteria: goimap.SearchCriteria{
					Or: [][2]goimap.SearchCriteria{
						{{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "alice"}}}, {Not: []goimap.SearchCriteria{{Flag: []goimap.Flag{goimap.FlagSeen}}}}},
						{{SeqNum: []goimap.SeqSet{seq("1:5")}}, saved},
					},
				}},
		},
		{
			cmd: `a3 UID SEARCH charset us-ascii RETURN () UNSEEN SINCE "1-Feb-1994" BEFORE 10-Mar-1994 LARGER 100 SMALLER 2000 UID 3:* (TO bob CC "carl" BCC dan SUBJECT "hi there") HEADER X-Spam yes`,
			want: SearchRequest{Charset: "US-ASCII", Return: &SearchReturn{All: true},
				Criteria: goimap.SearchCriteria{
					NotFlag: []goimap.Flag{goimap.FlagSeen},
					Since:   date(1994, 2, 1), Before: date(1994, 3, 10),
					Larger: 100, Smaller: 2000,
					UID: []goimap.UIDSet{uids("3:*")},
					Header: []goimap.SearchCriteriaHeaderField{
						{Key: "To", Value: "bob"}, {Key: "Cc", Value: "carl"}, {Key: "Bcc", Value: "dan"},
						{Key: "Subject", Value: "hi there"}, {Key: "X-Spam", Value: "yes"},
					},
				}},
		},
		{
			cmd: "a4 SEARCH NEW OLD RECENT ANSWERED UNANSWERED DELETED UNDELETED DRAFT UNDRAFT FLAGGED UNFLAGGED KEYWORD $Junk UNKEYWORD foo ALL",
			want: SearchRequest{Criteria: goimap.SearchCriteria{
				Flag:    []goimap.Flag{`\Recent`, `\Recent`, goimap.FlagAnswered, goimap.FlagDeleted, goimap.FlagDraft, goimap.FlagFlagged, "$Junk"},
				NotFlag: []goimap.Flag{goimap.FlagSeen, `\Recent`, goimap.FlagAnswered, goimap.FlagDeleted, goimap.FlagDraft, goimap.FlagFlagged, "foo"},
			}},
		},
		{
			cmd: "a5 SEARCH ON 5-Jan-2020 SENTON 6-Jan-2020 SENTSINCE 1-Jan-2020 SENTBEFORE 31-Dec-2020 BODY x TEXT {2}\r\nyz",
			want: SearchRequest{Criteria: goimap.SearchCriteria{
				Since: date(2020, 1, 5), Before: date(2020, 1, 6),
				SentSince: date(2020, 1, 6), SentBefore: date(2020, 1, 7),
				Body: []string{"x"}, Text: []string{"yz"},
			}},
		},
		{
			cmd: `a6 SEARCH RETURN (SAVE PARTIAL 4:2 UPDATE CONTEXT) MODSEQ "/flags/\\draft" all 620162338 $ 2,4`,
			want: SearchRequest{Return: &SearchReturn{Save: true, Update: true, Context: true, Partial: &PartialRange{2, 4}},
				Criteria: goimap.SearchCriteria{
					ModSeq: &goimap.SearchCriteriaModSeq{ModSeq: 620162338, MetadataName: `/flags/\draft`, MetadataType: goimap.SearchCriteriaMetadataAll},
					UID:    []goimap.UIDSet{goimap.SearchRes()},
					SeqNum: []goimap.SeqSet{seq("2,4")},
				}},
		},
		{
			cmd: "a7 SEARCH RETURN (PARTIAL -1:-100) MODSEQ 0",
			want: SearchRequest{Return: &SearchReturn{Partial: &PartialRange{-100, -1}},
				Criteria: goimap.SearchCriteria{ModSeq: &goimap.SearchCriteriaModSeq{}}},
		},
		{
			cmd: "a8 SEARCH SMALLER 0 NOT (SEEN FLAGGED)",
			want: SearchRequest{Criteria: goimap.SearchCriteria{
				Not: []goimap.SearchCriteria{{}, {Flag: []goimap.Flag{goimap.FlagSeen, goimap.FlagFlagged}}},
			}},
		},
	}
	for _, tt := range tests {
		p, uid := argsOf(t, tt.cmd)
		req, err := p.Search(uid)
		if err != nil {
			t.Errorf("%q: %v", tt.cmd, err)
			continue
		}
		if !reflect.DeepEqual(*req, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.cmd, *req, tt.want)
		}
	}
	// $ is goimap's marker itself, not a copy.
	p, _ := argsOf(t, "a SEARCH $")
	req, err := p.Search(false)
	if err != nil || !goimap.IsSearchRes(req.Criteria.UID[0]) {
		t.Errorf("SEARCH $: %+v %v", req, err)
	}

	deep := "a SEARCH " + strings.Repeat("NOT ", 200) + "SEEN"
	for _, bad := range []string{
		"a SEARCH ",
		"a SEARCH FOO",
		"a SEARCH FROM",
		"a SEARCH (SEEN",
		"a SEARCH SEEN ",
		"a SEARCH OR SEEN",
		"a SEARCH BEFORE 32-Jan-2020",
		"a SEARCH KEYWORD \\Seen",
		"a SEARCH RETURN (PARTIAL 1:*) ALL",
		"a SEARCH RETURN (PARTIAL 5) ALL",
		"a SEARCH RETURN (PARTIAL 0:5) ALL",
		"a SEARCH RETURN (PARTIAL -1:5) ALL",
		"a SEARCH RETURN (BOGUS) ALL",
		"a SEARCH MODSEQ \"/other/x\" all 5",
		"a SEARCH MODSEQ \"/flags/x\" some 5",
		deep,
		"a SEARCH " + strings.Repeat("(", 200) + "SEEN" + strings.Repeat(")", 200),
	} {
		p, uid := argsOf(t, bad)
		_, err := p.Search(uid)
		wantSyntax(t, bad, err)
	}
}

func TestSortThread(t *testing.T) {
	p, uid := argsOf(t, "a UID SORT RETURN (COUNT) (REVERSE DATE subject DISPLAYFROM) utf-8 UNSEEN")
	req, err := p.Sort(uid)
	want := &SortRequest{Return: &SearchReturn{Count: true},
		Keys:    []SortKey{{Key: "DATE", Reverse: true}, {Key: "SUBJECT"}, {Key: "DISPLAYFROM"}},
		Charset: "UTF-8", Criteria: goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagSeen}}}
	if err != nil || !reflect.DeepEqual(req, want) {
		t.Errorf("SORT: %+v %v", req, err)
	}
	p, uid = argsOf(t, "a THREAD references UTF-8 SINCE 5-MAR-2000")
	th, err := p.Thread(uid)
	if err != nil || th.Algorithm != "REFERENCES" || th.Charset != "UTF-8" || !th.Criteria.Since.Equal(date(2000, 3, 5)) {
		t.Errorf("THREAD: %+v %v", th, err)
	}
	for _, bad := range []string{
		"a SORT (DATE) UTF-8", "a SORT () UTF-8 ALL", "a SORT (REVERSE) UTF-8 ALL", "a SORT (WEIGHT) UTF-8 ALL",
		"a SORT DATE UTF-8 ALL",
	} {
		p, uid := argsOf(t, bad)
		_, err := p.Sort(uid)
		wantSyntax(t, bad, err)
	}
	p, _ = argsOf(t, "a THREAD REFERENCES UTF-8")
	_, err = p.Thread(false)
	wantSyntax(t, "THREAD without keys", err)
}

func TestStore(t *testing.T) {
	tests := []struct {
		cmd  string
		set  string
		want StoreRequest
	}{
		{"a STORE 2:4 +FLAGS (\\Deleted)", "2:4", StoreRequest{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}},
		{"a STORE 1 -flags.silent \\seen $Junk", "1", StoreRequest{Op: goimap.StoreFlagsDel, Silent: true, Flags: []goimap.Flag{goimap.FlagSeen, "$Junk"}}},
		{"a UID STORE 1:* FLAGS ()", "1:*", StoreRequest{Op: goimap.StoreFlagsSet, Flags: []goimap.Flag{}}},
		{"a STORE 7 (UNCHANGEDSINCE 0) FLAGS.SILENT (\\Answered)", "7", StoreRequest{HasUnchanged: true, Op: goimap.StoreFlagsSet, Silent: true, Flags: []goimap.Flag{goimap.FlagAnswered}}},
		{"a STORE 7 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)", "7", StoreRequest{UnchangedSince: 320162338, HasUnchanged: true, Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}},
	}
	for _, tt := range tests {
		p, uid := argsOf(t, tt.cmd)
		set, req, err := p.Store(uid)
		if err != nil || set.String() != tt.set || !reflect.DeepEqual(*req, tt.want) {
			t.Errorf("%q: %v %+v %v", tt.cmd, set, req, err)
		}
	}
	for _, bad := range []string{
		"a STORE 1 FLAGS", "a STORE 1 +FLAGS (\\Seen", "a STORE 1 *FLAGS (\\Seen)", "a STORE 1 LABELS (x)",
		"a STORE 1 (UNCHANGED 5) FLAGS (x)", "a STORE 1 FLAGS \\Seen ", "a STORE 1 FLAGS (\\*)",
	} {
		p, uid := argsOf(t, bad)
		_, _, err := p.Store(uid)
		wantSyntax(t, bad, err)
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		cmd  string
		want ListRequest
	}{
		{`A01 LIST "" %`, ListRequest{Patterns: []string{"%"}}},
		{`A01 LIST "" ""`, ListRequest{Patterns: []string{""}}},
		{`A01 LIST ~/Mail/ foo]%*`, ListRequest{Ref: "~/Mail/", Patterns: []string{"foo]%*"}}},
		{`A02 LIST (SUBSCRIBED) "" "*"`, ListRequest{Patterns: []string{"*"}, Extended: true, Options: goimap.ListOptions{SelectSubscribed: true}}},
		{`A03 LIST () "" "%" RETURN (CHILDREN)`, ListRequest{Patterns: []string{"%"}, Extended: true, Options: goimap.ListOptions{ReturnChildren: true}}},
		{`A04 LIST (REMOTE) "" "%" RETURN (CHILDREN)`, ListRequest{Patterns: []string{"%"}, Extended: true, Options: goimap.ListOptions{SelectRemote: true, ReturnChildren: true}}},
		{`A05 LIST (REMOTE SUBSCRIBED) "" "*"`, ListRequest{Patterns: []string{"*"}, Extended: true, Options: goimap.ListOptions{SelectRemote: true, SelectSubscribed: true}}},
		{`A06 LIST (REMOTE) "" "*" RETURN (SUBSCRIBED)`, ListRequest{Patterns: []string{"*"}, Extended: true, Options: goimap.ListOptions{SelectRemote: true, ReturnSubscribed: true}}},
		{`C04 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)`, ListRequest{Patterns: []string{"%"}, Extended: true,
			Options: goimap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true, ReturnChildren: true}}},
		{`D01 LIST "" ("inbox" "Drafts" "Sent/%")`, ListRequest{Patterns: []string{"inbox", "Drafts", "Sent/%"}, Extended: true}},
		{`D02 LIST "" ("INBOX")`, ListRequest{Patterns: []string{"INBOX"}, Extended: true}},
		{`A LIST "" % RETURN (STATUS (MESSAGES UNSEEN))`, ListRequest{Patterns: []string{"%"}, Extended: true,
			Options: goimap.ListOptions{ReturnStatus: &goimap.StatusOptions{NumMessages: true, NumUnseen: true}}}},
		{`t1 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)`, ListRequest{Patterns: []string{"*"}, Extended: true,
			Options: goimap.ListOptions{SelectSpecialUse: true, ReturnSpecialUse: true}}},
		{`A LIST "" "&U,BTFw-/*"`, ListRequest{Patterns: []string{"台北/*"}}},
	}
	for _, tt := range tests {
		p, _ := argsOf(t, tt.cmd)
		req, err := p.List()
		if err != nil || !reflect.DeepEqual(*req, tt.want) {
			t.Errorf("%q: %+v %v", tt.cmd, req, err)
		}
	}
	for _, bad := range []string{
		`A LIST (RECURSIVEMATCH) "" "%"`, // RFC 5258 §3.1
		`A LIST (REMOTE RECURSIVEMATCH) "" "%"`,
		`A LIST (BOGUS) "" "%"`,
		`A LIST "" % RETURN (BOGUS)`,
		`A LIST "" % RETURN CHILDREN`,
		`A LIST "" % CHILDREN`,
		`A LIST "" ()`,
		`A LIST ""`,
		`A LIST "" "&Jjo"`,
		`A LIST "" % RETURN (STATUS (FOO))`,
	} {
		p, _ := argsOf(t, bad)
		_, err := p.List()
		wantSyntax(t, bad, err)
	}
}

func TestStatusSelect(t *testing.T) {
	p, _ := argsOf(t, "a STATUS inbox (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)")
	mb, o, err := p.Status()
	want := goimap.StatusOptions{NumMessages: true, NumRecent: true, UIDNext: true, UIDValidity: true, NumUnseen: true,
		NumDeleted: true, Size: true, HighestModSeq: true, AppendLimit: true}
	if err != nil || mb != "INBOX" || *o != want {
		t.Errorf("STATUS: %q %+v %v", mb, o, err)
	}
	for _, bad := range []string{"a STATUS x (MESSAGES FOO)", "a STATUS x ()", "a STATUS x MESSAGES", "a STATUS x"} {
		p, _ := argsOf(t, bad)
		_, _, err := p.Status()
		wantSyntax(t, bad, err)
	}

	tests := []struct {
		cmd  string
		mb   string
		want SelectParams
	}{
		{"a SELECT INBOX", "INBOX", SelectParams{}},
		{"a EXAMINE \"Sent\" (CONDSTORE)", "Sent", SelectParams{CondStore: true}},
		{"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", "INBOX",
			SelectParams{QResync: &QResync{UIDValidity: 67890007, ModSeq: 20050715194045000, KnownUIDs: mustUIDs(t, "41,43:211,214:541")}}},
		{"a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))", "INBOX",
			SelectParams{QResync: &QResync{UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: mustUIDs(t, "1:29997"),
				SeqMatch: &SeqMatch{
					Seqs: mustSeq(t, "5000,7500,9000,9990:9999"),
					UIDs: mustUIDs(t, "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997"),
				}}}},
		{"a SELECT INBOX (CONDSTORE QRESYNC (1 2 (3 4)))", "INBOX",
			SelectParams{CondStore: true, QResync: &QResync{UIDValidity: 1, ModSeq: 2, SeqMatch: &SeqMatch{Seqs: mustSeq(t, "3"), UIDs: mustUIDs(t, "4")}}}},
	}
	for _, tt := range tests {
		p, _ := argsOf(t, tt.cmd)
		mb, params, err := p.Select()
		if err != nil || mb != tt.mb || !reflect.DeepEqual(*params, tt.want) {
			t.Errorf("%q: %q %+v %v", tt.cmd, mb, params, err)
		}
	}
	for _, bad := range []string{
		"a SELECT INBOX (FOO)", "a SELECT INBOX (QRESYNC (0 5))", "a SELECT INBOX (QRESYNC (1 0))",
		"a SELECT INBOX (QRESYNC (1 5 1:*))", "a SELECT INBOX (QRESYNC (1 5 1:3 (1:* 2)))", "a SELECT INBOX (CONDSTORE )",
		"a SELECT INBOX CONDSTORE", "a SELECT INBOX (QRESYNC (1 5 (1)))",
	} {
		p, _ := argsOf(t, bad)
		_, _, err := p.Select()
		wantSyntax(t, bad, err)
	}
}

func TestAppend(t *testing.T) {
	msg := "From: a@example.test\r\n\r\nhi\r\n"
	tests := []struct {
		cmd  string
		mb   string
		want []AppendMessage
	}{
		{"A003 APPEND saved-messages (\\Seen) {" + itoa(len(msg)) + "}\r\n" + msg, "saved-messages",
			[]AppendMessage{{Flags: []goimap.Flag{goimap.FlagSeen}, Data: []byte(msg)}}},
		{"A003 APPEND inbox {" + itoa(len(msg)) + "+}\r\n" + msg, "INBOX", []AppendMessage{{Data: []byte(msg)}}},
		{"A003 APPEND INBOX (\\Seen \\draft) \" 7-Feb-1994 21:52:25 -0800\" ~{3}\r\na\x00b", "INBOX",
			[]AppendMessage{{Flags: []goimap.Flag{goimap.FlagSeen, goimap.FlagDraft}, Date: time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600)),
				Data: []byte("a\x00b"), Binary: true}}},
		// RFC 3502 MULTIAPPEND
		{"A003 APPEND Drafts (\\Seen) {5}\r\nhello \"01-Jan-2020 00:00:00 +0000\" {3}\r\nbye {0}\r\n", "Drafts", []AppendMessage{
			{Flags: []goimap.Flag{goimap.FlagSeen}, Data: []byte("hello")},
			{Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("", 0)), Data: []byte("bye")},
			{Data: []byte{}},
		}},
		// RFC 4469 CATENATE
		{"A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4}\r\n\r\nhi URL /Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME)", "Drafts",
			[]AppendMessage{{Flags: []goimap.Flag{goimap.FlagSeen, goimap.FlagDraft, "$MDNSent"}, Catenate: []CatPart{
				{URL: "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER"},
				{Text: []byte("\r\nhi")},
				{URL: "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME"},
			}}}},
		// RFC 6855 §4
		{"A APPEND INBOX UTF8 (~{3}\r\nhé)", "INBOX", []AppendMessage{{Data: []byte("hé"), Binary: true}}},
	}
	for _, tt := range tests {
		p, _ := argsOf(t, tt.cmd)
		mb, msgs, err := p.Append()
		if err != nil || mb != tt.mb || !reflect.DeepEqual(msgs, tt.want) {
			t.Errorf("%q:\n got %q %+v %v\nwant %+v", tt.cmd, mb, msgs, err, tt.want)
		}
	}
	for _, bad := range []string{
		"A APPEND INBOX", "A APPEND INBOX (\\Seen)", "A APPEND INBOX {5}\r\nhell", "A APPEND INBOX {3}\r\nabc ",
		"A APPEND INBOX \"bad date\" {1}\r\nx", "A APPEND INBOX CATENATE ()", "A APPEND INBOX CATENATE (FOO x)",
		"A APPEND INBOX UTF8 ({1}\r\nx)", "A APPEND INBOX {1}\r\nx{1}\r\ny",
	} {
		p, _ := argsOf(t, bad)
		_, _, err := p.Append()
		wantSyntax(t, bad, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustSeq(t *testing.T, s string) goimap.SeqSet {
	t.Helper()
	set, err := NewParser([]byte(s)).NumSet(false)
	if err != nil {
		t.Fatal(err)
	}
	return set.(goimap.SeqSet)
}

func mustUIDs(t *testing.T, s string) goimap.UIDSet {
	t.Helper()
	set, err := NewParser([]byte(s)).NumSet(true)
	if err != nil {
		t.Fatal(err)
	}
	return set.(goimap.UIDSet)
}
