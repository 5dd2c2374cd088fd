package event

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

const testSHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

var testModel = Model{Name: "mobilenet_v1_025_128_uint8.tflite", SHA256: testSHA}

// step is one thing that happens to a Decider in a decision sequence.
type step struct {
	at       time.Duration // offset from t0
	kind     string        // "obs", "tick", "reload", "shutdown"
	score    float64       // obs: the ID score; the threshold is 0, so < 0 is OOD
	settings Settings      // reload
	want     []string      // summaries of the messages, see summary
}

func obs(sec float64, score float64, want ...string) step {
	return step{at: secs(sec), kind: "obs", score: score, want: want}
}

func tick(sec float64, want ...string) step {
	return step{at: secs(sec), kind: "tick", want: want}
}

func reload(sec float64, s Settings, want ...string) step {
	return step{at: secs(sec), kind: "reload", settings: s, want: want}
}

func shutdown(sec float64, want ...string) step {
	return step{at: secs(sec), kind: "shutdown", want: want}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// observation makes the observation of frame seq at t with the given ID
// score under the energy method.
func observation(seq uint64, t time.Time, score float64) Observation {
	return Observation{
		Time:     t,
		FrameSeq: seq,
		Origin:   "rtsp://127.0.0.1:8554/cam1",
		Verdict: Verdict{
			Label:      int(seq % 10),
			LabelName:  fmt.Sprintf("class%d", seq%10),
			Confidence: 0.5,
			Energy:     -score,
			Score:      score,
			Threshold:  0,
			Method:     "energy",
		},
		OOD: score < 0,
	}
}

// summary describes a message in a line: its type, the time as an offset
// from t0, the frame it is about, and for events the counts, the peak
// frame and score, the duration, and the end reason.
func summary(m Message) string {
	s := fmt.Sprintf("%s@%v #%d", m.Type, m.Time.Sub(t0), m.FrameSeq)
	if e := m.Event; e != nil {
		s += fmt.Sprintf(" frames=%d ood=%d peak=#%d/%g dur=%v", e.Frames, e.OODFrames, e.PeakFrameSeq, e.PeakScore, e.Duration)
		if e.EndReason != "" {
			s += " end=" + string(e.EndReason)
		}
	}
	return s
}

func stream(k, n, endAfter int, timeout, update, cooldown time.Duration) Settings {
	return Settings{Mode: ModeStream, K: k, N: n, EndAfter: endAfter, Timeout: timeout, UpdateInterval: update, Cooldown: cooldown}
}

func TestDecider(t *testing.T) {
	const s = time.Second
	frame := Settings{Mode: ModeFrame}
	tests := []struct {
		name       string
		settings   Settings
		steps      []step
		suppressed uint64
	}{
		{
			name:     "frame mode: one alert per OOD frame",
			settings: frame,
			steps: []step{
				obs(1, 1),
				obs(2, -1, "alert@2s #2"),
				obs(3, -2, "alert@3s #3"),
				obs(4, 2),
				tick(100),
				obs(101, -3, "alert@1m41s #5"),
				shutdown(102),
			},
		},
		{
			name:     "stream: K of the last N start an event",
			settings: stream(3, 5, 10, 60*s, 0, 0),
			steps: []step{
				obs(1, -1), obs(2, 1), obs(3, -1), obs(4, 1), obs(5, 1), // 2 of 5
				obs(6, 1), obs(7, -2), obs(8, 1), obs(9, -5), // 2 of 5 each time
				obs(10, -3, "event_start@10s #10 frames=4 ood=3 peak=#9/-5 dur=3s"),
				obs(11, -1), // no updates configured
			},
		},
		{
			name:     "stream: updates are rate limited and carry the peak",
			settings: stream(2, 2, 5, 60*s, 5*s, 0),
			steps: []step{
				obs(1, -1),
				obs(2, -1, "event_start@2s #2 frames=2 ood=2 peak=#1/-1 dur=1s"),
				obs(3, -1), obs(4, -9), obs(5, -2), obs(6, -1),
				obs(7, -1, "event_update@7s #7 frames=7 ood=7 peak=#4/-9 dur=6s"),
				obs(8, -1), obs(9, -1), obs(10, -10), obs(11, -1),
				obs(12, -1, "event_update@12s #12 frames=12 ood=12 peak=#10/-10 dur=11s"),
				obs(12.5, 1), obs(16.5, -1),
				obs(17, 1, "event_update@17s #15 frames=15 ood=13 peak=#10/-10 dur=15.5s"),
			},
		},
		{
			name:     "stream: EndAfter consecutive in-distribution frames end the event",
			settings: stream(1, 1, 3, 60*s, 0, 0),
			steps: []step{
				obs(1, -1, "event_start@1s #1 frames=1 ood=1 peak=#1/-1 dur=0s"),
				obs(2, 1), obs(3, 1),
				obs(4, -2), // restarts the count
				obs(5, 1), obs(6, 1),
				obs(7, 1, "event_end@7s #7 frames=7 ood=2 peak=#4/-2 dur=3s end=in_distribution"),
				obs(8, 1),
				obs(9, -1, "event_start@9s #9 frames=1 ood=1 peak=#9/-1 dur=0s"),
			},
		},
		{
			name:     "stream: Tick ends the event after Timeout without OOD frames",
			settings: stream(2, 3, 100, 10*s, 0, 0),
			steps: []step{
				obs(0, -1),
				obs(1, -1, "event_start@1s #2 frames=2 ood=2 peak=#1/-1 dur=1s"),
				obs(2, 1),
				tick(10.9),
				tick(11, "event_end@11s #3 frames=3 ood=2 peak=#1/-1 dur=1s end=timeout"),
				tick(30),
			},
		},
		{
			name:     "stream: Observe ends a timed-out event before counting the frame",
			settings: stream(2, 3, 100, 10*s, 0, 0),
			steps: []step{
				obs(0, -1),
				obs(1, -1, "event_start@1s #2 frames=2 ood=2 peak=#1/-1 dur=1s"),
				obs(5, 1), obs(10, 1),
				obs(11, 1, "event_end@11s #4 frames=4 ood=2 peak=#1/-1 dur=1s end=timeout"),
				obs(12, -1), // the window restarted at #5
				obs(13, -1, "event_start@13s #7 frames=2 ood=2 peak=#6/-1 dur=1s"),
			},
		},
		{
			name:     "stream: a timeout and a new start in one observation",
			settings: stream(1, 1, 100, 5*s, 0, 0),
			steps: []step{
				obs(0, -1, "event_start@0s #1 frames=1 ood=1 peak=#1/-1 dur=0s"),
				obs(10, -2,
					"event_end@10s #1 frames=1 ood=1 peak=#1/-1 dur=0s end=timeout",
					"event_start@10s #2 frames=1 ood=1 peak=#2/-2 dur=0s"),
			},
		},
		{
			name:     "stream: cooldown suppresses new events but counts frames",
			settings: stream(2, 3, 2, 60*s, 0, 10*s),
			steps: []step{
				obs(0, -1),
				obs(1, -1, "event_start@1s #2 frames=2 ood=2 peak=#1/-1 dur=1s"),
				obs(2, 1),
				obs(3, 1, "event_end@3s #4 frames=4 ood=2 peak=#1/-1 dur=1s end=in_distribution"),
				obs(4, -1),             // 1 of 3: nothing to suppress
				obs(5, -1), obs(6, -1), // suppressed
				obs(12.9, -1), // suppressed
				obs(13, -3, "event_start@13s #9 frames=3 ood=3 peak=#9/-3 dur=7s"), // cooldown over
			},
			suppressed: 3,
		},
		{
			name:     "stream: reload keeps the open event",
			settings: stream(2, 3, 5, 60*s, 10*s, 0),
			steps: []step{
				obs(0, -1),
				obs(1, -1, "event_start@1s #2 frames=2 ood=2 peak=#1/-1 dur=1s"),
				obs(2, 1),
				reload(3, stream(1, 2, 2, 60*s, 2*s, 0)),
				obs(4, -2, "event_update@4s #4 frames=4 ood=3 peak=#4/-2 dur=4s"),
				obs(5, 1),
				obs(6, 1, "event_end@6s #6 frames=6 ood=3 peak=#4/-2 dur=4s end=in_distribution"),
			},
		},
		{
			name:     "stream: reload that grows N keeps the window",
			settings: stream(2, 2, 5, 60*s, 0, 0),
			steps: []step{
				obs(0, -1), obs(1, 1),
				reload(2, stream(3, 4, 5, 60*s, 0, 0)),
				obs(3, -1), // [#1 #2 #3]: 2 of 4
				obs(4, -3, "event_start@4s #4 frames=4 ood=3 peak=#4/-3 dur=4s"),
			},
		},
		{
			name:     "stream: reload that shrinks N keeps the newest frames",
			settings: stream(3, 5, 5, 60*s, 0, 0),
			steps: []step{
				obs(0, -1), obs(1, 1), obs(2, 1), obs(3, -1),
				reload(4, stream(2, 2, 5, 60*s, 0, 0)),
				obs(5, -2, "event_start@5s #5 frames=2 ood=2 peak=#5/-2 dur=2s"),
			},
		},
		{
			name:     "stream: reload to frame mode ends the event",
			settings: stream(1, 1, 5, 60*s, 0, 0),
			steps: []step{
				obs(0, -1, "event_start@0s #1 frames=1 ood=1 peak=#1/-1 dur=0s"),
				obs(1, 1),
				reload(3, frame, "event_end@3s #2 frames=2 ood=1 peak=#1/-1 dur=0s end=reload"),
				obs(4, -1, "alert@4s #3"),
				tick(100),
			},
		},
		{
			name:     "frame mode: reload to stream starts with an empty window",
			settings: frame,
			steps: []step{
				obs(0, -1, "alert@0s #1"),
				reload(1, stream(2, 2, 5, 60*s, 0, 0)),
				obs(2, -1),
				obs(3, -1, "event_start@3s #3 frames=2 ood=2 peak=#2/-1 dur=1s"),
			},
		},
		{
			name:     "stream: shutdown ends the open event",
			settings: stream(1, 3, 5, 60*s, 0, 0),
			steps: []step{
				shutdown(0),
				obs(1, -1, "event_start@1s #1 frames=1 ood=1 peak=#1/-1 dur=0s"),
				obs(2, 1),
				shutdown(5, "event_end@5s #2 frames=2 ood=1 peak=#1/-1 dur=0s end=shutdown"),
				shutdown(6),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clock.NewFake(t0)
			d, err := NewDecider(tt.settings, Options{DeviceID: "cam-01", Model: testModel, Clock: clock})
			if err != nil {
				t.Fatalf("NewDecider(%+v) error: %v", tt.settings, err)
			}
			var all []Message
			var seq uint64
			var nObs, nOOD uint64
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				clock.Set(now)
				var got []Message
				var what string
				switch st.kind {
				case "obs":
					seq++
					nObs++
					if st.score < 0 {
						nOOD++
					}
					what = fmt.Sprintf("Observe(#%d at %v, score %g)", seq, st.at, st.score)
					got = d.Observe(observation(seq, now, st.score))
				case "tick":
					what = fmt.Sprintf("Tick(%v)", st.at)
					got = d.Tick(now)
				case "reload":
					what = fmt.Sprintf("SetSettings(%+v) at %v", st.settings, st.at)
					got, err = d.SetSettings(st.settings)
					if err != nil {
						t.Fatalf("step %d: %s error: %v", i, what, err)
					}
				case "shutdown":
					what = fmt.Sprintf("Shutdown(%v)", st.at)
					got = d.Shutdown(now)
				}
				var sums []string
				for _, m := range got {
					sums = append(sums, summary(m))
				}
				if strings.Join(sums, "\n") != strings.Join(st.want, "\n") {
					t.Errorf("step %d: %s = %q, want %q", i, what, sums, st.want)
				}
				all = append(all, got...)
			}
			checkSequence(t, all)

			c := d.Counters()
			want := Counters{Observations: nObs, OOD: nOOD, Suppressed: tt.suppressed}
			for _, m := range all {
				switch m.Type {
				case TypeAlert:
					want.Alerts++
				case TypeEventStart:
					want.Events++
				case TypeEventUpdate:
					want.Updates++
				case TypeEventEnd:
					want.Ended++
				}
			}
			if c != want {
				t.Errorf("Counters() = %+v, want %+v", c, want)
			}
		})
	}
}

