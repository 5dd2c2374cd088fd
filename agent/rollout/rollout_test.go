package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/model/ood"
)

func TestRolloutCommitAndRollback(t *testing.T) {
	e := newEnv(t)
	var progress []Progress
	opts := e.options(8)
	opts.Progress = func(p Progress) {
		if p.Phase != PhaseDownloading || p.Done == 0 {
			progress = append(progress, p)
		}
	}
	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.wantCurrent(m, "")
	v1 := zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil)
	e.install(m, v1)
	e.wantCurrent(m, "v1")
	cur, _ := m.Current()
	if got, err := os.ReadFile(cur.ModelPath); err != nil || !bytes.Equal(got, v1.model) {
		t.Fatalf("installed model differs from the served one (%v)", err)
	}
	var phases []Phase
	for _, p := range progress {
		phases = append(phases, p.Phase)
	}
	want := []Phase{PhaseDownloading, PhaseStaged, PhaseStaged, PhaseWatching, PhaseCommitted}
	if !slices.Equal(phases, want) {
		t.Errorf("progress phases %v, want %v", phases, want)
	}

	// v2 goes live, then sees mostly out-of-distribution frames: back to v1.
	v2 := zooRelease(t, "v2", "fashion_mnist_cnn_energy", nil)
	c, err := m.Prepare(context.Background(), e.sign(v2.manifest(e.srv)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.SelfTest.Frames != len(e.frames) || !c.SelfTest.Passed {
		t.Errorf("self-test %+v, want %d frames passed", c.SelfTest, len(e.frames))
	}
	if err := m.Activate(c); err != nil {
		t.Fatal(err)
	}
	e.wantCurrent(m, "v2")
	if _, err := m.Prepare(context.Background(), e.sign(v1.manifest(e.srv))); !errors.Is(err, ErrBusy) {
		t.Errorf("Prepare during the watch = %v, want ErrBusy", err)
	}
	// The new model runs on noise and checkerboard frames, as a camera
	// whose new model does not fit its scene would, and flags them.
	var verdict Verdict
	bad := oodFrames(t)
	frames := 0
	for ; verdict == VerdictNone && frames < 8; frames++ {
		r, err := c.Detector.Image(bad[frames%len(bad)])
		if err != nil {
			t.Fatal(err)
		}
		if verdict, err = m.Observe(r.OOD); err != nil {
			t.Fatal(err)
		}
	}
	if verdict != VerdictRollback {
		t.Fatalf("verdict after %d OOD frames of 8 with a 50%% bound = %v, want rollback", frames, verdict)
	}
	e.wantCurrent(m, "v1")
	if st := m.State(); st.Phase != PhaseRolledBack || !strings.Contains(st.Reason, "out-of-distribution rate") {
		t.Errorf("state %+v, want rolled back for the OOD rate", st)
	}
	// After a restart v1 stays.
	e.wantCurrent(e.open(8), "v1")
}

func TestObserveCommitsBelowBound(t *testing.T) {
	e := newEnv(t)
	m := e.open(10)
	c, err := m.Prepare(context.Background(), e.sign(zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil).manifest(e.srv)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := m.Activate(c); err != nil {
		t.Fatal(err)
	}
	// 5 of 10 out of distribution is at the 50% bound, not above it.
	for i := range 10 {
		v, err := m.Observe(i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]Verdict{true: VerdictCommit, false: VerdictNone}[i == 9]; v != want {
			t.Fatalf("frame %d: verdict %v, want %v", i, v, want)
		}
	}
	e.wantCurrent(m, "v1")
	if v, _ := m.Observe(true); v != VerdictNone {
		t.Errorf("Observe after commit = %v, want none", v)
	}
}

func TestPrepareRefusals(t *testing.T) {
	e := newEnv(t)
	m := e.open(1)
	v1 := zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil)
	e.install(m, v1)

	otherKey, _ := control.GenerateKey(nil)
	v2 := zooRelease(t, "v2", "fashion_mnist_cnn_int8", nil)
	tamperedModel := bytes.Clone(v2.model)
	tamperedModel[len(tamperedModel)/2] ^= 0x40
	garbage := bytes.Repeat([]byte("not a model "), 100)
	strict := zooRelease(t, "v-strict", "fashion_mnist_cnn_int8", func(c *ood.Calibration) {
		// A threshold far above every ID score: a miscalibrated release.
		c.Threshold = 50
		if c.EnergyThreshold != nil {
			*c.EnergyThreshold = -50
		}
	})

	tests := []struct {
		name   string
		signed func() []byte
		want   []string
		code   control.Code
	}{
		{"tampered model", func() []byte {
			man := v2.manifest(e.srv)
			e.srv.add("/models/v2/model.tflite", tamperedModel)
			return e.sign(man)
		}, []string{"does not match the manifest's sha256"}, ""},
		{"tampered manifest", func() []byte {
			signed := e.sign(v2.manifest(e.srv))
			var env control.Envelope
			json.Unmarshal(signed, &env)
			payload, _ := base64URL(env.Payload)
			payload = bytes.Replace(payload, []byte(`"v2"`), []byte(`"v3"`), 1)
			env.Payload = base64URLEncode(payload)
			out, _ := json.Marshal(env)
			return out
		}, []string{"signature does not verify"}, control.CodeBadSignature},
		{"wrong key", func() []byte {
			signed, err := SignManifest(control.NewSigner(otherKey), v2.manifest(e.srv))
			if err != nil {
				t.Fatal(err)
			}
			return signed
		}, []string{"not in control.trusted_keys"}, control.CodeUntrustedKey},
		{"command signature on a manifest", func() []byte {
			payload, _ := json.Marshal(v2.manifest(e.srv))
			signed, _ := control.Seal(e.key, control.PurposeCommand, payload)
			return signed
		}, []string{"signature does not verify"}, control.CodeBadSignature},
		{"not a model", func() []byte {
			man := v2.manifest(e.srv)
			man.Version = "v-garbage"
			man.Model = Artifact{URL: e.srv.add("/garbage", garbage), SHA256: ood.SHA256Hex(garbage), Size: int64(len(garbage))}
			return e.sign(man)
		}, []string{"load:"}, ""},
		{"calibration of another model", func() []byte {
			man := v2.manifest(e.srv)
			man.Version = "v-mixed"
			man.Calibration = v1.manifest(e.srv).Calibration
			return e.sign(man)
		}, []string{"not bound to the manifest's model"}, ""},
		{"agent too old", func() []byte {
			man := v2.manifest(e.srv)
			man.MinAgentVersion = "1.10.0"
			return e.sign(man)
		}, []string{"needs agent 1.10.0 or newer"}, ""},
		{"size mismatch", func() []byte {
			man := v2.manifest(e.srv)
			man.Model.Size--
			return e.sign(man)
		}, []string{"more than the manifest's"}, ""},
		{"self-test fails", func() []byte {
			return e.sign(strict.manifest(e.srv))
		}, []string{"self-test failed: 0 of 8 in-distribution frames accepted"}, ""},
		{"missing file", func() []byte {
			man := v2.manifest(e.srv)
			man.Model.URL = e.srv.URL + "/nope"
			return e.sign(man)
		}, []string{"404"}, ""},
		{"already active", func() []byte {
			return e.sign(v1.manifest(e.srv))
		}, []string{"already the active model"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv.add("/models/v2/model.tflite", v2.model)
			c, err := m.Prepare(context.Background(), tt.signed())
			if err == nil {
				c.Close()
				t.Fatal("Prepare succeeded")
			}
			if e := containsAll(err.Error(), tt.want...); e != nil {
				t.Errorf("error: %v", e)
			}
			if tt.code != "" && control.CodeOf(err) != tt.code {
				t.Errorf("code %q, want %q", control.CodeOf(err), tt.code)
			}
			e.wantCurrent(m, "v1")
			if tt.code == "" {
				if st := m.State(); st.Phase != PhaseFailed || st.Reason != err.Error() {
					t.Errorf("state %+v, want failed with the error", st)
				}
			}
		})
	}
	// Nothing but v1 is in the versions directory after a later commit...
	e.install(m, v2)
	entries, _ := os.ReadDir(filepath.Join(e.dir, versionsDir))
	if len(entries) != 2 {
		var names []string
		for _, x := range entries {
			names = append(names, x.Name())
		}
		t.Errorf("versions after commit: %v, want the current and the previous", names)
	}
}

func TestResumeInterruptedDownload(t *testing.T) {
	for _, ignoreRange := range []bool{false, true} {
		t.Run(map[bool]string{false: "range", true: "no range support"}[ignoreRange], func(t *testing.T) {
			e := newEnv(t)
			m := e.open(1)
			r := zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil)
			signed := e.sign(r.manifest(e.srv))
			e.srv.cut("/models/v1/model.tflite", 100_000, false)
			if _, err := m.Prepare(context.Background(), signed); err == nil || !strings.Contains(err.Error(), "resumable") {
				t.Fatalf("cut download: %v, want a resumable error", err)
			}
			fi, err := os.Stat(filepath.Join(e.dir, partialDir, ood.SHA256Hex(r.model)+".part"))
			if err != nil || fi.Size() == 0 || fi.Size() > 100_000 {
				t.Fatalf("partial file after the cut: %v, %v; want 1 to 100000 bytes", fi, err)
			}
			first := e.srv.servedBytes("/models/v1/model.tflite")
			if ignoreRange {
				e.srv.mu.Lock()
				e.srv.ignoreRange = true
				e.srv.mu.Unlock()
			}
			c, err := m.Prepare(context.Background(), signed)
			if err != nil {
				t.Fatalf("resumed download: %v", err)
			}
			c.Close()
			reqs := e.srv.requests()
			last := reqs[len(reqs)-2] // the model; the calibration comes after
			want := "/models/v1/model.tflite bytes=" + itoa(fi.Size()) + "-"
			if last != want {
				t.Errorf("resumed request %q, want %q (all: %q)", last, want, reqs)
			}
			// The retry fetches only what the partial file lacks (or, from
			// a server ignoring Range, everything again).
			again := e.srv.servedBytes("/models/v1/model.tflite") - first
			if ignoreRange && again != len(r.model) {
				t.Errorf("retry got %d model bytes without range support, want %d", again, len(r.model))
			}
			if !ignoreRange && again != len(r.model)-int(fi.Size()) {
				t.Errorf("retry got %d model bytes, want the missing %d", again, len(r.model)-int(fi.Size()))
			}
		})
	}
}

