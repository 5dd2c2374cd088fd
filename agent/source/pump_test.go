package source

import (
	"context"
	"errors"
	"image"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// fakeSource produces frames on a fake schedule. The pump tests run in a
// synctest bubble, where time is virtual: rates and delays are exact.
type fakeSource struct {
	live   bool
	every  []time.Duration // delay before each frame, cycled; none means no delay
	n      uint64          // frames before the end; 0 is unlimited
	end    error           // returned after n frames; nil means io.EOF
	pool   chan *frameBuf  // if set, frames carry a pooled buffer
	counts Counts
	seq    uint64
}

func (s *fakeSource) Next(ctx context.Context) (Frame, error) {
	if s.n > 0 && s.seq >= s.n {
		if s.end != nil {
			return Frame{}, s.end
		}
		return Frame{}, io.EOF
	}
	if len(s.every) > 0 {
		t := time.NewTimer(s.every[s.seq%uint64(len(s.every))])
		defer t.Stop()
		select {
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		case <-t.C:
		}
	}
	s.seq++
	f := Frame{Seq: s.seq, Time: time.Now(), Origin: "fake"}
	if s.pool != nil {
		f.buf = &frameBuf{img: image.NewRGBA(image.Rect(0, 0, 1, 1)), pool: s.pool}
		f.Image = f.buf.img
	}
	return f, nil
}

func (s *fakeSource) Close() error          { return nil }
func (s *fakeSource) Live() bool            { return s.live }
func (s *fakeSource) Counts() Counts        { return s.counts }
func every(d time.Duration) []time.Duration { return []time.Duration{d} }

// consume reads the pump's frames until it closes, spending work on each.
func consume(p *Pump, work time.Duration) []Frame {
	var got []Frame
	for f := range p.Frames() {
		got = append(got, f)
		time.Sleep(work)
	}
	return got
}

func seqs(frames []Frame) []uint64 {
	s := make([]uint64, len(frames))
	for i, f := range frames {
		s[i] = f.Seq
	}
	return s
}

func increasing(s []uint64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

func TestPumpBackpressure(t *testing.T) {
	tests := []struct {
		name     string
		live     bool
		minGot   int
		maxGot   int
		wantTime time.Duration // at least
	}{
		// 100 frames at 100/s into a consumer handling 10/s: a live source
		// keeps the consumer busy for the second the source runs, plus
		// the queue, dropping the rest.
		{name: "live drops", live: true, minGot: 10, maxGot: 13},
		// A non-live source waits: every frame gets through, at the
		// consumer's pace.
		{name: "non-live blocks", live: false, minGot: 100, maxGot: 100, wantTime: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := make(chan *frameBuf, 100)
				src := &fakeSource{live: tt.live, every: every(10 * time.Millisecond), n: 100, pool: pool}
				start := time.Now()
				p := StartPump(t.Context(), src, PumpOptions{Queue: 2})
				got := consume(p, 100*time.Millisecond)
				<-p.Done()
				elapsed := time.Since(start)

				if n := len(got); n < tt.minGot || n > tt.maxGot {
					t.Errorf("consumer got %d frames, want %d to %d", n, tt.minGot, tt.maxGot)
				}
				s := seqs(got)
				if !increasing(s) {
					t.Errorf("frame sequence %v is not increasing", s)
				}
				if last := s[len(s)-1]; last != 100 {
					t.Errorf("last frame delivered = %d, want the newest, 100", last)
				}
				st := p.Stats()
				if st.Frames != 100 || st.Dropped != 100-uint64(len(got)) {
					t.Errorf("Stats() = %+v, want Frames 100, Dropped %d", st, 100-len(got))
				}
				if released := len(pool); uint64(released) != st.Dropped {
					t.Errorf("%d dropped frames released, want %d", released, st.Dropped)
				}
				if elapsed < tt.wantTime {
					t.Errorf("took %v, want at least %v", elapsed, tt.wantTime)
				}
				if err := p.Err(); err != nil {
					t.Errorf("Err() = %v, want nil", err)
				}
			})
		})
	}
}

func TestPumpRate(t *testing.T) {
	tests := []struct {
		name        string
		live        bool
		every       []time.Duration
		n           uint64
		fps         float64
		minGot      int
		maxGot      int
		minDuration time.Duration
		maxDuration time.Duration
	}{
		{
			name: "live 100/s limited to 10/s", live: true,
			every: every(10 * time.Millisecond), n: 200, fps: 10,
			minGot: 19, maxGot: 21, minDuration: 2 * time.Second, maxDuration: 2 * time.Second,
		},
		{
			// Frames arriving with jitter around the rate are all kept.
			name: "live jitter at the rate", live: true,
			every: []time.Duration{95 * time.Millisecond, 105 * time.Millisecond}, n: 50, fps: 10,
			minGot: 50, maxGot: 50, minDuration: 5 * time.Second, maxDuration: 5 * time.Second,
		},
		{
			name: "non-live instant source slowed to 10/s", live: false,
			n: 30, fps: 10,
			minGot: 30, maxGot: 30, minDuration: 2900 * time.Millisecond, maxDuration: 2900 * time.Millisecond,
		},
		{
			name: "unlimited", live: true,
			every: every(time.Millisecond), n: 500, fps: 0,
			minGot: 500, maxGot: 500, minDuration: 500 * time.Millisecond, maxDuration: 500 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &fakeSource{live: tt.live, every: tt.every, n: tt.n}
				start := time.Now()
				p := StartPump(t.Context(), src, PumpOptions{FPS: tt.fps, Queue: 1})
				got := consume(p, 0)
				elapsed := time.Since(start)
				if n := len(got); n < tt.minGot || n > tt.maxGot {
					t.Errorf("consumer got %d frames, want %d to %d", n, tt.minGot, tt.maxGot)
				}
				if elapsed < tt.minDuration || elapsed > tt.maxDuration {
					t.Errorf("took %v, want %v to %v", elapsed, tt.minDuration, tt.maxDuration)
				}
				if st := p.Stats(); st.Frames != tt.n || st.Dropped != tt.n-uint64(len(got)) {
					t.Errorf("Stats() = %+v, want Frames %d, Dropped %d", st, tt.n, tt.n-uint64(len(got)))
				}
				// Delivered frames are at least 1/fps apart.
				for i := 1; tt.fps > 0 && i < len(got); i++ {
					if d := got[i].Time.Sub(got[i-1].Time); tt.live && d < 90*time.Millisecond {
						t.Errorf("frames %d and %d only %v apart", got[i-1].Seq, got[i].Seq, d)
						break
					}
				}
			})
		})
	}
}

