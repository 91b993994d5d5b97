package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// The Badger keys of calendars (storage.Calendars):
//
//	calendar/<owner>/<name>       → Calendar
//	calid/<id:16x>                → calendarRef (the key above, by ID)
//	calobj/<id:16x>/<name>        → CalendarObject
//	caluid/<id:16x>/<uid>         → the name of the object with that UID
//	calgone/<id:16x>/<name>       → the sequence (8 bytes) that deleted it
//	calpurge/<id:16x>             → a deleted calendar whose keys may remain
//	calseq/<id:16x>/<seq:16x>     → the change index (calendars_seq.go)
//	calspan/<id:16x>/<name>       → an object's time range (calendars_seq.go)
var (
	prefCalendar = []byte("calendar/")
	prefCalID    = []byte("calid/")
	prefCalObj   = []byte("calobj/")
	prefCalUID   = []byte("caluid/")
	prefCalGone  = []byte("calgone/")
	prefCalPurge = []byte("calpurge/")
	keyNextCal   = []byte("meta/next-calendar")
)

var _ Calendars = (*Store)(nil)

type calendarRef struct {
	Owner delegation.ID `json:"owner"`
	Name  string        `json:"name"`
}

func calKey(owner delegation.ID, name string) []byte { return key(prefCalendar, string(owner), name) }
func calIDKey(id uint64) []byte                      { return fmt.Appendf(append([]byte(nil), prefCalID...), "%016x", id) }
func calSub(prefix []byte, id uint64, name string) []byte {
	return fmt.Appendf(append([]byte(nil), prefix...), "%016x/%s", id, name)
}

// EnsureDefaultCalendar creates the owner's default calendar if absent.
func (s *Store) EnsureDefaultCalendar(owner delegation.ID) (Calendar, error) {
	if c, err := s.Calendar(owner, DefaultCalendar); !errors.Is(err, ErrNotFound) {
		return c, err
	}
	c, err := s.CreateCalendar(owner, DefaultCalendar, "Calendar", "")
	if errors.Is(err, ErrExists) { // made meanwhile
		return s.Calendar(owner, DefaultCalendar)
	}
	return c, err
}

