package imap

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mailgate/mailgate/internal/testenv"
)

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	return testenv.SelfSigned(t, "mail.example.test")
}

// TestTLS: LOGIN only after STARTTLS on the plain port (no InsecureAuth),
// and IMAPS; metrics count the sessions, logins and delegated opens.
func TestTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver("alice", "INBOX", "over tls")
	cfg, pool := selfSigned(t)
	reg := prometheus.NewRegistry()
	srv := New(Config{Hostname: "mail.example.test", TLS: cfg, Registerer: reg}, e.st, testLogger(t))
	plain, _ := net.Listen("tcp", "127.0.0.1:0")
	imaps, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(plain)
	go srv.ServeTLS(imaps)
	t.Cleanup(func() { srv.Close() })
	copts := &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "mail.example.test"}}

	c, err := imapclient.DialInsecure(plain.Addr().String(), copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantCode(t, "LOGIN before STARTTLS", c.Login(addr("bob"), pw).Wait(), goimap.ResponseCodePrivacyRequired)
	c.Close()

	c, err = imapclient.DialStartTLS(plain.Addr().String(), copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(addr("bob"), pw).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Other Users/alice@example.test/INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()

	c, err = imapclient.DialTLS(imaps.Addr().String(), copts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(`bob@example.test\alice@example.test`, pw).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
	if err == nil {
		t.Fatalf("FETCH without SELECT succeeded: %v", msgs)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{Envelope: true}).Collect()
	if err != nil || msgs[0].Envelope.Subject != "over tls" {
		t.Fatalf("IMAPS FETCH = %v, %v", msgs, err)
	}
	if err := c.Login(addr("dave"), "x").Wait(); err == nil {
		t.Fatal("second LOGIN accepted")
	}
	c.Logout().Wait()

	bad, err := imapclient.DialTLS(imaps.Addr().String(), copts)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	wantCode(t, "wrong password", bad.Login(addr("bob"), "wrong").Wait(), goimap.ResponseCodeAuthenticationFailed)

	if n := counterValue(srv.metrics.delegated.WithLabelValues("other_users")); n != 1 {
		t.Errorf("delegated opens via other_users = %v, want 1", n)
	}
	if n := counterValue(srv.metrics.delegated.WithLabelValues("login")); n != 1 {
		t.Errorf("delegate logins = %v, want 1", n)
	}
	if n := counterValue(srv.metrics.delegated.WithLabelValues("delegate_login")); n != 1 {
		t.Errorf("folders opened in a delegate login = %v, want 1", n)
	}
	if n := counterValue(srv.metrics.authFailures.WithLabelValues("credentials")); n != 1 {
		t.Errorf("auth failures = %v, want 1", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "mailgate_imap_command_duration_seconds") || !strings.Contains(got, "mailgate_imap_sessions_total") {
		t.Errorf("registered metrics: %s", got)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
