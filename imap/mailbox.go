package imap

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// mailbox is the in-memory index of one folder, shared by every session
// that has it selected (owner and delegates alike): UIDs in order with
// their metadata, parsed envelopes (filled lazily), and the go-imap
// MailboxTracker that turns changes into EXISTS/EXPUNGE/FETCH updates.
//
// It is built from storage.Snapshot and then kept current by the store's
// change notifications, which arrive in commit order while the folder's
// storage lock is held. mu covers msgs and the tracker together, so a
// session translating sequence numbers (tracker) and indexing msgs always
// sees the two agree. Nothing holding mu may call into storage for the
// same folder (the notifier holds the folder lock and waits for mu).
type mailbox struct {
	id    uint64
	owner delegation.ID
	ready chan struct{} // closed when loaded (or failed: err)
	err   error         // set before ready is closed

	mu          sync.RWMutex
	loaded      bool                       // guarded by mu
	deleted     bool                       // guarded by mu
	uidValidity uint32                     // guarded by mu
	uidNext     goimap.UID                 // guarded by mu
	msgs        []*msgEntry                // guarded by mu; sorted by UID
	tracker     *imapserver.MailboxTracker // guarded by mu for Queue* calls
	envMu       sync.Mutex                 // one envelope parser at a time (see ensureEnvelopes)
	changed     chan struct{}              // guarded by mu; closed and replaced at every change

	refs     int       // guarded by registry.mu
	lastUsed time.Time // guarded by registry.mu
}

// msgEntry is one message's metadata. Fields other than flags are
// immutable; flags is replaced (never modified in place) under mailbox.mu.
type msgEntry struct {
	uid   goimap.UID
	date  time.Time
	size  int64
	blob  uint64
	flags []goimap.Flag
	env   atomic.Pointer[goimap.Envelope] // parsed lazily from the header block
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
	return &msgEntry{uid: goimap.UID(m.UID), date: m.InternalDate, size: m.Size, blob: m.Blob, flags: toFlags(m.Flags)}
}

// indexLocked returns the position of uid in msgs, or -1.
func (mb *mailbox) indexLocked(uid goimap.UID) int {
	i := sort.Search(len(mb.msgs), func(i int) bool { return mb.msgs[i].uid >= uid })
	if i < len(mb.msgs) && mb.msgs[i].uid == uid {
		return i
	}
	return -1
}

// apply mirrors one storage change and queues the matching update for the
// sessions (RFC 3501 §7.3.1 EXISTS, §7.4.1 EXPUNGE, §7.4.2 FETCH).
func (mb *mailbox) apply(c storage.Change) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if !mb.loaded || mb.deleted {
		return // not loaded yet: the snapshot (taken later) includes it
	}
	close(mb.changed)
	mb.changed = make(chan struct{})
	switch c.Kind {
	case storage.ChangeAppend:
		if goimap.UID(c.UID) < mb.uidNext {
			return // already known
		}
		mb.msgs = append(mb.msgs, newEntry(c.Message))
		mb.uidNext = goimap.UID(c.UID + 1)
		mb.tracker.QueueNumMessages(uint32(len(mb.msgs)))
	case storage.ChangeExpunge:
		if i := mb.indexLocked(goimap.UID(c.UID)); i >= 0 {
			mb.msgs = slices.Delete(mb.msgs, i, i+1)
			mb.tracker.QueueExpunge(uint32(i + 1))
		}
	case storage.ChangeFlags:
		if i := mb.indexLocked(goimap.UID(c.UID)); i >= 0 {
			e := mb.msgs[i]
			e.flags = toFlags(c.Flags)
			src, _ := c.Origin.(*imapserver.SessionTracker)
			mb.tracker.QueueMessageFlags(uint32(i+1), e.uid, e.flags, src)
		}
	case storage.ChangeDelete:
		mb.deleted = true
	}
}

// registry holds the loaded mailboxes by folder ID. A mailbox stays loaded
// while a session uses it and, once idle, until more than maxIdle idle
// mailboxes are kept (the least recently used goes first).
type registry struct {
	st      *storage.Store
	maxIdle int

	mu sync.Mutex
	m  map[uint64]*mailbox // guarded by mu
}

func newRegistry(st *storage.Store) *registry {
	return &registry{st: st, maxIdle: 256, m: map[uint64]*mailbox{}}
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
			for i, m := range msgs {
				mb.msgs[i] = newEntry(m)
			}
			mb.uidValidity, mb.uidNext = f.UIDValidity, goimap.UID(f.UIDNext)
			mb.tracker = imapserver.NewMailboxTracker(uint32(len(msgs)))
			mb.changed = make(chan struct{})
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
	for _, x := range r.m {
		if x.refs == 0 {
			idle = append(idle, x)
		}
	}
	if len(idle) <= r.maxIdle {
		return
	}
	slices.SortFunc(idle, func(a, b *mailbox) int { return a.lastUsed.Compare(b.lastUsed) })
	for _, x := range idle[:len(idle)-r.maxIdle] {
		delete(r.m, x.id)
	}
}
