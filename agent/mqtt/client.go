package mqtt

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/ood-agent/ood-agent/agent/backoff"
	"github.com/ood-agent/ood-agent/agent/clock"
)

// Errors callers may branch on. They are wrapped with context.
var (
	// ErrNotConnected means there is no connection to the broker right now.
	ErrNotConnected = errors.New("mqtt: not connected")
	// ErrConnectionLost means the connection dropped before the broker
	// acknowledged; the message may or may not have arrived.
	ErrConnectionLost = errors.New("mqtt: connection lost before acknowledgement")
	// ErrClosed means Close was called.
	ErrClosed = errors.New("mqtt: client closed")
	// ErrNotAuthorized means the broker refused the credentials or the
	// client (CONNACK return code 4 or 5).
	ErrNotAuthorized = errors.New("mqtt: broker refused connection: not authorized")
	// ErrClientCertRequired means the broker asked for a TLS client
	// certificate and none is configured.
	ErrClientCertRequired = errors.New("mqtt: broker requires a TLS client certificate but none is configured")
	// ErrSubscriptionRefused means the broker answered a SUBSCRIBE with
	// the failure return code.
	ErrSubscriptionRefused = errors.New("mqtt: subscription refused by broker")
)

// quiesce is how long Close lets Paho flush the DISCONNECT packet.
const quiesce = 250 * time.Millisecond

// Client is a connection to one MQTT broker that Run keeps up. Its
// methods are safe for concurrent use.
type Client struct {
	cfg *config
	log *slog.Logger
	pc  paho.Client

	// gen counts connection attempts. A Publish that started on one
	// connection and sees another generation when its token completes
	// cannot know whether the broker got the message.
	gen atomic.Uint64
	// certRequested records that the broker asked for a client
	// certificate we do not have during the current attempt. Brokers
	// then drop the connection in ways that read as a reset or EOF, so
	// this is the only reliable way to explain the failure.
	certRequested atomic.Bool

	mu      sync.Mutex
	attempt *session // latest connection attempt; Paho reports its loss
	sess    *session // established connection, nil when disconnected
	changed chan struct{}
	lastErr error
	subs    map[string]*subscription
	subSeq  uint64 // the seq of the newest subscription
	running bool

	closing   chan struct{}
	closeOnce sync.Once
	loopDone  chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
	closed       atomic.Bool // shut down, by Close or by Run's ctx
}

type subscription struct {
	qos     byte
	handler paho.MessageHandler
	// gen is the connection generation on which the subscription was last
	// made (or is being made), so that Subscribe and the renewal after a
	// connect do not both subscribe: every SUBSCRIBE redelivers retained
	// messages. Guarded by Client.mu.
	gen uint64
	// seq orders the renewals after a connect as the Subscribe calls
	// were made, so that a caller who subscribes to its state topic last
	// knows, once that topic's messages arrive, that the other
	// subscriptions are in place.
	seq uint64
}

// session is one network connection to the broker.
type session struct {
	gen      uint64
	up       time.Time
	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error // set before lost is closed
}

func newSession(gen uint64) *session {
	return &session{gen: gen, lost: make(chan struct{})}
}

func (s *session) markLost(err error) {
	s.lostOnce.Do(func() {
		s.lostErr = err
		close(s.lost)
	})
}

func (s *session) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// New validates opts, loads TLS files and returns a Client that is not
// yet connected; Run connects it.
func New(opts Options) (*Client, error) {
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("broker", cfg.broker.Redacted(), "client_id", cfg.ClientID),
		changed:  make(chan struct{}),
		subs:     make(map[string]*subscription),
		closing:  make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	c.pc = paho.NewClient(c.pahoOptions())
	return c, nil
}

