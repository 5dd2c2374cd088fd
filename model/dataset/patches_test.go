package dataset

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestPatches(t *testing.T) {
	dir := t.TempDir()
	// A 100×80 image whose left half is black and right half white.
	img := image.NewRGBA(image.Rect(0, 0, 100, 80))
	for y := 0; y < 80; y++ {
		for x := 0; x < 100; x++ {
			if x >= 50 {
				img.Set(x, y, color.White)
			} else {
				img.Set(x, y, color.Black)
			}
		}
	}
	f, err := os.Create(filepath.Join(dir, "half.png"))
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, img)
	f.Close()
	os.WriteFile(filepath.Join(dir, "broken.jpg"), []byte("not a jpeg"), 0o644)

	paths, err := ImageFiles(dir)
	if err != nil || len(paths) != 2 {
		t.Fatalf("ImageFiles = %v, %v; want 2 files", paths, err)
	}
	if got := Split(paths, false); len(got) != 1 || got[0] != paths[0] {
		t.Errorf("Split(even) = %v", got)
	}
	a, err := Patches(paths, 50, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Patches(paths, 50, 28, 1)
	if a.N != 50 || len(a.Pixels) != 50*28*28 {
		t.Fatalf("Patches: N=%d, %d pixels", a.N, len(a.Pixels))
	}
	if string(a.Pixels) != string(b.Pixels) {
		t.Error("Patches is not deterministic for a fixed seed")
	}
	sawBlack, sawWhite := false, false
	for _, p := range a.Pixels {
		sawBlack = sawBlack || p == 0
		sawWhite = sawWhite || p == 255
	}
	if !sawBlack || !sawWhite {
		t.Errorf("patches miss one half of the image: black %v white %v", sawBlack, sawWhite)
	}
	if _, err := Patches(nil, 1, 28, 1); err == nil {
		t.Error("Patches on an empty directory: want an error")
	}
}
