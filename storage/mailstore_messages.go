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

// flagUpdate is one STORE's operation, prepared once for all its messages
// so that each message costs time linear in its flags and the request's.
type flagUpdate struct {
	op    FlagOp
	flags []string            // normalised
	keys  map[string]struct{} // flagKey of each of flags
}

func newFlagUpdate(op FlagOp, flags []string) flagUpdate {
	u := flagUpdate{op: op, flags: NormalizeFlags(flags), keys: map[string]struct{}{}}
	for _, f := range u.flags {
		u.keys[flagKey(f)] = struct{}{}
	}
	return u
}

// apply returns a message's flags after the update and whether they
// differ from cur (case-insensitively, in any order). cur is normalised:
// every path that writes flags normalises them.
func (u *flagUpdate) apply(cur []string) (nf []string, changed bool) {
	switch u.op {
	case FlagsSet:
		// A copy each: messages and changes must not share one slice.
		if len(cur) != len(u.flags) {
			return slices.Clone(u.flags), true
		}
		for _, f := range cur {
			if _, ok := u.keys[flagKey(f)]; !ok {
				return slices.Clone(u.flags), true
			}
		}
		return cur, false
	case FlagsAdd:
		// cur's flags come first and keep their spelling, so the result
		// differs exactly when something was added.
		nf = NormalizeFlags(append(slices.Clip(cur), u.flags...))
		return nf, len(nf) != len(cur)
	default:
		for _, f := range cur {
			if _, ok := u.keys[flagKey(f)]; !ok {
				nf = append(nf, f)
			}
		}
		return nf, len(nf) != len(cur)
	}
}

// StoreFlags changes the flags of the messages with the given UIDs (missing
// UIDs are skipped) and returns every message found, with its new flags and
// mod-sequence, in UID order. Only real changes are written and announced
// (ChangeFlags), each with the folder's next mod-sequence. It is
// StoreFlagsIf without a condition, and refuses what StoreFlagsIf refuses.
func (s *Store) StoreFlags(folderID uint64, uids []uint32, op FlagOp, flags []string, origin any) ([]Message, error) {
	updated, _, err := s.storeFlags(folderID, uids, newFlagUpdate(op, flags), noCondition, origin)
	return updated, err
}

// noCondition is an UNCHANGEDSINCE no message fails: mod-sequences are
// 63-bit (RFC 7162 §7).
const noCondition = ^uint64(0)

// StoreFlagsIf is STORE (UNCHANGEDSINCE unchangedSince) (RFC 7162 §3.1.3):
// a message whose ModSeq is above unchangedSince is left untouched and its
// UID returned in modified (the MODIFIED response code), in UID order;
// every other message found is updated as StoreFlags does and returned in
// updated. Since no ModSeq is 0, unchangedSince 0 fails every message.
// The test and the change are atomic: the folder's lock is held throughout,
// so no other change to the folder comes between them.
//
// A result of more than MaxFlags flags for a message that is to change
// fails the whole call with ErrLimit, and nothing is written; so does a
// FLAGS or +FLAGS request that alone has more than MaxFlags flags, before
// any message is read.
func (s *Store) StoreFlagsIf(folderID uint64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64, origin any) (updated []Message, modified []uint32, err error) {
	return s.storeFlags(folderID, uids, newFlagUpdate(op, flags), unchangedSince, origin)
}

