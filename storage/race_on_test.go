//go:build race

package storage

// raceSlowdown scales time bounds in tests: the race detector makes
// map-heavy code about five times slower.
const raceSlowdown = 5
