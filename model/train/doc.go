// Package train trains the project's demo classifier — a small CNN for 28×28
// grayscale images — in pure Go with hand-written forward and backward
// passes, optionally with the energy-bounded fine-tuning loss of Liu et al.
// (NeurIPS 2020, §3), and exports it as float32 and int8 .tflite models with
// metadata through the model package's writer.
package train
