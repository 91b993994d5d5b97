package imap

import (
	"time"

	"github.com/mailgate/mailgate/delegation"
)

// access is allowed's decision: the grant the selected folder is open by
// (with its end, if time-boxed), or why it no longer is.
func (c *session) access(sel *selected) delegation.Decision {
	if sel.pl.via != "other_users" {
		return delegation.Decision{Allowed: true}
	}
	return c.srv.st.Directory().Open(c.actor, sel.pl.owner, c.now())
}

// armGrantEnd arms the server's one timer for the next end of a
// time-boxed grant strictly after after: at that instant every session is
// woken, as for a directory change, so that those idling on the grant
// re-check their rights and end with BYE. A grant ending changes no
// directory, so without this nothing would wake them before the 30 s
// tick. It is re-armed at every directory change and after each firing.
func (s *Server) armGrantEnd(after time.Time) {
	s.mu.Lock() // held while reading the directory: the last to arm sees the newest
	defer s.mu.Unlock()
	var next time.Time
	for _, g := range s.st.Directory().Grants() {
		if g.Until.After(after) && (next.IsZero() || g.Until.Before(next)) {
			next = g.Until
		}
	}
	if s.grantEnd != nil {
		s.grantEnd.Stop()
		s.grantEnd = nil
	}
	if next.IsZero() || s.closed {
		return
	}
	s.grantEnd = time.AfterFunc(next.Sub(s.now()), func() {
		s.wakeAll()
		s.armGrantEnd(next)
	})
}

// lostAccess says why access to what is gone: its time-boxed grant
// ended, or it was revoked.
func lostAccess(what string, dc delegation.Decision) string {
	if dc.Reason == delegation.ReasonExpired {
		return "access to " + what + " expired at " + dc.Until.UTC().Format(time.RFC3339)
	}
	return "access to " + what + " has been revoked"
}
