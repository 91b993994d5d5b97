package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailgate/mailgate/storage"
)

// relayParallel bounds concurrent smarthost connections of the worker.
const relayParallel = 4

// pokeQueue wakes the queue worker after a relay entry was committed.
func (s *Server) pokeQueue() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// relayLease is how long a claimed queue entry is this worker's: longer
// than any one attempt takes, so no other worker (on another node) sends
// it meanwhile; after a crash the entry is retried when it ends.
const relayLease = 15 * time.Minute

// RunQueue is the relay queue worker: it hands due entries to the
// smarthost, reschedules temporary failures with exponential backoff, and
// after Config.RelayGiveUp (or on a permanent failure) sends a DSN to the
// envelope sender. It returns when ctx is done. Any number may run on one
// database (one per node): each entry is claimed by one (QueueClaim).
func (s *Server) RunQueue(ctx context.Context) {
	log := s.log.With("component", "queue")
	for {
		due, next, err := s.st.QueueClaim(s.now(), 64, relayLease)
		if err != nil {
			log.Error("read queue", "err", err)
			next = s.now().Add(30 * time.Second)
		}
		if len(due) > 0 {
			s.attemptAll(ctx, log, due)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(s.now()), 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Server) attemptAll(ctx context.Context, log *slog.Logger, due []storage.QueueEntry) {
	sem := make(chan struct{}, relayParallel)
	var wg sync.WaitGroup
	for _, e := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res := s.attempt(ctx, e)
			if res.Err != nil {
				log.Error("relay attempt", "queue_id", e.ID, "msg_id", e.MessageID, "err", res.Err)
			}
			if s.onAttempt != nil {
				s.onAttempt(res)
			}
		}()
	}
	wg.Wait()
}

// attemptResult tells a test what one attempt did.
type attemptResult struct {
	ID       uint64
	Relayed  []string
	Failed   []string // returned to the sender
	Deferred []string
	Err      error
}

// rcptResult is one recipient's outcome of an attempt.
type rcptResult struct {
	rcpt string
	err  error // nil: accepted by the smarthost
}

// permanent reports a 5xx reply (RFC 5321 §4.2.1): retrying cannot help.
func permanent(err error) bool {
	var se *gosmtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code < 600
}

// attempt tries one entry once and records the outcome durably.
func (s *Server) attempt(ctx context.Context, e storage.QueueEntry) (res attemptResult) {
	res.ID = e.ID
	res.Err = s.attemptErr(ctx, e, &res)
	return res
}

func (s *Server) attemptErr(ctx context.Context, e storage.QueueEntry, res *attemptResult) error {
	log := s.log.With("component", "queue", "queue_id", e.ID, "msg_id", e.MessageID)
	msg, err := s.st.Body(e.Blob)
	if errors.Is(err, storage.ErrNotFound) {
		log.Error("queued message body is missing; dropping entry")
		return s.st.QueueDone(e.ID)
	}
	if err != nil {
		return err
	}
	results := s.relay(ctx, e, msg)
	now := s.now()
	giveUp := now.Sub(e.Created) >= s.cfg.RelayGiveUp
	var failed []rcptResult
	var retry []string
	lastErr := ""
	for _, r := range results {
		switch {
		case r.err == nil:
			res.Relayed = append(res.Relayed, r.rcpt)
			s.metrics.delivered("relayed", 1)
			log.Info("relayed", "rcpt", r.rcpt)
		case permanent(r.err) || giveUp:
			failed = append(failed, r)
			res.Failed = append(res.Failed, r.rcpt)
		default:
			retry = append(retry, r.rcpt)
			res.Deferred = append(res.Deferred, r.rcpt)
			lastErr = clean(r.err.Error())
		}
	}
	// settle is what becomes of the entry: the recipients to retry, or
	// none (then it is removed).
	settle := e
	settle.To = retry
	if len(retry) > 0 {
		s.metrics.delivered("deferred", len(retry))
		settle.Attempts++
		settle.LastError = lastErr
		settle.NextAttempt = now.Add(s.backoff(settle.Attempts))
		if end := e.Created.Add(s.cfg.RelayGiveUp); settle.NextAttempt.After(end) {
			settle.NextAttempt = end // the last try is at the give-up time, so the DSN is on time
		}
		log.Info("relay deferred", "rcpts", len(retry), "attempts", settle.Attempts, "next", settle.NextAttempt.UTC(), "err", lastErr)
	}
	if len(failed) > 0 {
		s.metrics.delivered("bounced", len(failed))
		for _, f := range failed {
			log.Info("relay failed, returning to sender", "rcpt", f.rcpt, "err", clean(f.err.Error()), "expired", giveUp)
		}
		// The DSN and the entry's new state commit together: a crash can
		// neither lose the report nor send it twice.
		settled, err := s.bounce(e, msg, failed, giveUp, now, &settle)
		if err != nil {
			return fmt.Errorf("bounce: %w", err)
		}
		if settled {
			return nil
		}
	}
	return s.st.QueueRetry(settle)
}

