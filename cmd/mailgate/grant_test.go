package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestGrantUntil: `grant add --until` takes a duration from now or an
// RFC 3339 time and prints the exact end; `grant list` shows the grant
// effective, then expired with its end once that instant has passed, and
// explain names it; bad ends fail with one clear line and exit 1.
func TestGrantUntil(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ok(t, data, "tenant", "add", "a.test", "--propagation", "1h")
	for _, u := range []string{"alice", "bob", "carol"} {
		ok(t, data, "user", "add", u+"@a.test", "--password", "pw-"+u+"-long")
	}
	var g struct {
		ID          string    `json:"id"`
		Created     time.Time `json:"created"`
		EffectiveAt time.Time `json:"effective_at"`
		Until       time.Time `json:"until"`
		State       string    `json:"state"`
	}
	if err := json.Unmarshal([]byte(ok(t, data, "--json", "grant", "add", "alice@a.test", "bob@a.test", "--right", "send-as", "--now", "--until", "2s")), &g); err != nil {
		t.Fatal(err)
	}
	if g.Until.Sub(g.Created) != 2*time.Second || g.State != "effective" {
		t.Fatalf("grant add --until 2s: %+v", g)
	}
	out := ok(t, data, "grant", "add", "alice@a.test", "carol@a.test", "--right", "full-access", "--until", "2030-01-01T10:00:00+01:00")
	if !strings.Contains(out, "effective at ") || !strings.Contains(out, ", until 2030-01-01T09:00:00Z (for ") {
		t.Errorf("grant add --until RFC 3339: %q", out)
	}

	fails(t, data, `--until "next week": want a time (RFC 3339`, "grant", "add", "alice@a.test", "carol@a.test", "--right", "send-as", "--until", "next week")
	fails(t, data, "--until -5m: a duration from now must be positive", "grant", "add", "alice@a.test", "carol@a.test", "--right", "send-as", "--until", "-5m")
	fails(t, data, "is not in the future", "grant", "add", "alice@a.test", "carol@a.test", "--right", "send-as", "--now", "--until", "2020-01-01T00:00:00Z")
	fails(t, data, "before it takes effect", "grant", "add", "alice@a.test", "carol@a.test", "--right", "send-as", "--until", "30m")
	if out := ok(t, data, "grant", "list", "--trustee", "carol@a.test"); strings.Count(out, "\n") != 2 {
		t.Errorf("a refused grant was made:\n%s", out)
	}

	row := func() string {
		for _, l := range strings.Split(ok(t, data, "grant", "list", "alice@a.test"), "\n") {
			if strings.Contains(l, g.ID) {
				return l
			}
		}
		t.Fatalf("grant list lacks %s", g.ID)
		return ""
	}
	end := g.Until.UTC().Format(time.RFC3339)
	if l := row(); time.Now().Before(g.Until) && (!strings.Contains(l, end) || !strings.Contains(l, "effective")) {
		t.Errorf("grant list before the end: %q", l)
	}
	time.Sleep(time.Until(g.Until))
	deadline := time.Now().Add(10 * time.Second)
	for l := row(); !strings.Contains(l, "expired"); l = row() {
		if time.Now().After(deadline) {
			t.Fatalf("grant list 10s after the end: %q", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := row(); !strings.Contains(l, " "+end+" ") || strings.Contains(l, "effective") {
		t.Errorf("expired row: %q, want the end %s", l, end)
	}
	if out := ok(t, data, "explain", "send", "--as", "bob@a.test", "--from", "alice@a.test"); !strings.HasPrefix(out, "refused: ") ||
		!strings.Contains(out, "the Send As grant "+g.ID+" expired at "+end) {
		t.Errorf("explain send after the end: %q", out)
	}
	fails(t, data, "still has the expired Send As grant "+g.ID, "grant", "add", "alice@a.test", "bob@a.test", "--right", "send-as")
}
