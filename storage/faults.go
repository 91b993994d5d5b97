package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Resource faults.
//
// A full disk is not an error Badger returns: its memtable, value-log and
// table files are sparse files written through mmap, and a page that
// cannot get a block on a full file system is a SIGBUS, which ends the
// process. So mail is refused before the disk is full, while the rest of
// the file system (the reserve) still holds what Badger may need without
// asking: flushing every memtable to a table, compactions, the manifest.
// An operation that adds mail (Deliver, APPEND, COPY, MOVE) is admitted
// when the free space, less its own size, is above the reserve; one that
// removes or changes little (EXPUNGE, STORE, folder changes) while above
// half the reserve. Once admitted, an operation runs to its end: its later
// batches and a roll-forward after a failure take from the reserve, which
// is what it is for.
//
// A commit Badger refuses (a write or sync error, writes blocked) is
// reported as ErrUnavailable, or ErrNoSpace when the cause is ENOSPC or
// EDQUOT. Badger wraps its errors with %+v (y.Wrap), so the cause is found
// by errors.Is where the chain survives and by its text where it does not.

var (
	// ErrUnavailable means storage cannot take a write now (the disk is
	// full, or the database refused a commit). Nothing of the refused
	// operation is visible; reads still work. Retrying later is right:
	// SMTP answers 4xx, IMAP NO [UNAVAILABLE].
	ErrUnavailable = errors.New("storage temporarily unavailable")
	// ErrNoSpace is the ErrUnavailable of a full (or nearly full) disk:
	// errors.Is(err, ErrUnavailable) holds for it too. SMTP answers
	// 452 4.3.1 (RFC 3463 "mail system full").
	ErrNoSpace error = &Error{Kind: ErrUnavailable, Msg: "insufficient storage"}
)

// writeClass says how much free space an operation needs to be admitted.
type writeClass int

const (
	writeMail  writeClass = iota // adds mail: the reserve plus its own size
	writeHouse                   // changes or removes: half the reserve
)

// resourceState is the Store's free-space guard and fault switch.
type resourceState struct {
	dir     string                       // the database directory; "" in memory (no guard)
	reserve atomic.Int64                 // bytes kept free for Badger's own needs
	low     atomic.Bool                  // last admission was refused (logged on change)
	fault   atomic.Pointer[func() error] // FailWrites; tests: fail some commits
	log     *slog.Logger

	pendMu  sync.Mutex
	pending map[uint64]bool // guarded by pendMu: source folders with an unfinished intent
	batch   atomic.Bool     // a flipped batch is not all moved (batch_store.go)

	retryMu sync.Mutex // serialises the retries of conflicting writes (write)
}

// defaultReserve is what Badger may write without new admissions: every
// memtable flushed to a table, and room for compactions and the manifest.
func defaultReserve(o badger.Options) int64 {
	return int64(o.NumMemtables)*o.MemTableSize + 32<<20
}

// SetMinFreeSpace sets the free space (bytes) under which mail is refused
// with ErrNoSpace; see the package's resource faults. The default is
// every memtable plus 32 MiB.
func (s *Store) SetMinFreeSpace(bytes int64) { s.res.reserve.Store(bytes) }

// FailWrites makes every mailstore commit fail as if Badger had refused it
// with err (nil restores normal writes). It is for tests and fault drills
// where no small file system can be mounted.
func (s *Store) FailWrites(err error) {
	if err == nil {
		s.res.fault.Store(nil)
		return
	}
	s.FailCommits(func() error { return err })
}

// FailCommits makes each mailstore commit call fn first and fail, as a
// refused commit, with the error it returns (nil lets it commit); a nil fn
// restores normal writes. Tests use it to stop an operation after any of
// its commits, as a crash there would.
func (s *Store) FailCommits(fn func() error) {
	if fn == nil {
		s.res.fault.Store(nil)
		return
	}
	s.res.fault.Store(&fn)
}

// admit refuses an operation of class that writes about need bytes when
// the free space is too low for it.
func (s *Store) admit(class writeClass, need int64) error {
	r := &s.res
	if r.dir == "" {
		return nil
	}
	free, ok := freeSpace(r.dir)
	if !ok {
		return nil // unknown: Badger's own errors still apply
	}
	floor := r.reserve.Load()
	if class == writeHouse {
		floor /= 2
	} else {
		floor += need
	}
	if free < floor {
		if !r.low.Swap(true) {
			r.log.Warn("low disk space: refusing writes", "free_bytes", free, "needed_bytes", floor, "dir", r.dir)
		}
		return fmt.Errorf("%w: %d bytes free, %d needed", ErrNoSpace, free, floor)
	}
	if class == writeMail && r.low.Swap(false) {
		r.log.Info("disk space available again: accepting mail", "free_bytes", free)
	}
	return nil
}

// write runs fn in a read-write transaction, retrying on conflict, and
// reports a commit Badger refuses as ErrUnavailable (or ErrNoSpace). fn's
// own errors are returned as they are. Mailstore writes go through it.
//
// A first attempt runs alone; after a conflict the retries run one at a
// time (retryMu), so that retrying writers cannot keep invalidating each
// other, and back off a little each round. Free retries alone starved
// under contention: four writers of one key exhausted twenty rounds.
func (s *Store) write(fn func(*badger.Txn) error) error {
	err := s.writeOnce(fn)
	if !errors.Is(err, badger.ErrConflict) {
		return err
	}
	s.res.retryMu.Lock()
	defer s.res.retryMu.Unlock()
	for i := range maxConflictRetries {
		if err = s.writeOnce(fn); !errors.Is(err, badger.ErrConflict) {
			return err
		}
		time.Sleep(min(time.Duration(i+1)*200*time.Microsecond, 20*time.Millisecond))
	}
	s.log.Warn("write abandoned after conflicting retries", "retries", maxConflictRetries)
	return fmt.Errorf("%w: %d conflicting retries: %w", ErrUnavailable, maxConflictRetries, err)
}

// maxConflictRetries bounds write's serialised retries (about 3 s of
// back-off in all) so that a pathological key cannot hang a session.
const maxConflictRetries = 200

func (s *Store) writeOnce(fn func(*badger.Txn) error) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	if f := s.res.fault.Load(); f != nil {
		if err := (*f)(); err != nil {
			return writeRefused(err)
		}
	}
	err := txn.Commit()
	if err != nil && !errors.Is(err, badger.ErrConflict) {
		return writeRefused(err)
	}
	return err // nil, or ErrConflict, which write retries
}

// writeRefused classifies an error of a refused commit.
func writeRefused(err error) error {
	switch {
	case errors.Is(err, ErrUnavailable):
		return err
	case isNoSpace(err):
		return fmt.Errorf("%w: commit: %w", ErrNoSpace, err)
	default:
		return fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
	}
}

func isNoSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	t := err.Error()
	return strings.Contains(t, syscall.ENOSPC.Error()) || strings.Contains(t, syscall.EDQUOT.Error())
}
