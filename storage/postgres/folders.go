package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/mailgate/mailgate/delegation"
	"github.com/mailgate/mailgate/storage"
)

const folderCols = "id, owner, name, uid_validity, uid_next, count, size, special_use, highest_modseq"

func scanFolder(row pgx.Row) (storage.Folder, error) {
	var f storage.Folder
	var id, uv, next, count, size, hms int64
	err := row.Scan(&id, &f.Owner, &f.Name, &uv, &next, &count, &size, &f.SpecialUse, &hms)
	f.ID, f.UIDValidity, f.UIDNext, f.Count, f.Size, f.HighestModSeq = uint64(id), uint32(uv), uint32(next), uint32(count), uint64(size), uint64(hms)
	return f, err
}

func scanFolders(rows pgx.Rows, err error) ([]storage.Folder, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// folderByID reads a folder; lock is "" or a locking clause.
func folderByID(ctx context.Context, q querier, id uint64, lock string) (storage.Folder, error) {
	f, err := scanFolder(q.QueryRow(ctx, "SELECT "+folderCols+" FROM folders WHERE id = $1"+lock, int64(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, storage.Errorf(storage.ErrNotFound, "no folder %d", id)
	}
	return f, err
}

func folderByName(ctx context.Context, q querier, owner delegation.ID, name string) (storage.Folder, error) {
	f, err := scanFolder(q.QueryRow(ctx, "SELECT "+folderCols+" FROM folders WHERE owner = $1 AND name = $2", owner, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, storage.Errorf(storage.ErrNotFound, "no folder %s", name)
	}
	return f, err
}

// lockFolders locks folders FOR UPDATE in ID order (the one order every
// write uses, so that writers of several folders cannot deadlock) and
// returns the ones that exist.
func lockFolders(ctx context.Context, tx pgx.Tx, ids ...uint64) (map[uint64]*storage.Folder, error) {
	args := make([]int64, len(ids))
	for i, id := range ids {
		args[i] = int64(id)
	}
	fs, err := scanFolders(tx.Query(ctx, "SELECT "+folderCols+" FROM folders WHERE id = ANY($1) ORDER BY id FOR UPDATE", args))
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]*storage.Folder, len(fs))
	for i := range fs {
		out[fs[i].ID] = &fs[i]
	}
	return out, nil
}

// lockFolder locks one folder (ErrNotFound when it is gone).
func lockFolder(ctx context.Context, tx pgx.Tx, id uint64) (*storage.Folder, error) {
	f, err := folderByID(ctx, tx, id, " FOR UPDATE")
	return &f, err
}

// putFolder writes back a locked folder's counters and name.
func putFolder(ctx context.Context, tx pgx.Tx, f *storage.Folder) error {
	_, err := tx.Exec(ctx, "UPDATE folders SET name = $2, uid_next = $3, count = $4, size = $5, highest_modseq = $6 WHERE id = $1",
		int64(f.ID), f.Name, int64(f.UIDNext), int64(f.Count), int64(f.Size), int64(f.HighestModSeq))
	return err
}

// createFolder creates a folder, subscribing it when it is a default
// folder (those the server makes by itself come subscribed, RFC 9051
// §6.3.4). ok is false when another transaction created the name first.
func createFolder(ctx context.Context, tx pgx.Tx, owner delegation.ID, name, specialUse string) (f storage.Folder, ok bool, err error) {
	f, err = scanFolder(tx.QueryRow(ctx, `WITH n AS (SELECT nextval('folder_ids') AS id)
		INSERT INTO folders (id, owner, name, uid_validity, uid_next, special_use, highest_modseq)
		SELECT n.id, $1, $2, n.id % 4294967296, 1, $3, 1 FROM n
		ON CONFLICT (owner, name) DO NOTHING RETURNING `+folderCols, owner, name, specialUse))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, false, nil
	}
	if err != nil {
		return f, false, err
	}
	if _, isDefault := storage.SpecialUseOf(name); isDefault {
		if _, err := tx.Exec(ctx, "INSERT INTO subscriptions (owner, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", owner, name); err != nil {
			return f, false, err
		}
	}
	return f, true, nil
}

// getOrCreateFolder returns a folder, creating it when it is a default
// folder (created on first use) or create is set.
func getOrCreateFolder(ctx context.Context, tx pgx.Tx, owner delegation.ID, name string, create bool) (storage.Folder, bool, error) {
	for range 3 {
		f, err := folderByName(ctx, tx, owner, name)
		if err == nil || !errors.Is(err, storage.ErrNotFound) {
			return f, false, err
		}
		special, isDefault := storage.SpecialUseOf(name)
		if !isDefault && !create {
			return f, false, err
		}
		f, ok, err := createFolder(ctx, tx, owner, name, special)
		if ok || err != nil {
			return f, ok, err
		}
		// Another transaction created it meanwhile: read it.
	}
	return storage.Folder{}, false, errFolderMoved // created and deleted meanwhile, again and again
}

// createParents creates the missing ancestors of a folder name and
// returns the ones it created.
func createParents(ctx context.Context, tx pgx.Tx, owner delegation.ID, name string) ([]storage.Folder, error) {
	var created []storage.Folder
	for _, p := range storage.Parents(name) {
		f, isNew, err := getOrCreateFolder(ctx, tx, owner, p, true)
		if err != nil {
			return nil, err
		}
		if isNew {
			created = append(created, f)
		}
	}
	return created, nil
}

// lockNamespace serialises the folder creations, renamings and deletions
// of one owner across nodes, until the transaction ends.
func lockNamespace(ctx context.Context, tx pgx.Tx, owner delegation.ID) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(namespaceLock), string(owner))
	return err
}

