package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

// The mailstore (storage.Mailstore) in PostgreSQL. Tables (migration 2):
//
//	folders        id (from folder_ids, never reused; UIDVALIDITY = id), owner, name, uid_next,
//	               count, size, special_use, highest_modseq; unique (owner, name)
//	messages       (folder_id, uid) → flags, internal_date, size, blob_id, modseq
//	blobs          id, sha256 (unique), body, header, refs: a body is stored once by its
//	               content hash, however many messages and queue entries refer to it,
//	               and removed when refs reach 0
//	tombstones     (folder_id, uid) → modseq of the expunge (QRESYNC VANISHED)
//	subscriptions  (owner, name)
//	queue          id, blob_id, next_attempt, entry (the QueueEntry, jsonb)
//	mail_changes   seq, at, changes: the change log every node follows
//
// Every write is one transaction, however many messages it touches, so
// MOVE, COPY and EXPUNGE are atomic by themselves (no intents, no
// batches), and it returns only after COMMIT with the default
// synchronous_commit (on). Writes to a folder are serialised across nodes
// by `SELECT ... FROM folders WHERE id = ANY(...) ORDER BY id FOR UPDATE`
// in the write's transaction: UIDs and mod-sequences come from the locked
// row, so they are strictly increasing per folder whichever node
// delivers, and several folders are always locked in ID order. A
// transaction that still deadlocks or fails to serialise (SQLSTATE
// 40P01, 40001) is run again, a few times. Creating, renaming and
// deleting folders also take an advisory lock on the owner's namespace.
//
// Change notices. A write that changes folders inserts one mail_changes
// row with its changes, in announcement order, and sends a NOTIFY, in
// its own transaction. Every node announces the log to its OnChange
// listeners in log order, one node-wide mutex at a time (announce): the
// writer right after its COMMIT (so that a write returns with its changes
// announced, as with Badger) and the follower on every notice, every
// reconnection and every PollInterval. The writer's own changes are known
// in memory before COMMIT (pending) and are announced from there, with
// their Origin; those of other nodes come from the log with NoOrigin.
// Log order is commit order for each folder (its writers hold its lock
// until COMMIT). Across folders a lower seq may commit after a higher
// one, so the node's cursor moves past a missing seq only once every
// transaction that was running when the gap was first seen has ended
// (the snapshot's xmin has passed the xmax of then): a late commit is
// announced when it lands, never skipped. Rows older than an hour are
// pruned; a node that was cut off for longer misses their notices (its
// sessions see the state on their next Snapshot).
//
// Snapshot takes the announcement mutex, then the folder's row FOR
// SHARE (so no write to the folder commits meanwhile), announces what
// has committed and reads the messages: its view is exactly the state
// before the next change announced for the folder.

// mailChannel is the NOTIFY channel of mailstore changes (empty payload:
// the log says what changed).
const mailChannel = "mailgate_mail"

// mailRetries bounds the runs of a write that deadlocks, fails to
// serialise or finds its folder renamed under it.
const mailRetries = 10

// changeLogAge is how long mail_changes rows are kept.
const changeLogAge = time.Hour

type mailState struct {
	lmu       sync.RWMutex
	listeners []func(storage.Change) // guarded by lmu

	mu        sync.Mutex      // held while announcing (listeners are called with it held)
	cursor    int64           // guarded by mu: every log row up to it is announced or will never commit
	announced map[int64]bool  // guarded by mu: rows above cursor already announced
	gaps      map[int64]int64 // guarded by mu: seq missing above cursor → snapshot xmax when first missed

	pmu     sync.Mutex
	pending map[int64][]storage.Change // guarded by pmu: this node's rows, committed or committing

	pruned time.Time // guarded by mu: last pruneMailChanges
}

// OnChange registers a listener, called for every change of every node,
// in log order, with the node's announcement mutex held: it must be quick
// and must not call back into the mailstore.
func (s *Store) OnChange(fn func(storage.Change)) {
	s.mail.lmu.Lock()
	s.mail.listeners = append(s.mail.listeners, fn)
	s.mail.lmu.Unlock()
}

// changeRec is a Change as the log keeps it (no Origin: that is this
// node's business).
type changeRec struct {
	Kind     storage.ChangeKind `json:"kind"`
	Owner    delegation.ID      `json:"owner,omitempty"`
	FolderID uint64             `json:"folder_id"`
	UID      uint32             `json:"uid,omitempty"`
	Flags    []string           `json:"flags,omitempty"`
	ModSeq   uint64             `json:"modseq,omitempty"`
	Message  *storage.Message   `json:"message,omitempty"`
	Folder   string             `json:"folder,omitempty"`
}

