package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// Mailstore layout (all under one Badger DB):
//
//	folder/<owner id>/<name>            → folder ID (8 bytes): the name index
//	fold/<folder id:16x>                → Folder (JSON): name, UIDVALIDITY, UIDNEXT, count, ...
//	msg/<folder id:16x>/<uid:08x>       → Message (JSON): flags, date, size, blob — never the body
//	blob/<blob id:16x>                  → the message bytes, stored once however many copies
//	blobhdr/<blob id:16x>               → the header block alone (ENVELOPE without the body)
//	blobref/<blob id:16x>               → uint64 count of messages (and queue entries) that refer to the blob
//	gone/<folder id:16x>/<uid:08x>      → uint64 mod-sequence of the message's expunge (QRESYNC tombstone)
//
// A folder is known by its ID, which never changes (RENAME rewrites only the
// name index) and is never reused, so UIDVALIDITY = the ID.
//
// Writes to one folder are serialised by an in-process lock keyed by the
// folder ID and held until the commit is durable and the change has been
// announced (OnChange), so UIDs are committed and announced in ascending
// order and a listener sees the same sequence a fresh reader would. Commits
// to different folders proceed in parallel and share fsyncs (group commit):
// nothing they write is shared, in particular blob IDs come from an
// in-process counter, not from a key every delivery would read and write.
//
// Mod-sequences (RFC 7162 CONDSTORE/QRESYNC) are per folder, kept as the
// folder record's HighestModSeq and taken under the folder's lock, so they
// too are committed and announced in ascending order; mailstore_modseq.go
// has the details.

var (
	prefFolder  = []byte("folder/")
	prefFoldRec = []byte("fold/")
	prefMsg     = []byte("msg/")
	prefBlob    = []byte("blob/")
	prefBlobHdr = []byte("blobhdr/")
	prefBlobRef = []byte("blobref/")
	prefPurge   = []byte("purge/") // purge/<folder id:16x>: a deleted folder whose messages may remain
	prefGone    = []byte("gone/")  // gone/<folder id:16x>/<uid:08x>: an expunged message's tombstone
	prefSub     = []byte("sub/")   // sub/<owner>/<name>: a subscribed folder name, existing or not
	keyNextFold = []byte("meta/next-folder")
)

// DefaultFolders are created on first use, with their SPECIAL-USE attribute
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
	// Size is the sum of the folder's message sizes, kept with Count: the
	// counter a mailbox's quota usage is the sum of.
	Size       uint64 `json:"size,omitempty"`
	SpecialUse string `json:"special_use,omitempty"`
	// HighestModSeq is the mod-sequence of the folder's latest change to
	// its messages (RFC 7162 HIGHESTMODSEQ); never 0 once read (see
	// normalizeFolder).
	HighestModSeq uint64 `json:"highest_modseq,omitempty"`
}

// Message is a message's metadata. The body lives in its blob.
type Message struct {
	UID          uint32    `json:"uid"`
	Flags        []string  `json:"flags,omitempty"`
	InternalDate time.Time `json:"date"`
	Size         int64     `json:"size"`
	Blob         uint64    `json:"blob"`
	// ModSeq is the mod-sequence of the message's latest change (RFC 7162
	// MODSEQ): its arrival in the folder (append, copy, move) or its latest
	// flag change; never 0 once read (see normalizeMessage).
	ModSeq uint64 `json:"modseq,omitempty"`
}

// Target is one place a message is stored: a principal's folder.
type Target struct {
	Owner  delegation.ID
	Folder string   // "" means INBOX
	Flags  []string // initial flags
}

// Placed tells where a delivered copy went.
type Placed struct {
	Owner       delegation.ID
	FolderID    uint64
	Folder      string
	UID         uint32
	UIDValidity uint32
}

// ChangeKind says what happened in a folder.
type ChangeKind int

const (
	ChangeAppend  ChangeKind = iota + 1 // a message was added (UID, Message)
	ChangeExpunge                       // a message was removed (UID)
	ChangeFlags                         // a message's flags changed (UID, Flags)
	ChangeFolder                        // a folder was created or renamed (Folder)
	ChangeDelete                        // a folder was deleted with all its messages
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
	// ModSeq is the change's mod-sequence (ChangeAppend, ChangeFlags,
	// ChangeExpunge): strictly increasing per folder in announcement order,
	// and the folder's HighestModSeq once the change is committed.
	ModSeq  uint64
	Message Message // ChangeAppend: the new message's metadata
	Folder  string  // the folder's name after the change
	Origin  Origin  // the session that caused it (NoOrigin for none, and for another node's change)
}

type hubState struct {
	mu           sync.RWMutex
	listeners    []func(Change)
	dirListeners []func(DirChange)
}

