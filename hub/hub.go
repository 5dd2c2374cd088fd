package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/hub/dispatch"
	"github.com/ood-agent/ood-agent/hub/ingest"
	"github.com/ood-agent/ood-agent/hub/store"
	"github.com/ood-agent/ood-agent/hub/web"
)

// Config is everything a hub needs to run.
type Config struct {
	// Database is sqlite:///path or a postgres:// URL.
	Database string
	// Retention is how long rows are kept; 0 means store.DefaultRetention.
	Retention time.Duration
	// Listen is the HTTP address; TLSCert and TLSKey, if set, serve HTTPS.
	Listen          string
	TLSCert, TLSKey string
	// Token guards the UI and API.
	Token string
	// Signer, if set, turns fleet control on: the hub signs commands
	// with it (docs/control.md). nil leaves control off.
	Signer *control.Signer
	// DataDir keeps uploaded model releases; required with Signer.
	DataDir string
	// PublicURL is the hub's address as agents reach it, the base of
	// the model URLs in manifests; "" makes them relative.
	PublicURL string
	// Ingest configures the MQTT side; its Store, Metrics and Logger are
	// filled in by Run.
	Ingest ingest.Options
	Logger *slog.Logger
	// Ready, if set, is called with the listening address once the HTTP
	// server accepts connections.
	Ready func(addr net.Addr)
}

// Run opens the store, starts ingest, retention and the HTTP server, and
// runs until ctx ends or one of them fails.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Retention == 0 {
		cfg.Retention = store.DefaultRetention
	}
	s, err := store.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer s.Close()

	// TYPE and HELP lines are a process-wide switch of the metrics
	// library; the hub is its only user in this process.
	vm.ExposeMetadata(true)
	set := vm.NewSet()
	metrics := ingest.NewMetrics(set)
	iopts := cfg.Ingest
	iopts.Store, iopts.Metrics, iopts.Logger = s, metrics, log.With("component", "ingest")
	in, err := ingest.New(iopts)
	if err != nil {
		return err
	}
	var disp *dispatch.Dispatcher
	if cfg.Signer != nil {
		if disp, err = dispatch.New(dispatch.Options{Signer: cfg.Signer, Prefix: iopts.Prefix, Publisher: in, Store: s,
			DataDir: cfg.DataDir, PublicURL: cfg.PublicURL}); err != nil {
			return err
		}
	}
	handler, err := web.New(web.Options{Store: s, Token: cfg.Token, Metrics: set, Logger: log.With("component", "web"), Dispatch: disp,
		MQTTState: in.MQTTState})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("hub: listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	go func() { errc <- in.Run(ctx) }()
	go func() {
		s.RunRetention(ctx, cfg.Retention, time.Hour, log.With("component", "retention"), metrics.DBErrors.Inc)
		errc <- ctx.Err()
	}()
	go func() {
		var err error
		if cfg.TLSCert != "" {
			err = srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		errc <- fmt.Errorf("hub: http: %w", err)
	}()
	if disp != nil {
		log.Info("fleet control on: agents must list this key in control.trusted_keys", "trusted_key", disp.PublicKey())
	}
	log.Info("hub running", "listen", ln.Addr().String(), "tls", cfg.TLSCert != "", "broker", iopts.Broker, "control", disp != nil, "client_id", iopts.ClientID, "share_group", iopts.ShareGroup)
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	err = <-errc
	cancel()
	shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	srv.Shutdown(shutdown)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}