func encodeChanges(cs []storage.Change) ([]byte, error) {
	recs := make([]changeRec, len(cs))
	for i, c := range cs {
		recs[i] = changeRec{Kind: c.Kind, Owner: c.Owner, FolderID: c.FolderID, UID: c.UID, Flags: c.Flags, ModSeq: c.ModSeq, Folder: c.Folder}
		if c.Kind == storage.ChangeAppend {
			m := c.Message
			recs[i].Message = &m
		}
	}
	return json.Marshal(recs)
}

func decodeChanges(b []byte) ([]storage.Change, error) {
	var recs []changeRec
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("mail change log: %w", err)
	}
	cs := make([]storage.Change, len(recs))
	for i, r := range recs {
		cs[i] = storage.Change{Kind: r.Kind, Owner: r.Owner, FolderID: r.FolderID, UID: r.UID, Flags: r.Flags, ModSeq: r.ModSeq, Folder: r.Folder}
		if r.Message != nil {
			cs[i].Message = *r.Message
		}
	}
	return cs, nil
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// initMail puts the node's cursor at the end of the log: what happened
// before Open is in the state any session reads first.
func (s *Store) initMail(ctx context.Context) error {
	s.mail.announced = map[int64]bool{}
	s.mail.gaps = map[int64]int64{}
	s.mail.pending = map[int64][]storage.Change{}
	err := s.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM mail_changes").Scan(&s.mail.cursor)
	if err != nil {
		return fmt.Errorf("mail change log: %w", dbError(err))
	}
	s.pruneMailChanges(ctx)
	return nil
}

// announce tells the listeners of every log row committed and not yet
// announced on this node, in log order.
func (s *Store) announce(ctx context.Context) error {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	return s.announceLocked(ctx, s.pool)
}

