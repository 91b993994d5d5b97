package storage

import (
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// batchSize bounds the messages one transaction touches, far below Badger's
// ErrTxnTooBig. An operation on more messages commits in several batches;
// each batch is atomic and announced before the next one starts.
const batchSize = 1000

// inBatches calls fn on consecutive runs of at most batchSize items, in
// order, and stops at the first error.
func inBatches[T any](items []T, fn func(batch []T) error) error {
	for len(items) > 0 {
		batch := items[:min(len(items), batchSize)]
		items = items[len(batch):]
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}

// FlagOp is a STORE operation (RFC 3501 §6.4.6).
type FlagOp int

const (
	FlagsSet    FlagOp = iota // FLAGS: replace
	FlagsAdd                  // +FLAGS
	FlagsRemove               // -FLAGS
)

func applyFlags(cur []string, op FlagOp, flags []string) []string {
	switch op {
	case FlagsSet:
		return NormalizeFlags(flags)
	case FlagsAdd:
		return NormalizeFlags(append(slices.Clip(cur), flags...))
	default:
		var out []string
		for _, f := range cur {
			if !HasFlag(flags, f) {
				out = append(out, f)
			}
		}
		return out
	}
}

func sameFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !HasFlag(b, f) {
			return false
		}
	}
	return true
}

