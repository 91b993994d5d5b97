package imap

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// mailbox is the in-memory index of one folder, shared by every session
// that has it selected (owner and delegates alike): messages in UID order
// with their metadata, the keywords in use, and the views of the sessions
// that have it selected, to which every change is fanned out.
//
// It is built from storage.Snapshot and kept current by the store's change
// notifications, which arrive in commit order while the folder's storage
// lock is held. Nothing holding mu may call into storage for the same
// folder (the notifier holds the folder lock and waits for mu).
type mailbox struct {
	id    uint64
	owner delegation.ID
	ready chan struct{} // closed when loaded (or failed: err)
	err   error         // set before ready is closed

	mu            sync.RWMutex
	loaded        bool               // guarded by mu
	deleted       bool               // guarded by mu
	uidValidity   uint32             // guarded by mu
	uidNext       goimap.UID         // guarded by mu
	highestModSeq uint64             // guarded by mu
	msgs          []*msgEntry        // guarded by mu; sorted by UID
	keywords      []goimap.Flag      // guarded by mu; in first-seen order, only grows
	kwSet         map[string]bool    // guarded by mu; lower-cased keywords
	views         map[*view]struct{} // guarded by mu
	envMu         sync.Mutex         // one envelope renderer at a time (see ensureEnvelopes)

	refs     int       // guarded by registry.mu
	lastUsed time.Time // guarded by registry.mu
}

// msgEntry is one message's metadata. uid, date, size and blob are
// immutable; flags (replaced, never modified in place) and modseq are
// guarded by mailbox.mu.
type msgEntry struct {
	uid    goimap.UID
	date   time.Time
	size   int64
	blob   uint64
	flags  []goimap.Flag
	modseq uint64
	env    atomic.Pointer[[]byte] // the rendered ENVELOPE, made lazily from the header block
	search atomic.Pointer[searchFields]
}

// event is one change as a view receives it.
type event struct {
	kind   storage.ChangeKind
	e      *msgEntry      // append, flags
	uid    goimap.UID     // expunge
	origin storage.Origin // the view that caused it, if any
}

// view is one session's picture of a selected mailbox: the messages it has
// been told of, in sequence-number order, and the changes not yet
// reported to it.
type view struct {
	mb      *mailbox
	origin  storage.Origin // this view's token in the changes it causes
	msgs    []*msgEntry    // owned by the session goroutine
	kwSent  int            // owned by the session: keywords already announced in FLAGS
	pending []event        // guarded by mb.mu
	notify  chan struct{}  // buffered 1: pending grew
}

func toFlags(fs []string) []goimap.Flag {
	out := make([]goimap.Flag, len(fs))
	for i, f := range fs {
		out[i] = goimap.Flag(f)
	}
	return out
}

func fromFlags(fs []goimap.Flag) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

func newEntry(m storage.Message) *msgEntry {
	return &msgEntry{uid: goimap.UID(m.UID), date: m.InternalDate, size: m.Size, blob: m.Blob, flags: toFlags(m.Flags), modseq: m.ModSeq}
}

// indexOf returns the position of uid in a UID-sorted list, or -1.
func indexOf(msgs []*msgEntry, uid goimap.UID) int {
	i := sort.Search(len(msgs), func(i int) bool { return msgs[i].uid >= uid })
	if i < len(msgs) && msgs[i].uid == uid {
		return i
	}
	return -1
}

func (mb *mailbox) addKeywordsLocked(flags []goimap.Flag) {
	for _, f := range flags {
		if len(f) == 0 || f[0] == '\\' {
			continue
		}
		k := strings.ToLower(string(f))
		if !mb.kwSet[k] {
			mb.kwSet[k] = true
			mb.keywords = append(mb.keywords, f)
		}
	}
}

// apply mirrors one storage change and hands it to every view.
func (mb *mailbox) apply(c storage.Change) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if !mb.loaded || mb.deleted {
		return // not loaded yet: the snapshot (taken later) includes it
	}
	ev := event{kind: c.Kind, uid: goimap.UID(c.UID), origin: c.Origin}
	switch c.Kind {
	case storage.ChangeAppend:
		if goimap.UID(c.UID) < mb.uidNext {
			return // already known
		}
		ev.e = newEntry(c.Message)
		mb.msgs = append(mb.msgs, ev.e)
		mb.uidNext = goimap.UID(c.UID + 1)
		mb.addKeywordsLocked(ev.e.flags)
	case storage.ChangeExpunge:
		i := indexOf(mb.msgs, goimap.UID(c.UID))
		if i < 0 {
			return
		}
		mb.msgs = slices.Delete(mb.msgs, i, i+1)
	case storage.ChangeFlags:
		i := indexOf(mb.msgs, goimap.UID(c.UID))
		if i < 0 {
			return
		}
		ev.e = mb.msgs[i]
		ev.e.flags = toFlags(c.Flags)
		ev.e.modseq = max(ev.e.modseq, c.ModSeq)
		mb.addKeywordsLocked(ev.e.flags)
	case storage.ChangeDelete:
		mb.deleted = true
	default:
		return
	}
	mb.highestModSeq = max(mb.highestModSeq, c.ModSeq)
	for v := range mb.views {
		v.pending = append(v.pending, ev)
		select {
		case v.notify <- struct{}{}:
		default:
		}
	}
}

