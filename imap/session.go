package imap

import (
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// state is a connection state of RFC 9051 §3, as a bit for the dispatch
// table.
type state uint8

const (
	stNotAuth state = 1 << iota
	stAuth
	stSelected
)

// session is one IMAP connection. Its goroutine reads a command, runs it
// and writes every response; no other goroutine writes to the client.
// Other goroutines only wake it (wake) or ask it to end (endSession).
type session struct {
	srv *Server
	id  string
	ip  string
	log *slog.Logger

	raw    net.Conn // the accepted connection (immutable: deadlines and Close from other goroutines)
	nc     net.Conn // the connection as it reads and writes now (TLS once started)
	br     *wire.Reader
	bw     *bufio.Writer
	enc    *wire.Encoder
	fw     *deflater // COMPRESS=DEFLATE; nil when off
	isTLS  bool
	logout bool

	// Extensions the client enabled (RFC 5161 ENABLE, or implied).
	utf8, condstore, qresync bool

	actor     delegation.ID // authenticated user; "" before login
	owner     delegation.ID // personal namespace owner (actor, or the owner of a delegate login)
	ownerAddr string

	sel *selected // nil unless a mailbox is selected

	tag     string // the running command's tag
	cmdName string // the running command's name ("UID FETCH")
	okCode  string // the running command's tagged OK code ("" for none)
	okText  string
	abuse   int // consecutive refused command lines

	wakeCh    chan struct{} // buffered 1: something changed (directory, another node)
	endMu     sync.Mutex
	endReason string // guarded by endMu: the session must end with this BYE
	killed    atomic.Bool
}

// Replies. Each protocol has one place that writes client text: the
// execute funnel, from these errors.
var (
	// errNoMailbox is the one answer for a folder that does not exist or
	// that the user may not open (RFC 5530 NONEXISTENT).
	errNoMailbox = errNo(goimap.ResponseCodeNonExistent, "no such mailbox")
	// errTryCreate answers APPEND/COPY/MOVE to such a folder (RFC 9051 §6.3.12).
	errTryCreate = errNo(goimap.ResponseCodeTryCreate, "no such mailbox")
	// errCannotCreate answers CREATE/RENAME into a place no folder can be
	// made: the Other Users root, an owner node, or an owner the user may
	// not open, whichever it is.
	errCannotCreate = errNo(goimap.ResponseCodeNoPerm, "cannot create a mailbox there")
	errReadOnly     = errNo(goimap.ResponseCodeCannot, "mailbox is read-only (EXAMINE)")
	errThrottled    = errNo(goimap.ResponseCodeUnavailable, "too many failed logins, try again later")
	errAuthFailed   = errNo(goimap.ResponseCodeAuthenticationFailed, "Authentication failed")
	// A full disk or a refused write (storage.ErrNoSpace, ErrUnavailable):
	// temporary, nothing was stored (RFC 5530 UNAVAILABLE).
	errNoSpace     = errNo(goimap.ResponseCodeUnavailable, "insufficient storage on the server, try again later")
	errUnavailable = errNo(goimap.ResponseCodeUnavailable, "mail storage temporarily unavailable, try again later")
)

func errNo(code goimap.ResponseCode, text string) *goimap.Error {
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: code, Text: text}
}

func errBad(code goimap.ResponseCode, text string) *goimap.Error {
	return &goimap.Error{Type: goimap.StatusResponseTypeBad, Code: code, Text: text}
}

// errBye ends the connection after its BYE.
type errBye struct{ text string }

func (e *errBye) Error() string { return e.text }

func (s *Server) handle(nc net.Conn, implicitTLS bool) {
	id := fmt.Sprintf("i%x", s.nextID.Add(1))
	remote := nc.RemoteAddr().String()
	ip := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		ip = h
	}
	c := &session{
		srv: s, id: id, ip: ip, raw: nc, nc: nc, wakeCh: make(chan struct{}, 1),
		log: s.log.With("proto", "imap", "session", id, "remote", remote),
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(2 * time.Minute)
	}
	if !s.admit(c) {
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(nc, "* BYE [UNAVAILABLE] too many connections from your address\r\n")
		nc.Close()
		c.log.Info("connection refused", "reason", "too many connections")
		return
	}
	s.metrics.sessionStart()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic", "err", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		c.unselect()
		c.nc.Close()
		s.leave(c)
		s.metrics.sessionEnd()
		c.log.Debug("closed")
	}()
	if implicitTLS && !c.startTLS() {
		return
	}
	c.bw = bufio.NewWriterSize(c.nc, 32<<10)
	c.enc = wire.NewEncoder(c.bw)
	c.br = wire.NewReader(c.nc, wire.Limits{MaxLine: s.cfg.MaxLine, MaxAppend: int64(s.cfg.AppendLimit)}, c.continuation)
	c.log.Debug("connected")
	c.enc.Status("*", "OK", "CAPABILITY "+c.capabilities(), "mailgate IMAP4rev2 server ready")
	if c.flush() != nil {
		return
	}
	c.serve()
}

