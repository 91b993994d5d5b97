package smtp

import (
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

var (
	_ gosmtp.Backend     = (*backend)(nil)
	_ gosmtp.Session     = (*session)(nil)
	_ gosmtp.AuthSession = (*authSession)(nil)
	_ gosmtp.AuthSession = countedAuthSession{}
)

// backend makes one session per EHLO on one listener.
type backend struct {
	srv        *Server
	kind       string // lnSubmission, lnSubmissions, lnMX
	submission bool
}

// NewSession runs at EHLO/HELO (go-smtp), and again after STARTTLS.
func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	remote := c.Conn().RemoteAddr().String()
	ip := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		ip = h
	}
	_, tls := c.TLSConnectionState()
	sc := connOf(c)
	sc.progress()
	s := &session{
		srv: b.srv, conn: c, sc: sc, kind: b.kind, submission: b.submission,
		id: newID(8), remote: remote, remoteIP: ip, helo: safeHost(c.Hostname()), tls: tls,
		start: b.srv.now(),
	}
	s.log = b.srv.log.With("session", s.id, "listener", b.kind, "remote", remote)
	if b.submission {
		return countedAuthSession{&authSession{s}}, nil
	}
	return s, nil
}

// session is one SMTP session (from EHLO to QUIT, RSET-able). go-smtp may
// call Reset and Logout while Data runs (BDAT feeds Data from a pipe), so
// the transaction state is guarded by mu and Data works on a copy.
type session struct {
	srv        *Server
	conn       *gosmtp.Conn
	sc         *smtpConn // may be nil (not our listener); counts errors, limits reads
	kind       string
	submission bool
	id         string // immutable: session ID, in logs and in internal-error replies
	remote     string // immutable
	remoteIP   string // immutable
	helo       string // immutable, sanitised
	tls        bool   // immutable
	start      time.Time

	mu        sync.Mutex
	log       *slog.Logger  // guarded by mu (gets "user" after AUTH)
	actor     delegation.ID // guarded by mu; "" until AUTH succeeds
	actorAddr string        // guarded by mu
	tx        transaction   // guarded by mu
	accepted  int           // guarded by mu
	refused   int           // guarded by mu
}

// transaction is one MAIL..DATA exchange.
type transaction struct {
	active bool
	from   string          // envelope sender, "" for <>
	local  []delegation.ID // local recipients as addressed (groups expand at DATA)
	relay  []string        // recipients in other domains, normalised
}

func (s *session) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

// Mail handles MAIL FROM; a refusal counts against MaxErrors.
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if err := s.sc.cut(); err != nil {
		return err
	}
	return s.counted(s.mail(from, opts))
}

// Rcpt handles RCPT TO; a refusal counts against MaxErrors.
func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if err := s.sc.cut(); err != nil {
		return err
	}
	return s.counted(s.rcpt(to, opts))
}

// mail: on submission the envelope sender must be an address the actor
// may use (its own, or one it may send as or on behalf of), or <>.
func (s *session) mail(from string, _ *gosmtp.MailOptions) error {
	s.mu.Lock()
	actor := s.actor
	s.mu.Unlock()
	if s.submission && actor == "" {
		return errAuthRequired
	}
	norm := ""
	if from != "" {
		var err error
		if norm, err = delegation.NormalizeAddress(from); err != nil {
			return syntaxError("invalid sender address")
		}
	}
	if s.submission && norm != "" {
		dc := s.srv.st.Directory().Send(actor, norm, s.srv.now())
		if !dc.Allowed {
			serr := refusal("use envelope sender", dc)
			s.refuse(actor, "", dc, serr, "envelope sender")
			return serr
		}
	}
	s.mu.Lock()
	s.tx = transaction{active: true, from: norm}
	s.mu.Unlock()
	return nil
}

// rcpt: a local address must exist (groups are accepted and expanded at
// DATA); another domain needs the relay on submission and is refused on
// the MX.
func (s *session) rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.mu.Lock()
	active := s.tx.active
	s.mu.Unlock()
	if !active {
		return errNeedMail
	}
	norm, err := delegation.NormalizeAddress(to)
	if err != nil {
		return syntaxError("invalid recipient address")
	}
	dir := s.srv.st.Directory()
	if dir.IsLocalDomain(delegation.Domain(norm)) {
		p, ok := dir.Lookup(norm)
		if !ok {
			return noSuchUser(norm)
		}
		if p.Kind != delegation.KindGroup {
			if err := s.srv.st.CheckQuota(p.ID, 0); errors.Is(err, storage.ErrOverQuota) {
				s.log.Info("recipient refused", "rcpt", norm, "reason", "over_quota")
				return overQuota(norm, s.submission)
			} else if err != nil {
				return s.reply(err)
			}
		}
		s.mu.Lock()
		if !slices.Contains(s.tx.local, p.ID) {
			s.tx.local = append(s.tx.local, p.ID)
		}
		s.mu.Unlock()
		return nil
	}
	if !s.submission {
		return errRelayDenied
	}
	if s.srv.cfg.RelayHost == "" {
		return errNoRelay
	}
	s.mu.Lock()
	if !slices.Contains(s.tx.relay, norm) {
		s.tx.relay = append(s.tx.relay, norm)
	}
	s.mu.Unlock()
	return nil
}

