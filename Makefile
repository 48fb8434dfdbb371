# pullguard — run `make help` for the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Pinned test-bed versions. Each binary lands in a directory named after its version, so a
# build is skipped when the pinned version is already in bin/ and redone when a pin moves.
K8S_VERSION      ?= 1.37.2
ETCD_VERSION     ?= 3.7.3
REGISTRY_VERSION ?= 3.1.2

BIN           := $(CURDIR)/bin
K8S_BIN       := $(BIN)/k8s/$(K8S_VERSION)
REGISTRY_BIN  := $(BIN)/registry/$(REGISTRY_VERSION)
KUBE_APISERVER := $(K8S_BIN)/kube-apiserver
KUBECTL        := $(K8S_BIN)/kubectl
ETCD           := $(K8S_BIN)/etcd
REGISTRY       := $(REGISTRY_BIN)/registry
WEBHOOK        := $(BIN)/webhook
PULLGUARD      := $(BIN)/pullguard

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_LDFLAGS := -s -w -X github.com/pullguard/pullguard/cmd/webhook/app.version=$(VERSION)
CLI_LDFLAGS := -s -w -X github.com/pullguard/pullguard/cmd/pullguard/app.version=$(VERSION)
K8S_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=v$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(K8S_VERSION))) \
	-X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
	-X k8s.io/component-base/version.gitTreeState=clean

# Environment the e2e tests read; they fail (never skip) when a binary is missing.
E2E_ENV := KUBEBUILDER_ASSETS=$(K8S_BIN) PULLGUARD_KUBECTL=$(KUBECTL) PULLGUARD_REGISTRY=$(REGISTRY)

# Bounded fuzzing in `make test`: each target runs this many inputs on top of its seed corpus
# (about 3 to 10 s per target here). A count, not a duration: Go 1.26's fuzz coordinator can
# report a bare "context deadline exceeded" failure when a duration ends while a worker is
# mid-input (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 30000x
# Time each new interesting input may spend being minimized. Minimization runs are not counted
# as execs and go test's default is 60s per input: with inputs that cost a few ms each (the
# webhook's config fuzz target runs 150-400 a second) one minimization stalled a run for 15-30 s,
# which used to swallow a whole 10 s FUZZTIME after 13-19 inputs. 100 runs keeps the corpus small
# without stalling.
FUZZMINIMIZETIME ?= 100x

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Targets:\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the webhook into bin/webhook, the CLI into bin/pullguard, and bin/kubectl-pullguard (the CLI as a kubectl plugin).
	CGO_ENABLED=0 go build -trimpath -ldflags '$(GO_LDFLAGS)' -o $(WEBHOOK) ./cmd/webhook
	CGO_ENABLED=0 go build -trimpath -ldflags '$(CLI_LDFLAGS)' -o $(PULLGUARD) ./cmd/pullguard
	ln -sf pullguard $(BIN)/kubectl-pullguard

# charts/ is its own Go module (Helm's SDK and Prometheus's rule parser stay out of the
# webhook's build; see charts/README.md), so every Go target runs in both modules.
CHARTS := $(CURDIR)/charts

.PHONY: vet
vet: ## Run go vet (both modules).
	go vet ./...
	cd $(CHARTS) && go vet ./...

# Bound on one e2e package run (each package starts its own control plane, registries and webhook).
E2E_TIMEOUT ?= 10m

.PHONY: test
test: tools vet test-unit test-e2e fuzz ## Run everything CI runs: vet, unit tests (race), e2e tests, a bounded fuzz pass.

.PHONY: test-unit
test-unit: tools ## Unit tests with the race detector (every package but e2e; the test bed's own tests use bin/), and the chart's rendering tests (no race detector: they run no concurrent code, and a race build of Helm's SDK costs many minutes on a fresh machine).
	$(E2E_ENV) go test -race $$(go list ./... | grep -v '/e2e')
	cd $(CHARTS) && go test $$(go list ./... | grep -v '/e2e')

.PHONY: manifests
manifests: ## Render manifests/base and certs/cert-manager from the Helm chart (charts/pullguard is their source).
	cd $(CHARTS) && go run ./cmd/manifests -root $(CURDIR)

.PHONY: crds
crds: ## Copy the openreports.io CRDs of the reports-api version charts/go.mod pins into charts/pullguard/crds.
	cd $(CHARTS) && go run ./cmd/crds -chart pullguard

# Chart version and appVersion for `make chart`; empty keeps Chart.yaml's.
CHART_VERSION ?=
CHART_APP_VERSION ?=

.PHONY: chart
chart: ## Lint and package the Helm chart into bin/pullguard-<version>.tgz (as helm package does).
	cd $(CHARTS) && go run ./cmd/package -chart pullguard -destination $(BIN) -version '$(CHART_VERSION)' -app-version '$(CHART_APP_VERSION)'