// namespaceLock is the first key of the two-key advisory locks on owners'
// folder namespaces.
const namespaceLock = 0x6d676e73 // "mgns"

// EnsureDefaultFolders creates the default folders a principal lacks.
func (s *Store) EnsureDefaultFolders(owner delegation.ID) error {
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		for _, d := range storage.DefaultFolders {
			if _, _, err := getOrCreateFolder(ctx, w.tx, owner, d.Name, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// Folders lists a principal's folders, sorted by name, INBOX first.
func (s *Store) Folders(owner delegation.ID) ([]storage.Folder, error) {
	ctx, cancel := bg()
	defer cancel()
	out, err := scanFolders(s.pool.Query(ctx, "SELECT "+folderCols+" FROM folders WHERE owner = $1", owner))
	sortFolders(out)
	return out, dbError(err)
}

func sortFolders(fs []storage.Folder) {
	slices.SortFunc(fs, func(a, b storage.Folder) int {
		if (a.Name == "INBOX") != (b.Name == "INBOX") {
			if a.Name == "INBOX" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Folder returns one folder by name; default folders are created on first
// use.
func (s *Store) Folder(owner delegation.ID, name string) (storage.Folder, error) {
	name, err := storage.NormalizeFolder(name)
	if err != nil {
		return storage.Folder{}, err
	}
	ctx, cancel := bg()
	defer cancel()
	f, err := folderByName(ctx, s.pool, owner, name)
	if errors.Is(err, storage.ErrNotFound) {
		if _, isDefault := storage.SpecialUseOf(name); isDefault {
			err = s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
				f, _, err = getOrCreateFolder(ctx, w.tx, owner, name, false)
				return err
			})
		}
	}
	return f, dbError(err)
}

// FolderByID returns a folder by its ID (ErrNotFound once deleted).
func (s *Store) FolderByID(id uint64) (storage.Folder, error) {
	ctx, cancel := bg()
	defer cancel()
	f, err := folderByID(ctx, s.pool, id, "")
	return f, dbError(err)
}

// auditWith writes audit's records of o in tx.
func (s *Store) auditWith(ctx context.Context, tx pgx.Tx, audit storage.AuditFunc, o storage.Outcome) error {
	if audit == nil {
		return nil
	}
	return s.auditTx(ctx, tx, audit(o)...)
}

// CreateFolder creates a folder and any missing parent (RFC 3501 §6.3.3).
// specialUse ("" or one RFC 6154 attribute) is stored with it; "" gives a
// default folder its own. A folder that exists gives ErrExists. audit's
// records are written in the same transaction.
func (s *Store) CreateFolder(owner delegation.ID, name, specialUse string, audit storage.AuditFunc) (storage.Folder, error) {
	name, err := storage.NormalizeFolder(name)
	if err != nil {
		return storage.Folder{}, err
	}
	if specialUse == "" {
		specialUse, _ = storage.SpecialUseOf(name)
	}
	ctx, cancel := bg()
	defer cancel()
	var f storage.Folder
	err = s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		if err := lockNamespace(ctx, w.tx, owner); err != nil {
			return err
		}
		if _, err := folderByName(ctx, w.tx, owner, name); err == nil {
			return storage.Errorf(storage.ErrExists, "folder %s already exists", name)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		created, err := createParents(ctx, w.tx, owner, name)
		if err != nil {
			return err
		}
		var ok bool
		if f, ok, err = createFolder(ctx, w.tx, owner, name, specialUse); err != nil {
			return err
		} else if !ok {
			return storage.Errorf(storage.ErrExists, "folder %s already exists", name)
		}
		for _, c := range append(created, f) {
			w.announce(storage.Change{Kind: storage.ChangeFolder, Owner: owner, FolderID: c.ID, Folder: c.Name})
		}
		return s.auditWith(ctx, w.tx, audit, storage.Outcome{})
	})
	if err != nil {
		return storage.Folder{}, err
	}
	return f, nil
}

// DeleteFolder deletes a folder with its messages, their blob references
// and its tombstones, in one transaction (RFC 3501 §6.3.4). INBOX cannot
// be deleted (ErrInvalid); a folder with subfolders gives
// ErrHasChildren. Sessions are told with ChangeDelete.
func (s *Store) DeleteFolder(owner delegation.ID, name string, audit storage.AuditFunc) (storage.Folder, error) {
	name, err := storage.NormalizeFolder(name)
	if err != nil {
		return storage.Folder{}, err
	}
	if name == "INBOX" {
		return storage.Folder{}, storage.Errorf(storage.ErrInvalid, "INBOX cannot be deleted")
	}
	ctx, cancel := bg()
	defer cancel()
	var f *storage.Folder
	err = s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		if err := lockNamespace(ctx, w.tx, owner); err != nil {
			return err
		}
		var children bool
		if err := w.tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM folders WHERE owner = $1 AND starts_with(name, $2))",
			owner, name+"/").Scan(&children); err != nil {
			return err
		}
		if children {
			return storage.Errorf(storage.ErrHasChildren, "folder %s has subfolders", name)
		}
		found, err := folderByName(ctx, w.tx, owner, name)
		if err != nil {
			return err
		}
		if f, err = lockFolder(ctx, w.tx, found.ID); err != nil {
			return err
		}
		var blobs []int64
		rows, err := w.tx.Query(ctx, "DELETE FROM messages WHERE folder_id = $1 RETURNING blob_id", int64(f.ID))
		if err != nil {
			return err
		}
		if blobs, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		if err := unrefBlobs(ctx, w.tx, blobs); err != nil {
			return err
		}
		for _, q := range []string{"DELETE FROM tombstones WHERE folder_id = $1", "DELETE FROM folders WHERE id = $1"} {
			if _, err := w.tx.Exec(ctx, q, int64(f.ID)); err != nil {
				return err
			}
		}
		w.announce(storage.Change{Kind: storage.ChangeDelete, Owner: owner, FolderID: f.ID, Folder: name})
		return s.auditWith(ctx, w.tx, audit, storage.Outcome{})
	})
	if err != nil {
		return storage.Folder{}, err
	}
	return *f, nil
}

