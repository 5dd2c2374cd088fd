package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/hub/store"
)

// Writer is where the Ingester commits messages: *store.Store.
type Writer interface {
	Write(ctx context.Context, b *store.Batch) (store.WriteResult, error)
}

// Defaults for zero Options fields.
const (
	DefaultClientID  = "ood-agent-hub"
	DefaultBatchSize = 500
)

// Options configure an Ingester.
type Options struct {
	// Broker, Username, Password and TLS connect to the broker as the
	// agent does (see agent/mqtt.Options).
	Broker   string
	Username string
	Password string
	TLS      mqtt.TLSOptions
	// ClientID names the hub's persistent session; every replica needs
	// its own. Empty means DefaultClientID.
	ClientID string
	// Prefix is the agents' mqtt.topic_prefix.
	Prefix string
	// ShareGroup, if set, subscribes through $share/<ShareGroup>/… so
	// that replicas with the same group split the messages.
	ShareGroup string
	// Evidence subscribes to the evidence images too.
	Evidence bool
	// KeepAlive is the MQTT keep-alive; 0 means 30 s.
	KeepAlive time.Duration
	// BatchSize caps the messages committed per transaction; 0 means
	// DefaultBatchSize.
	BatchSize int
	// Store receives the records.
	Store Writer
	// Metrics, if set, are updated; Logger, if set, receives connection
	// events and rejected messages.
	Metrics *Metrics
	Logger  *slog.Logger
}

// Ingester is the hub's MQTT subscriber.
type Ingester struct {
	opts    Options
	parser  *Parser
	client  *mqtt.Client
	pending chan mqtt.Message
	done    chan struct{} // closed when Run returns
	log     *slog.Logger
	metrics *Metrics
	// subscribed is set once the first connection has made the
	// subscriptions: the session is persistent, so the broker keeps them
	// (and queues for the hub) across later disconnections.
	subscribed atomic.Bool
}

