package deliver

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/ood-agent/ood-agent/agent/outbox"
)

// WriterOptions configures a Writer.
type WriterOptions struct {
	// Backpressure makes the Writer wait for room in the outbox instead of
	// letting it drop messages: for sources whose every input must be
	// handled (files), a full queue then slows the pipeline down. Live
	// sources leave it off; their surplus frames are dropped upstream, and
	// a full outbox follows its drop policy.
	Backpressure bool
	// Synced, if set, runs after the done functions of a batch, so that
	// what they recorded (a source's ledger) reaches the disk once per
	// batch rather than once per input.
	Synced func() error
	// Logger receives drops and write failures; nil discards.
	Logger *slog.Logger
}

// queueLen bounds the items waiting for the writer: enough for a burst
// to be committed in one transaction, few enough that backpressure
// reaches the source soon and little sits in memory (an alert with its
// evidence is up to about 70 kB).
const queueLen = 64

// item is one producer's messages and what to run once they are on disk.
type item struct {
	msgs []outbox.Message
	done func()
}

// Writer commits messages to an outbox in batches. Put is safe for
// concurrent use; Run runs the commits.
type Writer struct {
	ob   *outbox.Outbox
	opts WriterOptions
	log  *slog.Logger
	in   chan item
	ran  chan struct{} // closed when Run returns

	mu     sync.RWMutex // guards closed against a late Put
	closed bool
}

// NewWriter returns a Writer for ob.
func NewWriter(ob *outbox.Outbox, opts WriterOptions) *Writer {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{ob: ob, opts: opts, log: log, in: make(chan item, queueLen), ran: make(chan struct{})}
}

// Put hands messages to the writer; done, if not nil, runs once they are
// committed to disk (a source records there that its input is handled).
// Put blocks while the writer is busy and its queue is full. After Close
// it commits directly, without waiting for room.
func (w *Writer) Put(msgs []outbox.Message, done func()) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		// Nothing may block the way out: no waiting for room now.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		w.commit(ctx, []item{{msgs, done}})
		return
	}
	w.in <- item{msgs, done}
}

// Run commits what is put until Close, then commits what is still queued
// and returns. Cancelling ctx ends a wait for room (see
// WriterOptions.Backpressure) and the messages waiting are not written:
// those tied to an input (with a done function) are made again when the
// input is read again at the next start; others (an event_end at
// shutdown) are lost rather than pushing out queued alerts.
func (w *Writer) Run(ctx context.Context) error {
	defer close(w.ran)
	batch := make([]item, 0, 256)
	for it := range w.in {
		batch = append(batch[:0], it)
	more:
		for len(batch) < cap(batch) {
			select {
			case it, ok := <-w.in:
				if !ok {
					break more
				}
				batch = append(batch, it)
			default:
				break more
			}
		}
		w.commit(ctx, batch)
	}
	return nil
}

// Close makes Run commit what is queued and return, and waits for it;
// Run must have been started.
func (w *Writer) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	<-w.ran
}

func (w *Writer) commit(ctx context.Context, batch []item) {
	if !w.opts.Backpressure {
		w.put(batch)
		return
	}
	// Commit as many items as the outbox has room for, then wait for
	// the sender to make room for the rest.
	for len(batch) > 0 {
		if err := w.ob.WaitRoom(ctx, len(batch[0].msgs)); err != nil {
			w.abandon(batch, err)
			return
		}
		room := w.ob.MaxMessages() - w.ob.Len()
		k, n := 1, len(batch[0].msgs)
		for k < len(batch) && n+len(batch[k].msgs) <= room {
			n += len(batch[k].msgs)
			k++
		}
		w.put(batch[:k])
		batch = batch[k:]
	}
}

// put writes a batch's messages in one transaction, then runs its done
// functions.
func (w *Writer) put(batch []item) {
	var msgs []outbox.Message
	for _, it := range batch {
		msgs = append(msgs, it.msgs...)
	}
	if len(msgs) > 0 {
		dropped, err := w.ob.PutAll(msgs)
		if dropped > 0 {
			w.log.Warn("outbox full: dropped messages", "dropped", dropped)
		}
		if err != nil && !errors.Is(err, outbox.ErrFull) {
			w.log.Error("outbox write failed", "messages", len(msgs), "err", err)
			return
		}
	}
	called := false
	for _, it := range batch {
		if it.done != nil {
			it.done()
			called = true
		}
	}
	if called && w.opts.Synced != nil {
		if err := w.opts.Synced(); err != nil {
			w.log.Error("record handled inputs", "err", err)
		}
	}
}

// abandon gives up on a batch that found no room before shutdown rather
// than make room by dropping queued alerts. Inputs behind the messages are
// not recorded as handled, so they are read again at the next start.
func (w *Writer) abandon(batch []item, why error) {
	fromInputs, others := 0, 0
	for _, it := range batch {
		if it.done != nil {
			fromInputs += len(it.msgs)
		} else {
			others += len(it.msgs)
		}
	}
	w.log.Warn("outbox full at shutdown: messages not queued", "from_inputs_read_again_at_start", fromInputs, "lost", others, "reason", why)
}
