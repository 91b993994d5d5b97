package sorting

import (
	"bytes"
	"strconv"
	"testing"
	"time"
)

// FuzzThread feeds arbitrary header blocks, split at NUL bytes into up to
// eight messages, to the threading algorithms and SORT. Neither may panic
// or hang, and every message must come out exactly once.
func FuzzThread(f *testing.F) {
	f.Add([]byte("Message-ID: <a@b>\r\n\x00Message-ID: <b@b>\r\nReferences: <a@b>\r\n"))
	f.Add([]byte("Subject: Re: foo\r\nReferences: <x> <y>\r\n\x00Subject: foo\r\nIn-Reply-To: <y>\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := bytes.SplitN(data, []byte{0}, 8)
		msgs := make([]Msg, len(parts))
		base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, p := range parts {
			var off byte
			if len(p) > 0 {
				off = p[0] % 4 // some equal arrival dates, some not
			}
			msgs[i] = Msg{
				ID:      uint32(i + 1),
				Seq:     uint32(i + 1),
				Arrival: base.Add(time.Duration(off) * time.Hour),
				Size:    int64(len(p)),
				Header:  p,
			}
		}
		for _, ts := range [][]*Thread{ThreadReferences(msgs), ThreadOrderedSubject(msgs)} {
			checkTree(t, msgs, ts)
			checkRendering(t, msgs, AppendThreads(nil, ts))
		}
		var all []Key
		for _, k := range []string{"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"} {
			key := Key{Name: k, Reverse: len(data)%2 == 0}
			all = append(all, key)
			checkPermutation(t, msgs, []Key{key})
		}
		checkPermutation(t, msgs, all)
		for _, p := range parts {
			BaseSubject(string(p))
		}
	})
}

func checkPermutation(t *testing.T, msgs []Msg, keys []Key) {
	ids := Sort(msgs, keys)
	seen := make(map[uint32]bool)
	for _, id := range ids {
		seen[id] = true
	}
	if len(ids) != len(msgs) || len(seen) != len(msgs) {
		t.Fatalf("Sort(%v) = %v: not a permutation of %d messages", keys, ids, len(msgs))
	}
}

// checkRendering checks that a THREAD rendering has balanced parentheses
// and names every message once.
func checkRendering(t *testing.T, msgs []Msg, out []byte) {
	depth := 0
	seen := make(map[uint32]int)
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				t.Fatalf("unbalanced %q", out)
			}
		case c >= '0' && c <= '9':
			j := i
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				j++
			}
			n, _ := strconv.ParseUint(string(out[i:j]), 10, 32)
			seen[uint32(n)]++
			i = j - 1
		case c == ' ':
		default:
			t.Fatalf("unexpected byte %q in %q", c, out)
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced %q", out)
	}
	for _, m := range msgs {
		if seen[m.ID] != 1 {
			t.Fatalf("message %d shown %d times in %q", m.ID, seen[m.ID], out)
		}
	}
	if len(seen) != len(msgs) {
		t.Fatalf("%q names %d messages, want %d", out, len(seen), len(msgs))
	}
}
