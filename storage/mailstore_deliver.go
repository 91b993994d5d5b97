package storage

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// Delivery is one message stored atomically into several folders, together
// with the relay-queue entries and audit records that belong with it.
type Delivery struct {
	Message []byte
	Date    time.Time // internal date; zero means now
	Targets []Target
	Queue   []QueueEntry
	Audit   []AuditRecord
	Origin  Origin // passed through to Change.Origin
	// Settle, when set, is an existing relay-queue entry that this delivery
	// (a DSN) settles in the same commit, as QueueRetry would: rewritten with
	// the recipients still to try, or removed when none remain. So a crash
	// can neither lose the DSN nor send it twice.
	Settle *QueueEntry
}

// errFolderMoved means a folder was renamed or deleted between resolving
// its name and taking its lock; the caller resolves again.
var errFolderMoved = errors.New("folder renamed or deleted meanwhile")

// Deliver stores a delivery durably: when it returns nil, the message, its
// copies, queue entries and audit records are fsynced. The body is stored
// once. It returns where each copy went, in Targets order. A target folder
// that does not exist is created when it is a default folder (INBOX, Sent,
// ...); otherwise Deliver fails with ErrNotFound. A target with more than
// MaxFlags flags (after NormalizeFlags) fails the delivery with ErrLimit.
// Each new message takes its folder's next mod-sequence.
func (s *Store) Deliver(d Delivery) ([]Placed, error) {
	if d.Date.IsZero() {
		d.Date = s.now()
	}
	targets := make([]Target, len(d.Targets))
	for i, t := range d.Targets {
		name, err := NormalizeFolder(t.Folder)
		if err != nil {
			return nil, err
		}
		t.Folder = name
		t.Flags = NormalizeFlags(t.Flags)
		if len(t.Flags) > MaxFlags {
			return nil, errorf(ErrLimit, "too many flags: %d, at most %d", len(t.Flags), MaxFlags)
		}
		targets[i] = t
	}
	if err := s.admit(writeMail, int64(len(d.Message))); err != nil {
		return nil, err
	}
	if err := s.retryPending(0); err != nil {
		return nil, err
	}
	blob, err := s.newBlobID()
	if err != nil {
		return nil, err
	}
	for range 10 {
		placed, err := s.deliverOnce(d, targets, blob)
		if errors.Is(err, errFolderMoved) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("deliver: %w", err)
		}
		return placed, nil
	}
	return nil, fmt.Errorf("deliver: target folders keep changing")
}

