package feedback

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ood-agent/ood-agent/model/adapt"
)

// ExportSummary counts what Export wrote.
type ExportSummary struct {
	FalseAlarms int `json:"false_alarms"`
	Confirmed   int `json:"confirmed"`
	Kept        int `json:"kept"`
	// Images is how many of them had a JPEG; the others are only in the
	// features file.
	Images int `json:"images"`
}

// FeatureLine is one line of the export's features.jsonl: a labeled or
// kept frame's vectors, for tools that retrain from features directly.
type FeatureLine struct {
	ID string `json:"id"`
	// Set is false_alarm, confirmed or kept.
	Set string `json:"set"`
	// Class is the true class of a false alarm (as labeled, or the
	// predicted one) and the predicted class of a kept frame.
	Class     string `json:"class,omitempty"`
	Predicted int    `json:"predicted"`
	// Model is the SHA-256 of the model that computed the vectors.
	Model    string    `json:"model,omitempty"`
	Score    float64   `json:"score"`
	Logits   []float32 `json:"logits"`
	Features []float32 `json:"features"`
}

// Export writes the labeled flagged frames and the reservoir in the layout
// `ood-agent adapt` reads, into dir (created if needed):
//
//	false_alarms/<class>/<id>.jpg   --false-alarms dir/false_alarms
//	confirmed/<id>.jpg              --ood dir/confirmed
//	kept/<id>.jpg                   --id dir/kept
//	features.jsonl                  one FeatureLine per frame, JPEG or not
//
// A false alarm without a class goes under its predicted label (or class
// index): the operator said it was in-distribution, not that the class
// was wrong. Unlabeled frames are not exported.
func (s *Store) Export(dir string) (ExportSummary, error) {
	var sum ExportSummary
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sum, fmt.Errorf("feedback: export: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "features.jsonl"))
	if err != nil {
		return sum, fmt.Errorf("feedback: export: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	err = s.walk(func(base, set, class string, r Record) error {
		if err := enc.Encode(featureLine(r, set, class)); err != nil {
			return err
		}
		switch set {
		case string(FalseAlarm):
			sum.FalseAlarms++
		case string(Confirmed):
			sum.Confirmed++
		default:
			sum.Kept++
		}
		jpg, err := os.ReadFile(base + jpgExt)
		if err != nil {
			return nil // no evidence kept for this frame
		}
		sub := filepath.Join(dir, "kept")
		switch set {
		case string(FalseAlarm):
			sub = filepath.Join(dir, "false_alarms", class)
		case string(Confirmed):
			sub = filepath.Join(dir, "confirmed")
		}
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		sum.Images++
		return os.WriteFile(filepath.Join(sub, r.AlertID+jpgExt), jpg, 0o644)
	})
	if err != nil {
		return sum, err
	}
	if err := w.Flush(); err != nil {
		return sum, fmt.Errorf("feedback: export: %w", err)
	}
	if err := f.Close(); err != nil {
		return sum, fmt.Errorf("feedback: export: %w", err)
	}
	return sum, nil
}

// Features returns what Export writes to features.jsonl, without
// writing anything: the labeled flagged frames and the reservoir.
func (s *Store) Features() ([]FeatureLine, error) {
	var lines []FeatureLine
	err := s.walk(func(_, set, class string, r Record) error {
		lines = append(lines, featureLine(r, set, class))
		return nil
	})
	return lines, err
}

// walk calls fn with each labeled flagged frame and each reservoir frame:
// its files' base path, its set (false_alarm, confirmed or kept), its
// class and its record. Unreadable records are skipped with a warning.
func (s *Store) walk(fn func(base, set, class string, r Record) error) error {
	visit := func(base, set, class string) error {
		r, _, err := readRecord(base + recExt)
		if err != nil {
			s.log.Warn("feedback record skipped", "file", base+recExt, "err", err)
			return nil
		}
		if set == "kept" {
			class = predictedClass(r)
		}
		return fn(base, set, class, r)
	}
	for _, e := range s.List() {
		if e.Label == nil {
			continue
		}
		class := e.Label.Class
		if e.Label.Kind == FalseAlarm && class == "" {
			class = predictedClass(e.Record)
		}
		if err := visit(s.path(flaggedDir, e.AlertID), string(e.Label.Kind), class); err != nil {
			return fmt.Errorf("feedback: %s: %w", e.AlertID, err)
		}
	}
	s.mu.Lock()
	var slots []int
	for i, b := range s.slotBytes {
		if b > 0 {
			slots = append(slots, i)
		}
	}
	s.mu.Unlock()
	for _, i := range slots {
		if err := visit(s.path(reservoirDir, strconv.Itoa(i)), "kept", ""); err != nil {
			return fmt.Errorf("feedback: reservoir: %w", err)
		}
	}
	return nil
}

func featureLine(r Record, set, class string) FeatureLine {
	return FeatureLine{ID: r.AlertID, Set: set, Class: class, Predicted: r.Class, Model: r.Model, Score: r.Score, Logits: r.Logits, Features: r.Features}
}

// Samples turns feature lines into adapt's training data: kept frames and
// false alarms become in-distribution samples of their class (a label
// name or a class index, resolved against labels), confirmed alerts
// outliers. Every line must come from the model whose SHA-256 is model.
func Samples(lines []FeatureLine, model string, labels []string) (id []adapt.Sample, outliers [][]float32, err error) {
	for _, l := range lines {
		if l.Model != "" && l.Model != model {
			return nil, nil, fmt.Errorf("feedback: %s: features computed by model %s, not by %s", l.ID, l.Model, model)
		}
		switch Kind(l.Set) {
		case Confirmed:
			outliers = append(outliers, l.Features)
		case FalseAlarm:
			class, err := ClassIndex(l.Class, labels)
			if err != nil {
				return nil, nil, fmt.Errorf("feedback: %s: %w", l.ID, err)
			}
			id = append(id, adapt.Sample{Features: l.Features, Label: class, Key: adapt.Key(l.ID)})
		default: // kept
			id = append(id, adapt.Sample{Features: l.Features, Label: l.Predicted, Key: adapt.Key(l.ID)})
		}
	}
	return id, outliers, nil
}

// ClassIndex resolves a class given as a label name or an index.
func ClassIndex(name string, labels []string) (int, error) {
	if i := slices.Index(labels, name); i >= 0 {
		return i, nil
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && (labels == nil || i < len(labels)) {
		return i, nil
	}
	return 0, fmt.Errorf("unknown class %q (want a label name or a class index)", name)
}

// predictedClass names r's predicted class as a directory: its label, or
// its index when there is no label or the label is not a usable directory
// name (Fashion-MNIST's "T-shirt/top").
func predictedClass(r Record) string {
	if r.Label == "" || strings.ContainsAny(r.Label, `/\`) || r.Label == "." || r.Label == ".." {
		return strconv.Itoa(r.Class)
	}
	return r.Label
}

// maxFeatureLine bounds one line of features.jsonl: 1,000,000 values at
// about 12 characters each.
const maxFeatureLine = 16 << 20

// ReadFeatures reads an export's features.jsonl, for training from the
// stored vectors without the images. It checks every line and names the
// first bad one.
func ReadFeatures(r io.Reader) ([]FeatureLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxFeatureLine)
	var out []FeatureLine
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l FeatureLine
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("features line %d: %w", n, err)
		}
		switch {
		case l.Set != string(FalseAlarm) && l.Set != string(Confirmed) && l.Set != "kept":
			return nil, fmt.Errorf("features line %d: set %q, want false_alarm, confirmed or kept", n, l.Set)
		case len(l.Features) == 0:
			return nil, fmt.Errorf("features line %d (%s): no features", n, l.ID)
		case len(out) > 0 && len(l.Features) != len(out[0].Features):
			return nil, fmt.Errorf("features line %d (%s): %d features, line 1 has %d", n, l.ID, len(l.Features), len(out[0].Features))
		case len(out) > 0 && l.Model != out[0].Model:
			return nil, fmt.Errorf("features line %d (%s): computed by model %q, line 1 by %q", n, l.ID, l.Model, out[0].Model)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	return out, nil
}
