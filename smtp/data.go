package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Data receives the message: DATA → spool and scan → parse → delegation →
// rewrite → commit → 250. The reply is sent only after storage.Deliver has
// made the message, its queue entry and its audit records durable.
func (s *session) Data(r io.Reader) error {
	err := s.data(r)
	if err == nil {
		s.sc.accepted()
	}
	return s.counted(err)
}

// Replies to DATA that are not the client's content.
var (
	errDataTimeout = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2},
		Message: "timeout waiting for message data, closing connection"}
	errDataAborted = &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2},
		Message: "message data ended early, closing connection"}
	errNoResources = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1},
		Message: "insufficient system resources, try again later"}
)

// memoryWait is how long a received message may wait for the memory
// budget; the client waits for the reply up to 10 minutes (RFC 5321
// §4.5.3.2.6).
const memoryWait = 2 * time.Minute

func (s *session) data(r io.Reader) error {
	// Until the reply, reads follow DATA's limits, also while go-smtp
	// drains what an early return leaves unread.
	_, chunked := r.(*io.PipeReader)
	s.sc.beginData(chunked)
	defer s.sc.endData()
	if chunked {
		r = creditReader{r, s.sc}
	}
	s.mu.Lock()
	tx, actor, actorAddr, log := s.tx, s.actor, s.actorAddr, s.log
	tx.local, tx.relay = slices.Clone(tx.local), slices.Clone(tx.relay)
	s.mu.Unlock()
	if !tx.active || len(tx.local)+len(tx.relay) == 0 {
		return errNeedMail
	}
	if s.submission && actor == "" {
		return errAuthRequired
	}

	// Stream the message to the spool (memory, then a file) while scanning
	// it, and read it to its end even when it is refused, so the client
	// gets the reply instead of a broken connection.
	sp := &spool{dir: s.srv.cfg.SpoolDir, threshold: s.srv.cfg.SpoolThreshold, count: &s.srv.spooled}
	defer sp.Close()
	sc := newScanner(s.srv.cfg.MaxHeaderBytes)
	if _, err := io.Copy(io.MultiWriter(sc, sp), r); err != nil {
		return s.readError(log, err)
	}
	if serr := sc.err(); serr != nil {
		s.countRefused()
		log.Info("message refused", "decision", KindRefused, "reason", "bad_content", "size", sp.size(), "err", serr.Error())
		return serr
	}

	size := sp.size()
	release, ok := s.srv.memory.acquire(size, memoryWait)
	if !ok {
		log.Warn("message deferred", "reason", "memory_budget", "size", size)
		return errNoResources
	}
	defer release()
	rd, err := sp.reader()
	if err != nil {
		log.Error("spool", "err", err)
		return errNoResources
	}
	cr := &countingReader{r: rd}
	br := bufio.NewReaderSize(cr, 16<<10)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		s.countRefused()
		return headerError("malformed header: %s", shorten(err.Error(), 200))
	}
	bodyLen := size - (cr.n - int64(br.Buffered()))
	now := s.srv.now()
	dir := s.srv.st.Directory()

	d := storage.Delivery{Date: now} // no Origin: no SMTP session listens for its own changes
	kind, msgID := "", ""
	var owners []string
	if s.submission {
		res, serr := Rewrite(RewriteInput{Header: h, Actor: actor, Directory: dir, Now: now, Hostname: s.srv.cfg.Hostname})
		if serr != nil {
			if n := len(res.Decisions); n > 0 && !res.Decisions[n-1].Allowed {
				dc, field := res.Decisions[n-1], "From header"
				if !slices.Contains(res.From, dc.Address) {
					field = "Resent-From header"
				}
				s.refuse(actor, messageID(h), dc, serr, field)
			} else {
				s.countRefused()
				s.srv.metrics.submission(KindRefused)
				log.Info("message refused", "decision", KindRefused, "reason", "bad_header", "err", serr.Error())
				s.auditBadHeader(actor, h, serr)
			}
			return serr
		}
		h, kind, msgID = res.Header, res.Kind, res.MessageID
		for _, dc := range res.Decisions {
			owners = append(owners, dc.Address)
			if dc.Right == 0 {
				continue
			}
			d.Audit = append(d.Audit, s.sendRecord(storage.Party{Address: actorAddr, ID: actor}, dc, msgID))
			if s.wantsSentCopy(dc) {
				d.Targets = append(d.Targets, storage.Target{Owner: dc.Mailbox, Folder: "Sent", Flags: []string{`\Seen`}})
			}
		}
	} else {
		kind, msgID = "inbound", messageID(h)
		markInbound(&h, dir, s.srv.cfg.Hostname)
	}

	d.Targets = append(localTargets(dir, tx.local), d.Targets...)
	if len(tx.relay) > 0 {
		d.Queue = []storage.QueueEntry{{From: tx.from, To: tx.relay, Created: now.UTC(), NextAttempt: now.UTC(),
			MessageID: msgID, Actor: actorAddr}}
	}
	if len(d.Targets) == 0 && len(d.Queue) == 0 {
		// Every local recipient was an empty group: nothing to store.
		log.Info("message accepted", "decision", kind, "msg_id", msgID, "rcpts", 0)
		return nil
	}
	// One allocation of the final size: trace field, header, body.
	var hdr bytes.Buffer
	s.writeReceived(&hdr, now, tx)
	if err := textproto.WriteHeader(&hdr, h); err != nil {
		return s.reply(fmt.Errorf("write header: %w", err))
	}
	d.Message = make([]byte, int64(hdr.Len())+bodyLen)
	n := copy(d.Message, hdr.Bytes())
	if _, err := io.ReadFull(br, d.Message[n:]); err != nil {
		return s.reply(fmt.Errorf("read spooled message: %w", err))
	}

	if _, err := s.srv.st.Deliver(d); err != nil {
		return s.reply(err)
	}
	if len(d.Queue) > 0 {
		s.srv.pokeQueue()
	}
	s.mu.Lock()
	s.accepted++
	s.mu.Unlock()
	if s.submission {
		s.srv.metrics.submission(kind)
	}
	s.srv.metrics.delivered("local", len(d.Targets))
	s.srv.metrics.delivered("queued", len(tx.relay))
	attrs := []any{"decision", kind, "msg_id", msgID, "size", len(d.Message),
		"local", len(d.Targets), "relay", len(tx.relay)}
	if len(owners) > 0 {
		attrs = append(attrs, "owner", strings.Join(owners, ","))
	}
	if len(d.Audit) > 0 {
		attrs = append(attrs, "right", d.Audit[0].Right, "grant", d.Audit[0].GrantID)
	}
	log.Info("message accepted", attrs...)
	return nil
}

