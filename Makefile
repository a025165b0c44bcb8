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

KUSTOMIZE := $(BIN)/kustomize
GEN_TOOLS := $(BIN)/controller-gen $(BIN)/client-gen $(BIN)/lister-gen $(BIN)/informer-gen
# Generated files; `make verify-generated` fails when they are stale.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go manifests/crds internal/client

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

##@ Build
.PHONY: build
build: ## build bin/leaselb
	$(GOBUILD) -o $(BIN)/leaselb ./cmd/leaselb

# `make install` puts leaselb and the kubectl plugin kubectl-leaselb (the
# same binary: it runs as `kubectl leaselb` by its name) into
# $(DESTDIR)$(PREFIX)/bin.
PREFIX  ?= /usr/local
.PHONY: install
install: build ## install bin/leaselb as $(PREFIX)/bin/leaselb and $(PREFIX)/bin/kubectl-leaselb (PREFIX=/usr/local)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/leaselb $(DESTDIR)$(PREFIX)/bin/leaselb
	install -m 0755 $(BIN)/leaselb $(DESTDIR)$(PREFIX)/bin/kubectl-leaselb

# CI cannot run docker, so it checks the image's build stage by building the
# same static binary with the same flags (the Dockerfile copies GOBUILD's
# flags; manifests/manifests_test.go checks that they match).
.PHONY: build-static
build-static: build ## build bin/leaselb exactly as the Dockerfile does, and check it is static
	@if ! command -v ldd >/dev/null; then echo "ldd not found: cannot check that bin/leaselb is static" >&2; \
	elif ldd $(BIN)/leaselb >/dev/null 2>&1; then echo "bin/leaselb is dynamically linked; the image needs a static binary" >&2; exit 1; fi
	@echo "bin/leaselb: static ($$($(BIN)/leaselb version))"

##@ Image
# The image is built without Docker and without pulling a base image:
# hack/tools/imagetool (go-containerregistry) puts each platform's static
# binary into one layer on the empty image and writes a multi-platform OCI
# index as an OCI layout and as a tarball of that layout, which
# `ctr -n k8s.io images import` and k3s import under the name $(IMAGE).
IMAGE_REPO      := ghcr.io/leaselb/leaselb
IMAGE           ?= $(IMAGE_REPO):$(VERSION)
IMAGE_PLATFORMS := linux/amd64 linux/arm64 linux/arm/v7
# Every timestamp in the image is the commit's time, so two builds of one
# commit give one digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
REVISION        ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGETOOL       := $(BIN)/imagetool
IMAGE_LABELS    := --label org.opencontainers.image.source=https://github.com/leaselb/leaselb \
	--label org.opencontainers.image.version=$(VERSION) --label org.opencontainers.image.revision=$(REVISION)

