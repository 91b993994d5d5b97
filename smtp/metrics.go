package smtp

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailgate/mailgate/storage"
)

// metrics are per Server (no globals), registered only when a Registerer
// is given.
type metrics struct {
	sessions     *prometheus.CounterVec // listener
	submissions  *prometheus.CounterVec // decision: own, send_as, send_on_behalf, refused
	deliveries   *prometheus.CounterVec // result: local, queued, relayed, bounced, deferred
	authFailures *prometheus.CounterVec // reason: credentials, throttled, authzid
}

func newMetrics(reg prometheus.Registerer, st storage.Backend, now func() time.Time, log *slog.Logger) *metrics {
	m := &metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailgate", Subsystem: "smtp", Name: "sessions_total",
			Help: "SMTP connections accepted, by listener.",
		}, []string{"listener"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailgate", Subsystem: "smtp", Name: "submissions_total",
			Help: "Submitted messages by send decision (own, send_as, send_on_behalf, refused).",
		}, []string{"decision"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailgate", Subsystem: "smtp", Name: "deliveries_total",
			Help: "Message copies by result: local (stored in a folder), queued, relayed, deferred, bounced.",
		}, []string{"result"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mailgate", Subsystem: "smtp", Name: "auth_failures_total",
			Help: "Failed AUTH attempts by reason (credentials, throttled, authzid).",
		}, []string{"reason"}),
	}
	for _, d := range []string{KindOwn, KindSendAs, KindSendOnBehalf, KindRefused} {
		m.submissions.WithLabelValues(d)
	}
	if reg == nil {
		return m
	}
	queueSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "mailgate", Subsystem: "smtp", Name: "queue_size",
		Help: "Messages waiting in the relay queue.",
	}, func() float64 {
		n, _, _ := st.QueueStats()
		return float64(n)
	})
	queueAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "mailgate", Subsystem: "smtp", Name: "queue_oldest_seconds",
		Help: "Age of the oldest message in the relay queue (0 when empty).",
	}, func() float64 {
		_, oldest, _ := st.QueueStats()
		if oldest.IsZero() {
			return 0
		}
		return now().Sub(oldest).Seconds()
	})
	for _, c := range []prometheus.Collector{m.sessions, m.submissions, m.deliveries, m.authFailures, queueSize, queueAge} {
		if err := reg.Register(c); err != nil {
			log.Warn("register smtp metric", "err", err)
		}
	}
	return m
}

func (m *metrics) session(listener string)   { m.sessions.WithLabelValues(listener).Inc() }
func (m *metrics) submission(kind string)    { m.submissions.WithLabelValues(kind).Inc() }
func (m *metrics) authFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }
func (m *metrics) delivered(result string, n int) {
	if n > 0 {
		m.deliveries.WithLabelValues(result).Add(float64(n))
	}
}
