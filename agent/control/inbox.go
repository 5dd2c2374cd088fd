package control

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Inbox takes messages from MQTT subscriptions without blocking the
// client's receive path, and hands them one at a time to a processing
// function. The command service and the feedback service both use it.
type Inbox struct {
	transport  Transport
	what       string // for log lines and errors: "command", "feedback"
	log        *slog.Logger
	queue      chan []byte
	subscribed atomic.Bool
}

// ServiceDefaults returns queue, log and now with what the services built
// on an Inbox leave unset filled in: a queue of 16 messages, a logger that
// discards, time.Now.
func ServiceDefaults(queue int, log *slog.Logger, now func() time.Time) (int, *slog.Logger, func() time.Time) {
	if queue <= 0 {
		queue = 16
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return queue, log, now
}

// NewInbox returns an inbox that queues up to size messages; more are
// dropped and logged.
func NewInbox(t Transport, size int, what string, log *slog.Logger) *Inbox {
	return &Inbox{transport: t, what: what, log: log, queue: make(chan []byte, size)}
}

// Subscribe subscribes to topics at QoS 1. Call it before the transport
// connects when its session is persistent, so queued messages are not
// dropped; Run calls it when it has not been called.
func (in *Inbox) Subscribe(ctx context.Context, topics []string) error {
	in.subscribed.Store(true)
	for _, t := range topics {
		if err := in.transport.Subscribe(ctx, t, 1, in.receive); err != nil {
			return fmt.Errorf("%s: subscribe %s: %w", in.what, t, err)
		}
	}
	return nil
}

// receive runs on the MQTT client's receive path, which must not block.
func (in *Inbox) receive(topic string, payload []byte) {
	select {
	case in.queue <- append([]byte(nil), payload...):
	default:
		in.log.Warn(in.what+" dropped: too many messages waiting", "topic", topic, "queue", cap(in.queue))
	}
}

// Run subscribes (if Subscribe was not called) and calls process for each
// message until ctx is done.
func (in *Inbox) Run(ctx context.Context, topics []string, process func(context.Context, []byte)) error {
	if !in.subscribed.Load() {
		if err := in.Subscribe(ctx, topics); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case raw := <-in.queue:
			process(ctx, raw)
		}
	}
}
