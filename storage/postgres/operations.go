package postgres

import (
	"context"
	"errors"

	"github.com/mailgate/mailgate/storage"
)

// STORE, EXPUNGE, COPY and MOVE: each one transaction holding its
// folders' locks, however many messages it touches.

// noCondition is an UNCHANGEDSINCE no message fails: mod-sequences are
// 63-bit (RFC 7162 §7).
const noCondition = ^uint64(0)

// StoreFlags changes the flags of the messages with the given UIDs
// (missing UIDs are skipped) and returns every message found, with its
// new flags and mod-sequence, in UID order. Only real changes are written
// and announced (ChangeFlags), each with the folder's next mod-sequence.
func (s *Store) StoreFlags(folderID uint64, uids []uint32, op storage.FlagOp, flags []string, origin storage.Origin) ([]storage.Message, error) {
	updated, _, err := s.storeFlags(folderID, uids, storage.NewFlagUpdate(op, flags), noCondition, origin)
	return updated, err
}

// StoreFlagsIf is STORE (UNCHANGEDSINCE unchangedSince) (RFC 7162 §3.1.3):
// a message whose ModSeq is above unchangedSince is left alone and its
// UID returned in modified; the others are updated as StoreFlags does.
// The test and the change are one transaction under the folder's lock. A
// result of more than MaxFlags flags fails the whole call with ErrLimit,
// and nothing is written.
func (s *Store) StoreFlagsIf(folderID uint64, uids []uint32, op storage.FlagOp, flags []string, unchangedSince uint64, origin storage.Origin) (updated []storage.Message, modified []uint32, err error) {
	return s.storeFlags(folderID, uids, storage.NewFlagUpdate(op, flags), unchangedSince, origin)
}

func (s *Store) storeFlags(folderID uint64, uids []uint32, u storage.FlagUpdate, since uint64, origin storage.Origin) (updated []storage.Message, modified []uint32, err error) {
	if err := u.Check(); err != nil {
		return nil, nil, err
	}
	uids = storage.SortedUIDs(uids)
	if len(uids) == 0 {
		return nil, nil, nil
	}
	ctx, cancel := bg()
	defer cancel()
	err = s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		updated, modified = nil, nil
		f, err := lockFolder(ctx, w.tx, folderID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // no folder, no messages
		}
		if err != nil {
			return err
		}
		msgs, err := messagesByUID(ctx, w.tx, folderID, uids)
		if err != nil {
			return err
		}
		var chUIDs, chModSeqs []int64
		var chFlags []string
		for _, m := range msgs {
			if m.ModSeq > since {
				modified = append(modified, m.UID)
				continue
			}
			nf, changed, err := u.Apply(m)
			if err != nil {
				return err
			}
			if changed {
				m.Flags, m.ModSeq = nf, nextModSeq(f)
				chUIDs, chFlags, chModSeqs = append(chUIDs, int64(m.UID)), append(chFlags, flagsJSON(nf)), append(chModSeqs, int64(m.ModSeq))
				w.announce(storage.Change{Kind: storage.ChangeFlags, FolderID: folderID, UID: m.UID, Flags: nf, ModSeq: m.ModSeq, Origin: origin})
			}
			updated = append(updated, m)
		}
		if len(chUIDs) == 0 {
			return nil
		}
		if _, err := w.tx.Exec(ctx, `UPDATE messages m SET flags = `+sqlFlags+`, modseq = t.modseq
			FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS t(uid, flags, modseq)
			WHERE m.folder_id = $1 AND m.uid = t.uid`, int64(folderID), chUIDs, chFlags, chModSeqs); err != nil {
			return err
		}
		return putFolder(ctx, w.tx, f)
	})
	if err != nil {
		return nil, nil, err
	}
	return updated, modified, nil
}

