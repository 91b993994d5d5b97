//go:build race

package smtp

// raceEnabled: the race detector changes what the heap holds (every
// allocation is instrumented), so heap measurements only log.
const raceEnabled = true
