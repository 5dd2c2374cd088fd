//go:build hub

package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/agent/mqtt"
	"github.com/ood-agent/ood-agent/config"
	"github.com/ood-agent/ood-agent/hub"
	"github.com/ood-agent/ood-agent/hub/ingest"
)

func newHubCommand() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "hub [--config hub.yaml]",
		Short: "Run the central server: store the fleet's alerts, status and stats; serve the web UI and JSON API",
		Long: `Subscribe to every agent's alert, status, stats and evidence topics, store them
in SQLite or PostgreSQL (each alert exactly once), and serve a web UI and a JSON
API guarded by a token. Settings: config/hub.example.yaml; docs/hub.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadHub(path)
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			level.Set(cfg.Log.SlogLevel())
			log := newLogger(cmd.ErrOrStderr(), cfg.Log.Format, level)
			hc, err := hubConfig(cfg)
			if err != nil {
				return err
			}
			hc.Logger = log
			hc.Ready = func(addr net.Addr) {
				scheme := "http"
				if hc.TLSCert != "" {
					scheme = "https"
				}
				log.Info("web UI and API ready", "url", fmt.Sprintf("%s://%s/", scheme, addr))
			}
			return hub.Run(cmd.Context(), hc)
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "hub configuration file (YAML; see config/hub.example.yaml)")
	return cmd
}

// hubConfig turns the configuration file into what hub.Run takes,
// reading the secrets.
func hubConfig(cfg *config.HubFile) (hub.Config, error) {
	h := cfg.Hub
	token, err := h.Token()
	if err != nil {
		return hub.Config{}, err
	}
	password, err := h.MQTT.Password()
	if err != nil {
		return hub.Config{}, err
	}
	var signer *control.Signer
	if h.Control.KeyFile != "" {
		key, err := control.LoadPrivateKey(h.Control.KeyFile)
		if err != nil {
			return hub.Config{}, fmt.Errorf("hub.control.key_file: %w", err)
		}
		signer = control.NewSigner(key)
	}
	m := h.MQTT
	return hub.Config{
		Database: h.Database, Retention: h.Retention, Listen: h.Listen,
		TLSCert: h.TLS.CertFile, TLSKey: h.TLS.KeyFile, Token: token.Reveal(), Signer: signer,
		DataDir: h.DataDir, PublicURL: h.PublicURL,
		Ingest: ingest.Options{
			Broker: m.Broker, ClientID: m.ClientID, Username: m.Username, Password: password.Reveal(),
			TLS: mqtt.TLSOptions{CAFile: m.TLS.CAFile, CertFile: m.TLS.CertFile, KeyFile: m.TLS.KeyFile,
				ServerName: m.TLS.ServerName, InsecureSkipVerify: m.TLS.InsecureSkipVerify},
			Prefix: m.TopicPrefix, ShareGroup: m.ShareGroup, Evidence: m.Evidence, KeepAlive: m.KeepAlive, BatchSize: m.BatchSize,
		},
	}, nil
}
