package kernels

// Float depthwise stays generic on 32-bit ARM (archFamilies), so this is
// never called.
func dwRowF32(a *dwRowArgs) { panic("kernels: no float depthwise kernel on arm") }