// Reset ends the transaction (RSET, or a new EHLO).
func (s *session) Reset() {
	s.sc.progress()
	s.mu.Lock()
	s.tx = transaction{}
	s.mu.Unlock()
}

// Logout ends the session (QUIT, disconnect, or STARTTLS, after which
// go-smtp starts a new session).
func (s *session) Logout() error {
	s.mu.Lock()
	log, acc, ref := s.log, s.accepted, s.refused
	s.mu.Unlock()
	log.Info("session end", "tls", s.tls, "accepted", acc, "refused", ref,
		"duration", s.srv.now().Sub(s.start).Round(time.Millisecond))
	return nil
}

// refuse records a refused send: audit (durably), metric and log line.
func (s *session) refuse(actor delegation.ID, msgID string, dc delegation.Decision, serr *gosmtp.SMTPError, detail string) {
	s.mu.Lock()
	s.refused++
	log, actorAddr := s.log, s.actorAddr
	s.mu.Unlock()
	s.srv.metrics.submission(KindRefused)
	rec := s.sendRecord(storage.Party{Address: actorAddr, ID: actor}, dc, msgID)
	rec.Detail = detail
	s.auditAlone(rec)
	log.Info("message refused", "owner", dc.Address, "decision", KindRefused, // actor is on the session logger
		"reason", string(dc.Reason), "grant", dc.GrantID, "msg_id", msgID,
		"err", serr.Error())
}

// auditBadHeader records a submission refused for its header (550 5.6.0:
// no From, several, one that does not parse): no right was decided, but an
// administrator asking who tried to send as a mailbox must see the
// attempt. The mailbox is the From address when one can be read.
func (s *session) auditBadHeader(actor delegation.ID, h textproto.Header, serr *gosmtp.SMTPError) {
	var mailbox storage.Party
	if list, err := addressParser.ParseList(h.Get("From")); err == nil && len(list) > 0 {
		if norm, err := delegation.NormalizeAddress(list[0].Address); err == nil {
			mailbox.Address = norm
			if p, ok := s.srv.st.Directory().Lookup(norm); ok {
				mailbox.ID = p.ID
			}
		}
	}
	s.mu.Lock()
	actorAddr := s.actorAddr
	s.mu.Unlock()
	rec := s.auditRecord("send", storage.Party{Address: actorAddr, ID: actor}, mailbox, delegation.Decision{Reason: "bad_header"})
	rec.MessageID, rec.Detail = messageID(h), clean(shorten(serr.Message, 200))
	s.auditAlone(rec)
}

// auditRecord is the session's audit record of an action of actor's on
// mailbox's (storage.NewAuditRecord, stamped by the server's clock, with the
// client's address).
func (s *session) auditRecord(action string, actor, mailbox storage.Party, dc delegation.Decision) storage.AuditRecord {
	rec := storage.NewAuditRecord(s.srv.st.Directory(), "smtp", action, actor, mailbox, dc)
	rec.Time, rec.Remote = s.srv.now().UTC(), s.remoteIP
	return rec
}

// sendRecord is the audit record of one send decision.
func (s *session) sendRecord(actor storage.Party, dc delegation.Decision, msgID string) storage.AuditRecord {
	rec := s.auditRecord("send", actor, storage.Party{Address: dc.Address, ID: dc.Mailbox}, dc)
	rec.MessageID = msgID
	return rec
}

// auditAlone writes a record that goes with no other write (a refusal).
// A failure is logged: the client's answer does not change.
func (s *session) auditAlone(rec storage.AuditRecord) {
	if err := s.srv.st.Audit(rec); err != nil {
		s.logger().Error("audit refusal", "err", err)
	}
}

// authSession is a submission session: it offers AUTH.
type authSession struct{ *session }

// countedAuthSession counts failed AUTH exchanges against MaxErrors.
type countedAuthSession struct{ *authSession }

func (s countedAuthSession) Auth(mech string) (sasl.Server, error) {
	if err := s.sc.cut(); err != nil {
		return nil, err
	}
	srv, err := s.authSession.Auth(mech)
	if err != nil {
		return nil, s.counted(err)
	}
	return countedSASL{srv, s.session}, nil
}

type countedSASL struct {
	sasl.Server
	s *session
}

func (c countedSASL) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := c.Server.Next(response)
	if err != nil {
		err = c.s.counted(err)
	}
	return challenge, done, err
}

// AuthMechanisms offers PLAIN (RFC 4616) and LOGIN (for old clients).
func (s *authSession) AuthMechanisms() []string { return []string{"PLAIN", "LOGIN"} }

func (s *authSession) setActor(id delegation.ID, addr, login string) {
	s.mu.Lock()
	s.actor, s.actorAddr = id, addr
	s.log = s.log.With("user", login, "actor", addr)
	s.mu.Unlock()
}

func (s *authSession) actorAddress(id delegation.ID) string {
	if p, ok := s.srv.st.Directory().Principal(id); ok {
		return p.Address
	}
	return string(id)
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