// OnChange registers a listener. It is called synchronously, with the
// folder's lock held: it must be quick and must not call back into storage
// for that folder.
func (s *Store) OnChange(fn func(Change)) {
	s.hub.mu.Lock()
	s.hub.listeners = append(s.hub.listeners, fn)
	s.hub.mu.Unlock()
}

func (s *Store) notify(cs ...Change) {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	for _, c := range cs {
		for _, fn := range s.hub.listeners {
			fn(c)
		}
	}
}

// folderLocks serialises writers per folder (and per owner's namespace for
// create/rename/delete), and hands out blob IDs.
type folderLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex // guarded by mu

	blobMu   sync.Mutex
	nextBlob uint64 // guarded by blobMu; 0 until seeded from the database
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

func lockID(id uint64) string              { return fmt.Sprintf("f%016x", id) }
func lockNamespace(o delegation.ID) string { return "n" + string(o) }

func (s *Store) lockFolders(ids ...uint64) func() {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = lockID(id)
	}
	return s.folders.lock(keys)
}

// newBlobID returns a fresh blob ID. Only one process opens the database
// (Badger's directory lock), so an in-process counter seeded from the
// highest stored blob is unique; an ID freed by a deleted blob may be
// handed out again after a restart, which is harmless since nothing refers
// to it any more.
func (s *Store) newBlobID() (uint64, error) {
	l := &s.folders
	l.blobMu.Lock()
	defer l.blobMu.Unlock()
	if l.nextBlob == 0 {
		var max uint64
		err := s.view(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: prefBlobRef})
			defer it.Close()
			it.Seek(blobKey(prefBlobRef, ^uint64(0)))
			if it.Valid() {
				_, err := fmt.Sscanf(string(it.Item().Key()[len(prefBlobRef):]), "%x", &max)
				return err
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("seed blob ids: %w", err)
		}
		l.nextBlob = max + 1
	}
	id := l.nextBlob
	l.nextBlob++
	return id, nil
}

// NormalizeFolder cleans a folder name: INBOX in any case is "INBOX" (also
// as the first level of a path); empty levels, "." and "..", control
// characters and the LIST wildcards are refused.
func NormalizeFolder(name string) (string, error) {
	if name == "" {
		return "INBOX", nil
	}
	if len(name) > 1000 {
		return "", errorf(ErrInvalid, "folder name too long")
	}
	parts := strings.Split(name, "/")
	if strings.EqualFold(parts[0], "INBOX") {
		parts[0] = "INBOX"
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "*%") {
			return "", errorf(ErrInvalid, "invalid folder name %q", name)
		}
		for _, c := range p {
			if c < ' ' || c == 0x7f {
				return "", errorf(ErrInvalid, "invalid folder name %q", name)
			}
		}
	}
	return strings.Join(parts, "/"), nil
}

func folderKey(owner delegation.ID, name string) []byte {
	return key(prefFolder, string(owner), name)
}

func foldRecKey(id uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefFoldRec...), "%016x", id)
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

func specialUseOf(name string) (string, bool) {
	for _, d := range DefaultFolders {
		if d.Name == name {
			return d.SpecialUse, true
		}
	}
	return "", false
}

// folderByNameTxn reads a folder through the name index.
func folderByNameTxn(txn *badger.Txn, owner delegation.ID, name string) (Folder, error) {
	item, err := txn.Get(folderKey(owner, name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Folder{}, errorf(ErrNotFound, "no folder %s", name)
	}
	if err != nil {
		return Folder{}, err
	}
	var id uint64
	if err := item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("folder index %s: bad value", name)
		}
		id = binary.BigEndian.Uint64(v)
		return nil
	}); err != nil {
		return Folder{}, err
	}
	return folderByIDTxn(txn, id)
}

func folderByIDTxn(txn *badger.Txn, id uint64) (Folder, error) {
	var f Folder
	err := getJSON(txn, foldRecKey(id), &f)
	if errors.Is(err, ErrNotFound) {
		return f, errorf(ErrNotFound, "no folder %d", id)
	}
	normalizeFolder(&f)
	return f, err
}

func putFolderTxn(txn *badger.Txn, f *Folder) error { return setJSON(txn, foldRecKey(f.ID), f) }

// createFolderTxn creates a folder record and its name index entry.
func createFolderTxn(txn *badger.Txn, owner delegation.ID, name, specialUse string) (Folder, error) {
	id, err := next(txn, keyNextFold)
	if err != nil {
		return Folder{}, err
	}
	f := Folder{ID: id, Owner: owner, Name: name, UIDValidity: uint32(id), UIDNext: 1, SpecialUse: specialUse,
		HighestModSeq: 1}
	if err := putFolderIndexTxn(txn, &f); err != nil {
		return f, err
	}
	if _, isDefault := specialUseOf(name); isDefault {
		// The folders the server makes by itself come subscribed; any
		// other is the client's choice (RFC 9051 §6.3.4).
		if err := txn.Set(subKey(owner, name), nil); err != nil {
			return f, err
		}
	}
	return f, putFolderTxn(txn, &f)
}

