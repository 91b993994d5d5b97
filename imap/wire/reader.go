package wire

import (
	"bufio"
	"bytes"
	"io"
	"math"
)

// readBufSize is the connection read buffer. A line longer than this is
// gathered fragment by fragment, and only up to MaxLine of it is kept.
const readBufSize = 8 << 10

// literalChunk bounds how much memory a literal gets ahead of its data,
// so that a client announcing a large literal and sending nothing holds
// no more than this.
const literalChunk = 256 << 10

// Reader reads whole commands from a client. It is not safe for
// concurrent use.
type Reader struct {
	br   *bufio.Reader
	lim  Limits
	cont func() error
}

// NewReader reads from r. cont is called before the data of a
// synchronizing literal is read; it must write "+ <text>\r\n" and flush.
func NewReader(r io.Reader, lim Limits, cont func() error) *Reader {
	if lim.MaxLine <= 0 {
		lim.MaxLine = DefaultMaxLine
	}
	if lim.MaxLiteral <= 0 {
		lim.MaxLiteral = DefaultMaxLiteral
	}
	if lim.MaxAppend <= 0 {
		lim.MaxAppend = DefaultMaxAppend
	}
	if lim.MaxCommand <= 0 {
		lim.MaxCommand = 2 * lim.MaxAppend
	}
	if cont == nil {
		cont = func() error { return nil }
	}
	return &Reader{br: bufio.NewReaderSize(r, readBufSize), lim: lim, cont: cont}
}

// ReadCommand reads one command: its line and every literal it carries,
// as the client sent them, without the final CRLF. Limits are enforced
// before any data of a literal is read (a synchronizing literal over its
// limit is refused without sending a continuation). A *ReadError is a
// refused command; other errors come from the connection (io.EOF, a
// deadline).
//
// The returned slice is the caller's; the next call does not reuse it.
func (r *Reader) ReadCommand() ([]byte, error) {
	cmd, tooLong, litTail, err := r.readLine(nil, r.lim.MaxLine)
	if err != nil {
		return nil, err
	}
	tag := tagOf(cmd)
	if tooLong {
		return nil, lineTooLong(tag, litTail)
	}
	// The limits depend on the command, known from its first line
	// ("tag SP name"). APPEND carries messages (RFC 3502 MULTIAPPEND:
	// several), everything else small literals.
	appendCmd := isAppend(cmd)
	maxLit, maxCmd := r.lim.MaxLiteral, 2*int64(r.lim.MaxLine)+r.lim.MaxLiteral
	if appendCmd {
		maxLit, maxCmd = r.lim.MaxAppend, r.lim.MaxCommand
	}
	lineStart := 0 // a literal header ends the last line, not literal data
	for {
		lh := literalHeader(cmd[lineStart:])
		if !lh.found {
			return cmd, nil
		}
		if lh.bad {
			return nil, &ReadError{Kind: ErrBadLiteral, Tag: tag, Fatal: lh.nonSync, Msg: "bad literal size"}
		}
		if lh.size > maxLit || lh.size+2 > maxCmd-int64(len(cmd)) {
			e := &ReadError{Kind: ErrLiteralTooBig, Tag: tag, Fatal: lh.nonSync, Msg: "literal too big"}
			if appendCmd {
				e.Kind, e.Msg = ErrAppendTooBig, "message too big"
			}
			return nil, e
		}
		if !lh.nonSync {
			// RFC 9051 §4.3: the client waits for "+" before sending
			// a synchronizing literal's data.
			if err := r.cont(); err != nil {
				return nil, err
			}
		}
		cmd = append(cmd, "\r\n"...)
		if cmd, err = r.readLiteral(cmd, lh.size); err != nil {
			return nil, err
		}
		// The command goes on after the literal with another line.
		max := r.lim.MaxLine
		if room := maxCmd - int64(len(cmd)); room < int64(max) {
			max = int(max64(room, 0))
		}
		lineStart = len(cmd)
		cmd, tooLong, litTail, err = r.readLine(cmd, max)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if tooLong {
			return nil, lineTooLong(tag, litTail)
		}
	}
}

func lineTooLong(tag string, litTail literal) error {
	// A dropped line that announced a non-synchronizing literal leaves
	// data we cannot tell from commands: the connection cannot go on.
	fatal := litTail.found && litTail.nonSync
	return &ReadError{Kind: ErrLineTooLong, Tag: tag, Fatal: fatal, Msg: "line too long"}
}

