package runner

import (
	"context"
	"log/slog"
	"time"

	"github.com/ood-agent/ood-agent/agent/outbox"
)

// Publisher sends one message and returns nil only once the broker has
// acknowledged it (for QoS ≥ 1).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error
}

// sender drains the outbox in order: a message is removed only after the
// publisher confirms it, so a broker outage or a crash never loses one (a
// message may be delivered twice; receivers de-duplicate by id).
type sender struct {
	ob      *outbox.Outbox
	pub     Publisher
	log     *slog.Logger
	retry   time.Duration // first retry delay after a failed publish
	maxWait time.Duration
	sent    func()
}

func (s *sender) run(ctx context.Context) error {
	delay := s.retry
	for {
		entries, err := s.ob.Peek(64)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.ob.Notify():
			case <-time.After(time.Second):
			}
			continue
		}
		failed := false
		for _, e := range entries {
			m := e.Message
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := s.pub.Publish(pctx, m.Topic, m.Payload, m.QoS, m.Retained)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("publish failed; will retry", "topic", m.Topic, "id", m.ID, "err", err, "retry_in", delay)
				failed = true
				break
			}
			if err := s.ob.Ack(e.Seq); err != nil {
				return err
			}
			if s.sent != nil {
				s.sent()
			}
			delay = s.retry
		}
		if failed {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay = min(2*delay, s.maxWait)
		}
	}
}

// flush publishes what is in the outbox until it is empty or ctx ends; used
// at shutdown so that queued alerts leave before the agent stops.
func (s *sender) flush(ctx context.Context) (left int) {
	for ctx.Err() == nil {
		entries, err := s.ob.Peek(64)
		if err != nil || len(entries) == 0 {
			break
		}
		for _, e := range entries {
			if err := s.pub.Publish(ctx, e.Message.Topic, e.Message.Payload, e.Message.QoS, e.Message.Retained); err != nil {
				return s.ob.Len()
			}
			if err := s.ob.Ack(e.Seq); err != nil {
				return s.ob.Len()
			}
		}
	}
	return s.ob.Len()
}
