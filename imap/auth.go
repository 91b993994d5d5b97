package imap

import (
	"compress/flate"
	"crypto/tls"
	"encoding/base64"
	"errors"
	kflate "github.com/klauspost/compress/flate"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/auth"
)

// canAuth: no authentication before TLS (RFC 9051 §6.2.3, RFC 8314),
// unless InsecureAuth (loopback only, checked by cmd).
func (c *session) canAuth() bool { return c.isTLS || c.srv.cfg.InsecureAuth }

// cmdStartTLS answers STARTTLS (RFC 9051 §6.2.1). Nothing the client
// pipelined after it may be read as plaintext (STARTTLS injection).
func (c *session) cmdStartTLS(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	if c.isTLS || c.srv.cfg.TLS == nil {
		return errNo(goimap.ResponseCodeCannot, "TLS is not available on this connection")
	}
	if c.br.Buffered() > 0 {
		return errBad(goimap.ResponseCodeClientBug, "data after STARTTLS")
	}
	c.enc.Status(c.tag, "OK", "", "begin TLS negotiation now")
	if err := c.flush(); err != nil {
		return &errBye{text: "write failed"}
	}
	if !c.startTLS() {
		c.killed.Store(true)
		c.logout = true
		return errHandled
	}
	c.br.Reset(c.nc)
	c.bw.Reset(c.nc)
	return errHandled
}

