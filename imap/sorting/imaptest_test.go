package sorting

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
)

// The expectations below are copied from Dovecot's imaptest scripts (the
// `* sort` and `* thread` lines). Every command in those scripts searches
// ALL, so no search criteria need evaluating here. Scripts that expunge
// or append between commands are replayed by picking the mbox messages
// that are in the mailbox at that point, renumbered from 1.

func imaptestDir(t testing.TB) string { return testenv.ImaptestDir(t, "../..", "sort-subject.mbox") }

// mboxMsg is one message of an mbox file.
type mboxMsg struct {
	arrival time.Time
	header  []byte // CRLF line ends, blank line included
	size    int64  // whole message with CRLF line ends
}

// readMbox splits an mbox file at its "From " lines. The blank line that
// precedes a "From " line belongs to the mbox format, not the message.
func readMbox(t testing.TB, path string) []mboxMsg {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var msgs []mboxMsg
	var cur []string
	var arrival time.Time
	flush := func() {
		if len(cur) > 0 && cur[len(cur)-1] == "" {
			cur = cur[:len(cur)-1]
		}
		var hdr bytes.Buffer
		var size int64
		inHeader := true
		for _, l := range cur {
			size += int64(len(l)) + 2
			if inHeader {
				hdr.WriteString(l + "\r\n")
				inHeader = l != ""
			}
		}
		msgs = append(msgs, mboxMsg{arrival: arrival, header: hdr.Bytes(), size: size})
	}
	for i, l := range lines {
		if strings.HasPrefix(l, "From ") && (i == 0 || lines[i-1] == "") {
			if i > 0 {
				flush()
			}
			arrival = fromLineDate(t, l)
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return msgs
}

// fromLineDate parses the date of a "From sender  Fri Feb 22 23:00:00 2008
// [+0200]" line; without a zone it is UTC.
func fromLineDate(t testing.TB, line string) time.Time {
	f := strings.Fields(line)
	if len(f) < 7 {
		t.Fatalf("bad From line %q", line)
	}
	s := strings.Join(f[2:], " ")
	for _, layout := range []string{"Mon Jan 2 15:04:05 2006 -0700", "Mon Jan 2 15:04:05 2006"} {
		if d, err := time.Parse(layout, s); err == nil {
			return d
		}
	}
	t.Fatalf("bad From line date %q", line)
	return time.Time{}
}

// pick builds the mailbox of the given mbox messages (1-based positions in
// the file), numbered 1.. in that order.
func pick(all []mboxMsg, positions []int) []Msg {
	if positions == nil {
		positions = make([]int, len(all))
		for i := range positions {
			positions[i] = i + 1
		}
	}
	msgs := make([]Msg, len(positions))
	for i, p := range positions {
		m := all[p-1]
		msgs[i] = Msg{ID: uint32(i + 1), Seq: uint32(i + 1), Arrival: m.arrival, Size: m.size, Header: m.header}
	}
	return msgs
}

func joinIDs(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, " ")
}

// parseKeys reads a SORT criteria list such as "subject reverse size".
func parseKeys(s string) []Key {
	var keys []Key
	rev := false
	for _, w := range strings.Fields(s) {
		if strings.EqualFold(w, "reverse") {
			rev = true
			continue
		}
		keys = append(keys, Key{Name: strings.ToUpper(w), Reverse: rev})
		rev = false
	}
	return keys
}

func TestImaptestSort(t *testing.T) {
	dir := imaptestDir(t)
	tests := []struct {
		script, keys, want string
	}{
		{"sort-addresses", "from", "3 1 2"},
		{"sort-addresses", "to", "3 1 2"},
		{"sort-addresses", "cc", "3 1 2"},
		{"sort-addresses", "reverse from", "1 2 3"},
		{"sort-addresses", "reverse to", "1 2 3"},
		{"sort-addresses", "reverse cc", "1 2 3"},
		{"sort-addresses", "from reverse arrival", "3 2 1"},
		{"sort-addresses", "to reverse arrival", "3 2 1"},
		{"sort-addresses", "cc reverse arrival", "3 2 1"},

		{"sort-arrival", "arrival", "1 3 2 4 5"},
		{"sort-arrival", "reverse arrival", "2 4 5 3 1"},
		{"sort-arrival", "arrival reverse size", "1 3 5 4 2"},

		{"sort-date", "date", "1 3 7 5 2 4 6"},
		{"sort-date", "reverse date", "2 4 6 5 3 7 1"},
		{"sort-date", "date reverse size", "1 7 3 5 6 4 2"},

		{"sort-display-from", "displayfrom", "2 3 4 1 5"},
		{"sort-display-from", "reverse displayfrom", "5 1 4 3 2"},

		{"sort-display-to", "displayto", "6 2 3 8 4 1 5 7"},
		{"sort-display-to", "reverse displayto", "7 5 1 4 8 3 2 6"},

		{"sort-size", "size", "1 8 2 6 3 5 4 7"},
		{"sort-size", "reverse size", "4 7 3 5 2 6 1 8"},
		{"sort-size", "size reverse arrival", "8 1 6 2 5 3 7 4"},

		{"sort-subject", "subject", "9 10 1 14 3 5 11 6 15 2 7 12 13 8 4"},
		{"sort-subject", "reverse subject", "4 8 2 7 12 13 15 6 3 5 11 14 1 9 10"},
		{"sort-subject", "subject reverse size", "10 9 1 14 11 5 3 6 15 13 12 7 2 8 4"},

		// sort-partial: the full orders behind its PARTIAL results.
		{"sort-partial", "arrival", "1 2 3 4 5"},
		{"sort-partial", "reverse arrival", "5 3 4 2 1"},
	}
	for _, tc := range tests {
		t.Run(tc.script+"/"+tc.keys, func(t *testing.T) {
			msgs := pick(readMbox(t, filepath.Join(dir, tc.script+".mbox")), nil)
			got := joinIDs(Sort(msgs, parseKeys(tc.keys)))
			if got != tc.want {
				t.Errorf("sort (%s): got %q, want %q", tc.keys, got, tc.want)
			}
		})
	}
}

func TestImaptestThread(t *testing.T) {
	dir := imaptestDir(t)
	tests := []struct {
		script    string
		positions []int // mbox messages in the mailbox; nil for all
		ordered   bool  // ORDEREDSUBJECT rather than REFERENCES
		want      string
	}{
		{"thread", nil, false, "(3 2)(1)"},
		{"thread", []int{2, 3}, false, "(2 1)"}, // after expunging 1
		{"thread2", nil, false, "(1)(2)"},
		{"thread3", nil, false, "(1 2)"},
		{"thread4", nil, false, "(1 2)"},
		{"thread5", []int{1, 2, 3, 4}, false, "(1 (2 4)(3))"},
		{"thread5", []int{3, 4}, false, "(1)(2)"},         // expunge 1,2
		{"thread5", []int{3, 4, 5}, false, "(1)((2)(3))"}, // append the fifth
		{"thread6", nil, false, "((1)(2))"},
		{"thread7", nil, false, "(1 (2 3)(4))"},
		{"thread7", []int{1, 3, 4}, false, "(1 3 2)"}, // expunge 2
		{"thread8", []int{1, 2}, false, "(1 2)"},
		{"thread8", []int{1}, false, "(1)"},      // expunge 2
		{"thread8", []int{1, 3}, false, "(1 2)"}, // append the third
		{"thread-orderedsubject", nil, true, "(1)(2 (7)(12)(13))(3 (5)(11))(4)(6)(8)(9 10)(14)(15)"},
		{"thread-orderedsubject2", nil, true, "(4 (2)(8)(6))(3 (1)(7)(5))"},
	}
	for _, tc := range tests {
		name := tc.script
		if tc.positions != nil {
			name += "/" + strings.ReplaceAll(fmtInts(tc.positions), " ", ",")
		}
		t.Run(name, func(t *testing.T) {
			msgs := pick(readMbox(t, filepath.Join(dir, tc.script+".mbox")), tc.positions)
			var ts []*Thread
			if tc.ordered {
				ts = ThreadOrderedSubject(msgs)
			} else {
				ts = ThreadReferences(msgs)
			}
			got := string(AppendThreads(nil, ts))
			if !strings.EqualFold(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			checkTree(t, msgs, ts)
		})
	}
}

func fmtInts(p []int) string {
	s := make([]string, len(p))
	for i, v := range p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, " ")
}

// checkTree verifies that every message appears exactly once in ts and
// that there are no empty dummies.
func checkTree(t testing.TB, msgs []Msg, ts []*Thread) {
	t.Helper()
	seen := make(map[uint32]int)
	var walk func([]*Thread)
	walk = func(list []*Thread) {
		for _, n := range list {
			if n.ID == 0 && len(n.Children) == 0 {
				t.Errorf("empty dummy in the thread tree")
			}
			seen[n.ID]++
			walk(n.Children)
		}
	}
	walk(ts)
	for _, m := range msgs {
		if seen[m.ID] != 1 {
			t.Errorf("message %d appears %d times", m.ID, seen[m.ID])
		}
		delete(seen, m.ID)
	}
	delete(seen, 0)
	for id := range seen {
		t.Errorf("unknown id %d in the tree", id)
	}
}
