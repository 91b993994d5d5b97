package imap

import (
	"errors"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailgate/mailgate/storage"
)

// listEntry is one name LIST can show: a folder, or a \Noselect node of
// the Other Users tree ("Other Users", "Other Users/<owner>").
type listEntry struct {
	name       string
	folder     *storage.Folder // nil for a node
	subscribed bool
}

// visible lists every name the session may see, in display order: its own
// folders, then for each mailbox it has effective Full Access to (now) the
// owner's folders under Other Users/<owner address>/. Only these names
// exist for the session, so no LIST pattern can reach anything else.
func (s *session) visible() ([]listEntry, error) {
	own, err := s.srv.st.Folders(s.owner)
	if err != nil {
		return nil, err
	}
	var out []listEntry
	for i := range own {
		out = append(out, listEntry{name: own[i].Name, folder: &own[i], subscribed: own[i].Subscribed})
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

// List answers LIST and LSUB (RFC 3501 §6.3.8-9, RFC 5258 LIST-EXTENDED,
// RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE).
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *goimap.ListOptions) (err error) {
	defer s.srv.metrics.observe("list", time.Now(), &err)
	if err := s.checkSession(); err != nil {
		return err
	}
	all, err := s.visible()
	if err != nil {
		return s.reply(err)
	}
	hasChildren := map[string]bool{}
	for _, e := range all {
		for _, p := range parents(e.name) {
			hasChildren[p] = true
		}
	}
	done := map[string]bool{}
	for _, pat := range patterns {
		if pat == "" {
			// RFC 3501 §6.3.8: the hierarchy delimiter and the root of ref.
			root, _, _ := strings.Cut(ref, string(delim))
			if err := w.WriteList(&goimap.ListData{Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}, Delim: delim, Mailbox: root}); err != nil {
				return err
			}
			continue
		}
		r, p := ref, pat
		if r == "" && strings.EqualFold(firstLevel(p), "INBOX") {
			p = "INBOX" + p[len("INBOX"):]
		}
		for _, e := range all {
			if done[e.name] || !imapserver.MatchList(e.name, delim, r, p) {
				continue
			}
			if opts.SelectSubscribed && !e.subscribed {
				continue
			}
			if opts.SelectSpecialUse && (e.folder == nil || e.folder.SpecialUse == "") {
				continue
			}
			done[e.name] = true
			data := &goimap.ListData{Delim: delim, Mailbox: e.name}
			if e.folder == nil {
				data.Attrs = append(data.Attrs, goimap.MailboxAttrNoSelect)
			}
			if hasChildren[e.name] {
				data.Attrs = append(data.Attrs, goimap.MailboxAttrHasChildren)
			} else {
				data.Attrs = append(data.Attrs, goimap.MailboxAttrHasNoChildren)
			}
			if e.subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
				data.Attrs = append(data.Attrs, goimap.MailboxAttrSubscribed)
			}
			if e.folder != nil && e.folder.SpecialUse != "" {
				data.Attrs = append(data.Attrs, goimap.MailboxAttr(e.folder.SpecialUse))
			}
			if opts.ReturnStatus != nil && e.folder != nil {
				st, err := s.statusOf(*e.folder, e.name, opts.ReturnStatus)
				if err != nil {
					return s.reply(err)
				}
				data.Status = st
			}
			if err := w.WriteList(data); err != nil {
				return err
			}
		}
	}
	return nil
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

// Status answers STATUS (RFC 3501 §6.3.10, RFC 8438 STATUS=SIZE).
func (s *session) Status(name string, opts *goimap.StatusOptions) (_ *goimap.StatusData, err error) {
	defer s.srv.metrics.observe("status", time.Now(), &err)
	if err := s.checkSession(); err != nil {
		return nil, err
	}
	pl, f, err := s.openFolder(name, errNoMailbox)
	if err != nil {
		return nil, err
	}
	return s.statusOf(f, pl.name, opts)
}

