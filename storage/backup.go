package storage

import (
	"io"
)

// Backup writes a full, consistent backup of the database to w (Badger's
// backup format). It runs online: the server keeps serving.
func (s *Store) Backup(w io.Writer) error {
	_, err := s.db.Backup(w, 0)
	return err
}

// Restore loads a backup made by Backup into this (normally new, empty)
// database and reloads the directory.
func (s *Store) Restore(r io.Reader) error {
	if err := s.db.Load(r, 256); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return err
	}
	return s.reloadDirectory()
}

// Empty reports whether the database holds nothing but its schema key.
func (s *Store) Empty() (bool, error) {
	d := s.Directory()
	if len(d.Tenants()) > 0 || len(d.Principals()) > 0 {
		return false, nil
	}
	return true, nil
}
