package event

import (
	"fmt"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// Observation is the outcome of classifying and scoring one frame.
type Observation struct {
	// Time is when the frame was captured or read, on the same clock as
	// the times passed to Tick; zero means the Decider's clock's now.
	Time time.Time
	// FrameSeq numbers the frames of the agent's run.
	FrameSeq uint64
	// Origin names the input: a file path, URL or camera input.
	Origin string
	// Key, if not empty, identifies the input across restarts (a file's
	// path, size and modification time). The alert or event_start it
	// causes then gets an id derived from the device and Key (DeriveID),
	// so that an input processed again after a crash is re-sent under
	// the same id. Empty means a fresh id.
	Key string
	Verdict
	OOD bool
}

// Verdict is what the classifier and the OOD score said about a frame.
// Its JSON form is the fields of the same names in an alert message.
type Verdict struct {
	Label      int     `json:"label"`
	LabelName  string  `json:"label_name"`
	Confidence float64 `json:"confidence"`
	// Energy is E(x); higher is more out of distribution.
	Energy float64 `json:"energy"`
	// Score is the calibrated method's in-distribution score (−E for the
	// energy method) and Threshold the threshold in the same
	// orientation: the frame is out of distribution iff Score <
	// Threshold.
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	// Method is the scoring method: "energy", "msp", "maxlogit" or
	// "tmsp".
	Method string `json:"method"`
}

// Counters count what a Decider has seen and decided since it was made.
type Counters struct {
	Observations uint64
	OOD          uint64 // out-of-distribution observations
	Alerts       uint64 // alert messages (ModeFrame)
	Events       uint64 // events started: event_start messages
	Updates      uint64 // event_update messages
	Ended        uint64 // event_end messages
	// Suppressed counts the out-of-distribution observations that would
	// have started an event but fell in a cooldown.
	Suppressed uint64
}

// Options are a Decider's fixed parameters.
type Options struct {
	// DeviceID goes into every message; it must pass ValidateDeviceID.
	DeviceID string
	// Model goes into every message; SetModel changes it.
	Model Model
	// Clock tells the time where none is passed in; nil means
	// the system clock.
	Clock Clock
	// IDs makes message ids; nil means NewIDGenerator(Clock). Share one
	// generator between everything that makes messages.
	IDs *IDGenerator
}

// Decider turns observations into messages; see the package
// documentation and docs/mqtt.md. It is safe for concurrent use: frames,
// ticks and reloads may come from different goroutines.
//
// In ModeStream the Decider keeps a window of the last N observations.
// While no event is open, an out-of-distribution observation starts one
// (event_start) when at least K of the window's observations are out of
// distribution. The event then counts every observation. On each
// observation, after its counts are updated, the event ends (event_end)
// if the observation is the EndAfter-th consecutive in-distribution one;
// otherwise an event_update is sent if UpdateInterval has passed since
// the event's last event_start or event_update. The event also ends when
// Timeout has passed since its last out-of-distribution observation: Tick
// checks that, and so does Observe before it looks at the new
// observation, so that the outcome does not depend on how often Tick is
// called. When an event ends, the window is emptied.
//
// For Cooldown after an event_end (measured from the event_end's Time) no
// event starts. Observations during the cooldown are handled as usual
// otherwise: they are counted and enter the window. An
// out-of-distribution observation that finds K of N in the window during
// the cooldown starts nothing and is counted in Counters.Suppressed; the
// first out-of-distribution observation at or after the cooldown's end
// that finds K of N starts an event, and that event's Start and counts
// include the cooldown observations still in the window.
type Decider struct {
	clock  Clock
	ids    *IDGenerator
	device string

	mu    sync.Mutex
	s     Settings
	model Model
	cnt   Counters

	// The window: a ring of the last len(win) observations, oldest at
	// (head-n) mod len(win).
	win     []slot
	head, n int
	oodN    int // out-of-distribution observations in win

	open bool
	ev   eventState
	// ended and endTime: when the last event ended, for the cooldown.
	ended   bool
	endTime time.Time
}

type slot struct {
	time   time.Time
	seq    uint64
	ood    bool
	score  float64
	energy float64
}

type eventState struct {
	info    EventInfo
	lastOOD time.Time   // time of the last out-of-distribution observation
	lastMsg time.Time   // time of the last event_start or event_update
	idRun   int         // consecutive in-distribution observations
	last    Observation // latest observation of the event
}

// NewDecider returns a Decider with settings s.
func NewDecider(s Settings, opts Options) (*Decider, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateDeviceID(opts.DeviceID); err != nil {
		return nil, fmt.Errorf("decider: %w", err)
	}
	d := &Decider{clock: opts.Clock, ids: opts.IDs, device: opts.DeviceID, model: opts.Model}
	if d.clock == nil {
		d.clock = clock.Real{}
	}
	if d.ids == nil {
		d.ids = NewIDGenerator(d.clock)
	}
	d.s = s
	if s.Mode == ModeStream {
		d.win = make([]slot, s.N)
	}
	return d, nil
}

// Settings returns the current settings.
func (d *Decider) Settings() Settings {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s
}

// Counters returns the counts so far.
func (d *Decider) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cnt
}