$(IMAGETOOL): hack/tools/go.mod hack/tools/go.sum $(wildcard hack/tools/imagetool/*.go)
	cd hack/tools && $(GO) build -o $(IMAGETOOL) ./imagetool

# $(call cross-build,ROOT): ROOT/<os>_<arch>[_<variant>]/leaselb for every
# platform of the image, with GOBUILD's flags (arm/v7 is GOARM=7).
define cross-build
for p in $(IMAGE_PLATFORMS); do \
	IFS=/ read -r os arch variant <<<"$$p"; \
	GOOS=$$os GOARCH=$$arch GOARM=$${variant#v} $(GOBUILD) -o $(1)/$${p//\//_}/leaselb ./cmd/leaselb; \
done
endef

# $(call build-image,NAME,BINROOT,LAYOUT-DIR,TAR): the image from the
# binaries under BINROOT; prints the index digest.
define build-image
SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(IMAGETOOL) build --name '$(1)' --layout '$(3)' --tar '$(4)' $(IMAGE_LABELS) \
	$(foreach p,$(IMAGE_PLATFORMS),--binary $(p)=$(2)/$(subst /,_,$(p))/leaselb)
endef

.PHONY: cross
cross: ## build the static binary for each image platform into bin/<os>_<arch>[_<variant>]/leaselb
	@$(call cross-build,$(BIN))

.PHONY: image
image: cross $(IMAGETOOL) ## build the multi-arch image $(IMAGE) without Docker: bin/image/leaselb (OCI layout), bin/image/leaselb.tar; print its digest
	@mkdir -p $(BIN)/image
	@d=$$($(call build-image,$(IMAGE),$(BIN),$(BIN)/image/leaselb,$(BIN)/image/leaselb.tar)); \
	echo "$(IMAGE)@$$d"; echo "  layout bin/image/leaselb, tarball bin/image/leaselb.tar (ctr -n k8s.io images import bin/image/leaselb.tar)"

# CI proves the image reproducible (a second build from the same commit,
# binaries included, gives the same digest and the same tarball), that each
# platform's binary starts (arm64 and arm/v7 under Debian's qemu-user), and
# that the layout holds what the manifests expect (user, entrypoint, files).
.PHONY: verify-image
verify-image: deps cross $(IMAGETOOL) ## build the image twice and fail unless the digests match; run each binary (arm under qemu); check the layout
	@rm -rf $(BIN)/verify-image; mkdir -p $(BIN)/verify-image
	@a=$$($(call build-image,$(IMAGE),$(BIN),$(BIN)/verify-image/1,$(BIN)/verify-image/1.tar)); \
	$(call cross-build,$(BIN)/verify-image/bin2); \
	b=$$($(call build-image,$(IMAGE),$(BIN)/verify-image/bin2,$(BIN)/verify-image/2,$(BIN)/verify-image/2.tar)); \
	echo "first build:  $$a"; echo "second build: $$b"; \
	if [ "$$a" != "$$b" ]; then echo "verify-image: two builds of one commit gave different digests; the image is not reproducible" >&2; exit 1; fi; \
	cmp -s $(BIN)/verify-image/1.tar $(BIN)/verify-image/2.tar || { echo "verify-image: the two builds' tarballs differ" >&2; exit 1; }
	$(BIN)/linux_amd64/leaselb version
	qemu-aarch64-static $(BIN)/linux_arm64/leaselb version
	qemu-arm-static $(BIN)/linux_arm_v7/leaselb version
	$(IMAGETOOL) verify --layout $(BIN)/verify-image/1 --name $(IMAGE) --binary leaselb --platforms '$(IMAGE_PLATFORMS)'

.PHONY: push
push: image ## push the image as built (digests kept) to IMAGE=registry/leaselb:tag; credentials from docker login / credential helpers
	$(IMAGETOOL) push --layout $(BIN)/image/leaselb $(IMAGE)

# A release: the image as one OCI layout tarball (users without a registry
# import it into each node's containerd), the three binaries (leaselb
# doctor runs on a laptop), the one-file install pinned to the image's
# digest, and checksums over all of it. Each platform's binary ships twice:
# leaselb-<platform> and kubectl-leaselb-<platform> (the kubectl plugin,
# the same bytes under the name kubectl looks for). The manifest is kustomize's
# rendering of a temporary copy of manifests/ whose image is set, with
# `kustomize edit set image`, to $(IMAGE)@<digest>.
DIST := $(CURDIR)/dist
.PHONY: release-check
release-check:
	@[[ "$(VERSION)" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$$ ]] || \
		{ echo "release: VERSION=$(VERSION) is not a release version: run make release VERSION=v0.1.0" >&2; exit 1; }
	@git diff --quiet HEAD -- || { echo "release: the working tree has uncommitted changes; commit or stash them, a release is built from a commit" >&2; exit 1; }

.PHONY: release
release: release-check cross $(IMAGETOOL) $(KUSTOMIZE) ## VERSION=vX.Y.Z: dist/ with the image tarball, the binaries, leaselb.yaml pinned by digest, SHA256SUMS
	@rm -rf $(DIST); mkdir -p $(DIST) $(BIN)/image
	@d=$$($(call build-image,$(IMAGE),$(BIN),$(BIN)/image/leaselb,$(BIN)/image/leaselb.tar)); \
	cp $(BIN)/image/leaselb.tar $(DIST)/leaselb.tar; \
	for p in $(IMAGE_PLATFORMS); do cp $(BIN)/$${p//\//_}/leaselb $(DIST)/leaselb-$${p//\//-}; \
		cp $(BIN)/$${p//\//_}/leaselb $(DIST)/kubectl-leaselb-$${p//\//-}; done; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cp -r manifests "$$tmp/"; \
	(cd "$$tmp/manifests" && $(KUSTOMIZE) edit set image $(IMAGE_REPO)=$(IMAGE)@$$d); \
	$(call render-manifests,$$tmp/manifests) > $(DIST)/leaselb.yaml; \
	n=$$(grep -c "image: $(IMAGE)@$$d$$" $(DIST)/leaselb.yaml || true); \
	if [ "$$n" != 2 ] || grep -E "image: .*$(IMAGE_REPO):[^@]*$$" $(DIST)/leaselb.yaml; then \
		echo "release: dist/leaselb.yaml should name $(IMAGE)@$$d in its 2 containers, found $$n" >&2; exit 1; fi; \
	(cd $(DIST) && sha256sum leaselb.tar leaselb-linux-* kubectl-leaselb-linux-* leaselb.yaml > SHA256SUMS); \
	echo "$(IMAGE)@$$d"; ls -l $(DIST)

##@ Lab images
# The lab imports these into each node's containerd (no registry) and
# installs leaselb from manifests/ through an overlay that only swaps
# $(IMAGE_REPO) for leaselb.lab/leaselb:dev. Host platform only.
LAB_PLATFORM := linux/$(shell $(GO) env GOARCH)$(if $(filter arm,$(shell $(GO) env GOARCH)),/v7)
# Each entry: image name, then the package whose binary is its entrypoint.
LAB_IMAGES := leaselb.lab/leaselb:dev=./cmd/leaselb leaselb.lab/echo:v1=./e2e/cmd/echo leaselb.lab/pause:v1=./e2e/cmd/pause
.PHONY: lab-images
lab-images: $(IMAGETOOL) ## the lab's images in bin/lab-images: leaselb.tar (leaselb.lab/leaselb:dev), echo.tar (the demo app), pause.tar (the pods' sandbox)
	@mkdir -p $(BIN)/lab-images
	@p=$(LAB_PLATFORM); IFS=/ read -r os arch variant <<<"$$p"; export GOOS=$$os GOARCH=$$arch GOARM=$${variant#v}; \
	for entry in $(LAB_IMAGES); do \
		name=$${entry%%=*}; pkg=$${entry#*=}; bin=$${pkg##*/}; \
		$(GOBUILD) -o $(BIN)/lab-images/$${p//\//_}/$$bin $$pkg; \
		d=$$(SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(IMAGETOOL) build --name $$name $(IMAGE_LABELS) \
			--binary $$p=$(BIN)/lab-images/$${p//\//_}/$$bin --layout $(BIN)/lab-images/$$bin --tar $(BIN)/lab-images/$$bin.tar); \
		echo "$$name@$$d  bin/lab-images/$$bin.tar"; \
	done

$(GEN_TOOLS): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOBIN=$(BIN) $(GO) install \
		sigs.k8s.io/controller-tools/cmd/controller-gen \
		k8s.io/code-generator/cmd/client-gen \
		k8s.io/code-generator/cmd/lister-gen \
		k8s.io/code-generator/cmd/informer-gen

$(KUSTOMIZE): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && GOBIN=$(BIN) $(GO) install sigs.k8s.io/kustomize/kustomize/v5

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## build bin/kustomize (the version pinned in hack/tools), e.g. to set the image in manifests/

# The one-file install is kustomize's rendering of manifests/ (or of the
# directory given as $(1)) behind a header
# (kustomize drops comments: the reasons for every RBAC rule and security
# setting are in the sources).
define render-manifests
{ printf '%s\n' \
	'# leaselb install manifest: kubectl apply -f leaselb.yaml' \
	'# GENERATED by `make manifests` from manifests/kustomization.yaml; do not edit.' \
	'# The comments that justify each RBAC rule and security setting are in' \
	'# manifests/rbac/, manifests/controller/ and manifests/speaker/.' \
	'---'; $(KUSTOMIZE) build $(or $(1),manifests); }
endef

# The Helm chart cannot read outside its directory: it carries copies of the
# generated CRDs and of the sample alerts (hack/tools/chartcheck fails when
# they differ, and when the chart's default rendering differs from
# manifests/leaselb.yaml).
CHART := charts/leaselb
CHART_COPIES := manifests/crds/leaselb.io_ipaddresspools.yaml:$(CHART)/files/crds/leaselb.io_ipaddresspools.yaml \
	manifests/crds/leaselb.io_l2advertisements.yaml:$(CHART)/files/crds/leaselb.io_l2advertisements.yaml \
	manifests/prometheus/alerts.yaml:$(CHART)/files/alerts.yaml

.PHONY: manifests
manifests: $(KUSTOMIZE) ## render manifests/leaselb.yaml (the one-file install) from the kustomize sources in manifests/, and copy the CRDs and alerts into the chart
	$(render-manifests) > manifests/leaselb.yaml.tmp
	mv manifests/leaselb.yaml.tmp manifests/leaselb.yaml
	@for c in $(CHART_COPIES); do cp "$${c%%:*}" "$${c##*:}"; done

.PHONY: verify-manifests
verify-manifests: $(KUSTOMIZE) ## fail when manifests/leaselb.yaml differs from its sources or from the generated CRDs
	@$(render-manifests) | diff -u manifests/leaselb.yaml - >&2 || \
		{ echo "manifests/leaselb.yaml is stale: run 'make manifests' and commit the result" >&2; exit 1; }
	@for c in $(CHART_COPIES); do cmp -s "$${c%%:*}" "$${c##*:}" || \
		{ echo "$${c##*:} differs from $${c%%:*}: run 'make manifests' and commit the result" >&2; exit 1; }; done
	$(GO) test -count=1 ./manifests/

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

##@ Helm chart
# Helm's own Go library, pinned in hack/tools: no helm binary needed.
CHART_TOOL := $(BIN)/chart
$(CHART_TOOL): hack/tools/go.mod hack/tools/go.sum $(wildcard hack/tools/chart/*.go hack/tools/chartcheck/*.go)
	cd hack/tools && $(GO) build -o $(CHART_TOOL) ./chart

# SET='speaker.ignoreExcludeLabel=true image.digest=sha256:...' passes values
# as helm's --set; CHART_NAMESPACE is the release namespace.
SET ?=
CHART_NAMESPACE ?= leaselb-system
.PHONY: chart-template
chart-template: $(CHART_TOOL) ## write the chart's rendering to stdout, as `helm template` (SET='k=v ...' for values)
	@$(CHART_TOOL) template -n $(CHART_NAMESPACE) $(foreach s,$(SET),--set '$(s)') $(CHART)

.PHONY: chart-package
chart-package: $(CHART_TOOL) ## package the chart into dist/leaselb-<version>.tgz, as `helm package`
	$(CHART_TOOL) package -d dist $(CHART)

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
test: deps verify-generated verify-manifests build-static verify-image lint unit e2e ## everything CI runs: generated-file check, reproducible multi-arch image, lint, unit and root tests, e2e in the lab

##@ Lab
# The lab's control plane, built from k8s.io/kubernetes in its own module
# (hack/cluster); rebuilt only when that module changes.
CLUSTER_TOOLS := $(addprefix $(BIN)/,kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd)
$(CLUSTER_TOOLS) &: hack/cluster/go.mod hack/cluster/go.sum hack/cluster/etcd/main.go hack/cluster/build.sh
	GO=$(GO) hack/cluster/build.sh $(BIN)

.PHONY: cluster-tools
cluster-tools: $(CLUSTER_TOOLS) ## build the lab's cluster into bin/: control plane, kubelet, kube-proxy, kubectl, etcd

.PHONY: lab-tools
lab-tools: ## build the lab's own commands (bin/lab, bin/labagent)
	$(GO) build -o $(BIN)/labagent ./e2e/cmd/labagent
	$(GO) build -o $(BIN)/lab ./e2e/cmd/lab
	$(GO) build -o $(BIN)/scalespeaker ./e2e/cmd/scalespeaker

# E2E_RUN selects scenarios, e.g. make e2e E2E_RUN=TestWalkthrough
E2E_RUN ?= .
.PHONY: e2e
e2e: ## end-to-end scenarios in the lab (root; without root the tests skip and say why)
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory build cluster-tools lab-tools lab-images $(CHART_TOOL); fi
	$(GO) test -count=1 -p 1 -tags e2e -timeout 40m -v -run '$(E2E_RUN)' ./e2e/ ./e2e/realnodes/

.PHONY: demo
demo: deps ## the walkthrough in the lab: pool, Service, curl, fail the holder, measured failover (root)
	@echo ">> make demo: building leaselb and the lab (the first build of the cluster tools takes minutes)"
	$(MAKE) --no-print-directory build cluster-tools lab-tools lab-images
	$(BIN)/lab demo

# BENCH_ARGS, e.g. -runs 5 for a quick check (default 20 runs per failover kind).
BENCH_ARGS ?=
.PHONY: bench
bench: deps build cluster-tools lab-tools ## failover times with and without the wire check, data link down, probe frames, API writes/s and reads, 1,000-VIP failover in the lab (root, slow); table in bin/bench-results.md
	$(BIN)/lab bench $(BENCH_ARGS)

# BENCH_SCALE_ARGS, e.g. -nodes 10 -vips 200 -steady 10s for a quick run.
BENCH_SCALE_ARGS ?=
.PHONY: bench-scale
bench-scale: deps build cluster-tools lab-tools ## 100 speakers (1 real, 99 simulated), 5,000 VIPs on the lab's API server: cold start, steady load, power cuts, rolling restart (root, ~15 min); table in bin/bench-scale.md
	$(BIN)/lab bench-scale $(BENCH_SCALE_ARGS)

.PHONY: bench-l2
bench-l2: ## l2 benchmarks as root in test namespaces: ARP reply latency vs the kernel, CPU under a 20k/s ARP flood
	@if [ "$$(id -u)" != 0 ]; then echo "bench-l2 needs root (network namespaces, raw sockets): sudo make bench-l2" >&2; exit 1; fi
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkARPReplyLatency$$' -benchtime 3000x ./l2 | grep -E '^(ARP|Benchmark|ok|FAIL)'
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkARPFloodCPU$$' -benchtime 1x ./l2 | grep -E '^(ARP|Benchmark|ok|FAIL)'

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	hack/fuzz.sh $${FUZZTIME:-30s}
