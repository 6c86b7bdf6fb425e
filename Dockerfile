# syntax=docker/dockerfile:1
# The ocm-gitops image: one static binary (hub, klusterlet, render, status,
# ...) on a distroless base, running as a non-root user. Git is spoken by
# go-git in process, so the image carries no git, shell or package manager.
#
#   docker build -t ocm-gitops --build-arg VERSION=v0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ocm-gitops .

FROM --platform=$BUILDPLATFORM golang:1.27 AS build
# go.mod needs Go 1.27.3; the toolchain line is honoured exactly.
ENV GOTOOLCHAIN=go1.27.3 CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
# CRDs are embedded into the binary (deploy/crds/crds.go).
COPY deploy/crds/ deploy/crds/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/ocm-gitops ./cmd/ocm-gitops

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/ocm-gitops /usr/local/bin/ocm-gitops
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ocm-gitops"]
CMD ["hub"]
