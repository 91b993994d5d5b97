package sorting

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// synthetic builds n messages in reply chains: most messages answer one of
// the recent ones, carrying its References plus its Message-ID (trimmed to
// the first and the last 19, as mail clients do), with a "Re:" subject.
func synthetic(n int) []Msg {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	type info struct {
		id, subject string
		refs        []string
	}
	infos := make([]info, n)
	msgs := make([]Msg, n)
	for i := range n {
		in := info{id: fmt.Sprintf("<%d.%d@example.org>", i, r.IntN(1000))}
		if i > 0 && r.IntN(10) < 7 {
			p := infos[max(0, i-1-r.IntN(500))]
			in.refs = append(append([]string(nil), p.refs...), p.id)
			if len(in.refs) > 20 {
				in.refs = append(in.refs[:1:1], in.refs[len(in.refs)-19:]...)
			}
			in.subject = "Re: " + strings.TrimPrefix(p.subject, "Re: ")
		} else {
			in.subject = fmt.Sprintf("[list] topic number %d", r.IntN(n/4+1))
		}
		infos[i] = in
		sent := base.Add(time.Duration(i)*time.Minute + time.Duration(r.IntN(600)-300)*time.Second)
		var h strings.Builder
		fmt.Fprintf(&h, "From: User %d <user%d@example.org>\r\n", i%97, i%97)
		fmt.Fprintf(&h, "To: list@example.org\r\n")
		fmt.Fprintf(&h, "Subject: %s\r\n", in.subject)
		fmt.Fprintf(&h, "Date: %s\r\n", sent.Format(time.RFC1123Z))
		fmt.Fprintf(&h, "Message-ID: %s\r\n", in.id)
		if len(in.refs) > 0 {
			fmt.Fprintf(&h, "In-Reply-To: %s\r\n", in.refs[len(in.refs)-1])
			fmt.Fprintf(&h, "References: %s\r\n", strings.Join(in.refs, "\r\n "))
		}
		h.WriteString("\r\n")
		msgs[i] = Msg{
			ID: uint32(i + 1), Seq: uint32(i + 1),
			Arrival: sent.Add(time.Duration(r.IntN(60)) * time.Second),
			Size:    int64(500 + r.IntN(5000)),
			Header:  []byte(h.String()),
		}
	}
	return msgs
}

// chain builds n messages, each answering the previous one by
// In-Reply-To only: one thread n deep.
func chain(n int) []Msg {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]Msg, n)
	for i := range n {
		h := fmt.Sprintf("Message-ID: <%d@x>\r\nIn-Reply-To: <%d@x>\r\nSubject: Re: deep\r\n\r\n", i, i-1)
		msgs[i] = Msg{ID: uint32(i + 1), Seq: uint32(i + 1), Arrival: base.Add(time.Duration(i) * time.Second), Header: []byte(h)}
	}
	return msgs
}

func TestSyntheticThreads(t *testing.T) {
	for _, msgs := range [][]Msg{synthetic(2000), chain(2000)} {
		ts := ThreadReferences(msgs)
		checkTree(t, msgs, ts)
		checkTree(t, msgs, ThreadOrderedSubject(msgs))
		if len(Sort(msgs, []Key{{Name: "SUBJECT"}, {Name: "DATE"}})) != len(msgs) {
			t.Fatal("Sort lost messages")
		}
	}
	ts := ThreadReferences(chain(100))
	if len(ts) != 1 || !strings.HasPrefix(string(AppendThreads(nil, ts)), "(1 2 3 ") {
		t.Errorf("chain: %d threads", len(ts))
	}
}

func BenchmarkSortSubjectDate10k(b *testing.B) {
	msgs := synthetic(10000)
	keys := []Key{{Name: "SUBJECT"}, {Name: "DATE"}}
	b.ResetTimer()
	for b.Loop() {
		Sort(msgs, keys)
	}
}

func BenchmarkThreadReferences10k(b *testing.B) {
	msgs := synthetic(10000)
	b.ResetTimer()
	for b.Loop() {
		AppendThreads(nil, ThreadReferences(msgs))
	}
}

func BenchmarkThreadReferencesChain10k(b *testing.B) {
	msgs := chain(10000)
	b.ResetTimer()
	for b.Loop() {
		AppendThreads(nil, ThreadReferences(msgs))
	}
}

func BenchmarkThreadOrderedSubject10k(b *testing.B) {
	msgs := synthetic(10000)
	b.ResetTimer()
	for b.Loop() {
		AppendThreads(nil, ThreadOrderedSubject(msgs))
	}
}
