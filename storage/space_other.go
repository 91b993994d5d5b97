//go:build !unix

package storage

// freeSpace is unknown here: only Badger's own errors guard the disk.
func freeSpace(string) (int64, bool) { return 0, false }
