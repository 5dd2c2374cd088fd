//go:build unix

package source

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testVideo writes a 2 s, 10 frames/s 64×48 test pattern video.
func testVideo(t *testing.T, ffmpeg string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.mp4")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "2", "-c:v", "mpeg4", path).CombinedOutput()
	if err != nil {
		t.Fatalf("generating the test video: %v\n%s", err, out)
	}
	return path
}

func TestFFmpegFile(t *testing.T) {
	video := testVideo(t, needFFmpeg(t))
	tests := []struct {
		name      string
		opts      FFmpegOptions
		minFrames int
		maxFrames int
	}{
		{"5 fps", FFmpegOptions{FPS: 5, Width: 32, Height: 24}, 9, 11},
		{"native rate", FFmpegOptions{Width: 64, Height: 48}, 19, 21},
		{"keep aspect", FFmpegOptions{FPS: 2, Width: 33, Height: 17, KeepAspect: true}, 3, 5},
		{"upscaled", FFmpegOptions{FPS: 1, Width: 224, Height: 224, KeepAspect: true}, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Input = video
			src, err := NewFFmpeg(tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if src.Live() {
				t.Error("Live() = true for a file, want false")
			}
			frames := drain(t, src)
			if n := len(frames); n < tt.minFrames || n > tt.maxFrames {
				t.Errorf("got %d frames, want %d to %d", n, tt.minFrames, tt.maxFrames)
			}
			for i, f := range frames {
				if f.Seq != uint64(i+1) || f.Data != nil || f.Origin != "ffmpeg:"+video {
					t.Errorf("frame %d = {Seq %d, Origin %q, %d bytes of Data}, want Seq %d, no Data", i, f.Seq, f.Origin, len(f.Data), i+1)
				}
				img, ok := f.Image.(*image.RGBA)
				if !ok {
					t.Fatalf("frame %d Image is %T, want *image.RGBA", i, f.Image)
				}
				if got, want := img.Bounds(), image.Rect(0, 0, tt.opts.Width, tt.opts.Height); got != want {
					t.Errorf("frame %d bounds = %v, want %v", i, got, want)
				}
				if !colorful(img) {
					t.Errorf("frame %d is blank", i)
				}
			}
			// Frames not released are never reused: consecutive test
			// pattern frames differ (the pattern has a moving part and a
			// counter).
			if len(frames) >= 2 && bytes.Equal(frames[0].Image.(*image.RGBA).Pix, frames[len(frames)-1].Image.(*image.RGBA).Pix) {
				t.Error("first and last frames are identical")
			}
			if _, err := src.Next(t.Context()); err != io.EOF {
				t.Errorf("Next() after the end error = %v, want io.EOF", err)
			}
		})
	}
}

// colorful reports whether img has several distinct, not all black, opaque
// pixels.
func colorful(img *image.RGBA) bool {
	seen := map[[3]byte]bool{}
	for i := 0; i+3 < len(img.Pix); i += 4 {
		if img.Pix[i+3] != 0xFF {
			return false
		}
		seen[[3]byte(img.Pix[i:i+3])] = true
	}
	delete(seen, [3]byte{})
	return len(seen) >= 4
}

