package imap

import (
	"errors"
	"fmt"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// QUOTA (RFC 9208) with the STORAGE resource. Each mailbox (a principal's
// whole set of folders) is one quota root, named by its address; a folder
// under Other Users/<owner>/ has the owner's root, so what a delegate
// files there counts against, and is reported as, the owner's quota.
// Quotas are set by the administrator (mailgate mailbox set --quota).

var errQuotaManaged = errNo(goimap.ResponseCodeNoPerm,
	"quotas are set by the administrator (mailgate mailbox set --quota), not over IMAP")

// errOverQuota answers an APPEND, COPY or MOVE that the owner's quota
// refuses.
var errOverQuota = errNo("OVERQUOTA", "the mailbox is over its quota")

// cmdGetQuotaRoot answers GETQUOTAROOT (RFC 9208 §4.3).
func (c *session) cmdGetQuotaRoot(p *wire.Parser) error {
	name, err := mailboxArg(p)
	if err != nil {
		return err
	}
	pl, _, err := c.openFolder(name, errNoMailbox)
	if err != nil {
		return err
	}
	o, ok := c.srv.st.Directory().Principal(pl.owner)
	if !ok {
		return errNoMailbox
	}
	c.enc.RawString("* QUOTAROOT ").Mailbox(name).SP().String(o.Address).CRLF()
	return c.writeQuota(o)
}

// cmdGetQuota answers GETQUOTA (RFC 9208 §4.2) for a root the session may
// see: its own mailbox's or one it has Full Access to now.
func (c *session) cmdGetQuota(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	root, err := p.AString()
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	dir := c.srv.st.Directory()
	o, ok := dir.Lookup(root)
	if !ok || o.ID != c.owner && !dir.Open(c.actor, o.ID, c.now()).Allowed {
		return errNo(goimap.ResponseCodeNonExistent, "no such quota root")
	}
	return c.writeQuota(o)
}

// cmdSetQuota answers SETQUOTA: the administrator's.
func (c *session) cmdSetQuota(*wire.Parser) error { return errQuotaManaged }

// writeQuota sends the QUOTA response of a root: STORAGE in KiB (RFC 9208
// §5.1, rounded up), and no resource when the mailbox has no quota.
func (c *session) writeQuota(o *delegation.Principal) error {
	used, quota, err := c.srv.st.Usage(o.ID)
	if err != nil {
		return err
	}
	c.enc.RawString("* QUOTA ").String(o.Address).SP()
	if quota == 0 {
		c.enc.RawString("()").CRLF()
		return nil
	}
	c.enc.RawString(fmt.Sprintf("(STORAGE %d %d)", (used+1023)/1024, quota/1024)).CRLF()
	return nil
}

// checkQuota refuses adding size bytes to owner's mailbox over its quota.
func (c *session) checkQuota(owner delegation.ID, size uint64) error {
	err := c.srv.st.CheckQuota(owner, size)
	if errors.Is(err, storage.ErrOverQuota) {
		return errOverQuota
	}
	return err
}