func TestPumpEnd(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		live    bool
		end     error
		wantErr error
	}{
		{"eof", false, nil, nil},
		{"closed", true, ErrClosed, nil},
		{"fatal non-live", false, boom, boom},
		{"fatal live", true, boom, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &fakeSource{live: tt.live, n: 3, end: tt.end, counts: Counts{Skipped: 7, Errors: 2}}
				p := StartPump(t.Context(), src, PumpOptions{Queue: 5})
				got := consume(p, 0)
				<-p.Done()
				if len(got) != 3 {
					t.Errorf("got %d frames, want 3", len(got))
				}
				if err := p.Err(); err != tt.wantErr {
					t.Errorf("Err() = %v, want %v", err, tt.wantErr)
				}
				want := Stats{Frames: 3, Skipped: 7, Errors: 2}
				if tt.wantErr != nil {
					want.Errors++
				}
				if st := p.Stats(); st != want {
					t.Errorf("Stats() = %+v, want %+v", st, want)
				}
			})
		})
	}
}

func TestPumpCancel(t *testing.T) {
	tests := []struct {
		name string
		live bool
		fps  float64
		read bool // whether the consumer reads
	}{
		{"live, consumer reading", true, 0, true},
		{"non-live blocked on a full queue", false, 0, false},
		{"non-live waiting for the rate", false, 0.5, true},
		{"live with an idle consumer", true, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// synctest.Test fails if any goroutine of the bubble is still
			// running, or blocked forever, when the test function returns.
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				src := &fakeSource{live: tt.live, every: every(time.Millisecond)}
				p := StartPump(ctx, src, PumpOptions{FPS: tt.fps, Queue: 2})
				n := 0
				if tt.read {
					for range p.Frames() {
						if n++; n == 5 {
							break
						}
					}
				} else {
					time.Sleep(time.Second)
				}
				cancel()
				<-p.Done()
				for range p.Frames() {
					// Frames queued before the cancellation.
				}
				if err := p.Err(); err != nil {
					t.Errorf("Err() = %v, want nil after cancellation", err)
				}
			})
		})
	}
}

func TestFrameRelease(t *testing.T) {
	pool := make(chan *frameBuf, 4)
	b := &frameBuf{img: image.NewRGBA(image.Rect(0, 0, 1, 1)), pool: pool}
	f := Frame{Image: b.img, buf: b, gen: b.gen.Load()}
	copyOfF := f
	f.Release()
	f.Release()
	copyOfF.Release()
	if len(pool) != 1 {
		t.Fatalf("after releasing a frame and its copy three times, pool holds %d buffers, want 1", len(pool))
	}
	// The buffer is reused for a new frame; releasing the old frame again
	// must not hand it back while the new frame holds it.
	reused := <-pool
	g := Frame{Image: reused.img, buf: reused, gen: reused.gen.Load()}
	f.Release()
	if len(pool) != 0 {
		t.Fatalf("a stale Release returned a buffer in use")
	}
	g.Release()
	if len(pool) != 1 {
		t.Fatalf("releasing the new frame: pool holds %d buffers, want 1", len(pool))
	}
	Frame{}.Release() // frames without a buffer: no-op
}

// instantSource returns n frames without delay.
type instantSource struct{ n, seq uint64 }

func (s *instantSource) Next(context.Context) (Frame, error) {
	if s.seq >= s.n {
		return Frame{}, io.EOF
	}
	s.seq++
	return Frame{Seq: s.seq}, nil
}
func (s *instantSource) Close() error { return nil }
func (s *instantSource) Live() bool   { return false }

func BenchmarkPump(b *testing.B) {
	b.ReportAllocs()
	p := StartPump(b.Context(), &instantSource{n: uint64(b.N)}, PumpOptions{Queue: 4})
	n := 0
	for range p.Frames() {
		n++
	}
	if n != b.N {
		b.Fatalf("got %d frames, want %d", n, b.N)
	}
}

// TestPumpRateOnFakeClock paces a file source at 1 fps on a fake clock: a
// frame comes only when the clock has moved on by a second.
func TestPumpRateOnFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	p := StartPump(t.Context(), &instantSource{n: 3}, PumpOptions{FPS: 1, Queue: 1, Clock: clk})
	first := <-p.Frames()
	if first.Seq != 1 {
		t.Fatalf("first frame %d", first.Seq)
	}
	for clk.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case f := <-p.Frames():
		t.Fatalf("frame %d before the clock moved", f.Seq)
	case <-time.After(50 * time.Millisecond):
	}
	clk.Advance(time.Second)
	if f := <-p.Frames(); f.Seq != 2 {
		t.Fatalf("after one second got frame %d, want 2", f.Seq)
	}
}
