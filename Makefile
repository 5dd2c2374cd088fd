# ood-agent — build, test and benchmark targets. `make test` is what CI runs.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
CONFORMANCE ?= ../shared/conformance
FUZZTIME ?= 20s

.PHONY: all build test test-unit fuzz bench bench-model vet fmt demo clean

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
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./model/

# Benchmarks: Go kernels and whole models, and the real TFLite runtime
# (WebAssembly, XNNPACK) on the same models in the same run.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(MAKE) bench-model

bench-model: build
	@for m in $(CONFORMANCE)/mobilenet_v1_025_128_uint8/model.tflite $(CONFORMANCE)/person_detect_int8/model.tflite; do \
		echo "== $$m"; \
		echo -n "ood-agent (pure Go, 1 thread): "; ./bin/ood-agent model bench $$m --iterations 200 --json | tr -d '\n '; echo; \
		echo -n "ood-agent (pure Go, 2 threads): "; ./bin/ood-agent model bench $$m --iterations 200 --threads 2 --json | tr -d '\n '; echo; \
		echo -n "TFLite runtime (WASM SIMD, 1 thread): "; node tools/tflite-oracle/oracle.mjs bench $$m 200 2>/dev/null || echo unavailable; \
	done

demo: build
	./bin/ood-agent demo

clean:
	rm -rf bin dist
