package imap

import (
	"strings"
	"time"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/imap/wire"
	"github.com/mailgate/mailgate/storage"
)

// otherUsers is the RFC 2342 "other users" namespace prefix (without its
// delimiter). Its first level is reserved in any letter case: nobody can
// create a personal folder that looks like it.
const (
	otherUsers = "Other Users"
	delim      = '/'
)

// place is a client mailbox name resolved to a principal's folder.
type place struct {
	owner     delegation.ID
	folder    string // normalised storage folder name
	delegated bool   // owner is not the actor
	via       string // "other_users" or "delegate_login" when delegated
	name      string // the name as this session shows it
	ownerAddr string
	dc        delegation.Decision // the Open decision that allowed it
}

// area classifies a name that did not resolve, so that every command can
// give one answer for "does not exist" whatever the reason (no such user,
// no right, pending right, bad syntax).
type area int

const (
	areaPersonal area = iota // the actor's (or logged-in owner's) own namespace
	areaOther                // under "Other Users/": not resolvable
)

// resolver turns names into places for one actor at one time. It is pure
// apart from the directory snapshot it is given, so the fuzz test drives
// it directly.
type resolver struct {
	dir      *delegation.Directory
	actor    delegation.ID
	owner    delegation.ID // personal namespace owner: actor, or the owner of a delegate login
	now      time.Time
	ownerAdr string
	mutf7    bool // names arrive in modified UTF-7 (the client did not ENABLE UTF8=ACCEPT)
}

// isOtherUsers reports whether a name lies in the Other Users namespace
// (first level "Other Users" in any case).
func isOtherUsers(name string) bool {
	first, _, _ := strings.Cut(name, string(delim))
	return strings.EqualFold(first, otherUsers)
}

// resolve maps a client mailbox name to a folder. ok is false for anything
// that must look nonexistent: a bad name, an unknown owner, an owner the
// actor may not open (now), or the owner's bare node. It never looks at
// whether the folder itself exists.
func (r resolver) resolve(name string) (place, area, bool) {
	name, valid := r.decode(name)
	if !valid {
		return place{}, areaPersonal, false // RFC 3501 §5.1.3: not a valid name, so no such mailbox
	}
	if isOtherUsers(name) {
		if r.owner != r.actor {
			return place{}, areaOther, false // a delegate login sees only the owner's mailbox
		}
		rest := name[len(otherUsers):]
		if !strings.HasPrefix(rest, string(delim)) {
			return place{}, areaOther, false
		}
		p, folder, found := r.lookupOwner(rest[1:])
		if !found || p.ID == r.actor {
			return place{}, areaOther, false
		}
		dc := r.dir.Open(r.actor, p.ID, r.now)
		if !dc.Allowed {
			return place{}, areaOther, false
		}
		norm, err := storage.NormalizeFolder(folder)
		if err != nil {
			return place{}, areaOther, false
		}
		return place{owner: p.ID, folder: norm, delegated: true, via: "other_users", ownerAddr: p.Address, dc: dc,
			name: otherUsers + string(delim) + p.Address + string(delim) + norm}, areaOther, true
	}
	norm, err := storage.NormalizeFolder(name)
	if err != nil || name == "" {
		return place{}, areaPersonal, false
	}
	pl := place{owner: r.owner, folder: norm, name: norm, ownerAddr: r.ownerAdr}
	if r.owner != r.actor {
		dc := r.dir.Open(r.actor, r.owner, r.now)
		if !dc.Allowed {
			return place{}, areaPersonal, false
		}
		pl.delegated, pl.via, pl.dc = true, "delegate_login", dc
	}
	return pl, areaPersonal, true
}

// decode turns a name as the client sent it into the name it means.
func (r resolver) decode(name string) (string, bool) {
	if r.mutf7 {
		d, err := wire.DecodeMUTF7(name)
		if err != nil {
			return "", false
		}
		name = d
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
	}
	return name, true
}

// refused tells, for a name under Other Users that names a real principal
// the actor may not open now, who and why: the refusals worth an audit
// record (a misspelt owner or a bad name is nobody's business).
func (r resolver) refused(name string) (*delegation.Principal, string, delegation.Decision, bool) {
	name, valid := r.decode(name)
	if !valid || !isOtherUsers(name) || r.owner != r.actor {
		return nil, "", delegation.Decision{}, false
	}
	rest, ok := strings.CutPrefix(name[len(otherUsers):], string(delim))
	if !ok {
		return nil, "", delegation.Decision{}, false
	}
	p, folder, found := r.lookupOwner(rest)
	if !found || p.ID == r.actor {
		return nil, "", delegation.Decision{}, false
	}
	dc := r.dir.Open(r.actor, p.ID, r.now)
	if dc.Allowed {
		return nil, "", delegation.Decision{}, false
	}
	return p, folder, dc, true
}

// lookupOwner splits "<owner address>/<folder>" and finds the owner. When
// the address as written names nobody, it also tries the address with some
// of the following "/" read as ".": mutt with its stock imap_delim_chars
// ("/.") turns every "." of a path into the server's delimiter before it
// sends it, so "Other Users/alice@example.test/INBOX" arrives as
// "Other Users/alice@example/test/INBOX". No address lacks a dot in its
// domain, so the strict reading is never shadowed (a name whose first
// level has a dot is read only as written), and the decision that follows
// is the same as for the name written out.
func (r resolver) lookupOwner(rest string) (*delegation.Principal, string, bool) {
	addr, folder, ok := strings.Cut(rest, string(delim))
	if !ok || folder == "" {
		return nil, "", false
	}
	if p, found := r.dir.Lookup(addr); found || strings.Contains(addr, ".") {
		return p, folder, found
	}
	for strings.Contains(folder, string(delim)) {
		var next string
		next, folder, _ = strings.Cut(folder, string(delim))
		addr += "." + next
		if p, found := r.dir.Lookup(addr); found {
			return p, folder, true
		}
	}
	return nil, "", false
}

// otherName is how a delegated folder is listed.
func otherName(ownerAddr, folder string) string {
	return otherUsers + string(delim) + ownerAddr + string(delim) + folder
}
