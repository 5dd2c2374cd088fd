// Package detect classifies one input with a TFLite model and scores it for
// out-of-distribution detection: it owns an interpreter that preserves the
// logits tensor, fills the input through a preprocessor, and computes the
// energy, softmax and max-logit scores from the (dequantized) logits.
package detect
