package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"log/slog"
	"time"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/outbox"
	"github.com/ood-agent/ood-agent/agent/source"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/preprocess"
	"github.com/ood-agent/ood-agent/model/tensor"
)

// decoded is a frame ready for inference.
type decoded struct {
	frame source.Frame
	img   image.Image
	// input is img preprocessed for det, the model active when it was
	// decoded; nil when preprocessing failed.
	input *tensor.Tensor
	det   *detect.Detector
	// dec holds img's pixels when the agent decoded the frame; it goes
	// back to the pool once the frame is classified.
	dec *preprocess.Decoder
}

// readyFrames is how many decoded frames wait for inference.
const readyFrames = 2

// runPipeline reads frames, decodes and preprocesses them in one goroutine
// and classifies them in another, so that everything before Invoke
// overlaps inference. It returns nil when the source is finished.
func (a *Agent) runPipeline(ctx context.Context) error {
	pump := a.pump
	frames := pump.Frames()
	ready := make(chan decoded, readyFrames)
	// Input tensors circulate between the two goroutines: one being
	// filled, those waiting in ready, one being classified.
	st := staging{free: make(chan *tensor.Tensor, readyFrames+2)}
	// Decoders too, since an image lives in its decoder's buffers: one
	// decoding, those waiting in ready, one being classified.
	decoders := make(chan *preprocess.Decoder, readyFrames+2)
	for range cap(decoders) {
		decoders <- new(preprocess.Decoder)
	}
	go func() {
		defer close(ready)
		for f := range frames {
			// Paused: frames are read (a camera cannot wait) and counted,
			// but not decoded, unless a snapshot waits for one.
			paused := a.paused.Load()
			if paused && len(a.snapshots) == 0 {
				a.pause(f)
				continue
			}
			img := f.Image
			var dec *preprocess.Decoder
			if img == nil {
				dec = <-decoders
				var err error
				img, err = dec.Decode(f.Data, a.limits)
				if err != nil {
					decoders <- dec
					a.skip(f, "decode", err)
					continue
				}
			}
			if a.fleet != nil {
				a.takeSnapshot(img, f.Origin)
			}
			if paused {
				if dec != nil {
					decoders <- dec
				}
				a.pause(f)
				continue
			}
			d := decoded{frame: f, img: img, dec: dec}
			d.det, d.input = st.fill(a.active().det, img)
			select {
			case ready <- d:
			case <-ctx.Done():
				f.Release()
				return
			}
		}
	}()
	for d := range ready {
		a.process(d)
		st.put(d.input)
		if d.dec != nil {
			decoders <- d.dec
		}
	}
	<-pump.Done()
	if err := pump.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

// skip accounts for a frame that could not be classified. It counts as
// handled: reading it again would fail again.
func (a *Agent) skip(f source.Frame, stage string, err error) {
	a.skipped.Inc()
	a.log.Warn("frame skipped", "frame", f.Origin, "stage", stage, "err", err)
	if done := a.handled(f); done != nil {
		a.writer.Put(nil, done) // in order with the frames before it
	}
	f.Release()
}

// pause accounts for a frame not analysed because the agent is paused.
func (a *Agent) pause(f source.Frame) {
	a.pausedFrames.Inc()
	if done := a.handled(f); done != nil {
		a.writer.Put(nil, done)
	}
	f.Release()
}

// handled returns what to run once a frame's messages are on disk: the
// ledger records it, so that a restart does not read it again.
func (a *Agent) handled(f source.Frame) func() {
	if a.ledger == nil || f.Key == "" {
		return nil
	}
	key := f.Key
	return func() { a.ledger.Add(key) }
}

func (a *Agent) process(d decoded) {
	defer d.frame.Release()
	if a.fleet != nil {
		a.swapIfReady()
	}
	m := a.active()
	start := time.Now() // inference time is measured on the system clock, even in tests
	r, err := a.classify(m.det, d)
	if err != nil && a.rollbackOnError(err) {
		a.log.Warn("new model failed on a frame; classifying it with the previous model", "frame", d.frame.Origin, "err", err)
		m = a.active()
		start = time.Now()
		r, err = a.classify(m.det, d)
	}
	elapsed := time.Since(start)
	if err != nil {
		a.skip(d.frame, "classify", err)
		return
	}
	isOOD, threshold := a.decide(r)
	a.frames.Inc()
	if isOOD {
		a.oodFrames.Inc()
	}
	a.latency.Update(elapsed.Seconds())
	a.energy.Update(r.Energy)
	a.win.add(float64(elapsed.Microseconds())/1000, r.Energy, isOOD)
	a.lastFrame.Store(a.clock.Now().UnixNano())
	t := d.frame.Time
	if t.IsZero() {
		t = a.clock.Now()
	}
	if a.log.Enabled(context.Background(), slog.LevelDebug) { // its arguments allocate, logged or not
		a.log.Debug("frame", "frame", d.frame.Origin, "seq", d.frame.Seq, "label", r.LabelName, "score", r.IDScore,
			"energy", r.Energy, "threshold", threshold, "ood", isOOD, "ms", float64(elapsed.Microseconds())/1000)
	}
	msgs := a.decider.Observe(event.Observation{
		Time: t, FrameSeq: d.frame.Seq, Origin: d.frame.Origin, Key: d.frame.Key,
		Verdict: event.Verdict{Label: r.Label, LabelName: r.LabelName, Confidence: r.Confidence,
			Energy: r.Energy, Score: r.IDScore, Threshold: threshold, Method: string(m.calib.Method)},
		OOD: isOOD,
	})
	evidence := a.enqueue(msgs, d.img, a.handled(d.frame))
	if a.feedback != nil {
		a.recordFeedback(m, r, msgs, d, threshold, isOOD, evidence)
	}
	if a.fleet != nil {
		// After the frame's messages, which name the model that
		// classified it, even when this verdict swaps it out.
		if !isOOD {
			a.fleet.kept.add(d.frame.Data, d.img)
		}
		a.observe(isOOD)
	}
}

// classify runs the detector on one frame, from its preprocessed input
// when that was made for det. While a rolled-out model is watched, a panic
// becomes an error, which rolls it back; otherwise a panic is a bug and
// crashes the agent as usual.
func (a *Agent) classify(det *detect.Detector, d decoded) (r detect.Result, err error) {
	if a.fleet != nil && a.fleet.previous != nil {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("model panicked: %v", p)
			}
		}()
	}
	if d.input != nil && d.det == det {
		return det.Tensor(d.input)
	}
	return det.Image(d.img)
}