func TestFFmpegReusesReleasedBuffers(t *testing.T) {
	video := testVideo(t, needFFmpeg(t))
	src, err := NewFFmpeg(FFmpegOptions{Input: video, Width: 16, Height: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	kept, err := src.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	keptPix := bytes.Clone(kept.Image.(*image.RGBA).Pix)
	buffers := map[*image.RGBA]bool{}
	for range 10 {
		f, err := src.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		buffers[f.Image.(*image.RGBA)] = true
		f.Release()
	}
	if buffers[kept.Image.(*image.RGBA)] {
		t.Error("a frame not released had its buffer reused")
	}
	if !bytes.Equal(kept.Image.(*image.RGBA).Pix, keptPix) {
		t.Error("a frame not released was overwritten")
	}
	// One frame is with the consumer and one may wait in the reader.
	if len(buffers) > 3 {
		t.Errorf("10 frames released as soon as read used %d buffers, want at most 3", len(buffers))
	}
}

func TestFFmpegFileError(t *testing.T) {
	needFFmpeg(t)
	missing := filepath.Join(t.TempDir(), "missing.mp4")
	src, err := NewFFmpeg(FFmpegOptions{Input: missing, Width: 8, Height: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for i := range 2 {
		// The file is not tried again.
		_, err = src.Next(t.Context())
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(err.Error(), "No such file or directory") {
			t.Errorf("Next() #%d error = %v, want an exit error with ffmpeg's message", i+1, err)
		}
	}
	if src.proc != nil {
		t.Error("ffmpeg started again after the input failed")
	}
}

func TestFFmpegLiveRestarts(t *testing.T) {
	needFFmpeg(t)
	var logs logRecords
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	src, err := NewFFmpeg(FFmpegOptions{
		Input:      "rtsp://cam:pa55word@127.0.0.1:1/stream", // nothing listens on port 1
		InputArgs:  []string{"-rtsp_transport", "tcp"},
		Width:      8,
		Height:     8,
		RestartMin: 40 * time.Millisecond,
		RestartMax: 160 * time.Millisecond,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if !src.Live() {
		t.Fatal("Live() = false for an rtsp input, want true")
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := src.Next(ctx)
		errc <- err
	}()
	// Each attempt takes as long as ffmpeg needs to start and fail, which
	// varies with the machine's load.
	deadline := time.Now().Add(20 * time.Second)
	for len(logs.records(t, "ffmpeg failed, restarting")) < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next() error = %v, want context canceled", err)
	}
	recs := logs.records(t, "ffmpeg failed, restarting")
	if len(recs) < 4 {
		t.Fatalf("logged %d restarts in 20s, want at least 4", len(recs))
	}
	if got := src.Counts().Errors; got != uint64(len(recs)) {
		t.Errorf("Counts().Errors = %d, want %d (one per restart)", got, len(recs))
	}
	// Delays double from [20ms, 40ms) until capped to [80ms, 160ms).
	var delays []time.Duration
	for _, r := range recs {
		delays = append(delays, time.Duration(r["delay"].(float64)))
	}
	for i, d := range delays {
		ceiling := min(40*time.Millisecond<<i, 160*time.Millisecond)
		if d < ceiling/2 || d >= ceiling {
			t.Errorf("delay %d = %v, want in [%v, %v)", i, d, ceiling/2, ceiling)
		}
	}
	msg := recs[0]["err"].(string)
	if !strings.Contains(msg, "Connection refused") {
		t.Errorf("logged error %q does not carry ffmpeg's message", msg)
	}
	if strings.Contains(msg, "pa55word") || strings.Contains(logs.String(), "pa55word") {
		t.Errorf("log leaks the input's password: %s", logs.String())
	}
}

func TestFFmpegStall(t *testing.T) {
	// A stand-in for ffmpeg reading a camera that stops sending: one
	// 8×8 frame, then nothing. Real ffmpeg cannot be made to stall on
	// cue.
	bin := filepath.Join(t.TempDir(), "stalling-ffmpeg")
	script := "#!/bin/sh\nhead -c 192 /dev/urandom\nexec sleep 60\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var logs logRecords
	src, err := NewFFmpeg(FFmpegOptions{
		Input:        "rtsp://127.0.0.1/stalls",
		Binary:       bin,
		Width:        8,
		Height:       8,
		StallTimeout: 300 * time.Millisecond,
		RestartMin:   10 * time.Millisecond,
	}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	for i := range 3 {
		// Each frame after the first comes from a restarted process.
		if _, err := nextWithin(t, src, 5*time.Second); err != nil {
			t.Fatalf("Next() #%d error %v", i+1, err)
		}
	}
	if elapsed := time.Since(start); elapsed < 600*time.Millisecond {
		t.Errorf("3 frames with 2 stalls of 300ms took %v", elapsed)
	}
	recs := logs.records(t, "ffmpeg failed, restarting")
	if len(recs) != 2 {
		t.Fatalf("logged %d restarts, want 2", len(recs))
	}
	for _, r := range recs {
		if msg := r["err"].(string); !strings.Contains(msg, "no frame for 300ms") {
			t.Errorf("restart logged for %q, want a stall", msg)
		}
		// Each run delivered a frame: the backoff starts over.
		if d := time.Duration(r["delay"].(float64)); d >= 10*time.Millisecond {
			t.Errorf("restart delay %v, want below 10ms after a run that delivered", d)
		}
	}
	if got := src.Counts().Errors; got != 2 {
		t.Errorf("Counts().Errors = %d, want 2", got)
	}
}

func TestFFmpegClose(t *testing.T) {
	needFFmpeg(t)
	src, err := NewFFmpeg(FFmpegOptions{
		Input:     "testsrc=size=32x32:rate=25",
		InputArgs: []string{"-re", "-f", "lavfi"},
		Width:     16,
		Height:    16,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := nextWithin(t, src, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	src.mu.Lock()
	p := src.proc
	src.mu.Unlock()
	pid := p.cmd.Process.Pid
	errc := make(chan error, 1)
	go func() {
		// The reader blocks with a frame nobody takes: Close must still
		// end it.
		time.Sleep(200 * time.Millisecond)
		errc <- src.Close()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("Close() error %v", err)
	}
	if p.cmd.ProcessState == nil {
		t.Error("ffmpeg was not waited for")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, err := src.Next(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next() after Close error = %v, want ErrClosed", err)
	}
}

func TestNewFFmpegErrors(t *testing.T) {
	tests := []struct {
		name string
		opts FFmpegOptions
		want error
	}{
		{"no input", FFmpegOptions{Width: 8, Height: 8}, nil},
		{"no size", FFmpegOptions{Input: "x.mp4"}, nil},
		{"negative fps", FFmpegOptions{Input: "x.mp4", Width: 8, Height: 8, FPS: -1}, nil},
		{"missing binary", FFmpegOptions{Input: "x.mp4", Width: 8, Height: 8, Binary: "/nonexistent/ffmpeg"}, fs.ErrNotExist},
		{"binary not in PATH", FFmpegOptions{Input: "x.mp4", Width: 8, Height: 8, Binary: "no-such-ffmpeg-binary"}, exec.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewFFmpeg(tt.opts, nil)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("NewFFmpeg() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFFmpegArgs(t *testing.T) {
	tests := []struct {
		opts FFmpegOptions
		want []string
	}{
		{
			FFmpegOptions{Input: "rtsp://cam/s", InputArgs: []string{"-rtsp_transport", "tcp"}, FPS: 2.5, Width: 224, Height: 160},
			[]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", "rtsp://cam/s",
				"-an", "-vf", "fps=2.5,scale=224:160", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"},
		},
		{
			FFmpegOptions{Input: "/dev/video0", Width: 96, Height: 96, KeepAspect: true},
			[]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-i", "/dev/video0",
				"-an", "-vf", "scale=96:96:force_original_aspect_ratio=increase,crop=96:96", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"},
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ffmpegArgs(tt.opts)); diff != "" {
			t.Errorf("ffmpegArgs(%+v) (-want +got):\n%s", tt.opts, diff)
		}
	}
}

func TestIsLiveInput(t *testing.T) {
	tests := []struct {
		input string
		args  []string
		want  bool
	}{
		{"rtsp://10.0.0.5/stream1", nil, true},
		{"RTSPS://cam/x", nil, true},
		{"http://cam/mjpeg", nil, true},
		{"udp://@:1234", nil, true},
		{"/dev/video0", nil, true},
		{"0", []string{"-f", "v4l2"}, true},
		{"video.mp4", nil, false},
		{"/data/clip.mkv", nil, false},
		{"file:///data/clip.mkv", nil, false},
		{"testsrc", []string{"-f", "lavfi"}, false},
	}
	for _, tt := range tests {
		if got := isLiveInput(tt.input, tt.args); got != tt.want {
			t.Errorf("isLiveInput(%q, %q) = %v, want %v", tt.input, tt.args, got, tt.want)
		}
	}
}

func TestRedactInput(t *testing.T) {
	shown, redact := redactInput("rtsp://admin:p%40ss@cam/live")
	if shown != "rtsp://admin:xxxxx@cam/live" {
		t.Errorf("shown input = %q, want the password masked", shown)
	}
	if got := redact("cannot open rtsp://admin:p@ss@cam and p%40ss"); strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") {
		t.Errorf("redact() = %q, still holds the password", got)
	}
	if shown, redact := redactInput("/dev/video0"); shown != "/dev/video0" || redact("x") != "x" {
		t.Errorf("redactInput of a path changed it: %q", shown)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 16}
	tb.Write([]byte("first line\nsecond\n"))
	tb.Write([]byte("third\r\n"))
	if got, want := tb.String(), "second; third"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if len(tb.buf) > 16 {
		t.Errorf("kept %d bytes, want at most 16", len(tb.buf))
	}
}

func TestRGBToRGBA(t *testing.T) {
	for n := range 11 {
		src := make([]byte, 3*n)
		for i := range src {
			src[i] = byte(i + 1)
		}
		want := make([]byte, 4*n)
		for i := range n {
			copy(want[4*i:], src[3*i:3*i+3])
			want[4*i+3] = 0xFF
		}
		dst := bytes.Repeat([]byte{0xEE}, 4*n)
		rgbToRGBA(dst, src)
		if !bytes.Equal(dst, want) {
			t.Errorf("rgbToRGBA(%d pixels) = %v, want %v", n, dst, want)
		}
	}
}

func BenchmarkFFmpeg224(b *testing.B) {
	needFFmpeg(b)
	src, err := NewFFmpeg(FFmpegOptions{
		Input:     "testsrc2=size=640x480:rate=30",
		InputArgs: []string{"-f", "lavfi"},
		Width:     224,
		Height:    224,
		Live:      LiveOff,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	if f, err := src.Next(b.Context()); err != nil { // start-up not measured
		b.Fatal(err)
	} else {
		f.Release()
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		f, err := src.Next(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		f.Release()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
}

func BenchmarkRGBToRGBA224(b *testing.B) {
	src := make([]byte, 224*224*3)
	dst := make([]byte, 224*224*4)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		rgbToRGBA(dst, src)
	}
}
