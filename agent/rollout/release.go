package rollout

import (
	"fmt"
	"time"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/detect"
	"github.com/ood-agent/ood-agent/model/ood"
)

// CheckRelease is the hub's check of an uploaded model and calibration
// before it signs a manifest for them: the model decodes and every
// operator has a kernel (an interpreter and a detector are built, as
// agents will), and the calibration is valid and bound to the model's
// SHA-256. It returns the parsed calibration.
func CheckRelease(modelBytes, calibrationBytes []byte) (*ood.Calibration, error) {
	f, err := model.OpenBytes("upload", modelBytes)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	cal, err := ood.Parse(calibrationBytes)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	if err := cal.CheckModel(f.SHA256()); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	det, err := detect.New(f, detect.Options{Calibration: cal})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	det.Close()
	return cal, nil
}

// NewManifest describes a release whose files are served at modelURL and
// calibrationURL, computing their hashes and sizes. Sign it with
// SignManifest.
func NewManifest(version string, modelBytes, calibrationBytes []byte, modelURL, calibrationURL string) (Manifest, error) {
	m := Manifest{
		V: ManifestVersion, Version: version, Created: time.Now().UTC().Truncate(time.Second),
		Model:       Artifact{URL: modelURL, SHA256: ood.SHA256Hex(modelBytes), Size: int64(len(modelBytes))},
		Calibration: Artifact{URL: calibrationURL, SHA256: ood.SHA256Hex(calibrationBytes), Size: int64(len(calibrationBytes))},
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("rollout: %w", err)
	}
	return m, nil
}