// SetModel changes the model identity put into later messages.
func (d *Decider) SetModel(m Model) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.model = m
}

// SetSettings replaces the settings, e.g. on SIGHUP. Invalid settings are
// refused and the old ones kept.
//
// Staying in ModeStream keeps an open event open, with its id and counts,
// and keeps the cooldown and the window: the most recent observations of
// the window are kept if N shrinks. The new K, N and EndAfter apply from
// the next observation, the new Timeout from the next Tick or
// observation, and the new Cooldown and UpdateInterval at once. Switching
// from ModeStream to ModeFrame ends an open event with reason "reload",
// returned as the only message; switching to ModeStream starts with an
// empty window and no cooldown.
func (d *Decider) SetSettings(s Settings) ([]Message, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Message
	old := d.s
	d.s = s
	switch {
	case s.Mode == ModeFrame:
		if old.Mode == ModeStream && d.open {
			out = append(out, d.end(d.clock.Now(), EndReload))
		}
		d.win, d.head, d.n, d.oodN = nil, 0, 0, 0
		d.ended = false
	case old.Mode != ModeStream:
		d.win, d.head, d.n, d.oodN = make([]slot, s.N), 0, 0, 0
		d.ended = false
	case s.N != old.N:
		d.resize(s.N)
	}
	return out, nil
}

// resize keeps the most recent observations of the window in a window of
// n slots.
func (d *Decider) resize(n int) {
	win := make([]slot, n)
	keep := min(d.n, n)
	for i := range keep {
		win[i] = d.at(d.n - keep + i)
	}
	d.win, d.head, d.n, d.oodN = win, keep%n, keep, 0
	for i := range keep {
		if win[i].ood {
			d.oodN++
		}
	}
}

// at returns the i-th observation of the window, oldest first.
func (d *Decider) at(i int) slot {
	l := len(d.win)
	return d.win[(d.head-d.n+i+l)%l]
}

func (d *Decider) push(o Observation) {
	if d.n == len(d.win) {
		if d.win[d.head].ood {
			d.oodN--
		}
	} else {
		d.n++
	}
	d.win[d.head] = slot{time: o.Time, seq: o.FrameSeq, ood: o.OOD, score: o.Score, energy: o.Energy}
	if o.OOD {
		d.oodN++
	}
	d.head = (d.head + 1) % len(d.win)
}

func (d *Decider) clearWindow() {
	d.head, d.n, d.oodN = 0, 0, 0
}

// Observe takes the next observation and returns the messages it calls
// for, usually none. In ModeFrame that is one alert for an
// out-of-distribution observation. In ModeStream it is at most an
// event_end of a timed-out event followed by the event_start,
// event_update or event_end the observation causes. Observe allocates
// only when it returns messages.
func (d *Decider) Observe(o Observation) []Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o.Time.IsZero() {
		o.Time = d.clock.Now()
	}
	d.cnt.Observations++
	if o.OOD {
		d.cnt.OOD++
	}
	if d.s.Mode == ModeFrame {
		if !o.OOD {
			return nil
		}
		d.cnt.Alerts++
		return []Message{d.message(TypeAlert, o, o.Time, nil)}
	}

	var out []Message
	if d.timedOut(o.Time) {
		out = append(out, d.end(o.Time, EndTimeout))
	}
	d.push(o)
	switch {
	case d.open:
		d.add(o)
		switch {
		case d.ev.idRun >= d.s.EndAfter:
			out = append(out, d.end(o.Time, EndInDistribution))
		case d.s.UpdateInterval > 0 && o.Time.Sub(d.ev.lastMsg) >= d.s.UpdateInterval:
			d.ev.lastMsg = o.Time
			d.cnt.Updates++
			out = append(out, d.eventMessage(TypeEventUpdate, o.Time))
		}
	case o.OOD && d.oodN >= d.s.K:
		if d.ended && o.Time.Before(d.endTime.Add(d.s.Cooldown)) {
			d.cnt.Suppressed++
			break
		}
		out = append(out, d.start(o))
	}
	return out
}

