// Package layout is the single description of how ood-agent is laid out on
// a device, shared by the Debian package builder (cmd/mkdeb), the rootfs
// overlay builder (cmd/mkoverlay) and their tests: which files go where
// with which modes, which targets a binary may be packaged for, how a
// build version becomes a Debian version, and how the example
// configuration becomes the installed default.
package layout
