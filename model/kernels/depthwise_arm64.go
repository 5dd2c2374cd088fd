package kernels

// The float rows in depthwise_arm64.s (the rest: depthwise_neon.go).

//go:noescape
func dwRowF32NEON(a *dwRowArgs)

func dwRowF32(a *dwRowArgs) { dwRowF32NEON(a) }
