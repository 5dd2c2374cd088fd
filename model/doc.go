// Package model reads, validates and writes TensorFlow Lite models.
//
// Decode (and Open, which memory-maps a file) turns the bytes of a .tflite
// flatbuffer into a Model: operator codes, subgraphs, tensors, buffers and
// typed builtin options. Every offset and length is checked against the
// file, so a corrupt or hostile model is an ErrFormat error, never a panic
// or an outsized allocation. The TFLite metadata (input normalization, label
// files zipped after the flatbuffer) is read alongside.
//
// Builder and Encode go the other way: the project writes its own models
// (the demo zoo, the quantizer's output, single-operator test models) with
// aligned buffers that the real TFLite runtime accepts.
//
// FindLogits locates the tensor that holds a classifier's logits, and
// FindFeatures its penultimate features and last layer. Running a
// model is the job of package interp, with the kernels of package kernels.
package model
