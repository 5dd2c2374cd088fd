// Package zoo embeds the demo models the project trains itself: a
// Fashion-MNIST CNN as float32 and int8 .tflite files, with the calibration
// files that bind an energy threshold to each.
package zoo
