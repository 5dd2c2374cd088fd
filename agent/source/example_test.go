package source_test

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/ood-agent/ood-agent/agent/source"
)

func Example() {
	dir, err := os.MkdirTemp("", "inbox")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"b.png", "a.png"} {
		f, _ := os.Create(filepath.Join(dir, name))
		png.Encode(f, image.NewGray(image.Rect(0, 0, 2, 2)))
		f.Close()
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)

	opts := source.Options{Type: source.TypeDir, Queue: 2, Dir: source.DirOptions{Path: dir}}
	src, err := source.New(opts, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	pump := source.StartPump(context.Background(), src, opts.PumpOptions())
	for f := range pump.Frames() {
		fmt.Println(f.Seq, filepath.Base(f.Origin), len(f.Data) > 0)
		f.Release()
	}
	if err := pump.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1 a.png true
	// 2 b.png true
}
