package zoo

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/ood-agent/ood-agent/model"
	"github.com/ood-agent/ood-agent/model/ood"
)

// Default names the model the agent runs when none is configured.
const Default = "fashion_mnist_cnn_energy_int8"

//go:embed *.tflite *.calibration.json
var files embed.FS

// Names lists the embedded models.
func Names() []string {
	entries, _ := fs.Glob(files, "*.tflite")
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = strings.TrimSuffix(e, ".tflite")
	}
	slices.Sort(names)
	return names
}

// Open returns an embedded model and its calibration.
func Open(name string) (*model.File, *ood.Calibration, error) {
	raw, err := files.ReadFile(name + ".tflite")
	if err != nil {
		return nil, nil, fmt.Errorf("no embedded model %q (have %s)", name, strings.Join(Names(), ", "))
	}
	f, err := model.OpenBytes("zoo:"+name, raw)
	if err != nil {
		return nil, nil, err
	}
	data, err := files.ReadFile(name + ".calibration.json")
	if err != nil {
		return nil, nil, fmt.Errorf("embedded model %q has no calibration", name)
	}
	c, err := ood.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded calibration of %q: %w", name, err)
	}
	if err := c.CheckModel(f.SHA256()); err != nil {
		return nil, nil, fmt.Errorf("embedded calibration of %q: %w", name, err)
	}
	return f, c, nil
}