func (c *Client) pahoOptions() *paho.ClientOptions {
	cfg := c.cfg
	po := paho.NewClientOptions()
	po.AddBroker(cfg.broker.String())
	po.SetClientID(cfg.ClientID)
	po.SetUsername(cfg.Username)
	po.SetPassword(cfg.Password)
	po.SetCleanSession(cfg.CleanSession)
	// Without an explicit version Paho retries a refused 3.1.1 CONNECT
	// with 3.1, which turns an authorization failure into a confusing
	// protocol error.
	po.SetProtocolVersion(4)
	po.SetKeepAlive(cfg.KeepAlive)
	po.SetPingTimeout(min(cfg.KeepAlive, cfg.ConnectTimeout))
	po.SetConnectTimeout(cfg.ConnectTimeout)
	po.SetWriteTimeout(cfg.ConnectTimeout)
	// Paho's default dialer waits 30 s whatever the connect timeout.
	po.SetDialer(&net.Dialer{Timeout: cfg.ConnectTimeout})
	if cfg.tls != nil {
		tc := cfg.tls.Clone()
		if len(tc.Certificates) == 0 {
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				c.certRequested.Store(true)
				return &tls.Certificate{}, nil // continue without; the broker decides
			}
		}
		po.SetTLSConfig(tc)
	}
	// The Client's own loop reconnects; see the package documentation.
	po.SetAutoReconnect(false)
	po.SetConnectRetry(false)
	// Subscriptions are renewed by the loop, with their handlers.
	po.SetResumeSubs(false)
	if w := cfg.will; w != nil {
		po.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
	}
	// Messages queued in a persistent session can arrive before
	// Subscribe has installed their route; unrouted messages are dropped
	// but still acknowledged, so they cannot exhaust the inflight window.
	po.SetAutoAckDisabled(cfg.ManualAck)
	po.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
		c.log.Debug("mqtt message without handler", "topic", m.Topic())
		m.Ack()
	})
	po.SetConnectionLostHandler(func(_ paho.Client, err error) { c.connectionLost(err) })
	return po
}

// connectionLost is called by Paho, in its own goroutine, after a
// connection that was up has failed. Paho does not call it for failed
// connection attempts nor for Disconnect.
func (c *Client) connectionLost(err error) {
	c.mu.Lock()
	s := c.attempt
	if c.sess == s {
		c.sess = nil
	}
	c.notifyLocked()
	c.mu.Unlock()
	if s != nil {
		s.markLost(err)
	}
}

// notifyLocked wakes WaitConnected callers. c.mu must be held.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// session returns the established connection, or nil.
func (c *Client) session() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil || c.sess.isLost() {
		return nil
	}
	return c.sess
}

// Connected reports whether the client has a connection to the broker
// right now. The answer may be stale as soon as it is returned.
func (c *Client) Connected() bool {
	return c.session() != nil && c.pc.IsConnectionOpen()
}

// Changed returns a channel that is closed at the next change of the
// connection's state: a connection made or lost, an attempt that failed,
// Close. A publisher that failed takes it before publishing and waits on
// it, so that a reconnect wakes it at once instead of after a retry delay.
func (c *Client) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// WaitConnected blocks until the client is connected, ctx is done or the
// client is closed. When ctx ends first, the error also wraps the last
// connection error, such as ErrNotAuthorized or ErrClientCertRequired. It
// may return before the subscriptions are renewed and the online status
// published; OnConnect runs after those.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		connected := c.sess != nil && !c.sess.isLost()
		ch, lastErr := c.changed, c.lastErr
		c.mu.Unlock()
		if connected {
			return nil
		}
		if c.closed.Load() {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-c.closing:
			return ErrClosed
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("mqtt: wait for connection: %w (last attempt: %w)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("mqtt: wait for connection: %w", ctx.Err())
		}
	}
}

// Run connects to the broker and keeps the connection up until ctx is done
// or Close is called. Attempts that fail, at boot or after a lost
// connection, are retried after a backoff delay (package backoff). After each connection Run
// renews the subscriptions, publishes the online status and calls
// OnConnect.
//
// When ctx is done Run shuts down like Close (publishing the offline
// status, bounded by the connect timeout) and returns ctx.Err(). After
// Close it returns nil. Run may be called only once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("mqtt: Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	if c.isClosing() {
		close(c.loopDone)
		return nil
	}

	loopCtx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-loopCtx.Done():
		}
	}()
	c.loop(loopCtx)
	cancel()
	close(c.loopDone)

	if c.isClosing() {
		return nil
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ConnectTimeout)
	defer scancel()
	if err := c.shutdown(sctx); err != nil {
		c.log.Warn("mqtt shutdown", "err", err)
	}
	return ctx.Err()
}

