package sorting

import (
	"cmp"
	"slices"
	"strings"

	"github.com/mailgate/mailgate/imap/message"
)

// sortKind is a parsed sort criterion.
type sortKind uint8

const (
	kUnknown sortKind = iota
	kArrival
	kCc
	kDate
	kFrom
	kSize
	kSubject
	kTo
	kDisplayFrom
	kDisplayTo
)

func kindOf(name string) sortKind {
	switch strings.ToUpper(name) {
	case "ARRIVAL":
		return kArrival
	case "CC":
		return kCc
	case "DATE":
		return kDate
	case "FROM":
		return kFrom
	case "SIZE":
		return kSize
	case "SUBJECT":
		return kSubject
	case "TO":
		return kTo
	case "DISPLAYFROM":
		return kDisplayFrom
	case "DISPLAYTO":
		return kDisplayTo
	}
	return kUnknown
}

// keyValue is one message's value for one criterion: a number or a string
// in its comparison form.
type keyValue struct {
	n int64
	s string
}

// sentDate is the RFC 5256 §2.2 sent date in Unix nanoseconds: the Date
// header, or the internal date when it is missing or unparsable.
func sentDate(m *Msg, f *fields) int64 {
	if f.has&hasDate != 0 {
		if t, ok := parseDate(f.date); ok {
			return t.UnixNano()
		}
	}
	return m.Arrival.UnixNano()
}

// mailboxKey is the sort string for CC, FROM and TO: the addr-mailbox of
// the first address (for a group, the group name), case-folded.
func mailboxKey(v string) string {
	a, _ := firstAddress(v)
	return message.UpperASCII(a.mailbox)
}

func displayKey(v string) string {
	a, _ := firstAddress(v)
	return message.UpperASCII(a.displayKey())
}

// Sort implementation: keys are computed once per message, then the
// indexes are sorted with the criteria and the sequence number last.
func sortMsgs(msgs []Msg, keys []Key) []uint32 {
	kinds := make([]sortKind, 0, len(keys))
	rev := make([]bool, 0, len(keys))
	needHeader := false
	for _, k := range keys {
		kind := kindOf(k.Name)
		if kind == kUnknown {
			continue
		}
		kinds = append(kinds, kind)
		rev = append(rev, k.Reverse)
		if kind != kArrival && kind != kSize {
			needHeader = true
		}
	}
	nk := len(kinds)
	vals := make([]keyValue, len(msgs)*nk)
	var hr headerReader
	for i := range msgs {
		m := &msgs[i]
		var f fields
		if needHeader {
			f = hr.parseFields(m.Header)
		}
		row := vals[i*nk : (i+1)*nk]
		for j, kind := range kinds {
			switch kind {
			case kArrival:
				row[j].n = m.Arrival.UnixNano()
			case kSize:
				row[j].n = m.Size
			case kDate:
				row[j].n = sentDate(m, &f)
			case kSubject:
				row[j].s, _ = baseSubject(f.subject)
			case kFrom:
				row[j].s = mailboxKey(f.from)
			case kTo:
				row[j].s = mailboxKey(f.to)
			case kCc:
				row[j].s = mailboxKey(f.cc)
			case kDisplayFrom:
				row[j].s = displayKey(f.from)
			case kDisplayTo:
				row[j].s = displayKey(f.to)
			}
		}
	}
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ra, rb := vals[a*nk:(a+1)*nk], vals[b*nk:(b+1)*nk]
		for j := range nk {
			c := cmp.Compare(ra[j].n, rb[j].n)
			if c == 0 {
				c = strings.Compare(ra[j].s, rb[j].s)
			}
			if c != 0 {
				if rev[j] {
					return -c
				}
				return c
			}
		}
		return cmp.Compare(msgs[a].Seq, msgs[b].Seq)
	})
	ids := make([]uint32, len(order))
	for i, o := range order {
		ids[i] = msgs[o].ID
	}
	return ids
}
