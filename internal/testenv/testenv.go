// Package testenv holds what the tests of several packages share: a test
// logger, external client programs, a self-signed certificate, Dovecot
// imaptest's scripts and a small mounted file system (smallfs.go). Only
// tests import it; it imports no mailgate package, so that storage's own
// tests can use it. The fixture directory that the smtp and imap tests
// share needs storage, so it is the sub-package testdir.
package testenv

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// LogVar is the one variable that turns test logs on: MAILGATE_TEST_LOG=1
// sends every server's debug log of a test run to stderr.
const LogVar = "MAILGATE_TEST_LOG"

// Logger is a server logger for tests: silent unless LogVar is set.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv(LogVar) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// NeedProgram finds an external program (a real client: swaks, curl,
// mbsync, python3, ...). Missing, the test skips, except under CI (env CI
// set), where it fails: CI must install it (debianPkg names the package).
func NeedProgram(t testing.TB, name, debianPkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI (apt-get install %s): %v", name, debianPkg, err)
		}
		t.Skipf("%s not installed (Debian package %s)", name, debianPkg)
	}
	return p
}

// SelfSigned makes a fresh self-signed certificate for host and 127.0.0.1,
// valid for an hour: a server config with it, and a pool that trusts it.
func SelfSigned(t testing.TB, host string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// ImaptestDir finds Dovecot imaptest's test scripts (holding file, to be
// sure it is the right directory): $IMAPTEST_TESTS, or the shared copy next
// to the repository (../shared/tools/imaptest/tests from its root; up is
// the path from the calling package to the repository root). Absent, the
// test skips, except under CI, where it fails.
func ImaptestDir(t testing.TB, up, file string) string {
	t.Helper()
	for _, d := range []string{os.Getenv("IMAPTEST_TESTS"), filepath.Join(up, "..", "shared", "tools", "imaptest", "tests")} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, file)); err == nil {
			return d
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("imaptest's test scripts not found (no %s): set IMAPTEST_TESTS", file)
	}
	t.Skip("imaptest's test scripts not found (set IMAPTEST_TESTS)")
	return ""
}

// StartChild re-executes the test binary to run only the test named child
// (which serves and prints "ADDR host:port"), with env set (e.g. the data
// directory), for tests that SIGKILL a server at random moments. It returns
// the process and the address; the process is killed at cleanup.
func StartChild(t testing.TB, child string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() {
				for sc.Scan() { // drain: the child must never block on its stdout
				}
			}()
			return cmd, a
		}
	}
	t.Fatalf("child server did not start: %v", sc.Err())
	return nil, ""
}
