package imap

import (
	"sort"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/imap/wire"
)

// RFC 4314 rights. Full Access ("Read and manage") is full management of
// every folder of the mailbox, the owner has the same; nothing smaller can be granted, so
// the rights come as one unit.
const (
	fullRights  = "lrswipkxtecda"
	extraRights = "texk" // RIGHTS= capability: the RFC 4314 rights beyond RFC 2086
)

// errACLManaged answers SETACL and DELETEACL: rights are the administrator's.
var errACLManaged = errNo(goimap.ResponseCodeNoPerm,
	"mailbox rights are managed by the administrator (mailgate grant add/remove), not over IMAP")

// aclMailbox reads a mailbox argument and resolves it; a name the user may
// not see answers as one that does not exist.
func (c *session) aclMailbox(p *wire.Parser) (place, string, error) {
	if err := p.SP(); err != nil {
		return place{}, "", err
	}
	name, err := p.Mailbox()
	if err != nil {
		return place{}, "", err
	}
	pl, _, err := c.openFolder(name, errNoMailbox)
	return pl, name, err
}

// cmdMyRights answers MYRIGHTS (RFC 4314 §3.5) from the delegation engine:
// the owner and a Full Access holder have every right.
func (c *session) cmdMyRights(p *wire.Parser) error {
	_, name, err := c.aclMailbox(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	c.enc.RawString("* MYRIGHTS ").Mailbox(name).SP().String(fullRights).CRLF()
	return nil
}

// cmdGetACL answers GETACL (RFC 4314 §3.3) truthfully: the owner and every
// trustee (user or group) with an effective Full Access grant now.
func (c *session) cmdGetACL(p *wire.Parser) error {
	pl, name, err := c.aclMailbox(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	dir := c.srv.st.Directory()
	ids := []string{}
	if o, ok := dir.Principal(pl.owner); ok {
		ids = append(ids, o.Address)
	}
	now := c.now()
	var trustees []string
	seen := map[delegation.ID]bool{}
	for _, g := range dir.GrantsOn(pl.owner) {
		if g.Right&delegation.FullAccess == 0 || !g.Effective(now) || seen[g.Trustee] {
			continue
		}
		if t, ok := dir.Principal(g.Trustee); ok {
			seen[g.Trustee] = true
			trustees = append(trustees, t.Address)
		}
	}
	sort.Strings(trustees)
	ids = append(ids, trustees...)
	c.enc.RawString("* ACL ").Mailbox(name)
	for _, id := range ids {
		c.enc.SP().String(id).SP().String(fullRights)
	}
	c.enc.CRLF()
	return nil
}

// cmdListRights answers LISTRIGHTS (RFC 4314 §3.4): the owner always has
// every right; anyone else gets all of them together or none.
func (c *session) cmdListRights(p *wire.Parser) error {
	pl, name, err := c.aclMailbox(p)
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	ident, err := p.AString()
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	c.enc.RawString("* LISTRIGHTS ").Mailbox(name).SP().String(ident).SP()
	if o, ok := c.srv.st.Directory().Lookup(ident); ok && o.ID == pl.owner {
		c.enc.String(fullRights)
	} else {
		c.enc.String("").SP().String(fullRights)
	}
	c.enc.CRLF()
	return nil
}

// cmdSetACL answers SETACL and DELETEACL (RFC 4314 §3.1-2) with NO
// [NOPERM]: the arguments are checked, then refused.
func (c *session) cmdSetACL(p *wire.Parser) error {
	if _, _, err := c.aclMailbox(p); err != nil {
		return err
	}
	for !p.AtEnd() {
		if err := p.SP(); err != nil {
			return err
		}
		if _, err := p.AString(); err != nil {
			return err
		}
	}
	return errACLManaged
}
