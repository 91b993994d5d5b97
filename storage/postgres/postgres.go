// Package postgres is mailgate's storage on PostgreSQL (pgx/v5), for
// installations where several mailgate nodes share one database. It
// implements the whole storage contract (storage.Backend: the directory,
// grants and audit, and the mailstore with its bodies, flags,
// mod-sequences, relay queue and change notices) and passes the same
// conformance suite as the embedded Badger store (storage/storagetest).
// It is the only importer of pgx.
//
// Every node keeps the directory as an in-memory snapshot, like the
// Badger store. A directory change is one transaction that takes a
// database-wide advisory lock (so that its checks against the snapshot
// cannot race with another node's), appends a row to the change log and
// sends a NOTIFY; every node LISTENs and reloads when the log has moved
// past its snapshot. A missed notice (the listening connection dropped)
// is caught up on reconnect and by a periodic check of the log, so no
// change is lost, only seen later.
//
// The mailstore (mailstore.go has the details) keeps folders, messages,
// bodies (stored once by content hash, reference counted), tombstones,
// subscriptions and the queue in tables of migration 2. Each write is one
// transaction, however many messages, committed with synchronous_commit
// on before it returns; writes to a folder are serialised across nodes by
// locking its row FOR UPDATE (several folders in ID order), so UIDs and
// mod-sequences come from the locked row; deadlocks and serialisation
// failures are retried. Each write logs its changes in mail_changes and
// NOTIFYs in its transaction; every node announces the log to its
// OnChange listeners in order (its own changes with their Origin, the
// others' with none) and catches up after a lost notice, like the
// directory.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // the clock; nil means time.Now
	// PollInterval bounds how late a change from another node is seen
	// when its notice was lost (default 10 s). Notices make it prompt.
	PollInterval time.Duration
}

// Store is a handle on a mailgate database in PostgreSQL. Any number of
// them, in any number of processes, may share one database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	now  func() time.Time
	poll time.Duration

	dirMu     sync.Mutex                           // serialises this node's reloads
	dir       atomic.Pointer[delegation.Directory] // snapshot
	seq       atomic.Int64                         // the change log position dir reflects
	heard     int64                                // guarded by dirMu: the position listeners have been told up to (≤ seq)
	listenMu  sync.Mutex
	listeners []func(storage.DirChange) // guarded by listenMu
	// loginListeners hear other nodes' login outcomes (logins.go).
	loginListeners []func(ip, account string, ok bool, at time.Time) // guarded by listenMu
	node           string                                            // this handle's random name in login notices

	mail mailState

	cancel   context.CancelFunc
	done     chan struct{}
	migrated []int // the schema versions Open applied
}

var _ storage.Backend = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), applies the schema migrations it lacks, loads the directory
// and starts following other nodes' changes.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, log: o.Logger, now: o.Now, poll: o.PollInterval, done: make(chan struct{}), node: rand.Text()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.poll <= 0 {
		s.poll = 10 * time.Second
	}
	if s.migrated, err = Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.reload(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.heard = s.seq.Load()
	if err := s.initMail(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	fctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.follow(fctx)
	return s, nil
}

// Close stops following changes and closes the connections.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	s.pool.Close()
	return nil
}

// Directory returns the current snapshot.
func (s *Store) Directory() *delegation.Directory { return s.dir.Load() }

// OnDirectoryChange registers a listener called after each change seen,
// this node's or another's, once the new snapshot is in place.
func (s *Store) OnDirectoryChange(fn func(storage.DirChange)) {
	s.listenMu.Lock()
	s.listeners = append(s.listeners, fn)
	s.listenMu.Unlock()
}

func (s *Store) notify(c storage.DirChange) {
	s.listenMu.Lock()
	ls := s.listeners
	s.listenMu.Unlock()
	for _, fn := range ls {
		fn(c)
	}
}

// dirChannel is the NOTIFY channel of directory changes; the payload is
// the change's log position.
const dirChannel = "mailgate_directory"