func (c *Client) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// loop connects and reconnects until ctx is done.
func (c *Client) loop(ctx context.Context) {
	clk := clock.OrReal(c.cfg.Clock)
	bo := backoff.Backoff{Initial: c.cfg.BackoffInitial, Max: c.cfg.BackoffMax, Rand: c.cfg.Rand, Clock: clk}
	// Close cancels ctx, but from another goroutine: checking closing too
	// keeps a Close that just returned from racing with a new attempt.
	for failures := 0; ctx.Err() == nil && !c.isClosing(); {
		s, err := c.connect()
		if err != nil {
			failures++
			c.mu.Lock()
			c.lastErr = err
			c.notifyLocked()
			c.mu.Unlock()
			d := bo.Next()
			c.log.Warn("mqtt connect failed", "attempt", failures, "retry_in", d, "err", err)
			clock.Sleep(ctx, clk, d)
			continue
		}
		if c.closed.Load() {
			// Close gave up waiting for this attempt and has already
			// disconnected; do not leave the new connection behind.
			c.pc.Disconnect(uint(quiesce / time.Millisecond))
			return
		}
		if failures > 0 {
			c.log.Info("mqtt connected", "after_attempts", failures+1)
		} else {
			c.log.Info("mqtt connected")
		}
		failures = 0
		c.afterConnect(ctx, s)

		select {
		case <-s.lost:
		case <-ctx.Done():
			return
		}
		// A connection that survived a keep-alive period worked; one
		// that died sooner (a client id clash, a broker that kicks us)
		// must not be retried at the initial rate forever.
		if clk.Now().Sub(s.up) >= c.cfg.KeepAlive {
			bo.Reset()
		}
		d := bo.Next()
		c.log.Warn("mqtt connection lost", "err", s.lostErr, "reconnect_in", d)
		clock.Sleep(ctx, clk, d)
	}
}

// connect makes one connection attempt. Paho bounds it with the connect
// timeout, so it is not abandoned midway: an abandoned attempt could still
// succeed later behind the loop's back.
func (c *Client) connect() (*session, error) {
	s := newSession(c.gen.Add(1))
	c.mu.Lock()
	c.attempt = s
	c.mu.Unlock()

	c.certRequested.Store(false)
	tok := c.pc.Connect()
	<-tok.Done()
	if err := tok.Error(); err != nil {
		var rc byte
		if ct, ok := tok.(*paho.ConnectToken); ok {
			rc = ct.ReturnCode()
		}
		switch {
		case rc == packets.ErrRefusedBadUsernameOrPassword || rc == packets.ErrRefusedNotAuthorised:
			err = fmt.Errorf("%w (%w)", ErrNotAuthorized, err)
		case rc == packets.ErrNetworkError && c.certRequested.Load():
			err = fmt.Errorf("%w (%w)", ErrClientCertRequired, err)
		}
		return nil, fmt.Errorf("connect to %s: %w", c.cfg.broker.Redacted(), err)
	}
	s.up = clock.OrReal(c.cfg.Clock).Now()
	c.mu.Lock()
	if !s.isLost() {
		c.sess = s
		c.lastErr = nil
	}
	c.notifyLocked()
	c.mu.Unlock()
	return s, nil
}

// afterConnect renews subscriptions, publishes the online status and
// calls the OnConnect hook. Failures are logged: a broken connection is
// noticed by the loop anyway.
func (c *Client) afterConnect(ctx context.Context, s *session) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	type renewal struct {
		filter string
		sub    *subscription
	}
	var renew []renewal
	c.mu.Lock()
	for f, sub := range c.subs {
		if sub.gen != s.gen {
			sub.gen = s.gen
			renew = append(renew, renewal{f, sub})
		}
	}
	c.mu.Unlock()
	slices.SortFunc(renew, func(a, b renewal) int { return cmp.Compare(a.sub.seq, b.sub.seq) })
	for _, r := range renew {
		if err := c.subscribe(ctx, s, r.filter, r.sub); err != nil {
			c.log.Warn("mqtt resubscribe failed", "filter", r.filter, "err", err)
		}
	}
	if st := c.cfg.Status; st != nil {
		if err := c.Publish(ctx, st.Topic, c.statusPayload(true), st.QoS, true); err != nil {
			c.log.Warn("mqtt publish online status failed", "topic", st.Topic, "err", err)
		}
	}
	if c.cfg.OnConnect != nil {
		if err := c.cfg.OnConnect(ctx, c); err != nil {
			c.log.Warn("mqtt OnConnect hook failed", "err", err)
		}
	}
}