// backoff is RelayRetryMin doubled per attempt, capped at RelayRetryMax.
func (s *Server) backoff(attempts int) time.Duration {
	d := s.cfg.RelayRetryMin
	for i := 1; i < attempts && d < s.cfg.RelayRetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RelayRetryMax)
}

// relay runs one SMTP transaction with the smarthost and returns each
// recipient's outcome. Recipients are sent one by one so that one refused
// recipient does not fail the others (go-smtp's SendMail stops at the first).
func (s *Server) relay(ctx context.Context, e storage.QueueEntry, msg []byte) []rcptResult {
	all := func(err error) []rcptResult {
		out := make([]rcptResult, len(e.To))
		for i, r := range e.To {
			out[i] = rcptResult{r, err}
		}
		return out
	}
	c, err := s.dialRelay(ctx)
	if err != nil {
		return all(fmt.Errorf("relay %s: %w", s.cfg.RelayHost, err))
	}
	defer c.Close()
	if err := c.Mail(e.From, &gosmtp.MailOptions{Size: int64(len(msg))}); err != nil {
		return all(err)
	}
	out := make([]rcptResult, 0, len(e.To))
	var ok []int
	for _, r := range e.To {
		err := c.Rcpt(r, nil)
		if err == nil {
			ok = append(ok, len(out))
		}
		out = append(out, rcptResult{r, err})
	}
	if len(ok) == 0 {
		return out
	}
	w, err := c.Data()
	if err == nil {
		_, err = w.Write(msg)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		for _, i := range ok {
			out[i].err = err
		}
		return out
	}
	c.Quit()
	return out
}

// dialRelay connects to the smarthost: implicit TLS on port 465 (RFC 8314),
// STARTTLS when RelayTLS is set or a relay user is configured for a host
// that is not loopback, plain otherwise; then AUTH PLAIN when a relay user
// is configured.
func (s *Server) dialRelay(ctx context.Context) (*gosmtp.Client, error) {
	host, port, err := net.SplitHostPort(s.cfg.RelayHost)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.cfg.RelayHost)
	if err != nil {
		return nil, err
	}
	tcfg := s.cfg.RelayTLS
	if tcfg == nil && (port == "465" || (s.cfg.RelayUser != "" && !loopback(host))) {
		tcfg = &tls.Config{} // never send the relay password in clear over a network
	}
	if tcfg != nil && tcfg.ServerName == "" {
		tcfg = tcfg.Clone()
		tcfg.ServerName = host
	}
	var c *gosmtp.Client
	switch {
	case port == "465":
		c = gosmtp.NewClient(tls.Client(conn, tcfg))
	case tcfg != nil:
		if c, err = gosmtp.NewClientStartTLS(conn, tcfg); err != nil {
			conn.Close()
			return nil, err
		}
	default:
		c = gosmtp.NewClient(conn)
	}
	c.CommandTimeout = 2 * time.Minute
	c.SubmissionTimeout = 10 * time.Minute
	if err := c.Hello(s.cfg.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	if s.cfg.RelayUser != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.RelayUser, s.cfg.RelayPassword)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// diagnostic renders an error for a DSN's Diagnostic-Code (RFC 3464
// §2.3.6): "smtp; 550 5.1.1 text" for a reply, printable ASCII only.
func diagnostic(err error) (status, diag string) {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		ec := se.EnhancedCode
		status = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
		if ec == gosmtp.EnhancedCodeNotSet || ec == gosmtp.NoEnhancedCode {
			status = fmt.Sprintf("%d.0.0", se.Code/100)
		}
		return status, ascii(fmt.Sprintf("smtp; %d %s %s", se.Code, status, se.Message))
	}
	return "4.4.1", ascii("x-mailgate; " + err.Error())
}

func ascii(s string) string {
	var b strings.Builder
	for _, r := range clean(s) {
		if r < ' ' || r > '~' {
			r = '?'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 900 {
		out = out[:900]
	}
	return out
}
