package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Transport is the part of the MQTT client the Service uses;
// *mqtt.Client satisfies it.
type Transport interface {
	Subscribe(ctx context.Context, filter string, qos byte, handler func(topic string, payload []byte)) error
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error
}

// Handler carries out verified commands. The runner implements it.
type Handler interface {
	// Apply carries out cmd and returns what to report. An error is
	// reported with CodeOf(err) (ErrUnsupported gives CodeUnsupported).
	// Apply must not block for long: a slow step, such as a model
	// download, continues in the background and reports through
	// Service.Report.
	Apply(ctx context.Context, cmd Command) (Outcome, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, cmd Command) (Outcome, error)

// Apply calls f.
func (f HandlerFunc) Apply(ctx context.Context, cmd Command) (Outcome, error) { return f(ctx, cmd) }

// Outcome is what a Handler reports for an applied command.
type Outcome struct {
	Message string
	// Stage names a step of a long command ("accepted", "downloading",
	// "switched", "committed", "rolled_back"...); "" for one-step ones.
	Stage string
	// Settings are the effective settings after the command, marshalled
	// to JSON as they are.
	Settings any
	// Then, if set, runs once this outcome's result has been published: a
	// long command starts its later stages there, so that their results
	// cannot overtake it.
	Then func()
}

// ResultVersion is the result format version.
const ResultVersion = 1

// Result is published on <prefix>/<device>/cmd/result at QoS 1. A
// command may have several results: refusals and one-step commands have
// one, a rollout one per stage.
type Result struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	Type     Type      `json:"type,omitempty"`
	OK       bool      `json:"ok"`
	Code     Code      `json:"code,omitempty"`
	Message  string    `json:"message,omitempty"`
	Stage    string    `json:"stage,omitempty"`
	Settings any       `json:"settings,omitempty"`
	Time     time.Time `json:"time"`
}

// ServiceOptions configures a Service.
type ServiceOptions struct {
	Prefix    string
	Verifier  *Verifier
	Handler   Handler
	Transport Transport
	Log       *slog.Logger
	// Queue is how many received commands may wait; more are dropped
	// (and logged), so a flood cannot grow memory. Default 16.
	Queue int
	// Now stamps results; time.Now when nil.
	Now func() time.Time
}

// Service receives commands for one device, checks them with its
// Verifier, applies them with its Handler one at a time, and publishes a
// Result for every command it receives, refused or not.
type Service struct {
	opts     ServiceOptions
	log      *slog.Logger
	inbox    *Inbox
	refusals tokenBucket // results of refused commands
}

// Refusal results are limited to a burst of refusalBurst, then one per
// refusalEvery: enough for an operator's mistakes, not for a flood.
const (
	refusalBurst = 20
	refusalEvery = time.Second
)

// tokenBucket is a rate limiter used from Process only, one goroutine.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = refusalBurst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(refusalBurst, b.tokens+d.Seconds()/refusalEvery.Seconds())
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// NewService checks opts.
func NewService(opts ServiceOptions) (*Service, error) {
	if opts.Verifier == nil || opts.Handler == nil || opts.Transport == nil {
		return nil, errors.New("control: service needs a verifier, a handler and a transport")
	}
	if opts.Prefix == "" {
		return nil, errors.New("control: empty topic prefix")
	}
	opts.Queue, opts.Log, opts.Now = ServiceDefaults(opts.Queue, opts.Log, opts.Now)
	log := opts.Log.With("component", "control")
	return &Service{opts: opts, log: log, inbox: NewInbox(opts.Transport, opts.Queue, "command", log)}, nil
}

// Topics are the filters the service subscribes to: the device's own
// command topic, the broadcast one, and one per group.
func (s *Service) Topics() []string {
	v := s.opts.Verifier
	topics := []string{Device(v.device).Topic(s.opts.Prefix), All.Topic(s.opts.Prefix)}
	for _, g := range v.groups {
		topics = append(topics, Group(g).Topic(s.opts.Prefix))
	}
	return topics
}

// Subscribe subscribes to Topics at QoS 1. Call it before the transport
// connects when its session is persistent, so queued commands are not
// dropped; Run calls it when it has not been called.
func (s *Service) Subscribe(ctx context.Context) error { return s.inbox.Subscribe(ctx, s.Topics()) }

// Run subscribes and processes commands until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	return s.inbox.Run(ctx, s.Topics(), func(ctx context.Context, raw []byte) { s.Process(ctx, raw) })
}

// Process verifies, applies and reports one received envelope, and
// returns the result it published (or tried to).
func (s *Service) Process(ctx context.Context, raw []byte) Result {
	cmd, err := s.opts.Verifier.Verify(raw)
	if err != nil {
		r := Result{Code: CodeOf(err), Message: err.Error()}
		if ce := (*Error)(nil); errors.As(err, &ce) {
			r.ID = ce.CommandID
		}
		if !s.refusals.allow(s.opts.Now()) {
			// Someone is flooding the command topics; answering each
			// message would only amplify it.
			s.log.Debug("command refused, result not published (rate limit)", "id", r.ID, "code", r.Code)
			return r
		}
		s.log.Warn("command refused", "id", r.ID, "code", r.Code, "err", err)
		s.Report(ctx, r)
		return r
	}
	s.log.Info("command accepted", "id", cmd.ID, "type", cmd.Type, "target", cmd.Target.String(), "key", cmd.KeyID)
	out, err := s.apply(ctx, cmd)
	r := Result{ID: cmd.ID, Type: cmd.Type, OK: err == nil, Message: out.Message, Stage: out.Stage, Settings: out.Settings}
	if err != nil {
		r.Code = CodeOf(err)
		r.Message = err.Error()
		s.log.Warn("command failed", "id", cmd.ID, "type", cmd.Type, "code", r.Code, "err", err)
	}
	s.Report(ctx, r)
	if err == nil && out.Then != nil {
		out.Then()
	}
	return r
}

// apply calls the handler, turning a panic into a failure so that one bad
// command does not take the agent down.
func (s *Service) apply(ctx context.Context, cmd Command) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return s.opts.Handler.Apply(ctx, cmd)
}

// Report publishes r on the device's result topic at QoS 1, filling in
// the version, device and time; it retries a few times while the broker
// is unreachable. Handlers use it for the later stages of long commands.
func (s *Service) Report(ctx context.Context, r Result) error {
	r.V = ResultVersion
	r.Device = s.opts.Verifier.device
	if r.Time.IsZero() {
		r.Time = s.opts.Now().UTC()
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("control: result: %w", err)
	}
	topic := ResultTopic(s.opts.Prefix, r.Device)
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = s.opts.Transport.Publish(ctx, topic, data, 1, false)
		if err == nil || attempt == 5 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("control: publish result of %s: %w", r.ID, ctx.Err())
		case <-time.After(delay):
		}
		delay *= 2
	}
	if err != nil {
		s.log.Warn("command result not published", "id", r.ID, "err", err)
		return fmt.Errorf("control: publish result of %s: %w", r.ID, err)
	}
	return nil
}
