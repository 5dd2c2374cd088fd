package control

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"
)

// t0 is the fixed "now" of the unit tests.
var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ringOf(keys ...ed25519.PrivateKey) KeyRing {
	r := KeyRing{}
	for _, k := range keys {
		pub := k.Public().(ed25519.PublicKey)
		r[KeyID(pub)] = pub
	}
	return r
}

func newVerifier(t testing.TB, ring KeyRing, device string, groups ...string) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierOptions{Keys: ring, Device: device, Groups: groups, StateDir: t.TempDir(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wire is a command payload to tweak before signing.
func wire(typ Type, target string, args any) map[string]any {
	w := map[string]any{
		"v": 1, "id": "c-1", "target": target, "issued_at": t0.Format(time.RFC3339Nano),
		"ttl_s": 60, "nonce": "n-1", "seq": 100, "type": string(typ),
	}
	if args != nil {
		w["args"] = args
	}
	return w
}

func seal(t testing.TB, key ed25519.PrivateKey, w map[string]any) []byte {
	t.Helper()
	payload, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	env, err := Seal(key, PurposeCommand, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