// startTLS runs the server side of a TLS handshake on the connection
// (IMAPS at accept, or STARTTLS), within 30 s.
func (c *session) startTLS() bool {
	tc := tls.Server(c.nc, c.srv.cfg.TLS)
	tc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.log.Debug("tls handshake", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	c.nc, c.isTLS = tc, true
	return true
}

// errHandled: the handler wrote its own tagged answer.
var errHandled = errors.New("handled")

// cmdCompress answers COMPRESS DEFLATE (RFC 4978 §3).
func (c *session) cmdCompress(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	alg, err := p.Atom()
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if !strings.EqualFold(alg, "DEFLATE") {
		return errBad(goimap.ResponseCodeClientBug, "unknown compression mechanism")
	}
	if c.fw != nil {
		return errNo("COMPRESSIONACTIVE", "compression is already active")
	}
	if c.br.Buffered() > 0 {
		return errBad(goimap.ResponseCodeClientBug, "data after COMPRESS")
	}
	c.enc.Status(c.tag, "OK", "", "DEFLATE active")
	if err := c.flush(); err != nil {
		return &errBye{text: "write failed"}
	}
	fw, _ := flate.NewWriter(c.nc, flate.DefaultCompression) // the level is valid: no error
	c.fw = &deflater{Writer: fw}
	c.bw.Reset(c.fw)
	// Partial blocks: hand out what each deflate block holds, as soon as
	// it ends. Clients flush with Z_SYNC_FLUSH (Go, Thunderbird) or
	// Z_PARTIAL_FLUSH (mbsync), which ends a block without the empty
	// stored block that Go's own inflater waits for.
	c.br.Reset(kflate.NewReaderOpts(c.nc, kflate.WithPartialBlock()))
	return errHandled
}

// cmdLogin answers LOGIN user password (RFC 9051 §6.2.3), where user may be
// "delegate\owner" (Exchange form): the delegate's own password opens the
// owner's mailbox.
func (c *session) cmdLogin(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	user, err := p.AString()
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	pass, err := p.AString()
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if !c.canAuth() {
		return errNo(goimap.ResponseCodePrivacyRequired, "use STARTTLS (or IMAPS) before LOGIN")
	}
	return c.loginName(user, pass)
}

// loginName logs in with a user name that may be the Exchange form
// "delegate\owner" (LOGIN, SASL LOGIN, a PLAIN authcid without authzid).
func (c *session) loginName(user, password string) error {
	delegate, owner, isDelegate := delegation.SplitLogin(user)
	if !isDelegate {
		owner = ""
	}
	return c.login(owner, delegate, password)
}

// cmdAuthenticate answers AUTHENTICATE (RFC 9051 §6.2.2, RFC 4959 SASL-IR)
// with PLAIN (RFC 4616; authzid = owner is a delegate login, as is an
// authcid "delegate\owner") and LOGIN.
func (c *session) cmdAuthenticate(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	mech, err := p.Atom()
	if err != nil {
		return err
	}
	var ir []byte // nil: no initial response; empty: "=" (RFC 4959 §3)
	if !p.AtEnd() {
		if err := p.SP(); err != nil {
			return err
		}
		a, err := p.Atom()
		if err != nil {
			return err
		}
		ir = []byte{}
		if a != "=" {
			if ir, err = base64.StdEncoding.DecodeString(a); err != nil {
				return errBad(goimap.ResponseCodeClientBug, "invalid base64 in initial response")
			}
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	if !c.canAuth() {
		return errNo(goimap.ResponseCodePrivacyRequired, "use STARTTLS (or IMAPS) before AUTHENTICATE")
	}
	var result error
	var srv sasl.Server
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		srv = sasl.NewPlainServer(func(authzid, authcid, password string) error {
			if authzid == "" || authzid == authcid {
				result = c.loginName(authcid, password)
			} else {
				result = c.login(authzid, authcid, password)
			}
			return result
		})
	case sasl.Login:
		srv = &loginServer{auth: func(user, password string) error {
			result = c.loginName(user, password)
			return result
		}}
	default:
		return errNo(goimap.ResponseCodeCannot, "unsupported SASL mechanism")
	}
	resp := ir
	for {
		chal, done, err := srv.Next(resp)
		if err != nil {
			if result != nil {
				return result
			}
			return errAuthFailed // a malformed response answers as a wrong password
		}
		if done {
			return result
		}
		c.enc.RawString("+ " + base64.StdEncoding.EncodeToString(chal) + "\r\n")
		if err := c.flush(); err != nil {
			return &errBye{text: "write failed"}
		}
		line, err := c.br.ReadLine()
		if err != nil {
			return &errBye{text: "authentication aborted"}
		}
		if string(line) == "*" {
			return errBad("", "authentication cancelled")
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			return errBad(goimap.ResponseCodeClientBug, "invalid base64 in SASL response")
		}
	}
}

// loginServer is the server side of the SASL LOGIN mechanism
// (draft-murchison-sasl-login): a username prompt, then a password prompt.
type loginServer struct {
	auth func(user, password string) error
	step int
	user string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.auth(l.user, string(resp))
	}
}

// login authenticates authcid and, with a non-empty authzid that is not the
// user itself, opens the mailbox authzid names if the user has effective
// Full Access to it. Every refusal is the same NO [AUTHENTICATIONFAILED].
func (c *session) login(authzid, authcid, password string) error {
	id, err := c.srv.cfg.Auth.Authenticate(authcid, password, c.ip)
	switch {
	case errors.Is(err, auth.ErrThrottled):
		c.srv.metrics.authFailures.WithLabelValues("throttled").Inc()
		c.log.Info("login throttled", "user", oneLine(authcid))
		return errThrottled
	case errors.Is(err, auth.ErrAuthFailed):
		c.srv.metrics.authFailures.WithLabelValues("credentials").Inc()
		c.log.Info("login failed", "user", oneLine(authcid), "reason", "credentials")
		return errAuthFailed
	case err != nil:
		c.log.Error("login", "user", oneLine(authcid), "err", err)
		return errNo(goimap.ResponseCodeUnavailable, "login temporarily unavailable (session "+c.id+")")
	}
	dir := c.srv.st.Directory()
	actor, ok := dir.Principal(id)
	if !ok {
		return errAuthFailed
	}
	ownerID, ownerAddr := id, actor.Address
	if authzid != "" {
		o, found := dir.Lookup(authzid)
		if !found {
			c.srv.metrics.authFailures.WithLabelValues("no_right").Inc()
			c.log.Info("delegate login refused", "user", actor.Address, "owner", oneLine(authzid), "reason", delegation.ReasonUnknown)
			return errAuthFailed
		}
		if o.ID != id {
			dc := dir.Open(id, o.ID, c.now())
			rec := storage.NewAuditRecord(c.srv.st.Directory(), "imap", "login", storage.PartyOf(actor), storage.PartyOf(o), dc)
			rec.Remote = c.ip
			c.write(rec)
			if !dc.Allowed {
				c.srv.metrics.authFailures.WithLabelValues("no_right").Inc()
				c.log.Info("delegate login refused", "user", actor.Address, "owner", o.Address, "reason", dc.Reason, "decision", dc.Text())
				return errAuthFailed
			}
			c.srv.metrics.delegated.WithLabelValues("login").Inc()
			c.log.Info("delegate login", "user", actor.Address, "owner", o.Address, "right", dc.Right.Flags(), "grant", dc.GrantID)
			ownerID, ownerAddr = o.ID, o.Address
		}
	}
	c.actor, c.owner, c.ownerAddr = id, ownerID, ownerAddr
	c.log = c.log.With("user", actor.Address)
	if ownerID != id {
		c.log = c.log.With("owner", ownerAddr)
	}
	c.srv.loggedIn(c)
	if err := c.srv.st.EnsureDefaultFolders(ownerID); err != nil {
		c.log.Error("default folders", "err", err)
	}
	c.log.Info("logged in")
	c.okCode = "CAPABILITY " + c.capabilities()
	c.okText = "logged in"
	return nil
}

// checkSession enforces live rights before every command: a delegate
// login whose right is gone ends with BYE (its whole personal namespace
// belongs to the owner, so nothing is left to show), as does a user that
// was removed.
func (c *session) checkSession() error {
	if c.actor == "" {
		return nil
	}
	dir := c.srv.st.Directory()
	if _, ok := dir.Principal(c.actor); !ok {
		c.log.Info("session ended: account removed")
		c.unselect()
		return &errBye{text: "your account has been removed"}
	}
	if c.owner == c.actor {
		return nil
	}
	dc := dir.Open(c.actor, c.owner, c.now())
	if dc.Allowed {
		return nil
	}
	c.log.Info("delegate session ended: right revoked or expired", "reason", dc.Reason, "grant", dc.GrantID)
	c.unselect()
	return &errBye{text: lostAccess(c.ownerAddr, dc)}
}