// dirLock is the advisory lock key that serialises directory changes
// across nodes.
const dirLock = 0x6d61696c67617465 // "mailgate"

// dirWrite runs one directory change in a transaction that holds the
// directory lock and sees a snapshot at least as new as the last change:
// fn's checks cannot race with another node's change. The change is
// logged (with what listeners must know) and announced in the same
// commit; then this node's snapshot is reloaded.
func (s *Store) dirWrite(fn func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error)) error {
	ctx, cancel := bg()
	defer cancel()
	return s.dirWriteCtx(ctx, fn)
}

// dirWriteCtx is dirWrite within ctx's deadline.
func (s *Store) dirWriteCtx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx, d *delegation.Directory) (storage.DirChange, error)) error {
	var change storage.DirChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(dirLock)); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM dir_changes").Scan(&last); err != nil {
			return err
		}
		if last != s.seq.Load() {
			if err := s.reload(ctx); err != nil { // another node changed it meanwhile
				return err
			}
		}
		var err error
		if change, err = fn(ctx, tx, s.dir.Load()); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, "INSERT INTO dir_changes (removed, password_changed) VALUES ($1, $2) RETURNING seq",
			ids(change.Removed), ids(change.PasswordChanged)).Scan(&seq); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", dirChannel, fmt.Sprint(seq))
		return err
	})
	if err != nil {
		return dbError(err)
	}
	return s.catchUp(ctx)
}

func ids(in []delegation.ID) []string {
	out := make([]string, len(in))
	for i, id := range in {
		out[i] = string(id)
	}
	return out
}

// catchUp reloads the snapshot if the change log is past it and tells the
// listeners of every change in between.
func (s *Store) catchUp(ctx context.Context) error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var last int64
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM dir_changes").Scan(&last); err != nil {
		return dbError(err)
	}
	if last > s.seq.Load() {
		if err := s.reloadLocked(ctx); err != nil {
			return err
		}
	}
	// The listeners hear every change up to the snapshot's position,
	// also those a reload took in without telling them (dirWrite's, or
	// one committed between listing the log and reloading).
	to := s.seq.Load()
	if to <= s.heard {
		return nil
	}
	rows, err := s.pool.Query(ctx, "SELECT removed, password_changed FROM dir_changes WHERE seq > $1 AND seq <= $2 ORDER BY seq", s.heard, to)
	if err != nil {
		return dbError(err)
	}
	var changes []storage.DirChange
	for rows.Next() {
		var removed, pw []string
		if err := rows.Scan(&removed, &pw); err != nil {
			rows.Close()
			return dbError(err)
		}
		changes = append(changes, storage.DirChange{Removed: toIDs(removed), PasswordChanged: toIDs(pw)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError(err)
	}
	s.heard = to
	for _, c := range changes {
		s.notify(c)
	}
	return nil
}

func toIDs(in []string) []delegation.ID {
	var out []delegation.ID
	for _, s := range in {
		out = append(out, delegation.ID(s))
	}
	return out
}

// follow listens for other nodes' changes until ctx ends: on every notice,
// on every (re)connection and every PollInterval it catches up.
func (s *Store) follow(ctx context.Context) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("directory notices interrupted, reconnecting", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listen(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for _, ch := range []string{mailChannel, dirChannel, loginChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+ch); err != nil {
			conn.Conn().Close(ctx) // not back to the pool half listening
			return err
		}
	}
	defer conn.Conn().Close(context.Background()) // a LISTENing connection is never reused
	// Whatever happened while no one listened.
	if err := s.catchUpAll(ctx); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, s.poll)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		switch {
		case err != nil: // the periodic check
			err = s.catchUpAll(ctx)
			s.pruneMailChanges(ctx)
		case n.Channel == mailChannel:
			err = s.announce(ctx)
		case n.Channel == loginChannel:
			s.heardLogin(n)
		default:
			err = s.catchUp(ctx)
		}
		if err != nil {
			return err
		}
	}
}

