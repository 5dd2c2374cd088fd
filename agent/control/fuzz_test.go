package control

import (
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bytes, and signed arbitrary payloads, to the
// verifier: it must never panic, and whatever it accepts must be a
// well-formed command that is refused when it comes again.
func FuzzVerify(f *testing.F) {
	key := newKey(f)
	f.Add([]byte(`{"payload":"e30","key_id":"","signature":""}`), false)
	f.Add(seal(f, key, wire(TypePause, "device/cam-a", nil)), false)
	f.Add([]byte(`{"v":1,"id":"c","target":"all","issued_at":"2026-12-04T12:00:00Z","ttl_s":5,"nonce":"n","seq":1,"type":"set_decision","args":{"k":1}}`), true)
	f.Add([]byte(`{"v":1,"id":"c","target":"group/x","issued_at":"2026-12-04T12:00:00Z","ttl_s":5,"nonce":"n","seq":1,"type":"set_threshold","args":{"threshold":1e308}}`), true)
	f.Fuzz(func(t *testing.T, data []byte, signIt bool) {
		raw := data
		if signIt {
			var err error
			if raw, err = Seal(key, PurposeCommand, data); err != nil {
				t.Fatal(err)
			}
		}
		v, err := NewVerifier(VerifierOptions{Keys: ringOf(key), Device: "cam-a", Groups: []string{"x"}, StateDir: t.TempDir(), Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(raw)
		if err != nil {
			if CodeOf(err) == CodeApplyFailed {
				t.Fatalf("verification error without a code: %v", err)
			}
			return
		}
		if c.ID == "" || c.Nonce == "" || c.Seq == 0 || c.TTL <= 0 {
			t.Fatalf("accepted an incomplete command %+v", c)
		}
		if _, err := v.Verify(raw); CodeOf(err) != CodeReplayed {
			t.Fatalf("accepted command verified again: %v, want replayed", err)
		}
	})
}
