//go:build !race

package storage

// raceSlowdown scales time bounds in tests (see race_on_test.go).
const raceSlowdown = 1