// New checks opts and returns an Ingester; Run connects it.
func New(opts Options) (*Ingester, error) {
	if opts.Store == nil {
		return nil, errors.New("ingest: no store")
	}
	parser, err := NewParser(opts.Prefix)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(opts.ShareGroup, "/+#") {
		return nil, fmt.Errorf("ingest: share group %q must be one topic level without wildcards", opts.ShareGroup)
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 30 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(vm.NewSet())
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	in := &Ingester{
		opts: opts, parser: parser, log: opts.Logger, metrics: opts.Metrics,
		pending: make(chan mqtt.Message, opts.BatchSize),
		done:    make(chan struct{}),
	}
	// A persistent session (CleanSession false) under a fixed client id,
	// acknowledged only after the commit: what the broker holds for the
	// hub survives hub restarts and database outages.
	client, err := mqtt.New(mqtt.Options{
		Broker:     opts.Broker,
		ClientID:   opts.ClientID,
		Username:   opts.Username,
		Password:   opts.Password,
		TLS:        opts.TLS,
		KeepAlive:  opts.KeepAlive,
		ManualAck:  true,
		BackoffMax: 30 * time.Second,
		Logger:     opts.Logger,
		OnConnect: func(context.Context, *mqtt.Client) error {
			in.subscribed.Store(true)
			in.log.Info("mqtt subscribed", "client_id", opts.ClientID, "filters", in.Filters())
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	in.client = client
	// The routes go in before Run, so that the messages a resumed session
	// delivers right after connecting reach receive.
	for _, f := range in.Filters() {
		if err := client.SubscribeMessages(context.Background(), f, 1, in.receive); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
	}
	return in, nil
}

// MQTTState says where the broker connection stands: "subscribed"
// (connected, the subscriptions made), "disconnected" (the broker holds
// the session's messages until the hub is back) or "connecting" (no
// subscription yet: what agents publish now is not kept for the hub).
func (in *Ingester) MQTTState() string {
	switch {
	case !in.subscribed.Load():
		return "connecting"
	case !in.client.Connected():
		return "disconnected"
	}
	return "subscribed"
}

// Filters returns the subscriptions the Ingester makes.
func (in *Ingester) Filters() []string {
	return in.parser.Filters(in.opts.ShareGroup, in.opts.Evidence)
}

// receive runs on the client's receive path: it only queues the message.
// A full queue blocks it, which stops reading from the broker: the
// backpressure that keeps a slow database from buffering without bound.
func (in *Ingester) receive(m mqtt.Message) {
	select {
	case in.pending <- m:
	case <-in.done: // unacknowledged: the broker delivers it again
	}
}

// Run connects and stores messages until ctx ends. Connection failures
// are retried; database failures are retried with the messages kept
// unacknowledged, so nothing is lost.
func (in *Ingester) Run(ctx context.Context) error {
	clientCtx, stop := context.WithCancel(ctx)
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		in.client.Run(clientCtx) // reconnects with backoff until stopped
	}()
	defer func() {
		close(in.done) // unblocks receive; what it holds stays unacknowledged
		stop()
		<-clientDone
	}()
	batch := &store.Batch{}
	msgs := make([]mqtt.Message, 0, in.opts.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-in.pending:
			msgs = append(msgs[:0], m)
		}
		// Take what else is waiting, up to a batch: under load one
		// transaction carries many messages, when idle each goes alone.
	drain:
		for len(msgs) < in.opts.BatchSize {
			select {
			case m := <-in.pending:
				msgs = append(msgs, m)
			default:
				break drain
			}
		}
		if err := in.commit(ctx, batch, msgs); err != nil {
			return err
		}
	}
}

// commit parses msgs into one batch, writes it — retrying until it
// succeeds or ctx ends — and then acknowledges every message.
func (in *Ingester) commit(ctx context.Context, batch *store.Batch, msgs []mqtt.Message) error {
	batch.Reset()
	now := time.Now()
	for _, m := range msgs {
		kind := topicKind(m.Topic())
		in.metrics.Received(kind).Inc()
		// A retained message is an old state replayed on subscribe (every
		// status, at each hub start): it must not count as the device
		// being seen now. A zero receive time leaves last seen alone.
		received := now
		if m.Retained() {
			received = time.Time{}
		}
		if err := in.parser.Parse(m.Topic(), m.Payload(), received, batch); err != nil {
			// Never stored, but acknowledged: a redelivery would be as
			// malformed as this copy.
			in.metrics.Dropped(Reason(err)).Inc()
			in.log.Warn("dropped message", "topic", m.Topic(), "bytes", len(m.Payload()), "err", err)
		}
	}
	delay := 100 * time.Millisecond
	for batch.Len() > 0 {
		res, err := in.opts.Store.Write(ctx, batch)
		if err == nil {
			in.metrics.Stored("alerts").Add(res.NewAlerts)
			in.metrics.Stored("stats").Add(res.NewStats)
			in.metrics.Duplicates.Add(len(batch.Alerts) - res.NewAlerts)
			done := time.Now()
			for _, a := range batch.Alerts {
				in.metrics.Lag.Update(done.Sub(a.Time).Seconds())
			}
			break
		}
		in.metrics.DBErrors.Inc()
		in.log.Error("store write failed; retrying", "err", err, "messages", len(msgs), "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err() // unacknowledged: the broker delivers them again
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
	in.metrics.BatchSize.Update(float64(len(msgs)))
	for _, m := range msgs {
		m.Ack()
	}
	return nil
}

// topicKind is the metrics label of a topic: its last level, or
// "evidence".
func topicKind(topic string) string {
	levels := strings.Split(topic, "/")
	if len(levels) >= 2 && levels[len(levels)-2] == "evidence" {
		return "evidence"
	}
	switch k := levels[len(levels)-1]; k {
	case "alert", "status", "stats", "adaptation":
		return k
	case "result":
		if len(levels) >= 2 && levels[len(levels)-2] == "feedback" {
			return "feedback_result"
		}
		return "cmd_result"
	}
	return "other"
}

// Publish sends payload on topic at QoS 1, not retained, over the
// Ingester's connection, and waits for the broker's acknowledgement or
// the end of ctx. The hub's signed commands go out this way (a retained
// command would only be refused as a replay on every reconnect).
func (in *Ingester) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := in.client.Publish(ctx, topic, payload, 1, false); err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	return nil
}
