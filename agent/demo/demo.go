package demo

import (
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

//go:embed frames/*.png
var frames embed.FS

// WriteFrames copies the bundled sample frames into dir and returns their
// names in order.
func WriteFrames(dir string) ([]string, error) {
	names, err := fs.Glob(frames, "frames/*.png")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		data, err := frames.ReadFile(n)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(n)
		if err := os.WriteFile(filepath.Join(dir, base), data, 0o644); err != nil {
			return nil, err
		}
		out = append(out, base)
	}
	return out, nil
}

// Broker is an embedded MQTT broker listening on loopback.
type Broker struct {
	server *mochi.Server
	addr   string
}

// StartBroker starts an embedded broker on a free loopback port.
func StartBroker(log *slog.Logger) (*Broker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := mochi.New(&mochi.Options{InlineClient: true, Logger: log})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "demo", Address: addr})); err != nil {
		return nil, err
	}
	if err := s.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{server: s, addr: addr}, nil
}

// URL is the broker's address as tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker.
func (b *Broker) Close() error { return b.server.Close() }
