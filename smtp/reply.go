package smtp

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/storage"
)

// Replies that more than one place sends. Texts name what went wrong for
// the client and never storage, paths or other people's grants.
var (
	errAuthRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
		Message: "authentication required (RFC 4954 §6)"}
	errAuthFailed = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8},
		Message: "authentication failed"}
	errThrottled = &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0},
		Message: "too many failed logins, try again later"}
	errAuthzid = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8},
		Message: "authorization identity must be empty or your own address (log in as yourself)"}
	errNoRelay = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "relaying not configured"}
	errRelayDenied = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1},
		Message: "relaying denied: this server accepts mail only for its own domains"}
	errNeedMail = &gosmtp.SMTPError{Code: 503, EnhancedCode: gosmtp.EnhancedCode{5, 5, 1},
		Message: "MAIL FROM first"}
	errTooLarge = gosmtp.ErrDataTooLarge // 552 5.3.4, RFC 3463
	// Storage cannot take the message now (storage.ErrNoSpace,
	// storage.ErrUnavailable): temporary, so the client or MTA retries
	// (RFC 5321 §4.2.5, RFC 3463 X.3.1 "mail system full").
	errNoSpace = &gosmtp.SMTPError{Code: 452, EnhancedCode: gosmtp.EnhancedCode{4, 3, 1},
		Message: "insufficient system storage, try again later"}
	errUnavailable = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "mail system temporarily unavailable, try again later"}
)

func syntaxError(msg string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 501, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: clean(msg)}
}

func noSuchUser(addr string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1},
		Message: clean("no such mailbox: " + addr)}
}

// overQuota refuses a recipient whose mailbox is at or over its quota
// (RFC 3463 X.2.2 mailbox full): on submission temporarily (452 4.2.2,
// so the local sender hears of it now and may retry once space is
// freed), at the MX permanently (552 5.2.2, so the sending server
// bounces instead of queueing for days).
func overQuota(addr string, submission bool) *gosmtp.SMTPError {
	code, ec := 552, gosmtp.EnhancedCode{5, 2, 2}
	if submission {
		code, ec = 452, gosmtp.EnhancedCode{4, 2, 2}
	}
	return &gosmtp.SMTPError{Code: code, EnhancedCode: ec, Message: clean("mailbox full: " + addr + " is over its quota")}
}

// reply turns any error into what go-smtp may send: an unwrapped
// *gosmtp.SMTPError (go-smtp type-asserts the error it is given, so a
// wrapped one would reach the client as a generic failure). A full disk or
// a refused write is a temporary refusal (452 4.3.1, 451 4.3.0). Anything
// else is our fault: it is logged and the client gets a temporary failure
// that names the session, so its report matches our logs.
func (s *session) reply(err error) error {
	if err == nil {
		return nil // not a nil *SMTPError: that would be a non-nil error
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	switch {
	case errors.Is(err, storage.ErrNoSpace):
		s.log.Warn("mail refused: storage full", "err", err)
		return errNoSpace
	case errors.Is(err, storage.ErrUnavailable):
		s.log.Warn("mail refused: storage unavailable", "err", err)
		return errUnavailable
	}
	s.log.Error("internal error", "err", err)
	return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0},
		Message: "internal error, try again later (session " + s.id + ")"}
}

// clean makes text safe for one header field or one reply line: every
// control character (CR, LF, NUL, ...) but TAB becomes a space, and invalid
// UTF-8 becomes U+FFFD. go-smtp splits reply text at "\n" into lines, so an
// LF from client input would otherwise forge a reply line.
func clean(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f || c >= 0x80 {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if (r < ' ' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a random identifier for sessions and Message-IDs.
func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(idEncoding.EncodeToString(b))
}

// NewMessageID returns a fresh msg-id (RFC 5322 §3.6.4) without angle
// brackets.
func NewMessageID(hostname string) string {
	return newID(15) + "@" + safeHost(hostname)
}

// safeHost reduces a host name (ours, or a client's HELO argument) to the
// characters a domain or address literal may have, so it can go into a
// header field or a msg-id.
func safeHost(h string) string {
	h = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-_:[]", r):
			return r
		}
		return -1
	}, h)
	if len(h) > 253 {
		h = h[:253]
	}
	if h == "" {
		return "unknown"
	}
	return h
}