// Publish sends payload to topic and, for QoS 1 and 2, waits until the
// broker acknowledges it (PUBACK or PUBCOMP). It returns nil only then
// (for QoS 0: once the message is handed to the connection). It returns an
// error when not connected, when ctx ends first, and when the connection
// is lost before the acknowledgement, in which case the message may still
// arrive: callers retry and receivers de-duplicate.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, qos byte, retained bool) error {
	if err := validateTopic(topic); err != nil {
		return fmt.Errorf("mqtt: publish: %w", err)
	}
	if qos > 2 {
		return fmt.Errorf("mqtt: publish to %q: invalid QoS %d", topic, qos)
	}
	s := c.session()
	if s == nil {
		if c.closed.Load() {
			return fmt.Errorf("publish to %q: %w", topic, ErrClosed)
		}
		return fmt.Errorf("publish to %q: %w", topic, ErrNotConnected)
	}
	// Paho keeps the slice to resend it on a resumed session, after
	// Publish may have returned and the caller reused its buffer.
	tok := c.pc.Publish(topic, qos, retained, bytes.Clone(payload))
	select {
	case <-tok.Done():
	case <-s.lost:
		return fmt.Errorf("publish to %q: %w", topic, ErrConnectionLost)
	case <-ctx.Done():
		// Paho's Publish itself can block (up to the write timeout)
		// while a dropped connection is torn down; by the time it
		// returns, both the loss and the deadline may be ready, and
		// select picks at random. The loss is the cause: say so.
		if s.isLost() {
			return fmt.Errorf("publish to %q: %w", topic, ErrConnectionLost)
		}
		return fmt.Errorf("publish to %q: waiting for acknowledgement: %w", topic, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		if errors.Is(err, paho.ErrNotConnected) {
			return fmt.Errorf("publish to %q: %w", topic, ErrNotConnected)
		}
		// The topic and QoS were checked above: what fails here is the
		// connection, such as a write to a socket the broker just
		// closed, which Paho reports before its connection-lost signal.
		return fmt.Errorf("publish to %q: %w: %w", topic, ErrConnectionLost, err)
	}
	// Paho completes the tokens of in-flight messages without error when
	// a later connection resumes the session, and the connection-lost
	// signal may race with the acknowledgement: only a token completed on
	// the same, still-live connection proves a PUBACK.
	if s.isLost() || c.gen.Load() != s.gen {
		return fmt.Errorf("publish to %q: %w", topic, ErrConnectionLost)
	}
	return nil
}

// Subscribe registers handler for messages matching filter and subscribes
// at qos. The subscription is renewed after every reconnect. If the client
// is connected, Subscribe waits for the broker's SUBACK and returns its
// outcome; otherwise it returns nil and the subscription is made when the
// connection comes up. A filter the broker refuses is unregistered.
//
// With a persistent session (CleanSession false), call Subscribe before
// Run so that messages the broker queued while the client was away reach
// handler instead of being dropped.
//
// Handlers run one at a time in arrival order on the client's receive
// path and must return quickly: a blocked handler stalls keep-alives.
// Subscribing to the same filter again replaces its handler.
func (c *Client) Subscribe(ctx context.Context, filter string, qos byte, handler func(topic string, payload []byte)) error {
	if handler == nil {
		return fmt.Errorf("mqtt: subscribe to %q: nil handler", filter)
	}
	return c.route(ctx, filter, qos, func(_ paho.Client, m paho.Message) {
		handler(m.Topic(), m.Payload())
		m.Ack() // a no-op unless ManualAck
	})
}

// Message is a message as the broker delivered it.
type Message struct{ m paho.Message }

// Topic is the topic the message was published to.
func (m Message) Topic() string { return m.m.Topic() }

// Payload is the message body.
func (m Message) Payload() []byte { return m.m.Payload() }

// Retained reports a retained message the broker replayed on subscribe,
// an old state rather than news.
func (m Message) Retained() bool { return m.m.Retained() }

// Ack tells the broker the message is handled, with Options.ManualAck;
// otherwise it was acknowledged on arrival and Ack does nothing. It may be
// called from any goroutine, once or more.
func (m Message) Ack() { m.m.Ack() }

