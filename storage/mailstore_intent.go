package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Operations on more messages than one transaction holds (MOVE, COPY and
// EXPUNGE of more than batchSize messages) are made atomic by an intent
// record, rolled forward after a crash:
//
//	intent/<src folder id:16x>            → intentRec (JSON): operation, folders, progress
//	intentuid/<src folder id:16x>/<n:04x> → the operation's source UIDs (encodeUIDs), in chunks
//
// The first batch's transaction also writes the intent, each later one
// advances its progress (Done) and the last one deletes it, so the intent
// exists exactly while the operation is part done. Open finishes every
// intent it finds (finishIntents) before anyone can read the mailstore;
// after a failure at run time (the disk filled up, a commit was refused)
// the next operation on the source folder, the next delivery, or the next
// Open finishes it (retryPending). Each batch moves, copies or expunges
// its messages in one transaction, so no reader ever sees a message in
// both folders or in neither, only the operation further along; and a
// finished operation is the same as if it had never been interrupted:
// the same mod-sequence steps, tombstones and blob references. The
// recovery announces its changes like the operation would have.
//
// A source folder has at most one intent: an operation on a folder first
// finishes the folder's pending intent, under the folder's lock. A batch
// applied again (a crash after its commit, before its announcement) does
// nothing a second time: a moved or expunged message is no longer in the
// source, and a copy's batches are counted by Done in the same
// transaction.
//
// One operation of one batch needs no intent: its one transaction is
// atomic by itself.

var (
	prefIntent    = []byte("intent/")
	prefIntentUID = []byte("intentuid/")
)

const (
	opMove    = "move"
	opCopy    = "copy"
	opExpunge = "expunge"
)

type intentRec struct {
	Op     string `json:"op"`
	Src    uint64 `json:"src"`
	Dst    uint64 `json:"dst,omitempty"` // move, copy
	Count  int    `json:"count"`         // source UIDs
	Chunks int    `json:"chunks"`
	Done   int    `json:"done"` // UIDs [0, Done) are done
}

func intentKey(src uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefIntent...), "%016x", src)
}

func intentUIDKey(src uint64, n int) []byte {
	return fmt.Appendf(append([]byte(nil), prefIntentUID...), "%016x/%04x", src, n)
}

// intentChunk bounds one value of the UID list (in-memory Badger refuses
// values above the value threshold).
const intentChunk = 32 << 10

