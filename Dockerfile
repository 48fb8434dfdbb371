# syntax=docker/dockerfile:1
# The pullguard webhook: a static binary on distroless, running as the nonroot user that
# manifests/base/deployment.yaml expects (65532).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t ghcr.io/pullguard/pullguard:dev .

# Build on the builder's own platform and cross-compile: no emulation for multi-arch images.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
# Dependencies first, so that a source change does not download modules again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/pullguard/pullguard/cmd/webhook/app.version=${VERSION}" \
      -o /webhook ./cmd/webhook

# static: no libc, no shell, no package manager; CA certificates and /etc/passwd only.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /webhook /webhook
USER 65532:65532
ENTRYPOINT ["/webhook"]
