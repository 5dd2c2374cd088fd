package rollout

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/model/ood"
	"github.com/ood-agent/ood-agent/model/zoo"
)

// release is a model and calibration as the hub would serve them.
type release struct {
	version     string
	model, cal  []byte
	calibration *ood.Calibration
}

// zooRelease packs an embedded model; change, if set, edits its
// calibration before it is serialised.
func zooRelease(t testing.TB, version, name string, change func(*ood.Calibration)) release {
	t.Helper()
	f, c, err := zoo.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(c)
	}
	var buf bytes.Buffer
	if err := c.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return release{version: version, model: f.Raw, cal: buf.Bytes(), calibration: c}
}

func (r release) manifest(srv *hubServer) Manifest {
	m, err := NewManifest(r.version, r.model, r.cal,
		srv.add("/models/"+r.version+"/model.tflite", r.model), srv.add("/models/"+r.version+"/calibration.json", r.cal))
	if err != nil {
		panic(err) // the test releases are valid
	}
	return m
}

// hubServer is a real TLS HTTP server serving files with Range support
// through http.ServeContent, with ways to cut or stall a response.
type hubServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	// cutAfter[path] > 0 aborts the next response for path after that
	// many body bytes; stall does the same but blocks until the client
	// goes away.
	cutAfter map[string]int
	stall    bool
	// ignoreRange serves whole files whatever the Range header says,
	// as some proxies do.
	ignoreRange bool
	ranges      []string // "path range" per request
	served      map[string]int
}

func newHubServer(t testing.TB) *hubServer {
	h := &hubServer{files: map[string][]byte{}, cutAfter: map[string]int{}, served: map[string]int{}}
	h.Server = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hubServer) add(path string, data []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[path] = data
	return h.URL + path
}

func (h *hubServer) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	data, ok := h.files[r.URL.Path]
	cut := h.cutAfter[r.URL.Path]
	delete(h.cutAfter, r.URL.Path)
	stall := h.stall
	h.ranges = append(h.ranges, r.URL.Path+" "+r.Header.Get("Range"))
	if h.ignoreRange {
		r.Header.Del("Range")
	}
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	cw := &countingWriter{ResponseWriter: w, h: h, path: r.URL.Path, limit: cut, stall: stall, ctx: r.Context()}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(data))
}

// cut makes the next response for path end after n body bytes; with
// stall, it then hangs until the client goes away.
func (h *hubServer) cut(path string, n int, stall bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cutAfter[path] = n
	h.stall = stall
}

// unstall lets responses complete again.
func (h *hubServer) unstall() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stall = false
}

func (h *hubServer) servedBytes(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.served[path]
}

func (h *hubServer) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ranges...)
}

type countingWriter struct {
	http.ResponseWriter
	h     *hubServer
	path  string
	limit int
	n     int
	stall bool
	ctx   context.Context
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.limit > 0 && c.n+len(p) > c.limit {
		p = p[:c.limit-c.n]
		c.count(len(p))
		c.ResponseWriter.Write(p)
		c.n += len(p)
		c.ResponseWriter.(http.Flusher).Flush()
		if c.stall {
			<-c.ctx.Done()
		}
		panic(http.ErrAbortHandler)
	}
	// Counted before the bytes leave, so the client cannot have them
	// before the count.
	c.count(len(p))
	n, err := c.ResponseWriter.Write(p)
	c.n += n
	return n, err
}

func (c *countingWriter) count(n int) {
	c.h.mu.Lock()
	c.h.served[c.path] += n
	c.h.mu.Unlock()
}

// testEnv is a hub key and server and a manager directory.
type testEnv struct {
	t      testing.TB
	key    ed25519.PrivateKey
	signer *control.Signer
	srv    *hubServer
	dir    string
	frames []image.Image
}

func newEnv(t testing.TB) *testEnv {
	key, err := control.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, key: key, signer: control.NewSigner(key), srv: newHubServer(t), dir: filepath.Join(t.TempDir(), "models"), frames: idFrames(t)}
}

func (e *testEnv) ring() control.KeyRing {
	ring, err := control.ParseKeyRing([]string{e.signer.PublicKey()})
	if err != nil {
		e.t.Fatal(err)
	}
	return ring
}

func (e *testEnv) options(watch int) Options {
	return Options{
		Dir: e.dir, Keys: e.ring(), Client: e.srv.Client(), AgentVersion: "1.2.0",
		Config:         Config{WatchFrames: watch, MaxOODRate: 0.5},
		SelfTestFrames: func() []image.Image { return e.frames },
	}
}

func (e *testEnv) open(watch int) *Manager {
	e.t.Helper()
	m, err := Open(e.options(watch))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *testEnv) sign(m Manifest) []byte {
	e.t.Helper()
	signed, err := SignManifest(e.signer, m)
	if err != nil {
		e.t.Fatal(err)
	}
	return signed
}

// install rolls r out through the whole flow and commits it, feeding
// in-distribution frames through the watch.
func (e *testEnv) install(m *Manager, r release) {
	e.t.Helper()
	c, err := m.Prepare(context.Background(), e.sign(r.manifest(e.srv)))
	if err != nil {
		e.t.Fatalf("prepare %s: %v", r.version, err)
	}
	defer c.Close()
	if err := m.Activate(c); err != nil {
		e.t.Fatalf("activate %s: %v", r.version, err)
	}
	for i := 0; ; i++ {
		res, err := c.Detector.Image(e.frames[i%len(e.frames)])
		if err != nil {
			e.t.Fatal(err)
		}
		v, err := m.Observe(res.OOD)
		if err != nil {
			e.t.Fatal(err)
		}
		if v == VerdictCommit {
			return
		}
		if v == VerdictRollback || i > 10000 {
			e.t.Fatalf("install %s: verdict %v after %d frames, state %+v", r.version, v, i+1, m.State())
		}
	}
}

func (e *testEnv) wantCurrent(m *Manager, version string) {
	e.t.Helper()
	cur, ok := m.Current()
	if version == "" {
		if ok {
			e.t.Fatalf("current model is %s, want none (the configured model)", cur.Version)
		}
		return
	}
	if !ok || cur.Version != version {
		e.t.Fatalf("current model = %q (ok %v), want %q", cur.Version, ok, version)
	}
}

// idFrames are the Fashion-MNIST sample frames of the demo, which the zoo
// models accept as in distribution; oodFrames are the digit and noise ones.
func idFrames(t testing.TB) []image.Image  { return loadFrames(t, "0[1-8]-fashion-*.png") }
func oodFrames(t testing.TB) []image.Image { return loadFrames(t, "1[3-5]-*.png") }
func loadFrames(t testing.TB, glob string) []image.Image {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "demo", "frames", glob))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no frames %s: %v", glob, err)
	}
	var imgs []image.Image
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

// writeCA writes the test server's certificate for a child process.
func (e *testEnv) writeCA() string {
	path := filepath.Join(e.t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func containsAll(s string, subs ...string) error {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return fmt.Errorf("%q lacks %q", s, sub)
		}
	}
	return nil
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func base64URLEncode(b []byte) string    { return base64.RawURLEncoding.EncodeToString(b) }
func itoa(n int64) string                { return strconv.FormatInt(n, 10) }

func (r release) manifestSHA() string { return ood.SHA256Hex(r.model) }
