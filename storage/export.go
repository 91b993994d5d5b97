package storage

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

var _ Exporter = (*Store)(nil)

// Export yields the whole database as a backend-neutral record stream
// (copy.go), from one read transaction: a consistent snapshot however
// long the consumer takes. Open has finished any interrupted operation
// (intents, folder purges) already, so a message is exported only with
// its folder, and a folder's tombstones with it.
func (s *Store) Export(ctx context.Context) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		err := s.view(func(txn *badger.Txn) error { return exportTxn(txn, exportTo(ctx, yield)) })
		if err != nil && !errors.Is(err, errExportStopped) {
			yield(Item{}, fmt.Errorf("export: %w", err))
		}
	}
}

func exportTxn(txn *badger.Txn, emit func(Item) error) error {
	var c Counters
	for _, k := range []struct {
		key []byte
		n   *uint64
	}{{keyNextID, &c.Principal}, {keyNextGrant, &c.Grant}, {keyNextFold, &c.Folder}, {keyNextCal, &c.Calendar}} {
		var err error
		if *k.n, err = counterTxn(txn, k.key); err != nil {
			return err
		}
	}
	if err := emit(Item{Kind: RecordCounters, Counters: c}); err != nil {
		return err
	}
	if err := exportPlainTxn(txn, emit,
		plainRecord{prefTenant, RecordTenant, func(it *Item) any { return &it.Tenant }},
		plainRecord{prefPrincipal, RecordPrincipal, func(it *Item) any { return &it.Principal }},
		plainRecord{prefGrant, RecordGrant, func(it *Item) any { return &it.Grant }}); err != nil {
		return err
	}
	folders := map[uint64]bool{}
	if err := scan(txn, prefFoldRec, func(_, v []byte) error {
		it := Item{Kind: RecordFolder}
		if err := unmarshal(v, &it.Folder); err != nil {
			return err
		}
		normalizeFolder(&it.Folder)
		folders[it.Folder.ID] = true
		return emit(it)
	}); err != nil {
		return err
	}
	if err := scanKeysErr(txn, prefSub, func(k []byte) error {
		owner, name, ok := strings.Cut(string(k[len(prefSub):]), "/")
		if !ok {
			return fmt.Errorf("bad subscription key %q", k)
		}
		return emit(Item{Kind: RecordSubscription, Subscription: Subscription{Owner: delegation.ID(owner), Name: name}})
	}); err != nil {
		return err
	}
	if err := exportBlobsTxn(txn, emit); err != nil {
		return err
	}
	if err := scan(txn, prefMsg, func(k, v []byte) error {
		folder, _, err := folderUIDKey(k, prefMsg)
		if err != nil || !folders[folder] {
			return err // a message without its folder is not the folder's any more
		}
		m, err := decodeMessage(v)
		if err != nil {
			return err
		}
		return emit(Item{Kind: RecordMessage, Message: FolderMessage{Folder: folder, Message: m}})
	}); err != nil {
		return err
	}
	if err := scan(txn, prefGone, func(k, v []byte) error {
		folder, uid, err := folderUIDKey(k, prefGone)
		if err != nil || !folders[folder] {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("bad tombstone %q", k)
		}
		return emit(Item{Kind: RecordTombstone, Tombstone: Tombstone{Folder: folder, UID: uid, ModSeq: binary.BigEndian.Uint64(v)}})
	}); err != nil {
		return err
	}
	if err := exportPlainTxn(txn, emit,
		plainRecord{prefQueue, RecordQueue, func(it *Item) any { return &it.Queue }},
		plainRecord{prefAudit, RecordAudit, func(it *Item) any { return &it.Audit }}); err != nil {
		return err
	}
	return exportCalendarsTxn(txn, emit)
}

// plainRecord is a kind of record stored as one JSON value per key under
// prefix, and the Item field it decodes into.
type plainRecord struct {
	prefix []byte
	kind   RecordKind
	field  func(*Item) any
}

// exportPlainTxn yields the records of each kind in turn, in key order.
func exportPlainTxn(txn *badger.Txn, emit func(Item) error, kinds ...plainRecord) error {
	for _, k := range kinds {
		if err := scan(txn, k.prefix, func(_, v []byte) error {
			it := Item{Kind: k.kind}
			if err := unmarshal(v, k.field(&it)); err != nil {
				return err
			}
			return emit(it)
		}); err != nil {
			return err
		}
	}
	return nil
}

// exportCalendarsTxn yields the calendars, then their objects and
// tombstones (those of a calendar deleted but not yet purged are not
// its any more).
func exportCalendarsTxn(txn *badger.Txn, emit func(Item) error) error {
	cals := map[uint64]bool{}
	if err := scan(txn, prefCalendar, func(_, v []byte) error {
		it := Item{Kind: RecordCalendar}
		if err := unmarshal(v, &it.Calendar); err != nil {
			return err
		}
		cals[it.Calendar.ID] = true
		return emit(it)
	}); err != nil {
		return err
	}
	if err := scan(txn, prefCalObj, func(k, v []byte) error {
		it := Item{Kind: RecordCalendarObject}
		if err := unmarshal(v, &it.CalendarObject); err != nil {
			return err
		}
		if !cals[it.CalendarObject.Calendar] {
			return nil
		}
		return emit(it)
	}); err != nil {
		return err
	}
	return scan(txn, prefCalGone, func(k, v []byte) error {
		cal, name, err := calSubKey(k, prefCalGone)
		if err != nil || !cals[cal] {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("bad calendar tombstone %q", k)
		}
		return emit(Item{Kind: RecordCalendarTombstone, CalendarTombstone: CalendarTombstone{Calendar: cal, Name: name, Seq: binary.BigEndian.Uint64(v)}})
	})
}