// statusOf counts from the folder record where it can, and from the
// in-memory index (never the bodies) for UNSEEN, DELETED and SIZE.
func (s *session) statusOf(f storage.Folder, name string, opts *goimap.StatusOptions) (*goimap.StatusData, error) {
	data := &goimap.StatusData{Mailbox: name, UIDNext: goimap.UID(f.UIDNext), UIDValidity: f.UIDValidity}
	n := f.Count
	var zero uint32
	if opts.NumRecent {
		data.NumRecent = &zero
	}
	if opts.NumUnseen || opts.NumDeleted || opts.Size {
		mb, err := s.srv.boxes.acquire(f)
		if err != nil {
			return nil, err
		}
		var unseen, deleted uint32
		var size int64
		mb.mu.RLock()
		n = uint32(len(mb.msgs))
		data.UIDNext = mb.uidNext
		for _, e := range mb.msgs {
			seen, del := false, false
			for _, fl := range e.flags {
				seen = seen || fl == goimap.FlagSeen
				del = del || fl == goimap.FlagDeleted
			}
			if !seen {
				unseen++
			}
			if del {
				deleted++
			}
			size += e.size
		}
		mb.mu.RUnlock()
		s.srv.boxes.release(mb)
		if opts.NumUnseen {
			data.NumUnseen = &unseen
		}
		if opts.NumDeleted {
			data.NumDeleted = &deleted
		}
		if opts.Size {
			data.Size = &size
		}
	}
	if opts.NumMessages {
		data.NumMessages = &n
	}
	return data, nil
}

// Create answers CREATE (RFC 3501 §6.3.3). Under Other Users it works in a
// mailbox the user has Full Access to; anywhere else there it answers one
// NO [NOPERM], whether the owner exists or not.
func (s *session) Create(name string, _ *goimap.CreateOptions) (err error) {
	defer s.srv.metrics.observe("create", time.Now(), &err)
	if err := s.checkSession(); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, string(delim)) // RFC 3501: a trailing delimiter only declares intent
	pl, area, ok := s.resolver().resolve(name)
	if !ok {
		if area == areaOther {
			return errCannotCreate
		}
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "invalid mailbox name"}
	}
	if _, err := s.srv.st.CreateFolder(pl.owner, pl.folder, ""); err != nil {
		return s.reply(err)
	}
	s.audit("create_folder", pl, "")
	return nil
}

// Delete answers DELETE (RFC 3501 §6.3.4).
func (s *session) Delete(name string) (err error) {
	defer s.srv.metrics.observe("delete", time.Now(), &err)
	if err := s.checkSession(); err != nil {
		return err
	}
	pl, _, ok := s.resolver().resolve(name)
	if !ok {
		return errNoMailbox
	}
	if _, err := s.srv.st.DeleteFolder(pl.owner, pl.folder); err != nil {
		return s.reply(err)
	}
	s.audit("delete_folder", pl, "")
	return nil
}

// Rename answers RENAME (RFC 3501 §6.3.5) inside one principal's mailbox.
func (s *session) Rename(oldName, newName string, _ *goimap.RenameOptions) (err error) {
	defer s.srv.metrics.observe("rename", time.Now(), &err)
	if err := s.checkSession(); err != nil {
		return err
	}
	res := s.resolver()
	src, _, ok := res.resolve(oldName)
	if !ok {
		return errNoMailbox
	}
	dst, area, ok := res.resolve(strings.TrimSuffix(newName, string(delim)))
	if !ok {
		if area == areaOther {
			return errCannotCreate
		}
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "invalid mailbox name"}
	}
	if src.owner != dst.owner {
		return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot, Text: "cannot move a mailbox to another user's mailbox"}
	}
	if err := s.srv.st.RenameFolder(src.owner, src.folder, dst.folder); err != nil {
		return s.reply(err)
	}
	s.audit("rename_folder", src, "to "+dst.folder)
	return nil
}

// Subscribe answers SUBSCRIBE (RFC 3501 §6.3.6). Folders under Other Users
// are always subscribed (automapping), so there it changes nothing.
func (s *session) Subscribe(name string) (err error) {
	defer s.srv.metrics.observe("subscribe", time.Now(), &err)
	return s.setSubscribed(name, true)
}

// Unsubscribe answers UNSUBSCRIBE (RFC 3501 §6.3.7); a no-op under Other
// Users, whose folders stay subscribed.
func (s *session) Unsubscribe(name string) (err error) {
	defer s.srv.metrics.observe("unsubscribe", time.Now(), &err)
	return s.setSubscribed(name, false)
}

func (s *session) setSubscribed(name string, on bool) error {
	if err := s.checkSession(); err != nil {
		return err
	}
	pl, _, ok := s.resolver().resolve(name)
	if !ok {
		return errNoMailbox
	}
	if pl.via == "other_users" {
		if _, err := s.srv.st.Folder(pl.owner, pl.folder); err != nil {
			return s.reply(err)
		}
		return nil
	}
	err := s.srv.st.SetSubscribed(pl.owner, pl.folder, on)
	if errors.Is(err, storage.ErrNotFound) {
		return errNoMailbox
	}
	return s.reply(err)
}
