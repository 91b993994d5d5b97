package smtp

import (
	"bytes"
	"fmt"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// bounce returns a delivery status notification (RFC 3464) for the failed
// recipients of e to its envelope sender: into the sender's INBOX when it
// is local, else through the queue with a null sender. A bounce is never
// bounced (e.From == "": RFC 5321 §4.5.5, §6.1). The DSN's commit also
// settles the queue entry (settle); settled is false when no DSN was stored
// and the caller must settle the entry itself.
func (s *Server) bounce(e storage.QueueEntry, orig []byte, failed []rcptResult, expired bool, now time.Time, settle *storage.QueueEntry) (settled bool, err error) {
	if e.From == "" {
		s.log.Warn("bounce of a bounce dropped", "queue_id", e.ID, "msg_id", e.MessageID)
		return false, nil
	}
	msg := s.dsnMessage(e, orig, failed, expired, now)
	d := storage.Delivery{Message: msg, Date: now, Settle: settle}
	dir := s.st.Directory()
	if p, ok := dir.Lookup(e.From); ok {
		d.Targets = localTargets(dir, []delegation.ID{p.ID})
	}
	if len(d.Targets) == 0 {
		if dir.IsLocalDomain(delegation.Domain(e.From)) {
			s.log.Warn("bounce to a vanished local sender dropped", "queue_id", e.ID, "owner", e.From)
			return false, nil
		}
		d.Queue = []storage.QueueEntry{{From: "", To: []string{e.From}, Created: now.UTC(), NextAttempt: now.UTC(),
			MessageID: dsnID(e, s.cfg.Hostname)}}
	}
	if _, err := s.st.Deliver(d); err != nil {
		return false, err
	}
	if len(d.Queue) > 0 {
		s.pokeQueue()
	}
	return true, nil
}

// dsnID is the DSN's Message-ID, derived from the queue entry and attempt,
// so that the report of one attempt always has one ID.
func dsnID(e storage.QueueEntry, host string) string {
	return fmt.Sprintf("dsn-%x-%d@%s", e.ID, e.Attempts, host)
}

// dsnMessage writes the multipart/report (RFC 6522) with a human part, the
// message/delivery-status part (RFC 3464 §2) and the returned header
// (text/rfc822-headers). Every variable part is ours or cleaned.
func (s *Server) dsnMessage(e storage.QueueEntry, orig []byte, failed []rcptResult, expired bool, now time.Time) []byte {
	host := s.cfg.Hostname
	boundary := "=_mailgate_" + newID(12)
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host)
	w("To: <%s>\r\n", e.From)
	w("Subject: Undelivered Mail Returned to Sender\r\n")
	w("Date: %s\r\n", now.Format(time.RFC1123Z))
	w("Message-ID: <%s>\r\n", dsnID(e, host))
	w("Auto-Submitted: auto-replied\r\n") // RFC 3834 §5
	w("MIME-Version: 1.0\r\n")
	w("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)

	w("--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary)
	w("This is the mail system at %s.\r\n\r\n", host)
	if id := ascii(e.MessageID); id != "" {
		w("Your message <%s> could not be delivered to the recipients below.\r\n", id)
	} else {
		w("Your message could not be delivered to the recipients below.\r\n")
	}
	if expired {
		w("It could not be handed on within %s; the mail system gave up.\r\n", s.cfg.RelayGiveUp)
	}
	w("\r\n")
	for _, f := range failed {
		_, diag := diagnostic(f.err)
		w("<%s>: %s\r\n", f.rcpt, diag)
	}
	w("\r\n--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	w("Reporting-MTA: dns; %s\r\n", host)
	w("Arrival-Date: %s\r\n", e.Created.Format(time.RFC1123Z))
	for _, f := range failed {
		status, diag := diagnostic(f.err)
		if expired && !permanent(f.err) {
			status = "4.4.7" // RFC 3463: delivery time expired
		}
		w("\r\nFinal-Recipient: rfc822; %s\r\n", f.rcpt)
		w("Action: failed\r\nStatus: %s\r\n", status)
		if s.cfg.RelayHost != "" {
			if h := safeHost(hostOnly(s.cfg.RelayHost)); h != "" {
				w("Remote-MTA: dns; %s\r\n", h)
			}
		}
		w("Diagnostic-Code: %s\r\n", diag)
		w("Last-Attempt-Date: %s\r\n", now.Format(time.RFC1123Z))
	}
	w("\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(bytes.TrimRight(headerOf(orig), "\r\n"))
	w("\r\n\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

func hostOnly(hostport string) string {
	h := hostport
	if i := bytes.LastIndexByte([]byte(hostport), ':'); i >= 0 {
		h = hostport[:i]
	}
	return h
}

// headerOf returns the header block of a stored message.
func headerOf(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2]
	}
	return msg
}
