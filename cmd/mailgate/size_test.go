package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"64MiB", 64 << 20}, {"1GiB", 1 << 30}, {"1gib", 1 << 30}, {"512k", 512 << 10}, {"512KiB", 512 << 10},
		{"2M", 2 << 20}, {"1.5GiB", 3 << 29}, {"100MB", 100e6}, {"4096", 4096}, {"4096B", 4096}, {" 8 MiB ", 8 << 20},
	} {
		if got, err := parseSize(tc.in); err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "12XB", "-1MiB", "1..2MiB", "9999999TiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	for v, want := range map[byteSize]string{32 << 20: "32MiB", 1 << 30: "1GiB", 1536 << 20: "1536MiB", 1000: "1000", 0: "0"} {
		if got := v.String(); got != want {
			t.Errorf("byteSize(%d).String() = %q, want %q", int64(v), got, want)
		}
	}
}

// --cache-size (or MAILGATE_CACHE_SIZE) sets Go's soft memory limit to
// four times the cache plus 64 MiB, as /metrics shows it; GOMEMLIMIT wins; a
// size that does not parse stops serve with one clear line.
func TestServeCacheSize(t *testing.T) {
	env := func(extra ...string) []string {
		var out []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "GOMEMLIMIT=") && !strings.HasPrefix(e, "MAILGATE_") {
				out = append(out, e)
			}
		}
		return append(out, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want int64
	}{
		{"default", nil, nil, 4*32<<20 + 64<<20},
		{"flag", []string{"--cache-size", "96MiB"}, nil, 4*96<<20 + 64<<20},
		{"env", nil, []string{"MAILGATE_CACHE_SIZE=1GiB"}, 4<<30 + 64<<20},
		{"GOMEMLIMIT wins", []string{"--cache-size", "96MiB"}, []string{"GOMEMLIMIT=300MiB"}, 300 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir(), "serve", "--submission-addr", "", "--submissions-addr", "",
				"--mx-addr", "", "--imap-addr", "", "--imaps-addr", "", "--metrics-addr", "127.0.0.1:0", "--dav-addr", ""}, tc.args...)
			cmd := exec.Command(binary, args...)
			cmd.Env = env(tc.env...)
			srv := runServer(t, cmd)
			defer srv.stop(t)
			m := regexp.MustCompile(`http://(\S+)/metrics`).FindStringSubmatch(srv.banner)
			if m == nil {
				t.Fatalf("no metrics address in the banner:\n%s", srv.banner)
			}
			resp, err := http.Get("http://" + m[1] + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			g := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`).FindSubmatch(body)
			if g == nil {
				t.Fatalf("no go_gc_gomemlimit_bytes in /metrics")
			}
			if got, _ := strconv.ParseFloat(string(g[1]), 64); int64(got) != tc.want {
				t.Errorf("go_gc_gomemlimit_bytes = %s, want %d", g[1], tc.want)
			}
		})
	}
	fails(t, t.TempDir(), `invalid argument "12XB" for "--cache-size" flag: size "12XB": unknown unit "XB"`,
		"serve", "--cache-size", "12XB")
}
