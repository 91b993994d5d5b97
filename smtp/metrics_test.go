package smtp

import (
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/prometheus/client_golang/prometheus"
)

// metricValue reads one sample from a registry ("" label value matches a
// metric without labels).
func metricValue(t *testing.T, reg *prometheus.Registry, name, labelValue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			lv := ""
			if len(m.GetLabel()) > 0 {
				lv = m.GetLabel()[0].GetValue()
			}
			if lv != labelValue {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	f := newFixture(t, Config{InsecureAuth: true, Registerer: reg})
	c := login(t, f.sub, "carol@example.test")
	if err := send(c, "carol@example.test", []string{"dave@example.test", "team@example.test"}, msg("alice@example.test", "", "m")); err != nil {
		t.Fatal(err)
	}
	send(c, "carol@example.test", []string{"dave@example.test"}, msg("bob@example.test", "", "refused"))
	bad := dial(t, f.sub)
	bad.Auth(sasl.NewPlainClient("", "carol@example.test", "wrong"))

	for _, tc := range []struct {
		name, label string
		want        float64
	}{
		{"mailgate_smtp_sessions_total", "submission", 2},
		{"mailgate_smtp_submissions_total", KindSendOnBehalf, 1},
		{"mailgate_smtp_submissions_total", KindRefused, 1},
		{"mailgate_smtp_submissions_total", KindSendAs, 0},
		{"mailgate_smtp_deliveries_total", "local", 2}, // dave once, frank through team@ → sales@
		{"mailgate_smtp_auth_failures_total", "credentials", 1},
		{"mailgate_smtp_queue_size", "", 0},
		{"mailgate_smtp_queue_oldest_seconds", "", 0},
	} {
		if got := metricValue(t, reg, tc.name, tc.label); got != tc.want {
			t.Errorf("%s{%s} = %v, want %v", tc.name, tc.label, got, tc.want)
		}
	}
}
