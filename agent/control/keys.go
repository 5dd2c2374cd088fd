package control

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// publicKeyPrefix starts a public key in the configuration format.
const publicKeyPrefix = "ed25519:"

// FormatPublicKey writes a public key in the configuration format,
// "ed25519:" followed by the standard base64 of its 32 bytes.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a public key in the configuration format.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, publicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("control: public key %q: want ed25519:<base64>", abbreviate(s))
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("control: public key %q: %w", abbreviate(s), err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("control: public key %q: %d bytes, an Ed25519 key has %d", abbreviate(s), len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// KeyID names a public key in envelopes: the first 8 bytes of its
// SHA-256, in hex. It lets the agent pick the key among several trusted
// ones (key rotation) without trying each.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey makes a new signing key from rand (crypto/rand when nil).
func GenerateKey(r io.Reader) (ed25519.PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("control: generate key: %w", err)
	}
	return priv, nil
}

// pemType is the PEM block type of a PKCS #8 private key, which OpenSSL
// and other tools read.
const pemType = "PRIVATE KEY"

// WritePrivateKey writes key to a new file at path, readable only by its
// owner (0600), in PEM-encoded PKCS #8. It refuses to overwrite a file.
func WritePrivateKey(path string, key ed25519.PrivateKey) (err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("control: encode private key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("control: write private key: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if err := pem.Encode(f, &pem.Block{Type: pemType, Bytes: der}); err != nil {
		return fmt.Errorf("control: write private key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("control: write private key %s: %w", path, err)
	}
	return f.Close()
}

// ErrKeyFilePermissions is wrapped when a private key file is readable by
// others than its owner.
var ErrKeyFilePermissions = errors.New("control: private key file is readable by group or others")

// LoadPrivateKey reads a key written by WritePrivateKey. Like ssh, it
// refuses a file that group or others may read.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("control: load private key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v; run chmod 600 %s", ErrKeyFilePermissions, path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("control: load private key: %w", err)
	}
	return ParsePrivateKey(data)
}

// ParsePrivateKey decodes a PEM PKCS #8 Ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, errors.New("control: private key: no PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("control: private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("control: private key is %T, want Ed25519", k)
	}
	return priv, nil
}

// KeyRing is the set of trusted public keys, by KeyID.
type KeyRing map[string]ed25519.PublicKey

// ParseKeyRing reads control.trusted_keys. Listing the old and the new key
// during a rotation lets commands signed by either through.
func ParseKeyRing(keys []string) (KeyRing, error) {
	ring := make(KeyRing, len(keys))
	for i, s := range keys {
		pub, err := ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_keys[%d]: %w", i, err)
		}
		ring[KeyID(pub)] = pub
	}
	return ring, nil
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
