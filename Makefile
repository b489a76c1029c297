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
# staticcheck pinned (v0.8.2 runs clean with Go 1.26); `make lint` installs it if missing.
STATICCHECK_VERSION := v0.8.2

.PHONY: help deps build run stop test unit fault lint bench bench-compare fuzz critest critest-bench e2e-kubelet install test-vm test-vm-ci tour e2e test-runc clean

help:
	@echo "make run         install what is missing, build, start krilld (embedded defaults)"
	@echo "make test        lint + unit + e2e + critest conformance + kubelet"
	@echo "make unit        each package's own tests (fast; no krilld)"
	@echo "make e2e         real pods and containers through a krilld: test/e2e and test/fault"
	@echo "make bench       benchmarks (pull, pod and container lifecycle, shim RSS)"
	@echo "make bench-compare  the same pod workload on Krill and a reference containerd, interleaved rounds"
	@echo "make fuzz        each fuzz target for FUZZTIME (default 30s); make unit runs their seeds"
	@echo "make critest     critest conformance only;  make critest-bench: critest --benchmark"
	@echo "make fault       fault injection: crashes, full disk, dead shims, hung plugins; leak checks"
	@echo "make e2e-kubelet a real kubelet running static pods on Krill"
	@echo "make install     binaries to /usr/local/bin (PREFIX), systemd unit, /etc/krill/krill.toml if absent"
	@echo "make test-vm     the full VM suite: a Debian 12 systemd + cgroup v2 node in QEMU (test/vm)"
	@echo "make tour        run every command of docs/tour.md against a throw-away krilld"

deps:
	bash hack/install-deps.sh

build: $(BIN)/krilld $(BIN)/krill-shim $(BIN)/krill-pause

$(BIN)/krilld: FORCE
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/krilld

# The shim is tiny on purpose: no cgo, stripped.
$(BIN)/krill-shim: FORCE
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w $(LDFLAGS)" -o $@ ./cmd/krill-shim

# musl keeps pause at ~20 KB RSS (glibc's static start-up touches ~700 KB):
# every pod runs one. The compiler is looked up when the recipe runs, not
# when make reads this file, so `make run` on a fresh machine uses the
# musl-gcc that its `deps` step has just installed.
PAUSE_CC ?= $$(command -v musl-gcc || echo gcc)
$(BIN)/krill-pause: pause/pause.c
	@mkdir -p $(BIN)
	$(PAUSE_CC) -static -Os -o $@ $< && strip $@

FORCE:

# A systemd node: `make install && systemctl enable --now krilld`.
PREFIX ?= /usr/local
install: build
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) bash contrib/install.sh $(BIN)

# Starts krilld in the background with embedded defaults; logs in $(LOG).
# Writes /etc/crictl.yaml (only when there is none) so crictl finds krilld
# without flags or warnings.
run: deps build
	@if [ ! -e /etc/crictl.yaml ]; then \
		printf 'runtime-endpoint: unix://%s/krill.sock\nimage-endpoint: unix://%s/krill.sock\n' $(STATE) $(STATE) > /etc/crictl.yaml; \
		echo "wrote /etc/crictl.yaml"; fi
	@if [ -S $(STATE)/krill.sock ] && crictl --runtime-endpoint unix://$(STATE)/krill.sock version >/dev/null 2>&1; then \
		echo "krilld already running"; exit 0; fi; \
	nohup $(BIN)/krilld >>$(LOG) 2>&1 & echo $$! > /tmp/krilld.pid; \
	for i in $$(seq 100); do crictl --runtime-endpoint unix://$(STATE)/krill.sock version >/dev/null 2>&1 && break; sleep 0.1; done; \
	crictl --runtime-endpoint unix://$(STATE)/krill.sock version && echo "krilld running (pid $$(cat /tmp/krilld.pid), log $(LOG))"

stop:
	@if [ -f /tmp/krilld.pid ]; then kill $$(cat /tmp/krilld.pid) 2>/dev/null || true; rm -f /tmp/krilld.pid; fi

test: deps lint build unit e2e critest e2e-kubelet test-vm-ci

# A current runc (Debian's 1.1.5 has no idmapped mounts and predates the
# 2025 advisories), built from its Go module and cached; tests register it
# as a second RuntimeClass handler.
test-runc:
	bash hack/build-runc.sh >/dev/null

