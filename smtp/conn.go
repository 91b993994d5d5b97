package smtp

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Replies at connect, before go-smtp sees the connection (RFC 5321 §3.8:
// a server may answer 421 and close instead of the greeting).
var (
	errConnsPerIP = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "too many connections from your address"}
	errBusy = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 3, 2},
		Message: "too busy, try again later"}
)

// connLimits counts open SMTP connections, per remote IP and in total, over
// every listener of one Server.
type connLimits struct {
	maxPerIP, maxTotal int // immutable

	mu    sync.Mutex
	total int            // guarded by mu
	perIP map[string]int // guarded by mu
}

func newConnLimits(perIP, total int) *connLimits {
	return &connLimits{maxPerIP: perIP, maxTotal: total, perIP: map[string]int{}}
}

// acquire takes a slot for ip, or returns the reply that refuses it.
func (l *connLimits) acquire(ip string) *gosmtp.SMTPError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] >= l.maxPerIP {
		return errConnsPerIP
	}
	if l.total >= l.maxTotal {
		return errBusy
	}
	l.perIP[ip]++
	l.total++
	return nil
}

func (l *connLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// open returns the number of open connections (tests).
func (l *connLimits) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// maxRefusing bounds the goroutines that write a refusal at connect, so a
// flood of connections costs a bounded amount of memory; past it a
// connection is closed without a reply.
const maxRefusing = 32

// limitListener admits a connection only within the connection caps and
// wraps it in an smtpConn. It lies below TLS: go-smtp type-asserts
// *tls.Conn (for AUTH and TLS state).
type limitListener struct {
	net.Listener
	srv  *Server
	kind string
	tls  *tls.Config // non-nil on the implicit-TLS listener: a refusal is sent inside TLS
}

// Accept returns the next admitted connection. A refused one is answered
// (in its own goroutine) and Accept goes on, since an error would stop
// go-smtp's accept loop or make it back off.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		if serr := l.srv.conns.acquire(ip); serr != nil {
			l.srv.refuseConn(c, serr, l.tls, l.kind, ip)
			continue
		}
		l.srv.metrics.session(l.kind)
		return &smtpConn{Conn: c, srv: l.srv, ip: ip, tls: l.tls != nil}, nil
	}
}

// refuseConn answers a connection over the caps with serr and closes it.
func (s *Server) refuseConn(c net.Conn, serr *gosmtp.SMTPError, tlsCfg *tls.Config, kind, ip string) {
	// Debug: a flood of connections must not become a flood of log lines.
	s.log.Debug("connection refused", "listener", kind, "remote", c.RemoteAddr().String(),
		"reason", fmt.Sprintf("%d %d.%d.%d", serr.Code, serr.EnhancedCode[0], serr.EnhancedCode[1], serr.EnhancedCode[2]))
	select {
	case s.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	go func() {
		defer func() { <-s.refusing }()
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		w := c
		if tlsCfg != nil {
			tc := tls.Server(c, tlsCfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			w = tc
		}
		fmt.Fprintf(w, "%d %d.%d.%d %s\r\n", serr.Code, serr.EnhancedCode[0], serr.EnhancedCode[1], serr.EnhancedCode[2], serr.Message)
	}()
}

func hostOf(a net.Addr) string {
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// connection phases, for what smtpConn.Read allows.
const (
	phaseCommand = iota // waiting for command lines: at most MaxCommandBytes without a reply
	phaseData           // inside DATA: go-smtp's reader keeps no line in memory, so lines may be long
	phaseChunks         // inside a BDAT transaction: chunk bytes are credited as Data consumes them
)

const (
	// chunkSlack is what BDAT may read ahead of Data: io.Copy's 32 KiB
	// buffer, bufio's 4 KiB and a TLS record.
	chunkSlack = 64 << 10
	// commandBytesNoProgress bounds what a client may send between
	// session events (EHLO, MAIL, RCPT, RSET, DATA, AUTH): a reply (which
	// resets the per-line count) can also be forced by TLS alone, e.g. by
	// KeyUpdate requests, so this keeps a single command line bounded.
	commandBytesNoProgress = 1 << 20
)

// smtpConn is one admitted connection, below TLS when there is TLS. It
// sets the read deadline before every Read (go-smtp's ReadTimeout is set
// once per command line and not refreshed inside DATA, so a long DATA
// would fail mid-stream), bounds what a client may send without getting a reply
// (go-smtp's MaxLineLength would also cut DATA lines, and mid-DATA that
// loses the stream: the client never sees a reply), counts the client's
// errors, and closes after a final reply.
type smtpConn struct {
	net.Conn
	srv     *Server   // immutable
	ip      string    // immutable
	release sync.Once // the connection slot

	mu          sync.Mutex
	phase       int   // guarded by mu
	endAtWrite  bool  // guarded by mu: back to phaseCommand at the next write (the DATA reply)
	unanswered  int64 // guarded by mu: bytes read since the last write
	credited    int64 // guarded by mu: message bytes Data consumed since the last write
	noProgress  int64 // guarded by mu: bytes read since the last session event
	closeAtNext bool  // guarded by mu: close after the next write
	failed      error // guarded by mu: sticky read error
	tls         bool  // guarded by mu: TLS runs above (implicit, or after STARTTLS's 220)
	writes      int   // guarded by mu
	errs        int   // guarded by mu: client errors (refusals) not followed by an accepted message
}

// connOf finds the smtpConn under a go-smtp connection (below TLS if any).
// It is nil when the listener was not ours.
func connOf(c *gosmtp.Conn) *smtpConn {
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, _ := nc.(*smtpConn)
	return sc
}

func (c *smtpConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if err := c.failed; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	d := c.srv.cfg.IdleTimeout
	if c.phase != phaseCommand {
		d = c.srv.cfg.DataTimeout
	}
	c.mu.Unlock()
	c.Conn.SetReadDeadline(time.Now().Add(d))
	n, err := c.Conn.Read(b)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.unanswered += int64(n)
	if c.phase == phaseCommand {
		c.noProgress += int64(n)
	}
	var ne net.Error
	switch {
	case c.overLocked():
		c.srv.log.Info("client sent too much without a reply", "remote", c.RemoteAddr().String(),
			"bytes", c.unanswered, "phase", c.phase)
		c.failed = gosmtp.ErrTooLongLine // go-smtp answers "500 5.4.0 Too long line" and closes
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		c.failed = err // go-smtp answers "421 4.4.2 Idle timeout"; a drain must not wait again
	default:
		return n, err
	}
	if c.phase == phaseCommand && !c.tls {
		// bufio hands a partial line to net/textproto as a whole line
		// when the next read fails, and go-smtp would run it. Filling
		// bufio's buffer (no LF) makes it a line prefix instead, so the
		// failure comes next and the cut command is never run. Under TLS
		// this cannot be done (the bytes are records); the session
		// refuses a cut command there (smtpConn.cut).
		for i := range b {
			b[i] = 'x'
		}
		return len(b), nil
	}
	return 0, c.failed
}

// overLocked reports whether the client has sent more than its phase
// allows without a reply.
func (c *smtpConn) overLocked() bool {
	cfg := &c.srv.cfg
	switch c.phase {
	case phaseData:
		// The message, its dot-stuffing, TLS records, and what go-smtp
		// drains after a refusal; only an endless stream reaches this.
		return c.unanswered > 2*cfg.MaxMessageBytes+int64(cfg.MaxCommandBytes)
	case phaseChunks:
		// TLS record overhead grows with the chunk: allow 1/16 of it.
		return c.unanswered-c.credited > int64(cfg.MaxCommandBytes)+chunkSlack+c.credited/16
	}
	return c.unanswered > int64(cfg.MaxCommandBytes) || c.noProgress > commandBytesNoProgress
}

func (c *smtpConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	if c.writes > 0 && !c.tls && bytes.HasPrefix(b, []byte("220 ")) {
		c.tls = true // only STARTTLS answers 220 after the greeting (RFC 3207 §4)
	}
	c.writes++
	c.unanswered, c.credited = 0, 0
	if c.endAtWrite {
		c.phase, c.endAtWrite = phaseCommand, false
	}
	closeNow := c.closeAtNext
	c.mu.Unlock()
	if closeNow {
		c.Conn.Close()
	}
	return n, err
}

func (c *smtpConn) Close() error {
	c.release.Do(func() { c.srv.conns.release(c.ip) })
	return c.Conn.Close()
}

// The methods below are called by the session; c may be nil.

var errCutLine = &gosmtp.SMTPError{Code: 500, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2},
	Message: "command line cut short (too long, or the client stopped), not run"}

// cut refuses a command go-smtp read after the connection failed: under
// TLS a line cut by the limit or a timeout reaches it as a whole line.
func (c *smtpConn) cut() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return errCutLine
	}
	return nil
}

