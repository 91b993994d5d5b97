package imap

import (
	"bytes"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/wire"
)

// cmdIdle answers IDLE (RFC 2177): changes made by any session (the
// owner's and the delegates') are pushed as they commit. The rights are
// re-checked at every change, at every directory change, at the end of a
// time-boxed grant the session stands on, and every 30 s, so a session
// idling in a folder whose right was revoked or expired is told at once
// with BYE, as is a removed user or a revoked or expired delegate login.
func (c *session) cmdIdle(p *wire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	c.enc.RawString("+ idling\r\n")
	if err := c.flush(); err != nil {
		return &errBye{text: "write failed"}
	}
	done := make(chan error, 1)
	c.raw.SetReadDeadline(time.Time{}) // IDLE is exempt from the idle timeout (RFC 9051 §5.4)
	go func() {
		line, err := c.br.ReadLine()
		if err == nil && !bytes.EqualFold(bytes.TrimSpace(line), []byte("DONE")) {
			err = errBad(goimap.ResponseCodeClientBug, "expected DONE to end IDLE")
		}
		done <- err
	}()
	var notify <-chan struct{}
	if c.sel != nil {
		notify = c.sel.v.notify
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		if reason := c.ending(); reason != "" {
			return &errBye{text: reason}
		}
		if err := c.checkSession(); err != nil {
			return err
		}
		if c.sel != nil {
			if dc := c.access(c.sel); !dc.Allowed {
				c.log.Info("idle ended: right revoked or expired", "owner", c.sel.pl.ownerAddr, "reason", dc.Reason, "grant", dc.GrantID)
				return &errBye{text: lostAccess(c.sel.pl.name, dc)}
			}
		}
		c.poll(true)
		if err := c.flush(); err != nil {
			return &errBye{text: "write failed"}
		}
		select {
		case err := <-done:
			if err == nil {
				c.okText = "IDLE terminated"
				if c.sel != nil {
					c.poll(true)
				}
				return nil
			}
			if ie, ok := err.(*goimap.Error); ok {
				return ie
			}
			if reason := c.ending(); reason != "" {
				return &errBye{text: reason}
			}
			c.logout = true
			c.killed.Store(true)
			return errHandled
		case <-notify:
		case <-c.wakeCh: // also at the end of a time-boxed grant (armGrantEnd)
		case <-tick.C:
		}
	}
}