func (c *session) continuation() error {
	c.enc.RawString("+ ready for literal data\r\n")
	return c.flush()
}

// flush sends what is buffered (through the compressor, if on).
func (c *session) flush() error {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Minute))
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if c.fw != nil && c.fw.dirty {
		// A sync flush only when something was compressed: an empty one
		// right after the tagged OK of COMPRESS would reach the client in
		// the same read as that OK (mbsync then stalls).
		c.fw.dirty = false
		if err := c.fw.Flush(); err != nil {
			return err
		}
	}
	return c.enc.Err()
}

func (c *session) serve() {
	for !c.logout {
		if reason := c.ending(); reason != "" {
			c.bye(reason)
			return
		}
		timeout := c.srv.cfg.PreAuthTimeout
		if c.actor != "" {
			timeout = c.srv.cfg.IdleTimeout
		}
		c.nc.SetReadDeadline(time.Now().Add(timeout))
		raw, err := c.br.ReadCommand()
		if reason := c.ending(); reason != "" {
			c.bye(reason)
			return
		}
		if err != nil {
			var re *wire.ReadError
			if !errors.As(err, &re) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					c.bye("autologout: idle for too long")
				}
				return
			}
			if !c.refused(re) {
				return
			}
			continue
		}
		c.execute(raw)
		if c.flush() != nil || c.killed.Load() {
			return
		}
	}
}

// refused answers a command the reader refused; false ends the connection.
func (c *session) refused(re *wire.ReadError) bool {
	tag := re.Tag
	if tag == "" {
		tag = "*"
	}
	c.abuse++
	if re.Fatal || c.abuse > maxAbuse {
		c.log.Info("connection closed", "reason", re.Msg)
		c.bye(re.Msg)
		return false
	}
	switch re.Kind {
	case wire.ErrAppendTooBig:
		c.enc.Status(tag, "NO", "TOOBIG", re.Msg)
	default:
		c.enc.Status(tag, "BAD", "CLIENTBUG", re.Msg)
	}
	return c.flush() == nil
}

// maxAbuse is how many refused command lines in a row (over-long, bad
// literals, no tag, unknown commands) a connection gets before BYE.
const maxAbuse = 5

// badLine answers a line that is no command with BAD, and ends the
// connection when that happens more than maxAbuse times in a row.
func (c *session) badLine(tag, text string) {
	c.abuse++
	if c.abuse > maxAbuse {
		c.log.Info("connection closed", "reason", "too many bad commands")
		c.bye("too many bad commands")
		return
	}
	c.enc.Status(tag, "BAD", "CLIENTBUG", text)
}

func (c *session) bye(text string) {
	c.enc.Status("*", "BYE", "", text)
	c.flush()
	c.logout = true
}

func (c *session) state() state {
	switch {
	case c.actor == "":
		return stNotAuth
	case c.sel != nil:
		return stSelected
	}
	return stAuth
}

// execute runs one command: parse its name, check the state, the session
// and the selected folder's right (once, here, for every command), run the
// handler, push pending updates, and answer with the tagged status.
func (c *session) execute(raw []byte) {
	p := wire.NewParser(raw)
	p.UTF8 = true // mailbox names arrive raw: the resolver decodes them (an invalid name is NO, not BAD)
	tag, err := p.Tag()
	if err != nil {
		c.badLine("*", "missing or invalid tag")
		return
	}
	c.tag, c.okCode, c.okText = tag, "", ""
	name, err := c.commandName(p)
	if err != nil {
		c.badLine(tag, "missing or invalid command name")
		return
	}
	cmd := commands[name]
	if cmd == nil {
		c.badLine(tag, "unknown command "+oneLine(name))
		return
	}
	c.abuse = 0
	c.cmdName = name
	st := c.state()
	if cmd.states&st == 0 {
		text := "command not valid in this state"
		switch {
		case st == stNotAuth:
			text = "log in first"
		case cmd.states == stSelected:
			text = "no mailbox selected"
		case cmd.states == stNotAuth:
			text = "already logged in"
		}
		c.enc.Status(tag, "BAD", "CLIENTBUG", text)
		return
	}
	start := time.Now()
	err = c.precheck(cmd)
	if err == nil {
		err = cmd.fn(c, p)
	}
	c.srv.metrics.observe(cmd.metric, start, &err)
	if c.logout && err == nil {
		c.enc.Status(tag, "OK", "", name+" completed")
		return
	}
	if c.sel != nil && !cmd.noUpdates {
		c.poll(!cmd.noExpunge)
	}
	c.answer(name, err)
}

