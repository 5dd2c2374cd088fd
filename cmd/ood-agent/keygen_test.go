package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ood-agent/ood-agent/agent/control"
)

func runKeygen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newKeygenCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestKeygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.key")
	out, err := runKeygen(t, "--out", path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^    - (ed25519:\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output has no trusted_keys entry:\n%s", out)
	}
	ring, err := control.ParseKeyRing([]string{m[1]})
	if err != nil {
		t.Fatalf("printed key does not parse: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	// The printed public key verifies what the written private key signs.
	key, err := control.LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	env, err := control.Seal(key, control.PurposeManifest, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := control.Open(ring, control.PurposeManifest, env); err != nil {
		t.Errorf("signature by the written key does not verify with the printed key: %v", err)
	}
	again, err := runKeygen(t, "--out", path, "--public")
	if err != nil || again != out {
		t.Errorf("keygen --public = %q, %v; want the same output %q", again, err, out)
	}
	if _, err := runKeygen(t, "--out", path); err == nil {
		t.Error("keygen overwrote an existing key")
	}
	if _, err := runKeygen(t); err == nil {
		t.Error("keygen without --out succeeded")
	}
}
