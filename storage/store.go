// Package storage keeps everything mailgate persists in one embedded Badger
// database: the directory (tenants, principals, addresses), grants, the
// mailstore, the relay queue and the audit log.
//
// It is the only package that imports Badger; callers see ErrNotFound,
// ErrExists and friends, never Badger's errors. It imports delegation for the
// directory types and must not import smtp, imap, admin or cmd.
package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// SchemaVersion is written under the schema key; Open refuses a newer one
// and migrates an older one (migrations below, one per version step).
//
//	1 → 2: subscriptions move from a flag on the folder record to a set of
//	       names of their own (RFC 9051 §6.3.7: deleting a folder keeps its
//	       subscription).
//	2 → 3: folder records count their bytes (Folder.Size, for quotas).
const SchemaVersion = 3

var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
	// ErrLimit means a request is over a fixed limit (such as MaxFlags); IMAP
	// answers it with the RFC 5530 LIMIT response code.
	ErrLimit = errors.New("limit exceeded")
	// ErrLocked means another process (normally `mailgate serve`) holds the
	// database directory.
	ErrLocked = errors.New("database is in use by another process")
)

// Error carries a user-facing message and a kind that callers test with
// errors.Is (ErrNotFound, ErrExists, ErrInvalid, ErrLimit).
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }
func errorf(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// Options configure Open.
type Options struct {
	// InMemory keeps everything in memory (tests). Values over 1 MiB are
	// refused in this mode, so tests that store large bodies use a temp dir.
	InMemory bool
	// NoSync turns off the fsync of every commit. Only for benchmarks that
	// measure something else; mail is never acknowledged without it.
	NoSync bool
	Logger *slog.Logger     // may be nil
	Now    func() time.Time // the clock; nil means time.Now
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	db  *badger.DB
	log *slog.Logger
	now func() time.Time

	dirMu    sync.Mutex                           // serialises directory writes
	dir      atomic.Pointer[delegation.Directory] // snapshot, rebuilt after each directory write
	hub      hubState                             // mailbox change listeners
	folders  folderLocks                          // serialises writes per folder
	auth     authCache
	throttle throttle
	res      resourceState // free-space guard, write faults, unfinished operations (faults.go)
}

// Open opens (creating if needed) the database in dir.
func Open(dir string, o Options) (*Store, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bo := badger.DefaultOptions(dir)
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	}
	// A modest memory profile and every commit
	// fsynced. Badger batches the commits of concurrent transactions into
	// one write and one sync, which is the group commit that lets many
	// SMTP sessions share an fsync.
	bo = bo.WithSyncWrites(!o.NoSync && !o.InMemory).
		WithNumMemtables(3).WithMemTableSize(32 << 20).
		WithBlockCacheSize(32 << 20).WithIndexCacheSize(16 << 20).
		WithNumCompactors(2).WithValueLogFileSize(256 << 20).
		WithValueThreshold(64 << 10).
		WithLoggingLevel(badger.WARNING).WithLogger(badgerSlog{log.With("component", "badger")})
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("open database %s: %w", dir, err)
	}
	s := &Store{db: db, log: log, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.reloadDirectory(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.finishPurges(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recoverMailstore(dir, o.InMemory); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return s.db.Close()
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

func (s *Store) checkSchema() error {
	return s.update(func(txn *badger.Txn) error {
		item, err := txn.Get(keySchema)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(keySchema, []byte(fmt.Sprint(SchemaVersion)))
		}
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(string(b))
		if err != nil || v < 1 || v > SchemaVersion {
			return fmt.Errorf("database schema version %s, this mailgate knows %d", b, SchemaVersion)
		}
		if v == SchemaVersion {
			return nil
		}
		// One transaction for the whole migration: a crash leaves the old
		// version, which the next start migrates again.
		// migrations[i] takes version i+1 to i+2, in order.
		migrations := []func(*badger.Txn) error{migrateSubscriptionsTxn, migrateFolderSizesTxn}
		for i, migrate := range migrations {
			step := i + 1
			if v > step {
				continue
			}
			if err := migrate(txn); err != nil {
				return fmt.Errorf("migrate schema %d to %d: %w", step, step+1, err)
			}
		}
		s.log.Info("database schema migrated", "from", v, "to", SchemaVersion)
		return txn.Set(keySchema, []byte(fmt.Sprint(SchemaVersion)))
	})
}

// update runs fn in a read-write transaction, retrying on conflict.
// A refused commit is a typed fault (ErrUnavailable, ErrNoSpace: see
// faults.go) for every write, directory and audit included.
func (s *Store) update(fn func(*badger.Txn) error) error { return s.write(fn) }

func (s *Store) view(fn func(*badger.Txn) error) error { return s.db.View(fn) }

// next returns the next value of a named counter, starting at 1. It is
// transactional: a counter kept in the txn, so it can never be reused.
func next(txn *badger.Txn, key []byte) (uint64, error) {
	var n uint64
	item, err := txn.Get(key)
	switch {
	case err == nil:
		v, err := item.ValueCopy(nil)
		if err != nil {
			return 0, err
		}
		n = binary.BigEndian.Uint64(v)
	case !errors.Is(err, badger.ErrKeyNotFound):
		return 0, err
	}
	n++
	return n, txn.Set(key, binary.BigEndian.AppendUint64(nil, n))
}

func getJSON(txn *badger.Txn, key []byte, v any) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func setJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, b)
}

// scan calls fn for every key with prefix, in key order.
func scan(txn *badger.Txn, prefix []byte, fn func(key, val []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if err := item.Value(func(v []byte) error { return fn(item.Key(), v) }); err != nil {
			return err
		}
	}
	return nil
}

func unmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
