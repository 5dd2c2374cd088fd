#!/bin/sh
# qemu-exec.sh: run a cross-compiled program under qemu user emulation.
# go test -exec passes it every test binary:
#
#   GOARCH=arm64 go test -exec "$PWD/firmware-scripts/qemu-exec.sh" ./...
#
# The emulator follows the binary's ELF machine field, so one wrapper
# serves every architecture; host binaries run directly. Override the
# emulators with QEMU_AARCH64 and QEMU_ARM (e.g. qemu-aarch64 when the
# distribution ships no -static builds).
set -eu

[ "$#" -ge 1 ] || {
	echo "usage: qemu-exec.sh PROGRAM [ARG...]" >&2
	exit 2
}

# e_machine is the little-endian 16-bit field at offset 18 of the ELF
# header (all targets here are little-endian).
machine=$(od -An -tu2 -j18 -N2 "$1" | tr -d ' ')

case $(uname -m) in
aarch64 | arm64) host=183 ;;
arm*) host=40 ;;
x86_64) host=62 ;;
*) host='' ;;
esac
if [ "$machine" = "$host" ]; then
	exec "$@"
fi

case $machine in
183) emulator=${QEMU_AARCH64:-qemu-aarch64-static} ;; # EM_AARCH64
40) emulator=${QEMU_ARM:-qemu-arm-static} ;;          # EM_ARM
62 | 3) exec "$@" ;;                                  # EM_X86_64, EM_386
*)
	echo "qemu-exec.sh: $1: unsupported ELF machine '$machine'" >&2
	exit 2
	;;
esac

command -v "$emulator" >/dev/null 2>&1 || {
	echo "qemu-exec.sh: $emulator not found (Debian: apt-get install qemu-user-static)" >&2
	exit 127
}
# qemu-user does not follow execve: a test that re-executes its own binary
# (a crash or kill -9 helper) gets "exec format error" unless the kernel
# has qemu registered in binfmt_misc. Such a test can run the child as
# "$OOD_AGENT_TEST_EMULATOR" BINARY ARGS... when the variable is set.
OOD_AGENT_TEST_EMULATOR=$(command -v "$emulator")
export OOD_AGENT_TEST_EMULATOR
exec "$emulator" "$@"
