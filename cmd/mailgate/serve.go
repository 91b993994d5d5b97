package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mailgate/mailgate/admin"
	"github.com/mailgate/mailgate/storage"
	"github.com/mailgate/mailgate/storage/postgres"
)

// serveConfig holds `mailgate serve`'s flags.
type serveConfig struct {
	hostname                                string
	submissionAddr, submissionsAddr, mxAddr string
	imapAddr, imapsAddr, metricsAddr        string
	adminHTTPAddr                           string // the web admin center (HTTPS)
	tlsCert, tlsKey                         string
	insecureAuth                            bool
	pprof                                   bool // /debug/pprof/ on the metrics listener
	relayHost, relayUser, relayPassword     string
	relayGiveUp                             time.Duration
	maxMessageSize                          int64
	maxRecipients                           int
	maxConnsPerIP, maxConns                 int
	spoolDir                                string // <data>/spool, set by serve
	logFormat, logLevel                     string
	demo                                    bool
	cacheSize                               byteSize
	autoconfig                              autoconfigFlags // what autoconfig.go tells mail clients
	davAddr                                 string          // --dav-addr (dav.go)
}

func newServe(g *globals) *cobra.Command {
	var c serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run the mail server (SMTP submission and inbound, IMAP, admin socket, metrics)",
		Long: `Run the mail server. Every flag can also be set by an environment variable
MAILGATE_<FLAG> (e.g. MAILGATE_IMAP_ADDR); a flag on the command line wins.
An empty address disables that listener.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.Flags()); err != nil {
				return err
			}
			return serve(cmd.Context(), g, &c, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	f.StringVar(&c.hostname, "hostname", host, "server name in greetings, Received lines and the self-signed certificate")
	f.StringVar(&c.submissionAddr, "submission-addr", "127.0.0.1:1587", "SMTP submission with STARTTLS")
	f.StringVar(&c.submissionsAddr, "submissions-addr", "127.0.0.1:1465", "SMTP submission with implicit TLS")
	f.StringVar(&c.mxAddr, "mx-addr", "127.0.0.1:2525", "inbound SMTP (MX): local recipients only, no AUTH")
	f.StringVar(&c.imapAddr, "imap-addr", "127.0.0.1:1143", "IMAP with STARTTLS")
	f.StringVar(&c.imapsAddr, "imaps-addr", "127.0.0.1:1993", "IMAP with implicit TLS")
	f.StringVar(&c.metricsAddr, "metrics-addr", "127.0.0.1:9464", "Prometheus /metrics and /healthz")
	f.StringVar(&c.adminHTTPAddr, "admin-http-addr", "127.0.0.1:8443", "the web admin center (HTTPS, the mail listeners' certificate)")
	f.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler (/debug/pprof/) on the metrics listener (keep that on loopback)")
	f.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate (PEM); default: a self-signed one in <data>/tls")
	f.StringVar(&c.tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.BoolVar(&c.insecureAuth, "insecure-auth", false, "allow AUTH/LOGIN without TLS (for tests on loopback only)")
	f.StringVar(&c.relayHost, "relay-host", "", "smarthost host:port for other domains (none: such recipients are refused)")
	f.StringVar(&c.relayUser, "relay-user", "", "smarthost AUTH user")
	f.StringVar(&c.relayPassword, "relay-password", "", "smarthost AUTH password")
	f.DurationVar(&c.relayGiveUp, "relay-give-up", 5*24*time.Hour, "bounce a queued message after this long")
	f.Int64Var(&c.maxMessageSize, "max-message-size", 35<<20, "largest message accepted, in bytes")
	f.IntVar(&c.maxRecipients, "max-recipients", 100, "most recipients per message")
	f.IntVar(&c.maxConnsPerIP, "smtp-max-conns-per-ip", 20, "open SMTP connections per remote address (421 4.7.0 above it)")
	f.IntVar(&c.maxConns, "smtp-max-conns", 500, "open SMTP connections in total (421 4.3.2 above it)")
	f.StringVar(&c.logFormat, "log-format", "text", "text or json")
	f.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&c.demo, "demo", false, "seed the demo tenant example.test (idempotent) and print its logins")
	addDAVFlags(f, &c)
	c.cacheSize = storage.DefaultCacheSize
	f.Var(&c.cacheSize, "cache-size", "memory for the database's buffers, caches and mapped files (e.g. 64MiB, 1GiB); "+
		"more is faster on large mailboxes. Unless GOMEMLIMIT is set, Go's soft memory limit is four times this plus 64MiB")
	c.autoconfig.register(f)
	return cmd
}

// flagsFromEnv sets every flag not given on the command line from
// MAILGATE_<NAME> when that variable exists (even empty: "" disables a
// listener).
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil || f.Name == "data" || f.Name == "json" {
			return
		}
		env := "MAILGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, e)
			}
		}
	})
	return err
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func serve(ctx context.Context, g *globals, c *serveConfig, out io.Writer) error {
	log, err := newLogger(c.logFormat, c.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	if err := c.checkInsecureAuth(); err != nil {
		return err
	}
	if err := os.MkdirAll(g.data, 0o700); err != nil {
		return err
	}
	st, err := openServeStore(ctx, g, c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	var ac http.Handler // checks the --public-* flags before anything listens
	if c.adminHTTPAddr != "" {
		if ac, err = autoconfigHandler(c, st, log.With("component", "autoconfig")); err != nil {
			return err
		}
	}

	svc := admin.New(st, log.With("component", "admin"))
	var logins []demoLogin
	if c.demo {
		if logins, err = seedDemo(ctx, st, svc, g.data); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	tlsCfg, certFile, err := tlsConfig(c.tlsCert, c.tlsKey, g.data, c.hostname)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go releaseWhenIdle(ctx, log.With("component", "memory"))
	errc := make(chan error, 16)
	var closers []func(context.Context)
	stopAll := func(ctx context.Context) { // in the reverse order of starting
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i](ctx)
		}
	}
	var banner []string

	sockPath := filepath.Join(g.data, "admin.sock")
	sock, err := admin.Listen(sockPath)
	if err != nil {
		return err
	}
	adminSrv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { errc <- ignoreClosed(adminSrv.Serve(sock)) }()
	closers = append(closers, func(ctx context.Context) { adminSrv.Shutdown(ctx); os.Remove(sockPath) })

	if c.metricsAddr != "" {
		ln, err := net.Listen("tcp", c.metricsAddr)
		if err != nil {
			stopAll(context.Background())
			return fmt.Errorf("metrics listener: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		if c.pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index) // heap, goroutine, allocs, ... by name
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- ignoreClosed(ms.Serve(ln)) }()
		closers = append(closers, func(ctx context.Context) { ms.Shutdown(ctx) })
		banner = append(banner, fmt.Sprintf("%-27s http://%s/metrics", "metrics", ln.Addr()))
	}

	c.spoolDir = filepath.Join(g.data, "spool")
	if err := os.MkdirAll(c.spoolDir, 0o700); err != nil {
		stopAll(context.Background())
		return err
	}
	p, err := startProtocols(ctx, c, st, log, reg, tlsCfg, errc)
	if err != nil {
		stopAll(context.Background())
		return err
	}
	closers = append(closers, p.closers...)
	banner = append(p.banner, banner...)
	if c.adminHTTPAddr != "" {
		line, closeWeb, err := startWeb(c.adminHTTPAddr, svc, p.auth, tlsCfg, ac, log, errc)
		if err != nil {
			stopAll(context.Background())
			return err
		}
		closers = append(closers, closeWeb)
		banner = append(banner, line)
	}

	printBanner(out, g.data, certFile, sockPath, banner, logins, c.insecureAuth)
	log.Info("mailgate started", "data", g.data)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		if err != nil {
			log.Error("listener failed", "err", err)
		}
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	stopAll(sctx)
	return err
}

// serveStore is what serve runs on: the whole storage contract, and a
// backup for the admin API.
type serveStore interface {
	storage.Backend
	storage.AdminStore
	Backup(w io.Writer) error
}

// openServeStore opens the embedded database in --data, with its memory
// budget, or the PostgreSQL database --store names (several nodes may
// serve from one; --data then holds only this node's socket, spool and
// certificate).
func openServeStore(ctx context.Context, g *globals, c *serveConfig, log *slog.Logger) (serveStore, error) {
	if g.store != "" {
		st, err := g.openPostgres(ctx, log)
		if err != nil {
			return nil, err
		}
		log.Info("store", "kind", "postgres", "dsn", redact(g.store), "schema", postgres.SchemaVersion())
		return st, nil
	}
	cache := storage.EffectiveCacheSize(int64(c.cacheSize))
	limit := setMemoryLimit(cache)
	log.Info("memory budget", "cache_size", byteSize(cache).String(), "go_memory_limit", byteSize(limit).String())
	st, err := storage.Open(filepath.Join(g.data, "db"), storage.Options{Logger: log, CacheSize: cache})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("the database in %s is in use by another process (is a server already running?)", g.data)
	}
	return st, err
}

// checkInsecureAuth allows --insecure-auth only when every SMTP and IMAP
// listener is bound to a loopback address, so that a password can never
// cross a network in clear text.
func (c *serveConfig) checkInsecureAuth() error {
	if !c.insecureAuth {
		return nil
	}
	for _, addr := range []string{c.submissionAddr, c.submissionsAddr, c.mxAddr, c.imapAddr, c.imapsAddr} {
		if addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("listener address %q: %v", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("--insecure-auth allows passwords without TLS, so every listener must be on a loopback address (%s is not)", addr)
		}
	}
	return nil
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func printBanner(w io.Writer, data, cert, sock string, lines []string, logins []demoLogin, insecure bool) {
	fmt.Fprintf(w, "mailgate is running (data dir %s)\n", data)
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
	fmt.Fprintf(w, "  %-27s %s (try: %s --data %s grant list)\n", "admin socket", sock, os.Args[0], data)
	fmt.Fprintf(w, "  %-27s %s (self-signed unless you gave --tls-cert: accept it in your client)\n", "TLS certificate", cert)
	if insecure {
		fmt.Fprintln(w, "  WARNING: --insecure-auth: passwords accepted without TLS")
	}
	if len(logins) > 0 {
		fmt.Fprintf(w, "demo logins (also in %s):\n", filepath.Join(data, "demo-logins.txt"))
		for _, l := range logins {
			fmt.Fprintf(w, "  %-22s %-18s %s\n", l.Address, l.Password, l.Role)
		}
		fmt.Fprintln(w, `connect a mail client to the IMAP and SMTP ports above as bob: alice's mailbox appears under
  "Other Users/alice@example.test/"; or log in as bob@example.test\alice@example.test to open it directly`)
	}
	fmt.Fprintln(w, "stop with Ctrl-C (SIGINT) or SIGTERM")
}
