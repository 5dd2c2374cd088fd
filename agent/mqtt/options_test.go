package mqtt

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseBroker(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "tcp://broker:1884", want: "tcp://broker:1884"},
		{in: "tcp://broker", want: "tcp://broker:1883"},
		{in: "mqtt://broker", want: "mqtt://broker:1883"},
		{in: "TCP://Broker:1", want: "tcp://Broker:1"},
		{in: "ssl://broker", want: "ssl://broker:8883"},
		{in: "tls://broker", want: "tls://broker:8883"},
		{in: "mqtts://broker", want: "mqtts://broker:8883"},
		{in: "ws://broker/mqtt", want: "ws://broker:80/mqtt"},
		{in: "wss://broker:9443/mqtt?x=1", want: "wss://broker:9443/mqtt?x=1"},
		{in: "tcp://[::1]", want: "tcp://[::1]:1883"},
		{in: "tcp://127.0.0.1:1883/", want: "tcp://127.0.0.1:1883"},
		{in: "", wantErr: "required"},
		{in: "broker:1883", wantErr: "scheme"},
		{in: "http://broker", wantErr: "unsupported scheme"},
		{in: "tcp://", wantErr: "no host"},
		{in: "tcp://:1883", wantErr: "no host"},
		{in: "tcp://broker:", wantErr: "empty port"},
		{in: "tcp://broker/path", wantErr: "only valid for ws"},
		{in: "tcp://broker#frag", wantErr: "fragment"},
		{in: "tcp://user:hunter2@broker", wantErr: "credentials"},
		{in: "tcp://bro ker:%zz", wantErr: "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseBroker(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseBroker(%q) = %v, %v, want error containing %q", tt.in, u, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("ParseBroker(%q) error %q leaks the password", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBroker(%q) = %v", tt.in, err)
			}
			if got := u.String(); got != tt.want {
				t.Errorf("ParseBroker(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseBroker(f *testing.F) {
	for _, s := range []string{
		"tcp://broker:1883", "ssl://b", "ws://b/mqtt", "tcp://u:p@b", "tcp://[::1]",
		"mqtts://b:", "tcp://b/x", "", "::", "tcp://%41",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseBroker(s)
		if err != nil {
			if u != nil {
				t.Fatalf("ParseBroker(%q) = %v, %v: URL with error", s, u, err)
			}
			if pu, perr := url.Parse(s); perr == nil && pu.User != nil {
				if pw, ok := pu.User.Password(); ok && len(pw) > 3 && strings.Contains(err.Error(), pw) {
					t.Fatalf("ParseBroker(%q) error %q leaks the password", s, err)
				}
			}
			return
		}
		if _, ok := defaultPorts[u.Scheme]; !ok {
			t.Fatalf("ParseBroker(%q) scheme = %q, not a supported one", s, u.Scheme)
		}
		if u.Port() == "" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("ParseBroker(%q) = %q: want host, port and no user", s, u)
		}
		// The result must be a fixed point: Paho re-parses the string.
		again, err := ParseBroker(u.String())
		if err != nil || again.String() != u.String() {
			t.Fatalf("ParseBroker(%q) = %q, re-parsed to %v, %v", s, u, again, err)
		}
	})
}

func validOptions() Options {
	return Options{Broker: "tcp://127.0.0.1:1883", ClientID: "agent-1", KeepAlive: 30 * time.Second}
}

func TestOptionsConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"no client id", func(o *Options) { o.ClientID = "" }, "client id"},
		{"zero keepalive", func(o *Options) { o.KeepAlive = 0 }, "keepalive"},
		{"sub-second keepalive", func(o *Options) { o.KeepAlive = 500 * time.Millisecond }, "keepalive"},
		{"negative timeout", func(o *Options) { o.ConnectTimeout = -1 }, "negative"},
		{"backoff max below initial", func(o *Options) { o.BackoffInitial, o.BackoffMax = time.Second, time.Millisecond }, "backoff max"},
		{"password without user", func(o *Options) { o.Password = "hunter2" }, "without a username"},
		{"TLS on plain scheme", func(o *Options) { o.TLS.CAFile = "/ca.pem" }, "not a TLS scheme"},
		{"TLS file missing", func(o *Options) { o.Broker = "ssl://b"; o.TLS.CAFile = "/nonexistent/ca.pem" }, "/nonexistent/ca.pem"},
		{"status wildcard", func(o *Options) { o.Status = &Status{Topic: "a/+/status"} }, "wildcard"},
		{"status QoS", func(o *Options) { o.Status = &Status{Topic: "a", QoS: 3} }, "QoS"},
		{"will empty topic", func(o *Options) { o.Will = &Will{} }, "empty topic"},
		{"will QoS", func(o *Options) { o.Will = &Will{Topic: "w", QoS: 7} }, "QoS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			tt.mod(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%s) = %v, want error containing %q", tt.name, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("New(%s) error %q leaks the password", tt.name, err)
			}
		})
	}
}

func TestOptionsConfigDefaults(t *testing.T) {
	o := validOptions()
	o.Status = &Status{Topic: "agents/a/status"}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConnectTimeout != DefaultConnectTimeout || cfg.BackoffInitial != DefaultBackoffInitial || cfg.BackoffMax != DefaultBackoffMax {
		t.Errorf("defaults = %v, %v, %v, want %v, %v, %v", cfg.ConnectTimeout, cfg.BackoffInitial, cfg.BackoffMax,
			DefaultConnectTimeout, DefaultBackoffInitial, DefaultBackoffMax)
	}
	if cfg.Status.QoS != 1 {
		t.Errorf("status QoS = %d, want 1", cfg.Status.QoS)
	}
	w := cfg.will
	if w == nil || w.Topic != "agents/a/status" || string(w.Payload) != "offline" || !w.Retained || w.QoS != 1 {
		t.Errorf("will from status = %+v, want retained QoS 1 \"offline\" on agents/a/status", w)
	}
	if string(cfg.online) != "online" {
		t.Errorf("online payload = %q, want \"online\"", cfg.online)
	}

	// An explicit will wins over the status-derived one.
	o.Will = &Will{Topic: "agents/a/will", Payload: []byte("gone")}
	if cfg, err = o.config(); err != nil {
		t.Fatal(err)
	}
	if cfg.will.Topic != "agents/a/will" {
		t.Errorf("will topic = %q, want the explicit agents/a/will", cfg.will.Topic)
	}
}

func TestOptionsLogValueRedactsPassword(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	o := validOptions()
	o.Username, o.Password = "agent", "hunter2"
	log.Info("config", "mqtt", o)
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("log output %q contains the password", out)
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "username=agent") {
		t.Errorf("log output %q, want username and a redacted password", out)
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		filter string
		ok     bool
	}{
		{"a/b", true},
		{"#", true},
		{"a/#", true},
		{"+/b/+", true},
		{"+", true},
		{"/", true},
		{"", false},
		{"a/#/b", false},
		{"a#", false},
		{"a/b+", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		if err := validateFilter(tt.filter); (err == nil) != tt.ok {
			t.Errorf("validateFilter(%q) = %v, want ok %t", tt.filter, err, tt.ok)
		}
	}
}

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
	}{
		{"a/b", true},
		{"/", true},
		{"", false},
		{"a/+", false},
		{"a/#", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		if err := validateTopic(tt.topic); (err == nil) != tt.ok {
			t.Errorf("validateTopic(%q) = %v, want ok %t", tt.topic, err, tt.ok)
		}
	}
}

// TestRouteTopic: a shared subscription's messages arrive on the plain
// topic, so its route must be the filter without the share prefix, as
// Paho files it; any other filter is its own route.
func TestRouteTopic(t *testing.T) {
	for _, tt := range []struct{ filter, want string }{
		{"ood/+/alert", "ood/+/alert"},
		{"$share/hubs/ood/+/alert", "ood/+/alert"},
		{"$share/hubs/#", "#"},
		{"$queue/ood/+/stats", "ood/+/stats"},
		{"$SYS/broker/uptime", "$SYS/broker/uptime"},
	} {
		if got := routeTopic(tt.filter); got != tt.want {
			t.Errorf("routeTopic(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
}
