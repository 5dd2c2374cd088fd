package source

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		opts     Options
		wantType string
		wantLive bool
	}{
		{"dir", Options{Type: TypeDir, Dir: DirOptions{Path: dir}}, "*source.Dir", false},
		{"http", Options{Type: TypeHTTP, HTTP: HTTPOptions{URL: "http://127.0.0.1:1/snap.jpg"}}, "*source.HTTP", true},
		{"stdin", Options{Type: TypeStdin, Stdin: StdinOptions{Reader: bytes.NewReader(nil)}}, "*source.Stdin", false},
		{"ffmpeg", Options{Type: TypeFFmpeg, FFmpeg: FFmpegOptions{Input: "/dev/video0", Width: 8, Height: 8}}, "*source.FFmpeg", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Type == TypeFFmpeg {
				tt.opts.FFmpeg.Binary = needFFmpeg(t)
			}
			src, err := New(tt.opts, nil)
			if err != nil {
				t.Fatalf("New() error %v", err)
			}
			defer src.Close()
			if got := fmt.Sprintf("%T", src); got != tt.wantType {
				t.Errorf("New() = %s, want %s", got, tt.wantType)
			}
			if got := src.Live(); got != tt.wantLive {
				t.Errorf("Live() = %v, want %v", got, tt.wantLive)
			}
			if _, ok := src.(Counter); !ok {
				t.Errorf("%T does not implement Counter", src)
			}
		})
	}
	for _, typ := range []string{"", "camera", "DIR"} {
		if _, err := New(Options{Type: typ}, nil); err == nil {
			t.Errorf("New(Type %q) error = nil, want an error", typ)
		}
	}
}

func TestOptionsPumpOptions(t *testing.T) {
	o := Options{FPS: 2.5, Queue: 7}
	if got, want := o.PumpOptions(), (PumpOptions{FPS: 2.5, Queue: 7}); got != want {
		t.Errorf("PumpOptions() = %+v, want %+v", got, want)
	}
}

// TestPumpDir runs a pump over a real source to its end.
func TestPumpDir(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.jpg", i)), encodeJPEG(t, 8, 8, i))
	}
	writeFile(t, filepath.Join(dir, "9.jpg"), []byte("junk"))
	src, err := NewDir(DirOptions{Path: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := StartPump(t.Context(), src, PumpOptions{Queue: 1})
	var got []uint64
	for f := range p.Frames() {
		time.Sleep(5 * time.Millisecond) // slower than the source: it must wait
		got = append(got, f.Seq)
	}
	if len(got) != 5 || !increasing(got) {
		t.Errorf("frames %v, want 5 in order", got)
	}
	if st := p.Stats(); st != (Stats{Frames: 5, Skipped: 1}) {
		t.Errorf("Stats() = %+v, want 5 frames, 1 skipped", st)
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
}

// TestPumpSurfacesFatal shows a source that cannot continue ending the
// pump with its error.
func TestPumpSurfacesFatal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inbox")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := NewDir(DirOptions{Path: dir, Watch: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	p := StartPump(ctx, src, PumpOptions{})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	for range p.Frames() {
	}
	if err := p.Err(); err == nil || ctx.Err() != nil {
		t.Errorf("Err() = %v (context: %v), want the directory's removal", err, ctx.Err())
	}
	if st := p.Stats(); st.Errors != 1 {
		t.Errorf("Stats().Errors = %d, want 1", st.Errors)
	}
}
