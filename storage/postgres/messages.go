package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

const messageCols = "uid, flags, internal_date, size, blob_id, modseq"

func scanMessages(rows pgx.Rows, err error) ([]storage.Message, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Message
	for rows.Next() {
		var m storage.Message
		var uid, date, blob, modseq int64
		if err := rows.Scan(&uid, &m.Flags, &date, &m.Size, &blob, &modseq); err != nil {
			return nil, err
		}
		if len(m.Flags) == 0 {
			m.Flags = nil
		}
		m.UID, m.InternalDate, m.Blob, m.ModSeq = uint32(uid), time.Unix(0, date).UTC(), uint64(blob), uint64(modseq)
		out = append(out, m)
	}
	return out, rows.Err()
}

// messagesIn reads a folder's messages with UIDs in [from, to] (to = 0:
// no upper bound), in UID order.
func messagesIn(ctx context.Context, q querier, folderID uint64, from, to uint32) ([]storage.Message, error) {
	return scanMessages(q.Query(ctx, "SELECT "+messageCols+` FROM messages
		WHERE folder_id = $1 AND uid >= $2 AND ($3 = 0 OR uid <= $3) ORDER BY uid`, int64(folderID), int64(from), int64(to)))
}

// messagesByUID reads the messages of uids that are in the folder, in
// UID order.
func messagesByUID(ctx context.Context, q querier, folderID uint64, uids []uint32) ([]storage.Message, error) {
	return scanMessages(q.Query(ctx, "SELECT "+messageCols+` FROM messages
		WHERE folder_id = $1 AND uid = ANY($2) ORDER BY uid`, int64(folderID), int64s(uids)))
}

func int64s[T uint32 | uint64](in []T) []int64 {
	out := make([]int64, len(in))
	for i, v := range in {
		out[i] = int64(v)
	}
	return out
}

// flagsJSON encodes one message's flags for insertMessages and
// updateFlags: arrays of different lengths do not make one SQL array.
func flagsJSON(flags []string) string {
	if flags == nil {
		flags = []string{}
	}
	b, _ := json.Marshal(flags)
	return string(b)
}

// sqlFlags turns flagsJSON's text back into text[], in order.
const sqlFlags = "ARRAY(SELECT e FROM jsonb_array_elements_text(t.flags::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY n)"

// insertMessages adds messages to a folder in one statement.
func insertMessages(ctx context.Context, tx pgx.Tx, folderID uint64, msgs []storage.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	n := len(msgs)
	uids, dates, sizes, blobs, modseqs := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	flags := make([]string, n)
	for i, m := range msgs {
		uids[i], dates[i], sizes[i], blobs[i], modseqs[i] = int64(m.UID), m.InternalDate.UnixNano(), m.Size, int64(m.Blob), int64(m.ModSeq)
		flags[i] = flagsJSON(m.Flags)
	}
	_, err := tx.Exec(ctx, `INSERT INTO messages (folder_id, uid, flags, internal_date, size, blob_id, modseq)
		SELECT $1, t.uid, `+sqlFlags+`, t.date, t.size, t.blob, t.modseq
		FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS t(uid, flags, date, size, blob, modseq)`,
		int64(folderID), uids, flags, dates, sizes, blobs, modseqs)
	return err
}

