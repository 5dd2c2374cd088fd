// Package firmwaretest holds the end-to-end checks of the deployment
// files in firmware-scripts: shellcheck on every script, systemd-analyze on
// the unit, the Debian package installed into a throwaway root with dpkg
// (conffile handling, maintainer scripts, purge), install.sh and
// uninstall.sh in a temporary prefix (upgrade, rollback, edited configs),
// the rootfs overlay, and the arm64 binary under qemu. It has no code of
// its own, only tests, which "make test-firmware" and "go test ./..." run.
//
// A test needing a tool that is not installed (shellcheck, dpkg,
// systemd-analyze, qemu-user-static) skips, except when CI=true, where it
// fails instead.
package firmwaretest
