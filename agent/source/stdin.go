package source

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// StdinOptions configures a Stdin source.
type StdinOptions struct {
	// Reader is the stream read. Nil means os.Stdin.
	Reader io.Reader
	// MaxBytes is the largest image accepted; larger ones are skipped.
	// Zero means 32 MiB.
	MaxBytes int
	// Origin names the stream in frames. Empty means "stdin".
	Origin string
}

// Stdin is a source that reads a stream of concatenated PNG and JPEG
// images, such as the output of ffmpeg -f image2pipe or cat *.jpg. See
// [Splitter] for how the stream is cut and what is skipped.
//
// Reading happens in a goroutine so that Next can honour its context. A
// read blocked in the reader cannot be interrupted: after Close, that
// goroutine ends when the read returns. Close does not close the reader.
type Stdin struct {
	log    *slog.Logger
	split  *Splitter
	origin string
	seq    uint64
	counters

	startOnce sync.Once
	items     chan stdinItem
	closeOnce sync.Once
	done      chan struct{}
}

type stdinItem struct {
	data []byte
	at   time.Time
	err  error
}

// NewStdin returns a Stdin source. A nil log discards.
func NewStdin(opts StdinOptions, log *slog.Logger) *Stdin {
	r := opts.Reader
	if r == nil {
		r = os.Stdin
	}
	if opts.Origin == "" {
		opts.Origin = "stdin"
	}
	return &Stdin{
		log:    orDiscard(log).With("source", "stdin", "origin", opts.Origin),
		split:  NewSplitter(r, opts.MaxBytes),
		origin: opts.Origin,
		items:  make(chan stdinItem),
		done:   make(chan struct{}),
	}
}

// Live reports false: every image is processed.
func (s *Stdin) Live() bool { return false }

// Counts returns the skip events of the stream (garbage runs, invalid,
// truncated and oversized images).
func (s *Stdin) Counts() Counts { return s.counters.Counts() }

// Close makes Next return ErrClosed.
func (s *Stdin) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	return nil
}

// Next returns the next image of the stream, or io.EOF at its end.
func (s *Stdin) Next(ctx context.Context) (Frame, error) {
	s.startOnce.Do(func() { go s.read() })
	select {
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	case <-s.done:
		return Frame{}, ErrClosed
	case it, ok := <-s.items:
		if !ok {
			return Frame{}, io.EOF
		}
		if it.err != nil {
			return Frame{}, it.err
		}
		s.seq++
		return Frame{Seq: s.seq, Time: it.at, Origin: s.origin, Data: it.data}, nil
	}
}

func (s *Stdin) read() {
	defer close(s.items)
	var last SplitStats
	for {
		img, err := s.split.Next()
		st := s.split.Stats()
		if d := st.Skipped() - last.Skipped(); d > 0 {
			s.skipped.Add(d)
			s.log.Warn("skipped input",
				"garbage_runs", st.Garbage-last.Garbage,
				"garbage_bytes", st.GarbageBytes-last.GarbageBytes,
				"invalid", st.Invalid-last.Invalid,
				"truncated", st.Truncated-last.Truncated,
				"oversize", st.Oversize-last.Oversize)
		}
		last = st
		var it stdinItem
		switch {
		case err == io.EOF:
			return
		case err != nil:
			it.err = fmt.Errorf("source: %s: %w", s.origin, err)
		default:
			// The Splitter reuses its buffer; the frame outlives this loop.
			it.data = append([]byte(nil), img...)
			it.at = time.Now()
		}
		select {
		case s.items <- it:
		case <-s.done:
			return
		}
		if err != nil {
			return
		}
	}
}
