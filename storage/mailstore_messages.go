package storage

import (
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// batchSize bounds the messages one transaction touches, far below Badger's
// ErrTxnTooBig. An operation on more messages commits in several batches,
// each atomic and announced before the next one starts; MOVE, COPY and
// EXPUNGE make their batches one operation with an intent
// (mailstore_intent.go), STORE does not.
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
func (s *Store) StoreFlags(folderID uint64, uids []uint32, op FlagOp, flags []string, origin Origin) ([]Message, error) {
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
func (s *Store) StoreFlagsIf(folderID uint64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64, origin Origin) (updated []Message, modified []uint32, err error) {
	return s.storeFlags(folderID, uids, newFlagUpdate(op, flags), unchangedSince, origin)
}

func (s *Store) storeFlags(folderID uint64, uids []uint32, u flagUpdate, since uint64, origin Origin) (updated []Message, modified []uint32, err error) {
	if u.op != FlagsRemove && len(u.flags) > MaxFlags {
		return nil, nil, errorf(ErrLimit, "too many flags: %d, at most %d", len(u.flags), MaxFlags)
	}
	if err := s.admit(writeHouse, 0); err != nil {
		return nil, nil, err
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
		err := s.write(func(txn *badger.Txn) error {
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
// and each blob loses one reference. It is atomic however many messages
// it removes (mailstore_intent.go): after a crash the next Open finishes
// it. After a refused commit (ErrUnavailable) part of it may be done, and
// the rest is done by the next operation on the folder.
//
// audit's records are written with the first transaction (see AuditFunc).
func (s *Store) Expunge(folderID uint64, uids []uint32, origin Origin, audit AuditFunc) ([]uint32, error) {
	if err := s.admit(writeHouse, 0); err != nil {
		return nil, err
	}
	if err := s.retryPending(folderID); err != nil {
		return nil, err
	}
	unlock := s.lockFolders(folderID)
	defer unlock()
	if s.isPending(folderID) {
		return nil, fmt.Errorf("%w: an earlier operation on folder %d is unfinished", ErrUnavailable, folderID)
	}
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
	recorded := false
	err = s.runBatched(intentRec{Op: opExpunge, Src: folderID}, cand, false, func(txn *badger.Txn, batch []uint32) (func(), error) {
		b, err := expungeBatchTxn(txn, folderID, batch, origin)
		if err == nil && !recorded {
			o := Outcome{UIDs: cand} // more batches follow: all that will go
			if len(batch) == len(cand) {
				o.UIDs = b.gone
			}
			err = s.auditWith(txn, audit, o)
		}
		return func() {
			recorded = true
			s.notify(b.changes...)
			out = append(out, b.gone...)
		}, err
	})
	return out, err
}

type expungeBatch struct {
	gone    []uint32
	changes []Change
}

// expungeBatchTxn removes the messages of batch that are still there.
func expungeBatchTxn(txn *badger.Txn, folderID uint64, batch []uint32, origin Origin) (expungeBatch, error) {
	var b expungeBatch
	f, err := folderByIDTxn(txn, folderID)
	if err != nil {
		return b, err
	}
	for _, uid := range batch {
		m, ok, err := getMessageTxn(txn, folderID, uid)
		if err != nil {
			return b, err
		}
		if !ok {
			continue
		}
		if err := deleteMessageTxn(txn, folderID, m); err != nil {
			return b, err
		}
		ms := nextModSeqLocked(&f)
		if err := putTombstoneTxn(txn, folderID, uid, ms); err != nil {
			return b, err
		}
		b.gone = append(b.gone, uid)
		f.Size -= min(f.Size, uint64(m.Size))
		b.changes = append(b.changes, Change{Kind: ChangeExpunge, FolderID: folderID, UID: uid, ModSeq: ms, Origin: origin})
	}
	f.Count -= min(f.Count, uint32(len(b.gone)))
	return b, putFolderTxn(txn, &f)
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
// mod-sequence. Like Move it is atomic however many messages it copies:
// after a crash the next Open makes the rest of the copies.
func (s *Store) Copy(srcID uint64, uids []uint32, dstID uint64, origin Origin, audit AuditFunc) (CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, false, origin, audit)
}

// Move moves messages to another folder (RFC 6851): each batch adds the
// copies and removes the originals in one transaction, so a message is
// never lost nor in both places, and the batches are one operation
// (mailstore_intent.go): after a crash the next Open moves the rest.
// Each copy takes the destination's next mod-sequence and each original's
// removal the source's (with a tombstone, as Expunge).
func (s *Store) Move(srcID uint64, uids []uint32, dstID uint64, origin Origin, audit AuditFunc) (CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, true, origin, audit)
}

// copyMoveNeed estimates the bytes a copy or move writes per message (its
// record and tombstone), for admission.
const copyMoveNeed = 256

func (s *Store) copyMove(srcID uint64, uids []uint32, dstID uint64, move bool, origin Origin, audit AuditFunc) (CopyResult, error) {
	uids = sortedUIDs(uids)
	if err := s.admit(writeMail, int64(len(uids))*copyMoveNeed); err != nil {
		return CopyResult{}, err
	}
	if err := s.retryPending(srcID); err != nil {
		return CopyResult{}, err
	}
	unlock := s.lockFolders(srcID, dstID)
	defer unlock()
	if s.isPending(srcID) {
		return CopyResult{}, fmt.Errorf("%w: an earlier operation on folder %d is unfinished", ErrUnavailable, srcID)
	}
	op := opCopy
	if move {
		op = opMove
	}
	var res CopyResult
	recorded := false
	err := s.runBatched(intentRec{Op: op, Src: srcID, Dst: dstID}, uids, false, func(txn *badger.Txn, batch []uint32) (func(), error) {
		b, err := copyMoveBatchTxn(txn, srcID, dstID, batch, move, origin)
		if err == nil && !recorded {
			o := Outcome{UIDs: uids} // more batches follow: the copies' UIDs are not known yet
			if len(batch) == len(uids) {
				o = Outcome{UIDs: b.src, DstUIDs: b.dst}
			}
			err = s.auditWith(txn, audit, o)
		}
		return func() {
			recorded = true
			s.notify(b.adds...)
			s.notify(b.dels...)
			res.UIDValidity = b.uidValidity
			res.Src = append(res.Src, b.src...)
			res.Dst = append(res.Dst, b.dst...)
		}, err
	})
	return res, err
}

type copyBatch struct {
	uidValidity uint32
	src, dst    []uint32
	adds, dels  []Change
}

// copyMoveBatchTxn copies (or moves) the messages of batch that are in
// the source to the destination's next UIDs.
func copyMoveBatchTxn(txn *badger.Txn, srcID, dstID uint64, batch []uint32, move bool, origin Origin) (copyBatch, error) {
	var b copyBatch
	df, err := folderByIDTxn(txn, dstID)
	if err != nil {
		return b, err
	}
	sf := &df
	if srcID != dstID {
		f, err := folderByIDTxn(txn, srcID)
		if err != nil {
			return b, err
		}
		sf = &f
	}
	b.uidValidity = df.UIDValidity
	for _, uid := range batch {
		m, ok, err := getMessageTxn(txn, srcID, uid)
		if err != nil {
			return b, err
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
			return b, err
		}
		if move {
			if err := txn.Delete(msgKey(srcID, uid)); err != nil {
				return b, err
			}
			sf.Count--
			sf.Size -= min(sf.Size, uint64(m.Size))
		} else if err := refBlobTxn(txn, m.Blob); err != nil {
			return b, err
		}
		b.src, b.dst = append(b.src, uid), append(b.dst, nm.UID)
		b.adds = append(b.adds, Change{Kind: ChangeAppend, Owner: df.Owner, FolderID: dstID, UID: nm.UID,
			Flags: nm.Flags, ModSeq: nm.ModSeq, Message: nm, Folder: df.Name, Origin: origin})
		if move {
			b.dels = append(b.dels, Change{Kind: ChangeExpunge, Owner: sf.Owner, FolderID: srcID, UID: uid, Origin: origin})
		}
	}
	// The removals take their mod-sequences after every copy's, as they
	// are announced after them: for a MOVE within one folder (sf == &df)
	// Change.ModSeq still increases.
	for i := range b.dels {
		b.dels[i].ModSeq = nextModSeqLocked(sf)
		if err := putTombstoneTxn(txn, srcID, b.dels[i].UID, b.dels[i].ModSeq); err != nil {
			return b, err
		}
	}
	if err := putFolderTxn(txn, &df); err != nil {
		return b, err
	}
	if srcID != dstID {
		return b, putFolderTxn(txn, sf)
	}
	return b, nil
}
