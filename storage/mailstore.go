package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// Mailstore layout (all under one Badger DB):
//
//	folder/<owner id>/<name>            → Folder (JSON): ID, UIDVALIDITY, UIDNEXT, count
//	msg/<folder id:16x>/<uid:08x>       → Message (JSON): flags, date, size, blob — never the body
//	blob/<blob id:16x>                  → the message bytes, stored once however many copies
//	blobhdr/<blob id:16x>               → the header block alone (ENVELOPE without the body)
//	blobref/<blob id:16x>               → uint64 count of messages that refer to the blob
//
// Writes to one folder are serialised by an in-process lock held until the
// commit is durable, so UIDs are committed (and announced) in ascending
// order. Commits to different folders proceed in parallel and share fsyncs.

var (
	prefFolder  = []byte("folder/")
	prefMsg     = []byte("msg/")
	prefBlob    = []byte("blob/")
	prefBlobHdr = []byte("blobhdr/")
	prefBlobRef = []byte("blobref/")
	keyNextFold = []byte("meta/next-folder")
	keyNextBlob = []byte("meta/next-blob")
)

// Default folders, created on first use, with their SPECIAL-USE attribute
// (RFC 6154). INBOX has none.
var DefaultFolders = []struct{ Name, SpecialUse string }{
	{"INBOX", ""}, {"Sent", `\Sent`}, {"Drafts", `\Drafts`}, {"Trash", `\Trash`}, {"Junk", `\Junk`}, {"Archive", `\Archive`},
}

// Folder is one mailbox folder of one principal.
type Folder struct {
	ID          uint64        `json:"id"`
	Owner       delegation.ID `json:"owner"`
	Name        string        `json:"name"` // "/"-separated hierarchy; "INBOX" is always upper case
	UIDValidity uint32        `json:"uid_validity"`
	UIDNext     uint32        `json:"uid_next"`
	Count       uint32        `json:"count"`
	Subscribed  bool          `json:"subscribed"`
	SpecialUse  string        `json:"special_use,omitempty"`
}

// Message is a message's metadata. The body lives in its blob.
type Message struct {
	UID          uint32    `json:"uid"`
	Flags        []string  `json:"flags,omitempty"`
	InternalDate time.Time `json:"date"`
	Size         int64     `json:"size"`
	Blob         uint64    `json:"blob"`
}

// Target is one place a message is stored: a principal's folder.
type Target struct {
	Owner  delegation.ID
	Folder string   // "" means INBOX
	Flags  []string // initial flags
}

// Placed tells where a delivered copy went.
type Placed struct {
	Owner    delegation.ID
	FolderID uint64
	Folder   string
	UID      uint32
}

// ChangeKind says what happened in a folder.
type ChangeKind int

const (
	ChangeAppend  ChangeKind = iota + 1 // a message was added (UID)
	ChangeExpunge                       // a message was removed (UID)
	ChangeFlags                         // a message's flags changed (UID, Flags)
	ChangeFolder                        // a folder was created, deleted or renamed
)

// Change is a notification for live sessions. Changes to one folder are
// delivered in commit order, while the folder's lock is held, so a listener
// sees exactly the sequence a fresh reader would.
type Change struct {
	Kind     ChangeKind
	Owner    delegation.ID
	FolderID uint64
	UID      uint32
	Flags    []string
	Count    uint32 // folder's message count after the change
	Origin   any    // the session that caused it (may be nil)
}

type hubState struct {
	mu        sync.RWMutex
	listeners []func(Change)
}

// OnChange registers a listener. It is called synchronously, with the
// folder's lock held: it must be quick and must not call back into storage
// for that folder.
func (s *Store) OnChange(fn func(Change)) {
	s.hub.mu.Lock()
	s.hub.listeners = append(s.hub.listeners, fn)
	s.hub.mu.Unlock()
}

func (s *Store) notify(c Change) {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	for _, fn := range s.hub.listeners {
		fn(c)
	}
}

// folderLocks serialises writers per folder key.
type folderLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func (l *folderLocks) lock(keys []string) func() {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	ms := make([]*sync.Mutex, len(keys))
	for i, k := range keys {
		if l.m[k] == nil {
			l.m[k] = new(sync.Mutex)
		}
		ms[i] = l.m[k]
	}
	l.mu.Unlock()
	for _, m := range ms {
		m.Lock()
	}
	return func() {
		for i := len(ms) - 1; i >= 0; i-- {
			ms[i].Unlock()
		}
	}
}