// Tick ends an open event whose last out-of-distribution observation is
// Timeout or more before now, returning its event_end; otherwise it
// returns nil. Call it periodically, e.g. every second, so that events
// end even when frames stop coming.
func (d *Decider) Tick(now time.Time) []Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.timedOut(now) {
		return nil
	}
	return []Message{d.end(now, EndTimeout)}
}

// Shutdown ends an open event with reason "shutdown" and returns its
// event_end, or nil when no event is open. Call it when the agent stops,
// so that receivers do not wait for an end that never comes.
func (d *Decider) Shutdown(now time.Time) []Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.open {
		return nil
	}
	return []Message{d.end(now, EndShutdown)}
}

func (d *Decider) timedOut(now time.Time) bool {
	return d.open && now.Sub(d.ev.lastOOD) >= d.s.Timeout
}

// start opens an event at o, which is out of distribution, from the
// window that o completed.
func (d *Decider) start(o Observation) Message {
	first := 0
	for first < d.n && !d.at(first).ood {
		first++
	}
	// o is in the window, so first < d.n. Ties for the peak go to the
	// earliest frame, here and in add.
	f := d.at(first)
	ev := eventState{lastOOD: o.Time, lastMsg: o.Time, last: o}
	ev.info.Start = f.time
	ev.info.PeakScore, ev.info.PeakEnergy, ev.info.PeakFrameSeq = f.score, f.energy, f.seq
	for i := first; i < d.n; i++ {
		s := d.at(i)
		ev.info.Frames++
		if s.ood {
			ev.info.OODFrames++
			peak(&ev.info, s.score, s.energy, s.seq)
		}
	}
	ev.info.Duration = o.Time.Sub(ev.info.Start)
	ev.info.ID = d.newID(TypeEventStart, o, o.Time)
	d.ev = ev
	d.open = true
	d.cnt.Events++
	m := d.eventMessage(TypeEventStart, o.Time)
	m.ID = ev.info.ID
	return m
}

// peak folds one out-of-distribution observation into the event's peaks.
func peak(e *EventInfo, score, energy float64, seq uint64) {
	if score < e.PeakScore {
		e.PeakScore = score
		e.PeakFrameSeq = seq
	}
	e.PeakEnergy = max(e.PeakEnergy, energy)
}

// add counts o in the open event.
func (d *Decider) add(o Observation) {
	ev := &d.ev
	ev.last = o
	ev.info.Frames++
	if !o.OOD {
		ev.idRun++
		return
	}
	ev.idRun = 0
	ev.lastOOD = o.Time
	ev.info.OODFrames++
	ev.info.Duration = o.Time.Sub(ev.info.Start)
	peak(&ev.info, o.Score, o.Energy, o.FrameSeq)
}

func (d *Decider) end(now time.Time, why EndReason) Message {
	d.ev.info.EndReason = why
	m := d.eventMessage(TypeEventEnd, now)
	d.open = false
	d.ev = eventState{}
	d.ended = true
	d.endTime = now
	d.cnt.Ended++
	d.clearWindow()
	return m
}

// eventMessage makes a message of the open event about its latest
// observation.
func (d *Decider) eventMessage(typ Type, t time.Time) Message {
	info := d.ev.info
	return d.message(typ, d.ev.last, t, &info)
}

func (d *Decider) message(typ Type, o Observation, t time.Time, ev *EventInfo) Message {
	m := Message{
		Type:     typ,
		DeviceID: d.device,
		Time:     t,
		Origin:   o.Origin,
		FrameSeq: o.FrameSeq,
		Verdict:  o.Verdict,
		Model:    d.model,
		Event:    ev,
	}
	if typ != TypeEventStart {
		m.ID = d.newID(typ, o, t)
	}
	return m
}

// newID returns the id of a message of type typ at t about o: derived
// from o.Key for the message an input causes (alert, event_start), fresh
// otherwise.
func (d *Decider) newID(typ Type, o Observation, t time.Time) string {
	if o.Key != "" && (typ == TypeAlert || typ == TypeEventStart) {
		return DeriveID(t, d.device+"\x00"+string(typ)+"\x00"+o.Key)
	}
	return d.ids.NewAt(t)
}
