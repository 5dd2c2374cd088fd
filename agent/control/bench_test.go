package control

import (
	"testing"
	"time"
)

// BenchmarkOpen measures the signature check of a command envelope.
func BenchmarkOpen(b *testing.B) {
	key := newKey(b)
	ring := ringOf(key)
	env := seal(b, key, wire(TypePause, "device/cam-a", nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Open(ring, PurposeCommand, env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures accepting a command end to end, including the
// durable write of the replay state, which dominates on SD cards.
func BenchmarkVerify(b *testing.B) {
	key := newKey(b)
	s := NewSigner(key)
	v, err := NewVerifier(VerifierOptions{Keys: ringOf(key), Device: "cam-a", StateDir: b.TempDir(), MaxTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	envs := make([][]byte, 0, 1024)
	for range cap(envs) {
		_, env, err := s.SignCommand(Draft{Target: Device("cam-a"), Type: TypeSetThreshold, Args: &SetThresholdArgs{TargetTPR: ptr(0.9)}})
		if err != nil {
			b.Fatal(err)
		}
		envs = append(envs, env)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(envs) {
			b.StopTimer()
			v.replay.st.LastSeq, v.replay.st.Nonces = map[string]uint64{}, map[string]int64{}
			i = 0
			b.StartTimer()
		}
		if _, err := v.Verify(envs[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
