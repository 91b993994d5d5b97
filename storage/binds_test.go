package storage

import (
	"testing"
	"time"
)

func TestBindWindow(t *testing.T) {
	var b BindWindow[string]
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if !b.First("a", t0, time.Hour) || b.First("a", t0.Add(59*time.Minute), time.Hour) {
		t.Error("a second open in the same window is not first, the first one is")
	}
	if !b.First("b", t0, time.Hour) {
		t.Error("another key is first in its window")
	}
	if !b.First("a", t0.Add(time.Hour), time.Hour) {
		t.Error("the next window starts afresh")
	}
	b.Forget("a")
	if !b.First("a", t0.Add(time.Hour), time.Hour) {
		t.Error("a forgotten key is first again")
	}
	for i := range 2 {
		if !b.First("a", t0, -1) {
			t.Errorf("open %d with a negative window is not recorded: it records every open", i+1)
		}
	}
}
