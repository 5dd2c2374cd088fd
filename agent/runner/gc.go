package runner

import (
	"os"
	"runtime/debug"
)

// gcPercent is the agent's garbage-collection target. Decoding PNG and JPEG
// frames allocates a little per frame; with Go's default (100) the collector
// runs every few hundred frames on a small heap and, on two cores, takes
// time from inference. 400 cuts that overhead by about a fifth of a frame
// budget for some 15 MB more resident memory (docs/performance.md).
const gcPercent = 400

// TuneGC applies the agent's garbage-collection target unless the operator
// set GOGC; GOMEMLIMIT still bounds memory when set.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
