package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ood-agent/ood-agent/agent/backoff"
	"github.com/ood-agent/ood-agent/agent/clock"
)

// Liveness overrides whether an ffmpeg input is treated as live.
type Liveness int

const (
	// LiveAuto treats stream URLs (rtsp, rtmp, http, udp, ...), devices
	// under /dev and capture formats (-f v4l2 and the like) as live and
	// everything else as a file.
	LiveAuto Liveness = iota
	// LiveOn treats the input as live.
	LiveOn
	// LiveOff treats the input as a file.
	LiveOff
)

// FFmpegOptions configures an FFmpeg source.
type FFmpegOptions struct {
	// Input is given to ffmpeg -i: an RTSP URL, /dev/video0, a file.
	Input string
	// InputArgs are placed before -i, e.g. -rtsp_transport tcp.
	InputArgs []string
	// FPS is the rate ffmpeg extracts frames at; 0 keeps every frame.
	FPS float64
	// Binary is the ffmpeg executable, looked up in PATH unless it
	// contains a slash. Empty means "ffmpeg".
	Binary string
	// Width and Height are the size of the frames delivered. Both must be
	// positive.
	Width, Height int
	// KeepAspect scales the input to cover Width×Height and crops the
	// centre, instead of stretching it.
	KeepAspect bool
	// Live overrides whether the input is live.
	Live Liveness
	// RestartMin and RestartMax bound the backoff between restarts of a
	// live input. Zero means 1s and 1m.
	RestartMin, RestartMax time.Duration
	// StallTimeout restarts a live input that delivers no frame for this
	// long. Zero means 30s; negative disables the check.
	StallTimeout time.Duration
	// Clock times restarts; nil means the system clock. (The stall
	// timeout runs on the system clock.)
	Clock clock.Clock
}

// FFmpeg is a source that decodes frames with an ffmpeg child process.
//
// Frames carry an *image.RGBA (opaque) of Width×Height in Image and no
// Data. Their pixel buffers come from a small pool: a consumer that calls
// Frame.Release when done with a frame lets the next frames reuse it, so
// that steady-state decoding does not allocate. A frame stays valid until
// it is released.
//
// When ffmpeg exits, a live input is restarted after a capped exponential
// backoff with jitter (reset once a run delivers a frame); the failure,
// with the tail of ffmpeg's standard error, is logged and counted. A file
// input ends with io.EOF, or with an error carrying that tail if ffmpeg
// failed.
type FFmpeg struct {
	log       *slog.Logger
	live      bool
	origin    string
	bin       string
	args      []string
	width     int
	height    int
	stall     time.Duration
	redact    func(string) string
	pool      chan *frameBuf
	done      chan struct{} // closed by Close
	restart   backoff.Backoff
	clock     clock.Clock
	notBefore time.Time // no restart before this
	finished  bool      // a file input reached its end
	endErr    error     // io.EOF or why ffmpeg failed, once finished
	seq       uint64
	counters

	mu     sync.Mutex
	closed bool
	proc   *ffmpegProc
}

// framePool is how many released frame buffers an FFmpeg source keeps for
// reuse. Buffers in flight are not limited by it.
const framePool = 4

// NewFFmpeg returns an FFmpeg source. The process starts on the first call
// to Next. A nil log discards.
func NewFFmpeg(opts FFmpegOptions, log *slog.Logger) (*FFmpeg, error) {
	if opts.Input == "" {
		return nil, errors.New("source: ffmpeg input is empty")
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		return nil, fmt.Errorf("source: ffmpeg frame size %dx%d is not positive", opts.Width, opts.Height)
	}
	if opts.FPS < 0 {
		return nil, fmt.Errorf("source: ffmpeg fps %v is negative", opts.FPS)
	}
	if opts.Binary == "" {
		opts.Binary = "ffmpeg"
	}
	bin, err := exec.LookPath(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("source: ffmpeg: %w", err)
	}
	if opts.RestartMin <= 0 {
		opts.RestartMin = time.Second
	}
	if opts.RestartMax <= 0 {
		opts.RestartMax = time.Minute
	}
	opts.RestartMax = max(opts.RestartMax, opts.RestartMin)
	if opts.StallTimeout == 0 {
		opts.StallTimeout = 30 * time.Second
	}
	live := opts.Live == LiveOn || opts.Live == LiveAuto && isLiveInput(opts.Input, opts.InputArgs)
	shown, redact := redactInput(opts.Input)
	f := &FFmpeg{
		log:     orDiscard(log).With("source", "ffmpeg", "input", shown),
		live:    live,
		origin:  "ffmpeg:" + shown,
		bin:     bin,
		args:    ffmpegArgs(opts),
		width:   opts.Width,
		height:  opts.Height,
		stall:   opts.StallTimeout,
		redact:  redact,
		pool:    make(chan *frameBuf, framePool),
		done:    make(chan struct{}),
		restart: backoff.Backoff{Initial: opts.RestartMin, Max: opts.RestartMax},
		clock:   clock.OrReal(opts.Clock),
	}
	return f, nil
}

