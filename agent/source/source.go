package source

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// Source types accepted by [New], as spelled in the source.type setting.
const (
	TypeDir    = "dir"
	TypeHTTP   = "http"
	TypeFFmpeg = "ffmpeg"
	TypeStdin  = "stdin"
)

// ErrClosed is returned by Next after the source has been closed.
var ErrClosed = errors.New("source: closed")

// Frame is one image from a source.
type Frame struct {
	Seq    uint64      // per-source sequence number, from 1
	Time   time.Time   // capture (or read) time
	Origin string      // file path, URL, "ffmpeg:<input>", "stdin"
	Data   []byte      // encoded image (PNG/JPEG); set by dir, http and stdin
	Image  image.Image // decoded frame; set by ffmpeg (raw frames), Data is nil then
	// Key identifies the input across restarts, when the source can tell
	// (a file's path, size and modification time); empty otherwise.
	Key string

	// buf and gen let Release hand a pooled pixel buffer back to its source
	// exactly once, whichever copy of the Frame it is called on.
	buf *frameBuf
	gen uint64
}

// Release hands the frame's pixel buffer back to its source for reuse by a
// later frame. After Release the frame's Image must not be used. Calling it
// is optional: a frame that is never released is garbage collected and its
// source allocates a new buffer instead. Release may be called on any
// frame, on copies of a frame and more than once; only the first call has
// an effect.
func (f Frame) Release() {
	if f.buf != nil {
		f.buf.release(f.gen)
	}
}

// Source is a producer of frames.
//
// Sources handle their transient failures themselves: an HTTP poll that
// fails is retried, an ffmpeg process reading a camera is restarted. Those
// are logged and counted (see [Counter]), and Next keeps trying. An error
// other than io.EOF from Next therefore means that the source cannot
// continue. Next and Close may be called from different goroutines, but
// Next must not be called concurrently with itself.
type Source interface {
	// Next blocks until the next frame; io.EOF when the source is finished
	// (a directory without watch, a file input, stdin closed). It returns
	// ctx.Err() when ctx is done first; the source stays usable.
	Next(ctx context.Context) (Frame, error)
	// Close releases the source's resources and makes a blocked Next
	// return ErrClosed.
	Close() error
	// Live reports whether frames are perishable (cameras, snapshots: drop
	// under backpressure) or must all be processed (files, stdin: block).
	Live() bool
}

// Counts are a source's tallies of input it did not turn into frames.
type Counts struct {
	// Skipped counts inputs passed over: files over the size limit or not
	// complete images, garbage or oversized images in a stream.
	Skipped uint64
	// Errors counts failures the source recovered from: failed HTTP polls,
	// ffmpeg runs that ended with an error or stalled, watcher errors.
	Errors uint64
}

// Counter is implemented by sources that report what they skipped and the
// errors they recovered from. All sources of this package implement it.
type Counter interface {
	Counts() Counts
}

// counters holds a source's Counts for concurrent reading.
type counters struct {
	skipped atomic.Uint64
	errors  atomic.Uint64
}

func (c *counters) Counts() Counts {
	return Counts{Skipped: c.skipped.Load(), Errors: c.errors.Load()}
}

// Options selects and configures a source. It mirrors the source section of
// the agent's configuration.
type Options struct {
	// Type is one of TypeDir, TypeHTTP, TypeFFmpeg or TypeStdin.
	Type string
	// FPS is the maximum rate frames are delivered at by a Pump; 0 is
	// unlimited.
	FPS float64
	// Queue is the capacity of the Pump's frame channel.
	Queue int
	// Clock, if set, replaces the system clock of the source and its
	// Pump (tests).
	Clock clock.Clock

	Dir    DirOptions
	HTTP   HTTPOptions
	FFmpeg FFmpegOptions
	Stdin  StdinOptions
}

// PumpOptions returns the options for a Pump of the source.
func (o Options) PumpOptions() PumpOptions {
	return PumpOptions{FPS: o.FPS, Queue: o.Queue, Clock: o.Clock}
}

// New returns the source selected by opts.Type. A nil log discards.
func New(opts Options, log *slog.Logger) (Source, error) {
	if opts.Clock != nil {
		opts.Dir.Clock, opts.HTTP.Clock, opts.FFmpeg.Clock = opts.Clock, opts.Clock, opts.Clock
	}
	switch opts.Type {
	case TypeDir:
		return NewDir(opts.Dir, log)
	case TypeHTTP:
		return NewHTTP(opts.HTTP, log)
	case TypeFFmpeg:
		return NewFFmpeg(opts.FFmpeg, log)
	case TypeStdin:
		return NewStdin(opts.Stdin, log), nil
	}
	return nil, fmt.Errorf("source: unknown type %q (want dir, http, ffmpeg or stdin)", opts.Type)
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