// StoreFlags changes the flags of the messages with the given UIDs (missing
// UIDs are skipped) and returns every message found, with its new flags, in
// UID order. Only real changes are written and announced (ChangeFlags).
func (s *Store) StoreFlags(folderID uint64, uids []uint32, op FlagOp, flags []string, origin any) ([]Message, error) {
	flags = NormalizeFlags(flags)
	uids = sortedUIDs(uids)
	unlock := s.lockFolders(folderID)
	defer unlock()
	var out []Message
	err := inBatches(uids, func(batch []uint32) error {
		var found []Message
		var changes []Change
		err := s.update(func(txn *badger.Txn) error {
			found, changes = found[:0], changes[:0]
			for _, uid := range batch {
				m, ok, err := getMessageTxn(txn, folderID, uid)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				nf := applyFlags(m.Flags, op, flags)
				if !sameFlags(nf, m.Flags) {
					m.Flags = nf
					if err := setJSON(txn, msgKey(folderID, uid), m); err != nil {
						return err
					}
					changes = append(changes, Change{Kind: ChangeFlags, FolderID: folderID, UID: uid, Flags: nf, Origin: origin})
				}
				found = append(found, m)
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.notify(changes...)
		out = append(out, found...)
		return nil
	})
	return out, err
}

func sortedUIDs(uids []uint32) []uint32 {
	uids = slices.Clone(uids)
	slices.Sort(uids)
	return slices.Compact(uids)
}

// Expunge removes the messages flagged \Deleted among uids (all of the
// folder's messages when uids is nil) and returns the removed UIDs in
// ascending order. Each removal is announced (ChangeExpunge), and each
// blob loses one reference.
func (s *Store) Expunge(folderID uint64, uids []uint32, origin any) ([]uint32, error) {
	unlock := s.lockFolders(folderID)
	defer unlock()
	var cand []uint32
	err := s.view(func(txn *badger.Txn) error {
		if uids == nil {
			msgs, err := messagesTxn(txn, folderID, 0, 0)
			for _, m := range msgs {
				if HasFlag(m.Flags, `\Deleted`) {
					cand = append(cand, m.UID)
				}
			}
			return err
		}
		for _, uid := range sortedUIDs(uids) {
			m, ok, err := getMessageTxn(txn, folderID, uid)
			if err != nil {
				return err
			}
			if ok && HasFlag(m.Flags, `\Deleted`) {
				cand = append(cand, uid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []uint32
	err = inBatches(cand, func(batch []uint32) error {
		var gone []uint32
		err := s.update(func(txn *badger.Txn) error {
			gone = gone[:0]
			f, err := folderByIDTxn(txn, folderID)
			if err != nil {
				return err
			}
			for _, uid := range batch {
				m, ok, err := getMessageTxn(txn, folderID, uid)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				if err := deleteMessageTxn(txn, folderID, m); err != nil {
					return err
				}
				gone = append(gone, uid)
			}
			f.Count -= min(f.Count, uint32(len(gone)))
			return putFolderTxn(txn, &f)
		})
		if err != nil {
			return err
		}
		changes := make([]Change, len(gone))
		for i, uid := range gone {
			changes[i] = Change{Kind: ChangeExpunge, FolderID: folderID, UID: uid, Origin: origin}
		}
		s.notify(changes...)
		out = append(out, gone...)
		return nil
	})
	return out, err
}

// deleteMessageTxn removes a message and drops its blob reference.
func deleteMessageTxn(txn *badger.Txn, folderID uint64, m Message) error {
	if err := txn.Delete(msgKey(folderID, m.UID)); err != nil {
		return err
	}
	return unrefBlobTxn(txn, m.Blob)
}

// CopyResult maps source UIDs to the UIDs of the new copies (RFC 4315
// COPYUID), in the same order.
type CopyResult struct {
	UIDValidity uint32 // of the destination
	Src, Dst    []uint32
}

// Copy copies messages (missing UIDs are skipped) to another folder, or the
// same one; the bodies are shared (one more reference per copy). Flags and
// internal dates are kept.
func (s *Store) Copy(srcID uint64, uids []uint32, dstID uint64, origin any) (CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, false, origin)
}

// Move moves messages to another folder (RFC 6851): each batch adds the
// copies and removes the originals in one transaction, so a message is
// never lost nor in both places.
func (s *Store) Move(srcID uint64, uids []uint32, dstID uint64, origin any) (CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, true, origin)
}

func (s *Store) copyMove(srcID uint64, uids []uint32, dstID uint64, move bool, origin any) (CopyResult, error) {
	uids = sortedUIDs(uids)
	unlock := s.lockFolders(srcID, dstID)
	defer unlock()
	var res CopyResult
	err := inBatches(uids, func(batch []uint32) error {
		var src, dst []uint32
		var adds, dels []Change
		err := s.update(func(txn *badger.Txn) error {
			src, dst, adds, dels = src[:0], dst[:0], adds[:0], dels[:0]
			df, err := folderByIDTxn(txn, dstID)
			if err != nil {
				return err
			}
			sf := &df
			if srcID != dstID {
				f, err := folderByIDTxn(txn, srcID)
				if err != nil {
					return err
				}
				sf = &f
			}
			res.UIDValidity = df.UIDValidity
			for _, uid := range batch {
				m, ok, err := getMessageTxn(txn, srcID, uid)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				nm := m
				nm.UID = df.UIDNext
				df.UIDNext++
				df.Count++
				if err := setJSON(txn, msgKey(dstID, nm.UID), nm); err != nil {
					return err
				}
				if move {
					if err := txn.Delete(msgKey(srcID, uid)); err != nil {
						return err
					}
					sf.Count--
				} else if err := refBlobTxn(txn, m.Blob); err != nil {
					return err
				}
				src, dst = append(src, uid), append(dst, nm.UID)
				adds = append(adds, Change{Kind: ChangeAppend, Owner: df.Owner, FolderID: dstID, UID: nm.UID,
					Flags: nm.Flags, Message: nm, Folder: df.Name, Origin: origin})
				if move {
					dels = append(dels, Change{Kind: ChangeExpunge, Owner: sf.Owner, FolderID: srcID, UID: uid, Origin: origin})
				}
			}
			if err := putFolderTxn(txn, &df); err != nil {
				return err
			}
			if srcID != dstID {
				return putFolderTxn(txn, sf)
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.notify(adds...)
		s.notify(dels...)
		res.Src = append(res.Src, src...)
		res.Dst = append(res.Dst, dst...)
		return nil
	})
	return res, err
}
