// Package sorting implements SORT and THREAD (RFC 5256) and the display
// sort keys of RFC 5957: base-subject extraction, the sort keys, and the
// REFERENCES and ORDEREDSUBJECT threading algorithms. It is pure: messages
// in, order or thread tree out. Addresses and RFC 2047 words are read with
// imap/message, so SORT and ENVELOPE agree on them; it must not import any
// other mailgate package.
package sorting

import "time"

// Msg is what sorting and threading need of one message. ID is the number
// the caller answers with (sequence number or UID); Seq is the message
// sequence number, the final tie-break (RFC 5256 §3).
type Msg struct {
	ID      uint32
	Seq     uint32
	Arrival time.Time // internal date (ARRIVAL)
	Size    int64     // RFC822.SIZE
	Header  []byte    // the message's header block
}

// Key is one SORT criterion.
type Key struct {
	Name    string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO (upper case)
	Reverse bool
}

// Sort returns the IDs of msgs in the order the keys give (RFC 5256 §3,
// RFC 5957 §2). Unknown key names are the caller's error to refuse.
func Sort(msgs []Msg, keys []Key) []uint32 { return sortMsgs(msgs, keys) }

// BaseSubject extracts the base subject of a raw Subject value (RFC 5256
// §2.1: RFC 2047 decoded, whitespace folded, "Re:", "Fwd:", "[blob]" and
// "(fwd)" removed), in the form used for comparison.
//
// The comparison form is upper-cased in ASCII (i;ascii-casemap), so two
// base subjects are equal for SORT and THREAD exactly when the strings are.
func BaseSubject(subject string) string {
	s, _ := baseSubject(subject)
	return s
}

// Thread is a node of a thread tree. ID is 0 for a dummy parent.
type Thread struct {
	ID       uint32
	Children []*Thread
}

// ThreadReferences threads msgs by RFC 5256 REFERENCES (§3 "REFERENCES").
func ThreadReferences(msgs []Msg) []*Thread { return threadReferences(msgs) }

// ThreadOrderedSubject threads msgs by RFC 5256 ORDEREDSUBJECT.
func ThreadOrderedSubject(msgs []Msg) []*Thread { return threadOrderedSubject(msgs) }

// AppendThreads appends the IMAP rendering of a THREAD response's thread
// list (RFC 5256 §4), e.g. "(2)(3 6 (4 23)(44 7 96))"; a dummy parent is
// shown as a nested list of its children.
func AppendThreads(dst []byte, ts []*Thread) []byte { return appendThreads(dst, ts) }
