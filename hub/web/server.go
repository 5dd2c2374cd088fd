package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/ood-agent/ood-agent/hub/dispatch"
	"github.com/ood-agent/ood-agent/hub/store"
)

// Options configure a Server.
type Options struct {
	Store *store.Store
	// Token is the access token; it must not be empty.
	Token string
	// Metrics, if set, is served on /metrics with the Go runtime's and
	// the process's metrics (the ingest metrics are created there) and
	// gets the web metrics too.
	Metrics *vm.Set
	Logger  *slog.Logger
	// Now is the clock of the pages' time windows; nil means time.Now.
	Now func() time.Time
	// Dispatch signs and sends commands; nil turns fleet control off
	// (its endpoints answer 503 saying how to turn it on).
	Dispatch *dispatch.Dispatcher
	// MQTTState, if set, reports the ingest connection for /healthz
	// (ingest.Ingester.MQTTState).
	MQTTState func() string
}

// Server is the hub's HTTP handler.
type Server struct {
	store    *store.Store
	dispatch *dispatch.Dispatcher
	mqtt     func() string
	log      *slog.Logger
	now      func() time.Time
	handler  http.Handler
	metrics  webMetrics
	pages    *pages
}

type webMetrics struct {
	dbErrors *vm.Counter
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("web: no store")
	}
	if opts.Token == "" {
		return nil, errors.New("web: an access token is required")
	}
	set := opts.Metrics
	if set == nil {
		set = vm.NewSet()
	}
	s := &Server{store: opts.Store, dispatch: opts.Dispatch, mqtt: opts.MQTTState, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = webMetrics{dbErrors: set.NewCounter("ood_hub_web_db_errors_total")}
	durationBuckets := []float64{0.001, 0.003, 0.009, 0.027, 0.081, 0.243, 0.729, 2.187, 6.561, 19.683}
	var err error
	if s.pages, err = newPages(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		obs := set.NewPrometheusHistogramExt(fmt.Sprintf("ood_hub_http_request_seconds{route=%q}", pattern), durationBuckets)
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			h(w, r)
			obs.UpdateDuration(start)
		}))
	}
	route("GET /api/v1/devices", s.apiDevices)
	route("GET /api/v1/devices/{id}", s.apiDevice)
	route("GET /api/v1/devices/{id}/adaptations", s.apiAdaptations)
	route("GET /api/v1/alerts", s.apiAlerts)
	route("GET /api/v1/alerts/{id}", s.apiAlert)
	route("GET /api/v1/alerts/{id}/feedback", s.apiAlertFeedback)
	route("POST /api/v1/alerts/{id}/feedback", s.apiSendFeedback)
	route("GET /api/v1/evidence/{id}", s.apiEvidence)
	route("GET /api/v1/control", s.apiControl)
	route("POST /api/v1/devices/{id}/commands", s.apiSendCommand)
	route("POST /api/v1/groups/{group}/commands", s.apiSendCommand)
	route("POST /api/v1/commands", s.apiSendCommand)
	route("GET /api/v1/commands", s.apiCommands)
	route("POST /devices/{id}/commands", s.formCommand)
	route("GET /commands", s.pageCommands)
	route("POST /api/v1/models", s.apiUploadModel)
	route("GET /api/v1/models", s.apiModels)
	route("POST /api/v1/rollouts", s.apiStartRollout)
	route("GET /api/v1/rollouts", s.apiRollouts)
	route("GET /api/v1/rollouts/{id}", s.apiRollout)
	route("GET /rollouts", s.pageRollouts)
	route("POST /rollouts/models", s.formUpload)
	route("POST /rollouts", s.formRollout)
	route("GET /{$}", s.pageFleet)
	route("GET /devices/{id}", s.pageDevice)
	route("GET /alerts", s.pageAlerts)
	route("POST /alerts/{id}/feedback", s.formFeedback)
	mux.Handle("GET /static/", http.FileServerFS(staticFS))
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		set.WritePrometheus(w)
		vm.WriteProcessMetrics(w)
	})

	// Refusing cross-origin browser POSTs (Sec-Fetch-Site / Origin) keeps
	// another site from sending commands with an operator's session.
	guarded := newAuth(opts.Token).wrap(http.NewCrossOriginProtection().Handler(mux))
	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", s.healthz)
	// Agents download release files without the token: the signed
	// manifest's hashes protect them (docs/hub.md).
	root.HandleFunc("GET /models/{version}/{file}", s.modelFile)
	root.Handle("/", guarded)
	s.handler = securityHeaders(root)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// deviceView is a device with the aggregates the fleet page shows.
type deviceView struct {
	store.Device
	Alerts24h []int
}

// fleet gathers the fleet page: two queries whatever the fleet size.
func (s *Server) fleet(ctx context.Context) ([]deviceView, error) {
	now := s.now()
	devices, err := s.store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	hours, err := s.store.AlertsPerHour(ctx, "", now, 24)
	if err != nil {
		return nil, err
	}
	out := make([]deviceView, len(devices))
	for i, d := range devices {
		h := hours[d.ID]
		if h == nil {
			h = make([]int, 24)
		}
		out[i] = deviceView{Device: d, Alerts24h: h}
	}
	return out, nil
}

// device gathers one device with its last day of statistics.
func (s *Server) device(ctx context.Context, id string) (deviceView, []store.Stats, error) {
	now := s.now()
	d, err := s.store.Device(ctx, id)
	if err != nil {
		return deviceView{}, nil, err
	}
	hours, err := s.store.AlertsPerHour(ctx, id, now, 24)
	if err != nil {
		return deviceView{}, nil, err
	}
	stats, err := s.store.StatsSince(ctx, id, now.Add(-24*time.Hour), 1440)
	if err != nil {
		return deviceView{}, nil, err
	}
	v := deviceView{Device: d, Alerts24h: hours[id]}
	if v.Alerts24h == nil {
		v.Alerts24h = make([]int, 24)
	}
	return v, stats, nil
}