// commandName reads the command name, and the sub-command of UID.
func (c *session) commandName(p *wire.Parser) (string, error) {
	if err := p.SP(); err != nil {
		return "", err
	}
	name, err := p.Atom()
	if err != nil {
		return "", err
	}
	name = strings.ToUpper(name)
	if name == "UID" {
		if err := p.SP(); err != nil {
			return "", err
		}
		sub, err := p.Atom()
		if err != nil {
			return "", err
		}
		name += " " + strings.ToUpper(sub)
	}
	if !p.AtEnd() {
		if p.Peek() != ' ' {
			return "", errors.New("bad command name")
		}
	}
	return name, nil
}

// precheck is the per-command rights check: the session itself is still
// allowed (a delegate login whose right is gone, a removed user), and a
// selected folder of another principal is still open to the actor.
func (c *session) precheck(cmd *command) error {
	if c.actor == "" {
		return nil
	}
	if err := c.checkSession(); err != nil {
		return err
	}
	if cmd.states == stSelected && c.sel != nil {
		if dc := c.access(c.sel); !dc.Allowed {
			return errNo(goimap.ResponseCodeNoPerm, lostAccess("this mailbox", dc)+": select another mailbox")
		}
	}
	return nil
}

// answer writes the tagged status for err.
func (c *session) answer(name string, err error) {
	if err == nil {
		text := c.okText
		if text == "" {
			text = name + " completed"
		}
		c.enc.Status(c.tag, "OK", c.okCode, text)
		return
	}
	if errors.Is(err, errHandled) {
		return
	}
	var bye *errBye
	if errors.As(err, &bye) {
		c.bye(bye.text)
		return
	}
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		c.enc.Status(c.tag, "BAD", "CLIENTBUG", name+": "+se.Msg)
		return
	}
	ie := c.reply(err)
	code := string(ie.Code)
	typ := string(ie.Type)
	if typ == "" {
		typ = "NO"
	}
	c.enc.Status(c.tag, typ, code, ie.Text)
}

// reply turns a backend error into the client's answer: *imap.Error
// passes, storage kinds map to codes (a full disk or a refused write to
// NO [UNAVAILABLE], never [SERVERBUG]), and anything else is logged and
// answered with a generic text naming the session.
func (c *session) reply(err error) *goimap.Error {
	var ie *goimap.Error
	if errors.As(err, &ie) {
		return ie
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errNoMailbox
	case errors.Is(err, storage.ErrExists):
		return errNo(goimap.ResponseCodeAlreadyExists, "mailbox already exists")
	case errors.Is(err, storage.ErrHasChildren):
		return errNo(goimap.ResponseCodeHasChildren, "mailbox has subfolders: delete them first")
	case errors.Is(err, storage.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, storage.ErrLimit):
		return errNo(goimap.ResponseCodeLimit, oneLine(err.Error()))
	case errors.Is(err, storage.ErrInvalid):
		return errNo(goimap.ResponseCodeCannot, oneLine(err.Error()))
	case errors.Is(err, storage.ErrNoSpace):
		c.log.Warn("refused: storage full", "err", err)
		return errNoSpace
	case errors.Is(err, storage.ErrUnavailable):
		c.log.Warn("refused: storage unavailable", "err", err)
		return errUnavailable
	}
	c.log.Error("internal error", "err", err)
	return errNo(goimap.ResponseCodeServerBug, "internal error, try again later (session "+c.id+")")
}

// oneLine keeps client text on one line (no CR/LF injection).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r < ' ' {
			return ' '
		}
		return r
	}, s)
}

func (c *session) now() time.Time { return c.srv.now() }

// wake tells the session's goroutine to re-check (IDLE waits on it).
func (c *session) wake() {
	select {
	case c.wakeCh <- struct{}{}:
	default:
	}
}

// endSession asks the session to end with BYE at its next step (now, if
// it is waiting in IDLE).
func (c *session) endSession(reason string) {
	c.endMu.Lock()
	if c.endReason == "" {
		c.endReason = reason
	}
	c.endMu.Unlock()
	c.wake()
	// A session blocked reading its next command is woken by a deadline.
	c.raw.SetReadDeadline(time.Now())
}

func (c *session) ending() string {
	c.endMu.Lock()
	defer c.endMu.Unlock()
	return c.endReason
}

// kill closes the connection at once (server shutdown).
func (c *session) kill() {
	c.killed.Store(true)
	c.raw.Close()
}

// deflater is the COMPRESS=DEFLATE stream (RFC 4978); dirty says whether
// it holds data not yet sync-flushed.
type deflater struct {
	*flate.Writer
	dirty bool
}

func (d *deflater) Write(p []byte) (int, error) {
	d.dirty = d.dirty || len(p) > 0
	return d.Writer.Write(p)
}
