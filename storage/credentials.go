package storage

import (
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/mailgate/mailgate/delegation"
)

// PasswordHash is a user's stored password hash ("" for none): the
// credential storage/auth checks logins against.
func (s *Store) PasswordHash(id delegation.ID) (string, error) {
	var rec principalRec
	err := s.view(func(txn *badger.Txn) error { return getJSON(txn, key(prefPrincipal, string(id)), &rec) })
	if errors.Is(err, ErrNotFound) {
		return "", errorf(ErrNotFound, "no principal %s", id)
	}
	if err != nil {
		return "", err
	}
	return rec.PasswordHash, nil
}
