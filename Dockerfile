# syntax=docker/dockerfile:1
# leaselb's image for Docker users: one static binary (`leaselb controller`,
# `leaselb speaker`, `leaselb doctor`) on an empty base. `make image` builds
# the same image without Docker (multi-arch, reproducible); with Docker:
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse --short HEAD) -t ghcr.io/leaselb/leaselb:v0.1.0 .
# The build stage uses exactly the Makefile's flags (LDFLAGS and GOBUILD);
# manifests/manifests_test.go fails when the two drift apart, and CI builds
# that same static binary with `make build-static`.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# linux/arm/v7 arrives as TARGETVARIANT=v7: GOARM=7, as in the Makefile.
ARG TARGETVARIANT=
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
# Module downloads in their own layer: rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The .dockerignore keeps .git out, so there is no VCS stamp to embed:
# version and commit come in through VERSION and COMMIT, as with make.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} GOARM=${TARGETVARIANT#v} GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/leaselb ./cmd/leaselb

# No base image: the final stage holds the binary and nothing else (no
# shell, no libc, no CA bundle; leaselb needs none of them), exactly the
# files hack/tools/imagetool writes for `make image`, with the same user and
# entrypoint (manifests/manifests_test.go checks that the two agree). The
# default user 65532 is the controller's; the speaker's DaemonSet runs it as
# uid 0 with only NET_RAW (see manifests/speaker/daemonset.yaml for why).
FROM scratch
COPY --from=build --chmod=0755 /out/leaselb /usr/local/bin/leaselb
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/leaselb"]
