package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"
)

// serveHTTP serves /healthz and /metrics on the configured local address.
func (a *Agent) serveHTTP(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.HTTP.Listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		a.writeMetrics(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.log.Info("serving health and metrics", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return ctx.Err()
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

type health struct {
	Status        string  `json:"status"`
	Pipeline      bool    `json:"pipeline"`
	MQTTConnected bool    `json:"mqtt_connected"`
	OutboxDepth   int     `json:"outbox_depth"`
	LastFrameAgeS float64 `json:"last_frame_age_s,omitempty"`
	Model         string  `json:"model"`
	Version       string  `json:"version"`
	// Paused is set while a pause command holds the analysis.
	Paused bool `json:"paused"`
	// Rollout is the rollout state when remote control is on.
	Rollout *RolloutState `json:"rollout,omitempty"`
}

// healthz answers 200 while the pipeline runs. A broker that is away does
// not make the agent unhealthy: alerts wait in the outbox, and restarting
// the agent would not bring the broker back.
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	h := health{
		Pipeline: a.pipeline.Load(), MQTTConnected: a.client.Connected(), OutboxDepth: a.ob.Len(),
		Model: a.active().id.Name, Version: a.version, Status: "ok", Paused: a.paused.Load(),
	}
	if a.fleet != nil {
		h.Rollout = a.settings().Rollout
	}
	if last := a.lastFrame.Load(); last > 0 {
		h.LastFrameAgeS = a.clock.Now().Sub(time.Unix(0, last)).Seconds()
	}
	code := http.StatusOK
	if !h.Pipeline {
		h.Status, code = "stopped", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(h)
}