// ffmpegArgs returns the command line after the binary.
func ffmpegArgs(opts FFmpegOptions) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	args = append(args, opts.InputArgs...)
	var vf []string
	if opts.FPS > 0 {
		vf = append(vf, "fps="+strconv.FormatFloat(opts.FPS, 'g', -1, 64))
	}
	w, h := opts.Width, opts.Height
	if opts.KeepAspect {
		vf = append(vf, fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=increase,crop=%d:%d", w, h, w, h))
	} else {
		vf = append(vf, fmt.Sprintf("scale=%d:%d", w, h))
	}
	return append(args, "-i", opts.Input, "-an", "-vf", strings.Join(vf, ","),
		"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
}

func isLiveInput(input string, inputArgs []string) bool {
	if strings.HasPrefix(input, "/dev/") {
		return true
	}
	if i := strings.Index(input, "://"); i > 0 {
		switch strings.ToLower(input[:i]) {
		case "rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp":
			return true
		}
	}
	for i := 0; i+1 < len(inputArgs); i++ {
		if inputArgs[i] != "-f" {
			continue
		}
		switch inputArgs[i+1] {
		case "v4l2", "video4linux2", "dshow", "avfoundation", "x11grab", "kmsgrab", "fbdev", "gdigrab":
			return true
		}
	}
	return false
}

// redactInput returns the input with any URL password masked, and a
// function masking that password in other text (ffmpeg's messages).
func redactInput(input string) (string, func(string) string) {
	u, err := url.Parse(input)
	if err != nil || u.User == nil {
		return input, func(s string) string { return s }
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return input, func(s string) string { return s }
	}
	return u.Redacted(), func(s string) string {
		s = strings.ReplaceAll(s, pw, "xxxxx")
		return strings.ReplaceAll(s, url.QueryEscape(pw), "xxxxx")
	}
}

// Live reports whether the input is a live stream or device.
func (f *FFmpeg) Live() bool { return f.live }

// Counts returns the frames skipped (none) and ffmpeg runs that failed.
func (f *FFmpeg) Counts() Counts { return f.counters.Counts() }

// Next returns the next frame, starting or restarting ffmpeg as needed.
func (f *FFmpeg) Next(ctx context.Context) (Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		f.mu.Lock()
		closed, p := f.closed, f.proc
		f.mu.Unlock()
		if closed {
			return Frame{}, ErrClosed
		}
		if f.finished {
			return Frame{}, f.endErr
		}
		if p == nil {
			if err := f.waitRestart(ctx); err != nil {
				return Frame{}, err
			}
			var err error
			if p, err = f.start(); err != nil {
				if !f.live || errors.Is(err, ErrClosed) {
					return Frame{}, err
				}
				f.failed(err, false)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		case <-f.done:
			return Frame{}, ErrClosed
		case it := <-p.out:
			if it.buf != nil {
				f.seq++
				return Frame{
					Seq:    f.seq,
					Time:   it.at,
					Origin: f.origin,
					Image:  it.buf.img,
					buf:    it.buf,
					gen:    it.buf.gen.Load(),
				}, nil
			}
			f.mu.Lock()
			if f.proc == p {
				f.proc = nil
			}
			f.mu.Unlock()
			if !f.live {
				f.finished, f.endErr = true, io.EOF
				if it.err != nil {
					f.endErr = it.err
				}
				return Frame{}, f.endErr
			}
			if it.err == nil {
				it.err = errors.New("ffmpeg: input ended")
			}
			f.failed(it.err, it.frames > 0)
		}
	}
}

// failed logs and counts a failed run of a live input and schedules the
// restart.
func (f *FFmpeg) failed(err error, delivered bool) {
	f.errors.Add(1)
	if delivered {
		f.restart.Reset()
	}
	d := f.restart.Next()
	f.notBefore = f.clock.Now().Add(d)
	f.log.Warn("ffmpeg failed, restarting", "err", err, "delay", d)
}

func (f *FFmpeg) waitRestart(ctx context.Context) error {
	if !f.notBefore.After(f.clock.Now()) {
		return nil
	}
	return waitUntil(ctx, f.clock, f.done, f.notBefore)
}

// Close stops ffmpeg and waits for it to exit.
func (f *FFmpeg) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.done)
	p := f.proc
	f.proc = nil
	f.mu.Unlock()
	if p != nil {
		p.stopAndWait()
	}
	return nil
}

// ffmpegProc is one run of ffmpeg and the goroutine reading its frames.
type ffmpegProc struct {
	cmd     *exec.Cmd
	cancel  context.CancelFunc // kills the process
	out     chan procItem      // frames, then one item for the exit
	stop    chan struct{}      // closed to make the reader give up
	exited  chan struct{}      // closed when the reader has reaped ffmpeg
	stderr  *tailBuffer
	stalled atomic.Bool
}

