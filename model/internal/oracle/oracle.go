package oracle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

var (
	// ErrUnavailable reports that Node.js or the installed oracle package is
	// missing.
	ErrUnavailable = errors.New("tflite oracle unavailable")
	// ErrRejected reports that the TensorFlow Lite runtime refused a request:
	// the model did not load, the inputs did not fit or inference failed.
	ErrRejected = errors.New("tflite runtime rejected request")
	// ErrClosed reports use of an Oracle whose process has ended.
	ErrClosed = errors.New("tflite oracle closed")
)

// Variant names a WebAssembly build of the runtime.
type Variant string

const (
	// VariantAuto uses the SIMD build when the engine supports it and the
	// plain build otherwise.
	VariantAuto Variant = "auto"
	// VariantSIMD is the build using WebAssembly SIMD instructions.
	VariantSIMD Variant = "simd"
	// VariantPlain is the build without SIMD.
	VariantPlain Variant = "plain"
)

// Tensor describes one input or output tensor as the runtime sees it.
type Tensor struct {
	Name string `json:"name"`
	// DType is the runtime's type name: float32, float64, int8, uint8,
	// int16, int32, uint32 or bool.
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	// Bytes is the size of the tensor's data.
	Bytes int `json:"bytes"`
}

// Info describes a model's inputs and outputs, in model order.
type Info struct {
	Inputs  []Tensor
	Outputs []Tensor
}

// Oracle is a running Node.js process hosting the TensorFlow Lite runtime.
// Its methods may be called from several goroutines; requests are served one
// at a time.
type Oracle struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   <-chan []byte
	done    <-chan struct{} // closed once the process has been waited for
	stderr  *tailBuffer
	tmp     string
	variant Variant
	version string

	mu     sync.Mutex // serializes requests
	nextID int64

	closeOnce sync.Once
	closeErr  error
}

// oracleDirEnv names the environment variable that overrides where the
// oracle tool is installed.
const oracleDirEnv = "OOD_ORACLE_DIR"

// setup is a located oracle installation.
type setup struct {
	node string // path of the node executable
	dir  string // tools/tflite-oracle
}

// Dir returns the directory holding oracle.mjs and its node_modules: the
// value of OOD_ORACLE_DIR if set, otherwise tools/tflite-oracle under the
// root of the Go module enclosing the working directory.
func Dir() (string, error) {
	if d := os.Getenv(oracleDirEnv); d != "" {
		return filepath.Abs(d)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "tools", "tflite-oracle"), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory (set %s)", ErrUnavailable, oracleDirEnv)
		}
		dir = parent
	}
}

// Available reports whether an Oracle can be started. The error wraps
// ErrUnavailable and says what is missing.
func Available() error {
	_, err := locate()
	return err
}

func locate() (setup, error) {
	dir, err := Dir()
	if err != nil {
		return setup{}, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return setup{}, fmt.Errorf("%w: node not found on PATH: %v", ErrUnavailable, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oracle.mjs")); err != nil {
		return setup{}, fmt.Errorf("%w: %v (set %s)", ErrUnavailable, err, oracleDirEnv)
	}
	wasm := filepath.Join(dir, "node_modules", "@tensorflow", "tfjs-tflite", "wasm", "tflite_web_api_cc.js")
	if _, err := os.Stat(wasm); err != nil {
		return setup{}, fmt.Errorf("%w: runtime not installed, run `npm ci` in %s: %v", ErrUnavailable, dir, err)
	}
	return setup{node: node, dir: dir}, nil
}

// Start starts an Oracle using the SIMD build when possible. The context
// bounds only the start-up; the process lives until Close.
func Start(ctx context.Context) (*Oracle, error) {
	return StartVariant(ctx, VariantAuto)
}

// StartVariant starts an Oracle using the given build of the runtime.
func StartVariant(ctx context.Context, v Variant) (*Oracle, error) {
	s, err := locate()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "tflite-oracle-")
	if err != nil {
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	cmd := exec.Command(s.node, filepath.Join(s.dir, "oracle.mjs"), "serve", "--variant", string(v))
	cmd.Dir = s.dir
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	lines := make(chan []byte)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				lines <- line
			}
			if err != nil {
				break
			}
		}
		close(lines)
		cmd.Wait()
	}()
	o := &Oracle{
		cmd:    cmd,
		stdin:  stdin,
		lines:  lines,
		done:   done,
		stderr: stderr,
		tmp:    tmp,
	}
	if err := o.awaitReady(ctx); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

func (o *Oracle) awaitReady(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("start oracle: %w", ctx.Err())
		case line, ok := <-o.lines:
			if !ok {
				return fmt.Errorf("start oracle: process exited: %s", o.stderr.String())
			}
			r, err := parseResponse(line)
			if err != nil || r.Ready == nil {
				continue // stray output
			}
			if !*r.Ready {
				return fmt.Errorf("start oracle: %s", r.Error)
			}
			o.variant = Variant(r.Variant)
			o.version = r.Version
			return nil
		}
	}
}

// Variant reports which build of the runtime the Oracle loaded.
func (o *Oracle) Variant() Variant { return o.variant }

// Version reports the version of the @tensorflow/tfjs-tflite package.
func (o *Oracle) Version() string { return o.version }