// announceLocked is announce for a caller holding s.mail.mu; q reads the
// log (Snapshot's transaction, or the pool).
func (s *Store) announceLocked(ctx context.Context, q querier) error {
	m := &s.mail
	// Rows this node has (its own, in memory) or has announced already
	// (above a gap) are listed without their changes.
	known := make([]int64, 0, len(m.announced))
	for seq := range m.announced {
		known = append(known, seq)
	}
	m.pmu.Lock()
	for seq := range m.pending {
		known = append(known, seq)
	}
	m.pmu.Unlock()
	// One statement: the rows and the snapshot's xmin/xmax are of the
	// same moment.
	rows, err := q.Query(ctx, `SELECT s.xmin, s.xmax, c.seq, CASE WHEN c.seq = ANY($2) THEN NULL ELSE c.changes END
		FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
			pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax) s
		LEFT JOIN mail_changes c ON c.seq > $1 ORDER BY c.seq`, m.cursor, known)
	if err != nil {
		return dbError(err)
	}
	type row struct {
		seq     int64
		changes []byte
	}
	var (
		got        []row
		xmin, xmax int64
	)
	for rows.Next() {
		var seq *int64
		var b []byte
		if err := rows.Scan(&xmin, &xmax, &seq, &b); err != nil {
			rows.Close()
			return dbError(err)
		}
		if seq != nil {
			got = append(got, row{*seq, b})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError(err)
	}
	m.lmu.RLock()
	ls := m.listeners
	m.lmu.RUnlock()
	top := m.cursor
	for _, r := range got {
		top = max(top, r.seq)
		if m.announced[r.seq] {
			continue
		}
		m.pmu.Lock()
		cs, own := m.pending[r.seq]
		delete(m.pending, r.seq)
		m.pmu.Unlock()
		if !own {
			if r.changes == nil { // pending when asked, dropped since: read it again next time
				continue
			}
			if cs, err = decodeChanges(r.changes); err != nil {
				return err
			}
		}
		for _, c := range cs {
			for _, fn := range ls {
				fn(c)
			}
		}
		m.announced[r.seq] = true
	}
	for seq := m.cursor + 1; seq <= top; seq++ {
		if _, seen := m.gaps[seq]; !m.announced[seq] && !seen {
			m.gaps[seq] = xmax
		}
	}
	for {
		next := m.cursor + 1
		if m.announced[next] {
			delete(m.announced, next)
			delete(m.gaps, next) // missed once, committed since
		} else if x, ok := m.gaps[next]; ok && xmin >= x {
			delete(m.gaps, next) // every transaction that could have written it has ended
		} else {
			break
		}
		m.cursor = next
	}
	return nil
}

// pruneMailChanges deletes log rows older than changeLogAge, at most
// every few minutes.
func (s *Store) pruneMailChanges(ctx context.Context) {
	s.mail.mu.Lock()
	due := time.Since(s.mail.pruned) > 5*time.Minute
	if due {
		s.mail.pruned = time.Now()
	}
	s.mail.mu.Unlock()
	if !due {
		return
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM mail_changes WHERE at < now() - $1::interval",
		fmt.Sprintf("%d seconds", int(changeLogAge.Seconds()))); err != nil {
		s.log.Warn("pruning the mail change log", "err", err)
	}
}

// mailTx is one mailstore write's transaction and the changes it will
// announce.
type mailTx struct {
	tx      pgx.Tx
	changes []storage.Change
}

func (w *mailTx) announce(cs ...storage.Change) { w.changes = append(w.changes, cs...) }

// errFolderMoved means a folder was renamed or deleted between resolving
// its name and locking it; the write runs again.
var errFolderMoved = errors.New("folder renamed or deleted meanwhile")

// mailWrite runs fn in a transaction, logs and commits its changes, and
// announces them before returning. fn may run several times (deadlock,
// serialisation failure, errFolderMoved): each run starts afresh.
func (s *Store) mailWrite(ctx context.Context, fn func(ctx context.Context, w *mailTx) error) error {
	var err error
	for attempt := range mailRetries {
		if attempt > 0 {
			time.Sleep(time.Duration(1+rand.IntN(5*attempt)) * time.Millisecond)
		}
		var seq int64
		seq, err = s.mailWriteOnce(ctx, fn)
		if err == nil {
			if seq != 0 {
				if err := s.announce(ctx); err != nil {
					// Committed: the follower announces it once it can.
					s.log.Warn("announcing mail changes", "err", err)
				}
			}
			return nil
		}
		if !retryable(err) {
			return dbError(err)
		}
		s.log.Debug("mail write retried", "attempt", attempt+1, "err", err)
	}
	if errors.Is(err, errFolderMoved) {
		return fmt.Errorf("target folders keep changing: %w", err)
	}
	return fmt.Errorf("%w: %d retries: %w", storage.ErrUnavailable, mailRetries, err)
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errFolderMoved) || errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// mailWriteOnce runs one attempt; seq is its log row (0: no changes).
func (s *Store) mailWriteOnce(ctx context.Context, fn func(ctx context.Context, w *mailTx) error) (seq int64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	w := &mailTx{tx: tx}
	if err := fn(ctx, w); err != nil {
		return 0, err
	}
	if len(w.changes) == 0 {
		return 0, tx.Commit(ctx)
	}
	b, err := encodeChanges(w.changes)
	if err != nil {
		return 0, err
	}
	// fn has written already (every change comes with a folder row
	// written), so the transaction has its xid before it takes a seq: the
	// gap rule of announceLocked depends on it.
	// The log row and the notice go in one round trip (a pipeline).
	var nb pgx.Batch
	nb.Queue("INSERT INTO mail_changes (changes) VALUES ($1) RETURNING seq", b).QueryRow(func(r pgx.Row) error { return r.Scan(&seq) })
	nb.Queue("SELECT pg_notify($1, '')", mailChannel)
	if err := tx.SendBatch(ctx, &nb).Close(); err != nil {
		return 0, err
	}
	s.mail.pmu.Lock()
	s.mail.pending[seq] = w.changes
	s.mail.pmu.Unlock()
	if err := tx.Commit(ctx); err != nil {
		s.mail.pmu.Lock()
		delete(s.mail.pending, seq)
		s.mail.pmu.Unlock()
		return 0, err
	}
	return seq, nil
}

// Snapshot reads a folder and its messages and calls fn with them so that
// fn's view is exactly the state before the next change this node
// announces for the folder (see the top of this file). ErrNotFound for a
// folder that does not exist.
func (s *Store) Snapshot(folderID uint64, fn func(storage.Folder, []storage.Message)) error {
	ctx, cancel := bg()
	defer cancel()
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	var f storage.Folder
	var msgs []storage.Message
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if f, err = folderByID(ctx, tx, folderID, " FOR SHARE"); err != nil {
			return err
		}
		// No write to the folder commits until this transaction ends;
		// announce the ones that did, then read.
		if err := s.announceLocked(ctx, tx); err != nil {
			return err
		}
		msgs, err = messagesIn(ctx, tx, folderID, 0, 0)
		return err
	})
	if err != nil {
		return dbError(err)
	}
	fn(f, msgs)
	return nil
}
