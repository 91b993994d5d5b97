package storage_test

import (
	"slices"
	"testing"

	"github.com/mailgate/mailgate/storage"
)

// TestCensusDiff: every count that differs is named, with the source's
// value first, and so is each folder that differs, is missing or is only
// in the target; equal censuses have no differences.
func TestCensusDiff(t *testing.T) {
	src := storage.Census{Tenants: 1, Principals: 3, Messages: 5, MessageBytes: 500, PerFolder: map[uint64]storage.FolderCensus{
		1: {UIDValidity: 1, UIDNext: 4, HighestModSeq: 7, Messages: 3, Bytes: 300, UIDSum: 6},
		2: {UIDValidity: 2, UIDNext: 3, HighestModSeq: 3, Messages: 2, Bytes: 200, UIDSum: 3},
		3: {UIDValidity: 3, UIDNext: 1, HighestModSeq: 1},
	}}
	if d := src.Diff(src); d != nil {
		t.Errorf("Diff of a census with itself: %q", d)
	}
	dst := src
	dst.Principals, dst.MessageBytes = 2, 400
	dst.PerFolder = map[uint64]storage.FolderCensus{
		1: src.PerFolder[1],
		2: {UIDValidity: 2, UIDNext: 3, HighestModSeq: 3, Messages: 2, Bytes: 100, UIDSum: 3},
		4: {UIDValidity: 4, UIDNext: 1, HighestModSeq: 1},
	}
	want := []string{
		"principals: 3 in the source, 2 in the target",
		"message bytes: 500 in the source, 400 in the target",
		"folder 2: {UIDValidity:2 UIDNext:3 HighestModSeq:3 Messages:2 Bytes:200 UIDSum:3} in the source, {UIDValidity:2 UIDNext:3 HighestModSeq:3 Messages:2 Bytes:100 UIDSum:3} in the target",
		"folder 3: missing in the target",
		"folder 4: only in the target",
	}
	if d := src.Diff(dst); !slices.Equal(d, want) {
		t.Errorf("Diff =\n%q\nwant\n%q", d, want)
	}
}
