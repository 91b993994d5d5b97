//go:build !linux

package storage

import "log/slog"

// mapTrimmer bounds the resident pages of Badger's mappings on Linux
// (mapped_linux.go); elsewhere the kernel alone decides.
type mapTrimmer struct{}

func startTrimmer(string, int64, *slog.Logger) *mapTrimmer { return nil }

func (*mapTrimmer) stop() {}
