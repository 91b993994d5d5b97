package wire

import "io"

// Reader reads whole commands from a client. It is not safe for
// concurrent use.
type Reader struct{}

// NewReader reads from r. cont is called before the data of a
// synchronizing literal is read; it must write "+ <text>\r\n" and flush.
func NewReader(r io.Reader, lim Limits, cont func() error) *Reader {
	panic("wire: not implemented")
}

// ReadCommand reads one command: its line and every literal it carries,
// as the client sent them, without the final CRLF. Limits are enforced
// before any data of a literal is read (a synchronizing literal over its
// limit is refused without sending a continuation). A *ReadError is a
// refused command; other errors come from the connection (io.EOF, a
// deadline).
func (r *Reader) ReadCommand() ([]byte, error) { panic("wire: not implemented") }

// ReadLine reads one line (AUTHENTICATE responses, IDLE's DONE), without
// its CRLF, within MaxLine.
func (r *Reader) ReadLine() ([]byte, error) { panic("wire: not implemented") }

// Buffered reports how many bytes have been read from the connection but
// not consumed (COMPRESS must start with none).
func (r *Reader) Buffered() int { panic("wire: not implemented") }

// Reset makes the Reader read from rd from now on (COMPRESS=DEFLATE,
// STARTTLS), dropping nothing: call it only when Buffered is 0.
func (r *Reader) Reset(rd io.Reader) { panic("wire: not implemented") }
