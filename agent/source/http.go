package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/ood-agent/ood-agent/agent/backoff"
	"github.com/ood-agent/ood-agent/agent/clock"
)

// HTTPOptions configures an HTTP source.
type HTTPOptions struct {
	// URL is the http or https snapshot URL.
	URL string
	// Interval is the time from the start of one poll to the start of the
	// next. Zero means 1s.
	Interval time.Duration
	// Timeout limits one poll, including reading the body. Zero means 5s.
	Timeout time.Duration
	// MaxBytes is the largest response body accepted. Zero means 10 MiB.
	MaxBytes int64
	// Username and Password, when Username is set, are sent with basic
	// authentication.
	Username, Password string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// CAFile is a PEM file of certificates trusted for https in addition
	// to the system's.
	CAFile string
	// MaxBackoff caps the delay between polls after repeated failures.
	// Zero means 1m.
	MaxBackoff time.Duration
	// Clock is for tests; nil means the system clock.
	Clock clock.Clock
}

// HTTP is a source that polls a snapshot URL for a PNG or JPEG image.
//
// A failed poll (network error, status other than 200, body over MaxBytes
// or not an image) is logged and counted, and the source keeps polling:
// after n failures in a row the next poll waits a random delay between
// Interval·2ⁿ⁻¹ and Interval·2ⁿ, capped by MaxBackoff, but never less than
// Interval.
type HTTP struct {
	log      *slog.Logger
	client   *http.Client
	url      string
	origin   string
	auth     string // Authorization header value
	user     string
	pass     string
	interval time.Duration
	timeout  time.Duration
	maxBytes int64
	backoff  backoff.Backoff
	clock    clock.Clock
	failures int
	next     time.Time // start of the next poll
	seq      uint64
	counters

	mu     sync.Mutex
	closed bool
	done   chan struct{}
	cancel context.CancelFunc // of the poll in flight
}

// NewHTTP returns an HTTP source. A nil log discards.
func NewHTTP(opts HTTPOptions, log *slog.Logger) (*HTTP, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("source: http url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("source: http url %q: want an http or https URL", u.Redacted())
	}
	if opts.Username != "" && opts.BearerToken != "" {
		return nil, errors.New("source: http: basic auth and bearer token are exclusive")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if opts.CAFile != "" {
		pool, err := loadCAs(opts.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	h := &HTTP{
		log:      orDiscard(log).With("source", "http", "url", u.Redacted()),
		client:   &http.Client{Transport: tr},
		url:      opts.URL,
		origin:   u.Redacted(),
		user:     opts.Username,
		pass:     opts.Password,
		interval: orDefault(opts.Interval, time.Second),
		timeout:  orDefault(opts.Timeout, 5*time.Second),
		maxBytes: orDefault(opts.MaxBytes, 10<<20),
		done:     make(chan struct{}),
		clock:    clock.OrReal(opts.Clock),
	}
	if opts.BearerToken != "" {
		h.auth = "Bearer " + opts.BearerToken
	}
	h.backoff = backoff.Backoff{Initial: 2 * h.interval, Max: max(orDefault(opts.MaxBackoff, time.Minute), h.interval)}
	return h, nil
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("source: http ca file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("source: http ca file %s: no PEM certificates", file)
	}
	return pool, nil
}

// Live reports true: a snapshot not taken now is of no use later.
func (h *HTTP) Live() bool { return true }

// Counts returns the failed polls as errors.
func (h *HTTP) Counts() Counts { return h.counters.Counts() }

// Close stops polling and aborts a poll in flight.
func (h *HTTP) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	close(h.done)
	if h.cancel != nil {
		h.cancel()
	}
	h.client.CloseIdleConnections()
	return nil
}

// Next polls until a poll succeeds.
func (h *HTTP) Next(ctx context.Context) (Frame, error) {
	for {
		if err := h.wait(ctx); err != nil {
			return Frame{}, err
		}
		start := h.clock.Now()
		data, err := h.poll(ctx)
		if err != nil {
			select {
			case <-h.done:
				return Frame{}, ErrClosed
			default:
			}
			if ctx.Err() != nil {
				// Not the server's fault: poll again on the next call.
				return Frame{}, ctx.Err()
			}
			h.failures++
			h.errors.Add(1)
			d := max(h.backoff.Next(), h.interval)
			h.next = h.clock.Now().Add(d)
			h.log.Warn("poll failed", "err", err, "failures", h.failures, "retry_in", d)
			continue
		}
		if h.failures > 0 {
			h.log.Info("poll recovered", "failures", h.failures)
			h.failures = 0
			h.backoff.Reset()
		}
		h.next = start.Add(h.interval)
		h.seq++
		return Frame{Seq: h.seq, Time: h.clock.Now(), Origin: h.origin, Data: data}, nil
	}
}

func (h *HTTP) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return waitUntil(ctx, h.clock, h.done, h.next)
}

// waitUntil sleeps until t, returning early with ctx's error or ErrClosed
// when done is closed; a time in the past still reports a closed source.
func waitUntil(ctx context.Context, clk clock.Clock, done <-chan struct{}, t time.Time) error {
	d := t.Sub(clk.Now())
	if d <= 0 {
		select {
		case <-done:
			return ErrClosed
		default:
			return nil
		}
	}
	timer := clk.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return ErrClosed
	case <-timer.C():
		return nil
	}
}

func (h *HTTP) poll(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	h.cancel = cancel
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.cancel = nil
		h.mu.Unlock()
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "image/jpeg, image/png")
	switch {
	case h.auth != "":
		req.Header.Set("Authorization", h.auth)
	case h.user != "":
		req.SetBasicAuth(h.user, h.pass)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so that the connection can be reused.
		io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	if resp.ContentLength > h.maxBytes {
		return nil, fmt.Errorf("response of %d bytes exceeds limit %d", resp.ContentLength, h.maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, h.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if int64(len(data)) > h.maxBytes {
		return nil, fmt.Errorf("response exceeds limit of %d bytes", h.maxBytes)
	}
	if kindAt(data) == notImage {
		return nil, fmt.Errorf("response is not a PNG or JPEG image (Content-Type %q)", resp.Header.Get("Content-Type"))
	}
	return data, nil
}