// encodeUIDs writes sorted, distinct UIDs as runs: the gap since the end
// of the previous run and the run's length, both uvarints. A contiguous
// range is a few bytes; scattered UIDs about two bytes each.
func encodeUIDs(uids []uint32) [][]byte {
	var chunks [][]byte
	var cur []byte
	var end uint32 // one past the previous run
	for i := 0; i < len(uids); {
		j := i + 1
		for j < len(uids) && uids[j] == uids[j-1]+1 {
			j++
		}
		cur = binary.AppendUvarint(cur, uint64(uids[i]-end))
		cur = binary.AppendUvarint(cur, uint64(j-i))
		end = uids[j-1] + 1
		if len(cur) >= intentChunk {
			chunks, cur = append(chunks, cur), nil
		}
		i = j
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

func decodeUIDs(chunks [][]byte) ([]uint32, error) {
	var out []uint32
	var end uint64
	for _, c := range chunks {
		for len(c) > 0 {
			gap, n := binary.Uvarint(c)
			if n <= 0 {
				return nil, errors.New("bad intent uid list")
			}
			c = c[n:]
			run, n := binary.Uvarint(c)
			if n <= 0 || run == 0 || end+gap+run > 1<<32 {
				return nil, errors.New("bad intent uid list")
			}
			c = c[n:]
			for u := end + gap; u < end+gap+run; u++ {
				out = append(out, uint32(u))
			}
			end += gap + run
		}
	}
	return out, nil
}

func putIntentTxn(txn *badger.Txn, rec intentRec, chunks [][]byte) error {
	for i, c := range chunks {
		if err := txn.Set(intentUIDKey(rec.Src, i), c); err != nil {
			return err
		}
	}
	return setJSON(txn, intentKey(rec.Src), rec)
}

func deleteIntentTxn(txn *badger.Txn, rec intentRec) error {
	for i := range rec.Chunks {
		if err := txn.Delete(intentUIDKey(rec.Src, i)); err != nil {
			return err
		}
	}
	return txn.Delete(intentKey(rec.Src))
}

// readIntent reads a source folder's intent and its UIDs (ErrNotFound when
// there is none).
func (s *Store) readIntent(src uint64) (intentRec, []uint32, error) {
	var rec intentRec
	var uids []uint32
	err := s.view(func(txn *badger.Txn) error {
		if err := getJSON(txn, intentKey(src), &rec); err != nil {
			return err
		}
		chunks := make([][]byte, rec.Chunks)
		for i := range chunks {
			item, err := txn.Get(intentUIDKey(src, i))
			if err != nil {
				return fmt.Errorf("intent of folder %d, chunk %d: %w", src, i, err)
			}
			if chunks[i], err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		var err error
		uids, err = decodeUIDs(chunks)
		if err == nil && len(uids) != rec.Count {
			err = fmt.Errorf("intent of folder %d: %d uids, want %d", src, len(uids), rec.Count)
		}
		return err
	})
	return rec, uids, err
}

// batchApply applies an operation to one batch of source UIDs inside txn
// and returns what to do once the transaction has committed (announce,
// collect results). It may run more than once (conflict retries): each run
// starts afresh.
type batchApply func(txn *badger.Txn, batch []uint32) (committed func(), err error)

// runBatched applies an operation to uids (sorted, distinct) from
// rec.Done on, in batches of batchSize, one transaction each, with its
// intent as described above. resumed says the intent is already stored.
// The caller holds the locks of rec's folders and has admitted the
// operation.
func (s *Store) runBatched(rec intentRec, uids []uint32, resumed bool, apply batchApply) error {
	multi := resumed || len(uids)-rec.Done > batchSize
	var chunks [][]byte
	if multi && !resumed {
		chunks = encodeUIDs(uids)
		rec.Count, rec.Chunks = len(uids), len(chunks)
	}
	if resumed && rec.Done >= len(uids) {
		return s.write(func(txn *badger.Txn) error { return deleteIntentTxn(txn, rec) })
	}
	for start := rec.Done; start < len(uids); start += batchSize {
		batch := uids[start:min(len(uids), start+batchSize)]
		end := start + len(batch)
		stored := resumed || start > rec.Done // the intent is in the database
		var committed func()
		err := s.write(func(txn *badger.Txn) error {
			var err error
			if committed, err = apply(txn, batch); err != nil {
				return err
			}
			r := rec
			r.Done = end
			switch {
			case !multi:
				return nil
			case end == len(uids):
				return deleteIntentTxn(txn, r)
			case !stored:
				return putIntentTxn(txn, r, chunks)
			default:
				return setJSON(txn, intentKey(r.Src), r)
			}
		})
		if err != nil {
			if stored {
				s.setPending(rec.Src, true)
				s.log.Warn("operation interrupted, to be finished later", "op", rec.Op, "folder_id", rec.Src,
					"done", start, "of", len(uids), "err", err)
			}
			return err
		}
		committed()
	}
	if resumed {
		s.setPending(rec.Src, false)
	}
	return nil
}

// applyFor is the batch function of a stored intent, for its roll-forward:
// the operation's own, announced with no origin.
func (s *Store) applyFor(rec intentRec) (batchApply, error) {
	switch rec.Op {
	case opMove, opCopy:
		return func(txn *badger.Txn, batch []uint32) (func(), error) {
			b, err := copyMoveBatchTxn(txn, rec.Src, rec.Dst, batch, rec.Op == opMove, NoOrigin)
			return func() { s.notify(b.adds...); s.notify(b.dels...) }, err
		}, nil
	case opExpunge:
		return func(txn *badger.Txn, batch []uint32) (func(), error) {
			b, err := expungeBatchTxn(txn, rec.Src, batch, NoOrigin)
			return func() { s.notify(b.changes...) }, err
		}, nil
	}
	return nil, fmt.Errorf("intent of folder %d: unknown operation %q", rec.Src, rec.Op)
}

// finishIntent rolls a source folder's stored intent forward, taking its
// folders' locks; the caller holds none. An intent whose folder is gone
// (deleted since) is dropped: each of its messages is where its batch
// left it.
func (s *Store) finishIntent(src uint64) error {
	rec, _, err := s.readIntent(src)
	if errors.Is(err, ErrNotFound) {
		s.setPending(src, false)
		return nil
	}
	if err != nil {
		return err
	}
	ids := []uint64{rec.Src}
	if rec.Dst != 0 {
		ids = append(ids, rec.Dst)
	}
	unlock := s.lockFolders(ids...)
	defer unlock()
	return s.finishIntentLocked(src)
}

// finishIntentLocked is finishIntent for a caller that holds the locks.
func (s *Store) finishIntentLocked(src uint64) error {
	rec, uids, err := s.readIntent(src) // again, under the locks
	if errors.Is(err, ErrNotFound) {
		s.setPending(src, false)
		return nil
	}
	if err != nil {
		return err
	}
	apply, err := s.applyFor(rec)
	if err != nil {
		return err
	}
	s.log.Info("finishing an interrupted operation", "op", rec.Op, "folder_id", rec.Src, "to_folder_id", rec.Dst,
		"done", rec.Done, "of", rec.Count)
	err = s.runBatched(rec, uids, true, apply)
	if errors.Is(err, ErrNotFound) {
		s.log.Warn("dropping an interrupted operation on a deleted folder", "op", rec.Op, "folder_id", rec.Src, "to_folder_id", rec.Dst)
		err = s.write(func(txn *badger.Txn) error { return deleteIntentTxn(txn, rec) })
		if err == nil {
			s.setPending(src, false)
		}
	}
	return err
}

// finishIntents finishes, on Open, every operation a crash interrupted.
func (s *Store) finishIntents() error {
	var srcs []uint64
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefIntent})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var id uint64
			if _, err := fmt.Sscanf(string(it.Item().Key()[len(prefIntent):]), "%016x", &id); err != nil {
				return fmt.Errorf("bad intent key %q: %w", it.Item().Key(), err)
			}
			srcs = append(srcs, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, src := range srcs {
		err := s.finishIntent(src)
		if errors.Is(err, ErrUnavailable) {
			// The disk is full or the database refuses writes: serve
			// what there is, and finish at the next chance.
			s.setPending(src, true)
			s.log.Warn("interrupted operation left for later", "folder_id", src, "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("finish interrupted operation on folder %d: %w", src, err)
		}
	}
	return nil
}

func (s *Store) setPending(src uint64, on bool) {
	r := &s.res
	r.pendMu.Lock()
	defer r.pendMu.Unlock()
	if on {
		if r.pending == nil {
			r.pending = map[uint64]bool{}
		}
		r.pending[src] = true
	} else {
		delete(r.pending, src)
	}
}

func (s *Store) isPending(src uint64) bool {
	r := &s.res
	r.pendMu.Lock()
	defer r.pendMu.Unlock()
	return r.pending[src]
}

// retryPending finishes the operations a run-time failure left part done
// (src, when non-zero, first: the caller is about to write to it). The
// caller holds no folder lock. It returns the error of src's intent only;
// the others are retried at the next chance.
func (s *Store) retryPending(src uint64) error {
	r := &s.res
	r.pendMu.Lock()
	var srcs []uint64
	for id := range r.pending {
		if id != src {
			srcs = append(srcs, id)
		}
	}
	mine := r.pending[src]
	r.pendMu.Unlock()
	var err error
	if mine {
		err = s.finishIntent(src)
	}
	for _, id := range srcs {
		if e := s.finishIntent(id); e != nil {
			s.log.Warn("interrupted operation still unfinished", "folder_id", id, "err", e)
		}
	}
	return err
}

// recoverMailstore is Open's hook: it sets up the free-space guard and
// finishes the operations a crash interrupted.
func (s *Store) recoverMailstore(dir string, inMemory bool) error {
	s.res.log = s.log
	if !inMemory {
		s.res.dir = dir
	}
	s.res.reserve.Store(defaultReserve(s.db.Opts()))
	return s.finishIntents()
}
