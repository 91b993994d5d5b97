package storage

import (
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// ErrOverQuota means a mailbox is at or over its quota (Exchange's
// "prohibit receive"): SMTP answers 452 4.2.2 (submission) or 552 5.2.2
// (MX) at RCPT, IMAP NO [OVERQUOTA].
var ErrOverQuota = errors.New("mailbox is over its quota")

// SetQuota sets a mailbox's quota in bytes (0: none).
func (s *Store) SetQuota(addr string, quota uint64) (Principal, error) {
	return s.modify(addr, EditQuota(quota))
}

// Usage is a mailbox's storage use in bytes (the sum of its folders' Size
// counters, which every delivery, copy, move and expunge keeps) and its
// quota (0: none).
func (s *Store) Usage(owner delegation.ID) (used, quota uint64, err error) {
	return s.usage(owner, true)
}

// usage reads the quota and, when always is set or there is a quota, the
// folders' counters (a mailbox without a quota costs one read).
func (s *Store) usage(owner delegation.ID, always bool) (used, quota uint64, err error) {
	err = s.view(func(txn *badger.Txn) error {
		var r principalRec
		if err := getJSON(txn, key(prefPrincipal, string(owner)), &r); err != nil {
			return err
		}
		quota = r.Settings.Quota
		if quota == 0 && !always {
			return nil
		}
		fs, err := foldersTxn(txn, owner)
		for _, f := range fs {
			used += f.Size
		}
		return err
	})
	return used, quota, err
}

// CheckQuota returns ErrOverQuota when adding size bytes to owner's
// mailbox would take it over its quota. With size 0 it asks whether the
// mailbox is already at or over it (the RCPT check, before the size is
// known). It is advisory: deliveries racing it may overshoot by a message
// each, as with Exchange.
func (s *Store) CheckQuota(owner delegation.ID, size uint64) error {
	used, quota, err := s.usage(owner, false)
	if err != nil {
		return err
	}
	return OverQuota(used, quota, size)
}

// OverQuota is CheckQuota's rule for any store: ErrOverQuota when adding
// size bytes to used would pass quota (0: none), or, with size 0, when
// used is at or over it.
func OverQuota(used, quota, size uint64) error {
	if quota != 0 && (size == 0 && used >= quota || size > 0 && used+size > quota) {
		return ErrOverQuota
	}
	return nil
}

// migrateFolderSizesTxn is schema step 2 → 3: each folder's Size becomes
// the sum of its messages' sizes.
func migrateFolderSizesTxn(txn *badger.Txn) error {
	var folders []Folder
	if err := scan(txn, prefFoldRec, func(_, v []byte) error {
		var f Folder
		folders = append(folders, f)
		return unmarshal(v, &folders[len(folders)-1])
	}); err != nil {
		return err
	}
	for i := range folders {
		f := &folders[i]
		f.Size = 0
		if err := scan(txn, msgPrefix(f.ID), func(_, v []byte) error {
			m, err := decodeMessage(v)
			f.Size += uint64(m.Size)
			return err
		}); err != nil {
			return err
		}
		if err := putFolderTxn(txn, f); err != nil {
			return err
		}
	}
	return nil
}
