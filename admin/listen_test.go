package admin

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestListenMode: the admin socket is 0600 from the moment it appears at
// its path, in a directory anyone may enter. A watcher looks at the path
// as fast as it can while Listen runs again and again; binding at the path
// and chmod-ing afterwards shows it a wider mode within a few rounds. Right
// after Listen returns the mode is 0600, no temporary directory is left,
// and Close removes the socket.
func TestListenMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "admin.sock")
	var stop atomic.Bool
	var wide atomic.Uint32 // the first wider mode seen, plus one
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if fi, err := os.Lstat(sock); err == nil && fi.Mode().Perm() != 0o600 {
				wide.CompareAndSwap(0, uint32(fi.Mode().Perm())+1)
			}
		}
	})
	for i := range 300 {
		ln, err := Listen(sock)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(sock)
		if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Fatalf("round %d: right after Listen: %v, %v; want a socket with mode 0600", i, fi.Mode(), err)
		}
		ln.Close()
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Fatalf("round %d: after Close the socket file is still there: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if m := wide.Load(); m != 0 {
		t.Errorf("the socket was visible at its path with mode %v before Listen returned", fs.FileMode(m-1))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".admin-*")); len(left) != 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}
