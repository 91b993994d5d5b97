package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mailgate/mailgate/admin/autoconfig"
	"github.com/mailgate/mailgate/storage"
)

// autoconfigFlags are serve's flags for what client autoconfiguration
// (Thunderbird's autoconfig, Outlook's autodiscover) tells mail clients:
// the name and ports they connect to, which differ from the listeners'
// own addresses behind a load balancer or a TLS proxy.
type autoconfigFlags struct {
	host                            string
	name                            string
	imapPort, imapsPort             int
	submissionPort, submissionsPort int
}

func (a *autoconfigFlags) register(f *pflag.FlagSet) {
	f.StringVar(&a.host, "public-host", "", "host name mail clients connect to, as autoconfig and autodiscover tell them (default: --hostname)")
	f.StringVar(&a.name, "public-name", "", "provider name mail clients show for an account set up by autoconfig (default: the mail domain)")
	f.IntVar(&a.imapPort, "public-imap-port", 0, "IMAP (STARTTLS) port clients connect to (default: the port of --imap-addr; 0 with that listener off: not advertised)")
	f.IntVar(&a.imapsPort, "public-imaps-port", 0, "IMAPS port clients connect to (default: the port of --imaps-addr)")
	f.IntVar(&a.submissionPort, "public-submission-port", 0, "SMTP submission (STARTTLS) port clients connect to (default: the port of --submission-addr)")
	f.IntVar(&a.submissionsPort, "public-submissions-port", 0, "SMTP submission (implicit TLS) port clients connect to (default: the port of --submissions-addr)")
}

// autoconfigHandler is the client autoconfiguration for serve's web
// listener: the handler answers /mail/config-v1.1.xml,
// /.well-known/autoconfig/mail/config-v1.1.xml and
// /autodiscover/autodiscover.xml (any case) for the tenants' domains, read
// live from st's directory, and 404 for everything else. It advertises
// implicit TLS first (RFC 8314 prefers it), then STARTTLS. An error is a bad flag.
// The web listener sends it the requests autoconfig.IsPath names, before
// any login or CSRF check (withAutoconfig): mail clients come with no session.
func autoconfigHandler(c *serveConfig, st storage.DirectoryStore, log *slog.Logger) (http.Handler, error) {
	cfg, err := c.autoconfigConfig()
	if err != nil {
		return nil, err
	}
	cfg.Serves = func(domain string) bool { return st.Directory().IsLocalDomain(domain) }
	cfg.Log = log
	return autoconfig.Handler(cfg), nil
}

// withAutoconfig sends client autoconfiguration's requests
// (autoconfig.IsPath: they come with no session, and autodiscover's path
// in any case, which a ServeMux pattern cannot match) to ac, and every
// other request to web.
func withAutoconfig(web, ac http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if autoconfig.IsPath(r.URL.Path) {
			ac.ServeHTTP(w, r)
			return
		}
		web.ServeHTTP(w, r)
	})
}

// autoconfigConfig works out the public servers from the flags.
func (c *serveConfig) autoconfigConfig() (autoconfig.Config, error) {
	a := c.autoconfig
	host := strings.ToLower(strings.TrimSuffix(a.host, "."))
	flag := "--public-host"
	if host == "" {
		host, flag = strings.ToLower(c.hostname), "--hostname"
	}
	if !validHost(host) {
		return autoconfig.Config{}, fmt.Errorf("%s %q: not a host name mail clients can connect to", flag, host)
	}
	var cfg autoconfig.Config
	add := func(list *[]autoconfig.Server, name string, public int, addr string, sec autoconfig.Security) error {
		if public < 0 || public > 65535 {
			return fmt.Errorf("--public-%s-port %d: want 1-65535, or 0 for the listener's port", name, public)
		}
		port := public
		if port == 0 && addr != "" {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return fmt.Errorf("--%s-addr %q: %v", name, addr, err)
			}
			// A listener on port 0 has no port known in advance: it is
			// advertised only with its public port.
			port, _ = strconv.Atoi(p)
		}
		if port > 0 {
			*list = append(*list, autoconfig.Server{Host: host, Port: port, Security: sec})
		}
		return nil
	}
	for _, s := range []struct {
		list   *[]autoconfig.Server
		name   string
		public int
		addr   string
		sec    autoconfig.Security
	}{
		{&cfg.IMAP, "imaps", a.imapsPort, c.imapsAddr, autoconfig.TLS},
		{&cfg.IMAP, "imap", a.imapPort, c.imapAddr, autoconfig.STARTTLS},
		{&cfg.Submission, "submissions", a.submissionsPort, c.submissionsAddr, autoconfig.TLS},
		{&cfg.Submission, "submission", a.submissionPort, c.submissionAddr, autoconfig.STARTTLS},
	} {
		if err := add(s.list, s.name, s.public, s.addr, s.sec); err != nil {
			return autoconfig.Config{}, err
		}
	}
	cfg.DisplayName = a.name
	return cfg, nil
}

// validHost reports whether h is an IP address or a DNS host name
// (RFC 1123 §2.1 labels).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
