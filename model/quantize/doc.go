// Package quantize converts float32 TensorFlow Lite models to full-integer
// int8 models by post-training quantization: it runs the float model on
// calibration samples to observe the range of every activation, then writes
// a model whose activations are asymmetric int8, whose convolution weights
// are symmetric per-channel int8 and whose biases are int32, following the
// conventions of the TensorFlow Lite converter so that the result runs on
// the reference runtime as well as on the project's interpreter.
package quantize
