package deliver

import (
	"context"
	"log/slog"
	"time"

	"github.com/ood-agent/ood-agent/agent/backoff"
	"github.com/ood-agent/ood-agent/agent/clock"
	"github.com/ood-agent/ood-agent/agent/outbox"
)

// Publisher is the broker connection a Sender publishes through;
// *mqtt.Client implements it.
type Publisher interface {
	// Publish returns nil only once the broker has acknowledged the
	// message (for QoS ≥ 1).
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error
	// WaitConnected blocks until there is a connection.
	WaitConnected(ctx context.Context) error
	// Changed returns a channel closed at the next change of the
	// connection's state.
	Changed() <-chan struct{}
}

// SenderOptions configures a Sender.
type SenderOptions struct {
	// Backoff spaces out retries after a failed publish that the
	// connection's state does not explain; its Max is mqtt.backoff_max.
	Backoff backoff.Backoff
	// PublishTimeout bounds the wait for one acknowledgement; 0 means 30s.
	PublishTimeout time.Duration
	// Sent, if not nil, is called after each acknowledged message.
	Sent func()
	// Logger receives failed publishes; nil discards.
	Logger *slog.Logger
	// Clock is for tests; nil means the system clock.
	Clock clock.Clock
}

// Sender drains an outbox in order through a Publisher.
type Sender struct {
	ob   *outbox.Outbox
	pub  Publisher
	opts SenderOptions
	log  *slog.Logger
}

// NewSender returns a Sender of ob's messages through pub.
func NewSender(ob *outbox.Outbox, pub Publisher, opts SenderOptions) *Sender {
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 30 * time.Second
	}
	opts.Backoff.Clock = opts.Clock
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{ob: ob, pub: pub, opts: opts, log: log}
}

// Run publishes queued messages until ctx is done or the outbox is closed.
// It waits for a connection before publishing, so a start or an outage
// produces no failed publishes, and a failed publish is retried when the
// connection changes (a reconnect) or after the backoff delay, whichever
// comes first.
func (s *Sender) Run(ctx context.Context) error {
	for {
		if err := s.ob.Wait(ctx); err != nil {
			return err
		}
		if err := s.pub.WaitConnected(ctx); err != nil {
			return err
		}
		changed := s.pub.Changed()
		entries, err := s.ob.Peek(64)
		if err != nil {
			return err
		}
		for _, e := range entries {
			m := e.Message
			pctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
			err := s.pub.Publish(pctx, m.Topic, m.Payload, m.QoS, m.Retained)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := s.retry(ctx, changed, m, err); err != nil {
					return err
				}
				break
			}
			if err := s.ob.Ack(e.Seq); err != nil {
				return err
			}
			s.log.Debug("published", "topic", m.Topic, "id", m.ID)
			s.opts.Backoff.Reset()
			if s.opts.Sent != nil {
				s.opts.Sent()
			}
		}
	}
}

// retry waits after a failed publish until the connection changes or the
// backoff delay has passed.
func (s *Sender) retry(ctx context.Context, changed <-chan struct{}, m outbox.Message, err error) error {
	d := s.opts.Backoff.Next()
	s.log.Warn("publish failed; will retry", "topic", m.Topic, "id", m.ID, "err", err, "retry_in", d)
	t := clock.OrReal(s.opts.Clock).NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-t.C():
	}
	return nil
}
