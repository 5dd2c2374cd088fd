package layout

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"slices"
)

// Target is an architecture ood-agent is built for.
type Target struct {
	// Name is the suffix of the binary (dist/ood-agent-linux-<Name>) and of
	// the rootfs overlay: arm64, armv7, armv6 or amd64.
	Name   string
	GOARCH string
	GOARM  string // "" unless GOARCH is arm
}

// Targets returns the architectures that make cross builds.
func Targets() []Target {
	return []Target{
		{Name: "arm64", GOARCH: "arm64"},
		{Name: "armv7", GOARCH: "arm", GOARM: "7"},
		{Name: "armv6", GOARCH: "arm", GOARM: "6"},
		{Name: "amd64", GOARCH: "amd64"},
	}
}

// LookupTarget returns the target called name.
func LookupTarget(name string) (Target, error) {
	for _, t := range Targets() {
		if t.Name == name {
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("unknown target %q (want arm64, armv7, armv6 or amd64)", name)
}

// DebArchs maps each Debian architecture ood-agent is packaged for to the
// targets whose binaries run on it. armhf takes armv6 binaries as well as
// armv7: Raspberry Pi OS is armhf built for ARMv6, so only an armv6 binary
// runs on a Pi Zero or Pi 1 there, and it runs on every ARMv7 armhf system
// too. There is no armel package: Debian's armel is ARMv5 soft-float.
func DebArchs() map[string][]string {
	return map[string][]string{
		"arm64": {"arm64"},
		"armhf": {"armv7", "armv6"},
		"amd64": {"amd64"},
	}
}

// ErrWrongBinary is returned when a binary was not built the way a package
// or overlay for an architecture needs.
var ErrWrongBinary = errors.New("binary does not fit the architecture")

// CheckBinary reads the Go build information of the executable at path and
// reports which of the targets allowed (names as in Target.Name) it was
// built for. It fails with ErrWrongBinary unless it is a static
// (CGO_ENABLED=0) linux build for one of them, which catches packaging an
// amd64 binary as arm64 or an armv7 binary for a Pi Zero.
func CheckBinary(path string, allowed ...string) (Target, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return Target{}, fmt.Errorf("read build info of %s: %w", path, err)
	}
	settings := make(map[string]string)
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	got := Target{GOARCH: settings["GOARCH"], GOARM: settings["GOARM"]}
	if got.GOARCH != "arm" {
		got.GOARM = ""
	}
	if settings["GOOS"] != "linux" {
		return got, fmt.Errorf("%w: %s is built for GOOS=%s, want linux", ErrWrongBinary, path, settings["GOOS"])
	}
	if settings["CGO_ENABLED"] != "0" {
		return got, fmt.Errorf("%w: %s is built with CGO_ENABLED=%s, want 0", ErrWrongBinary, path, settings["CGO_ENABLED"])
	}
	for _, t := range Targets() {
		if t.GOARCH == got.GOARCH && t.GOARM == got.GOARM && slices.Contains(allowed, t.Name) {
			return t, nil
		}
	}
	return got, fmt.Errorf("%w: %s is built for GOARCH=%s GOARM=%s, want one of %v", ErrWrongBinary, path, got.GOARCH, got.GOARM, allowed)
}
