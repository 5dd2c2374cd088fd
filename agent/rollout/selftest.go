package rollout

import (
	"fmt"
	"image"

	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// SelfTestReport is the outcome of running a candidate on known
// in-distribution frames.
type SelfTestReport struct {
	Frames   int
	Accepted int // frames the candidate judged in distribution
	// Want is the least acceptance that passes: the calibration's
	// achieved TPR minus the tolerance.
	Want   float64
	Passed bool
	Err    string // first inference error, if any
}

func (r SelfTestReport) String() string {
	if r.Err != "" {
		return "inference failed: " + r.Err
	}
	if r.Frames == 0 {
		return "no self-test frames; the model loaded and ran"
	}
	return fmt.Sprintf("%d of %d in-distribution frames accepted (%.0f%%), need %.0f%%",
		r.Accepted, r.Frames, 100*float64(r.Accepted)/float64(r.Frames), 100*r.Want)
}

// selfTest runs det on frames. Without frames it runs one blank frame, so
// that a model that cannot run at all still fails before it goes live.
func selfTest(det *detect.Detector, cal *ood.Calibration, frames []image.Image, tolerance float64) (rep SelfTestReport) {
	rep.Want = cal.AchievedTPR - tolerance
	defer func() {
		if p := recover(); p != nil {
			rep.Passed, rep.Err = false, fmt.Sprintf("panic: %v", p)
		}
	}()
	if len(frames) == 0 {
		if _, err := det.Image(image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
			rep.Err = err.Error()
			return rep
		}
		rep.Passed = true
		return rep
	}
	for _, img := range frames {
		r, err := det.Image(img)
		if err != nil {
			rep.Err = err.Error()
			return rep
		}
		rep.Frames++
		if !r.OOD {
			rep.Accepted++
		}
	}
	rep.Passed = float64(rep.Accepted)/float64(rep.Frames) >= rep.Want
	return rep
}