// Run loads model into a fresh interpreter, copies inputs (raw little-endian
// tensor bytes, one per model input, in order) into it, invokes it and
// returns the raw bytes of every output. Errors from the runtime itself wrap
// ErrRejected.
func (o *Oracle) Run(ctx context.Context, model []byte, inputs [][]byte) ([][]byte, Info, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exited() {
		return nil, Info{}, fmt.Errorf("run model: %w", ErrClosed)
	}
	id, dir, err := o.prepare(model)
	if err != nil {
		return nil, Info{}, fmt.Errorf("run model: %w", err)
	}
	defer os.RemoveAll(dir)
	req := request{ID: id, Op: "run", Model: filepath.Join(dir, "model.tflite"), OutputDir: filepath.Join(dir, "out")}
	for i, in := range inputs {
		p := filepath.Join(dir, "input_"+strconv.Itoa(i)+".bin")
		if err := os.WriteFile(p, in, 0o600); err != nil {
			return nil, Info{}, fmt.Errorf("run model: %w", err)
		}
		req.Inputs = append(req.Inputs, p)
	}
	r, err := o.roundTrip(ctx, req)
	if err != nil {
		return nil, Info{}, fmt.Errorf("run model: %w", err)
	}
	info := Info{Inputs: r.Inputs, Outputs: r.Outputs}
	outputs := make([][]byte, len(r.Outputs))
	for i, t := range r.Outputs {
		b, err := os.ReadFile(filepath.Join(req.OutputDir, "output_"+strconv.Itoa(i)+".bin"))
		if err != nil {
			return nil, info, fmt.Errorf("run model: %w", err)
		}
		if len(b) != t.Bytes {
			return nil, info, fmt.Errorf("run model: output %d has %d bytes, oracle announced %d", i, len(b), t.Bytes)
		}
		outputs[i] = b
	}
	return outputs, info, nil
}

// Inspect loads model and describes its inputs and outputs without running
// it, so that callers can size inputs for models they did not build.
func (o *Oracle) Inspect(ctx context.Context, model []byte) (Info, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exited() {
		return Info{}, fmt.Errorf("inspect model: %w", ErrClosed)
	}
	id, dir, err := o.prepare(model)
	if err != nil {
		return Info{}, fmt.Errorf("inspect model: %w", err)
	}
	defer os.RemoveAll(dir)
	r, err := o.roundTrip(ctx, request{ID: id, Op: "inspect", Model: filepath.Join(dir, "model.tflite")})
	if err != nil {
		return Info{}, fmt.Errorf("inspect model: %w", err)
	}
	return Info{Inputs: r.Inputs, Outputs: r.Outputs}, nil
}

func (o *Oracle) exited() bool {
	select {
	case <-o.done:
		return true
	default:
		return false
	}
}

// prepare allocates a request id and a directory holding the model. Each
// request gets its own directory because an abandoned request may still be
// reading its files while the next one is written.
func (o *Oracle) prepare(model []byte) (int64, string, error) {
	o.nextID++
	id := o.nextID
	dir := filepath.Join(o.tmp, "req"+strconv.FormatInt(id, 10))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return 0, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "model.tflite"), model, 0o600); err != nil {
		os.RemoveAll(dir)
		return 0, "", err
	}
	return id, dir, nil
}

// roundTrip sends req and waits for its response. When ctx ends first the
// request is abandoned; its late response is skipped by the next call.
func (o *Oracle) roundTrip(ctx context.Context, req request) (response, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return response{}, err
	}
	if _, err := o.stdin.Write(append(b, '\n')); err != nil {
		return response{}, fmt.Errorf("%w: %v: %s", ErrClosed, err, o.stderr.String())
	}
	for {
		select {
		case <-ctx.Done():
			return response{}, ctx.Err()
		case line, ok := <-o.lines:
			if !ok {
				return response{}, fmt.Errorf("%w: process exited: %s", ErrClosed, o.stderr.String())
			}
			r, err := parseResponse(line)
			if err != nil || r.ID == nil || *r.ID != req.ID {
				continue // stray output or the answer to an abandoned request
			}
			if !r.OK {
				return response{}, fmt.Errorf("%w: %s", ErrRejected, r.Error)
			}
			return r, nil
		}
	}
}

// Close ends the Node.js process and removes its temporary files.
func (o *Oracle) Close() error {
	o.closeOnce.Do(func() {
		// Closing stdin lets the server finish its current request and exit;
		// one stuck in a runaway model is killed.
		o.stdin.Close()
		kill := time.AfterFunc(10*time.Second, func() { o.cmd.Process.Kill() })
		// Answers to abandoned requests would otherwise block the reader.
		for range o.lines {
		}
		<-o.done
		kill.Stop()
		o.closeErr = os.RemoveAll(o.tmp)
	})
	return o.closeErr
}

// request is one line of the oracle protocol sent to Node.js.
type request struct {
	ID        int64    `json:"id"`
	Op        string   `json:"op"`
	Model     string   `json:"model"`
	Inputs    []string `json:"inputs,omitempty"`
	OutputDir string   `json:"output_dir,omitempty"`
}

// response is one line of the oracle protocol received from Node.js: the
// ready line (Ready set) or the answer to a request (ID set).
type response struct {
	ID      *int64   `json:"id"`
	Ready   *bool    `json:"ready"`
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Variant string   `json:"variant"`
	Version string   `json:"version"`
	Inputs  []Tensor `json:"inputs"`
	Outputs []Tensor `json:"outputs"`
}

// parseResponse decodes and checks one protocol line.
func parseResponse(line []byte) (response, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return response{}, errors.New("not a protocol line")
	}
	var r response
	if err := json.Unmarshal(line, &r); err != nil {
		return response{}, fmt.Errorf("parse oracle response: %w", err)
	}
	for _, ts := range [][]Tensor{r.Inputs, r.Outputs} {
		for _, t := range ts {
			if err := t.check(); err != nil {
				return response{}, fmt.Errorf("parse oracle response: %w", err)
			}
		}
	}
	return r, nil
}

func (t Tensor) check() error {
	if t.Bytes < 0 {
		return fmt.Errorf("tensor %q: negative size %d", t.Name, t.Bytes)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Shape)
		}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}