// staging preprocesses frames into reused input tensors in the decoding
// goroutine; put hands a tensor back once its frame is classified.
type staging struct {
	det  *detect.Detector
	pre  *preprocess.Preprocessor
	free chan *tensor.Tensor
}

// fill preprocesses img for det into a free tensor. On failure it returns
// a nil tensor: the frame is then classified from img, which reports the
// error where classification errors are handled.
func (s *staging) fill(det *detect.Detector, img image.Image) (*detect.Detector, *tensor.Tensor) {
	if det != s.det {
		// A new model (a rollout): its input may differ. Tensors of the
		// old shape are dropped as they come back.
		s.det, s.pre = det, preprocess.New(det.Spec())
	}
	var t *tensor.Tensor
	select {
	case t = <-s.free:
		if spec := s.pre.Spec(); t.Type != spec.Type || t.NumElements() != spec.Width*spec.Height*spec.Channels {
			t = nil
		}
	default:
	}
	if t == nil {
		t = s.pre.Spec().NewTensor()
	}
	if err := s.pre.Image(img, t); err != nil {
		s.put(t)
		return det, nil
	}
	return det, t
}

// put returns t for reuse.
func (s *staging) put(t *tensor.Tensor) {
	if t == nil {
		return
	}
	select {
	case s.free <- t:
	default:
	}
}

// enqueue hands messages (and their evidence) to the outbox writer, and
// logs each one; done runs once they are on disk. It returns the evidence
// JPEG it encoded for img, if any.
func (a *Agent) enqueue(msgs []event.Message, img image.Image, done func()) (evidence []byte) {
	qos := byte(a.cfg.MQTT.QoS)
	var out []outbox.Message
	for i := range msgs {
		m := &msgs[i]
		if m.Type == event.TypeAlert || m.Type == event.TypeEventStart {
			a.alerts.Inc()
			if ev := a.cfg.MQTT.Evidence; ev.Enabled && img != nil {
				jpeg, err := event.EncodeEvidence(img, ev.MaxBytes, ev.Quality)
				if err != nil {
					a.log.Warn("evidence not attached", "id", m.ID, "err", err)
				} else {
					evidence = jpeg
					m.AttachEvidence(a.topics, len(jpeg))
					out = append(out, outbox.Message{ID: m.ID + "/evidence", Topic: m.Evidence.Topic, Payload: jpeg, QoS: qos, Created: m.Time})
				}
			}
		}
		payload, err := json.Marshal(m)
		if err != nil {
			a.log.Error("encode message", "id", m.ID, "err", err)
			continue
		}
		a.logMessage(m)
		out = append(out, outbox.Message{ID: m.ID, Topic: a.topics.Alert(), Payload: payload, QoS: qos, Created: m.Time})
	}
	if len(out) == 0 && done == nil {
		return evidence
	}
	a.writer.Put(out, done)
	return evidence
}

// logMessage says what the agent decided, one line per message.
func (a *Agent) logMessage(m *event.Message) {
	attrs := []any{"id", m.ID, "frame", m.Origin, "label", m.LabelName, "score", m.Score, "energy", m.Energy, "threshold", m.Threshold, "method", m.Method}
	if m.Event != nil {
		attrs = append(attrs, "event_id", m.Event.ID, "frames", m.Event.Frames, "ood_frames", m.Event.OODFrames)
		if m.Event.EndReason != "" {
			attrs = append(attrs, "end_reason", m.Event.EndReason)
		}
	}
	a.log.Info(string(m.Type), attrs...)
}