func TestStalledDownloadIsCut(t *testing.T) {
	e := newEnv(t)
	m := e.open(1)
	m.dl.idle = 300 * time.Millisecond
	r := zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil)
	signed := e.sign(r.manifest(e.srv))
	e.srv.cut("/models/v1/model.tflite", 50_000, true)
	_, err := m.Prepare(context.Background(), signed)
	if err == nil || !strings.Contains(err.Error(), "no data for 300ms") || !strings.Contains(err.Error(), "resumable") {
		t.Fatalf("stalled download: %v, want a resumable error naming the stall", err)
	}
	e.srv.unstall()
	before := len(e.srv.requests())
	c, err := m.Prepare(context.Background(), signed)
	if err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	c.Close()
	if reqs := e.srv.requests()[before:]; len(reqs) == 0 || !strings.HasPrefix(reqs[0], "/models/v1/model.tflite bytes=") {
		t.Errorf("requests after the stall %q, want a resumed range request first", reqs)
	}
}

func TestRedirectToHTTPRefused(t *testing.T) {
	e := newEnv(t)
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	r := zooRelease(t, "v1", "fashion_mnist_cnn_energy_int8", nil)
	man := r.manifest(e.srv)
	e.srv.Config.Handler = http.RedirectHandler(plain.URL+"/model.tflite", http.StatusFound)
	_, err := e.open(1).Prepare(context.Background(), e.sign(man))
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Fatalf("redirect to http: %v, want it refused", err)
	}
}

