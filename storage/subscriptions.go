package storage

import (
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// Subscriptions are a set of folder names per principal, kept apart from
// the folders themselves: RFC 9051 §6.3.7 keeps a name subscribed after its
// folder is deleted (LIST shows it \NonExistent) until the client
// unsubscribes it, and a folder created again under that name is
// subscribed again.

func subKey(owner delegation.ID, name string) []byte {
	return key(prefSub, string(owner), name)
}

// Subscriptions lists a principal's subscribed names, sorted.
func (s *Store) Subscriptions(owner delegation.ID) ([]string, error) {
	var out []string
	prefix := key(prefSub, string(owner), "")
	err := s.view(func(txn *badger.Txn) error {
		out = out[:0]
		return scanKeys(txn, prefix, func(k []byte) {
			out = append(out, string(k[len(prefix):]))
		})
	})
	return out, err
}

// Subscribe adds a folder to the subscriptions; the folder must exist
// (ErrNotFound otherwise: RFC 9051 lets the server check).
func (s *Store) Subscribe(owner delegation.ID, name string) error {
	name, err := NormalizeFolder(name)
	if err != nil {
		return err
	}
	return s.update(func(txn *badger.Txn) error {
		if _, err := folderByNameTxn(txn, owner, name); err != nil {
			return err
		}
		return txn.Set(subKey(owner, name), nil)
	})
}

// Unsubscribe removes a name from the subscriptions, whether or not its
// folder exists. A name neither subscribed nor a folder gives ErrNotFound;
// unsubscribing an existing folder that is not subscribed changes nothing.
func (s *Store) Unsubscribe(owner delegation.ID, name string) error {
	name, err := NormalizeFolder(name)
	if err != nil {
		return err
	}
	return s.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(subKey(owner, name)); err != nil {
			if err == badger.ErrKeyNotFound {
				_, err = folderByNameTxn(txn, owner, name)
			}
			return err
		}
		return txn.Delete(subKey(owner, name))
	})
}

// renameSubscriptionsTxn moves the subscriptions of a renamed folder and of
// its subfolders to their new names, as the folders move.
func renameSubscriptionsTxn(txn *badger.Txn, owner delegation.ID, oldName, newName string) error {
	prefix := key(prefSub, string(owner), "")
	var names []string
	if err := scanKeys(txn, prefix, func(k []byte) {
		n := string(k[len(prefix):])
		if n == oldName || strings.HasPrefix(n, oldName+"/") {
			names = append(names, n)
		}
	}); err != nil {
		return err
	}
	for _, n := range names {
		if err := txn.Delete(subKey(owner, n)); err != nil {
			return err
		}
		if err := txn.Set(subKey(owner, newName+strings.TrimPrefix(n, oldName)), nil); err != nil {
			return err
		}
	}
	return nil
}

// migrateSubscriptionsTxn is schema step 1 → 2: each folder record's
// "subscribed" flag becomes an entry of the subscription set.
func migrateSubscriptionsTxn(txn *badger.Txn) error {
	type v1Folder struct {
		Owner      delegation.ID `json:"owner"`
		Name       string        `json:"name"`
		Subscribed bool          `json:"subscribed"`
	}
	var subs [][]byte
	if err := scan(txn, prefFoldRec, func(_, v []byte) error {
		var f v1Folder
		if err := unmarshal(v, &f); err != nil {
			return err
		}
		if f.Subscribed {
			subs = append(subs, subKey(f.Owner, f.Name))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range subs {
		if err := txn.Set(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// scanKeys calls fn with each key under prefix, without reading values.
func scanKeys(txn *badger.Txn, prefix []byte, fn func(key []byte)) error {
	return scanKeysErr(txn, prefix, func(k []byte) error { fn(k); return nil })
}
