package imap

import (
	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// folderBindKey names one FolderBind record of a window (storage.BindWindow).
type folderBindKey struct {
	actor, owner delegation.ID
	folder       string
	refused      bool
}

// auditFolderBind records that a delegate opened a folder of another
// mailbox, once per folder and window (see storage.BindWindow).
func (c *session) auditFolderBind(pl place, how string) {
	k := folderBindKey{actor: c.actor, owner: pl.owner, folder: pl.folder}
	if !c.srv.binds.First(k, c.now(), c.srv.cfg.FolderBindWindow) {
		return
	}
	rec, ok := c.record("folder_bind", pl.owner, pl.folder, pl.dc)
	if ok {
		rec.Detail = how
		ok = c.write(rec)
	}
	if !ok {
		c.srv.binds.Forget(k)
	}
}

// auditRefusedOpen records that the actor tried to open a folder of a
// mailbox it has no Full Access to (now), once per folder and window like
// FolderBind, so a client retrying cannot flood the trail.
func (c *session) auditRefusedOpen(owner *delegation.Principal, folder string, dc delegation.Decision) {
	k := folderBindKey{actor: c.actor, owner: owner.ID, folder: folder, refused: true}
	if !c.srv.binds.First(k, c.now(), c.srv.cfg.FolderBindWindow) {
		return
	}
	c.log.Info("delegated open refused", "owner", owner.Address, "folder", folder, "reason", dc.Reason)
	rec, ok := c.record("folder_bind", owner.ID, folder, dc)
	if !ok || !c.write(rec) {
		c.srv.binds.Forget(k)
	}
}

// record is the audit record of the session's actor acting on owner's
// mailbox (storage.NewAuditRecord, with the folder and the client's address);
// false when either principal is gone.
func (c *session) record(action string, owner delegation.ID, folder string, dc delegation.Decision) (storage.AuditRecord, bool) {
	dir := c.srv.st.Directory()
	a, ok1 := dir.Principal(c.actor)
	o, ok2 := dir.Principal(owner)
	if !ok1 || !ok2 {
		return storage.AuditRecord{}, false
	}
	rec := storage.NewAuditRecord(dir, "imap", action, storage.PartyOf(a), storage.PartyOf(o), dc)
	rec.Folder, rec.Remote = folder, c.ip
	return rec, true
}

// write writes a record that goes with no other write (a folder open, a
// refusal, a login). A failure is logged, never shown to the client.
func (c *session) write(rec storage.AuditRecord) bool {
	if err := c.srv.st.Audit(rec); err != nil {
		c.log.Error("audit", "err", err)
		return false
	}
	return true
}

// auditIn is the audit of an action in pl, for the storage write that
// does it to commit with the change (nil in the actor's own mailbox,
// which is not audited). detail describes the outcome; nil for none.
func (c *session) auditIn(action string, pl place, detail func(storage.Outcome) string) storage.AuditFunc {
	if !pl.delegated {
		return nil
	}
	rec, ok := c.record(action, pl.owner, pl.folder, pl.dc)
	if !ok {
		return nil
	}
	return func(o storage.Outcome) []storage.AuditRecord {
		r := rec
		if detail != nil {
			r.Detail = detail(o)
		}
		return []storage.AuditRecord{r}
	}
}

// auditBoth is the audit of one write that acts in two places (COPY and
// MOVE: at the source and at the destination).
func auditBoth(a, b storage.AuditFunc) storage.AuditFunc {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(o storage.Outcome) []storage.AuditRecord { return append(a(o), b(o)...) }
}

// done logs an action in a delegated place once its write succeeded.
func (c *session) done(action string, pl place) {
	if pl.delegated {
		c.log.Info("delegated "+action, "owner", pl.ownerAddr, "folder", pl.folder, "right", pl.dc.Right.Flags(),
			"grant", pl.dc.GrantID, "reason", pl.dc.Reason)
	}
}
