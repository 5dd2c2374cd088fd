// Package dataset reads labelled image sets for training, calibration and
// evaluation: MNIST-format idx files (gzipped or not) and directories of
// PNG/JPEG images.
package dataset
