package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A PostgreSQL server for the tests of one test binary: Debian's
// postgresql package, started by the first Postgres call with initdb and
// pg_ctl in a temp dir, on a free loopback port, and stopped by
// StopPostgres (call it from TestMain). PostgreSQL refuses to run as
// root, so as root (CI) its files belong to the postgres user and every
// program runs through runuser.
var pg struct {
	once    sync.Once
	err     error
	dir     string // the cluster's temp dir (data, socket, log)
	port    int
	runAs   string // "" or the user to run as (root)
	bin     string // the server's bin directory
	created atomic.Int64
}

// Postgres returns the connection string of a new, empty database on the
// test binary's PostgreSQL server, starting the server the first time.
// Without PostgreSQL the test skips, except under CI, where it fails:
// CI must install it (apt-get install postgresql).
func Postgres(t testing.TB) string {
	t.Helper()
	pg.once.Do(func() { pg.err = startPostgres() })
	if pg.err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required under CI (apt-get install postgresql): %v", pg.err)
		}
		t.Skipf("no PostgreSQL: %v", pg.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pg.created.Add(1))
	if out, err := pgRun("psql", "-X", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "postgres",
		"-d", "postgres", "-c", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v\n%s", name, err, out)
	}
	return PostgresDSN(name)
}

// PostgresDSN is the connection string of database name on the test
// server (Postgres must have been called).
func PostgresDSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// StopPostgres stops the server Postgres started, if any, and removes its
// files. Packages that use Postgres call it from TestMain after m.Run.
func StopPostgres() {
	if pg.dir == "" {
		return
	}
	if pg.err == nil {
		pgRun("pg_ctl", "stop", "-D", filepath.Join(pg.dir, "data"), "-m", "fast", "-w")
	}
	os.RemoveAll(pg.dir)
}

func startPostgres() error {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		p, err := exec.LookPath("initdb")
		if err != nil {
			return fmt.Errorf("no initdb in /usr/lib/postgresql/*/bin or PATH")
		}
		bins = []string{p}
	}
	pg.bin = filepath.Dir(bins[len(bins)-1]) // the newest version
	// As root the server runs as the postgres user, which must reach its
	// directory: /tmp, whatever TMPDIR says (a root-only TMPDIR would stop it).
	parent := ""
	if os.Geteuid() == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "mailgate-pg-")
	if err != nil {
		return err
	}
	pg.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root needs the postgres user (from the postgresql package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
		pg.runAs = "postgres"
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	pg.port = port
	data := filepath.Join(dir, "data")
	if out, err := pgRun("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// fsync stays on: the tests check what a commit promises. The socket
	// lives in the temp dir, so nothing is written to /var/run.
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c max_connections=200", port, dir)
	if out, err := pgRun("pg_ctl", "start", "-D", data, "-w", "-t", "60", "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// pgRun runs one of the server's programs, as the postgres user when we
// are root.
func pgRun(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(pg.bin, prog)
	if _, err := os.Stat(path); err != nil {
		if p, err := exec.LookPath(prog); err == nil {
			path = p
		}
	}
	cmd := exec.Command(path, args...)
	if pg.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", pg.runAs, "--", path}, args...)...)
	}
	cmd.Dir = pg.dir
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "LC_ALL=C")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		err = fmt.Errorf("%s %s: timed out", prog, strings.Join(args, " "))
	}
	return out, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
