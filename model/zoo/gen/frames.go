package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ood-agent/ood-agent/model/dataset"
)

// writeFrames writes the demo's sample frames: in-distribution Fashion-MNIST
// test images (one per class for the first eight classes) and
// out-of-distribution images (MNIST test digits, uniform noise, a
// checkerboard).
func writeFrames(dir string, fashion *dataset.Images, fashionLabels []uint8, mnistDir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, pix []uint8) error {
		img := &image.Gray{Pix: append([]uint8(nil), pix...), Stride: 28, Rect: image.Rect(0, 0, 28, 28)}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
	}
	labels := dataset.FashionMNISTLabels()
	seen := map[uint8]bool{}
	n := 0
	for i := 0; i < fashion.N && n < 8; i++ {
		l := fashionLabels[i]
		if seen[l] {
			continue
		}
		seen[l] = true
		n++
		if err := write(fmt.Sprintf("%02d-fashion-%s.png", n, slug(labels[l])), fashion.At(i)); err != nil {
			return err
		}
	}
	mnist, err := dataset.ReadIdxImages(filepath.Join(mnistDir, "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		return err
	}
	for i := 0; i < 4; i++ {
		n++
		if err := write(fmt.Sprintf("%02d-mnist-digit.png", n), mnist.At(i)); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 2; i++ {
		pix := make([]uint8, 28*28)
		for k := range pix {
			pix[k] = uint8(rng.IntN(256))
		}
		n++
		if err := write(fmt.Sprintf("%02d-noise.png", n), pix); err != nil {
			return err
		}
	}
	pix := make([]uint8, 28*28)
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			if (x/4+y/4)%2 == 0 {
				pix[y*28+x] = 255
			}
		}
	}
	n++
	return write(fmt.Sprintf("%02d-checkerboard.png", n), pix)
}

func slug(s string) string {
	var b []byte
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			if len(b) > 0 && b[len(b)-1] != '-' {
				b = append(b, '-')
			}
		}
	}
	return string(bytes.TrimRight(b, "-"))
}
