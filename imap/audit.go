package imap

import (
	"sync"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// folderBinds remembers which FolderBind records were written in the
// current window, so that a delegate's SELECTs of one folder make one
// synced record per window and not one per SELECT (Exchange merges them
// the same way). The first SELECT of a window writes the record before its
// OK, so a record is never lost to a crash that this SELECT survived; a
// restart forgets the window and at most writes one record more.
type folderBinds struct {
	mu     sync.Mutex
	window time.Time              // guarded by mu: start of the current window
	seen   map[folderBindKey]bool // guarded by mu
}

type folderBindKey struct {
	actor, owner delegation.ID
	folder       string
	refused      bool
}

// first reports whether k has no record yet in the window holding now,
// and marks it as recorded.
func (b *folderBinds) first(k folderBindKey, now time.Time, window time.Duration) bool {
	if window < 0 {
		return true
	}
	start := now.Truncate(window)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !start.Equal(b.window) || b.seen == nil {
		b.window, b.seen = start, map[folderBindKey]bool{} // the old window's keys go with it
	}
	if b.seen[k] {
		return false
	}
	b.seen[k] = true
	return true
}

// forget undoes first when the record could not be written, so the next
// SELECT tries again.
func (b *folderBinds) forget(k folderBindKey) {
	b.mu.Lock()
	delete(b.seen, k)
	b.mu.Unlock()
}

// auditFolderBind records that a delegate opened a folder of another
// mailbox, once per folder and window (see folderBinds).
func (c *session) auditFolderBind(pl place, how string) {
	k := folderBindKey{actor: c.actor, owner: pl.owner, folder: pl.folder}
	if !c.srv.binds.first(k, c.now(), c.srv.cfg.FolderBindWindow) {
		return
	}
	if !c.audit("folder_bind", pl, how) {
		c.srv.binds.forget(k)
	}
}

// auditRefusedOpen records that the actor tried to open a folder of a
// mailbox it has no Full Access to (now), once per folder and window like
// FolderBind, so a client retrying cannot flood the trail.
func (c *session) auditRefusedOpen(owner *delegation.Principal, folder string, dc delegation.Decision) {
	k := folderBindKey{actor: c.actor, owner: owner.ID, folder: folder, refused: true}
	if !c.srv.binds.first(k, c.now(), c.srv.cfg.FolderBindWindow) {
		return
	}
	actor, ok := c.srv.st.Directory().Principal(c.actor)
	if !ok {
		return
	}
	c.log.Info("delegated open refused", "owner", owner.Address, "folder", folder, "reason", dc.Reason)
	if !c.auditRec("folder_bind", actor, owner, folder, dc) {
		c.srv.binds.forget(k)
	}
}

// auditRec writes one audit record for an action on another principal's
// mailbox. A failure is logged, never shown to the client.
func (c *session) auditRec(action string, actor, owner *delegation.Principal, folder string, dc delegation.Decision) bool {
	rec := storage.AuditRecord{
		Proto: "imap", Action: action, Actor: actor.Address, ActorID: string(actor.ID),
		Mailbox: owner.Address, MailboxID: string(owner.ID), Decision: storage.ResultOf(dc.Allowed), Reason: string(dc.Reason),
		GrantID: dc.GrantID, Folder: folder, Remote: c.ip,
	}
	switch {
	case dc.Right != 0:
		rec.Right = dc.Right.Flags()
	case dc.Missing != 0:
		rec.Right = dc.Missing.Flags() // the right that was asked for
	}
	if err := c.srv.st.Audit(rec); err != nil {
		c.log.Error("audit", "err", err)
		return false
	}
	return true
}

// audit records an action in a delegated place (no-op for the actor's
// own); false if the record could not be written.
func (c *session) audit(action string, pl place, detail string) bool {
	if !pl.delegated {
		return true
	}
	dir := c.srv.st.Directory()
	a, ok1 := dir.Principal(c.actor)
	o, ok2 := dir.Principal(pl.owner)
	if !ok1 || !ok2 {
		return true
	}
	rec := storage.AuditRecord{
		Proto: "imap", Action: action, Actor: a.Address, ActorID: string(a.ID),
		Mailbox: o.Address, MailboxID: string(o.ID), Right: pl.dc.Right.Flags(), Decision: storage.AuditAllowed,
		Reason: string(pl.dc.Reason), GrantID: pl.dc.GrantID, Folder: pl.folder, Remote: c.ip, Detail: detail,
	}
	if err := c.srv.st.Audit(rec); err != nil {
		c.log.Error("audit", "err", err)
		return false
	}
	c.log.Info("delegated "+action, "owner", o.Address, "right", rec.Right, "grant", pl.dc.GrantID, "reason", pl.dc.Reason)
	return true
}