// NormalizeFolder cleans a folder name: INBOX in any case is "INBOX" (also
// as the first level of a path), empty levels and "." / ".." are refused.
func NormalizeFolder(name string) (string, error) {
	if name == "" {
		return "INBOX", nil
	}
	parts := strings.Split(name, "/")
	if strings.EqualFold(parts[0], "INBOX") {
		parts[0] = "INBOX"
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "\x00\r\n*%") {
			return "", errorf(ErrInvalid, "invalid folder name %q", name)
		}
	}
	return strings.Join(parts, "/"), nil
}

func folderKey(owner delegation.ID, name string) []byte {
	return key(prefFolder, string(owner), name)
}

func msgKey(folder uint64, uid uint32) []byte {
	return fmt.Appendf(append([]byte(nil), prefMsg...), "%016x/%08x", folder, uid)
}

func msgPrefix(folder uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefMsg...), "%016x/", folder)
}

func blobKey(prefix []byte, id uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefix...), "%016x", id)
}

// getOrCreateFolderTxn returns a folder, creating it when it is one of the
// default folders (created on first use) or create is true.
func getOrCreateFolderTxn(txn *badger.Txn, owner delegation.ID, name string, create bool) (Folder, bool, error) {
	var f Folder
	err := getJSON(txn, folderKey(owner, name), &f)
	if err == nil {
		return f, false, nil
	}
	if err != ErrNotFound {
		return f, false, err
	}
	special, isDefault := "", false
	for _, d := range DefaultFolders {
		if d.Name == name {
			special, isDefault = d.SpecialUse, true
		}
	}
	if !isDefault && !create {
		return f, false, errorf(ErrNotFound, "no folder %s", name)
	}
	id, err := next(txn, keyNextFold)
	if err != nil {
		return f, false, err
	}
	f = Folder{ID: id, Owner: owner, Name: name, UIDValidity: uint32(id), UIDNext: 1, Subscribed: true, SpecialUse: special}
	return f, true, setJSON(txn, folderKey(owner, name), f)
}

