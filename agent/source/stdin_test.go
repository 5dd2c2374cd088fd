package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

func TestStdin(t *testing.T) {
	png1 := encodePNG(t, 10, 10, 1)
	jpg := encodeJPEG(t, 16, 8, 2)
	exif := withEXIFThumbnail(t, encodeJPEG(t, 24, 16, 3), encodeJPEG(t, 8, 8, 4))
	want := [][]byte{png1, jpg, exif}

	r, w := io.Pipe()
	go func() {
		// Written in small pieces, with garbage between the images and a
		// truncated one at the end.
		stream := cat(png1, []byte("junk"), jpg, exif, jpg[:100])
		for len(stream) > 0 {
			n := min(len(stream), 333)
			w.Write(stream[:n])
			stream = stream[n:]
		}
		w.Close()
	}()
	src := NewStdin(StdinOptions{Reader: r}, nil)
	defer src.Close()
	if src.Live() {
		t.Error("Live() = true, want false")
	}
	var got []Frame
	for {
		f, err := src.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next() error %v", err)
		}
		got = append(got, f)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i, f := range got {
		// Earlier frames must not have been overwritten by later reads.
		if !bytes.Equal(f.Data, want[i]) {
			t.Errorf("frame %d: Data differs from image %d of the stream", i, i)
		}
		if f.Seq != uint64(i+1) || f.Origin != "stdin" || f.Time.IsZero() || f.Image != nil {
			t.Errorf("frame %d = {Seq %d, Origin %q, Time %v, Image %v}, want Seq %d from stdin", i, f.Seq, f.Origin, f.Time, f.Image, i+1)
		}
	}
	if c := src.Counts(); c.Skipped != 2 {
		t.Errorf("Counts().Skipped = %d, want 2 (garbage run, truncated tail)", c.Skipped)
	}
	if _, err := src.Next(t.Context()); err != io.EOF {
		t.Errorf("Next() after the end error = %v, want io.EOF", err)
	}
}

func TestStdinContextAndClose(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	src := NewStdin(StdinOptions{Reader: r, Origin: "pipe"}, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() with no data error = %v, want deadline exceeded", err)
	}
	// Still usable after the context ended.
	jpg := encodeJPEG(t, 8, 8, 1)
	go w.Write(jpg)
	f, err := src.Next(t.Context())
	if err != nil || !bytes.Equal(f.Data, jpg) || f.Origin != "pipe" {
		t.Fatalf("Next() = %d bytes from %q, %v; want the %d-byte image from pipe", len(f.Data), f.Origin, err, len(jpg))
	}
	src.Close()
	if _, err := src.Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next() after Close error = %v, want ErrClosed", err)
	}
}

func TestStdinReadError(t *testing.T) {
	boom := errors.New("boom")
	jpg := encodeJPEG(t, 8, 8, 1)
	src := NewStdin(StdinOptions{Reader: io.MultiReader(bytes.NewReader(jpg), iotest.ErrReader(boom))}, nil)
	defer src.Close()
	if _, err := src.Next(t.Context()); err != nil {
		t.Fatalf("first Next() error %v", err)
	}
	if _, err := src.Next(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Next() error = %v, want %v", err, boom)
	}
}