// insertTombstones records that uids left the folder at modseqs.
func insertTombstones(ctx context.Context, tx pgx.Tx, folderID uint64, uids []uint32, modseqs []int64) error {
	if len(uids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO tombstones (folder_id, uid, modseq)
		SELECT $1, t.uid, t.modseq FROM unnest($2::bigint[], $3::bigint[]) AS t(uid, modseq)`, int64(folderID), int64s(uids), modseqs)
	return err
}

// putBlob stores a body once by its content hash: a new blob with refs
// references, or refs more on the blob that has the same bytes.
func putBlob(ctx context.Context, tx pgx.Tx, msg []byte, refs int) (uint64, error) {
	sum := sha256.Sum256(msg)
	var id int64
	err := tx.QueryRow(ctx, sqlPutBlob, sum[:], msg, storage.HeaderBlock(msg), refs).Scan(&id)
	return uint64(id), err
}

const sqlPutBlob = `INSERT INTO blobs (sha256, body, header, refs) VALUES ($1, $2, $3, $4)
	ON CONFLICT (sha256) DO UPDATE SET refs = blobs.refs + excluded.refs RETURNING id`

// putBlobs is putBlob (one reference each) for several bodies, in one
// round trip (a pipeline: the same bytes twice share one blob all the
// same, the statements run in order).
func putBlobs(ctx context.Context, tx pgx.Tx, msgs []storage.AppendMessage) ([]uint64, error) {
	var b pgx.Batch
	for _, m := range msgs {
		sum := sha256.Sum256(m.Message)
		b.Queue(sqlPutBlob, sum[:], m.Message, storage.HeaderBlock(m.Message), 1)
	}
	res := tx.SendBatch(ctx, &b)
	ids := make([]uint64, len(msgs))
	for i := range ids {
		var id int64
		if err := res.QueryRow().Scan(&id); err != nil {
			res.Close()
			return nil, err
		}
		ids[i] = uint64(id)
	}
	return ids, res.Close()
}

// addBlobRefs adds delta references to each blob of ids per mention (a
// blob listed twice gets two), locking the blobs in ID order; a blob left
// with none is deleted.
func addBlobRefs(ctx context.Context, tx pgx.Tx, ids []int64, delta int) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, "SELECT id FROM blobs WHERE id = ANY($1) ORDER BY id FOR UPDATE", ids); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = greatest(refs + $2 * c.n, 0)
		FROM (SELECT b, count(*) AS n FROM unnest($1::bigint[]) AS b GROUP BY b) c WHERE blobs.id = c.b`, ids, delta); err != nil {
		return err
	}
	if delta < 0 {
		_, err := tx.Exec(ctx, "DELETE FROM blobs WHERE id = ANY($1) AND refs = 0", ids)
		return err
	}
	return nil
}

func unrefBlobs(ctx context.Context, tx pgx.Tx, ids []int64) error {
	return addBlobRefs(ctx, tx, ids, -1)
}

// nextModSeq takes a locked folder's next mod-sequence (RFC 7162: each
// change its own, strictly increasing per folder).
func nextModSeq(f *storage.Folder) uint64 {
	f.HighestModSeq++
	return f.HighestModSeq
}

// Deliver stores a delivery in one transaction: the body once (shared
// with any blob of the same bytes), a copy per target, the queue entries,
// the settled entry and the audit records, committed together. Targets
// that do not exist are created when they are default folders, otherwise
// ErrNotFound; more than MaxFlags flags is ErrLimit. Each new message
// takes its folder's next mod-sequence. d.Queue's entries get their ID
// and Blob.
func (s *Store) Deliver(d storage.Delivery) ([]storage.Placed, error) {
	if d.Date.IsZero() {
		d.Date = s.now()
	}
	targets := make([]storage.Target, len(d.Targets))
	for i, t := range d.Targets {
		name, err := storage.NormalizeFolder(t.Folder)
		if err != nil {
			return nil, err
		}
		t.Folder = name
		t.Flags = storage.NormalizeFlags(t.Flags)
		if len(t.Flags) > storage.MaxFlags {
			return nil, storage.Errorf(storage.ErrLimit, "too many flags: %d, at most %d", len(t.Flags), storage.MaxFlags)
		}
		targets[i] = t
	}
	ctx, cancel := bg()
	defer cancel()
	var placed []storage.Placed
	var queue []storage.QueueEntry
	err := s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		placed, queue = nil, slices.Clone(d.Queue)
		ids := make([]uint64, len(targets))
		for i, t := range targets {
			f, _, err := getOrCreateFolder(ctx, w.tx, t.Owner, t.Folder, false)
			if err != nil {
				return err
			}
			ids[i] = f.ID
		}
		folders, err := lockFolders(ctx, w.tx, ids...)
		if err != nil {
			return err
		}
		for i, t := range targets {
			if f := folders[ids[i]]; f == nil || f.Owner != t.Owner || f.Name != t.Folder {
				return errFolderMoved
			}
		}
		var blob uint64
		if refs := len(targets) + len(queue); refs > 0 {
			// Each queue entry holds a reference until QueueDone.
			if blob, err = putBlob(ctx, w.tx, d.Message, refs); err != nil {
				return err
			}
		}
		added := map[uint64][]storage.Message{}
		for i, t := range targets {
			f := folders[ids[i]]
			m := storage.Message{UID: f.UIDNext, Flags: t.Flags, InternalDate: d.Date.UTC(), Size: int64(len(d.Message)), Blob: blob,
				ModSeq: nextModSeq(f)}
			f.UIDNext++
			f.Count++
			f.Size += uint64(m.Size)
			added[f.ID] = append(added[f.ID], m)
			placed = append(placed, storage.Placed{Owner: t.Owner, FolderID: f.ID, Folder: f.Name, UID: m.UID, UIDValidity: f.UIDValidity})
			w.announce(storage.Change{Kind: storage.ChangeAppend, Owner: t.Owner, FolderID: f.ID, UID: m.UID,
				Flags: m.Flags, ModSeq: m.ModSeq, Message: m, Folder: f.Name, Origin: d.Origin})
		}
		if err := putAdded(ctx, w.tx, folders, added); err != nil {
			return err
		}
		for i := range queue {
			queue[i].Blob = blob
			if err := s.putQueue(ctx, w.tx, &queue[i]); err != nil {
				return err
			}
		}
		if d.Settle != nil {
			if err := queueSettle(ctx, w.tx, *d.Settle); err != nil {
				return err
			}
		}
		return s.auditTx(ctx, w.tx, d.Audit...)
	})
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	copy(d.Queue, queue)
	return placed, nil
}