// procItem is a frame, or the end of the run when buf is nil.
type procItem struct {
	buf    *frameBuf
	at     time.Time
	err    error // why the run ended; nil for a clean exit
	frames int   // frames delivered by the run
}

func (p *ffmpegProc) stopAndWait() {
	p.cancel()
	close(p.stop)
	<-p.exited
}

func (f *FFmpeg) start() (*ffmpegProc, error) {
	// The process outlives any one call to Next, so it gets a context of
	// its own that Close (or the stall timer) cancels.
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, f.bin, f.args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	tail := &tailBuffer{max: 4 << 10}
	cmd.Stderr = tail
	// Once ffmpeg is dead, do not wait long for the stderr copy to finish.
	cmd.WaitDelay = time.Second
	setProcAttr(cmd)
	p := &ffmpegProc{
		cmd:    cmd,
		cancel: cancel,
		out:    make(chan procItem),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		stderr: tail,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		cancel()
		return nil, ErrClosed
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("ffmpeg: start: %w", err)
	}
	f.proc = p
	f.log.Debug("ffmpeg started", "pid", cmd.Process.Pid)
	go f.read(p, stdout)
	return p, nil
}

// read runs in its own goroutine for each ffmpeg process: it reads raw
// frames until ffmpeg's output ends, reaps the process and reports how it
// ended.
func (f *FFmpeg) read(p *ffmpegProc, stdout io.Reader) {
	defer close(p.exited)
	var stall *time.Timer
	if f.live && f.stall > 0 {
		stall = time.AfterFunc(f.stall, func() {
			p.stalled.Store(true)
			p.cancel()
		})
		stall.Stop()
	}
	raw := make([]byte, f.width*f.height*3)
	frames := 0
	for {
		if stall != nil {
			stall.Reset(f.stall)
		}
		_, rerr := io.ReadFull(stdout, raw)
		if stall != nil {
			stall.Stop()
		}
		if rerr != nil {
			break
		}
		b := f.getBuf()
		rgbToRGBA(b.img.Pix, raw)
		frames++
		select {
		case p.out <- procItem{buf: b, at: time.Now()}:
		case <-p.stop:
			p.cmd.Wait()
			return
		}
	}
	werr := p.cmd.Wait()
	var err error
	switch {
	case p.stalled.Load():
		err = fmt.Errorf("ffmpeg: no frame for %v, killed", f.stall)
	case werr != nil:
		err = fmt.Errorf("ffmpeg: %w%s", werr, f.stderrSuffix(p))
	}
	select {
	case p.out <- procItem{err: err, frames: frames}:
	case <-p.stop:
	}
}

func (f *FFmpeg) stderrSuffix(p *ffmpegProc) string {
	s := f.redact(p.stderr.String())
	if s == "" {
		return ""
	}
	return ": " + s
}

func (f *FFmpeg) getBuf() *frameBuf {
	select {
	case b := <-f.pool:
		return b
	default:
	}
	return &frameBuf{img: image.NewRGBA(image.Rect(0, 0, f.width, f.height)), pool: f.pool}
}

// rgbToRGBA expands packed RGB pixels to opaque RGBA.
func rgbToRGBA(dst, src []byte) {
	// Four pixels at a time: three little-endian words in, four out.
	for len(src) >= 12 && len(dst) >= 16 {
		a := binary.LittleEndian.Uint32(src[0:4])  // R0 G0 B0 R1
		b := binary.LittleEndian.Uint32(src[4:8])  // G1 B1 R2 G2
		c := binary.LittleEndian.Uint32(src[8:12]) // B2 R3 G3 B3
		binary.LittleEndian.PutUint32(dst[0:4], a|0xFF000000)
		binary.LittleEndian.PutUint32(dst[4:8], a>>24|b<<8|0xFF000000)
		binary.LittleEndian.PutUint32(dst[8:12], b>>16|c<<16|0xFF000000)
		binary.LittleEndian.PutUint32(dst[12:16], c>>8|0xFF000000)
		src, dst = src[12:], dst[16:]
	}
	for len(src) >= 3 && len(dst) >= 4 {
		d := dst[:4:4]
		d[0], d[1], d[2], d[3] = src[0], src[1], src[2], 0xFF
		src, dst = src[3:], dst[4:]
	}
}

// frameBuf is a pooled frame image. gen counts its releases so that only
// the first Release of the frame that holds it returns it to the pool.
type frameBuf struct {
	img  *image.RGBA
	gen  atomic.Uint64
	pool chan *frameBuf
}

func (b *frameBuf) release(gen uint64) {
	if !b.gen.CompareAndSwap(gen, gen+1) {
		return
	}
	select {
	case b.pool <- b:
	default:
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
		t.truncated = true
	}
	return len(p), nil
}

// String returns the text kept, without a partial first line, with lines
// joined by "; ".
func (t *tailBuffer) String() string {
	t.mu.Lock()
	b := t.buf
	if t.truncated {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	s := strings.TrimSpace(string(b))
	t.mu.Unlock()
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
