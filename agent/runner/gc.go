package runner

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
)

// The agent's garbage-collection target. Decoding frames leaves garbage
// every frame (image/jpeg and image/png allocate each decoded image: about
// 0.5 MB for a 640×480 JPEG). With a small model the live heap is small and
// Go's default (GOGC=100) collects every few hundred frames, taking time
// from inference on two cores; with a camera-size model the interpreter's
// buffers are tens of MB, and a fixed large GOGC would multiply them. So
// the heap may grow between collections by gcHeadroom, as a percentage of
// the live heap within [gcMinPercent, gcMaxPercent]. 2 MB keeps the bird
// model's agent at 37 MB peak RSS against 44–45 MB with 8 MB, for one
// collection (≈ 0.7 ms of CPU with a 12 MB live heap) every four 640×480
// frames, which the frame rates did not show (docs/performance.md).
const (
	gcHeadroom   = 2 << 20
	gcMinPercent = 25
	gcMaxPercent = 400
)

// TuneGC sets the agent's garbage-collection target for the heap live now,
// unless the operator set GOGC; GOMEMLIMIT still bounds memory when set.
// Call it once the model is loaded (after New): it collects once to
// measure the live heap.
func TuneGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	runtime.GC()
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(sample)
	debug.SetGCPercent(gcPercent(sample[0].Value.Uint64()))
}

// gcPercent is the GOGC that lets a heap of live bytes grow by gcHeadroom.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	return int(min(max(uint64(gcHeadroom)*100/live, gcMinPercent), gcMaxPercent))
}