# Each package's own tests, beside the code. Those that need root (network,
# image mounts, oci's runc, cgroups on the host) run when root and skip or
# use fakes otherwise; only cmd/krilld's start-up test runs the built
# binaries. -p 1: the root tests of network and oci share host state.
E2E_PKGS := ./test/e2e ./test/fault
unit: build test-runc
	$(GO) test -count=1 -p 1 -timeout 10m $$($(GO) list ./... | grep -v -e /test/e2e -e /test/fault)

# Real pods and containers through a krilld built from this tree.
e2e: build test-runc
	$(GO) test -count=1 -p 1 -timeout 30m $(E2E_PKGS)

# The fault-injection suite alone (it also runs in `e2e`).
# FAULT_CHURN sets the soak's pod lifecycles (default 200).
fault: build
	$(GO) test -count=1 -p 1 -timeout 30m -v ./test/fault

# docs/tour.md's commands, run by TestTour (also part of `e2e`).
tour: build
	$(GO) test -count=1 -run '^TestTour$$' ./test/e2e

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./...

# Issue 19's table: the same CRI workload on Krill and on containerd
# v2.4.2 (built from the Go module proxy, hack/build-containerd.sh), both
# on private paths, BENCH_ROUNDS rounds each interleaved A B A B; medians
# and ratios, then each round. Output also in test/out/bench-compare.txt.
# BENCH_RUNTIMES=krill measures Krill alone, BENCH_RUNTIMES=krill,krill=DIR
# compares this build with the one in DIR; KRILL_BIN=dir measures the
# krilld, krill-shim and krill-pause of another checkout; BENCH_ARGS adds
# benchcmp flags (bin/benchcmp -h).
KRILL_BIN ?= $(BIN)
BENCH_ROUNDS ?= 2
BENCH_SEQUENTIAL ?= 20
BENCH_BURSTS ?= 3
BENCH_BURST_SIZE ?= 10
BENCH_KEPT ?= 20
BENCH_RUNTIMES ?= krill,containerd
bench-compare: build
	bash test/images/build.sh >&2
	$(GO) build -o $(BIN)/benchcmp ./test/benchcmp
	@mkdir -p test/out
	set -o pipefail; $(BIN)/benchcmp -rounds $(BENCH_ROUNDS) -sequential $(BENCH_SEQUENTIAL) \
		-bursts $(BENCH_BURSTS) -burst-size $(BENCH_BURST_SIZE) -kept $(BENCH_KEPT) -runtimes $(BENCH_RUNTIMES) -krill-bin $(KRILL_BIN) \
		-containerd-bin "$$(if [[ $(BENCH_RUNTIMES) == *containerd* ]]; then bash hack/build-containerd.sh; fi)" \
		$(BENCH_ARGS) | tee test/out/bench-compare.txt

# Go's fuzzer runs one target per invocation. Seeds live in
# <pkg>/testdata/fuzz/<target>; findings are written there too, so they
# become regression seeds that `make unit` runs.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./container/spec:FuzzGenerate ./container/spec:FuzzResolveUser ./config:FuzzParse \
	./cmd/krill-shim:FuzzLineSplitter ./image:FuzzHostsToml ./image:FuzzReference
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

# critest runs with the current runc as the default handler, so its
# user-namespace specs run (Debian's runc 1.1.5 cannot idmap mounts);
# CRITEST_RUNC= (empty) runs it with the configured runc instead.
critest: build test-runc
	CRITEST_RUNC="$${CRITEST_RUNC-$$(bash hack/build-runc.sh)}" bash test/critest/run.sh

critest-bench: build
	bash test/critest/run.sh --benchmark

e2e-kubelet: build
	bash test/kubelet/run.sh

# The VM suites boot QEMU: on a shared machine run them under
# `flock /tmp/krill-heavy.lock`. test-vm-ci is the part `make test` runs.
test-vm: build
	VM_EXPECT_CGROUPNS=1 bash test/vm/suite.sh --full

# CI boots both VMs: the service VM (install, systemd readiness, limits in
# v2 files, cgroup namespace, restart survival, critest's CI subset) and
# the kubelet VM (the kubelet e2e with kubelet's cgroup defaults); only
# the full critest is left to make test-vm.
test-vm-ci: build
	VM_SUITES="$${VM_SUITES-service kubelet}" VM_EXPECT_CGROUPNS=1 bash test/vm/suite.sh --ci

clean:
	rm -rf $(BIN)