// TestPrepareLocal installs a model made on the device with no trusted
// keys at all: staged, self-tested, activated and committed like a
// downloaded one, and found again after a restart; a calibration of
// another model is refused.
func TestPrepareLocal(t *testing.T) {
	e := newEnv(t)
	opts := e.options(4)
	opts.Keys = nil
	m, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prepare(context.Background(), e.sign(zooRelease(t, "v0", "fashion_mnist_cnn_energy_int8", nil).manifest(e.srv))); err == nil {
		t.Fatal("a manager without keys accepted a signed manifest")
	}
	r := zooRelease(t, "adapt-1", "fashion_mnist_cnn_energy_int8", nil)
	c, err := m.PrepareLocal("adapt-1", r.model, r.cal)
	if err != nil {
		t.Fatal(err)
	}
	if !c.SelfTest.Passed {
		t.Fatalf("self-test %+v", c.SelfTest)
	}
	if err := m.Activate(c); err != nil {
		t.Fatal(err)
	}
	for v := VerdictNone; v == VerdictNone; {
		res, err := c.Detector.Image(e.frames[0])
		if err != nil {
			t.Fatal(err)
		}
		if v, err = m.Observe(res.OOD); err != nil || v == VerdictRollback {
			t.Fatalf("verdict %v, %v", v, err)
		}
	}
	c.Close()
	e.wantCurrent(m, "adapt-1")
	e.wantCurrent(func() *Manager { m, _ := Open(opts); return m }(), "adapt-1")

	other := zooRelease(t, "x", "fashion_mnist_cnn_energy", nil)
	if _, err := m.PrepareLocal("adapt-2", r.model, other.cal); err == nil || !strings.Contains(err.Error(), "calibration") {
		t.Errorf("a calibration of another model: %v, want a refusal", err)
	}
	if st := m.State(); st.Phase != PhaseFailed {
		t.Errorf("state after the refusal %+v, want failed", st)
	}
	e.wantCurrent(m, "adapt-1")
}