// RenameFolder renames a folder and its subfolders (RFC 3501 §6.3.5),
// creating missing parents of the new name. Folder IDs, and so
// UIDVALIDITY and UIDs, are kept. Renaming INBOX moves its messages to a
// new folder and leaves INBOX empty, as the RFC asks. audit's records are
// written in the renaming transaction (for INBOX: the one creating the
// new folder).
func (s *Store) RenameFolder(owner delegation.ID, oldName, newName string, audit storage.AuditFunc) error {
	oldName, err := storage.NormalizeFolder(oldName)
	if err != nil {
		return err
	}
	newName, err = storage.NormalizeFolder(newName)
	if err != nil {
		return err
	}
	if oldName == newName || strings.HasPrefix(newName, oldName+"/") {
		return storage.Errorf(storage.ErrInvalid, "cannot rename %s to %s", oldName, newName)
	}
	if oldName == "INBOX" {
		return s.renameInbox(owner, newName, audit)
	}
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		if err := lockNamespace(ctx, w.tx, owner); err != nil {
			return err
		}
		all, err := scanFolders(w.tx.Query(ctx, "SELECT "+folderCols+" FROM folders WHERE owner = $1", owner))
		if err != nil {
			return err
		}
		sortFolders(all)
		var moving []uint64
		for _, f := range all {
			if f.Name == newName || strings.HasPrefix(f.Name, newName+"/") {
				return storage.Errorf(storage.ErrExists, "folder %s already exists", newName)
			}
			if f.Name == oldName || strings.HasPrefix(f.Name, oldName+"/") {
				moving = append(moving, f.ID)
			}
		}
		if len(moving) == 0 {
			return storage.Errorf(storage.ErrNotFound, "no folder %s", oldName)
		}
		locked, err := lockFolders(ctx, w.tx, moving...)
		if err != nil {
			return err
		}
		created, err := createParents(ctx, w.tx, owner, newName)
		if err != nil {
			return err
		}
		for _, c := range created {
			w.announce(storage.Change{Kind: storage.ChangeFolder, Owner: owner, FolderID: c.ID, Folder: c.Name})
		}
		for _, id := range moving {
			f := locked[id]
			if f == nil {
				return errFolderMoved
			}
			f.Name = newName + strings.TrimPrefix(f.Name, oldName)
			if err := putFolder(ctx, w.tx, f); err != nil {
				return err
			}
			w.announce(storage.Change{Kind: storage.ChangeFolder, Owner: owner, FolderID: f.ID, Folder: f.Name})
		}
		// The subscriptions move with the folders (a name subscribed
		// already under the new name stays so).
		if _, err := w.tx.Exec(ctx, `WITH old AS (DELETE FROM subscriptions
				WHERE owner = $1 AND (name = $2 OR starts_with(name, $2 || '/')) RETURNING name)
			INSERT INTO subscriptions (owner, name) SELECT $1, $3 || substr(name, length($2) + 1) FROM old
			ON CONFLICT DO NOTHING`, owner, oldName, newName); err != nil {
			return err
		}
		return s.auditWith(ctx, w.tx, audit, storage.Outcome{})
	})
}

