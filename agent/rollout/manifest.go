package rollout

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
)

// ManifestVersion is the manifest format version, the "v" field.
const ManifestVersion = 1

// Manifest describes one model release: the model and calibration files
// with their sizes and hashes, signed by the hub (control.PurposeManifest).
type Manifest struct {
	V int `json:"v"`
	// Version names the release; it becomes part of a directory name, so
	// it is 1 to 64 of [A-Za-z0-9._-].
	Version string `json:"version"`
	// Name is an optional human-readable model name.
	Name string `json:"name,omitempty"`
	// MinAgentVersion is the oldest agent that may run the model
	// (dotted numbers, such as "0.4.0"); "" for any.
	MinAgentVersion string    `json:"min_agent_version,omitempty"`
	Created         time.Time `json:"created"`
	Model           Artifact  `json:"model"`
	Calibration     Artifact  `json:"calibration"`
}

// Artifact is one downloadable file.
type Artifact struct {
	// URL is absolute (http or https), or relative to the hub URL in the
	// agent's configuration.
	URL string `json:"url"`
	// SHA256 is the lower-case hex SHA-256 of the file.
	SHA256 string `json:"sha256"`
	// Size is the file size in bytes.
	Size int64 `json:"size"`
}

var (
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	shaPattern     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// maxArtifactBytes bounds what a manifest may ask an agent to download.
const maxArtifactBytes = 1 << 30

// Validate checks the manifest's fields.
func (m Manifest) Validate() error {
	if m.V != ManifestVersion {
		return fmt.Errorf("manifest format version %d, this agent reads %d", m.V, ManifestVersion)
	}
	if !versionPattern.MatchString(m.Version) || strings.Trim(m.Version, ".") == "" {
		return fmt.Errorf("manifest version %q: want 1 to 64 of A-Z a-z 0-9 . _ -", m.Version)
	}
	if m.MinAgentVersion != "" {
		if _, ok := parseVersion(m.MinAgentVersion); !ok {
			return fmt.Errorf("min_agent_version %q: want dotted numbers such as 0.4.0", m.MinAgentVersion)
		}
	}
	for name, a := range map[string]Artifact{"model": m.Model, "calibration": m.Calibration} {
		if err := a.validate(); err != nil {
			return fmt.Errorf("manifest %s: %w", name, err)
		}
	}
	return nil
}

func (a Artifact) validate() error {
	if a.URL == "" {
		return fmt.Errorf("url is missing")
	}
	u, err := url.Parse(a.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.IsAbs() && u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("url %q: scheme must be http or https", a.URL)
	}
	if !shaPattern.MatchString(a.SHA256) {
		return fmt.Errorf("sha256 %q: want 64 lower-case hex digits", a.SHA256)
	}
	if a.Size <= 0 || a.Size > maxArtifactBytes {
		return fmt.Errorf("size %d: want 1 to %d bytes", a.Size, maxArtifactBytes)
	}
	return nil
}

// SignManifest validates m and signs it with the hub's signer; the result
// goes in a rollout command's args (control.RolloutArgs.Manifest).
func SignManifest(s *control.Signer, m Manifest) ([]byte, error) {
	if m.V == 0 {
		m.V = ManifestVersion
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rollout: manifest: %w", err)
	}
	return s.Sign(control.PurposeManifest, payload)
}

// ParseManifest checks the signature of a signed manifest against ring,
// then its fields. Signature errors are *control.Error.
func ParseManifest(ring control.KeyRing, signed []byte) (Manifest, error) {
	payload, _, err := control.Open(ring, control.PurposeManifest, signed)
	if err != nil {
		return Manifest{}, fmt.Errorf("rollout: manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return Manifest{}, fmt.Errorf("rollout: manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("rollout: %w", err)
	}
	return m, nil
}

// parseVersion reads "v1.2.3", "1.2" or "1.2.3-rc1+build" as numbers;
// pre-release and build suffixes are ignored.
func parseVersion(s string) ([3]int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	var v [3]int
	if len(parts) == 0 || len(parts) > 3 {
		return v, false
	}
	for i, p := range parts {
		n := 0
		if p == "" || len(p) > 6 {
			return v, false
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return v, false
			}
			n = n*10 + int(r-'0')
		}
		v[i] = n
	}
	return v, true
}

// agentTooOld reports whether agent is older than minimum. An agent
// version that is not dotted numbers (a development build) is never too
// old.
func agentTooOld(agent, minimum string) bool {
	if minimum == "" {
		return false
	}
	a, ok := parseVersion(agent)
	if !ok {
		return false
	}
	m, _ := parseVersion(minimum)
	for i := range a {
		if a[i] != m[i] {
			return a[i] < m[i]
		}
	}
	return false
}
