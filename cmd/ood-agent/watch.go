package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/agent/mqtt"
)

func newWatchCommand() *cobra.Command {
	var (
		broker, clientID       string
		filters                []string
		username, passwordFile string
		tlsOpts                mqtt.TLSOptions
		qos                    int
		all, cleanSession      bool
	)
	cmd := &cobra.Command{
		Use:   "watch --broker URL [--topic FILTER]...",
		Short: "Subscribe to agents' alerts and print them as JSON lines (what a central server runs)",
		Long: `Subscribe to the alert topics of every agent under a prefix and print each
message as one JSON line on stdout, de-duplicated by id (the agents deliver at
least once). The broker keeps a persistent session for watch's client id
(default: ood-agent-watch-<host name>, the same on every run), so alerts
published while watch was away, or while it reconnects after a broker restart,
are delivered when it comes back; --clean-session gives that up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			password := os.Getenv("OOD_AGENT_MQTT_PASSWORD")
			if passwordFile != "" {
				data, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("password file: %w", err)
				}
				password = string(bytes.TrimSpace(data))
			}
			if clientID == "" {
				clientID = defaultWatchClientID()
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			c, err := mqtt.New(mqtt.Options{
				Broker: broker, ClientID: clientID, Username: username, Password: password, TLS: tlsOpts,
				KeepAlive: 30 * time.Second, CleanSession: cleanSession, Logger: log,
			})
			if err != nil {
				return err
			}
			p := &printer{w: cmd.OutOrStdout(), seen: newIDSet(100_000), raw: all}
			for _, f := range filters {
				if err := c.Subscribe(cmd.Context(), f, byte(qos), p.handle); err != nil {
					return err
				}
			}
			err = c.Run(cmd.Context())
			if err == context.Canceled {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&broker, "broker", "tcp://127.0.0.1:1883", "broker URL (tcp://, ssl://, mqtts://, ws://, wss://)")
	cmd.Flags().StringArrayVar(&filters, "topic", []string{"ood/+/alert"}, "topic filter; repeat it for several (--topic 'ood/+/alert' --topic 'ood/+/adaptation')")
	cmd.Flags().StringVar(&clientID, "client-id", "", "client id of the persistent session (default: ood-agent-watch-<host name>); run two watches with two ids")
	cmd.Flags().BoolVar(&cleanSession, "clean-session", false, "let the broker forget the session on disconnect (messages sent meanwhile are lost)")
	cmd.Flags().StringVar(&username, "username", "", "username")
	cmd.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password (default: $OOD_AGENT_MQTT_PASSWORD)")
	cmd.Flags().StringVar(&tlsOpts.CAFile, "ca-file", "", "CA certificate (PEM) to verify the broker")
	cmd.Flags().StringVar(&tlsOpts.CertFile, "cert-file", "", "client certificate (PEM) for mutual TLS")
	cmd.Flags().StringVar(&tlsOpts.KeyFile, "key-file", "", "client key (PEM) for mutual TLS")
	cmd.Flags().StringVar(&tlsOpts.ServerName, "server-name", "", "expected server name in the broker's certificate")
	cmd.Flags().IntVar(&qos, "qos", 1, "subscription QoS")
	cmd.Flags().BoolVar(&all, "all", false, "print every message (status, stats, binary evidence as a size) with its topic")
	return cmd
}

// defaultWatchClientID is stable across runs, so that the broker finds
// the persistent session again; the host name keeps two hosts apart.
func defaultWatchClientID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		var b [4]byte
		rand.Read(b[:])
		host = hex.EncodeToString(b[:])
	}
	return "ood-agent-watch-" + host
}

// printer writes one JSON line per distinct message.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	seen *idSet
	raw  bool
}

func (p *printer) handle(topic string, payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var msg struct {
		ID string `json:"id"`
	}
	isJSON := json.Unmarshal(payload, &msg) == nil
	if isJSON && msg.ID != "" && !p.seen.add(msg.ID) {
		return // a redelivery
	}
	if p.raw {
		var body any = json.RawMessage(payload)
		if !isJSON {
			body = fmt.Sprintf("<%d bytes>", len(payload))
		}
		line, _ := json.Marshal(map[string]any{"topic": topic, "payload": body})
		fmt.Fprintf(p.w, "%s\n", line)
		return
	}
	if !isJSON {
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil {
		return
	}
	fmt.Fprintf(p.w, "%s\n", compact.Bytes())
}

// idSet remembers the last n ids.
type idSet struct {
	ids   map[string]struct{}
	order []string
	next  int
}

func newIDSet(n int) *idSet { return &idSet{ids: map[string]struct{}{}, order: make([]string, n)} }

// add records id and reports whether it was new.
func (s *idSet) add(id string) bool {
	if _, ok := s.ids[id]; ok {
		return false
	}
	if old := s.order[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.order[s.next] = id
	s.next = (s.next + 1) % len(s.order)
	s.ids[id] = struct{}{}
	return true
}
