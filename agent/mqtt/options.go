package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/clock"
)

// Defaults applied by New to zero-valued Options fields.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultBackoffInitial = 1 * time.Second
	DefaultBackoffMax     = 2 * time.Minute
)

// Options configure a Client.
type Options struct {
	// Broker is the broker URL. Schemes: tcp, mqtt (plain), ssl, tls,
	// mqtts (TLS), ws and wss (WebSocket). A missing port defaults to the
	// scheme's usual one. Credentials do not belong in the URL.
	Broker string
	// ClientID identifies the client to the broker. It is required: a
	// persistent session is found again by its client id.
	ClientID string
	// Username and Password authenticate the client; both may be empty.
	// The password never appears in logs or errors.
	Username string
	Password string
	// TLS configures ssl, tls, mqtts and wss connections. Setting it with
	// a plain scheme is an error, since it would silently be ignored.
	TLS TLSOptions

	// KeepAlive is the MQTT keep-alive interval, in whole seconds. It must
	// be at least one second: brokers reject or never time out clients
	// without one.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (dial, TLS and MQTT
	// handshakes) and each write. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CleanSession asks the broker to drop the session on disconnect. The
	// default, false, keeps subscriptions and queued QoS 1/2 messages
	// across reconnects.
	CleanSession bool
	// ManualAck makes the client acknowledge a QoS 1 or 2 message only
	// when its handler says so: handlers of Subscribe on return, those of
	// SubscribeMessages by calling Message.Ack — after the message is
	// safe, e.g. committed to a database. A message never acknowledged is
	// delivered again after the next reconnect of a persistent session.
	ManualAck bool

	// BackoffInitial and BackoffMax shape the delays between connection
	// attempts (see Backoff). Zero means DefaultBackoffInitial and
	// DefaultBackoffMax.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// Rand returns numbers in [0, 1) for backoff jitter; nil means
	// math/rand/v2. Tests inject it for reproducible delays.
	Rand func() float64
	// Clock times reconnects; nil means the system clock.
	Clock clock.Clock

	// Will is published by the broker if the connection dies without a
	// DISCONNECT. Nil means Status's offline message, if Status is set.
	Will *Will
	// Status, if set, is a retained topic the client keeps up to date:
	// Online after every connection, Offline from Close and, through the
	// will, when the connection dies.
	Status *Status
	// OnConnect, if set, runs after every successful connection, once the
	// subscriptions are renewed and the online status is published. Its
	// ctx ends after ConnectTimeout or when the client stops. Its error is
	// logged; it does not drop the connection.
	OnConnect func(ctx context.Context, c *Client) error

	// Logger receives connection events. Nil discards them.
	Logger *slog.Logger
}

// Will is a last-will message.
type Will struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Status describes a retained status topic.
type Status struct {
	Topic string
	// Online and Offline are the payloads; empty means "online" and
	// "offline".
	Online  []byte
	Offline []byte
	// Payload, if set, builds the payload published when the state
	// changes (online true after a connection, false before a clean
	// disconnect), so that it can carry the time it is sent. The will
	// is fixed at connect time and stays Offline.
	Payload func(online bool) []byte
	// QoS of the status messages; 0 means 1, since a lost status would
	// otherwise stay wrong until the next reconnect.
	QoS byte
}

// LogValue logs the options without the password, so that a config dump
// through slog cannot leak it.
func (o Options) LogValue() slog.Value {
	pw := ""
	if o.Password != "" {
		pw = "REDACTED"
	}
	return slog.GroupValue(
		slog.String("broker", redactURL(o.Broker)),
		slog.String("client_id", o.ClientID),
		slog.String("username", o.Username),
		slog.String("password", pw),
		slog.Bool("tls", !o.TLS.IsZero()),
		slog.Duration("keepalive", o.KeepAlive),
		slog.Bool("clean_session", o.CleanSession),
	)
}

// redactURL hides userinfo in a URL that may not even parse.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// The raw string may hold a password in a form url cannot
		// parse; do not echo it.
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// config is Options after validation and defaulting.
type config struct {
	Options
	broker  *url.URL
	tls     *tls.Config
	will    *Will
	online  []byte
	offline []byte
}