// putFolderIndexTxn points the folder's name at its ID.
func putFolderIndexTxn(txn *badger.Txn, f *Folder) error {
	return txn.Set(folderKey(f.Owner, f.Name), binary.BigEndian.AppendUint64(nil, f.ID))
}

// createParentsTxn creates the missing ancestors of a folder name and
// returns the ones it created.
func createParentsTxn(txn *badger.Txn, owner delegation.ID, name string) ([]Folder, error) {
	var created []Folder
	for _, p := range parents(name) {
		pf, isNew, err := getOrCreateFolderTxn(txn, owner, p, true)
		if err != nil {
			return nil, err
		}
		if isNew {
			created = append(created, pf)
		}
	}
	return created, nil
}

// getMessageTxn reads one message's metadata; ok is false when it is gone.
func getMessageTxn(txn *badger.Txn, folderID uint64, uid uint32) (m Message, ok bool, err error) {
	item, err := txn.Get(msgKey(folderID, uid))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	err = item.Value(func(v []byte) error { m, err = decodeMessage(v); return err })
	return m, err == nil, err
}

// decodeMessage reads a message record; every message read goes through it.
func decodeMessage(v []byte) (Message, error) {
	var m Message
	if err := unmarshal(v, &m); err != nil {
		return m, err
	}
	normalizeMessage(&m)
	return m, nil
}

// getOrCreateFolderTxn returns a folder, creating it when it is one of the
// default folders (created on first use) or create is true.
func getOrCreateFolderTxn(txn *badger.Txn, owner delegation.ID, name string, create bool) (Folder, bool, error) {
	f, err := folderByNameTxn(txn, owner, name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return f, false, err
	}
	special, isDefault := specialUseOf(name)
	if !isDefault && !create {
		return f, false, err
	}
	f, err = createFolderTxn(txn, owner, name, special)
	return f, true, err
}

