package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// A batch is written in one transaction when it fits. Badger refuses a
// transaction over 15 % of a memtable (ErrTxnTooBig: about 1.2 MB with
// the default cache, some 4,000 users), so a bigger one is staged and
// then flipped, all or nothing:
//
//	batch/<id:16x>/<key> → the value key gets (staged, invisible: no
//	                       reader scans batch/)
//	meta/batch           → <id>: the flip; from its commit on the batch
//	                       is certain to be applied
//
// The staged records go in as many transactions as they need; then one
// transaction writes meta/batch with the ID counters; then the records
// move to their keys, a transaction at a time, and meta/batch goes.
// Directory writes wait meanwhile (dirMu) and the snapshot is rebuilt
// once, at the end, so no reader sees part of the batch. After a crash,
// Open (finishBatch) moves the rest of a flipped batch's records before
// it loads the directory, and drops the staged records of any other: a
// crash before the flip leaves the directory as it was. A failure after
// the flip (a refused commit while moving) is finished by the next
// directory rebuild (reloadDirectory), of the next write or the next
// Open, before it reads anything.
var (
	prefBatch     = []byte("batch/")
	keyBatchFlip  = []byte("meta/batch")
	errBatchStage = errors.New("batch too big for one transaction")
)

// ApplyBatch checks a batch (PlanBatch) and applies all of it with one
// directory rebuild, or nothing.
func (s *Store) ApplyBatch(b Batch) (BatchResult, error) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if hasCalendars(b) {
		// Calendar writes wait (calMu) from the check to the commit, so
		// that the calendars the plan read stay as they were.
		s.calMu.Lock()
		defer s.calMu.Unlock()
		b.Calendars = s
	}
	if err := s.settleBatchLocked(); err != nil {
		return nil, err
	}
	var nextP, nextG uint64
	plan, err := PlanBatch(s.dir.Load(), b, s.now(), func(np, ng int) ([]delegation.ID, []string, error) {
		err := s.view(func(txn *badger.Txn) error {
			var err error
			if nextP, err = counterTxn(txn, keyNextID); err == nil {
				nextG, err = counterTxn(txn, keyNextGrant)
			}
			return err
		})
		pids, gids := make([]delegation.ID, np), make([]string, ng)
		for i := range pids {
			pids[i] = delegation.ID(fmt.Sprintf("p%d", nextP+uint64(i)+1))
		}
		for i := range gids {
			gids[i] = fmt.Sprintf("g%d", nextG+uint64(i)+1)
		}
		nextP, nextG = nextP+uint64(np), nextG+uint64(ng)
		return pids, gids, err
	})
	if err != nil {
		return nil, err
	}
	kvs, err := s.batchWrites(plan)
	if err != nil {
		return nil, err
	}
	counters := []kv{{keyNextID, binary.BigEndian.AppendUint64(nil, nextP)}, {keyNextGrant, binary.BigEndian.AppendUint64(nil, nextG)}}
	if len(plan.Calendars) > 0 {
		calKVs, nextCal, err := s.calendarWrites(plan.Calendars)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, calKVs...)
		counters = append(counters, kv{keyNextCal, binary.BigEndian.AppendUint64(nil, nextCal)})
	}
	err = s.update(func(txn *badger.Txn) error {
		for _, e := range append(counters, kvs...) {
			if err := setKV(txn, e); err != nil {
				if errors.Is(err, badger.ErrTxnTooBig) {
					return errBatchStage
				}
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errBatchStage) {
		err = s.stageBatch(kvs, counters)
	}
	if err != nil {
		return nil, err
	}
	if err := s.reloadDirectory(); err != nil {
		return nil, fmt.Errorf("batch committed, but finishing it failed (the next directory change or start finishes it): %w", err)
	}
	s.dirNotify(DirChange{})
	return plan.Result, nil
}

// kv is a key a batch sets to v, or deletes when it starts with
// kvDelete (which no key of the store does), staged or not.
type kv struct{ k, v []byte }

var kvDelete = []byte("-/")

func setKV(txn *badger.Txn, e kv) error {
	if k, del := bytes.CutPrefix(e.k, kvDelete); del {
		return txn.Delete(k)
	}
	return txn.Set(e.k, e.v)
}

func hasCalendars(b Batch) bool {
	for _, r := range b.Records {
		if r.Kind == BatchCalendar || r.Kind == BatchCalendarObject {
			return true
		}
	}
	return false
}

// calendarWrites is every key the planned calendars write, as
// CreateCalendar and PutCalendarObject write them, and the calendar
// counter after the new ones. The caller holds calMu.
func (s *Store) calendarWrites(cals []CalendarPlan) ([]kv, uint64, error) {
	var next uint64
	if err := s.view(func(txn *badger.Txn) error {
		var err error
		next, err = counterTxn(txn, keyNextCal)
		return err
	}); err != nil {
		return nil, 0, err
	}
	var out []kv
	put := func(k []byte, v any) error {
		b, err := json.Marshal(v)
		out = append(out, kv{k, b})
		return err
	}
	for _, cp := range cals {
		c := cp.Calendar
		if cp.New {
			next++
			c.ID = next
			if err := put(calIDKey(c.ID), calendarRef{c.Owner, c.Name}); err != nil {
				return nil, 0, err
			}
		}
		if err := put(calKey(c.Owner, c.Name), c); err != nil {
			return nil, 0, err
		}
		for name, seq := range cp.Gone { // a tombstone the batch's object replaces
			out = append(out, kv{k: append(bytes.Clone(kvDelete), calSub(prefCalGone, c.ID, name)...)},
				kv{k: append(bytes.Clone(kvDelete), calSeqKey(c.ID, seq)...)})
		}
		for _, o := range cp.Objects {
			o.Calendar = c.ID
			if err := put(calSub(prefCalObj, c.ID, o.Name), o); err != nil {
				return nil, 0, err
			}
			out = append(out, kv{calSub(prefCalUID, c.ID, o.UID), []byte(o.Name)},
				kv{calSeqKey(c.ID, o.Seq), append([]byte{calSeqObject}, o.Name...)},
				kv{calSub(prefCalSpan, c.ID, o.Name), spanValue(o)})
		}
	}
	return out, next, nil
}

// batchWrites is every key a plan writes, with its value.
func (s *Store) batchWrites(p *BatchPlan) ([]kv, error) {
	var out []kv
	put := func(k []byte, v any) error {
		b, err := json.Marshal(v)
		out = append(out, kv{k, b})
		return err
	}
	for _, t := range p.Tenants {
		if err := put(key(prefTenant, t.Domain), t); err != nil {
			return nil, err
		}
	}
	for _, r := range p.Principals {
		if err := put(key(prefPrincipal, string(r.ID)), r); err != nil {
			return nil, err
		}
	}
	// Principals that existed: their records as stored, with the
	// additions.
	changed := map[delegation.ID]*Record{}
	var order []delegation.ID
	load := func(id delegation.ID) (*Record, error) {
		if r := changed[id]; r != nil {
			return r, nil
		}
		r := &Record{}
		if err := s.view(func(txn *badger.Txn) error { return getJSON(txn, key(prefPrincipal, string(id)), r) }); err != nil {
			return nil, fmt.Errorf("batch: load %s: %w", id, err)
		}
		changed[id] = r
		order = append(order, id)
		return r, nil
	}
	for _, a := range p.Aliases {
		r, err := load(a.ID)
		if err != nil {
			return nil, err
		}
		r.Aliases = append(r.Aliases, a.Alias)
	}
	for _, m := range p.Members {
		r, err := load(m.Group)
		if err != nil {
			return nil, err
		}
		r.Members = append(r.Members, m.Member)
	}
	for _, id := range order {
		if err := put(key(prefPrincipal, string(id)), changed[id]); err != nil {
			return nil, err
		}
	}
	for _, g := range p.Grants {
		if err := put(key(prefGrant, g.ID), g); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	for _, r := range p.Audit {
		r.Time = now
		if err := put(auditKey(now), r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stageBatch writes kvs all or nothing in several transactions (see
// prefBatch); the flip writes the counters, so that no ID is given twice
// whatever happens after it.
func (s *Store) stageBatch(kvs, counters []kv) error {
	id := fmt.Appendf(append([]byte(nil), prefBatch...), "%016x/", uint64(s.now().UnixNano()))
	staged := make([]kv, len(kvs))
	for i, e := range kvs {
		staged[i] = kv{append(append([]byte(nil), id...), e.k...), e.v}
	}
	if err := s.writeChunks(staged, nil); err != nil {
		s.dropStaged()
		return fmt.Errorf("batch: stage: %w", err)
	}
	err := s.update(func(txn *badger.Txn) error {
		for _, e := range counters {
			if err := txn.Set(e.k, e.v); err != nil {
				return err
			}
		}
		return txn.Set(keyBatchFlip, id)
	})
	if err != nil {
		s.dropStaged()
		return fmt.Errorf("batch: flip: %w", err)
	}
	return nil // ApplyBatch's reloadDirectory moves the records
}

// writeChunks sets kvs (and deletes dels[i] with kvs[i] when dels is not
// nil) in as few transactions as Badger allows.
func (s *Store) writeChunks(kvs []kv, dels [][]byte) error {
	for start := 0; start < len(kvs); {
		end := start
		err := s.update(func(txn *badger.Txn) error {
			for end = start; end < len(kvs); end++ {
				err := setKV(txn, kvs[end])
				if err == nil && dels != nil {
					err = txn.Delete(dels[end])
				}
				if errors.Is(err, badger.ErrTxnTooBig) && end > start {
					return nil // commit these; the rest in the next one
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

// finishBatch moves a flipped batch's staged records to their keys and
// drops any other staged records (a batch that crashed before its
// flip). reloadDirectory runs it before reading the directory.
func (s *Store) finishBatch() error {
	var id []byte
	err := s.view(func(txn *badger.Txn) error {
		item, err := txn.Get(keyBatchFlip)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err == nil {
			id, err = item.ValueCopy(nil)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	if id != nil {
		var kvs []kv
		var dels [][]byte
		if err := s.view(func(txn *badger.Txn) error {
			return scan(txn, id, func(k, v []byte) error {
				kvs = append(kvs, kv{bytes.Clone(k[len(id):]), bytes.Clone(v)})
				dels = append(dels, bytes.Clone(k))
				return nil
			})
		}); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		if err := s.writeChunks(kvs, dels); err != nil {
			return fmt.Errorf("batch: apply: %w", err)
		}
		if err := s.update(func(txn *badger.Txn) error { return txn.Delete(keyBatchFlip) }); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	return s.dropStaged()
}

// settleBatchLocked finishes a flipped batch that a failure left part
// moved, before a directory write reads the snapshot or the counters.
func (s *Store) settleBatchLocked() error {
	if !s.res.batch.Load() {
		return nil
	}
	return s.reloadDirectory()
}

// dropStaged deletes every staged record (none is flipped).
func (s *Store) dropStaged() error {
	var dels [][]byte
	if err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefBatch})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			dels = append(dels, it.Item().KeyCopy(nil))
		}
		return nil
	}); err != nil {
		return err
	}
	for start := 0; start < len(dels); {
		end := start
		if err := s.update(func(txn *badger.Txn) error {
			for end = start; end < len(dels); end++ {
				if err := txn.Delete(dels[end]); errors.Is(err, badger.ErrTxnTooBig) && end > start {
					return nil
				} else if err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		start = end
	}
	return nil
}