// checkSequence checks what every sequence of messages from one Decider
// must satisfy: unique increasing ids, event ids shared by an event's
// messages and equal to its event_start's id, consistent peaks, the
// device and model set, and valid JSON under the schema.
func checkSequence(t *testing.T, msgs []Message) {
	t.Helper()
	schema := compileSchema(t, "alert.schema.json")
	var prevID, eventID string
	for i, m := range msgs {
		if m.ID <= prevID {
			t.Errorf("message %d: id %s not after the previous id %s", i, m.ID, prevID)
		}
		prevID = m.ID
		if m.DeviceID != "cam-01" || m.Model != testModel {
			t.Errorf("message %d: device %q model %+v, want cam-01 and %+v", i, m.DeviceID, m.Model, testModel)
		}
		switch m.Type {
		case TypeAlert:
			if m.Event != nil {
				t.Errorf("message %d: alert with event %+v", i, m.Event)
			}
		case TypeEventStart, TypeEventUpdate, TypeEventEnd:
			e := m.Event
			if e == nil {
				t.Fatalf("message %d: %s without event info", i, m.Type)
			}
			if m.Type == TypeEventStart {
				if eventID != "" {
					t.Errorf("message %d: event_start while event %s is open", i, eventID)
				}
				eventID = m.ID
			}
			if e.ID != eventID || eventID == "" {
				t.Errorf("message %d: %s has event id %q, want %q", i, m.Type, e.ID, eventID)
			}
			if e.PeakEnergy != -e.PeakScore {
				t.Errorf("message %d: peak energy %g, want −peak score %g", i, e.PeakEnergy, -e.PeakScore)
			}
			if e.OODFrames > e.Frames || e.Start.After(m.Time) {
				t.Errorf("message %d: inconsistent event %+v at %v", i, e, m.Time)
			}
			if (m.Type == TypeEventEnd) != (e.EndReason != "") {
				t.Errorf("message %d: %s with end reason %q", i, m.Type, e.EndReason)
			}
			if m.Type == TypeEventEnd {
				eventID = ""
			}
		default:
			t.Errorf("message %d: unknown type %q", i, m.Type)
		}
		validateJSON(t, schema, m)
	}
}

