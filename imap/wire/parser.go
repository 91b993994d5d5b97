package wire

import (
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// Parser decodes the arguments of one command read by Reader.ReadCommand.
// Every method returns a *SyntaxError on bad input, positioned where the
// input went wrong; nothing panics on any input.
type Parser struct {
	// UTF8 is set once the client has enabled UTF8=ACCEPT (RFC 6855):
	// mailbox names are then UTF-8, not modified UTF-7.
	UTF8 bool
}

// SyntaxError is a malformed command: answer BAD.
type SyntaxError struct {
	Pos int
	Msg string // lowercase, one line, for the client
}

func (e *SyntaxError) Error() string { return e.Msg }

// NewParser parses cmd, one command as returned by ReadCommand.
func NewParser(cmd []byte) *Parser { panic("wire: not implemented") }

// Token level (RFC 9051 §9 formal syntax).
func (p *Parser) Tag() (string, error)                           { panic("wire: not implemented") } // tag: ASTRING-CHAR except "+"
func (p *Parser) Atom() (string, error)                          { panic("wire: not implemented") } // 1*ATOM-CHAR
func (p *Parser) SP() error                                      { panic("wire: not implemented") } // exactly one space
func (p *Parser) Peek() byte                                     { panic("wire: not implemented") } // next byte, 0 at the end
func (p *Parser) Accept(c byte) bool                             { panic("wire: not implemented") } // consume c if it is next
func (p *Parser) Expect(c byte) error                            { panic("wire: not implemented") }
func (p *Parser) AtEnd() bool                                    { panic("wire: not implemented") }
func (p *Parser) End() error                                     { panic("wire: not implemented") } // nothing may follow
func (p *Parser) AString() (string, error)                       { panic("wire: not implemented") } // atom (ASTRING-CHAR, ']' allowed), quoted or literal
func (p *Parser) String() (string, error)                        { panic("wire: not implemented") } // quoted or literal
func (p *Parser) NString() (s string, nil_ bool, err error)      { panic("wire: not implemented") }
func (p *Parser) Literal() (data []byte, binary bool, err error) { panic("wire: not implemented") } // {n}, {n+}, ~{n}
func (p *Parser) Number() (uint32, error)                        { panic("wire: not implemented") }
func (p *Parser) Number64() (uint64, error)                      { panic("wire: not implemented") } // mod-sequence values (63 bits)

// Mailbox reads a mailbox name (astring): modified UTF-7 is decoded
// unless UTF8, and the whole name "INBOX" in any letter case becomes
// "INBOX" (longer names are left to the caller).
func (p *Parser) Mailbox() (string, error) { panic("wire: not implemented") }

// NumSet reads a sequence-set: a goimap.UIDSet when uid, else a
// goimap.SeqSet; "*" is 0 in a range; "$" is goimap.SearchRes().
func (p *Parser) NumSet(uid bool) (goimap.NumSet, error) { panic("wire: not implemented") }

func (p *Parser) Flag() (goimap.Flag, error)       { panic("wire: not implemented") } // \System (any case: canonical \Seen etc.) or keyword atom
func (p *Parser) FlagList() ([]goimap.Flag, error) { panic("wire: not implemented") } // "(" [flag *(SP flag)] ")"
func (p *Parser) DateTime() (time.Time, error)     { panic("wire: not implemented") } // quoted "dd-Mon-yyyy hh:mm:ss +zzzz"
func (p *Parser) Date() (time.Time, error)         { panic("wire: not implemented") } // d-Mon-yyyy, quoted or not

// Command arguments. Each reads from just after the command name's SP
// (or, for UID commands, after the SP that follows the sub-command) up to
// and including the end of the command.
func (p *Parser) Fetch(uid bool) (goimap.NumSet, *FetchRequest, error) {
	panic("wire: not implemented")
}
func (p *Parser) Search(uid bool) (*SearchRequest, error) { panic("wire: not implemented") }
func (p *Parser) Sort(uid bool) (*SortRequest, error)     { panic("wire: not implemented") }
func (p *Parser) Thread(uid bool) (*ThreadRequest, error) { panic("wire: not implemented") }
func (p *Parser) Store(uid bool) (goimap.NumSet, *StoreRequest, error) {
	panic("wire: not implemented")
}
func (p *Parser) List() (*ListRequest, error) { panic("wire: not implemented") }
func (p *Parser) Status() (mailbox string, opts *goimap.StatusOptions, err error) {
	panic("wire: not implemented")
}
func (p *Parser) Select() (mailbox string, params *SelectParams, err error) {
	panic("wire: not implemented")
}
func (p *Parser) Append() (mailbox string, msgs []AppendMessage, err error) {
	panic("wire: not implemented")
}
