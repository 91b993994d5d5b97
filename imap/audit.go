package imap

import (
	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// auditRec writes one audit record for an action on another principal's
// mailbox. A failure is logged, never shown to the client.
func (c *session) auditRec(action string, actor, owner *delegation.Principal, folder string, dc delegation.Decision) {
	decision := "allowed"
	if !dc.Allowed {
		decision = "refused"
	}
	rec := storage.AuditRecord{
		Proto: "imap", Action: action, Actor: actor.Address, ActorID: string(actor.ID),
		Mailbox: owner.Address, MailboxID: string(owner.ID), Decision: decision, Reason: string(dc.Reason),
		GrantID: dc.GrantID, Folder: folder, Remote: c.ip,
	}
	if dc.Right != 0 {
		rec.Right = dc.Right.Flags()
	}
	if err := c.srv.st.Audit(rec); err != nil {
		c.log.Error("audit", "err", err)
	}
}

// audit records an action in a delegated place (no-op for the actor's own).
func (c *session) audit(action string, pl place, detail string) {
	if !pl.delegated {
		return
	}
	dir := c.srv.st.Directory()
	a, ok1 := dir.Principal(c.actor)
	o, ok2 := dir.Principal(pl.owner)
	if !ok1 || !ok2 {
		return
	}
	rec := storage.AuditRecord{
		Proto: "imap", Action: action, Actor: a.Address, ActorID: string(a.ID),
		Mailbox: o.Address, MailboxID: string(o.ID), Right: pl.dc.Right.Flags(), Decision: "allowed",
		Reason: string(pl.dc.Reason), GrantID: pl.dc.GrantID, Folder: pl.folder, Remote: c.ip, Detail: detail,
	}
	if err := c.srv.st.Audit(rec); err != nil {
		c.log.Error("audit", "err", err)
	}
	c.log.Info("delegated "+action, "owner", o.Address, "right", rec.Right, "grant", pl.dc.GrantID, "reason", pl.dc.Reason)
}