// catchUpAll catches up with the directory and the mailstore.
func (s *Store) catchUpAll(ctx context.Context) error {
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	return s.announce(ctx)
}

// reload loads the whole directory into a new snapshot.
func (s *Store) reload(ctx context.Context) error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	return s.reloadLocked(ctx)
}

func (s *Store) reloadLocked(ctx context.Context) error {
	var (
		seq int64
		ts  []delegation.Tenant
		ps  []delegation.Principal
		gs  []delegation.Grant
	)
	// One repeatable-read transaction: the snapshot and its log position
	// are of the same moment.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM dir_changes").Scan(&seq); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT domain, propagation_ms FROM tenants")
		if err != nil {
			return err
		}
		for rows.Next() {
			var t delegation.Tenant
			var ms int64
			if err := rows.Scan(&t.Domain, &ms); err != nil {
				return err
			}
			t.Propagation = time.Duration(ms) * time.Millisecond
			ts = append(ts, t)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Aliases and members grouped once and joined: a subquery per
		// principal scanned the addresses table (no index on principal)
		// for each, 19 s for 10,000 users.
		rows, err = tx.Query(ctx, `SELECT p.id, p.kind, p.tenant, p.address, p.name,
			coalesce(a.aliases, '{}'), coalesce(m.members, '{}')
			FROM principals p
			LEFT JOIN (SELECT principal, array_agg(address ORDER BY address) AS aliases FROM addresses
				WHERE NOT is_primary GROUP BY principal) a ON a.principal = p.id
			LEFT JOIN (SELECT grp, array_agg(member ORDER BY member) AS members FROM members GROUP BY grp) m ON m.grp = p.id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p delegation.Principal
			var aliases, members []string
			if err := rows.Scan(&p.ID, &p.Kind, &p.Tenant, &p.Address, &p.Name, &aliases, &members); err != nil {
				return err
			}
			p.Aliases = nilIfEmpty(aliases)
			p.Members = toIDs(members)
			ps = append(ps, p)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, "SELECT id, mailbox, trustee, right_bits, created_at, effective_at, created_by, until FROM grants")
		if err != nil {
			return err
		}
		for rows.Next() {
			var g delegation.Grant
			var bits int16
			var until *time.Time
			if err := rows.Scan(&g.ID, &g.Mailbox, &g.Trustee, &bits, &g.CreatedAt, &g.EffectiveAt, &g.CreatedBy, &until); err != nil {
				return err
			}
			g.Right = delegation.Right(bits)
			g.CreatedAt, g.EffectiveAt = g.CreatedAt.UTC(), g.EffectiveAt.UTC()
			if until != nil {
				g.Until = until.UTC()
			}
			gs = append(gs, g)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("load directory: %w", dbError(err))
	}
	d, err := delegation.NewDirectory(ts, ps, gs)
	if err != nil {
		return fmt.Errorf("load directory: %w", err)
	}
	s.dir.Store(d)
	s.seq.Store(seq)
	return nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// dbError gives database errors that callers act on their storage kind;
// storage's own errors pass as they are.
func dbError(err error) error {
	var se *storage.Error
	if err == nil || errors.As(err, &se) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation: a race another node won
		return storage.Errorf(storage.ErrExists, "%s", pe.Detail)
	}
	if errors.As(err, &pe) && pe.Code == "22021" { // a text (a folder name) that is not UTF-8
		return storage.Errorf(storage.ErrInvalid, "not UTF-8")
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// Migrated reports the schema versions Open applied (none when the
// database was up to date).
func (s *Store) Migrated() []int { return s.migrated }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Backup refuses: a PostgreSQL database is backed up with PostgreSQL's
// own tools (pg_dump, or base backups and WAL archiving), which also see
// what other nodes write.
func (s *Store) Backup(io.Writer) error {
	return storage.Errorf(storage.ErrInvalid, "a PostgreSQL store is backed up with pg_dump (or base backups and WAL archiving), not by mailgate")
}