func (s *Store) renameInbox(owner delegation.ID, newName string, audit storage.AuditFunc) error {
	return storage.RenameInbox(s, owner, newName, audit)
}

// Subscriptions lists a principal's subscribed names, sorted (bytewise).
func (s *Store) Subscriptions(owner delegation.ID) ([]string, error) {
	ctx, cancel := bg()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name FROM subscriptions WHERE owner = $1 ORDER BY name COLLATE "C"`, owner)
	if err != nil {
		return nil, dbError(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if len(out) == 0 {
		out = nil
	}
	return out, dbError(err)
}

// Subscribe adds a folder to the subscriptions; the folder must exist
// (ErrNotFound otherwise: RFC 9051 lets the server check).
func (s *Store) Subscribe(owner delegation.ID, name string) error {
	name, err := storage.NormalizeFolder(name)
	if err != nil {
		return err
	}
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		if _, err := folderByName(ctx, w.tx, owner, name); err != nil {
			return err
		}
		_, err := w.tx.Exec(ctx, "INSERT INTO subscriptions (owner, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", owner, name)
		return err
	})
}

// Unsubscribe removes a name from the subscriptions, whether or not its
// folder exists. A name neither subscribed nor a folder gives ErrNotFound;
// unsubscribing an existing folder that is not subscribed changes nothing.
func (s *Store) Unsubscribe(owner delegation.ID, name string) error {
	name, err := storage.NormalizeFolder(name)
	if err != nil {
		return err
	}
	ctx, cancel := bg()
	defer cancel()
	return s.mailWrite(ctx, func(ctx context.Context, w *mailTx) error {
		tag, err := w.tx.Exec(ctx, "DELETE FROM subscriptions WHERE owner = $1 AND name = $2", owner, name)
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		_, err = folderByName(ctx, w.tx, owner, name)
		return err
	})
}
