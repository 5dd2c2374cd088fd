package feedback

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
)

// Recorder takes records from the frame loop and stores them in its own
// goroutine, so the loop never waits for the store's fsyncs. It copies
// what it is given (the detector's logits and features are valid only
// until its next run) and never blocks: when its queue is full the record
// is dropped and counted. Only feedback is lost that way, never an alert,
// which travels through the outbox. Flagged frames — the ones operators
// label — have a queue of their own, stored first, so that a burst of
// reservoir samples (a camera's first minutes) cannot crowd them out.
type Recorder struct {
	store     *Store
	log       *slog.Logger
	flagged   chan job
	unflagged chan job
	dropped   atomic.Uint64
}

type job struct {
	flagged bool
	ticket  Ticket
	rec     Record
}

// NewRecorder makes a recorder for s with room for queue waiting flagged
// records and as many unflagged ones (default 8 each).
func NewRecorder(s *Store, queue int, log *slog.Logger) *Recorder {
	if queue <= 0 {
		queue = 8
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: s, log: log.With("component", "feedback"),
		flagged: make(chan job, queue), unflagged: make(chan job, queue)}
}

// Flagged queues a flagged frame.
func (r *Recorder) Flagged(rec Record) { r.put(job{flagged: true, rec: rec}) }

// Draw is Store.Draw: call it for every unflagged frame, and Unflagged
// only when the ticket says Keep.
func (r *Recorder) Draw() Ticket { return r.store.Draw() }

// Unflagged queues an unflagged frame for the slot t drew.
func (r *Recorder) Unflagged(t Ticket, rec Record) {
	if t.Keep() {
		r.put(job{ticket: t, rec: rec})
	}
}

func (r *Recorder) put(j job) {
	j.rec.Logits = slices.Clone(j.rec.Logits)
	j.rec.Features = slices.Clone(j.rec.Features)
	j.rec.JPEG = slices.Clone(j.rec.JPEG)
	q := r.unflagged
	if j.flagged {
		q = r.flagged
	}
	select {
	case q <- j:
	default:
		r.dropped.Add(1)
		r.log.Warn("feedback record dropped: the store is behind", "alert_id", j.rec.AlertID, "flagged", j.flagged, "queue", cap(q))
	}
}

// Dropped is the number of records dropped because the queue was full.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Run stores queued records until ctx is done, then stores what is still
// queued and closes the store.
func (r *Recorder) Run(ctx context.Context) error {
	for {
		// Flagged records first, whenever one waits.
		select {
		case j := <-r.flagged:
			r.store1(j)
			continue
		default:
		}
		select {
		case j := <-r.flagged:
			r.store1(j)
		case j := <-r.unflagged:
			r.store1(j)
		case <-ctx.Done():
			for _, q := range []chan job{r.flagged, r.unflagged} {
				for len(q) > 0 {
					r.store1(<-q)
				}
			}
			return r.store.Close()
		}
	}
}

func (r *Recorder) store1(j job) {
	var err error
	if j.flagged {
		err = r.store.AddFlagged(j.rec)
	} else {
		err = r.store.Fill(j.ticket, j.rec)
	}
	if err != nil {
		r.log.Warn("feedback record not stored", "alert_id", j.rec.AlertID, "err", err)
	}
}
