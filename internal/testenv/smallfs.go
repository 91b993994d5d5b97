package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// SmallFS mounts a file system of size bytes on a fresh temporary
// directory and returns it, unmounted at cleanup (register it before
// anything that keeps files open there). It skips the test, with the
// reason, where no file system can be mounted (not root, not Linux, no
// CAP_SYS_ADMIN).
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := mountSmall(dir, size); err != nil {
		t.Skipf("cannot mount a %d-byte file system here (%v); the FailWrites tests cover the error paths", size, err)
	}
	t.Cleanup(func() {
		if err := unmount(dir); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill leaves about leave bytes free on the file system of dir, with a
// file that the returned function removes.
func Fill(t testing.TB, dir string, leave int64) (free func()) {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	avail, err := FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if avail <= leave {
		t.Fatalf("only %d bytes free, cannot leave %d", avail, leave)
	}
	if err := allocate(f, avail-leave); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return func() {
		if err := os.Remove(name); err != nil {
			t.Errorf("remove filler: %v", err)
		}
	}
}

// FreeSpace is what statfs reports as available on dir's file system.
func FreeSpace(dir string) (int64, error) {
	n, err := freeSpace(dir)
	if err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return n, nil
}