func (s *Store) deliverOnce(d Delivery, targets []Target, blob uint64) ([]Placed, error) {
	ids := make([]uint64, len(targets))
	err := s.write(func(txn *badger.Txn) error {
		for i, t := range targets {
			f, _, err := getOrCreateFolderTxn(txn, t.Owner, t.Folder, false)
			if err != nil {
				return err
			}
			ids[i] = f.ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	unlock := s.lockFolders(ids...)
	defer unlock()

	var placed []Placed
	var changes []Change
	err = s.write(func(txn *badger.Txn) error {
		placed, changes = placed[:0], changes[:0]
		// One reference per copy and one per queue entry: QueueDone drops
		// one per entry, so a single reference for several entries would
		// free the body while copies still use it.
		refs := uint64(len(targets) + len(d.Queue))
		if refs > 0 {
			if err := putBlobTxn(txn, blob, d.Message, refs); err != nil {
				return err
			}
		}
		folders := map[uint64]*Folder{}
		for i, t := range targets {
			f := folders[ids[i]]
			if f == nil {
				nf, err := folderByIDTxn(txn, ids[i])
				if errors.Is(err, ErrNotFound) {
					return errFolderMoved
				}
				if err != nil {
					return err
				}
				if nf.Owner != t.Owner || nf.Name != t.Folder {
					return errFolderMoved
				}
				f = &nf
				folders[ids[i]] = f
			}
			m := Message{UID: f.UIDNext, Flags: t.Flags, InternalDate: d.Date.UTC(), Size: int64(len(d.Message)), Blob: blob,
				ModSeq: nextModSeqLocked(f)}
			if err := setJSON(txn, msgKey(f.ID, m.UID), m); err != nil {
				return err
			}
			f.UIDNext++
			f.Count++
			f.Size += uint64(m.Size)
			placed = append(placed, Placed{Owner: t.Owner, FolderID: f.ID, Folder: f.Name, UID: m.UID, UIDValidity: f.UIDValidity})
			changes = append(changes, Change{Kind: ChangeAppend, Owner: t.Owner, FolderID: f.ID, UID: m.UID,
				Flags: m.Flags, ModSeq: m.ModSeq, Message: m, Folder: f.Name, Origin: d.Origin})
		}
		for _, f := range folders {
			if err := putFolderTxn(txn, f); err != nil {
				return err
			}
		}
		for i := range d.Queue {
			d.Queue[i].Blob = blob
			if err := putQueueTxn(txn, &d.Queue[i], s.now()); err != nil {
				return err
			}
		}
		if d.Settle != nil {
			if err := queueSettleTxn(txn, *d.Settle); err != nil {
				return err
			}
		}
		return auditTxn(txn, s.now(), d.Audit)
	})
	if err != nil {
		return nil, err
	}
	s.notify(changes...)
	return placed, nil
}

// Append stores one message into one existing folder (IMAP APPEND): a
// Deliver with a single target. It fails with ErrNotFound when the folder
// does not exist and is not a default folder.
func (s *Store) Append(owner delegation.ID, folder string, msg []byte, flags []string, date time.Time, origin Origin) (Placed, error) {
	p, err := s.Deliver(Delivery{Message: msg, Date: date, Targets: []Target{{Owner: owner, Folder: folder, Flags: flags}}, Origin: origin})
	if err != nil {
		return Placed{}, err
	}
	return p[0], nil
}

// AppendMessage is one message of AppendAll.
type AppendMessage struct {
	Message []byte
	Flags   []string
	Date    time.Time // internal date; zero means now
}

// AppendAll stores messages into one folder of owner's in one transaction
// and in order, each with its own body: all of them or, on any error,
// none, as MULTIAPPEND wants (RFC 3502 §6.3.11). Otherwise it is Append
// for each: ErrNotFound for a folder that does not exist and is not a
// default folder, ErrLimit for more than MaxFlags flags, and ErrLimit too
// when the messages are more than one transaction holds.
//
// audit's records are written in the same transaction.
func (s *Store) AppendAll(owner delegation.ID, folder string, msgs []AppendMessage, origin Origin, audit AuditFunc) ([]Placed, error) {
	name, err := NormalizeFolder(folder)
	if err != nil {
		return nil, err
	}
	msgs = slices.Clone(msgs)
	var total int64
	for i := range msgs {
		msgs[i].Flags = NormalizeFlags(msgs[i].Flags)
		if len(msgs[i].Flags) > MaxFlags {
			return nil, errorf(ErrLimit, "too many flags: %d, at most %d", len(msgs[i].Flags), MaxFlags)
		}
		if msgs[i].Date.IsZero() {
			msgs[i].Date = s.now()
		}
		total += int64(len(msgs[i].Message))
	}
	if err := s.admit(writeMail, total); err != nil {
		return nil, err
	}
	if err := s.retryPending(0); err != nil {
		return nil, err
	}
	blobs := make([]uint64, len(msgs))
	for i := range blobs {
		if blobs[i], err = s.newBlobID(); err != nil {
			return nil, err
		}
	}
	for range 10 {
		placed, err := s.appendAllOnce(owner, name, msgs, blobs, origin, audit)
		if errors.Is(err, errFolderMoved) {
			continue
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			return nil, errorf(ErrLimit, "%d messages (%d bytes) are too many to append at once", len(msgs), total)
		}
		if err != nil {
			return nil, fmt.Errorf("append: %w", err)
		}
		return placed, nil
	}
	return nil, fmt.Errorf("append: target folder keeps changing")
}

func (s *Store) appendAllOnce(owner delegation.ID, name string, msgs []AppendMessage, blobs []uint64, origin Origin, audit AuditFunc) ([]Placed, error) {
	var id uint64
	if err := s.write(func(txn *badger.Txn) error {
		f, _, err := getOrCreateFolderTxn(txn, owner, name, false)
		id = f.ID
		return err
	}); err != nil {
		return nil, err
	}
	unlock := s.lockFolders(id)
	defer unlock()
	var placed []Placed
	var changes []Change
	err := s.write(func(txn *badger.Txn) error {
		placed, changes = placed[:0], changes[:0]
		f, err := folderByIDTxn(txn, id)
		if errors.Is(err, ErrNotFound) {
			return errFolderMoved
		}
		if err != nil {
			return err
		}
		if f.Owner != owner || f.Name != name {
			return errFolderMoved
		}
		for i, am := range msgs {
			if err := putBlobTxn(txn, blobs[i], am.Message, 1); err != nil {
				return err
			}
			m := Message{UID: f.UIDNext, Flags: am.Flags, InternalDate: am.Date.UTC(), Size: int64(len(am.Message)),
				Blob: blobs[i], ModSeq: nextModSeqLocked(&f)}
			if err := setJSON(txn, msgKey(f.ID, m.UID), m); err != nil {
				return err
			}
			f.UIDNext++
			f.Count++
			f.Size += uint64(m.Size)
			placed = append(placed, Placed{Owner: owner, FolderID: f.ID, Folder: f.Name, UID: m.UID, UIDValidity: f.UIDValidity})
			changes = append(changes, Change{Kind: ChangeAppend, Owner: owner, FolderID: f.ID, UID: m.UID,
				Flags: m.Flags, ModSeq: m.ModSeq, Message: m, Folder: f.Name, Origin: origin})
		}
		if err := putFolderTxn(txn, &f); err != nil {
			return err
		}
		o := Outcome{UIDs: make([]uint32, len(placed))}
		for i, p := range placed {
			o.UIDs[i] = p.UID
		}
		return s.auditWith(txn, audit, o)
	})
	if err != nil {
		return nil, err
	}
	s.notify(changes...)
	return placed, nil
}

// MaxFlags bounds the flags (system flags and keywords) of one message.
// APPEND, delivery and STORE refuse to go over it with ErrLimit, so that
// one message's record, and every FETCH FLAGS of it, stays small.
const MaxFlags = 250

// systemFlags are the RFC 3501 §2.3.2 system flags in their canonical case,
// by their lower-case spelling.
var systemFlags = map[string]string{
	`\seen`: `\Seen`, `\answered`: `\Answered`, `\flagged`: `\Flagged`, `\deleted`: `\Deleted`, `\draft`: `\Draft`,
}

// NormalizeFlags puts system flags in canonical case, drops \Recent (it is
// not stored, RFC 3501 §2.3.2: the server sets it) and duplicates
// (keywords compare case-insensitively, as HasFlag does; the first spelling
// is kept), and refuses nothing: the IMAP parser has already checked the
// syntax, and the callers check MaxFlags. It runs in time linear in
// len(flags), so a STORE of thousands of keywords is cheap to refuse.
func NormalizeFlags(flags []string) []string {
	if len(flags) == 0 {
		return nil
	}
	out := make([]string, 0, len(flags))
	seen := make(map[string]struct{}, len(flags))
	for _, f := range flags {
		if f == "" {
			continue
		}
		k := flagKey(f)
		if _, dup := seen[k]; dup || k == `\recent` {
			continue
		}
		seen[k] = struct{}{}
		if sf, ok := systemFlags[k]; ok {
			f = sf
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// flagKey folds a flag so that flagKey(a) == flagKey(b) exactly when
// strings.EqualFold(a, b). ASCII (every valid IMAP flag, RFC 3501 §9
// atom) is lower-cased. Otherwise each rune becomes the smallest rune of
// its simple case-folding orbit (the orbits are what EqualFold compares),
// lower-cased when that is an ASCII letter, so that "\u017Feen" (long s)
// and "\seen" agree as they do for EqualFold.
func flagKey(f string) string {
	ascii, upper := true, false
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if ascii {
		if !upper {
			return f
		}
		return strings.ToLower(f)
	}
	var b strings.Builder
	b.Grow(len(f))
	for _, r := range f {
		m := r
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			m = min(m, o)
		}
		if 'A' <= m && m <= 'Z' {
			m += 'a' - 'A'
		}
		b.WriteRune(m)
	}
	return b.String()
}

// HasFlag reports whether flags contains flag (case-insensitively).
func HasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}