.PHONY: test-e2e
test-e2e: tools ## End-to-end tests: real kube-apiserver, registry and kubectl, webhook in-process.
	$(E2E_ENV) go test -count=1 -timeout=$(E2E_TIMEOUT) ./e2e/...
	cd $(CHARTS) && $(E2E_ENV) go test -count=1 -timeout=$(E2E_TIMEOUT) ./e2e/...

# Every `func FuzzXxx(` in a _test.go file is fuzzed on its own (go test -fuzz takes one target
# and one package), so a new fuzz target is picked up without editing this file. go test reports
# PASS even when a target's workers ran far fewer inputs than asked, so the pass also reads the
# last "fuzz: elapsed: ..., execs: N" line and fails a target that ran fewer than FUZZTIME's count
# (for a duration FUZZTIME, fewer than one).
.PHONY: fuzz
fuzz: ## Fuzz every Fuzz* target for FUZZTIME (default 30000x inputs) on top of its committed seed corpus; fails a target that ran fewer.
	@want=$$(echo '$(FUZZTIME)' | sed -nE 's/^([0-9]+)x$$/\1/p'); want=$${want:-1}; \
	out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	grep -rE --include='*_test.go' --exclude-dir=bin --exclude-dir=.git -o '^func Fuzz[A-Za-z0-9_]+' . | sort | \
	while IFS=: read -r file decl; do \
		name=$${decl#func }; dir=$$(dirname "$$file"); \
		echo ">> fuzzing $$name in $$dir for $(FUZZTIME)"; \
		go test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) "$$dir" </dev/null 2>&1 | tee "$$out" || exit 1; \
		execs=$$(sed -nE 's/^fuzz: elapsed: [^,]*, execs: ([0-9]+) .*/\1/p' "$$out" | tail -n 1); \
		if [ "$${execs:-0}" -lt "$$want" ]; then \
			echo ">> $$name in $$dir ran $${execs:-0} inputs, want at least $$want" >&2; exit 1; \
		fi; \
	done

.PHONY: demo
demo: tools chart-template ## Start a local control plane, registry and webhook (installed from the Helm chart) and show what kubectl prints for examples/.
	$(E2E_ENV) go run ./hack/demo -chart-template=$(CHART_TEMPLATE)

# The chart rendered as helm template does (charts/cmd/template), without the helm binary: the
# demo applies its output with kubectl. Always rebuilt: Go's cache makes that cheap and never stale.
CHART_TEMPLATE := $(BIN)/chart-template

.PHONY: chart-template
chart-template: ## Build charts/cmd/template (the chart rendered as helm template does) into bin/chart-template.
	cd $(CHARTS) && CGO_ENABLED=0 go build -trimpath -o $(CHART_TEMPLATE) ./cmd/template

# Where `make bench` keeps its output: the Go benchmarks (compare two runs with benchstat) and
# the table docs/benchmarks.md records.
BENCH_DIR ?= $(BIN)/bench

.PHONY: bench
bench: tools build ## Go benchmarks (benchstat format) and the bench table of ratios against same-run baselines; about 8 minutes.
	@mkdir -p $(BENCH_DIR)
	go test -run='^$$' -bench=. -benchmem -count=1 -timeout=10m ./pkg/registry/ ./bench/ | tee $(BENCH_DIR)/go-bench.txt
	$(E2E_ENV) go run ./bench/cmd/benchtable -webhook-binary=$(WEBHOOK) | tee $(BENCH_DIR)/table.md

.PHONY: tools
tools: $(KUBE_APISERVER) $(KUBECTL) $(ETCD) $(REGISTRY) ## Build the pinned kube-apiserver, kubectl, etcd and registry into bin/ (skips what is built).

$(KUBE_APISERVER): hack/tools/kube/go.mod
	@echo ">> building kube-apiserver v$(K8S_VERSION) from the Go module proxy (first build: several minutes)..."
	cd hack/tools/kube && CGO_ENABLED=0 go build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/kube-apiserver
	@echo ">> built $@"

$(KUBECTL): hack/tools/kube/go.mod
	@echo ">> building kubectl v$(K8S_VERSION) (first build: a few minutes)..."
	cd hack/tools/kube && CGO_ENABLED=0 go build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/kubectl
	@echo ">> built $@"

$(ETCD): hack/tools/etcd/go.mod
	@echo ">> building etcd v$(ETCD_VERSION)..."
	cd hack/tools/etcd && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $@ go.etcd.io/etcd/server/v3
	@echo ">> built $@"

$(REGISTRY): hack/tools/registry/go.mod
	@echo ">> building the CNCF Distribution registry v$(REGISTRY_VERSION)..."
	cd hack/tools/registry && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $@ github.com/distribution/distribution/v3/cmd/registry
	@echo ">> built $@"
