package runner

import (
	"bytes"
	"image"
	"image/png"
	"reflect"
	"slices"
	"testing"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/rollout"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/model/preprocess"
)

// TestControlDefaults keeps the defaults that config mirrors equal to the
// control and rollout packages' own.
func TestControlDefaults(t *testing.T) {
	c, r := controlConfig(config.Default().Control)
	if want := control.DefaultConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("control defaults in config: %+v, control.DefaultConfig: %+v", c, want)
	}
	if want := rollout.DefaultConfig(); r != want {
		t.Errorf("control.rollout defaults in config: %+v, rollout.DefaultConfig: %+v", r, want)
	}
}

// TestFrameRing keeps the last n frames, decodes kept bytes and copies
// images given without bytes.
func TestFrameRing(t *testing.T) {
	r := newFrameRing(3, preprocess.Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20})
	for i := range 5 {
		img := image.NewGray(image.Rect(0, 0, 4, 4))
		img.Pix[0] = uint8(i)
		if i%2 == 0 {
			var b bytes.Buffer
			png.Encode(&b, img)
			r.add(b.Bytes(), nil)
		} else {
			r.add(nil, img)
			img.Pix[0] = 255 // the ring holds a copy
		}
	}
	got := r.images()
	if len(got) != 3 {
		t.Fatalf("%d frames kept, want 3", len(got))
	}
	var firsts []uint8
	for _, img := range got {
		g, _, _, _ := img.At(0, 0).RGBA()
		firsts = append(firsts, uint8(g>>8))
	}
	slices.Sort(firsts)
	if want := []uint8{2, 3, 4}; !slices.Equal(firsts, want) {
		t.Errorf("kept frames %v, want the last three %v", firsts, want)
	}
	if empty := newFrameRing(0, preprocess.Limits{}); len(func() []image.Image { empty.add([]byte{1}, nil); return empty.images() }()) != 0 {
		t.Error("a ring of size 0 kept a frame")
	}
}

func BenchmarkFrameRingAdd(b *testing.B) {
	r := newFrameRing(32, preprocess.Limits{})
	data := make([]byte, 40<<10) // a typical camera JPEG
	b.ReportAllocs()
	for b.Loop() {
		r.add(data, nil)
	}
}
