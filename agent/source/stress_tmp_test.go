package source

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

func TestStressTmp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	png1 := encodePNG(t, 6, 4, 1)
	jpg := encodeJPEG(t, 8, 8, 2)
	exif := withEXIFThumbnail(t, encodeJPEG(t, 12, 10, 3), encodeJPEG(t, 4, 4, 4))
	seeds := [][]byte{cat(png1, jpg), cat([]byte("xx\xff"), exif, []byte("\x89PNG"), png1[:30]), cat(jpg, exif), syntheticJPEG()}
	for iter := range 3000 {
		data := bytes.Clone(seeds[rng.IntN(len(seeds))])
		for range rng.IntN(5) {
			switch rng.IntN(3) {
			case 0:
				data[rng.IntN(len(data))] = byte(rng.Uint32())
			case 1:
				data = data[:rng.IntN(len(data))+1]
			case 2:
				i := rng.IntN(len(data))
				data = append(data[:i:i], append([]byte{byte(rng.Uint32())}, data[i:]...)...)
			}
		}
		lim := uint16(rng.Uint32())
		done := make(chan struct{})
		go func() {
			checkSplit(t, data, lim)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("iter %d hang: %q lim %d", iter, data, lim)
		}
	}
}
