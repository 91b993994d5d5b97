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

// accessEnd is when the rights the session stands on run out: the end of
// the time-boxed grant behind a delegate login or behind the selected
// folder of another principal, the earlier of the two; zero when neither
// ends. IDLE wakes then, to end with BYE as for a revocation.
func (c *session) accessEnd() time.Time {
	var ends []time.Time
	if c.actor != "" && c.owner != c.actor {
		ends = append(ends, c.srv.st.Directory().Open(c.actor, c.owner, c.now()).Until)
	}
	if c.sel != nil {
		ends = append(ends, c.access(c.sel).Until)
	}
	var first time.Time
	for _, t := range ends {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}

// lostAccess says why access to what is gone: its time-boxed grant
// ended, or it was revoked.
func lostAccess(what string, dc delegation.Decision) string {
	if dc.Reason == delegation.ReasonExpired {
		return "access to " + what + " expired at " + dc.Until.UTC().Format(time.RFC3339)
	}
	return "access to " + what + " has been revoked"
}