// EnsureDefaultFolders creates the default folders a principal lacks.
func (s *Store) EnsureDefaultFolders(owner delegation.ID) error {
	return s.update(func(txn *badger.Txn) error {
		for _, d := range DefaultFolders {
			if _, _, err := getOrCreateFolderTxn(txn, owner, d.Name, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// headerBlock returns the header part of a message (up to and including the
// blank line), or the whole message when it has no body.
func headerBlock(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+4]
	}
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return msg[:i+2]
	}
	return msg
}

// Delivery is one message stored atomically into several folders, together
// with the relay-queue entries and audit records that belong with it.
type Delivery struct {
	Message []byte
	Date    time.Time // internal date; zero means now
	Targets []Target
	Queue   []QueueEntry
	Audit   []AuditRecord
	Origin  any // passed through to Change.Origin
}

// Deliver stores a delivery durably: when it returns nil, the message, its
// copies, queue entries and audit records are fsynced. The body is stored
// once. It returns where each copy went, in Targets order.
func (s *Store) Deliver(d Delivery) ([]Placed, error) {
	if d.Date.IsZero() {
		d.Date = s.now()
	}
	targets := make([]Target, len(d.Targets))
	lockKeys := make([]string, len(d.Targets))
	for i, t := range d.Targets {
		name, err := NormalizeFolder(t.Folder)
		if err != nil {
			return nil, err
		}
		t.Folder = name
		targets[i] = t
		lockKeys[i] = string(folderKey(t.Owner, name))
	}
	unlock := s.folders.lock(lockKeys)
	defer unlock()

	var placed []Placed
	var changes []Change
	err := s.update(func(txn *badger.Txn) error {
		placed, changes = placed[:0], changes[:0]
		blob, err := next(txn, keyNextBlob)
		if err != nil {
			return err
		}
		refs := uint64(len(targets))
		if len(d.Queue) > 0 {
			refs++ // the queue holds a reference until the entries are done
		}
		if refs > 0 {
			if err := txn.Set(blobKey(prefBlob, blob), d.Message); err != nil {
				return err
			}
			if err := txn.Set(blobKey(prefBlobHdr, blob), headerBlock(d.Message)); err != nil {
				return err
			}
			if err := txn.Set(blobKey(prefBlobRef, blob), binary.BigEndian.AppendUint64(nil, refs)); err != nil {
				return err
			}
		}
		folders := map[string]*Folder{}
		for _, t := range targets {
			fk := string(folderKey(t.Owner, t.Folder))
			f := folders[fk]
			if f == nil {
				nf, _, err := getOrCreateFolderTxn(txn, t.Owner, t.Folder, false)
				if err != nil {
					return err
				}
				f = &nf
				folders[fk] = f
			}
			m := Message{UID: f.UIDNext, Flags: t.Flags, InternalDate: d.Date.UTC(), Size: int64(len(d.Message)), Blob: blob}
			if err := setJSON(txn, msgKey(f.ID, m.UID), m); err != nil {
				return err
			}
			f.UIDNext++
			f.Count++
			if err := setJSON(txn, fk2(f), f); err != nil {
				return err
			}
			placed = append(placed, Placed{Owner: t.Owner, FolderID: f.ID, Folder: f.Name, UID: m.UID})
			changes = append(changes, Change{Kind: ChangeAppend, Owner: t.Owner, FolderID: f.ID, UID: m.UID, Flags: t.Flags, Count: f.Count, Origin: d.Origin})
		}
		for i := range d.Queue {
			d.Queue[i].Blob = blob
			if err := putQueueTxn(txn, &d.Queue[i]); err != nil {
				return err
			}
		}
		return auditTxn(txn, s.now(), d.Audit)
	})
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	for _, c := range changes {
		s.notify(c)
	}
	return placed, nil
}

func fk2(f *Folder) []byte { return folderKey(f.Owner, f.Name) }

// Folders lists a principal's folders, sorted by name, INBOX first.
func (s *Store) Folders(owner delegation.ID) ([]Folder, error) {
	var out []Folder
	err := s.view(func(txn *badger.Txn) error {
		return scan(txn, key(prefFolder, string(owner), ""), func(_, v []byte) error {
			var f Folder
			if err := unmarshal(v, &f); err != nil {
				return err
			}
			out = append(out, f)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Folder) int {
		if (a.Name == "INBOX") != (b.Name == "INBOX") {
			if a.Name == "INBOX" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, err
}

// Folder returns one folder; default folders are created on first use.
func (s *Store) Folder(owner delegation.ID, name string) (Folder, error) {
	name, err := NormalizeFolder(name)
	if err != nil {
		return Folder{}, err
	}
	var f Folder
	err = s.view(func(txn *badger.Txn) error { return getJSON(txn, folderKey(owner, name), &f) })
	if err == ErrNotFound {
		for _, d := range DefaultFolders {
			if d.Name == name {
				if err := s.EnsureDefaultFolders(owner); err != nil {
					return f, err
				}
				return s.Folder(owner, name)
			}
		}
		return f, errorf(ErrNotFound, "no folder %s", name)
	}
	return f, err
}

// Messages returns the metadata of a folder's messages with UIDs in
// [from, to] (to = 0 means no upper bound), in UID order. It never reads
// bodies.
func (s *Store) Messages(folderID uint64, from, to uint32) ([]Message, error) {
	var out []Message
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: msgPrefix(folderID)})
		defer it.Close()
		for it.Seek(msgKey(folderID, from)); it.Valid(); it.Next() {
			var m Message
			if err := it.Item().Value(func(v []byte) error { return unmarshal(v, &m) }); err != nil {
				return err
			}
			if to != 0 && m.UID > to {
				break
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// Body returns a message's full bytes.
func (s *Store) Body(blob uint64) ([]byte, error) { return s.blobPart(prefBlob, blob) }

// Header returns a message's header block (with the final blank line).
func (s *Store) Header(blob uint64) ([]byte, error) { return s.blobPart(prefBlobHdr, blob) }

func (s *Store) blobPart(prefix []byte, blob uint64) ([]byte, error) {
	var b []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(blobKey(prefix, blob))
		if err == badger.ErrKeyNotFound {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		b, err = item.ValueCopy(nil)
		return err
	})
	return b, err
}

// unrefBlobTxn drops one reference to a blob and deletes it at zero.
func unrefBlobTxn(txn *badger.Txn, blob uint64) error {
	item, err := txn.Get(blobKey(prefBlobRef, blob))
	if err == badger.ErrKeyNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return err
	}
	n := binary.BigEndian.Uint64(v)
	if n > 1 {
		return txn.Set(blobKey(prefBlobRef, blob), binary.BigEndian.AppendUint64(nil, n-1))
	}
	for _, p := range [][]byte{prefBlob, prefBlobHdr, prefBlobRef} {
		if err := txn.Delete(blobKey(p, blob)); err != nil {
			return err
		}
	}
	return nil
}

// refBlobTxn adds a reference to a blob (COPY).
func refBlobTxn(txn *badger.Txn, blob uint64) error {
	var n uint64
	item, err := txn.Get(blobKey(prefBlobRef, blob))
	if err == nil {
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(v)
	} else if err != badger.ErrKeyNotFound {
		return err
	}
	return txn.Set(blobKey(prefBlobRef, blob), binary.BigEndian.AppendUint64(nil, n+1))
}