func (o Options) config() (*config, error) {
	c := &config{Options: o}
	u, err := ParseBroker(o.Broker)
	if err != nil {
		return nil, err
	}
	c.broker = u
	if o.ClientID == "" {
		return nil, errors.New("mqtt: client id is required")
	}
	if o.Password != "" && o.Username == "" {
		return nil, errors.New("mqtt: password given without a username")
	}
	if o.KeepAlive < time.Second {
		return nil, fmt.Errorf("mqtt: keepalive %v must be at least 1s", o.KeepAlive)
	}
	if o.ConnectTimeout < 0 || o.BackoffInitial < 0 || o.BackoffMax < 0 {
		return nil, errors.New("mqtt: negative timeout or backoff")
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = DefaultBackoffInitial
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffInitial)
	}
	if c.BackoffMax < c.BackoffInitial {
		return nil, fmt.Errorf("mqtt: backoff max %v below backoff initial %v", c.BackoffMax, c.BackoffInitial)
	}

	if isTLSScheme(u.Scheme) {
		if c.tls, err = o.TLS.Config(); err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
	} else if !o.TLS.IsZero() {
		return nil, fmt.Errorf("mqtt: TLS options set but broker scheme %q is not a TLS scheme", u.Scheme)
	}

	if s := o.Status; s != nil {
		if err := validateTopic(s.Topic); err != nil {
			return nil, fmt.Errorf("mqtt: status: %w", err)
		}
		if s.QoS > 2 {
			return nil, fmt.Errorf("mqtt: status: invalid QoS %d", s.QoS)
		}
		c.online, c.offline = s.Online, s.Offline
		if len(c.online) == 0 {
			c.online = []byte("online")
		}
		if len(c.offline) == 0 {
			c.offline = []byte("offline")
		}
		st := *s
		if st.QoS == 0 {
			st.QoS = 1
		}
		c.Status = &st
		c.will = &Will{Topic: s.Topic, Payload: c.offline, QoS: st.QoS, Retained: true}
	}
	if o.Will != nil {
		if err := validateTopic(o.Will.Topic); err != nil {
			return nil, fmt.Errorf("mqtt: will: %w", err)
		}
		if o.Will.QoS > 2 {
			return nil, fmt.Errorf("mqtt: will: invalid QoS %d", o.Will.QoS)
		}
		c.will = o.Will
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

var defaultPorts = map[string]string{
	"tcp": "1883", "mqtt": "1883",
	"ssl": "8883", "tls": "8883", "mqtts": "8883",
	"ws": "80", "wss": "443",
}

func isTLSScheme(s string) bool {
	return s == "ssl" || s == "tls" || s == "mqtts" || s == "wss"
}

// ParseBroker validates a broker URL and returns it with the scheme in
// lower case and an explicit port. URLs with credentials are rejected,
// and the error then shows the URL with the password redacted.
func ParseBroker(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("mqtt: broker URL is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Error quotes the input, which may hold a password.
		return nil, errors.New("mqtt: broker URL does not parse")
	}
	if u.User != nil {
		return nil, fmt.Errorf("mqtt: broker URL %s must not contain credentials; use the username and password options", u.Redacted())
	}
	u.Scheme = strings.ToLower(u.Scheme)
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("mqtt: broker URL %s: unsupported scheme %q (want tcp, mqtt, ssl, tls, mqtts, ws or wss)", u, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("mqtt: broker URL %s has no host", u)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" && (u.Path != "" && u.Path != "/" || u.RawQuery != "") {
		return nil, fmt.Errorf("mqtt: broker URL %s: path and query are only valid for ws and wss", u)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("mqtt: broker URL %s must not have a fragment", u)
	}
	if u.Port() == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, fmt.Errorf("mqtt: broker URL %s has an empty port", u)
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		u.Path = ""
	}
	return u, nil
}

// validateTopic checks a topic name for publishing: not empty, no
// wildcards and no NUL, as MQTT 3.1.1 section 4.7 requires.
func validateTopic(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic")
	case strings.ContainsAny(t, "+#\x00"):
		return fmt.Errorf("topic %q contains a wildcard or NUL", t)
	case len(t) > 65535:
		return errors.New("topic longer than 65535 bytes")
	}
	return nil
}

// validateFilter checks a subscription filter: '#' only as the last level
// and '+' and '#' only as whole levels.
func validateFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	if len(f) > 65535 || strings.ContainsRune(f, 0) {
		return fmt.Errorf("invalid topic filter %q", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.ContainsAny(l, "+#") && len(l) != 1 {
			return fmt.Errorf("topic filter %q: wildcard must fill a whole level", f)
		}
		if l == "#" && i != len(levels)-1 {
			return fmt.Errorf("topic filter %q: '#' must be the last level", f)
		}
	}
	return nil
}
