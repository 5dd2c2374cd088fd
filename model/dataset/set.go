package dataset

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ood-agent/ood-agent/model/preprocess"
)

// Set is an ordered collection of inputs: image files, the images of an idx
// file, or generated noise.
type Set struct {
	Name string
	// Files lists image file paths when the set is made of files.
	Files []string
	// Ignored lists the files of a directory set that are not images by
	// their extension (hidden files aside), so that callers can say what
	// they skipped.
	Ignored []string
	// Images holds decoded grayscale images (idx files, noise).
	Images *Images
}

// Len is the number of inputs.
func (s *Set) Len() int {
	if s.Images != nil {
		return s.Images.N
	}
	return len(s.Files)
}

// Open reads a set: a directory (searched recursively for image files, see
// IsImageFile), an idx3 image file (gzipped or not), a single image file, or
// "noise:uniform[:N]" / "noise:gaussian[:N]" — N seeded 28×28 noise images
// (default 10000), a standard synthetic out-of-distribution set.
func Open(path string) (*Set, error) {
	if strings.HasPrefix(path, "noise:") {
		return noise(path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	set := &Set{Name: filepath.Base(path)}
	if st.IsDir() {
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
			case IsImageFile(p):
				set.Files = append(set.Files, p)
			case !strings.HasPrefix(d.Name(), "."):
				set.Ignored = append(set.Ignored, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.Sort(set.Files)
		if len(set.Files) == 0 {
			return nil, fmt.Errorf("%s: no image files (.png, .jpg, .bmp, .gif, .webp)", path)
		}
		return set, nil
	}
	if isIdx(path) {
		images, err := ReadIdxImages(path)
		if err != nil {
			return nil, err
		}
		set.Images = images
		return set, nil
	}
	set.Files = []string{path}
	return set, nil
}

// IsImageFile reports whether a file name has the extension of an image
// format the preprocessor decodes (PNG, JPEG, BMP, GIF, WebP).
func IsImageFile(name string) bool { return preprocess.IsImageFile(name) }

// isIdx sniffs the idx3 magic, looking through gzip.
func isIdx(path string) bool {
	if strings.Contains(filepath.Base(path), "idx3") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [4]byte
	if _, err := f.Read(head[:]); err != nil {
		return false
	}
	return head[0] == 0 && head[1] == 0 && head[2] == 8 && head[3] == 3
}

func noise(spec string) (*Set, error) {
	parts := strings.Split(spec, ":")
	n := 10000
	if len(parts) == 3 {
		v, err := strconv.Atoi(parts[2])
		if err != nil || v < 1 || v > 1_000_000 {
			return nil, fmt.Errorf("%s: count must be 1..1000000", spec)
		}
		n = v
	}
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("%s: want noise:uniform[:N] or noise:gaussian[:N]", spec)
	}
	const side = 28
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	img := &Images{N: n, Height: side, Width: side, Pixels: make([]uint8, n*side*side)}
	switch parts[1] {
	case "uniform":
		for i := range img.Pixels {
			img.Pixels[i] = uint8(rng.IntN(256))
		}
	case "gaussian":
		for i := range img.Pixels {
			v := 127.5 + 64*rng.NormFloat64()
			img.Pixels[i] = uint8(max(0, min(255, v)))
		}
	default:
		return nil, fmt.Errorf("%s: unknown noise %q", spec, parts[1])
	}
	return &Set{Name: "noise-" + parts[1], Images: img}, nil
}
