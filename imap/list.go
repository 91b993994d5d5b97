package imap

import (
	"errors"
	"fmt"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// listEntry is one name LIST can show: a folder, or a \Noselect node of
// the Other Users tree ("Other Users", "Other Users/<owner>").
type listEntry struct {
	name       string
	folder     *storage.Folder // nil for a node or a name that does not exist
	subscribed bool
	// nonexistent marks a subscribed name whose folder is gone (RFC 5258
	// \NonExistent); only subscription listings show it.
	nonexistent bool
}

// visible lists every name the session may see, in display order: its own
// folders, then for each mailbox it has effective Full Access to (now) the
// owner's folders under Other Users/<owner address>/. Only these names
// exist for the session, so no LIST pattern can reach anything else.
func (c *session) visible() ([]listEntry, error) {
	s := c
	own, err := s.srv.st.Folders(s.owner)
	if err != nil {
		return nil, err
	}
	subs, err := s.srv.st.Subscriptions(s.owner)
	if err != nil {
		return nil, err
	}
	subscribed := make(map[string]bool, len(subs))
	for _, n := range subs {
		subscribed[n] = true
	}
	var out []listEntry
	for i := range own {
		out = append(out, listEntry{name: own[i].Name, folder: &own[i], subscribed: subscribed[own[i].Name]})
		delete(subscribed, own[i].Name)
	}
	for _, n := range subs {
		if subscribed[n] {
			out = append(out, listEntry{name: n, subscribed: true, nonexistent: true})
		}
	}
	if s.owner != s.actor {
		return out, nil
	}
	dir := s.srv.st.Directory()
	accs := dir.FullAccessMailboxes(s.actor, s.now())
	if len(accs) > 0 {
		out = append(out, listEntry{name: otherUsers})
	}
	for _, acc := range accs {
		p, ok := dir.Principal(acc.Owner)
		if !ok {
			continue
		}
		if err := s.srv.st.EnsureDefaultFolders(p.ID); err != nil {
			return nil, err
		}
		fs, err := s.srv.st.Folders(p.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, listEntry{name: otherUsers + string(delim) + p.Address})
		for i := range fs {
			// Exchange automapping: a delegate's view of another mailbox is
			// always subscribed, without client action.
			out = append(out, listEntry{name: otherName(p.Address, fs[i].Name), folder: &fs[i], subscribed: true})
		}
	}
	return out, nil
}

// cmdList answers LIST (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819
// LIST-STATUS, RFC 6154 SPECIAL-USE).
func (c *session) cmdList(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	req, err := p.List()
	if err != nil {
		return err
	}
	return c.list(req, false)
}

// cmdLsub answers LSUB (RFC 3501 §6.3.9): subscribed names, and a parent
// of subscribed names matched by a trailing "%" as \Noselect.
func (c *session) cmdLsub(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	req, err := p.List()
	if err != nil {
		return err
	}
	if req.Extended {
		return errBad(goimap.ResponseCodeClientBug, "LSUB takes one reference and one pattern")
	}
	req.Options = goimap.ListOptions{SelectSubscribed: true}
	return c.list(req, true)
}

func (c *session) list(req *wire.ListRequest, lsub bool) error {
	opts := req.Options
	all, err := c.visible()
	if err != nil {
		return err
	}
	resp := "LIST"
	if lsub {
		resp = "LSUB"
	}
	if !c.utf8 {
		req.Ref = lenientMUTF7(req.Ref)
	}
	var matchers []matcher
	var fulls []string
	for _, pat := range req.Patterns {
		if !c.utf8 {
			pat = lenientMUTF7(pat) // an invalid name matches nothing (RFC 3501 §5.1.3)
		}
		if pat == "" && !req.Extended {
			// RFC 9051 §6.3.9: the hierarchy delimiter and the root of ref.
			root, _, _ := strings.Cut(req.Ref, string(delim))
			c.enc.RawString("* " + resp + ` (\Noselect) "/" `).Mailbox(root).CRLF()
			continue
		}
		full := joinRef(req.Ref, pat)
		if strings.EqualFold(firstLevel(full), "INBOX") {
			full = "INBOX" + full[len("INBOX"):]
		}
		fulls = append(fulls, full)
		matchers = append(matchers, newMatcher(full))
	}
	anyMatch := func(name string) bool {
		for i := range matchers {
			if matchers[i].match(name) {
				return true
			}
		}
		return false
	}
	// hasChildren: names with an existing descendant. subChildren: names
	// with a subscribed descendant (LSUB's \Noselect parents). childInfo:
	// names with a subscribed descendant that no pattern matches (RFC 5258
	// §3.5 RECURSIVEMATCH: only then is CHILDINFO news to the client).
	hasChildren := map[string]bool{}
	subChildren := map[string]bool{}
	childInfo := map[string]bool{}
	for _, e := range all {
		recurse := opts.SelectRecursiveMatch && e.subscribed && !anyMatch(e.name)
		for _, p := range parents(e.name) {
			if !e.nonexistent {
				hasChildren[p] = true
			}
			if e.subscribed {
				subChildren[p] = true
			}
			if recurse {
				childInfo[p] = true
			}
		}
	}
	done := map[string]bool{}
	for i, m := range matchers {
		for _, e := range all {
			if done[e.name] || !m.match(e.name) {
				continue
			}
			if e.nonexistent && !opts.SelectSubscribed {
				continue // a subscription without its folder
			}
			noselect := e.folder == nil && !e.nonexistent
			if opts.SelectSubscribed && !e.subscribed {
				// LSUB: a parent with subscribed children matched by a
				// trailing %; LIST-EXTENDED RECURSIVEMATCH: CHILDINFO.
				if !(lsub && subChildren[e.name] && strings.HasSuffix(fulls[i], "%")) && !childInfo[e.name] {
					continue
				}
				noselect = lsub || noselect
			}
			if opts.SelectSpecialUse && (e.folder == nil || e.folder.SpecialUse == "") {
				continue
			}
			done[e.name] = true
			var attrs []string
			if noselect {
				attrs = append(attrs, `\Noselect`)
			}
			if !lsub {
				if e.nonexistent {
					attrs = append(attrs, `\NonExistent`)
				}
				if hasChildren[e.name] {
					attrs = append(attrs, `\HasChildren`)
				} else {
					attrs = append(attrs, `\HasNoChildren`)
				}
				if e.subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
					attrs = append(attrs, `\Subscribed`)
				}
				if e.folder != nil && e.folder.SpecialUse != "" {
					attrs = append(attrs, e.folder.SpecialUse)
				}
			}
			c.enc.RawString("* " + resp + " (" + strings.Join(attrs, " ") + `) "/" `).Mailbox(e.name)
			if childInfo[e.name] {
				c.enc.RawString(` ("CHILDINFO" ("SUBSCRIBED"))`)
			}
			c.enc.CRLF()
			if opts.ReturnStatus != nil && e.folder != nil {
				if err := c.writeStatus(*e.folder, e.name, opts.ReturnStatus); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// joinRef combines LIST's reference and pattern (RFC 3501 §6.3.8).
func joinRef(ref, pat string) string {
	if ref == "" || strings.HasPrefix(pat, string(delim)) {
		return pat
	}
	if strings.HasSuffix(ref, string(delim)) {
		return ref + pat
	}
	return ref + string(delim) + pat
}

func firstLevel(name string) string {
	f, _, _ := strings.Cut(name, string(delim))
	return f
}

// parents returns the ancestors of a "/" path, shortest first.
func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == delim {
			out = append(out, name[:i])
		}
	}
	return out
}

// cmdStatus answers STATUS (RFC 9051 §6.3.11, RFC 8438 STATUS=SIZE, RFC
// 7162 HIGHESTMODSEQ, RFC 7889 APPENDLIMIT).
func (c *session) cmdStatus(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	name, opts, err := p.Status()
	if err != nil {
		return err
	}
	pl, f, err := c.openFolder(name, errNoMailbox)
	if err != nil {
		return err
	}
	return c.writeStatus(f, pl.name, opts)
}

// writeStatus counts from the folder record where it can, and from the
// in-memory index (never the bodies) for UNSEEN, DELETED, SIZE and RECENT.
func (c *session) writeStatus(f storage.Folder, name string, opts *goimap.StatusOptions) error {
	n, uidNext, hms := f.Count, f.UIDNext, max(f.HighestModSeq, 1)
	var unseen, deleted, recent uint32
	var size int64
	if opts.NumUnseen || opts.NumDeleted || opts.Size || opts.NumRecent || opts.HighestModSeq {
		mb, err := c.srv.boxes.acquire(f)
		if err != nil {
			return err
		}
		from := c.srv.recentFrom(f.ID)
		mb.mu.RLock()
		n, uidNext, hms = uint32(len(mb.msgs)), uint32(mb.uidNext), mb.highestModSeq
		for _, e := range mb.msgs {
			if !hasFlag(e.flags, goimap.FlagSeen) {
				unseen++
			}
			if hasFlag(e.flags, goimap.FlagDeleted) {
				deleted++
			}
			if e.uid >= from {
				recent++
			}
			size += e.size
		}
		mb.mu.RUnlock()
		c.srv.boxes.release(mb)
	}
	var items []string
	add := func(k string, v any) { items = append(items, fmt.Sprintf("%s %v", k, v)) }
	if opts.NumMessages {
		add("MESSAGES", n)
	}
	if opts.NumRecent {
		add("RECENT", recent)
	}
	if opts.UIDNext {
		add("UIDNEXT", uidNext)
	}
	if opts.UIDValidity {
		add("UIDVALIDITY", f.UIDValidity)
	}
	if opts.NumUnseen {
		add("UNSEEN", unseen)
	}
	if opts.NumDeleted {
		add("DELETED", deleted)
	}
	if opts.Size {
		add("SIZE", size)
	}
	if opts.HighestModSeq {
		add("HIGHESTMODSEQ", hms)
	}
	if opts.AppendLimit {
		add("APPENDLIMIT", c.srv.cfg.AppendLimit)
	}
	c.enc.RawString("* STATUS ").Mailbox(name).RawString(" (" + strings.Join(items, " ") + ")").CRLF()
	return nil
}

// mailboxArg reads " mailbox" to the end of the command.
func mailboxArg(p *wire.Parser) (string, error) {
	if err := p.SP(); err != nil {
		return "", err
	}
	name, err := p.Mailbox()
	if err != nil {
		return "", err
	}
	return name, p.End()
}

// cmdCreate answers CREATE (RFC 9051 §6.3.4). Under Other Users it works in a
// mailbox the user has Full Access to; anywhere else there it answers one
// NO [NOPERM], whether the owner exists or not.
func (c *session) cmdCreate(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	name, err := p.Mailbox()
	if err != nil {
		return err
	}
	// RFC 6154 CREATE-SPECIAL-USE and other parameters are not offered.
	if err := p.End(); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, string(delim)) // a trailing delimiter only declares intent
	pl, area, ok := c.resolver().resolve(name)
	if !ok {
		if area == areaOther {
			return errCannotCreate
		}
		return errNo(goimap.ResponseCodeCannot, "invalid mailbox name")
	}
	if _, err := c.srv.st.CreateFolder(pl.owner, pl.folder, "", c.auditIn("create_folder", pl, nil)); err != nil {
		return err
	}
	c.done("create_folder", pl)
	return nil
}

// cmdDelete answers DELETE (RFC 9051 §6.3.5).
func (c *session) cmdDelete(p *wire.Parser) error {
	name, err := mailboxArg(p)
	if err != nil {
		return err
	}
	pl, _, ok := c.resolver().resolve(name)
	if !ok {
		return errNoMailbox
	}
	if c.sel != nil && c.sel.v.mb.owner == pl.owner {
		if f, err := c.srv.st.Folder(pl.owner, pl.folder); err == nil && f.ID == c.sel.v.mb.id {
			c.unselect() // RFC 9051 §6.3.5: deleting the selected mailbox unselects it
		}
	}
	if _, err := c.srv.st.DeleteFolder(pl.owner, pl.folder, c.auditIn("delete_folder", pl, nil)); err != nil {
		return err
	}
	c.done("delete_folder", pl)
	return nil
}

// cmdRename answers RENAME (RFC 9051 §6.3.6) inside one principal's mailbox.
func (c *session) cmdRename(p *wire.Parser) error {
	if err := p.SP(); err != nil {
		return err
	}
	oldName, err := p.Mailbox()
	if err != nil {
		return err
	}
	newName, err := mailboxArg(p)
	if err != nil {
		return err
	}
	res := c.resolver()
	src, _, ok := res.resolve(oldName)
	if !ok {
		return errNoMailbox
	}
	dst, area, ok := res.resolve(strings.TrimSuffix(newName, string(delim)))
	if !ok {
		if area == areaOther {
			return errCannotCreate
		}
		return errNo(goimap.ResponseCodeCannot, "invalid mailbox name")
	}
	if src.owner != dst.owner {
		return errNo(goimap.ResponseCodeCannot, "cannot move a mailbox to another user's mailbox")
	}
	audit := c.auditIn("rename_folder", src, func(storage.Outcome) string { return "to " + dst.folder })
	if err := c.srv.st.RenameFolder(src.owner, src.folder, dst.folder, audit); err != nil {
		return err
	}
	c.done("rename_folder", src)
	return nil
}

// cmdSubscribe answers SUBSCRIBE (RFC 9051 §6.3.7). Folders under Other
// Users are always subscribed (automapping), so there it changes nothing.
func (c *session) cmdSubscribe(p *wire.Parser) error {
	name, err := mailboxArg(p)
	if err != nil {
		return err
	}
	return c.setSubscribed(name, true)
}

// cmdUnsubscribe answers UNSUBSCRIBE (RFC 9051 §6.3.8); a no-op under Other
// Users, whose folders stay subscribed.
func (c *session) cmdUnsubscribe(p *wire.Parser) error {
	name, err := mailboxArg(p)
	if err != nil {
		return err
	}
	return c.setSubscribed(name, false)
}

func (c *session) setSubscribed(name string, on bool) error {
	pl, _, ok := c.resolver().resolve(name)
	if !ok {
		return errNoMailbox
	}
	if pl.via == "other_users" {
		_, err := c.srv.st.Folder(pl.owner, pl.folder)
		return err
	}
	var err error
	if on {
		err = c.srv.st.Subscribe(pl.owner, pl.folder)
	} else {
		err = c.srv.st.Unsubscribe(pl.owner, pl.folder)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return errNoMailbox
	}
	return err
}

// openFolder resolves a client mailbox name and loads its folder. A name the
// user may not see and a folder that does not exist give the same answer,
// missing (NONEXISTENT or TRYCREATE, depending on the command).
func (c *session) openFolder(name string, missing error) (place, storage.Folder, error) {
	r := c.resolver()
	pl, _, ok := r.resolve(name)
	if !ok {
		if owner, folder, dc, refused := r.refused(name); refused {
			c.auditRefusedOpen(owner, folder, dc)
		}
		return pl, storage.Folder{}, missing
	}
	f, err := c.srv.st.Folder(pl.owner, pl.folder)
	if errors.Is(err, storage.ErrNotFound) {
		return pl, f, missing
	}
	return pl, f, err
}

func (c *session) resolver() resolver {
	return resolver{dir: c.srv.st.Directory(), actor: c.actor, owner: c.owner, now: c.now(), ownerAdr: c.ownerAddr, mutf7: !c.utf8}
}

// matcher matches mailbox names against a LIST pattern (RFC 9051 §6.3.9:
// "*" matches anything, "%" anything but the delimiter), in time linear in
// name × pattern (no backtracking blow-up on hostile patterns).
type matcher struct{ pat string }

func newMatcher(pat string) matcher { return matcher{pat: pat} }

func (m matcher) match(name string) bool {
	p := m.pat
	// prev[j]: pattern p[:j] matches the name prefix so far.
	prev := make([]bool, len(p)+1)
	cur := make([]bool, len(p)+1)
	prev[0] = true
	for j := 1; j <= len(p); j++ {
		prev[j] = prev[j-1] && (p[j-1] == '*' || p[j-1] == '%')
	}
	for i := 0; i < len(name); i++ {
		cur[0] = false
		for j := 1; j <= len(p); j++ {
			switch p[j-1] {
			case '*':
				cur[j] = cur[j-1] || prev[j]
			case '%':
				cur[j] = cur[j-1] || (prev[j] && name[i] != delim)
			default:
				cur[j] = prev[j-1] && p[j-1] == name[i]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(p)]
}

// lenientMUTF7 decodes a modified UTF-7 pattern; one that does not decode
// is kept as it is, so it matches no (decoded) name.
func lenientMUTF7(s string) string {
	if d, err := wire.DecodeMUTF7(s); err == nil {
		return d
	}
	return s
}
