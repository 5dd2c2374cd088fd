package runner

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/interp"
	"github.com/ood-agent/ood-agent/model/ood"
)

// BenchmarkPipelineCamera is BenchmarkPipeline on a camera-size model: the
// 224×224 bird classifier of ../shared/conformance on JPEG frames as a
// camera delivers them, at the source's resolution (resized by the agent)
// and already at the model's. x-interpreter is the agent's frame rate over
// Invoke's alone at the same thread count.
func BenchmarkPipelineCamera(b *testing.B) {
	TuneGC()
	path := filepath.Join("..", "..", "..", "shared", "conformance", "inat_bird_v2_224_uint8", "model.tflite")
	file, err := model.Open(path)
	if err != nil {
		b.Skipf("camera model: %v (the shared conformance set is not here)", err)
	}
	for _, threads := range []int{1, 2} {
		it, err := interp.New(file.Model, interp.Options{Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		// A calibration over energies the model gives on a few frames:
		// the benchmark measures speed, not the detector's quality.
		calib, err := ood.Calibrate(file.SHA256(), ood.MethodEnergy, 1, 0.95, []float64{-1, 0, 1, 2, 3})
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []struct {
			name string
			w, h int
		}{{"224x224", 224, 224}, {"640x480", 640, 480}} {
			frames := cameraFrames(b, 40, size.w, size.h)
			b.Run(size.name+"/threads="+string(rune('0'+threads)), func(b *testing.B) {
				benchmarkPipelineThreads(b, file, calib, frames, it, threads)
			})
		}
		it.Close()
	}
}

// cameraFrames makes n JPEG frames of w×h with smooth gradients and noise,
// about what a camera's encoder gets.
func cameraFrames(b *testing.B, n, w, h int) [][]byte {
	rng := rand.New(rand.NewPCG(7, uint64(w)))
	out := make([][]byte, n)
	for i := range out {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				n := uint8(rng.IntN(24))
				img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y+i*7)%256) / 2, 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
			b.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}