// putAdded inserts each folder's new messages and writes the folders
// back, in ID order.
func putAdded(ctx context.Context, tx pgx.Tx, folders map[uint64]*storage.Folder, added map[uint64][]storage.Message) error {
	ids := make([]uint64, 0, len(added))
	for id := range added {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := insertMessages(ctx, tx, id, added[id]); err != nil {
			return err
		}
		if err := putFolder(ctx, tx, folders[id]); err != nil {
			return err
		}
	}
	return nil
}

// Append stores one message into one existing folder (IMAP APPEND): a
// Deliver with a single target.
func (s *Store) Append(owner delegation.ID, folder string, msg []byte, flags []string, date time.Time, origin storage.Origin) (storage.Placed, error) {
	p, err := s.Deliver(storage.Delivery{Message: msg, Date: date, Targets: []storage.Target{{Owner: owner, Folder: folder, Flags: flags}}, Origin: origin})
	if err != nil {
		return storage.Placed{}, err
	}
	return p[0], nil
}

// AppendAll stores messages into one folder of owner's in one
// transaction and in order: all of them or, on any error, none (RFC 3502
// MULTIAPPEND). ErrNotFound for a folder that does not exist and is not a
// default folder, ErrLimit for more than MaxFlags flags. audit's records
// are written in the same transaction.
func (s *Store) AppendAll(owner delegation.ID, folder string, msgs []storage.AppendMessage, origin storage.Origin, audit storage.AuditFunc) ([]storage.Placed, error) {
	name, err := storage.NormalizeFolder(folder)
	if err != nil {
		return nil, err
	}
	msgs = slices.Clone(msgs)
	for i := range msgs {
		msgs[i].Flags = storage.NormalizeFlags(msgs[i].Flags)
		if len(msgs[i].Flags) > storage.MaxFlags {
			return nil, storage.Errorf(storage.ErrLimit, "too many flags: %d, at most %d", len(msgs[i].Flags), storage.MaxFlags)
		}
		if msgs[i].Date.IsZero() {
			msgs[i].Date = s.now()
		}
	}
	ctx, cancel := bg()
	defer cancel()
	var placed []storage.Placed
	err = s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		placed = nil
		found, _, err := getOrCreateFolder(ctx, w.tx, owner, name, false)
		if err != nil {
			return err
		}
		f, err := lockFolder(ctx, w.tx, found.ID)
		if errors.Is(err, storage.ErrNotFound) || err == nil && (f.Owner != owner || f.Name != name) {
			return errFolderMoved
		}
		if err != nil {
			return err
		}
		blobs, err := putBlobs(ctx, w.tx, msgs)
		if err != nil {
			return err
		}
		added := make([]storage.Message, 0, len(msgs))
		for i, am := range msgs {
			m := storage.Message{UID: f.UIDNext, Flags: am.Flags, InternalDate: am.Date.UTC(), Size: int64(len(am.Message)),
				Blob: blobs[i], ModSeq: nextModSeq(f)}
			f.UIDNext++
			f.Count++
			f.Size += uint64(m.Size)
			added = append(added, m)
			placed = append(placed, storage.Placed{Owner: owner, FolderID: f.ID, Folder: f.Name, UID: m.UID, UIDValidity: f.UIDValidity})
			w.announce(storage.Change{Kind: storage.ChangeAppend, Owner: owner, FolderID: f.ID, UID: m.UID,
				Flags: m.Flags, ModSeq: m.ModSeq, Message: m, Folder: f.Name, Origin: origin})
		}
		if err := putAdded(ctx, w.tx, map[uint64]*storage.Folder{f.ID: f}, map[uint64][]storage.Message{f.ID: added}); err != nil {
			return err
		}
		o := storage.Outcome{UIDs: make([]uint32, len(placed))}
		for i, p := range placed {
			o.UIDs[i] = p.UID
		}
		return s.auditWith(ctx, w.tx, audit, o)
	})
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	return placed, nil
}

