// Package ood scores classifier logits for out-of-distribution (OOD)
// detection and calibrates the decision threshold.
//
// The primary score is the free energy of Liu et al., "Energy-based
// Out-of-distribution Detection" (NeurIPS 2020):
//
//	E(x; f) = −T · log Σᵢ exp(fᵢ(x)/T)
//
// In-distribution inputs tend to have lower energy than OOD inputs. The
// package also provides the baselines compared in the paper: maximum softmax
// probability (MSP), temperature-scaled MSP and the maximum logit.
//
// Every detector is reduced to an "ID score" where a higher value means more
// in-distribution (−E for energy). Thresholds, calibration files and the
// evaluation metrics (FPR at a TPR, AUROC, AUPR-In, AUPR-Out, detection
// error) all use that single orientation, with ID as the positive class, as
// in the paper's evaluation code.
//
// Decision is the one place that turns an ID score into a verdict (score
// below the threshold, or NaN, is OOD), with an optional override given in
// the method's own units. A Calibration is stored as JSON bound to the
// model file's SHA-256; it also records the preprocessing its scores were
// computed with (Preprocessing), so that a run with other settings is
// refused rather than silently miscalibrated.
//
// Feature-space scores work on the classifier's penultimate features as
// well (model.FindFeatures): ReAct and ASH-S recompute the last layer (Head)
// on reshaped features and take the energy; kNN and support compare the
// normalized features with a bounded bank of ID features. Fit computes the
// data each needs from ID features, Calibration.Features stores it, and
// NewScorer gives one Scorer interface over every method.
//
// The functions work on plain slices and know nothing about the model
// runtime, so they can be used both on the device and in offline tools.
package ood