// attach makes a view of the mailbox as it is now.
func (mb *mailbox) attach() *view {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	v := &view{mb: mb, origin: storage.NewOrigin(), msgs: slices.Clone(mb.msgs), kwSent: len(mb.keywords), notify: make(chan struct{}, 1)}
	mb.views[v] = struct{}{}
	return v
}

func (mb *mailbox) detach(v *view) {
	mb.mu.Lock()
	delete(mb.views, v)
	mb.mu.Unlock()
}

// registry holds the loaded mailboxes by folder ID. A mailbox stays loaded
// while a session uses it and, once idle, until more than maxIdle idle
// mailboxes, or more than maxIdleMsgs messages in idle mailboxes, are kept
// (the least recently used goes first, and never the last one released).
// An idle mailbox costs its index and header caches, about 1 KiB a message.
type registry struct {
	st          storage.Backend
	maxIdle     int
	maxIdleMsgs int

	mu sync.Mutex
	m  map[uint64]*mailbox // guarded by mu
}

func newRegistry(st storage.Backend) *registry {
	return &registry{st: st, maxIdle: 256, maxIdleMsgs: 50000, m: map[uint64]*mailbox{}}
}

func (r *registry) onChange(c storage.Change) {
	r.mu.Lock()
	mb := r.m[c.FolderID]
	if c.Kind == storage.ChangeDelete && mb != nil {
		delete(r.m, c.FolderID)
	}
	r.mu.Unlock()
	if mb != nil {
		mb.apply(c)
	}
}

// acquire returns the loaded mailbox of a folder; release must follow.
func (r *registry) acquire(f storage.Folder) (*mailbox, error) {
	r.mu.Lock()
	mb := r.m[f.ID]
	load := mb == nil
	if load {
		mb = &mailbox{id: f.ID, owner: f.Owner, ready: make(chan struct{})}
		r.m[f.ID] = mb
	}
	mb.refs++
	r.mu.Unlock()
	if load {
		mb.err = r.st.Snapshot(f.ID, func(f storage.Folder, msgs []storage.Message) {
			mb.mu.Lock()
			mb.msgs = make([]*msgEntry, len(msgs))
			mb.kwSet = map[string]bool{}
			mb.views = map[*view]struct{}{}
			for i, m := range msgs {
				mb.msgs[i] = newEntry(m)
				mb.addKeywordsLocked(mb.msgs[i].flags)
				mb.highestModSeq = max(mb.highestModSeq, m.ModSeq)
			}
			mb.uidValidity, mb.uidNext = f.UIDValidity, goimap.UID(f.UIDNext)
			mb.highestModSeq = max(mb.highestModSeq, f.HighestModSeq, 1)
			mb.loaded = true
			mb.mu.Unlock()
		})
		if mb.err != nil {
			r.mu.Lock()
			if r.m[f.ID] == mb {
				delete(r.m, f.ID)
			}
			r.mu.Unlock()
		}
		close(mb.ready)
	}
	<-mb.ready
	if mb.err != nil {
		r.release(mb)
		return nil, mb.err
	}
	return mb, nil
}

func (r *registry) release(mb *mailbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mb.refs--
	mb.lastUsed = time.Now()
	if mb.refs > 0 {
		return
	}
	var idle []*mailbox
	msgs := 0
	for _, x := range r.m {
		if x.refs == 0 {
			idle = append(idle, x)
			msgs += x.size()
		}
	}
	if len(idle) <= r.maxIdle && msgs <= r.maxIdleMsgs {
		return
	}
	slices.SortFunc(idle, func(a, b *mailbox) int { return a.lastUsed.Compare(b.lastUsed) })
	n := len(idle)
	for _, x := range idle[:n-1] { // the one just released stays, however big
		if n <= r.maxIdle && msgs <= r.maxIdleMsgs {
			break
		}
		delete(r.m, x.id)
		n, msgs = n-1, msgs-x.size()
	}
}

// size is how many messages the mailbox holds (0 until loaded).
func (mb *mailbox) size() int {
	mb.mu.RLock()
	defer mb.mu.RUnlock()
	return len(mb.msgs)
}
