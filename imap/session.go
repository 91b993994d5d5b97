package imap

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// session is one IMAP connection. imapserver runs its commands one at a
// time, except Idle, which runs in a goroutine while the connection waits
// for DONE; Idle touches only sel (set before it starts) and the tracker.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	id     string
	remote string
	ip     string
	log    *slog.Logger

	actor     delegation.ID // authenticated user; "" before login
	actorAddr string
	owner     delegation.ID // personal namespace owner (actor, or the owner of a delegate login)
	ownerAddr string

	sel *selected // nil unless a mailbox is selected
}

var (
	_ imapserver.Session            = (*session)(nil)
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
)

// Replies. Each protocol has one place that writes client text: here.
var (
	// errNoMailbox is the one answer for a folder that does not exist or
	// that the user may not open (RFC 5530 NONEXISTENT).
	errNoMailbox = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNonExistent, Text: "no such mailbox"}
	// errTryCreate answers APPEND/COPY/MOVE to such a folder (RFC 3501 §6.3.11).
	errTryCreate = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeTryCreate, Text: "no such mailbox"}
	// errCannotCreate answers CREATE/RENAME into a place no folder can be
	// made: the Other Users root, an owner node, or an owner the user may
	// not open, whichever it is.
	errCannotCreate = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNoPerm, Text: "cannot create a mailbox there"}
	errReadOnly     = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "mailbox is read-only (EXAMINE)"}
	errNoSelection  = &goimap.Error{Type: goimap.StatusResponseTypeBad, Code: goimap.ResponseCodeClientBug, Text: "no mailbox selected"}
	errThrottled    = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeUnavailable, Text: "too many failed logins, try again later"}
)

// reply turns a backend error into the client's answer: *imap.Error
// passes, storage kinds map to codes, and anything else is logged and
// answered with a generic text naming the session.
func (s *session) reply(err error) error {
	if err == nil {
		return nil
	}
	var ie *goimap.Error
	if errors.As(err, &ie) {
		return ie
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return errNoMailbox
	case errors.Is(err, storage.ErrExists):
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeAlreadyExists, Text: "mailbox already exists"}
	case errors.Is(err, storage.ErrHasChildren):
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeHasChildren, Text: "mailbox has subfolders: delete them first"}
	case errors.Is(err, storage.ErrInvalid):
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: oneLine(err.Error())}
	}
	s.log.Error("internal error", "err", err)
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeServerBug,
		Text: "internal error, try again later (session " + s.id + ")"}
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

func (s *session) now() time.Time { return s.srv.now() }

// openFolder resolves a client mailbox name and loads its folder. A name the
// user may not see and a folder that does not exist give the same answer,
// missing (NONEXISTENT or TRYCREATE, depending on the command).
func (s *session) openFolder(name string, missing error) (place, storage.Folder, error) {
	pl, _, ok := s.resolver().resolve(name)
	if !ok {
		return pl, storage.Folder{}, missing
	}
	f, err := s.srv.st.Folder(pl.owner, pl.folder)
	if errors.Is(err, storage.ErrNotFound) {
		return pl, f, missing
	}
	if err != nil {
		return pl, f, s.reply(err)
	}
	return pl, f, nil
}

func (s *session) resolver() resolver {
	return resolver{dir: s.srv.st.Directory(), actor: s.actor, owner: s.owner, now: s.now(), ownerAdr: s.ownerAddr}
}

// Close ends the session (connection closed).
func (s *session) Close() error {
	s.unselect()
	s.srv.metrics.sessionEnd()
	s.log.Debug("closed")
	return nil
}

// Login handles LOGIN user password, where user may be "delegate\owner"
// (Exchange form): the delegate's own password opens the owner's mailbox.
func (s *session) Login(username, password string) (err error) {
	defer s.srv.metrics.observe("login", time.Now(), &err)
	delegate, owner, isDelegate := delegation.SplitLogin(username)
	if !isDelegate {
		owner = ""
	}
	return s.login(owner, delegate, password)
}

// AuthenticateMechanisms offers SASL PLAIN only (RFC 4616).
func (s *session) AuthenticateMechanisms() []string { return []string{sasl.Plain} }

// Authenticate handles AUTHENTICATE PLAIN; an authzid naming another
// mailbox is a delegate login, as is an authcid of the form
// "delegate\owner".
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, sasl.Plain) {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Text: "unsupported SASL mechanism"}
	}
	return sasl.NewPlainServer(func(authzid, authcid, password string) (err error) {
		defer s.srv.metrics.observe("authenticate", time.Now(), &err)
		if authzid == "" {
			if d, o, ok := delegation.SplitLogin(authcid); ok {
				authzid, authcid = o, d
			}
		}
		return s.login(authzid, authcid, password)
	}), nil
}