func (s *Store) storeFlags(folderID uint64, uids []uint32, u flagUpdate, since uint64, origin any) (updated []Message, modified []uint32, err error) {
	if u.op != FlagsRemove && len(u.flags) > MaxFlags {
		return nil, nil, errorf(ErrLimit, "too many flags: %d, at most %d", len(u.flags), MaxFlags)
	}
	uids = sortedUIDs(uids)
	unlock := s.lockFolders(folderID)
	defer unlock()
	if u.op == FlagsAdd && len(uids) > batchSize {
		// Batches commit one by one: check the limit for all of them
		// first. The lock keeps the messages as this view sees them.
		if err := s.view(func(txn *badger.Txn) error {
			for _, uid := range uids {
				m, ok, err := getMessageTxn(txn, folderID, uid)
				if err != nil {
					return err
				}
				if ok && m.ModSeq <= since {
					if _, _, err := u.applyLimited(m); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	err = inBatches(uids, func(batch []uint32) error {
		var found []Message
		var failed []uint32
		var changes []Change
		err := s.update(func(txn *badger.Txn) error {
			found, failed, changes = found[:0], failed[:0], changes[:0]
			var f *Folder // read when the first message changes
			for _, uid := range batch {
				m, ok, err := getMessageTxn(txn, folderID, uid)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				if m.ModSeq > since {
					failed = append(failed, uid)
					continue
				}
				nf, changed, err := u.applyLimited(m)
				if err != nil {
					return err
				}
				if changed {
					if f == nil {
						fr, err := folderByIDTxn(txn, folderID)
						if err != nil {
							return err
						}
						f = &fr
					}
					m.Flags, m.ModSeq = nf, nextModSeqLocked(f)
					if err := setJSON(txn, msgKey(folderID, uid), m); err != nil {
						return err
					}
					changes = append(changes, Change{Kind: ChangeFlags, FolderID: folderID, UID: uid, Flags: nf, ModSeq: m.ModSeq, Origin: origin})
				}
				found = append(found, m)
			}
			if f != nil {
				return putFolderTxn(txn, f)
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.notify(changes...)
		updated = append(updated, found...)
		modified = append(modified, failed...)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return updated, modified, nil
}

// applyLimited is apply, refusing a change that would leave m with more
// than MaxFlags flags.
func (u *flagUpdate) applyLimited(m Message) (nf []string, changed bool, err error) {
	nf, changed = u.apply(m.Flags)
	if changed && len(nf) > MaxFlags {
		return nil, false, errorf(ErrLimit, "message %d would have %d flags, at most %d", m.UID, len(nf), MaxFlags)
	}
	return nf, changed, nil
}

func sortedUIDs(uids []uint32) []uint32 {
	uids = slices.Clone(uids)
	slices.Sort(uids)
	return slices.Compact(uids)
}

// Expunge removes the messages flagged \Deleted among uids (all of the
// folder's messages when uids is nil) and returns the removed UIDs in
// ascending order. Each removal takes the folder's next mod-sequence,
// leaves a tombstone with it (Vanished) and is announced (ChangeExpunge),
// and each blob loses one reference.
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
		var modseqs []uint64
		err := s.update(func(txn *badger.Txn) error {
			gone, modseqs = gone[:0], modseqs[:0]
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
				ms := nextModSeqLocked(&f)
				if err := putTombstoneTxn(txn, folderID, uid, ms); err != nil {
					return err
				}
				gone, modseqs = append(gone, uid), append(modseqs, ms)
				f.Size -= min(f.Size, uint64(m.Size))
			}
			f.Count -= min(f.Count, uint32(len(gone)))
			return putFolderTxn(txn, &f)
		})
		if err != nil {
			return err
		}
		changes := make([]Change, len(gone))
		for i, uid := range gone {
			changes[i] = Change{Kind: ChangeExpunge, FolderID: folderID, UID: uid, ModSeq: modseqs[i], Origin: origin}
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
// internal dates are kept; each copy takes the destination's next
// mod-sequence.
func (s *Store) Copy(srcID uint64, uids []uint32, dstID uint64, origin any) (CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, false, origin)
}

// Move moves messages to another folder (RFC 6851): each batch adds the
// copies and removes the originals in one transaction, so a message is
// never lost nor in both places. Each copy takes the destination's next
// mod-sequence and each original's removal the source's (with a tombstone,
// as Expunge).
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
				nm.UID, nm.ModSeq = df.UIDNext, nextModSeqLocked(&df)
				df.UIDNext++
				df.Count++
				df.Size += uint64(nm.Size)
				if err := setJSON(txn, msgKey(dstID, nm.UID), nm); err != nil {
					return err
				}
				if move {
					if err := txn.Delete(msgKey(srcID, uid)); err != nil {
						return err
					}
					sf.Count--
					sf.Size -= min(sf.Size, uint64(m.Size))
				} else if err := refBlobTxn(txn, m.Blob); err != nil {
					return err
				}
				src, dst = append(src, uid), append(dst, nm.UID)
				adds = append(adds, Change{Kind: ChangeAppend, Owner: df.Owner, FolderID: dstID, UID: nm.UID,
					Flags: nm.Flags, ModSeq: nm.ModSeq, Message: nm, Folder: df.Name, Origin: origin})
				if move {
					dels = append(dels, Change{Kind: ChangeExpunge, Owner: sf.Owner, FolderID: srcID, UID: uid, Origin: origin})
				}
			}
			// The removals take their mod-sequences after every copy's, as
			// they are announced after them: for a MOVE within one folder
			// (sf == &df) Change.ModSeq still increases.
			for i := range dels {
				dels[i].ModSeq = nextModSeqLocked(sf)
				if err := putTombstoneTxn(txn, srcID, dels[i].UID, dels[i].ModSeq); err != nil {
					return err
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
