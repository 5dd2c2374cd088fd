// Package plot draws score histograms of in-distribution and
// out-of-distribution data as a PNG, in the style of Figure 2 of Liu et al.,
// "Energy-based Out-of-distribution Detection": one panel per score, the
// series overlaid as semi-transparent histograms on shared bins.
//
// It is pure Go, so the calibration and report tools can render the figure
// on the device or in CI without a plotting stack.
package plot
