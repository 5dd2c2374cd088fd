# Deployment targets of ood-agent: cross builds, tests under qemu, Debian
# packages, rootfs overlays. Included by the top-level Makefile, or run
# alone from the repository root:
#
#   make -f firmware-scripts/firmware.mk cross
#
# See firmware-scripts/README.md.

# Fallbacks for running this file alone, each evaluated once so that all
# binaries of a build carry the same date.
ifndef GO
GO := go
endif
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
ifndef COMMIT
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
endif
ifndef DATE
DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
endif
ifndef LDFLAGS
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
endif
DIST ?= dist

FW := firmware-scripts

# Binaries: dist/ood-agent-linux-<target>.
FW_TARGETS      := arm64 armv7 armv6 amd64
FW_GOENV_arm64  := GOARCH=arm64
FW_GOENV_armv7  := GOARCH=arm GOARM=7
FW_GOENV_armv6  := GOARCH=arm GOARM=6
FW_GOENV_amd64  := GOARCH=amd64
FW_BINARIES     := $(FW_TARGETS:%=$(DIST)/ood-agent-linux-%)

# Debian packages. armhf carries the armv6 build so that one package runs
# on Raspberry Pi OS on a Pi Zero/1 (ARMv6) and on every ARMv7 armhf
# system; set FW_DEB_ARMHF=armv7 for fleets without ARMv6 boards.
FW_DEB_ARCHES ?= arm64 armhf amd64
FW_DEB_ARMHF  ?= armv6
# The packages carry the binary built with the hub (tag hub: SQLite and
# PostgreSQL drivers, web UI; about twice the edge binary) so that the
# disabled ood-agent-hub.service can be enabled on a gateway or server. The
# rootfs overlay and `make cross` keep the edge binary. FW_DEB_TAGS= builds
# packages without the hub.
FW_DEB_TAGS   ?= hub

# File times in packages and overlays: the last commit's, so that a
# rebuild of the same commit gives the same bytes.
FW_EPOCH = $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null),0)

# test-arm: flags and packages of the emulated test runs, and the
# emulators (Debian qemu-user-static). The whole suite runs: no test
# calls testing.Short yet, so -short would leave nothing out (README).
TEST_ARM_FLAGS ?= -count=1 -timeout 60m
TEST_ARM_PKGS  ?= ./...
# The second arm64 run, on a CPU without the dot product (Cortex-A53,
# Raspberry Pi 3): the packages whose code depends on the kernel level.
# Under emulation the 224×224 conformance models run at the best level
# only (the conformance test checks OOD_AGENT_TEST_EMULATOR).
TEST_ARM_KERNEL_PKGS ?= ./model/kernels/ ./model/conformance/
QEMU_AARCH64   ?= qemu-aarch64-static
QEMU_ARM       ?= qemu-arm-static
# Tests to leave out under emulation (a -skip pattern). Tests that
# re-execute their own binary run the child through $$OOD_AGENT_TEST_EMULATOR
# (see qemu-exec.sh), so none need to be left out.
TEST_ARM_SKIP ?=
FW_SKIP_FLAG = $(if $(TEST_ARM_SKIP),-skip '$(TEST_ARM_SKIP)')

.PHONY: cross test-arm packages rootfs-overlay test-firmware fw-force

fw-force:

cross: $(FW_BINARIES)
	$(fw_sums)

$(DIST)/ood-agent-linux-%: fw-force
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=linux $(FW_GOENV_$*) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/ood-agent

$(DIST)/ood-agent-deb-linux-%: fw-force
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=linux $(FW_GOENV_$*) $(GO) build -trimpath -tags '$(FW_DEB_TAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/ood-agent

# SHA256SUMS covers every artifact in dist.
define fw_sums
cd $(DIST) && find . -maxdepth 1 -type f \( -name 'ood-agent-linux-*' -o -name '*.deb' -o -name 'ood-agent-rootfs-overlay-*.tar.gz' \) \
	| sed 's,^\./,,' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS
endef

packages: $(DIST)/ood-agent-deb-linux-arm64 $(DIST)/ood-agent-deb-linux-$(FW_DEB_ARMHF) $(DIST)/ood-agent-deb-linux-amd64
	@set -e; for arch in $(FW_DEB_ARCHES); do \
		case $$arch in armhf) bin=$(FW_DEB_ARMHF) ;; *) bin=$$arch ;; esac; \
		SOURCE_DATE_EPOCH=$(FW_EPOCH) $(GO) run ./$(FW)/cmd/mkdeb --arch $$arch --version '$(VERSION)' \
			--binary $(DIST)/ood-agent-deb-linux-$$bin --out $(DIST); \
	done
	$(fw_sums)

rootfs-overlay: $(FW_BINARIES)
	@set -e; for t in $(FW_TARGETS); do \
		SOURCE_DATE_EPOCH=$(FW_EPOCH) $(GO) run ./$(FW)/cmd/mkoverlay --arch $$t \
			--binary $(DIST)/ood-agent-linux-$$t --out $(DIST); \
	done
	$(fw_sums)

# The Go test suite cross-compiled for arm64 and armv7 and run under qemu
# user emulation. Missing qemu skips the target, or fails it under CI=true.
test-arm:
	@set -e; for q in $(QEMU_AARCH64) $(QEMU_ARM); do \
		if ! command -v $$q >/dev/null 2>&1; then \
			if [ "$$CI" = true ]; then echo "test-arm: $$q not found (apt-get install qemu-user-static)" >&2; exit 1; fi; \
			echo "test-arm: $$q not found, skipping (apt-get install qemu-user-static)"; exit 0; \
		fi; \
	done; \
	echo "== arm64 (qemu-aarch64, -cpu max: kernel levels generic, neon, dotprod)"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 QEMU_AARCH64=$(QEMU_AARCH64) QEMU_CPU=max \
		$(GO) test -exec $(CURDIR)/$(FW)/qemu-exec.sh $(TEST_ARM_FLAGS) $(FW_SKIP_FLAG) $(TEST_ARM_PKGS); \
	echo "== arm64 without the dot product (qemu-aarch64 -cpu cortex-a53): kernels and conformance"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 QEMU_AARCH64=$(QEMU_AARCH64) QEMU_CPU=cortex-a53 \
		$(GO) test -exec $(CURDIR)/$(FW)/qemu-exec.sh $(TEST_ARM_FLAGS) -short $(TEST_ARM_KERNEL_PKGS); \
	echo "== armv7 (qemu-arm, NEON: kernel levels generic, neon)"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 QEMU_ARM=$(QEMU_ARM) \
		$(GO) test -exec $(CURDIR)/$(FW)/qemu-exec.sh $(TEST_ARM_FLAGS) $(FW_SKIP_FLAG) $(TEST_ARM_PKGS); \
	echo "== armv6 on a core without NEON (qemu-arm -cpu arm1176, Pi Zero/1): kernels"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=6 QEMU_ARM=$(QEMU_ARM) QEMU_CPU=arm1176 \
		$(GO) test -exec $(CURDIR)/$(FW)/qemu-exec.sh $(TEST_ARM_FLAGS) -short ./model/kernels/

# Deployment checks: the packaging programs, and the end-to-end
# tests of firmware-scripts/firmwaretest (shellcheck, systemd-analyze,
# dpkg, install.sh, overlay, qemu).
test-firmware:
	$(GO) vet ./$(FW)/...
	$(GO) test -count=1 -timeout 10m ./$(FW)/...