// login authenticates authcid and, with a non-empty authzid that is not the
// user itself, opens the mailbox authzid names if the user has effective
// Full Access to it. Every refusal is the same NO [AUTHENTICATIONFAILED].
func (s *session) login(authzid, authcid, password string) error {
	id, err := s.srv.st.Authenticate(authcid, password, s.ip)
	switch {
	case errors.Is(err, storage.ErrThrottled):
		s.srv.metrics.authFailures.WithLabelValues("throttled").Inc()
		s.log.Info("login throttled", "user", authcid)
		return errThrottled
	case errors.Is(err, storage.ErrAuthFailed):
		s.srv.metrics.authFailures.WithLabelValues("credentials").Inc()
		s.log.Info("login failed", "user", authcid, "reason", "credentials")
		return imapserver.ErrAuthFailed
	case err != nil:
		s.log.Error("login", "user", authcid, "err", err)
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeUnavailable, Text: "login temporarily unavailable (session " + s.id + ")"}
	}
	dir := s.srv.st.Directory()
	actor, ok := dir.Principal(id)
	if !ok {
		return imapserver.ErrAuthFailed
	}
	ownerID, ownerAddr := id, actor.Address
	if authzid != "" {
		o, found := dir.Lookup(authzid)
		if !found {
			s.srv.metrics.authFailures.WithLabelValues("no_right").Inc()
			s.log.Info("delegate login refused", "user", actor.Address, "owner", oneLine(authzid), "reason", delegation.ReasonUnknown)
			return imapserver.ErrAuthFailed
		}
		if o.ID != id {
			dc := dir.Open(id, o.ID, s.now())
			s.auditRec("login", actor, o, "", dc)
			if !dc.Allowed {
				s.srv.metrics.authFailures.WithLabelValues("no_right").Inc()
				s.log.Info("delegate login refused", "user", actor.Address, "owner", o.Address, "reason", dc.Reason, "decision", dc.Text())
				return imapserver.ErrAuthFailed
			}
			s.srv.metrics.delegated.WithLabelValues("login").Inc()
			s.log.Info("delegate login", "user", actor.Address, "owner", o.Address, "right", dc.Right.Flags(), "grant", dc.GrantID)
			ownerID, ownerAddr = o.ID, o.Address
		}
	}
	s.actor, s.actorAddr, s.owner, s.ownerAddr = id, actor.Address, ownerID, ownerAddr
	s.log = s.log.With("user", actor.Address)
	if ownerID != id {
		s.log = s.log.With("owner", ownerAddr)
	}
	if err := s.srv.st.EnsureDefaultFolders(ownerID); err != nil {
		s.log.Error("default folders", "err", err)
	}
	s.log.Info("logged in")
	return nil
}

// checkSession enforces live rights for a delegate login before every
// command: once the right is gone the session ends with BYE (its whole
// personal namespace belongs to the owner, so nothing is left to show).
func (s *session) checkSession() error {
	if s.actor == "" || s.owner == s.actor {
		return nil
	}
	dc := s.srv.st.Directory().Open(s.actor, s.owner, s.now())
	if dc.Allowed {
		return nil
	}
	s.log.Info("delegate session ended: right revoked", "reason", dc.Reason)
	s.unselect()
	s.conn.Bye("access to " + s.ownerAddr + " has been revoked")
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeNoPerm, Text: "access revoked"}
}

// AppendLimit advertises APPENDLIMIT (RFC 7889).
func (s *session) AppendLimit() uint32 { return s.srv.cfg.AppendLimit }

// Namespace answers NAMESPACE (RFC 2342): personal "" and, except in a
// delegate login, other users "Other Users/", both with delimiter "/".
func (s *session) Namespace() (*goimap.NamespaceData, error) {
	if err := s.checkSession(); err != nil {
		return nil, err
	}
	nd := &goimap.NamespaceData{Personal: []goimap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}
	if s.owner == s.actor {
		nd.Other = []goimap.NamespaceDescriptor{{Prefix: otherUsers + string(delim), Delim: delim}}
	}
	return nd, nil
}

// auditRec writes one audit record for an action on another principal's
// mailbox. A failure is logged, never shown to the client.
func (s *session) auditRec(action string, actor, owner *delegation.Principal, folder string, dc delegation.Decision) {
	decision := "allowed"
	if !dc.Allowed {
		decision = "refused"
	}
	rec := storage.AuditRecord{
		Proto: "imap", Action: action, Actor: actor.Address, ActorID: string(actor.ID),
		Mailbox: owner.Address, MailboxID: string(owner.ID), Decision: decision, Reason: string(dc.Reason),
		GrantID: dc.GrantID, Folder: folder, Remote: s.ip,
	}
	if dc.Right != 0 {
		rec.Right = dc.Right.Flags()
	}
	if err := s.srv.st.Audit(rec); err != nil {
		s.log.Error("audit", "err", err)
	}
}

// audit records an action in a delegated place (no-op for the actor's own).
func (s *session) audit(action string, pl place, detail string) {
	if !pl.delegated {
		return
	}
	dir := s.srv.st.Directory()
	a, ok1 := dir.Principal(s.actor)
	o, ok2 := dir.Principal(pl.owner)
	if !ok1 || !ok2 {
		return
	}
	rec := storage.AuditRecord{
		Proto: "imap", Action: action, Actor: a.Address, ActorID: string(a.ID),
		Mailbox: o.Address, MailboxID: string(o.ID), Right: pl.dc.Right.Flags(), Decision: "allowed",
		Reason: string(pl.dc.Reason), GrantID: pl.dc.GrantID, Folder: pl.folder, Remote: s.ip, Detail: detail,
	}
	if err := s.srv.st.Audit(rec); err != nil {
		s.log.Error("audit", "err", err)
	}
	s.log.Info("delegated "+action, "owner", o.Address, "right", rec.Right, "grant", pl.dc.GrantID, "reason", pl.dc.Reason)
}
