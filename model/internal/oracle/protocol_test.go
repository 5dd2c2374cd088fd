package oracle

import (
	"errors"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantID  int64 // -1: no id
		wantOK  bool
		wantOut int
		wantErr bool
	}{
		{name: "ready", line: `{"ready":true,"variant":"simd","version":"0.0.1-alpha.10"}`, wantID: -1},
		{name: "run", line: `{"id":3,"ok":true,"variant":"simd","inputs":[{"name":"x","dtype":"float32","shape":[1,1],"bytes":4}],"outputs":[{"name":"y","dtype":"int8","shape":[],"bytes":1,"file":"/t/output_0.bin"}]}` + "\n", wantID: 3, wantOK: true, wantOut: 1},
		{name: "rejection", line: `{"id":4,"ok":false,"error":"create interpreter: boom"}`, wantID: 4},
		{name: "null id", line: `{"id":null,"ok":false,"error":"bad request"}`, wantID: -1},
		{name: "emscripten noise", line: "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", wantErr: true},
		{name: "empty", line: "\n", wantErr: true},
		{name: "truncated", line: `{"id":5,"ok":tr`, wantErr: true},
		{name: "negative size", line: `{"id":6,"ok":true,"outputs":[{"name":"y","dtype":"int8","shape":[1],"bytes":-1}]}`, wantErr: true},
		{name: "negative dim", line: `{"id":7,"ok":true,"inputs":[{"name":"x","dtype":"int8","shape":[-1],"bytes":1}]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseResponse([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseResponse(%q) error = %v, want error %t", tt.line, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			gotID := int64(-1)
			if r.ID != nil {
				gotID = *r.ID
			}
			if gotID != tt.wantID || r.OK != tt.wantOK || len(r.Outputs) != tt.wantOut {
				t.Errorf("parseResponse(%q) = id %d ok %t %d outputs, want id %d ok %t %d outputs",
					tt.line, gotID, r.OK, len(r.Outputs), tt.wantID, tt.wantOK, tt.wantOut)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"ready":true,"variant":"simd","version":"0.0.1-alpha.10"}`,
		`{"id":3,"ok":true,"inputs":[{"name":"x","dtype":"float32","shape":[1,1],"bytes":4}],"outputs":[]}`,
		`{"id":4,"ok":false,"error":"boom"}`,
		`[tflite] INFO: hello`,
		`{"id":1e99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := parseResponse(line)
		if err != nil {
			return
		}
		for _, ts := range [][]Tensor{r.Inputs, r.Outputs} {
			for _, x := range ts {
				if err := x.check(); err != nil {
					t.Errorf("parseResponse(%q) accepted tensor %+v: %v", line, x, err)
				}
			}
		}
	})
}

func TestParseBench(t *testing.T) {
	tests := []struct {
		name       string
		out        string
		wantMedian float64
		wantErr    error // nil: success; errAny: any error
	}{
		{name: "result", out: `{"median_ms":0.8,"p90_ms":0.9,"min_ms":0.7,"mean_ms":0.85,"iterations":100,"warmup":11,"threads":1,"variant":"simd"}` + "\n", wantMedian: 0.8},
		{name: "after noise", out: "warming up\n" + `{"median_ms":2,"p90_ms":3,"iterations":5,"threads":1,"variant":"plain"}`, wantMedian: 2},
		{name: "rejected", out: `{"ok":false,"error":"create interpreter: INVALID_ARGUMENT"}`, wantErr: ErrRejected},
		{name: "nothing", out: "", wantErr: errAny},
		{name: "p90 below median", out: `{"median_ms":2,"p90_ms":1,"iterations":5}`, wantErr: errAny},
		{name: "no iterations", out: `{"median_ms":2,"p90_ms":3,"iterations":0}`, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseBench([]byte(tt.out))
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("parseBench(%q) error: %v", tt.out, err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("parseBench(%q) error = %v, want %v", tt.out, err, tt.wantErr)
			}
			if r.MedianMS != tt.wantMedian {
				t.Errorf("parseBench(%q).MedianMS = %g, want %g", tt.out, r.MedianMS, tt.wantMedian)
			}
		})
	}
}

// errAny marks a test case that wants some error, whatever it is.
var errAny = errors.New("any error")

func FuzzParseBench(f *testing.F) {
	f.Add([]byte(`{"median_ms":0.8,"p90_ms":0.9,"iterations":100,"threads":1,"variant":"simd"}`))
	f.Add([]byte(`{"ok":false,"error":"x"}`))
	f.Add([]byte("noise\n{}\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		r, err := parseBench(out)
		if err == nil && (r.Iterations < 1 || r.P90MS < r.MedianMS) {
			t.Errorf("parseBench(%q) = %+v, accepted an implausible result", out, r)
		}
	})
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijk"} {
		b.Write([]byte(s))
	}
	if got, want := b.String(), "defghijk"; got != want {
		t.Errorf("tailBuffer.String() = %q, want %q", got, want)
	}
	b.Write([]byte(strings.Repeat("z", 20)))
	if got, want := b.String(), strings.Repeat("z", 8); got != want {
		t.Errorf("tailBuffer.String() after long write = %q, want %q", got, want)
	}
}