// SubscribeMessages is Subscribe for handlers that need the whole message
// and, with Options.ManualAck, acknowledge it themselves (Message.Ack)
// once it is safe.
func (c *Client) SubscribeMessages(ctx context.Context, filter string, qos byte, handler func(Message)) error {
	if handler == nil {
		return fmt.Errorf("mqtt: subscribe to %q: nil handler", filter)
	}
	return c.route(ctx, filter, qos, func(_ paho.Client, m paho.Message) { handler(Message{m}) })
}

// route is Subscribe with Paho's handler.
func (c *Client) route(ctx context.Context, filter string, qos byte, handler paho.MessageHandler) error {
	if err := validateFilter(filter); err != nil {
		return fmt.Errorf("mqtt: subscribe: %w", err)
	}
	if qos > 2 {
		return fmt.Errorf("mqtt: subscribe to %q: invalid QoS %d", filter, qos)
	}
	sub := &subscription{qos: qos, handler: handler}
	// The route goes in at once, connected or not: a persistent session
	// delivers its queued messages right after CONNACK, before the
	// SUBSCRIBE is renewed, and Paho acknowledges and drops messages it
	// has no route for.
	c.pc.AddRoute(routeTopic(filter), sub.handler)
	c.mu.Lock()
	c.subSeq++
	sub.seq = c.subSeq
	c.subs[filter] = sub
	s := c.sess
	if s != nil && !s.isLost() {
		sub.gen = s.gen
	} else {
		s = nil
	}
	c.mu.Unlock()

	if s == nil {
		return nil
	}
	err := c.subscribe(ctx, s, filter, sub)
	if errors.Is(err, ErrSubscriptionRefused) {
		c.mu.Lock()
		if c.subs[filter] == sub {
			delete(c.subs, filter)
		}
		c.mu.Unlock()
	}
	return err
}

// routeTopic is the topic filter Paho routes a subscription's messages
// by: without the $share/<group>/ or $queue/ prefix of a shared
// subscription, as Paho's Subscribe files it. The same key for AddRoute
// keeps one route per subscription; two would run the handler twice.
func routeTopic(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, topic, ok := strings.Cut(rest, "/"); ok {
			return topic
		}
	}
	return strings.TrimPrefix(filter, "$queue/")
}

func (c *Client) subscribe(ctx context.Context, s *session, filter string, sub *subscription) error {
	tok := c.pc.Subscribe(filter, sub.qos, sub.handler)
	select {
	case <-tok.Done():
	case <-s.lost:
		return fmt.Errorf("subscribe to %q: %w", filter, ErrConnectionLost)
	case <-ctx.Done():
		return fmt.Errorf("subscribe to %q: waiting for SUBACK: %w", filter, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe to %q: %w", filter, err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for _, granted := range st.Result() {
			if granted == 0x80 {
				return fmt.Errorf("subscribe to %q: %w", filter, ErrSubscriptionRefused)
			}
		}
	}
	return nil
}

// statusPayload returns the status payload to publish now.
func (c *Client) statusPayload(online bool) []byte {
	if f := c.cfg.Status.Payload; f != nil {
		return f(online)
	}
	if online {
		return c.cfg.online
	}
	return c.cfg.offline
}

// Close stops Run, publishes the offline status if a Status is configured
// and the client is connected (a clean disconnect does not fire the
// will), and disconnects. ctx bounds the whole shutdown. Closing twice
// does nothing and returns the first result.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if running {
		select {
		case <-c.loopDone:
		case <-ctx.Done():
		}
	}
	return c.shutdown(ctx)
}

func (c *Client) shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		if st := c.cfg.Status; st != nil && c.session() != nil {
			if err := c.Publish(ctx, st.Topic, c.statusPayload(false), st.QoS, true); err != nil {
				c.shutdownErr = fmt.Errorf("mqtt: publish offline status: %w", err)
			}
		}
		c.closed.Store(true)
		c.pc.Disconnect(uint(quiesce / time.Millisecond))
		c.mu.Lock()
		s := c.attempt
		c.sess = nil
		c.notifyLocked()
		c.mu.Unlock()
		if s != nil {
			s.markLost(ErrClosed)
		}
		c.log.Info("mqtt disconnected")
	})
	return c.shutdownErr
}