// Expunge removes the messages flagged \Deleted among uids (all of the
// folder's messages when uids is nil) and returns the removed UIDs in
// ascending order. Each removal takes the folder's next mod-sequence,
// leaves a tombstone with it (Vanished) and is announced (ChangeExpunge);
// each blob loses one reference. One transaction, with audit's records.
func (s *Store) Expunge(folderID uint64, uids []uint32, origin storage.Origin, audit storage.AuditFunc) ([]uint32, error) {
	if uids != nil {
		uids = storage.SortedUIDs(uids)
		if len(uids) == 0 {
			return nil, nil
		}
	}
	ctx, cancel := bg()
	defer cancel()
	var gone []uint32
	err := s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		gone = nil
		f, err := lockFolder(ctx, w.tx, folderID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var msgs []storage.Message
		if uids == nil {
			msgs, err = messagesIn(ctx, w.tx, folderID, 0, 0)
		} else {
			msgs, err = messagesByUID(ctx, w.tx, folderID, uids)
		}
		if err != nil {
			return err
		}
		var modseqs, blobs []int64
		for _, m := range msgs {
			if !storage.HasFlag(m.Flags, `\Deleted`) {
				continue
			}
			ms := nextModSeq(f)
			gone, modseqs, blobs = append(gone, m.UID), append(modseqs, int64(ms)), append(blobs, int64(m.Blob))
			f.Size -= min(f.Size, uint64(m.Size))
			w.announce(storage.Change{Kind: storage.ChangeExpunge, FolderID: folderID, UID: m.UID, ModSeq: ms, Origin: origin})
		}
		if len(gone) == 0 {
			return nil
		}
		f.Count -= min(f.Count, uint32(len(gone)))
		if _, err := w.tx.Exec(ctx, "DELETE FROM messages WHERE folder_id = $1 AND uid = ANY($2)", int64(folderID), int64s(gone)); err != nil {
			return err
		}
		if err := insertTombstones(ctx, w.tx, folderID, gone, modseqs); err != nil {
			return err
		}
		if err := unrefBlobs(ctx, w.tx, blobs); err != nil {
			return err
		}
		if err := putFolder(ctx, w.tx, f); err != nil {
			return err
		}
		return s.auditWith(ctx, w.tx, audit, storage.Outcome{UIDs: gone})
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// Copy copies messages (missing UIDs are skipped) to another folder, or
// the same one; the bodies are shared (one more reference per copy).
// Flags and internal dates are kept; each copy takes the destination's
// next mod-sequence. One transaction, with audit's records.
func (s *Store) Copy(srcID uint64, uids []uint32, dstID uint64, origin storage.Origin, audit storage.AuditFunc) (storage.CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, false, origin, audit)
}

// Move moves messages to another folder (RFC 6851) in one transaction: a
// message is never lost nor in both places. Each copy takes the
// destination's next mod-sequence and each original's removal the
// source's (with a tombstone, as Expunge), after all the copies'.
func (s *Store) Move(srcID uint64, uids []uint32, dstID uint64, origin storage.Origin, audit storage.AuditFunc) (storage.CopyResult, error) {
	return s.copyMove(srcID, uids, dstID, true, origin, audit)
}

func (s *Store) copyMove(srcID uint64, uids []uint32, dstID uint64, move bool, origin storage.Origin, audit storage.AuditFunc) (storage.CopyResult, error) {
	uids = storage.SortedUIDs(uids)
	if len(uids) == 0 {
		return storage.CopyResult{}, nil
	}
	ctx, cancel := bg()
	defer cancel()
	var res storage.CopyResult
	err := s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		res = storage.CopyResult{}
		folders, err := lockFolders(ctx, w.tx, srcID, dstID)
		if err != nil {
			return err
		}
		df, sf := folders[dstID], folders[srcID]
		if df == nil {
			return storage.Errorf(storage.ErrNotFound, "no folder %d", dstID)
		}
		if sf == nil {
			return storage.Errorf(storage.ErrNotFound, "no folder %d", srcID)
		}
		res.UIDValidity = df.UIDValidity
		msgs, err := messagesByUID(ctx, w.tx, srcID, uids)
		if err != nil {
			return err
		}
		copies := make([]storage.Message, 0, len(msgs))
		blobs := make([]int64, 0, len(msgs))
		var dels []storage.Change
		for _, m := range msgs {
			nm := m
			nm.UID, nm.ModSeq = df.UIDNext, nextModSeq(df)
			df.UIDNext++
			df.Count++
			df.Size += uint64(nm.Size)
			copies = append(copies, nm)
			blobs = append(blobs, int64(m.Blob))
			if move {
				sf.Count--
				sf.Size -= min(sf.Size, uint64(m.Size))
				dels = append(dels, storage.Change{Kind: storage.ChangeExpunge, Owner: sf.Owner, FolderID: srcID, UID: m.UID, Origin: origin})
			}
			res.Src, res.Dst = append(res.Src, m.UID), append(res.Dst, nm.UID)
			w.announce(storage.Change{Kind: storage.ChangeAppend, Owner: df.Owner, FolderID: dstID, UID: nm.UID,
				Flags: nm.Flags, ModSeq: nm.ModSeq, Message: nm, Folder: df.Name, Origin: origin})
		}
		// The removals take their mod-sequences after every copy's, as
		// they are announced after them: for a MOVE within one folder
		// (sf == df) Change.ModSeq still increases.
		if move {
			modseqs := make([]int64, len(dels))
			for i := range dels {
				dels[i].ModSeq = nextModSeq(sf)
				modseqs[i] = int64(dels[i].ModSeq)
			}
			w.announce(dels...)
			if _, err := w.tx.Exec(ctx, "DELETE FROM messages WHERE folder_id = $1 AND uid = ANY($2)", int64(srcID), int64s(res.Src)); err != nil {
				return err
			}
			if err := insertTombstones(ctx, w.tx, srcID, res.Src, modseqs); err != nil {
				return err
			}
		} else if err := addBlobRefs(ctx, w.tx, blobs, 1); err != nil { // a reference per copy
			return err
		}
		if err := insertMessages(ctx, w.tx, dstID, copies); err != nil {
			return err
		}
		if err := putFolder(ctx, w.tx, df); err != nil {
			return err
		}
		if srcID != dstID {
			if err := putFolder(ctx, w.tx, sf); err != nil {
				return err
			}
		}
		return s.auditWith(ctx, w.tx, audit, storage.Outcome{UIDs: res.Src, DstUIDs: res.Dst})
	})
	if err != nil {
		return storage.CopyResult{}, err
	}
	return res, nil
}