// Calendars lists the owner's collections by name.
func (s *Store) Calendars(owner delegation.ID) ([]Calendar, error) {
	var out []Calendar
	err := s.view(func(txn *badger.Txn) error {
		out = out[:0]
		return scan(txn, key(prefCalendar, string(owner), ""), func(_, v []byte) error {
			var c Calendar
			if err := unmarshal(v, &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// Calendar gives one of the owner's collections.
func (s *Store) Calendar(owner delegation.ID, name string) (Calendar, error) {
	var c Calendar
	err := s.view(func(txn *badger.Txn) error {
		var err error
		c, err = calendarTxn(txn, owner, name)
		return err
	})
	return c, err
}

func calendarTxn(txn *badger.Txn, owner delegation.ID, name string) (Calendar, error) {
	var c Calendar
	if err := getJSON(txn, calKey(owner, name), &c); err != nil {
		if errors.Is(err, ErrNotFound) {
			return c, errorf(ErrNotFound, "no calendar %q", name)
		}
		return c, err
	}
	return c, nil
}

func calendarByIDTxn(txn *badger.Txn, id uint64) (Calendar, error) {
	var ref calendarRef
	if err := getJSON(txn, calIDKey(id), &ref); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Calendar{}, errorf(ErrNotFound, "no calendar %d", id)
		}
		return Calendar{}, err
	}
	return calendarTxn(txn, ref.Owner, ref.Name)
}

// CreateCalendar makes a collection.
func (s *Store) CreateCalendar(owner delegation.ID, name, displayName, color string) (Calendar, error) {
	s.calMu.RLock()
	defer s.calMu.RUnlock()
	if err := CheckCalendarName(name); err != nil {
		return Calendar{}, err
	}
	if err := CheckCalendarDisplay(displayName, color); err != nil {
		return Calendar{}, err
	}
	var c Calendar
	err := s.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(calKey(owner, name)); err == nil {
			return errorf(ErrExists, "calendar %q exists", name)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		id, err := next(txn, keyNextCal)
		if err != nil {
			return err
		}
		c = Calendar{ID: id, Owner: owner, Name: name, DisplayName: displayName, Color: color, Seq: 1, Created: CalendarTime(s.now())}
		if err := setJSON(txn, calIDKey(id), calendarRef{owner, name}); err != nil {
			return err
		}
		return setJSON(txn, calKey(owner, name), c)
	})
	return c, err
}

// SetCalendarDisplay changes a collection's display name and color.
func (s *Store) SetCalendarDisplay(owner delegation.ID, name, displayName, color string) (Calendar, error) {
	s.calMu.RLock()
	defer s.calMu.RUnlock()
	if err := CheckCalendarDisplay(displayName, color); err != nil {
		return Calendar{}, err
	}
	var c Calendar
	err := s.update(func(txn *badger.Txn) error {
		var err error
		if c, err = calendarTxn(txn, owner, name); err != nil {
			return err
		}
		c.DisplayName, c.Color = displayName, color
		c.Seq++
		return setJSON(txn, calKey(owner, name), c)
	})
	return c, err
}

// DeleteCalendar removes a collection with its objects and change log.
// The collection goes in one commit, with a purge marker; its objects,
// unreachable from then on (an ID is never reused), go in batches after,
// and Open finishes a purge a crash interrupted (as for folders).
func (s *Store) DeleteCalendar(owner delegation.ID, name string) error {
	s.calMu.RLock()
	defer s.calMu.RUnlock()
	if name == DefaultCalendar {
		return errorf(ErrInvalid, "the default calendar cannot be deleted")
	}
	var id uint64
	if err := s.update(func(txn *badger.Txn) error {
		c, err := calendarTxn(txn, owner, name)
		if err != nil {
			return err
		}
		id = c.ID
		if err := txn.Delete(calIDKey(c.ID)); err != nil {
			return err
		}
		if err := txn.Set(calPurgeKey(c.ID), nil); err != nil {
			return err
		}
		return txn.Delete(calKey(owner, name))
	}); err != nil {
		return err
	}
	return s.purgeCalendar(id)
}

func calPurgeKey(id uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefCalPurge...), "%016x", id)
}

// calPurgeBatch is how many keys one purge commit deletes (well within
// Badger's transaction limits).
const calPurgeBatch = 1000

// purgeCalendar removes a deleted collection's objects, UID index and
// tombstones, then its purge marker.
func (s *Store) purgeCalendar(id uint64) error {
	for _, prefix := range [][]byte{prefCalObj, prefCalUID, prefCalGone, prefCalSeq, prefCalSpan} {
		for {
			var keys [][]byte
			if err := s.view(func(txn *badger.Txn) error {
				keys = keys[:0]
				it := txn.NewIterator(badger.IteratorOptions{Prefix: calSub(prefix, id, "")})
				defer it.Close()
				for it.Rewind(); it.Valid() && len(keys) < calPurgeBatch; it.Next() {
					keys = append(keys, it.Item().KeyCopy(nil))
				}
				return nil
			}); err != nil {
				return err
			}
			if len(keys) == 0 {
				break
			}
			if err := s.update(func(txn *badger.Txn) error {
				for _, k := range keys {
					if err := txn.Delete(k); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	return s.update(func(txn *badger.Txn) error { return txn.Delete(calPurgeKey(id)) })
}

// finishCalendarPurges completes calendar deletions a crash interrupted.
func (s *Store) finishCalendarPurges() error {
	var ids []uint64
	if err := s.view(func(txn *badger.Txn) error {
		return scanKeys(txn, prefCalPurge, func(k []byte) {
			if id, err := strconv.ParseUint(string(k[len(prefCalPurge):]), 16, 64); err == nil {
				ids = append(ids, id)
			}
		})
	}); err != nil {
		return err
	}
	for _, id := range ids {
		s.log.Info("finishing an interrupted calendar deletion", "calendar_id", id)
		if err := s.purgeCalendar(id); err != nil {
			return fmt.Errorf("purge calendar %d: %w", id, err)
		}
	}
	return nil
}

func calObjectTxn(txn *badger.Txn, cal uint64, name string) (CalendarObject, error) {
	var o CalendarObject
	if err := getJSON(txn, calSub(prefCalObj, cal, name), &o); err != nil {
		if errors.Is(err, ErrNotFound) {
			return o, errorf(ErrNotFound, "no calendar object %q", name)
		}
		return o, err
	}
	return o, nil
}

// bumpCalendarTxn gives the collection holding cal its next sequence.
func bumpCalendarTxn(txn *badger.Txn, cal uint64) (uint64, error) {
	c, err := calendarByIDTxn(txn, cal)
	if err != nil {
		return 0, err
	}
	c.Seq++
	return c.Seq, setJSON(txn, calKey(c.Owner, c.Name), c)
}

// PutCalendarObject stores an object if it meets cond.
func (s *Store) PutCalendarObject(o CalendarObject, cond Condition) (CalendarObject, error) {
	s.calMu.RLock()
	defer s.calMu.RUnlock()
	o, err := PrepareCalendarObject(o)
	if err != nil {
		return CalendarObject{}, err
	}
	err = s.update(func(txn *badger.Txn) error {
		old, err := calObjectTxn(txn, o.Calendar, o.Name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := cond.Check(old.ETag); err != nil {
			return err
		}
		uidKey := calSub(prefCalUID, o.Calendar, o.UID)
		if item, err := txn.Get(uidKey); err == nil {
			var holder []byte
			if holder, err = item.ValueCopy(nil); err != nil {
				return err
			}
			if string(holder) != o.Name {
				return errorf(ErrExists, "another calendar object has UID %q", o.UID)
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if o.Seq, err = bumpCalendarTxn(txn, o.Calendar); err != nil {
			return err
		}
		if old.UID != "" && old.UID != o.UID {
			if err := txn.Delete(calSub(prefCalUID, o.Calendar, old.UID)); err != nil {
				return err
			}
		}
		o.Modified = CalendarTime(s.now())
		if err := txn.Set(uidKey, []byte(o.Name)); err != nil {
			return err
		}
		prev := old.Seq
		if prev == 0 { // a new object: its name's tombstone, if any, goes
			if prev, err = calGoneSeqTxn(txn, o.Calendar, o.Name); err != nil {
				return err
			}
		}
		if err := setCalSeqTxn(txn, o.Calendar, prev, o.Seq, calSeqObject, o.Name); err != nil {
			return err
		}
		if err := txn.Set(calSub(prefCalSpan, o.Calendar, o.Name), spanValue(o)); err != nil {
			return err
		}
		if err := txn.Delete(calSub(prefCalGone, o.Calendar, o.Name)); err != nil {
			return err
		}
		return setJSON(txn, calSub(prefCalObj, o.Calendar, o.Name), o)
	})
	if err != nil {
		return CalendarObject{}, err
	}
	return o, nil
}

// CalendarObject gives one object.
func (s *Store) CalendarObject(cal uint64, name string) (CalendarObject, error) {
	var o CalendarObject
	err := s.view(func(txn *badger.Txn) error {
		var err error
		o, err = calObjectTxn(txn, cal, name)
		return err
	})
	return o, err
}

// DeleteCalendarObject removes an object if it meets cond, leaving a
// tombstone for CalendarChanges.
func (s *Store) DeleteCalendarObject(cal uint64, name string, cond Condition) error {
	s.calMu.RLock()
	defer s.calMu.RUnlock()
	return s.update(func(txn *badger.Txn) error {
		old, err := calObjectTxn(txn, cal, name)
		if err != nil {
			return err
		}
		if err := cond.Check(old.ETag); err != nil {
			return err
		}
		seq, err := bumpCalendarTxn(txn, cal)
		if err != nil {
			return err
		}
		if err := txn.Delete(calSub(prefCalUID, cal, old.UID)); err != nil {
			return err
		}
		if err := txn.Delete(calSub(prefCalObj, cal, name)); err != nil {
			return err
		}
		if err := setCalSeqTxn(txn, cal, old.Seq, seq, calSeqGone, name); err != nil {
			return err
		}
		if err := txn.Delete(calSub(prefCalSpan, cal, name)); err != nil {
			return err
		}
		return txn.Set(calSub(prefCalGone, cal, name), binary.BigEndian.AppendUint64(nil, seq))
	})
}

// CalendarObjects lists a collection's objects by name.
func (s *Store) CalendarObjects(cal uint64) ([]CalendarObject, error) {
	return s.QueryCalendarObjects(cal, time.Time{}, time.Time{})
}

// QueryCalendarObjects lists the objects overlapping [start, end): with
// a range, those its time-range index (calspan/) selects.
func (s *Store) QueryCalendarObjects(cal uint64, start, end time.Time) ([]CalendarObject, error) {
	var out []CalendarObject
	err := s.view(func(txn *badger.Txn) error {
		out = out[:0]
		if _, err := calendarByIDTxn(txn, cal); err != nil {
			return err
		}
		if !start.IsZero() || !end.IsZero() {
			var err error
			out, err = queryCalendarTxn(txn, cal, start, end)
			return err
		}
		return scan(txn, calSub(prefCalObj, cal, ""), func(_, v []byte) error {
			var o CalendarObject
			if err := unmarshal(v, &o); err != nil {
				return err
			}
			if o.Overlaps(start, end) {
				out = append(out, o)
			}
			return nil
		})
	})
	return out, err
}

// CalendarChanges lists what changed after since, from the change
// index: it reads the changes, not the collection.
func (s *Store) CalendarChanges(cal uint64, since uint64) ([]CalendarChange, uint64, error) {
	var out []CalendarChange
	var seq uint64
	err := s.view(func(txn *badger.Txn) error {
		c, err := calendarByIDTxn(txn, cal)
		if err != nil {
			return err
		}
		seq = c.Seq
		out, err = calendarChangesTxn(txn, cal, since)
		return err
	})
	return out, seq, err
}
