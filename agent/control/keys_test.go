package control

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateKeyFile(t *testing.T) {
	key := newKey(t)
	path := filepath.Join(t.TempDir(), "hub.key")
	if err := WritePrivateKey(path, key); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	got, err := LoadPrivateKey(path)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("LoadPrivateKey = %v, %v; want the written key", got, err)
	}
	if err := WritePrivateKey(path, key); err == nil {
		t.Error("WritePrivateKey overwrote an existing file")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(path); !errors.Is(err, ErrKeyFilePermissions) {
		t.Errorf("LoadPrivateKey of a 0644 file = %v, want ErrKeyFilePermissions", err)
	}
}

func TestPublicKeyFormat(t *testing.T) {
	key := newKey(t)
	s := FormatPublicKey(key.Public().(ed25519.PublicKey))
	pub, err := ParsePublicKey("  " + s + "\n")
	if err != nil || !bytes.Equal(pub, key.Public().(ed25519.PublicKey)) {
		t.Fatalf("ParsePublicKey(FormatPublicKey) = %v, %v", pub, err)
	}
	for _, bad := range []string{"", "rsa:AAAA", "ed25519:***", "ed25519:AAAA", strings.TrimPrefix(s, "ed25519:")} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", bad)
		}
	}
	if _, err := ParseKeyRing([]string{s, "ed25519:AAAA"}); err == nil || !strings.Contains(err.Error(), "trusted_keys[1]") {
		t.Errorf("ParseKeyRing with a bad second key = %v, want an error naming trusted_keys[1]", err)
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n")); err == nil {
		t.Error("ParsePrivateKey of a public key block succeeded")
	}
}
