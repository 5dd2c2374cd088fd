package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoders for the outlier images
	_ "image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// ImageFiles lists the PNG and JPEG files below dir, sorted.
func ImageFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && IsImageFile(p) {
			paths = append(paths, p)
		}
		return nil
	})
	slices.Sort(paths)
	return paths, err
}

// Split returns every other element of paths: the even-indexed ones when
// second is false, the odd-indexed ones otherwise. Training and evaluation
// take different halves so that no image serves both.
func Split(paths []string, second bool) []string {
	var out []string
	for i, p := range paths {
		if (i%2 == 1) == second {
			out = append(out, p)
		}
	}
	return out
}

// Patches cuts n random square patches from the images (PNG, JPEG) and
// scales each down to side×side grayscale by area averaging. Patch sizes
// range from side to the image's shorter edge, so the set mixes close-up
// texture with whole scenes. The result is a deterministic function of the
// images and seed; it serves as auxiliary outlier data for energy-bounded
// fine-tuning, and a held-out half as an evaluation set.
func Patches(paths []string, n, side int, seed uint64) (*Images, error) {
	var grays []*image.Gray
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			continue // a deliberately broken test image, say
		}
		b := img.Bounds()
		if b.Dx() < 2*side || b.Dy() < 2*side {
			continue
		}
		g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				r, gg, bb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				g.Pix[y*g.Stride+x] = uint8((19595*r + 38470*gg + 7471*bb + 1<<15) >> 24)
			}
		}
		grays = append(grays, g)
	}
	if len(grays) == 0 {
		return nil, fmt.Errorf("no PNG or JPEG images of at least %d×%d pixels among %d files", 2*side, 2*side, len(paths))
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := &Images{N: n, Height: side, Width: side, Pixels: make([]uint8, n*side*side)}
	for i := 0; i < n; i++ {
		g := grays[rng.IntN(len(grays))]
		w, h := g.Rect.Dx(), g.Rect.Dy()
		size := side + rng.IntN(min(w, h)-side+1)
		x0, y0 := rng.IntN(w-size+1), rng.IntN(h-size+1)
		dst := out.At(i)
		for y := 0; y < side; y++ {
			sy0, sy1 := y0+y*size/side, y0+(y+1)*size/side
			for x := 0; x < side; x++ {
				sx0, sx1 := x0+x*size/side, x0+(x+1)*size/side
				sum, cnt := 0, 0
				for sy := sy0; sy < max(sy1, sy0+1); sy++ {
					for sx := sx0; sx < max(sx1, sx0+1); sx++ {
						sum += int(g.Pix[sy*g.Stride+sx])
						cnt++
					}
				}
				dst[y*side+x] = uint8((sum + cnt/2) / cnt)
			}
		}
	}
	return out, nil
}
