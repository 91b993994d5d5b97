package autoconfig

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailgate/mailgate/internal/testenv"
)

// TestThunderbirdWizard: a real Thunderbird's account hub, given only
// bob@example.test, finds the IMAP and SMTP servers through this handler
// over HTTPS, by its own autoconfig lookup and by its autodiscover one
// (testdata/e2e/autoconfig.sh drives it, headless; it stands in for DNS
// with a proxy in the profile and trusts the test certificate). For a
// domain the handler does not serve, the wizard finds nothing.
func TestThunderbirdWizard(t *testing.T) {
	testenv.NeedProgram(t, "thunderbird", "thunderbird")
	testenv.NeedProgram(t, "Xvfb", "xvfb")
	testenv.NeedProgram(t, "python3", "python3")
	script, err := filepath.Abs(filepath.Join("..", "..", "testdata", "e2e", "autoconfig.sh"))
	if err != nil {
		t.Fatal(err)
	}

	// The certificate names the mail host only, as serve's self-signed
	// one does: the wizard's names are trusted by the profile's override.
	tlsCfg, _ := testenv.SelfSigned(t, "mail.example.test")
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE",
		Bytes: tlsCfg.Certificates[0].Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var served bool
	var requests []string
	cfg := Config{
		IMAP:       []Server{{"mail.example.test", 1993, TLS}, {"mail.example.test", 1143, STARTTLS}},
		Submission: []Server{{"mail.example.test", 1465, TLS}, {"mail.example.test", 1587, STARTTLS}},
		Serves: func(d string) bool {
			mu.Lock()
			defer mu.Unlock()
			return served && d == "example.test"
		},
		Log: testenv.Logger(t),
	}
	h := Handler(cfg)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Method+" https://"+r.Host+r.URL.RequestURI())
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	srv.TLS = tlsCfg
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// run returns the script's result line, the requests the handler got
	// and the script's stderr.
	run := func(method string) (string, []string, string, error) {
		mu.Lock()
		requests = nil
		mu.Unlock()
		cmd := exec.Command(script)
		cmd.Env = append(os.Environ(), "AUTOCONFIG_ADDR="+srv.Listener.Addr().String(), "TLS_CERT="+certFile,
			"EMAIL=bob@example.test", "EXPECT_IMAP=mail.example.test:1993:SSL", "EXPECT_SMTP=mail.example.test:1465:SSL",
			"METHOD="+method, "TB_TIMEOUT=50", "TMPDIR="+t.TempDir()) // its work dir, kept on FAIL, goes with the test
		var errOut strings.Builder
		cmd.Stderr = &errOut
		start := time.Now()
		out, err := cmd.Output()
		t.Logf("%s: %s (%v)", method, strings.TrimSpace(string(out)), time.Since(start).Round(100*time.Millisecond))
		mu.Lock()
		defer mu.Unlock()
		return string(out), append([]string(nil), requests...), errOut.String(), err
	}

	mu.Lock()
	served = true
	mu.Unlock()
	for _, c := range []struct{ method, want string }{
		{"autoconfig", "GET https://autoconfig.example.test" + PathAutoconfig + "?emailaddress=bob%40example.test"},
		{"autodiscover", "POST https://autodiscover.example.test" + PathAutodiscover},
	} {
		out, reqs, stderr, err := run(c.method)
		if err != nil || !strings.HasPrefix(out, "PASS ") {
			t.Errorf("%s: the wizard did not find the settings (%v): %s\n%s", c.method, err, out, stderr)
		}
		if !slices.Contains(reqs, c.want) {
			t.Errorf("%s: the handler did not get %q; it got %q", c.method, c.want, reqs)
		}
	}

	// A domain not served here: Thunderbird asks, gets 404, finds nothing
	// (so a PASS above is the handler's doing).
	if testing.Short() {
		return
	}
	mu.Lock()
	served = false
	mu.Unlock()
	out, reqs, _, err := run("autoconfig")
	if err == nil || !strings.HasPrefix(out, "FAIL ") || !strings.Contains(out, "no settings found") {
		t.Errorf("unserved domain: want the wizard to find nothing, got %v: %s", err, out)
	}
	if len(reqs) == 0 {
		t.Errorf("unserved domain: Thunderbird never asked the handler")
	}
}
