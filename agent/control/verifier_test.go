package control

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVerifyRefusals(t *testing.T) {
	key, other := newKey(t), newKey(t)
	ring := ringOf(key)
	with := func(change func(w map[string]any)) []byte {
		w := wire(TypePause, "device/cam-a", nil)
		change(w)
		return seal(t, key, w)
	}
	good := with(func(map[string]any) {})
	var env Envelope
	json.Unmarshal(good, &env)
	tamperedPayload, _ := json.Marshal(Envelope{Payload: b64.EncodeToString([]byte(strings.Replace(string(mustDecode(t, env.Payload)), "pause", "resume", 1))), KeyID: env.KeyID, Signature: env.Signature})
	unsignedEnv, _ := json.Marshal(Envelope{Payload: env.Payload, KeyID: env.KeyID})
	plain, _ := json.Marshal(wire(TypePause, "device/cam-a", nil))
	manifestSig, _ := Seal(key, PurposeManifest, mustDecode(t, env.Payload))
	shortSig, _ := json.Marshal(Envelope{Payload: env.Payload, KeyID: env.KeyID, Signature: "AAAA"})

	tests := []struct {
		name string
		raw  []byte
		want Code
	}{
		{"not json", []byte("pause"), CodeMalformed},
		{"json array", []byte("[1]"), CodeMalformed},
		{"too large", []byte(`{"payload":"` + strings.Repeat("A", MaxEnvelopeBytes) + `"}`), CodeMalformed},
		{"unknown envelope field", []byte(`{"payload":"e30","key_id":"x","signature":"y","alg":"none"}`), CodeMalformed},
		{"payload not base64", []byte(`{"payload":"!!","key_id":"x","signature":"y"}`), CodeMalformed},
		{"plain command", plain, CodeUnsigned},
		{"envelope without signature", unsignedEnv, CodeUnsigned},
		{"wrong key", seal(t, other, wire(TypePause, "device/cam-a", nil)), CodeUntrustedKey},
		{"payload changed after signing", tamperedPayload, CodeBadSignature},
		{"signature too short", shortSig, CodeBadSignature},
		{"manifest signature on a command", manifestSig, CodeBadSignature},
		{"other device", with(func(w map[string]any) { w["target"] = "device/cam-b" }), CodeWrongTarget},
		{"other group", with(func(w map[string]any) { w["target"] = "group/garage" }), CodeWrongTarget},
		{"expired", with(func(w map[string]any) { w["issued_at"] = t0.Add(-2 * time.Minute).Format(time.RFC3339) }), CodeExpired},
		{"future", with(func(w map[string]any) { w["issued_at"] = t0.Add(time.Minute).Format(time.RFC3339) }), CodeNotYetValid},
		{"ttl above maximum", with(func(w map[string]any) { w["ttl_s"] = 7200 }), CodeMalformed},
		{"zero ttl", with(func(w map[string]any) { w["ttl_s"] = 0 }), CodeMalformed},
		{"no nonce", with(func(w map[string]any) { delete(w, "nonce") }), CodeMalformed},
		{"zero seq", with(func(w map[string]any) { w["seq"] = 0 }), CodeMalformed},
		{"bad target", with(func(w map[string]any) { w["target"] = "cam-a" }), CodeMalformed},
		{"version 2", with(func(w map[string]any) { w["v"] = 2 }), CodeMalformed},
		{"unknown field", with(func(w map[string]any) { w["priority"] = 1 }), CodeMalformed},
		{"unknown type", with(func(w map[string]any) { w["type"] = "format_disk" }), CodeUnknownType},
		{"args on pause", with(func(w map[string]any) { w["args"] = map[string]any{"x": 1} }), CodeInvalidArgs},
		{"threshold and tpr", with(func(w map[string]any) {
			w["type"] = "set_threshold"
			w["args"] = map[string]any{"threshold": 1, "target_tpr": 0.9}
		}), CodeInvalidArgs},
		{"threshold without args", with(func(w map[string]any) { w["type"] = "set_threshold" }), CodeInvalidArgs},
		{"tpr above one", with(func(w map[string]any) {
			w["type"] = "set_threshold"
			w["args"] = map[string]any{"target_tpr": 1.5}
		}), CodeInvalidArgs},
		{"k above n", with(func(w map[string]any) {
			w["type"] = "set_decision"
			w["args"] = map[string]any{"k": 4, "n": 3}
		}), CodeInvalidArgs},
		{"bad mode", with(func(w map[string]any) {
			w["type"] = "set_decision"
			w["args"] = map[string]any{"mode": "burst"}
		}), CodeInvalidArgs},
		{"empty decision", with(func(w map[string]any) {
			w["type"] = "set_decision"
			w["args"] = map[string]any{}
		}), CodeInvalidArgs},
		{"rollout without manifest", with(func(w map[string]any) {
			w["type"] = "rollout"
			w["args"] = map[string]any{}
		}), CodeInvalidArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, ring, "cam-a", "lobby")
			_, err := v.Verify(tt.raw)
			if got := CodeOf(err); err == nil || got != tt.want {
				t.Fatalf("Verify error = %v (code %q), want code %q", err, got, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Msg == "" {
				t.Errorf("error %v is not an *Error with a message", err)
			}
			// A refused command leaves no trace in the replay state.
			if _, err := os.Stat(filepath.Join(v.replay.path)); err == nil {
				t.Errorf("refused command wrote the replay state")
			}
		})
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifyAccepts(t *testing.T) {
	key := newKey(t)
	v := newVerifier(t, ringOf(key), "cam-a", "lobby")
	for i, target := range []string{"device/cam-a", "all", "group/lobby"} {
		w := wire(TypeSetThreshold, target, map[string]any{"target_tpr": 0.9})
		w["nonce"] = "n-" + target[:3]
		w["id"] = "c-" + target[:3]
		w["issued_at"] = t0.Add(-50 * time.Second).Format(time.RFC3339) // 60 s ttl: valid for 10 s more
		c, err := v.Verify(seal(t, key, w))
		if err != nil {
			t.Fatalf("command %d for %s: %v", i, target, err)
		}
		a, ok := c.Args.(*SetThresholdArgs)
		if !ok || a.TargetTPR == nil || *a.TargetTPR != 0.9 || a.Threshold != nil {
			t.Errorf("args = %#v, want target_tpr 0.9", c.Args)
		}
		if c.Target.String() != target || c.KeyID != KeyID(key.Public().(ed25519.PublicKey)) {
			t.Errorf("command = %+v", c)
		}
	}
	// Within the clock skew after expiry the command still passes.
	w := wire(TypePause, "device/cam-a", nil)
	w["issued_at"], w["seq"], w["nonce"] = t0.Add(-80*time.Second).Format(time.RFC3339), 200, "late"
	if _, err := v.Verify(seal(t, key, w)); err != nil {
		t.Errorf("command expired 20 s ago, within the 30 s skew: %v", err)
	}
}

func TestReplay(t *testing.T) {
	key := newKey(t)
	dir := t.TempDir()
	open := func() *Verifier {
		v, err := NewVerifier(VerifierOptions{Keys: ringOf(key), Device: "cam-a", StateDir: dir, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := open()
	first := seal(t, key, wire(TypePause, "device/cam-a", nil))
	if _, err := v.Verify(first); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(first); CodeOf(err) != CodeReplayed {
		t.Fatalf("same envelope again: %v, want replayed", err)
	}
	// The state survives a restart.
	v = open()
	if _, err := v.Verify(first); CodeOf(err) != CodeReplayed {
		t.Fatalf("same envelope after restart: %v, want replayed", err)
	}
	older := wire(TypeResume, "device/cam-a", nil)
	older["seq"], older["nonce"] = 99, "n-older"
	if _, err := v.Verify(seal(t, key, older)); CodeOf(err) != CodeReplayed || !strings.Contains(err.Error(), "sequence 99") {
		t.Fatalf("older sequence: %v, want replayed naming the sequence", err)
	}
	reused := wire(TypeResume, "device/cam-a", nil)
	reused["seq"] = 101
	if _, err := v.Verify(seal(t, key, reused)); CodeOf(err) != CodeReplayed || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("reused nonce: %v, want replayed naming the nonce", err)
	}
	// Sequences are per target: a broadcast with a lower sequence than
	// the last device command is still new.
	bc := wire(TypeResume, "all", nil)
	bc["seq"], bc["nonce"] = 50, "n-bc"
	if _, err := v.Verify(seal(t, key, bc)); err != nil {
		t.Fatalf("broadcast with its own sequence: %v", err)
	}
}

func TestReplayStateDamaged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ReplayFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewVerifier(VerifierOptions{Keys: ringOf(newKey(t)), Device: "cam-a", StateDir: dir})
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("NewVerifier with a damaged state = %v, want an error saying so", err)
	}
}

func TestReplayStateUnwritable(t *testing.T) {
	key := newKey(t)
	dir := t.TempDir()
	v, err := NewVerifier(VerifierOptions{Keys: ringOf(key), Device: "cam-a", StateDir: dir, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	v.replay.path = filepath.Join(dir, "missing", ReplayFile)
	if _, err := v.Verify(seal(t, key, wire(TypePause, "device/cam-a", nil))); CodeOf(err) != CodeStateFailure {
		t.Fatalf("Verify with an unwritable state = %v, want %s", err, CodeStateFailure)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	v := newVerifier(t, ringOf(oldKey, newK), "cam-a")
	a := wire(TypePause, "device/cam-a", nil)
	b := wire(TypeResume, "device/cam-a", nil)
	b["seq"], b["nonce"] = 101, "n-2"
	if _, err := v.Verify(seal(t, oldKey, a)); err != nil {
		t.Fatalf("old key: %v", err)
	}
	if _, err := v.Verify(seal(t, newK, b)); err != nil {
		t.Fatalf("new key: %v", err)
	}
}

func TestNewVerifierChecks(t *testing.T) {
	ring := ringOf(newKey(t))
	for _, o := range []VerifierOptions{
		{Device: "cam-a", StateDir: "x"},
		{Keys: ring, Device: "all", StateDir: "x"},
		{Keys: ring, Device: "a/b", StateDir: "x"},
		{Keys: ring, Device: "cam-a"},
		{Keys: ring, Device: "cam-a", StateDir: "x", Groups: []string{"a b"}},
	} {
		if _, err := NewVerifier(o); err == nil {
			t.Errorf("NewVerifier(%+v) succeeded", o)
		}
	}
}

func TestNonceCacheBounded(t *testing.T) {
	key := newKey(t)
	v := newVerifier(t, ringOf(key), "cam-a")
	v.replay.maxNonces = 3
	for i := range 5 {
		w := wire(TypePause, "device/cam-a", nil)
		w["seq"], w["nonce"] = 100+i, fmt.Sprint("n-", i)
		w["ttl_s"] = 60 + i // later commands expire later
		if _, err := v.Verify(seal(t, key, w)); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	got := slices.Sorted(maps.Keys(v.replay.st.Nonces))
	if want := []string{"n-2", "n-3", "n-4"}; !slices.Equal(got, want) {
		t.Errorf("nonces kept %v, want the 3 expiring last %v", got, want)
	}
	// Expired nonces are dropped at the next write.
	v.now = func() time.Time { return t0.Add(2 * time.Hour) }
	w := wire(TypePause, "device/cam-a", nil)
	w["seq"], w["nonce"], w["issued_at"] = 200, "late", t0.Add(2*time.Hour).Format(time.RFC3339)
	if _, err := v.Verify(seal(t, key, w)); err != nil {
		t.Fatal(err)
	}
	if got := slices.Collect(maps.Keys(v.replay.st.Nonces)); !slices.Equal(got, []string{"late"}) {
		t.Errorf("nonces after expiry %v, want only the new one", got)
	}
}
