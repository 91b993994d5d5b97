// Package message is what IMAP shows of a stored message (RFC 9051 §7.5.2):
// its MIME tree with byte offsets, ENVELOPE, BODY and BODYSTRUCTURE
// rendered as IMAP text, body sections, BINARY content (RFC 3516), and the
// decoded text that SEARCH matches. It parses with limits (MIME depth and
// part count), so a hostile message costs linear time, and never fails:
// malformed input gives a best-effort answer.
//
// It uses go-message for headers, charsets and transfer encodings; it
// must not import storage, delegation or any other mailgate package
// outside imap/message.
package message

// Limits bound parsing. Zero fields take the defaults.
type Limits struct {
	MaxDepth int // MIME nesting (multipart and message/rfc822 levels); default 64; deeper parts are opaque
	MaxParts int // parts in one message; default 10000; later parts are not split further
}

// Part is one MIME part (or the whole message) with offsets into the
// message bytes.
type Part struct {
	HeaderStart int // first byte of the header block
	BodyStart   int // first byte after the header block's terminating blank line (== HeaderStart+len(header))
	End         int // one past the last byte of the body

	Type, Subtype string      // as written; "text"/"plain" by default (RFC 2045 §5.2), "message"/"rfc822" default inside multipart/digest
	Params        [][2]string // Content-Type parameters, in order, values decoded (RFC 2231)
	ID            string      // Content-ID, "" if none
	Description   string      // Content-Description
	Encoding      string      // Content-Transfer-Encoding as written (default "7BIT")
	Disposition   string      // Content-Disposition value, "" if none
	DispParams    [][2]string
	Language      []string // Content-Language
	Location      string   // Content-Location
	MD5           string   // Content-MD5
	Lines         int      // body lines, for text/* and message/rfc822

	// Children are the parts of a multipart; for message/rfc822 exactly
	// one child, the enclosed message (its header is the enclosed
	// message's header). Nil for other parts and for parts past the limits.
	Children []*Part
}

// Parse builds the MIME tree of msg.
func Parse(msg []byte, lim Limits) *Part { return parse(msg, lim) }

// Find returns the part that an IMAP part path names (RFC 9051 §6.4.5:
// "1" of a non-multipart message is its body; a path continues into an
// enclosed message/rfc822's parts), or nil.
func (p *Part) Find(path []int) *Part {
	if p == nil {
		return nil
	}
	return p.find(path)
}

// Section returns the bytes of a section of msg (root from Parse): spec
// is "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or
// "MIME", fields the HEADER.FIELDS[.NOT] names. ok is false when the path
// names no part; the caller then answers an empty string, as Dovecot does.
// Partial ranges are applied by the caller.
func Section(msg []byte, root *Part, path []int, spec string, fields []string) (b []byte, ok bool) {
	return section(msg, root, path, spec, fields)
}

// Binary returns the decoded content of a part (RFC 3516 BINARY[path]),
// base64 and quoted-printable undone. err is ErrUnknownCTE for a transfer
// encoding it cannot undo (answer NO [UNKNOWN-CTE]); ok false when the
// path names no part.
func Binary(msg []byte, root *Part, path []int) (b []byte, ok bool, err error) {
	return binary(msg, root, path)
}

// AppendBodyStructure appends the IMAP rendering of p: BODYSTRUCTURE when
// extended, else BODY (RFC 9051 §7.5.2 body), e.g.
// ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 7 1).
func AppendBodyStructure(dst []byte, msg []byte, p *Part, extended bool) []byte {
	return appendBodyStructure(dst, msg, p, extended)
}

// AppendEnvelope appends the IMAP ENVELOPE of a header block (RFC 9051
// §7.5.2 envelope), with date and subject as written (NIL when absent),
// addresses parsed per RFC 5322 including groups, comments as names and
// source routes, e.g. ("date" "subject" (("Name" NIL "user" "host")) ...).
func AppendEnvelope(dst []byte, header []byte) []byte { return appendEnvelope(dst, header) }

// HeaderValues returns the unfolded values of every field named key (case
// insensitive) of a header block, as written.
func HeaderValues(header []byte, key string) []string { return headerValues(header, key) }

// DecodeHeader decodes RFC 2047 encoded words (any charset go-message
// knows) into UTF-8; undecodable words stay as written.
func DecodeHeader(value string) string { return decodeHeader(value) }

// TextContains reports whether the decoded text of msg contains needle,
// case-insensitively (Unicode simple folding): the bodies of text parts
// with transfer encoding and charset undone, and, when headers is set,
// every header field too (SEARCH TEXT vs BODY, RFC 9051 §6.4.4).
func TextContains(msg []byte, root *Part, needle string, headers bool) bool {
	return textContains(msg, root, needle, headers)
}

// ErrUnknownCTE is Binary's error for an unknown Content-Transfer-Encoding.
var ErrUnknownCTE = errUnknownCTE{}

type errUnknownCTE struct{}

func (errUnknownCTE) Error() string { return "unknown content-transfer-encoding" }
