# Krill: build, run and test. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(PATH):$(GOBIN):/usr/sbin:/sbin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/krill-runtime/krill/version.Version=$(VERSION)
STATE ?= /run/krill
LOG ?= /var/log/krilld.log

.PHONY: help deps build run stop test unit lint bench critest critest-bench e2e-kubelet clean test-runc

help:
	@echo "make run         install what is missing, build, start krilld (embedded defaults)"
	@echo "make test        lint + unit/integration tests + critest conformance"
	@echo "make bench       benchmarks (pull, pod and container lifecycle, shim RSS)"
	@echo "make critest     critest conformance only;  make critest-bench: critest --benchmark"
	@echo "make e2e-kubelet a real kubelet running static pods on Krill"

deps:
	bash hack/install-deps.sh

build: $(BIN)/krilld $(BIN)/krill-shim $(BIN)/krill-pause

$(BIN)/krilld: FORCE
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/krilld

# The shim is tiny on purpose: no cgo, stripped.
$(BIN)/krill-shim: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w $(LDFLAGS)" -o $@ ./cmd/krill-shim

# musl keeps pause at ~20 KB RSS (glibc's static start-up touches ~700 KB):
# every pod runs one.
PAUSE_CC := $(shell command -v musl-gcc || echo gcc)
$(BIN)/krill-pause: pause/pause.c
	@mkdir -p $(BIN)
	$(PAUSE_CC) -static -Os -o $@ $< && strip $@

FORCE:

# Starts krilld in the background with embedded defaults; logs in $(LOG).
run: deps build
	@if [ -S $(STATE)/krill.sock ] && crictl --runtime-endpoint unix://$(STATE)/krill.sock version >/dev/null 2>&1; then \
		echo "krilld already running"; exit 0; fi; \
	nohup $(BIN)/krilld >>$(LOG) 2>&1 & echo $$! > /tmp/krilld.pid; \
	for i in $$(seq 100); do crictl --runtime-endpoint unix://$(STATE)/krill.sock version >/dev/null 2>&1 && break; sleep 0.1; done; \
	crictl --runtime-endpoint unix://$(STATE)/krill.sock version && echo "krilld running (pid $$(cat /tmp/krilld.pid), log $(LOG))"

stop:
	@if [ -f /tmp/krilld.pid ]; then kill $$(cat /tmp/krilld.pid) 2>/dev/null || true; rm -f /tmp/krilld.pid; fi

test: deps lint build unit critest e2e-kubelet

# A current runc (Debian's 1.1.5 has no idmapped mounts and predates the
# 2025 advisories), built from its Go module and cached; tests register it
# as a second RuntimeClass handler.
test-runc:
	bash hack/build-runc.sh >/dev/null

unit: build test-runc
	$(GO) test -count=1 -p 1 -timeout 30m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./...

# critest runs with the current runc as the default handler, so its
# user-namespace specs run (Debian's runc 1.1.5 cannot idmap mounts);
# CRITEST_RUNC= (empty) runs it with the configured runc instead.
critest: build test-runc
	CRITEST_RUNC="$${CRITEST_RUNC-$$(bash hack/build-runc.sh)}" bash test/critest/run.sh

critest-bench: build
	bash test/critest/run.sh --benchmark

e2e-kubelet: build
	bash test/kubelet/run.sh

clean:
	rm -rf $(BIN)