// readLiteral appends n bytes of literal data, growing the buffer only as
// data arrives.
func (r *Reader) readLiteral(dst []byte, n int64) ([]byte, error) {
	for n > 0 {
		chunk := int(min(n, literalChunk))
		if cap(dst)-len(dst) < chunk {
			// Double, but never past what the literal still needs:
			// memory ahead of the data stays within what has arrived.
			grow := int(min(int64(max(chunk, cap(dst))), n))
			nb := make([]byte, len(dst), len(dst)+grow)
			copy(nb, dst)
			dst = nb
		}
		start := len(dst)
		dst = dst[:start+chunk]
		if _, err := io.ReadFull(r.br, dst[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n -= int64(chunk)
	}
	return dst, nil
}

// ReadLine reads one line (AUTHENTICATE responses, IDLE's DONE), without
// its CRLF, within MaxLine.
func (r *Reader) ReadLine() ([]byte, error) {
	line, tooLong, _, err := r.readLine(nil, r.lim.MaxLine)
	if err != nil {
		return nil, err
	}
	if tooLong {
		return nil, &ReadError{Kind: ErrLineTooLong, Msg: "line too long"}
	}
	return line, nil
}

// Buffered reports how many bytes have been read from the connection but
// not consumed (COMPRESS must start with none).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Reset makes the Reader read from rd from now on (COMPRESS=DEFLATE,
// STARTTLS), dropping nothing: call it only when Buffered is 0.
func (r *Reader) Reset(rd io.Reader) { r.br.Reset(rd) }

// readLine appends one line to dst without its LF or CRLF (a bare LF ends
// a line too). A line longer than max is read to its end and dropped,
// keeping at most max bytes of it in dst (enough for the tag), and
// tooLong is set; the literal header its last bytes may carry is
// returned so the caller can tell whether data follows. Memory stays
// within max plus the read buffer whatever the line's length. The end of
// input is io.EOF before a line and io.ErrUnexpectedEOF inside one.
func (r *Reader) readLine(dst []byte, max int) (line []byte, tooLong bool, lit literal, err error) {
	start := len(dst)
	var tail []byte // last bytes of a dropped line
	for {
		frag, err := r.br.ReadSlice('\n')
		done := err == nil
		if done {
			frag = frag[:len(frag)-1]
		} else if err != bufio.ErrBufferFull {
			if err == io.EOF && (len(frag) > 0 || len(dst) > start || tooLong) {
				err = io.ErrUnexpectedEOF
			}
			return dst, false, literal{}, err
		}
		if !tooLong {
			// max+1 leaves room for the CR of CRLF.
			if len(dst)-start+len(frag) <= max+1 {
				dst = append(dst, frag...)
			} else {
				tooLong = true
				if keep := max - (len(dst) - start); keep > 0 {
					dst = append(dst, frag[:keep]...)
				}
				tail = append(tail, frag...)
			}
		} else {
			tail = append(tail, frag...)
		}
		if len(tail) > 64 {
			tail = append(tail[:0], tail[len(tail)-32:]...)
		}
		if done {
			break
		}
	}
	if !tooLong {
		if n := len(dst); n > start && dst[n-1] == '\r' {
			dst = dst[:n-1]
		}
		if len(dst)-start > max {
			tooLong = true
		}
	}
	if tooLong {
		if n := len(tail); n > 0 && tail[n-1] == '\r' {
			tail = tail[:n-1]
		}
		if len(tail) == 0 {
			tail = dst[start:]
		}
		lit = literalHeader(tail)
	}
	return dst, tooLong, lit, nil
}

// literal is a literal header at the end of a line (RFC 9051 §4.3
// literal, RFC 3516 literal8, RFC 7888 "{n+}").
type literal struct {
	found   bool
	size    int64
	nonSync bool // "{n+}": the data follows without a continuation
	binary  bool // "~{n}"
	bad     bool // "{12a}", "{}" or a size beyond 63 bits
}

// literalHeader finds a literal header ending line. A brace pair that does
// not start with a digit (such as "{abc}") is not a literal: it is left to
// the parser to refuse.
func literalHeader(line []byte) literal {
	n := len(line)
	if n == 0 || line[n-1] != '}' {
		return literal{}
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return literal{}
	}
	l := literal{found: true, binary: i > 0 && line[i-1] == '~'}
	digits := line[i+1 : n-1]
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		l.nonSync = true
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		l.bad = true
		return l
	}
	if digits[0] < '0' || digits[0] > '9' {
		if l.nonSync {
			l.bad = true // "{x+}": some data will come
			return l
		}
		return literal{}
	}
	var size uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			l.bad = true
			return l
		}
		size = size*10 + uint64(c-'0')
		if size > math.MaxInt64 {
			l.bad = true
			return l
		}
	}
	l.size = int64(size)
	return l
}

// tagOf returns the tag a line starts with, or "" if it has none.
func tagOf(line []byte) string {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return ""
	}
	for _, c := range line[:i] {
		if !isTagChar(c) {
			return ""
		}
	}
	return string(line[:i])
}

// isAppend reports whether a command's first line is "tag SP APPEND SP".
func isAppend(line []byte) bool {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return false
	}
	rest := line[i+1:]
	return len(rest) > 7 && rest[6] == ' ' && bytes.EqualFold(rest[:6], []byte("APPEND"))
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