// progress records a session event (see commandBytesNoProgress).
func (c *smtpConn) progress() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.noProgress = 0
	c.mu.Unlock()
}

// beginData enters DATA (chunked: BDAT) for the read limits and timeouts.
func (c *smtpConn) beginData(chunked bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.phase, c.endAtWrite, c.noProgress = phaseData, false, 0
	if chunked {
		c.phase = phaseChunks
	}
	c.mu.Unlock()
}

// endData returns to command limits once the reply to DATA is written:
// go-smtp drains what Data left unread before it writes the reply.
func (c *smtpConn) endData() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.endAtWrite = true
	c.mu.Unlock()
}

// consumed credits n message bytes that Data read in a BDAT transaction.
func (c *smtpConn) consumed(n int) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.credited += int64(n)
	c.mu.Unlock()
}

// closeAfterReply closes the connection once the next reply is written.
func (c *smtpConn) closeAfterReply() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closeAtNext = true
	c.mu.Unlock()
}

// clientError counts one refusal and returns the count so far.
func (c *smtpConn) clientError() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs++
	return c.errs
}

// accepted forgives the errors so far: a peer that delivers mail is not
// guessing (Postfix's smtpd_hard_error_limit counts errors "without
// delivering mail").
func (c *smtpConn) accepted() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.errs = 0
	c.mu.Unlock()
}

var errTooManyErrors = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
	Message: "too many errors in this session, closing connection"}

// counted passes a session method's reply through, counting a refusal
// against MaxErrors; the refusal that reaches it is answered 421 4.7.0 and
// the connection closes after that reply (RFC 5321 §3.8).
func (s *session) counted(err error) error {
	s.sc.progress()
	se, ok := err.(*gosmtp.SMTPError)
	if !ok || se == nil || se.Code < 400 || se.Code == 421 {
		return err
	}
	if se.Code/100 == 4 && se.EnhancedCode[1] == 3 {
		return err // 4.3.x: our own trouble (internal error, resources), not the client's
	}
	n := s.sc.clientError()
	if n < s.srv.cfg.MaxErrors {
		return err
	}
	s.sc.closeAfterReply()
	s.logger().Info("session closed", "reason", "too_many_errors", "errors", n, "err", se.Error())
	return errTooManyErrors
}