// Messages returns the metadata of a folder's messages with UIDs in
// [from, to] (to = 0 means no upper bound), in UID order. It never reads
// bodies.
func (s *Store) Messages(folderID uint64, from, to uint32) ([]storage.Message, error) {
	ctx, cancel := bg()
	defer cancel()
	out, err := messagesIn(ctx, s.pool, folderID, from, to)
	return out, dbError(err)
}

// Body returns a message's full bytes (ErrNotFound once its blob is gone).
func (s *Store) Body(blob uint64) ([]byte, error) { return s.blobPart("body", blob) }

// Header returns a message's header block (with the final blank line).
func (s *Store) Header(blob uint64) ([]byte, error) { return s.blobPart("header", blob) }

func (s *Store) blobPart(col string, blob uint64) ([]byte, error) {
	ctx, cancel := bg()
	defer cancel()
	var b []byte
	err := s.pool.QueryRow(ctx, "SELECT "+col+" FROM blobs WHERE id = $1", int64(blob)).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	return b, dbError(err)
}

// Headers reads the header blocks of several blobs in one query and calls
// fn for each, in order; a missing blob is passed as nil.
func (s *Store) Headers(blobs []uint64, fn func(i int, hdr []byte)) error {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT id, header FROM blobs WHERE id = ANY($1)", int64s(blobs))
	if err != nil {
		return dbError(err)
	}
	hdrs := map[uint64][]byte{}
	for rows.Next() {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			rows.Close()
			return dbError(err)
		}
		hdrs[uint64(id)] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return dbError(err)
	}
	for i, b := range blobs {
		fn(i, hdrs[b])
	}
	return nil
}

// BlobRefs returns a blob's reference count (0 when it is gone).
func (s *Store) BlobRefs(blob uint64) (uint64, error) {
	ctx, cancel := bg()
	defer cancel()
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT refs FROM blobs WHERE id = $1", int64(blob)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return uint64(n), dbError(err)
}

// Vanished returns the UIDs expunged from (or moved out of) a folder with
// a mod-sequence above since, in ascending order (RFC 7162 §3.2.5.1).
func (s *Store) Vanished(folderID uint64, since uint64) ([]uint32, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, "SELECT uid FROM tombstones WHERE folder_id = $1 AND modseq > $2 ORDER BY uid",
		int64(folderID), int64(min(since, 1<<63-1)))
	if err != nil {
		return nil, fmt.Errorf("vanished: %w", dbError(err))
	}
	uids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("vanished: %w", dbError(err))
	}
	var out []uint32
	for _, u := range uids {
		out = append(out, uint32(u))
	}
	return out, nil
}

// Usage is a mailbox's storage use in bytes (the sum of its folders' size
// counters) and its quota (0: none). ErrNotFound for no such principal.
// One statement: the sum over an owner's few folders (indexed by owner)
// costs less than the second round trip it saves when there is a quota.
func (s *Store) Usage(owner delegation.ID) (used, quota uint64, err error) {
	ctx, cancel := bg()
	defer cancel()
	var settings []byte
	var n int64
	err = s.pool.QueryRow(ctx, `SELECT settings, (SELECT coalesce(sum(size), 0)::bigint FROM folders WHERE owner = $1)
		FROM principals WHERE id = $1`, owner).Scan(&settings, &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, storage.Errorf(storage.ErrNotFound, "no principal %s", owner)
	}
	if err != nil {
		return 0, 0, dbError(err)
	}
	var ms storage.MailboxSettings
	if err := json.Unmarshal(settings, &ms); err != nil {
		return 0, 0, fmt.Errorf("settings of %s: %w", owner, err)
	}
	return uint64(n), ms.Quota, nil
}

// CheckQuota returns ErrOverQuota when adding size bytes to owner's
// mailbox would take it over its quota; with size 0, whether it is at or
// over it already. Advisory, as with the Badger store.
func (s *Store) CheckQuota(owner delegation.ID, size uint64) error {
	used, quota, err := s.Usage(owner)
	if err != nil {
		return err
	}
	return storage.OverQuota(used, quota, size)
}