// readError answers a DATA that did not arrive whole.
func (s *session) readError(log *slog.Logger, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, gosmtp.ErrDataTooLarge):
		s.countRefused()
		log.Info("message refused", "decision", KindRefused, "reason", "too_large")
		return errTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		log.Info("message refused", "decision", KindRefused, "reason", "timeout")
		s.sc.closeAfterReply()
		return errDataTimeout
	}
	// The client aborted a BDAT transfer (RSET, or go-smtp refused a
	// chunk) and the session goes on, or it went away and nobody reads this.
	log.Info("message refused", "decision", KindRefused, "reason", "aborted", "err", err)
	if !errors.Is(err, gosmtp.ErrDataReset) {
		s.sc.closeAfterReply()
	}
	return errDataAborted
}

// creditReader tells the connection how much of a BDAT transfer Data has
// consumed (smtpConn's chunk phase).
type creditReader struct {
	r  io.Reader
	sc *smtpConn
}

func (c creditReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.sc.consumed(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// shorten cuts client-derived text for a reply line (RFC 5321 §4.5.3.1.5).
func shorten(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}

func (s *session) countRefused() {
	s.mu.Lock()
	s.refused++
	s.mu.Unlock()
}

// wantsSentCopy reports whether the owner asked for a copy of what is sent
// as or on behalf of it (Exchange's MessageCopyForSentAsEnabled and
// MessageCopyForSendOnBehalfEnabled; off by default).
func (s *session) wantsSentCopy(dc delegation.Decision) bool {
	p, err := s.srv.st.Principal(dc.Mailbox)
	if err != nil || p.Kind == delegation.KindGroup {
		return false
	}
	switch dc.Right {
	case delegation.SendAs:
		return p.Settings.CopySentAs
	case delegation.SendOnBehalf:
		return p.Settings.CopySentOnBehalf
	}
	return false
}

// localTargets expands the local recipients (groups to their members,
// nested, deduplicated) into INBOX targets, in order.
func localTargets(dir *delegation.Directory, rcpts []delegation.ID) []storage.Target {
	var out []storage.Target
	seen := map[delegation.ID]bool{}
	for _, id := range rcpts {
		for _, m := range dir.Expand(id) {
			if seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, storage.Target{Owner: m, Folder: "INBOX"})
		}
	}
	return out
}

// writeReceived writes the trace field (RFC 5321 §4.4) with the protocol
// keyword of RFC 3848. Every part is ours or sanitised.
func (s *session) writeReceived(w *bytes.Buffer, now time.Time, tx transaction) {
	with := "ESMTP"
	if s.tls {
		with += "S"
	}
	if s.submission {
		with += "A"
	}
	fmt.Fprintf(w, "Received: from %s ([%s])\r\n\tby %s (mailgate) with %s id %s;\r\n\t%s\r\n",
		s.helo, safeHost(s.remoteIP), s.srv.cfg.Hostname, with, s.id, now.Format(time.RFC1123Z))
}

// messageID returns a header's Message-ID for logs and audit, cleaned.
func messageID(h textproto.Header) string {
	v := strings.TrimSpace(clean(h.Get("Message-Id")))
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	if len(v) > 200 {
		v = v[:200]
	}
	return v
}
