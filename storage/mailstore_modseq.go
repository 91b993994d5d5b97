package storage

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
)

// Mod-sequences (RFC 7162 §3.1.1, §3.2).
//
// Each folder counts its own mod-sequences in its record's HighestModSeq.
// Every change to a folder's messages takes the next value, under the
// folder's lock and in the transaction that makes the change, which also
// rewrites the folder record: an appended or copied-in message (its
// ModSeq), a message whose flags really change (its new ModSeq; a STORE
// that changes nothing leaves it alone) and a removed message (its
// tombstone, below). One transaction that changes several messages gives
// each its own value, in the order of the announcements (ChangeAppend
// before ChangeExpunge for a MOVE within one folder), so Change.ModSeq is
// strictly increasing per folder in announcement order and every change's
// mod-sequence is above the HighestModSeq a client saw before it, as
// RFC 7162 §3.1 requires. A fresh folder starts at 1; its first change is
// 2.
//
// Records written before mod-sequences existed have none (JSON omits the
// zero). They are read as 1, here and only here, which is what a client
// of a server that has just turned CONDSTORE on must see: every message
// unchanged since 1, the folder at 1, the next change at 2. So no migration
// is needed, and a record is rewritten with its real value on its next
// change. Callers never see a 0.

func normalizeFolder(f *Folder) { f.HighestModSeq = max(f.HighestModSeq, 1) }

func normalizeMessage(m *Message) { m.ModSeq = max(m.ModSeq, 1) }

// nextModSeqLocked takes the folder's next mod-sequence and records it as
// the folder's HighestModSeq. The caller holds the folder's lock and writes
// f back in the same transaction.
func nextModSeqLocked(f *Folder) uint64 {
	f.HighestModSeq++
	return f.HighestModSeq
}

// Expunge tombstones (RFC 7162 §3.2.5.1, §3.2.10 VANISHED).
//
// A message removed from a folder (EXPUNGE, the source side of MOVE)
// leaves gone/<folder id>/<uid> → the removal's mod-sequence, in the
// removing transaction, so a QRESYNC client can be told which UIDs
// vanished since the mod-sequence it last saw. That is one small key
// (about 40 bytes) per expunged message, kept for the folder's life: the
// tombstones go only with the folder (purgeFolder). UIDs are never reused
// in a folder and folder IDs never at all, so a tombstone can never be
// mistaken for a live message.

func goneKey(folder uint64, uid uint32) []byte {
	return fmt.Appendf(append([]byte(nil), prefGone...), "%016x/%08x", folder, uid)
}

func gonePrefix(folder uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefGone...), "%016x/", folder)
}

// putTombstoneTxn records that uid left the folder at modseq.
func putTombstoneTxn(txn *badger.Txn, folder uint64, uid uint32, modseq uint64) error {
	return txn.Set(goneKey(folder, uid), binary.BigEndian.AppendUint64(nil, modseq))
}

// Vanished returns the UIDs expunged from (or moved out of) a folder with a
// mod-sequence above since, in ascending order: what QRESYNC's
// VANISHED (EARLIER) reports (RFC 7162 §3.2.5.1). A folder that does not
// exist, or was deleted, has none. It takes no lock, so it may be called
// from Snapshot's fn for a view consistent with the snapshot.
func (s *Store) Vanished(folderID uint64, since uint64) ([]uint32, error) {
	var out []uint32
	err := s.view(func(txn *badger.Txn) error {
		out = out[:0]
		prefix := gonePrefix(folderID)
		return scan(txn, prefix, func(k, v []byte) error {
			uid, err := strconv.ParseUint(string(k[len(prefix):]), 16, 32)
			if err != nil || len(v) != 8 {
				return fmt.Errorf("bad tombstone %q", k)
			}
			if binary.BigEndian.Uint64(v) > since {
				out = append(out, uint32(uid))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vanished: %w", err)
	}
	return out, nil
}

// purgeTombstones deletes a deleted folder's tombstones in batches.
func (s *Store) purgeTombstones(folderID uint64) error {
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: gonePrefix(folderID)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return inBatches(keys, func(batch [][]byte) error {
		return s.write(func(txn *badger.Txn) error {
			for _, k := range batch {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
