package imap

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus series. With a nil Registerer they
// are still counted (cheaply) but exported nowhere.
type metrics struct {
	sessions      prometheus.Gauge
	sessionsTotal prometheus.Counter
	commands      *prometheus.HistogramVec // by command
	cmdErrors     *prometheus.CounterVec   // by command
	delegated     *prometheus.CounterVec   // delegated folder opens, by how (other_users, delegate_login)
	authFailures  *prometheus.CounterVec   // by reason
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailgate_imap_sessions", Help: "Open IMAP connections.",
		}),
		sessionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_imap_sessions_total", Help: "IMAP connections accepted.",
		}),
		commands: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mailgate_imap_command_duration_seconds",
			Help:    "IMAP command latency by command (backend time, without the network).",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"command"}),
		cmdErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_command_errors_total", Help: "IMAP commands answered NO or BAD by the backend, by command.",
		}, []string{"command"}),
		delegated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_delegated_opens_total",
			Help: "Delegated access: via=other_users or delegate_login for folders of another principal opened (SELECT/EXAMINE), via=login for delegate logins.",
		}, []string{"via"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_auth_failures_total", Help: "Failed IMAP logins, by reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.sessionsTotal, m.commands, m.cmdErrors, m.delegated, m.authFailures)
	}
	return m
}

func (m *metrics) sessionStart() { m.sessions.Inc(); m.sessionsTotal.Inc() }
func (m *metrics) sessionEnd()   { m.sessions.Dec() }

// observe records one command; use as defer s.observe("fetch", time.Now(), &err).
func (m *metrics) observe(cmd string, start time.Time, err *error) {
	m.commands.WithLabelValues(cmd).Observe(time.Since(start).Seconds())
	if err != nil && *err != nil {
		m.cmdErrors.WithLabelValues(cmd).Inc()
	}
}
