// Package wire is the IMAP4rev1/IMAP4rev2 protocol alone, for the server
// side: a Reader that reads whole commands (lines and literals, RFC 9051
// §4.3, RFC 7888 LITERAL+/LITERAL-) within limits, a Parser that decodes
// one command's arguments into go-imap types, and an Encoder for
// responses (RFC 9051 §7), with modified UTF-7 mailbox names (RFC 3501
// §5.1.3).
//
// It knows nothing of storage, sessions or rights; it must not import
// storage, delegation or any other mailgate package. It is fuzzed.
package wire

import (
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// Default limits (see Limits).
const (
	DefaultMaxLine    = 64 << 10
	DefaultMaxLiteral = 64 << 10
	DefaultMaxAppend  = 50 << 20
)

// Limits bound what one command may hold. Zero fields take the defaults.
type Limits struct {
	// MaxLine is the longest line of a command, literal data excluded
	// (default DefaultMaxLine).
	MaxLine int
	// MaxLiteral is the largest literal of any command but APPEND
	// (default DefaultMaxLiteral).
	MaxLiteral int64
	// MaxAppend is the largest literal of an APPEND command: one message
	// (APPENDLIMIT, RFC 7889; default DefaultMaxAppend).
	MaxAppend int64
	// MaxCommand bounds a whole command, literals included (MULTIAPPEND
	// of many messages; default 2*MaxAppend).
	MaxCommand int64
}

// ErrKind says which limit or rule a command broke.
type ErrKind int

const (
	// ErrLineTooLong: a line exceeded MaxLine. The rest of the line was
	// read and discarded; answer BAD and go on.
	ErrLineTooLong ErrKind = iota + 1
	// ErrLiteralTooBig: a literal exceeded MaxLiteral (not APPEND). For a
	// synchronizing literal nothing of it was read (no continuation was
	// sent): answer BAD and go on. Non-synchronizing: Fatal.
	ErrLiteralTooBig
	// ErrAppendTooBig: an APPEND literal exceeded MaxAppend or the
	// command exceeded MaxCommand. Synchronizing: answer NO [TOOBIG] and
	// go on. Non-synchronizing: Fatal.
	ErrAppendTooBig
	// ErrBadLiteral: a malformed literal header such as "{12a}" or a
	// size that does not fit in 63 bits at the end of a line.
	ErrBadLiteral
)

// ReadError is a command the Reader refused. Tag is the command's tag if
// it could be read ("" otherwise: answer untagged BAD or "*").
type ReadError struct {
	Kind  ErrKind
	Tag   string
	Fatal bool   // the connection cannot go on: send BYE and close
	Msg   string // lowercase, one line, for the client
}

func (e *ReadError) Error() string { return e.Msg }

// FetchKind is one FETCH data item (RFC 9051 §6.4.5, RFC 3516 BINARY,
// RFC 7162 MODSEQ).
type FetchKind int

const (
	FetchUID FetchKind = iota + 1
	FetchFlags
	FetchInternalDate
	FetchRFC822Size
	FetchEnvelope
	FetchBody          // BODY with no section: non-extensible BODYSTRUCTURE
	FetchBodyStructure // BODYSTRUCTURE
	FetchSection       // BODY[...] and BODY.PEEK[...]
	FetchBinary        // BINARY[...] and BINARY.PEEK[...]
	FetchBinarySize    // BINARY.SIZE[...]
	FetchRFC822        // RFC822: like BODY[], answered as RFC822
	FetchRFC822Header  // RFC822.HEADER: like BODY.PEEK[HEADER]
	FetchRFC822Text    // RFC822.TEXT: like BODY[TEXT]
	FetchModSeq        // MODSEQ
)

// Section is a body section of BODY[...] or BINARY[...].
type Section struct {
	Part      []int    // part path, 1-based; empty: the whole message
	Specifier string   // "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME" (upper case)
	Fields    []string // HEADER.FIELDS[.NOT] field names as the client spelled them
	Partial   *Partial // <offset.count>; nil for the whole section
	Peek      bool     // .PEEK: do not set \Seen
}

// Partial is the <offset.count> of a section (RFC 9051 §6.4.5).
type Partial struct{ Offset, Count uint32 }

// FetchAtt is one requested item. Section is set for FetchSection,
// FetchBinary and FetchBinarySize.
type FetchAtt struct {
	Kind    FetchKind
	Section Section
}

// Name is the item's name in the FETCH response, e.g. "UID",
// "BODY[1.2.HEADER.FIELDS (From To)]<0>", "BINARY.SIZE[1]", "RFC822.HEADER".
// A partial's response name carries only its origin octet.
func (a FetchAtt) Name() string { return a.name() }

// FetchRequest is FETCH's items after the sequence set, with macros
// expanded (ALL, FAST, FULL) and the RFC 7162 modifiers.
type FetchRequest struct {
	Atts         []FetchAtt
	ChangedSince uint64 // CHANGEDSINCE; 0 when absent
	Vanished     bool   // VANISHED (QRESYNC, UID FETCH only)
}

// SearchReturn is ESEARCH's RETURN options (RFC 4731, RFC 5182, RFC 5267).
type SearchReturn struct {
	Min, Max, All, Count, Save bool
	Update, Context            bool          // RFC 5267 (accepted; UPDATE needs no more than a normal answer here)
	Partial                    *PartialRange // PARTIAL lo:hi (RFC 5267 §4.4); nil when absent
}

// PartialRange is a PARTIAL range. Negative values count from the end
// (-1 is the last); Lo <= Hi after parsing ("4:2" becomes 2:4).
type PartialRange struct{ Lo, Hi int32 }

// SearchRequest is SEARCH's arguments (RFC 9051 §6.4.4).
type SearchRequest struct {
	Charset  string        // "" when absent; upper case
	Return   *SearchReturn // nil without RETURN; RETURN () gives &SearchReturn{All: true}
	Criteria goimap.SearchCriteria
}

// SortKey is one SORT criterion (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO).
type SortKey struct {
	Key     string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO, DISPLAYFROM, DISPLAYTO
	Reverse bool
}

// SortRequest is SORT's arguments (RFC 5256, RFC 5267 ESORT RETURN).
type SortRequest struct {
	Return   *SearchReturn
	Keys     []SortKey
	Charset  string
	Criteria goimap.SearchCriteria
}

// ThreadRequest is THREAD's arguments (RFC 5256).
type ThreadRequest struct {
	Algorithm string // REFERENCES or ORDEREDSUBJECT (upper case)
	Charset   string
	Criteria  goimap.SearchCriteria
}

// StoreRequest is STORE's arguments (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE).
type StoreRequest struct {
	UnchangedSince uint64 // 0 when absent
	HasUnchanged   bool   // UNCHANGEDSINCE was given (it may be 0)
	Op             goimap.StoreFlagsOp
	Silent         bool
	Flags          []goimap.Flag
}

// ListRequest is LIST's arguments (RFC 9051 §6.3.9, RFC 5258, RFC 5819, RFC 6154).
type ListRequest struct {
	Ref      string
	Patterns []string // one or more; "" stays "" (the delimiter query)
	Extended bool     // selection options, several patterns or RETURN were used
	Options  goimap.ListOptions
}

// QResync is SELECT's QRESYNC parameter (RFC 7162 §3.2.5).
type QResync struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   goimap.UIDSet // may be nil
	SeqMatch    *SeqMatch     // may be nil
}

// SeqMatch is QRESYNC's known sequence-set/UID-set pair.
type SeqMatch struct {
	Seqs goimap.SeqSet
	UIDs goimap.UIDSet
}

// SelectParams is SELECT/EXAMINE's optional parameters.
type SelectParams struct {
	CondStore bool
	QResync   *QResync
}

// CatPart is one part of a CATENATE (RFC 4469): a URL or a text literal.
type CatPart struct {
	URL  string
	Text []byte
}

// AppendMessage is one message of APPEND or MULTIAPPEND (RFC 3502).
type AppendMessage struct {
	Flags    []goimap.Flag
	Date     time.Time // zero when absent
	Data     []byte    // the literal; nil when Catenate is used
	Binary   bool      // literal8 ~{n} (RFC 3516)
	Catenate []CatPart // CATENATE parts; nil for a plain literal
}
