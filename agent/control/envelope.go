package control

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Purpose separates what a signature is for: the signed message is the
// purpose, a NUL byte, then the payload, so a signed manifest is never a
// valid command and the other way round.
type Purpose string

// The purposes of signed payloads.
const (
	PurposeCommand  Purpose = "ood-agent command v1"
	PurposeManifest Purpose = "ood-agent manifest v1"
)

// MaxEnvelopeBytes bounds an envelope; larger messages are refused before
// any parsing. A rollout command with its manifest is about 2 KiB.
const MaxEnvelopeBytes = 64 << 10

// Envelope is the signed wrapper around a payload, as sent:
//
//	{"payload":"<base64url>","key_id":"<hex>","signature":"<base64url>"}
//
// Payload and signature use unpadded base64url (RFC 4648 §5).
type Envelope struct {
	Payload   string `json:"payload"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

var b64 = base64.RawURLEncoding

func signedMessage(p Purpose, payload []byte) []byte {
	m := make([]byte, 0, len(p)+1+len(payload))
	m = append(m, p...)
	m = append(m, 0)
	return append(m, payload...)
}

// Seal signs payload for purpose with key and returns the envelope's JSON.
func Seal(key ed25519.PrivateKey, p Purpose, payload []byte) ([]byte, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok || len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("control: seal: invalid Ed25519 private key")
	}
	env := Envelope{
		Payload:   b64.EncodeToString(payload),
		KeyID:     KeyID(pub),
		Signature: b64.EncodeToString(ed25519.Sign(key, signedMessage(p, payload))),
	}
	return json.Marshal(env)
}

// Open checks an envelope's signature against ring and returns the
// payload bytes and the id of the key that signed it. Errors are *Error
// with CodeMalformed, CodeUnsigned, CodeUntrustedKey or CodeBadSignature.
func Open(ring KeyRing, p Purpose, raw []byte) (payload []byte, keyID string, err error) {
	env, err := ParseEnvelope(raw)
	if err != nil {
		return nil, "", err
	}
	payload, err = b64.DecodeString(env.Payload)
	if err != nil {
		return nil, "", refuse(CodeMalformed, "", "payload is not base64url: %v", err)
	}
	if env.Signature == "" {
		return payload, "", refuse(CodeUnsigned, claimedID(payload), "envelope has no signature")
	}
	pub, ok := ring[env.KeyID]
	if !ok {
		return payload, "", refuse(CodeUntrustedKey, claimedID(payload), "signed by key %q, which is not in control.trusted_keys", env.KeyID)
	}
	sig, err := b64.DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return payload, "", refuse(CodeBadSignature, claimedID(payload), "signature is not %d bytes of base64url", ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, signedMessage(p, payload), sig) {
		return payload, "", refuse(CodeBadSignature, claimedID(payload), "signature does not verify with key %s", env.KeyID)
	}
	return payload, env.KeyID, nil
}

// ParseEnvelope decodes an envelope without checking its signature. A
// bare JSON object without payload (such as an unsigned command sent
// directly) is reported as CodeUnsigned.
func ParseEnvelope(raw []byte) (Envelope, error) {
	if len(raw) > MaxEnvelopeBytes {
		return Envelope{}, refuse(CodeMalformed, "", "envelope is %d bytes, the limit is %d", len(raw), MaxEnvelopeBytes)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Envelope{}, refuse(CodeMalformed, "", "not a JSON object: %v", err)
	}
	if _, ok := fields["payload"]; !ok {
		// A command published as plain JSON: name it as such, so an
		// operator trying a hand-made command learns what is missing.
		var id struct {
			ID string `json:"id"`
		}
		json.Unmarshal(raw, &id)
		return Envelope{}, refuse(CodeUnsigned, id.ID, "message is not a signed envelope (no payload field)")
	}
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return Envelope{}, refuse(CodeMalformed, "", "envelope: %v", err)
	}
	if dec.More() {
		return Envelope{}, refuse(CodeMalformed, "", "envelope: data after the JSON object")
	}
	if env.Payload == "" {
		return Envelope{}, refuse(CodeMalformed, "", "envelope: empty payload")
	}
	return env, nil
}

// claimedID pulls the id out of a payload that has not been
// authenticated, for matching a refusal to what the sender sent.
func claimedID(payload []byte) string {
	var c struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &c) != nil || len(c.ID) > maxIDLen {
		return ""
	}
	return c.ID
}
