// Package preprocess turns images into model input tensors: decoding with
// size limits, cropping, bilinear resizing, colour conversion, normalization
// from the model's metadata (or overrides) and quantization to the input
// tensor's type.
package preprocess
