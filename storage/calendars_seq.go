package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The indexes of calendars (schema 4), so that sync-collection and
// time-range queries do not decode every object of a collection:
//
//	calseq/<id:16x>/<seq:16x>     → 'o' (an object) or 'g' (a tombstone), then its name
//	calspan/<id:16x>/<name>       → the object's Start and End (2 × 8 bytes, Unix µs; 0: unbounded)
//
// calseq has one key per object or tombstone, by the sequence that last
// wrote it (a write removes the key of its previous sequence in the same
// transaction): CalendarChanges reads what changed after a token.
// calspan has one small key per object: QueryCalendarObjects scans those
// and reads only the objects in range.
var (
	prefCalSeq  = []byte("calseq/")
	prefCalSpan = []byte("calspan/")
)

const (
	calSeqObject = 'o'
	calSeqGone   = 'g'
)

func calSeqKey(cal, seq uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefCalSeq...), "%016x/%016x", cal, seq)
}

// setCalSeqTxn indexes name at seq (and no more at old, when not 0).
func setCalSeqTxn(txn *badger.Txn, cal, old, seq uint64, kind byte, name string) error {
	if old != 0 {
		if err := txn.Delete(calSeqKey(cal, old)); err != nil {
			return err
		}
	}
	return txn.Set(calSeqKey(cal, seq), append([]byte{kind}, name...))
}

// spanValue is o's calspan value. An end at the Unix epoch itself reads
// back as unbounded: a query then finds the object rather than missing it.
func spanValue(o CalendarObject) []byte {
	us := func(t time.Time) uint64 {
		if t.IsZero() {
			return 0
		}
		return uint64(t.UnixMicro())
	}
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, us(o.Start)), us(o.End))
}

// spanOverlaps applies CalendarObject.Overlaps to a calspan value.
func spanOverlaps(v []byte, start, end time.Time) (bool, error) {
	if len(v) != 16 {
		return false, fmt.Errorf("calendar span: bad value")
	}
	var o CalendarObject
	if s := int64(binary.BigEndian.Uint64(v)); s != 0 {
		o.Start = time.UnixMicro(s)
	}
	if e := int64(binary.BigEndian.Uint64(v[8:])); e != 0 {
		o.End = time.UnixMicro(e)
	}
	return o.Overlaps(start, end), nil
}

// queryCalendarTxn lists cal's objects overlapping [start, end) by their
// calspan keys, by name.
func queryCalendarTxn(txn *badger.Txn, cal uint64, start, end time.Time) ([]CalendarObject, error) {
	prefix := calSub(prefCalSpan, cal, "")
	var names []string
	if err := scan(txn, prefix, func(k, v []byte) error {
		ok, err := spanOverlaps(v, start, end)
		if ok {
			names = append(names, string(k[len(prefix):]))
		}
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]CalendarObject, 0, len(names))
	for _, n := range names {
		o, err := calObjectTxn(txn, cal, n)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// calGoneSeqTxn is the sequence of name's tombstone (0: none).
func calGoneSeqTxn(txn *badger.Txn, cal uint64, name string) (uint64, error) {
	item, err := txn.Get(calSub(prefCalGone, cal, name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("calendar tombstone %q: bad value", item.Key())
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	return seq, err
}

// calendarChangesTxn lists the index of cal after since, by sequence.
func calendarChangesTxn(txn *badger.Txn, cal, since uint64) ([]CalendarChange, error) {
	var out []CalendarChange
	prefix := calSub(prefCalSeq, cal, "")
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: prefix})
	defer it.Close()
	for it.Seek(calSeqKey(cal, since+1)); it.Valid(); it.Next() {
		item := it.Item()
		seq, err := strconv.ParseUint(string(item.Key()[len(prefix):]), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("calendar change key %q: %w", item.Key(), err)
		}
		if err := item.Value(func(v []byte) error {
			if len(v) < 2 || v[0] != calSeqObject && v[0] != calSeqGone {
				return fmt.Errorf("calendar change %q: bad value", item.Key())
			}
			out = append(out, CalendarChange{Name: string(v[1:]), Deleted: v[0] == calSeqGone, Seq: seq})
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// migrateCalendarIndexesTxn builds the indexes of the calendars a
// schema 3 database holds (3 → 4).
func migrateCalendarIndexesTxn(txn *badger.Txn) error {
	calOf := func(k, prefix []byte) (uint64, string, error) {
		rest := string(k[len(prefix):])
		if len(rest) < 17 || rest[16] != '/' {
			return 0, "", fmt.Errorf("calendar key %q: bad form", k)
		}
		id, err := strconv.ParseUint(rest[:16], 16, 64)
		return id, rest[17:], err
	}
	type entry struct {
		cal, seq uint64
		kind     byte
		name     string
		span     []byte
	}
	var entries []entry
	if err := scan(txn, prefCalObj, func(k, v []byte) error {
		var o CalendarObject
		if err := unmarshal(v, &o); err != nil {
			return err
		}
		id, name, err := calOf(k, prefCalObj)
		entries = append(entries, entry{id, o.Seq, calSeqObject, name, spanValue(o)})
		return err
	}); err != nil {
		return err
	}
	if err := scan(txn, prefCalGone, func(k, v []byte) error {
		id, name, err := calOf(k, prefCalGone)
		if err == nil && len(v) != 8 {
			err = fmt.Errorf("calendar tombstone %q: bad value", k)
		}
		if err == nil {
			entries = append(entries, entry{id, binary.BigEndian.Uint64(v), calSeqGone, name, nil})
		}
		return err
	}); err != nil {
		return err
	}
	for _, e := range entries { // written after the scans, not under their iterators
		if err := setCalSeqTxn(txn, e.cal, 0, e.seq, e.kind, e.name); err != nil {
			return err
		}
		if e.span != nil {
			if err := txn.Set(calSub(prefCalSpan, e.cal, e.name), e.span); err != nil {
				return err
			}
		}
	}
	return nil
}