// calSubKey parses <prefix><calendar id:16x>/<name>.
func calSubKey(k, prefix []byte) (uint64, string, error) {
	id, name, ok := strings.Cut(string(k[len(prefix):]), "/")
	n, err := strconv.ParseUint(id, 16, 64)
	if !ok || err != nil {
		return 0, "", fmt.Errorf("bad key %q", k)
	}
	return n, name, nil
}

// exportBlobsTxn yields every body with its reference count, a few
// values prefetched at a time (bodies may be large).
func exportBlobsTxn(txn *badger.Txn, emit func(Item) error) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 16, Prefix: prefBlob})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		id, err := strconv.ParseUint(string(k[len(prefBlob):]), 16, 64)
		if err != nil {
			return fmt.Errorf("bad blob key %q", k)
		}
		refs, err := blobRefsTxn(txn, id)
		if err != nil {
			return err
		}
		if err := it.Item().Value(func(v []byte) error {
			return emit(Item{Kind: RecordBlob, Blob: Blob{ID: id, Body: v, Refs: refs}})
		}); err != nil {
			return err
		}
	}
	return nil
}

// folderUIDKey parses <prefix><folder id:16x>/<uid:08x>.
func folderUIDKey(k, prefix []byte) (folder uint64, uid uint32, err error) {
	f, u, ok := strings.Cut(string(k[len(prefix):]), "/")
	fid, err1 := strconv.ParseUint(f, 16, 64)
	n, err2 := strconv.ParseUint(u, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad key %q", k)
	}
	return fid, uint32(n), nil
}

// counterTxn reads a named counter (next's) without moving it: the last
// value handed out, 0 for none.
func counterTxn(txn *badger.Txn, key []byte) (uint64, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("bad counter %s", key)
		}
		n = binary.BigEndian.Uint64(v)
		return nil
	})
	return n, err
}

// scanKeysErr is scanKeys with a callback that may fail.
func scanKeysErr(txn *badger.Txn, prefix []byte, fn func(key []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := fn(it.Item().Key()); err != nil {
			return err
		}
	}
	return nil
}

// Census counts what the database holds (copy.go), in one read
// transaction.
func (s *Store) Census(ctx context.Context) (Census, error) {
	c := Census{PerFolder: map[uint64]FolderCensus{}}
	count := func(n *int) func([]byte) error {
		return func([]byte) error { *n++; return ctx.Err() }
	}
	err := s.view(func(txn *badger.Txn) error {
		if err := scanKeysErr(txn, prefTenant, count(&c.Tenants)); err != nil {
			return err
		}
		if err := scan(txn, prefPrincipal, func(_, v []byte) error {
			var r Record
			if err := unmarshal(v, &r); err != nil {
				return err
			}
			c.Principals++
			c.Addresses += 1 + len(r.Aliases)
			c.Members += len(r.Members)
			return nil
		}); err != nil {
			return err
		}
		if err := scanKeysErr(txn, prefGrant, count(&c.Grants)); err != nil {
			return err
		}
		if err := scan(txn, prefFoldRec, func(_, v []byte) error {
			var f Folder
			if err := unmarshal(v, &f); err != nil {
				return err
			}
			normalizeFolder(&f)
			c.Folders++
			c.PerFolder[f.ID] = FolderCensus{UIDValidity: f.UIDValidity, UIDNext: f.UIDNext, HighestModSeq: f.HighestModSeq}
			return nil
		}); err != nil {
			return err
		}
		if err := scanKeysErr(txn, prefSub, count(&c.Subscriptions)); err != nil {
			return err
		}
		if err := scan(txn, prefMsg, func(k, v []byte) error {
			folder, _, err := folderUIDKey(k, prefMsg)
			if err != nil {
				return err
			}
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			c.Messages++
			c.MessageBytes += m.Size
			if fc, ok := c.PerFolder[folder]; ok {
				fc.Messages++
				fc.Bytes += m.Size
				fc.UIDSum += uint64(m.UID)
				c.PerFolder[folder] = fc
			}
			return ctx.Err()
		}); err != nil {
			return err
		}
		if err := scanKeysErr(txn, prefGone, count(&c.Tombstones)); err != nil {
			return err
		}
		if err := scanKeysErr(txn, prefQueue, count(&c.Queued)); err != nil {
			return err
		}
		if err := scanKeysErr(txn, prefAudit, count(&c.Audit)); err != nil {
			return err
		}
		// As exported: a calendar deleted but not yet purged has none.
		cals := map[uint64]bool{}
		if err := scan(txn, prefCalendar, func(_, v []byte) error {
			var cal Calendar
			if err := unmarshal(v, &cal); err != nil {
				return err
			}
			cals[cal.ID] = true
			c.Calendars++
			return ctx.Err()
		}); err != nil {
			return err
		}
		for _, k := range []struct {
			prefix []byte
			n      *int
		}{{prefCalObj, &c.CalendarObjects}, {prefCalGone, &c.CalendarTombstones}} {
			if err := scanKeysErr(txn, k.prefix, func(key []byte) error {
				cal, _, err := calSubKey(key, k.prefix)
				if err == nil && cals[cal] {
					*k.n++
				}
				return err
			}); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return Census{}, fmt.Errorf("census: %w", err)
	}
	return c, nil
}
