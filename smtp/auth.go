package smtp

import (
	"errors"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// Auth returns the SASL server for AUTH (RFC 4954). go-smtp refuses AUTH
// before TLS itself (523 5.7.10) unless InsecureAuth is set.
func (s *authSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return clientErrors{sasl.NewPlainServer(func(authzid, user, pass string) error {
			return s.login(authzid, user, pass)
		})}, nil
	case sasl.Login:
		return clientErrors{&loginServer{auth: func(user, pass string) error { return s.login("", user, pass) }}}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

// errBadSASL answers a SASL message that does not parse, such as a PLAIN
// response without exactly three NUL-separated fields (RFC 4616 §2): a
// client's syntax error (RFC 4954 §4), never a 454 with go-sasl's text.
var errBadSASL = &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 5, 2},
	Message: "malformed SASL response"}

// clientErrors wraps a SASL server: its own errors (a message that does not
// parse) become errBadSASL; go-smtp would send any error that is not an
// *SMTPError as 454 4.7.0 with its text.
type clientErrors struct{ sasl.Server }

func (c clientErrors) Next(response []byte) ([]byte, bool, error) {
	chal, done, err := c.Server.Next(response)
	if _, ok := err.(*gosmtp.SMTPError); err != nil && !ok {
		err = errBadSASL
	}
	return chal, done, err
}

// login checks a password. The user may be an address, an alias, or the
// Exchange delegate form "bob@x\alice@x", which authenticates bob (the
// actor stays bob: a submission's right to alice's address is decided per
// message on its From). A PLAIN authzid (RFC 4616 §2) must be empty or name
// the authenticated user; SMTP has no "act as" identity. Unknown user and
// wrong password get the same reply; too many failures get 454 4.7.0.
func (s *authSession) login(authzid, user, pass string) error {
	delegate, owner, isDelegate := delegation.SplitLogin(user)
	id, err := s.srv.cfg.Auth.Authenticate(delegate, pass, s.remoteIP)
	log := s.logger()
	switch {
	case errors.Is(err, auth.ErrThrottled):
		s.srv.metrics.authFailure("throttled")
		log.Info("auth throttled", "user", clean(delegate))
		return errThrottled
	case errors.Is(err, auth.ErrAuthFailed):
		s.srv.metrics.authFailure("credentials")
		log.Info("auth failed", "user", clean(delegate))
		return errAuthFailed
	case err != nil:
		return s.reply(err)
	}
	dir := s.srv.st.Directory()
	if isDelegate {
		if _, ok := dir.Lookup(owner); !ok {
			s.srv.metrics.authFailure("credentials")
			log.Info("auth failed: unknown owner in delegate login", "user", clean(user))
			return errAuthFailed
		}
	}
	if authzid != "" {
		if p, ok := dir.Lookup(authzid); !ok || p.ID != id {
			s.srv.metrics.authFailure("authzid")
			log.Info("auth refused: foreign authorization identity", "user", clean(delegate), "owner", clean(authzid))
			if ok { // an attempt to act as another mailbox: on the audit trail
				rec := s.auditRecord("login", storage.Party{Address: s.actorAddress(id), ID: id}, storage.PartyOf(p),
					delegation.Decision{Reason: "authzid"})
				rec.Detail = "SMTP has no act-as identity: Send As and Send on Behalf are decided per message"
				s.auditAlone(rec)
			}
			return errAuthzid
		}
	}
	s.setActor(id, s.actorAddress(id), clean(lower(user)))
	s.logger().Debug("authenticated")
	return nil
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): go-sasl ships only its client.
type loginServer struct {
	auth  func(user, pass string) error
	user  string
	state int
}

var _ sasl.Server = (*loginServer)(nil)

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.state {
	case 0:
		l.state = 1
		if response == nil { // no initial response: ask for it
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(response)
		l.state = 2
		return []byte("Password:"), false, nil
	case 2:
		l.state = 3
		return nil, true, l.auth(l.user, string(response))
	}
	return nil, false, errors.New("unexpected response")
}
