package ood

// HalfBits rounds x to the nearest IEEE half-precision value, as the
// feature bank stores it; other packages that store features use it so
// that every float16 on the device is rounded the same way.
func HalfBits(x float32) uint16 { return float16Bits(x) }

// HalfValue decodes an IEEE half-precision value.
func HalfValue(h uint16) float32 { return float16Value(h) }
