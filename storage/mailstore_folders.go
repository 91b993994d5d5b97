package storage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// ErrHasChildren refuses to delete a folder that has subfolders (RFC 5530
// HASCHILDREN): mailgate keeps no \Noselect placeholders.
var ErrHasChildren = errors.New("folder has subfolders")

// parents returns the ancestors of a "/" path, shortest first.
func parents(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

// CreateFolder creates a folder and any missing parent (RFC 3501 §6.3.3).
// specialUse ("" or one RFC 6154 attribute such as \Sent) is stored with
// it. A folder that exists gives ErrExists. audit's records are written in
// the same transaction.
func (s *Store) CreateFolder(owner delegation.ID, name, specialUse string, audit AuditFunc) (Folder, error) {
	if err := s.admit(writeHouse, 0); err != nil {
		return Folder{}, err
	}
	name, err := NormalizeFolder(name)
	if err != nil {
		return Folder{}, err
	}
	unlock := s.folders.lock([]string{lockNamespace(owner)})
	defer unlock()
	var f Folder
	var created []Folder
	err = s.write(func(txn *badger.Txn) error {
		if _, err := folderByNameTxn(txn, owner, name); err == nil {
			return errorf(ErrExists, "folder %s already exists", name)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if created, err = createParentsTxn(txn, owner, name); err != nil {
			return err
		}
		if specialUse == "" {
			specialUse, _ = specialUseOf(name)
		}
		if f, err = createFolderTxn(txn, owner, name, specialUse); err != nil {
			return err
		}
		created = append(created, f)
		return s.auditWith(txn, audit, Outcome{})
	})
	if err != nil {
		return Folder{}, err
	}
	for _, c := range created {
		s.notify(Change{Kind: ChangeFolder, Owner: owner, FolderID: c.ID, Folder: c.Name})
	}
	return f, nil
}

// DeleteFolder deletes a folder and its messages (RFC 3501 §6.3.4). INBOX
// cannot be deleted (ErrInvalid); a folder with subfolders gives
// ErrHasChildren. Sessions are told with ChangeDelete. audit's records are
// written with the deletion (the purge of the messages follows it).
func (s *Store) DeleteFolder(owner delegation.ID, name string, audit AuditFunc) (Folder, error) {
	if err := s.admit(writeHouse, 0); err != nil {
		return Folder{}, err
	}
	name, err := NormalizeFolder(name)
	if err != nil {
		return Folder{}, err
	}
	if name == "INBOX" {
		return Folder{}, errorf(ErrInvalid, "INBOX cannot be deleted")
	}
	unlockNS := s.folders.lock([]string{lockNamespace(owner)})
	defer unlockNS()
	all, err := s.Folders(owner)
	if err != nil {
		return Folder{}, err
	}
	var f *Folder
	for i := range all {
		if all[i].Name == name {
			f = &all[i]
		}
		if strings.HasPrefix(all[i].Name, name+"/") {
			return Folder{}, errorf(ErrHasChildren, "folder %s has subfolders", name)
		}
	}
	if f == nil {
		return Folder{}, errorf(ErrNotFound, "no folder %s", name)
	}
	unlock := s.lockFolders(f.ID)
	defer unlock()
	if err := s.write(func(txn *badger.Txn) error {
		if err := txn.Delete(folderKey(owner, name)); err != nil {
			return err
		}
		if err := txn.Delete(foldRecKey(f.ID)); err != nil {
			return err
		}
		// A purge marker in the same commit: if the process dies before
		// the messages are gone, Open finishes the job.
		if err := txn.Set(purgeKey(f.ID), []byte{1}); err != nil {
			return err
		}
		return s.auditWith(txn, audit, Outcome{})
	}); err != nil {
		return Folder{}, err
	}
	s.notify(Change{Kind: ChangeDelete, Owner: owner, FolderID: f.ID, Folder: name})
	return *f, s.purgeFolder(f.ID)
}

// purgeFolder removes a deleted folder's messages (and their blob
// references) and its expunge tombstones in batches, then its purge marker.
func (s *Store) purgeFolder(id uint64) error {
	for {
		var msgs []Message
		err := s.view(func(txn *badger.Txn) error {
			var err error
			msgs, err = messagesTxn(txn, id, 0, 0)
			return err
		})
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			if err := s.purgeTombstones(id); err != nil {
				return err
			}
			return s.write(func(txn *badger.Txn) error { return txn.Delete(purgeKey(id)) })
		}
		if err := inBatches(msgs, func(batch []Message) error {
			return s.write(func(txn *badger.Txn) error {
				for _, m := range batch {
					if err := deleteMessageTxn(txn, id, m); err != nil {
						return err
					}
				}
				return nil
			})
		}); err != nil {
			return err
		}
	}
}

// purgeKey marks a deleted folder whose messages may remain.
func purgeKey(id uint64) []byte {
	return fmt.Appendf(append([]byte(nil), prefPurge...), "%016x", id)
}

// finishPurges completes folder deletions a crash interrupted.
func (s *Store) finishPurges() error {
	var ids []uint64
	err := s.view(func(txn *badger.Txn) error {
		return scan(txn, prefPurge, func(k, _ []byte) error {
			var id uint64
			if _, err := fmt.Sscanf(string(k[len(prefPurge):]), "%016x", &id); err != nil {
				return fmt.Errorf("bad purge key %q: %w", k, err)
			}
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		s.log.Info("finishing an interrupted folder deletion", "folder_id", id)
		if err := s.purgeFolder(id); err != nil {
			return fmt.Errorf("purge folder %d: %w", id, err)
		}
	}
	return nil
}

// RenameFolder renames a folder and its subfolders (RFC 3501 §6.3.5),
// creating missing parents of the new name. Folder IDs, and so UIDVALIDITY
// and UIDs, are kept. Renaming INBOX moves its messages to a new folder
// and leaves INBOX empty, as the RFC asks. audit's records are written in
// the renaming transaction (for INBOX: the one creating the new folder).
func (s *Store) RenameFolder(owner delegation.ID, oldName, newName string, audit AuditFunc) error {
	if err := s.admit(writeHouse, 0); err != nil {
		return err
	}
	oldName, err := NormalizeFolder(oldName)
	if err != nil {
		return err
	}
	newName, err = NormalizeFolder(newName)
	if err != nil {
		return err
	}
	if oldName == newName || strings.HasPrefix(newName, oldName+"/") {
		return errorf(ErrInvalid, "cannot rename %s to %s", oldName, newName)
	}
	if oldName == "INBOX" {
		return s.renameInbox(owner, newName, audit)
	}
	unlock := s.folders.lock([]string{lockNamespace(owner)})
	defer unlock()
	all, err := s.Folders(owner)
	if err != nil {
		return err
	}
	var moving []Folder
	for _, f := range all {
		if f.Name == newName || strings.HasPrefix(f.Name, newName+"/") {
			return errorf(ErrExists, "folder %s already exists", newName)
		}
		if f.Name == oldName || strings.HasPrefix(f.Name, oldName+"/") {
			moving = append(moving, f)
		}
	}
	if len(moving) == 0 {
		return errorf(ErrNotFound, "no folder %s", oldName)
	}
	var changed []Folder
	err = s.write(func(txn *badger.Txn) error {
		var err error
		if changed, err = createParentsTxn(txn, owner, newName); err != nil {
			return err
		}
		for _, m := range moving {
			f, err := folderByIDTxn(txn, m.ID)
			if err != nil {
				return err
			}
			if err := txn.Delete(folderKey(owner, f.Name)); err != nil {
				return err
			}
			f.Name = newName + strings.TrimPrefix(f.Name, oldName)
			if err := putFolderIndexTxn(txn, &f); err != nil {
				return err
			}
			if err := putFolderTxn(txn, &f); err != nil {
				return err
			}
			changed = append(changed, f)
		}
		if err := renameSubscriptionsTxn(txn, owner, oldName, newName); err != nil {
			return err
		}
		return s.auditWith(txn, audit, Outcome{})
	})
	if err != nil {
		return err
	}
	for _, f := range changed {
		s.notify(Change{Kind: ChangeFolder, Owner: owner, FolderID: f.ID, Folder: f.Name})
	}
	return nil
}

func (s *Store) renameInbox(owner delegation.ID, newName string, audit AuditFunc) error {
	return RenameInbox(s, owner, newName, audit)
}

// RenameInbox is RENAME INBOX for any store (RFC 3501 §6.3.5): a new folder
// (with audit's records), then every message of INBOX moved there in one
// operation; INBOX stays, empty.
func RenameInbox(m Mailstore, owner delegation.ID, newName string, audit AuditFunc) error {
	dst, err := m.CreateFolder(owner, newName, "", audit)
	if err != nil {
		return err
	}
	inbox, err := m.Folder(owner, "INBOX")
	if err != nil {
		return err
	}
	msgs, err := m.Messages(inbox.ID, 0, 0)
	if err != nil {
		return err
	}
	uids := make([]uint32, len(msgs))
	for i, msg := range msgs {
		uids[i] = msg.UID
	}
	_, err = m.Move(inbox.ID, uids, dst.ID, NoOrigin, nil)
	return err
}
