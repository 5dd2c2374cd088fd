// Package adapt retrains a classifier's last layer on the device from field
// feedback, in the manner of deep feature reweighting (Kirichenko et al.,
// ICLR 2023): the backbone stays frozen, and a logistic regression on the
// penultimate features of a class-balanced set is fitted, warm-started from
// the current last layer, with the energy-bounded squared hinge of Liu et
// al. (NeurIPS 2020, §3) on confirmed out-of-distribution samples. Rewrite
// puts the new layer into a copy of the .tflite file (requantized for
// quantized models); everything else in the file is unchanged.
package adapt