// EnsureDefaultFolders creates the default folders a principal lacks.
func (s *Store) EnsureDefaultFolders(owner delegation.ID) error {
	return s.write(func(txn *badger.Txn) error {
		for _, d := range DefaultFolders {
			if _, _, err := getOrCreateFolderTxn(txn, owner, d.Name, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// HeaderBlock returns the header part of a message: up to and including
// the first empty line (CRLF, or a bare LF: RFC 5322 §2.1 with the
// tolerance imap/message's parser has), or the whole message when it has
// no body. Header stores it; imap's FETCH uses it on a loaded body, so
// both give the same block.
func HeaderBlock(msg []byte) []byte {
	for i := 0; i < len(msg); {
		switch {
		case msg[i] == '\n':
			return msg[:i+1]
		case msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n':
			return msg[:i+2]
		}
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return msg
}

// foldersTxn reads a principal's folders, in no particular order.
func foldersTxn(txn *badger.Txn, owner delegation.ID) ([]Folder, error) {
	var ids []uint64
	if err := scan(txn, key(prefFolder, string(owner), ""), func(_, v []byte) error {
		if len(v) == 8 {
			ids = append(ids, binary.BigEndian.Uint64(v))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []Folder
	for _, id := range ids {
		f, err := folderByIDTxn(txn, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Folders lists a principal's folders, sorted by name, INBOX first.
func (s *Store) Folders(owner delegation.ID) ([]Folder, error) {
	var out []Folder
	err := s.view(func(txn *badger.Txn) error {
		var err error
		out, err = foldersTxn(txn, owner)
		return err
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

// Folder returns one folder by name; default folders are created on first
// use.
func (s *Store) Folder(owner delegation.ID, name string) (Folder, error) {
	name, err := NormalizeFolder(name)
	if err != nil {
		return Folder{}, err
	}
	var f Folder
	err = s.view(func(txn *badger.Txn) error {
		f, err = folderByNameTxn(txn, owner, name)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		if _, isDefault := specialUseOf(name); isDefault {
			err = s.write(func(txn *badger.Txn) error {
				f, _, err = getOrCreateFolderTxn(txn, owner, name, false)
				return err
			})
		}
	}
	return f, err
}

// FolderByID returns a folder by its ID (ErrNotFound once deleted).
func (s *Store) FolderByID(id uint64) (Folder, error) {
	var f Folder
	err := s.view(func(txn *badger.Txn) error {
		var err error
		f, err = folderByIDTxn(txn, id)
		return err
	})
	return f, err
}

// Messages returns the metadata of a folder's messages with UIDs in
// [from, to] (to = 0 means no upper bound), in UID order. It never reads
// bodies.
func (s *Store) Messages(folderID uint64, from, to uint32) ([]Message, error) {
	var out []Message
	err := s.view(func(txn *badger.Txn) error {
		var err error
		out, err = messagesTxn(txn, folderID, from, to)
		return err
	})
	return out, err
}

func messagesTxn(txn *badger.Txn, folderID uint64, from, to uint32) ([]Message, error) {
	var out []Message
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: msgPrefix(folderID)})
	defer it.Close()
	for it.Seek(msgKey(folderID, from)); it.Valid(); it.Next() {
		var m Message
		if err := it.Item().Value(func(v []byte) (err error) { m, err = decodeMessage(v); return err }); err != nil {
			return nil, err
		}
		if to != 0 && m.UID > to {
			break
		}
		out = append(out, m)
	}
	return out, nil
}

// Snapshot reads a folder and all its messages' metadata and calls fn with
// them while holding the folder's write lock, so that fn's view is exactly
// the state before the next Change of that folder. IMAP uses it to build
// its in-memory index without missing or doubling a concurrent change.
func (s *Store) Snapshot(folderID uint64, fn func(Folder, []Message)) error {
	unlock := s.lockFolders(folderID)
	defer unlock()
	var f Folder
	var msgs []Message
	err := s.view(func(txn *badger.Txn) error {
		var err error
		if f, err = folderByIDTxn(txn, folderID); err != nil {
			return err
		}
		msgs, err = messagesTxn(txn, folderID, 0, 0)
		return err
	})
	if err != nil {
		return err
	}
	fn(f, msgs)
	return nil
}

// Body returns a message's full bytes.
func (s *Store) Body(blob uint64) ([]byte, error) { return s.blobPart(prefBlob, blob) }

// Header returns a message's header block (with the final blank line).
func (s *Store) Header(blob uint64) ([]byte, error) { return s.blobPart(prefBlobHdr, blob) }

// Headers reads the header blocks of several blobs in one transaction and
// calls fn for each, in order. The slice passed to fn is valid only during
// the call. A missing blob is passed as nil.
func (s *Store) Headers(blobs []uint64, fn func(i int, hdr []byte)) error {
	return s.view(func(txn *badger.Txn) error {
		for i, b := range blobs {
			item, err := txn.Get(blobKey(prefBlobHdr, b))
			if errors.Is(err, badger.ErrKeyNotFound) {
				fn(i, nil)
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(func(v []byte) error { fn(i, v); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) blobPart(prefix []byte, blob uint64) ([]byte, error) {
	var b []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(blobKey(prefix, blob))
		if errors.Is(err, badger.ErrKeyNotFound) {
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

// putBlobTxn stores a new blob with refs references.
func putBlobTxn(txn *badger.Txn, blob uint64, msg []byte, refs uint64) error {
	if err := txn.Set(blobKey(prefBlob, blob), msg); err != nil {
		return err
	}
	if err := txn.Set(blobKey(prefBlobHdr, blob), HeaderBlock(msg)); err != nil {
		return err
	}
	return txn.Set(blobKey(prefBlobRef, blob), binary.BigEndian.AppendUint64(nil, refs))
}

// blobRefsTxn reads a blob's reference count (0 when it is gone).
func blobRefsTxn(txn *badger.Txn, blob uint64) (uint64, error) {
	item, err := txn.Get(blobKey(prefBlobRef, blob))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(v []byte) error { n = binary.BigEndian.Uint64(v); return nil })
	return n, err
}

// unrefBlobTxn drops one reference to a blob and deletes it at zero.
func unrefBlobTxn(txn *badger.Txn, blob uint64) error {
	n, err := blobRefsTxn(txn, blob)
	if err != nil || n == 0 {
		return err
	}
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
	n, err := blobRefsTxn(txn, blob)
	if err != nil {
		return err
	}
	return txn.Set(blobKey(prefBlobRef, blob), binary.BigEndian.AppendUint64(nil, n+1))
}

// BlobRefs returns a blob's reference count (0 when it is gone), for
// tests that check that copies, moves and deletions keep the count right.
func (s *Store) BlobRefs(blob uint64) (uint64, error) {
	var n uint64
	err := s.view(func(txn *badger.Txn) error {
		var err error
		n, err = blobRefsTxn(txn, blob)
		return err
	})
	return n, err
}

// An Origin is an opaque token naming the session that caused a change:
// a writer passes its own, and its listeners recognise their own changes
// in Change.Origin by comparing tokens. It is meaningful only inside one
// process; a change that came from another node, or from no session,
// carries NoOrigin.
type Origin uint64

// NoOrigin is the Origin of a change no session of this process caused.
const NoOrigin Origin = 0

var lastOrigin atomic.Uint64

// NewOrigin returns a token no other caller of NewOrigin in this process
// has, never NoOrigin.
func NewOrigin() Origin { return Origin(lastOrigin.Add(1)) }
