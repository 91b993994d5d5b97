package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// byteSize is a flag value in bytes written with an optional unit: 64MiB,
// 1GiB, 512k (K, M, G, T and KiB… are powers of 1024; kB, MB, GB, TB of
// 1000), or a plain number of bytes. Units are case-insensitive.
type byteSize int64

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (want e.g. 64MiB or 1GiB)", s, t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (e.g. 64MiB or 1GiB)", s)
	}
	if v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v * mult), nil
}

func (b *byteSize) Set(s string) error {
	v, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func (b *byteSize) Type() string { return "size" }

// String writes the size in the largest binary unit that divides it.
func (b byteSize) String() string {
	v := int64(b)
	for _, u := range []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10)
}

// memoryLimit is the Go soft memory limit for a cache size: the memtables
// and block cache live on the Go heap, next to everything else (sessions,
// the IMAP folder indexes, messages in flight, Badger's table builders).
// A limit near the live heap of a busy server makes the collector run
// back to back (it did at 2×cache+64MiB: half the throughput), so this is
// a ceiling for bursts, not the working size.
func memoryLimit(cacheSize int64) int64 { return 4*cacheSize + 64<<20 }

// setMemoryLimit sets Go's soft memory limit from the cache size unless
// GOMEMLIMIT says otherwise, and returns the limit in force.
func setMemoryLimit(cacheSize int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	l := memoryLimit(cacheSize)
	debug.SetMemoryLimit(l)
	return l
}
