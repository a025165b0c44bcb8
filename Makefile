# leaselb — see README.md. Every target installs what it needs; build tools
# are cached in ./bin (ignored by git), so a second run is fast.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO       ?= go
BIN      := $(CURDIR)/bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The same flags as the Dockerfile's build stage: a static, reproducible binary.
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOBUILD  := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

GEN_TOOLS := $(BIN)/controller-gen $(BIN)/client-gen $(BIN)/lister-gen $(BIN)/informer-gen
# Generated files; `make verify-generated` fails when they are stale.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go manifests/crds internal/client

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

##@ Build
.PHONY: build
build: ## build bin/leaselb
	$(GOBUILD) -o $(BIN)/leaselb ./cmd/leaselb

$(GEN_TOOLS): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOBIN=$(BIN) $(GO) install \
		sigs.k8s.io/controller-tools/cmd/controller-gen \
		k8s.io/code-generator/cmd/client-gen \
		k8s.io/code-generator/cmd/lister-gen \
		k8s.io/code-generator/cmd/informer-gen

.PHONY: generate
generate: $(GEN_TOOLS) ## regenerate deepcopy, CRDs (manifests/crds) and the typed client
	hack/generate.sh

.PHONY: verify-generated
verify-generated: $(GEN_TOOLS) ## fail when generated files differ from what `make generate` writes
	@before=$$(find $(GENERATED) -type f -print0 | sort -z | xargs -0 sha256sum); \
	hack/generate.sh; \
	after=$$(find $(GENERATED) -type f -print0 | sort -z | xargs -0 sha256sum); \
	if [ "$$before" != "$$after" ]; then \
		diff <(echo "$$before") <(echo "$$after") || true; \
		echo "generated files were stale: run 'make generate' and commit the result" >&2; exit 1; \
	fi

##@ Check
.PHONY: lint
lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^hack/') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

.PHONY: deps
deps: ## install the Debian packages the privileged tests and the lab use (root)
	hack/install-deps.sh

.PHONY: unit
unit: ## unit tests (privileged tests skip unless root), and the CRDs through the API server's validation code
	$(GO) test -count=1 ./...
	cd hack/tools && $(GO) test -count=1 ./...

.PHONY: test
test: deps verify-generated lint unit e2e ## everything CI runs: generated-file check, lint, unit and root tests, e2e in the lab

##@ Lab
# The lab's control plane, built from k8s.io/kubernetes in its own module
# (hack/cluster); rebuilt only when that module changes.
CLUSTER_TOOLS := $(BIN)/kube-apiserver $(BIN)/kubectl $(BIN)/etcd
$(CLUSTER_TOOLS) &: hack/cluster/go.mod hack/cluster/go.sum hack/cluster/etcd/main.go hack/cluster/build.sh
	GO=$(GO) hack/cluster/build.sh $(BIN)

.PHONY: cluster-tools
cluster-tools: $(CLUSTER_TOOLS) ## build kube-apiserver, kubectl and etcd for the lab into bin/

.PHONY: lab-tools
lab-tools: ## build the lab's own commands (bin/lab, bin/labagent)
	$(GO) build -o $(BIN)/labagent ./e2e/cmd/labagent
	$(GO) build -o $(BIN)/lab ./e2e/cmd/lab

# E2E_RUN selects scenarios, e.g. make e2e E2E_RUN=TestWalkthrough
E2E_RUN ?= .
.PHONY: e2e
e2e: ## end-to-end scenarios in the lab (root; without root the tests skip and say why)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory build cluster-tools lab-tools; fi
	$(GO) test -count=1 -tags e2e -timeout 30m -v -run '$(E2E_RUN)' ./e2e/

.PHONY: demo
demo: deps ## the walkthrough in the lab: pool, Service, curl, fail the holder, measured failover (root)
	@echo ">> make demo: building leaselb and the lab (the first build of the cluster tools takes minutes)"
	$(MAKE) --no-print-directory build cluster-tools lab-tools
	$(BIN)/lab demo

.PHONY: bench
bench: deps build cluster-tools lab-tools ## failover times, API writes/s, speaker RSS/CPU in the lab (root, slow); table in bin/bench-results.md
	$(BIN)/lab bench

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	hack/fuzz.sh $${FUZZTIME:-30s}
