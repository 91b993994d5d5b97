package sorting

import (
	"bufio"
	"bytes"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/mailgate/mailgate/imap/message"
)

// fields holds the raw values of the header fields sorting and threading
// look at: the first occurrence of each.
type fields struct {
	subject, date, from, to, cc  string
	messageID, references, reply string
	has                          uint8 // bit set of the fields seen
}

const (
	hasSubject = 1 << iota
	hasDate
	hasFrom
	hasTo
	hasCc
	hasMessageID
	hasReferences
	hasInReplyTo
)

// headerReader reads header blocks; one is reused across the messages of
// a call so that each message does not cost a fresh read buffer.
type headerReader struct {
	src bytes.Reader
	br  *bufio.Reader
}

// parseFields reads a header block. It is lenient: a malformed line is
// skipped rather than ending the header, and a block without its final
// blank line is accepted.
func (r *headerReader) parseFields(hdr []byte) fields {
	var f fields
	if len(hdr) == 0 {
		return f
	}
	if hdr[len(hdr)-1] != '\n' {
		hdr = append(hdr[:len(hdr):len(hdr)], '\r', '\n')
	}
	r.src.Reset(hdr)
	if r.br == nil {
		r.br = bufio.NewReaderSize(&r.src, 1024)
	} else {
		r.br.Reset(&r.src)
	}
	src, br := &r.src, r.br
	for {
		before := src.Len() + br.Buffered()
		h, err := textproto.ReadHeader(br)
		for it := h.Fields(); it.Next(); {
			f.set(it.Key(), it.Value())
		}
		if err == nil || src.Len()+br.Buffered() >= before {
			return f // end of header, or no progress
		}
		if _, perr := br.Peek(1); perr != nil {
			return f
		}
	}
}

// parseFields reads one header block with a reader of its own.
func parseFields(hdr []byte) fields {
	var r headerReader
	return r.parseFields(hdr)
}

func (f *fields) set(key, value string) {
	var bit uint8
	var dst *string
	switch key {
	case "Subject":
		bit, dst = hasSubject, &f.subject
	case "Date":
		bit, dst = hasDate, &f.date
	case "From":
		bit, dst = hasFrom, &f.from
	case "To":
		bit, dst = hasTo, &f.to
	case "Cc":
		bit, dst = hasCc, &f.cc
	case "Message-Id":
		bit, dst = hasMessageID, &f.messageID
	case "References":
		bit, dst = hasReferences, &f.references
	case "In-Reply-To":
		bit, dst = hasInReplyTo, &f.reply
	default:
		return
	}
	if f.has&bit == 0 {
		f.has |= bit
		*dst = value
	}
}

// obsZones are the RFC 5322 §4.3 obsolete zone names with their offsets.
var obsZones = map[string]int{
	"UT": 0, "GMT": 0, "UTC": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}

var fastDateLayouts = []string{"Mon, 2 Jan 2006 15:04:05 -0700"}

// parseDate parses an RFC 5322 Date value (obsolete forms included).
func parseDate(v string) (time.Time, bool) {
	v = stripComments(v)
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	// The usual form first: net/mail tries many layouts, and each failed
	// try costs an error allocation.
	for _, layout := range fastDateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	t, err := mail.ParseDate(v)
	if err != nil {
		return time.Time{}, false
	}
	if name, _ := t.Zone(); name != "" {
		off, ok := obsZones[strings.ToUpper(name)]
		if !ok && len(name) == 1 {
			off, ok = 0, true // military zones: treat as -0000 (RFC 5322 §4.3)
		}
		if ok {
			y, mo, d := t.Date()
			h, mi, s := t.Clock()
			t = time.Date(y, mo, d, h, mi, s, 0, time.FixedZone(name, off*3600))
		}
	}
	return t, true
}

// stripComments removes RFC 5322 comments, nested ones included.
func stripComments(v string) string {
	if !strings.Contains(v, "(") {
		return v
	}
	var b strings.Builder
	depth := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// address is the first address of an address list, as an IMAP envelope
// gives it (imap/message parses it): for a group, mailbox is the group
// name and host is empty. The name is decoded (RFC 2047).
type address struct {
	name, mailbox, host string
}

// displayKey is the RFC 5957 display string: the decoded display name,
// or the addr-spec when there is none.
func (a address) displayKey() string {
	if a.name != "" {
		return a.name
	}
	if a.host == "" {
		return a.mailbox
	}
	return a.mailbox + "@" + a.host
}

// firstAddress is the first address of an RFC 5322 address list.
func firstAddress(v string) (address, bool) {
	for _, a := range message.ParseAddressList(v) {
		switch {
		case a.GroupStart:
			return address{mailbox: message.DecodeHeader(a.Mailbox)}, true
		case a.GroupEnd:
			continue
		}
		name := a.Name
		if a.FromComment {
			name = "" // RFC 5957 §2: only a display-name is displayed
		}
		return address{name: message.DecodeHeader(name), mailbox: a.Mailbox, host: a.Host}, true
	}
	return address{}, false
}

// msgIDs returns the message ids ("<...>" content) found in v, at most max
// of them when max > 0.
func msgIDs(v string, max int) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		v = v[i+1:]
		j := strings.IndexAny(v, "<>")
		if j < 0 {
			return ids
		}
		if v[j] == '<' { // "<" without its ">": start again from the new one
			v = v[j:]
			continue
		}
		id := v[:j]
		v = v[j+1:]
		if strings.ContainsAny(id, " \t\r\n") {
			id = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, id)
		}
		if id == "" {
			continue
		}
		ids = append(ids, id)
		if max > 0 && len(ids) == max {
			return ids
		}
	}
}
