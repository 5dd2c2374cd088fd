package source

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script is an HTTP handler that answers each request with the next
// response of a list, repeating the last one.
type script struct {
	mu    sync.Mutex
	steps []http.HandlerFunc
	n     int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	step := s.steps[min(s.n, len(s.steps)-1)]
	s.n++
	s.mu.Unlock()
	step(w, r)
}

func (s *script) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func serve(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", http.DetectContentType(body))
		w.Write(body)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", code) }
}

func TestHTTPRecovers(t *testing.T) {
	jpg := encodeJPEG(t, 16, 16, 1)
	png1 := encodePNG(t, 8, 8, 2)
	big := encodeJPEG(t, 200, 200, 3)
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	sc := &script{steps: []http.HandlerFunc{
		status(http.StatusInternalServerError),
		serve([]byte("<html>please log in</html>")),
		serve(big), // over MaxBytes
		slow,       // over Timeout
		serve(jpg),
		serve(png1),
	}}
	srv := httptest.NewServer(sc)
	defer srv.Close()

	src, err := NewHTTP(HTTPOptions{
		URL:        srv.URL + "/snap.jpg",
		Interval:   10 * time.Millisecond,
		Timeout:    200 * time.Millisecond,
		MaxBytes:   int64(len(big) - 1),
		MaxBackoff: 40 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if !src.Live() {
		t.Error("Live() = false, want true")
	}
	for i, want := range [][]byte{jpg, png1, png1} {
		f, err := nextWithin(t, src, 5*time.Second)
		if err != nil {
			t.Fatalf("Next() #%d error %v", i+1, err)
		}
		if !bytes.Equal(f.Data, want) || f.Seq != uint64(i+1) || f.Origin != srv.URL+"/snap.jpg" {
			t.Errorf("Next() #%d = {Seq %d, Origin %s, %d bytes}, want Seq %d, %d bytes", i+1, f.Seq, f.Origin, len(f.Data), i+1, len(want))
		}
	}
	if got := src.Counts().Errors; got != 4 {
		t.Errorf("Counts().Errors = %d, want 4", got)
	}
}

func TestHTTPBacksOff(t *testing.T) {
	sc := &script{steps: []http.HandlerFunc{status(http.StatusServiceUnavailable)}}
	srv := httptest.NewServer(sc)
	defer srv.Close()
	src, err := NewHTTP(HTTPOptions{URL: srv.URL, Interval: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := nextWithin(t, src, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() error = %v, want deadline exceeded", err)
	}
	// Without backoff a second at 10ms intervals is 100 polls; with it,
	// delays double to 40-80ms: about 15.
	if n := sc.requests(); n < 5 || n > 30 {
		t.Errorf("server got %d requests in a second, want 5 to 30", n)
	}
	if got, n := src.Counts().Errors, sc.requests(); got < uint64(n-1) || got > uint64(n) {
		t.Errorf("Counts().Errors = %d after %d requests", got, n)
	}
}

func TestHTTPInterval(t *testing.T) {
	jpg := encodeJPEG(t, 8, 8, 1)
	srv := httptest.NewServer(serve(jpg))
	defer srv.Close()
	src, err := NewHTTP(HTTPOptions{URL: srv.URL, Interval: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	for range 5 {
		if _, err := nextWithin(t, src, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if elapsed := time.Since(start); elapsed < 200*time.Millisecond {
		t.Errorf("5 polls at a 50ms interval took %v, want at least 200ms", elapsed)
	}
}

func TestHTTPAuth(t *testing.T) {
	jpg := encodeJPEG(t, 8, 8, 1)
	tests := []struct {
		name string
		opts HTTPOptions
		want string
	}{
		{"basic", HTTPOptions{Username: "cam", Password: "s3cret"}, "Basic Y2FtOnMzY3JldA=="},
		{"bearer", HTTPOptions{BearerToken: "tok"}, "Bearer tok"},
		{"none", HTTPOptions{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Store(r.Header.Get("Authorization"))
				w.Write(jpg)
			}))
			defer srv.Close()
			tt.opts.URL = srv.URL
			src, err := NewHTTP(tt.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if _, err := nextWithin(t, src, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := got.Load(); got != tt.want {
				t.Errorf("Authorization = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHTTPTLS(t *testing.T) {
	jpg := encodeJPEG(t, 8, 8, 1)
	srv := httptest.NewUnstartedServer(serve(jpg))
	// The untrusted case makes the server log failed handshakes.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("trusted with CA file", func(t *testing.T) {
		src, err := NewHTTP(HTTPOptions{URL: srv.URL, CAFile: ca}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		f, err := nextWithin(t, src, 5*time.Second)
		if err != nil || !bytes.Equal(f.Data, jpg) {
			t.Fatalf("Next() = %d bytes, %v; want %d bytes", len(f.Data), err, len(jpg))
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		src, err := NewHTTP(HTTPOptions{URL: srv.URL, Interval: 20 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if _, err := nextWithin(t, src, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next() error = %v, want deadline exceeded", err)
		}
		if src.Counts().Errors == 0 {
			t.Error("Counts().Errors = 0, want failed polls counted")
		}
	})
}

func TestHTTPClose(t *testing.T) {
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	src, err := NewHTTP(HTTPOptions{URL: srv.URL, Timeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := src.Next(t.Context())
		errc <- err
	}()
	<-started
	src.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Next() during Close error = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not abort the poll in flight")
	}
	if n := src.Counts().Errors; n != 0 {
		t.Errorf("Counts().Errors = %d after Close, want 0", n)
	}
}

func TestNewHTTPErrors(t *testing.T) {
	tests := []struct {
		name string
		opts HTTPOptions
	}{
		{"empty", HTTPOptions{}},
		{"scheme", HTTPOptions{URL: "ftp://127.0.0.1/x.jpg"}},
		{"no host", HTTPOptions{URL: "http:///x.jpg"}},
		{"two auths", HTTPOptions{URL: "http://127.0.0.1/", Username: "a", BearerToken: "b"}},
		{"missing CA", HTTPOptions{URL: "https://127.0.0.1/", CAFile: filepath.Join(t.TempDir(), "none.pem")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHTTP(tt.opts, nil); err == nil {
				t.Errorf("NewHTTP(%+v) error = nil, want an error", tt.opts)
			}
		})
	}
}

func TestHTTPURLCredentials(t *testing.T) {
	jpg := encodeJPEG(t, 8, 8, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "cam" || p != "hunter2" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write(jpg)
	}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "http://", "http://cam:hunter2@", 1) + "/snap"
	src, err := NewHTTP(HTTPOptions{URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := nextWithin(t, src, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.Origin, "hunter2") || !strings.Contains(f.Origin, "cam:xxxxx@") {
		t.Errorf("Origin = %q, want the password masked", f.Origin)
	}
}