func TestDeciderUpdateSpacing(t *testing.T) {
	// A long event at 25 frames per second with jittery timestamps: no
	// two consecutive messages of the event are closer than the update
	// interval, and there are not many fewer than the duration allows.
	const interval = 2 * time.Second
	d, err := NewDecider(stream(3, 5, 50, time.Minute, interval, 0), Options{DeviceID: "cam-01", Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Message
	now := t0
	for i := range 2500 { // 100 s
		now = now.Add(40*time.Millisecond + time.Duration(i%7)*time.Millisecond)
		score := -1.0
		if i%4 == 3 {
			score = 1 // one in-distribution frame in four keeps K of N
		}
		msgs = append(msgs, d.Observe(observation(uint64(i+1), now, score))...)
	}
	if len(msgs) == 0 || msgs[0].Type != TypeEventStart {
		t.Fatalf("first message %v, want an event_start", msgs)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Type != TypeEventUpdate {
			t.Fatalf("message %d is %s, want event_update", i, msgs[i].Type)
		}
		if gap := msgs[i].Time.Sub(msgs[i-1].Time); gap < interval {
			t.Errorf("messages %d and %d are %v apart, want at least %v", i-1, i, gap, interval)
		}
	}
	span := msgs[len(msgs)-1].Time.Sub(msgs[0].Time)
	if want := int(span/interval) * 9 / 10; len(msgs)-1 < want {
		t.Errorf("%d updates over %v, want at least %d", len(msgs)-1, span, want)
	}
}

func TestDeciderZeroTimeUsesClock(t *testing.T) {
	clock := clock.NewFake(t0.Add(42 * time.Second))
	d, err := NewDecider(Settings{Mode: ModeFrame}, Options{DeviceID: "cam-01", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	o := observation(1, time.Time{}, -1)
	got := d.Observe(o)
	if len(got) != 1 || !got[0].Time.Equal(clock.Now()) {
		t.Fatalf("Observe(zero time) = %v, want one alert at %v", got, clock.Now())
	}
}

func TestSettingsValidate(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name    string
		in      Settings
		wantErr []string // substrings of the error; nil means valid
	}{
		{"frame ignores stream fields", Settings{Mode: ModeFrame, K: 9, N: 1}, nil},
		{"stream", stream(3, 5, 10, 60*s, 5*s, 30*s), nil},
		{"stream with K = N = 1 and no updates or cooldown", stream(1, 1, 1, s, 0, 0), nil},
		{"unknown mode", Settings{Mode: "video"}, []string{`mode "video"`}},
		{"empty mode", Settings{}, []string{`mode ""`}},
		{"K above N", stream(6, 5, 10, 60*s, 0, 0), []string{"k must be between 1 and n (5), got 6"}},
		{"K zero", stream(0, 5, 10, 60*s, 0, 0), []string{"k must be"}},
		{"N zero", stream(1, 0, 10, 60*s, 0, 0), []string{"n must be at least 1"}},
		{
			"every stream field wrong",
			stream(0, 0, 0, 0, -s, -s),
			[]string{"n must", "k must", "end_after must", "timeout must be positive", "update_interval must not", "cooldown must not"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("Validate(%+v) = %v, want an error wrapping ErrInvalidSettings", tt.in, err)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v) = %q, want it to mention %q", tt.in, err, w)
				}
			}
		})
	}
}

