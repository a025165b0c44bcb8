# syntax=docker/dockerfile:1
# leaselb's image: one static binary (`leaselb controller`, `leaselb speaker`,
# `leaselb doctor`) on distroless/static. Build with `make image` (needs
# docker), or by hand:
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse --short HEAD) -t ghcr.io/leaselb/leaselb:v0.1.0 .
# The build stage uses exactly the Makefile's flags (LDFLAGS and GOBUILD);
# manifests/manifests_test.go fails when the two drift apart, and CI builds
# that same static binary with `make build-static`.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
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
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
    -o /out/leaselb ./cmd/leaselb

# distroless/static: no shell, no package manager, CA certificates and
# tzdata only. Its default user is nonroot (65532), which the controller
# runs as; the speaker's DaemonSet runs it as uid 0 with only NET_RAW (see
# manifests/speaker/daemonset.yaml for why).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/leaselb /usr/local/bin/leaselb
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/leaselb"]