func TestSetSettingsRefusesInvalid(t *testing.T) {
	good := stream(1, 1, 3, time.Minute, 0, 0)
	d, err := NewDecider(good, Options{DeviceID: "cam-01"})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := d.Observe(observation(1, t0, -1)); len(msgs) != 1 {
		t.Fatalf("Observe = %v, want an event_start", msgs)
	}
	bad := stream(5, 2, 3, time.Minute, 0, 0)
	msgs, err := d.SetSettings(bad)
	if !errors.Is(err, ErrInvalidSettings) || msgs != nil {
		t.Fatalf("SetSettings(%+v) = %v, %v, want nil and ErrInvalidSettings", bad, msgs, err)
	}
	if got := d.Settings(); got != good {
		t.Errorf("Settings() after a refused reload = %+v, want %+v", got, good)
	}
	if msgs := d.Tick(t0.Add(time.Minute)); len(msgs) != 1 || msgs[0].Event.EndReason != EndTimeout {
		t.Errorf("Tick after the timeout = %v, want the event's end", msgs)
	}
}

func TestNewDeciderErrors(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		opts Options
		want error
	}{
		{"bad settings", Settings{Mode: "x"}, Options{DeviceID: "cam"}, ErrInvalidSettings},
		{"no device", Settings{Mode: ModeFrame}, Options{}, ErrInvalidTopic},
		{"wildcard device", Settings{Mode: ModeFrame}, Options{DeviceID: "cam+1"}, ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDecider(tt.s, tt.opts); !errors.Is(err, tt.want) {
				t.Errorf("NewDecider(%+v, %+v) error = %v, want %v", tt.s, tt.opts, err, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"frame", ModeFrame, true},
		{" Stream ", ModeStream, true},
		{"", "", false},
		{"frames", "", false},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseMode(%q) = %q, %v, want %q (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidSettings) {
			t.Errorf("ParseMode(%q) error %v does not wrap ErrInvalidSettings", tt.in, err)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	for _, mode := range []struct {
		name string
		s    Settings
	}{
		{"frame", Settings{Mode: ModeFrame}},
		{"stream", stream(3, 5, 10, time.Minute, 5*time.Second, 30*time.Second)},
	} {
		b.Run(mode.name, func(b *testing.B) {
			d, err := NewDecider(mode.s, Options{DeviceID: "cam-01", Model: testModel})
			if err != nil {
				b.Fatal(err)
			}
			o := observation(1, t0, 1) // in distribution: no message
			b.ReportAllocs()
			for b.Loop() {
				o.FrameSeq++
				o.Time = o.Time.Add(40 * time.Millisecond)
				if msgs := d.Observe(o); msgs != nil {
					b.Fatalf("Observe = %v, want no message", msgs)
				}
			}
		})
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	d, err := NewDecider(stream(3, 5, 10, time.Minute, 5*time.Second, 0), Options{DeviceID: "cam-01", Model: testModel})
	if err != nil {
		t.Fatal(err)
	}
	o := observation(1, t0, 1)
	allocs := testing.AllocsPerRun(1000, func() {
		o.FrameSeq++
		o.Time = o.Time.Add(40 * time.Millisecond)
		// One frame in four is OOD: never 3 of 5.
		o.OOD = o.FrameSeq%2 == 0 && o.FrameSeq%4 != 0
		d.Observe(o)
	})
	if allocs != 0 {
		t.Errorf("Observe without messages: %v allocations, want 0", allocs)
	}
}

// TestDeciderKeyedIDs: the message an input causes gets an id derived from
// the device and the input's key, so processing it again (after a restart)
// yields the same id; other messages and unkeyed inputs get fresh ids.
func TestDeciderKeyedIDs(t *testing.T) {
	run := func(mode Mode, keys ...string) []string {
		d, err := NewDecider(Settings{Mode: mode, K: 1, N: 1, EndAfter: 1, Timeout: time.Minute}, Options{DeviceID: "cam-01"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i, k := range keys {
			o := observation(uint64(i+1), t0.Add(time.Duration(i)*time.Second), -1)
			o.Key = k
			for _, m := range d.Observe(o) {
				ids = append(ids, string(m.Type)+" "+m.ID)
			}
		}
		return ids
	}
	a, b := run(ModeFrame, "dir:/a|1|1", "dir:/b|1|1", ""), run(ModeFrame, "dir:/a|1|1", "dir:/b|1|1", "")
	if a[0] != b[0] || a[1] != b[1] {
		t.Errorf("keyed alerts got different ids in two runs: %v and %v", a[:2], b[:2])
	}
	if a[0] == a[1] || a[2] == b[2] {
		t.Errorf("distinct or unkeyed inputs share ids: %v, %v", a, b)
	}
	s1, s2 := run(ModeStream, "dir:/a|1|1"), run(ModeStream, "dir:/a|1|1")
	if len(s1) != 1 || s1[0] != s2[0] || !strings.HasPrefix(s1[0], "event_start ") {
		t.Errorf("keyed event_start ids %v and %v, want one and the same", s1, s2)
	}
}
