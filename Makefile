# ocm-gitops: `make lab` brings the whole system up on local control planes,
# `make test` runs every test. Both build what they need on first use.
export GOTOOLCHAIN := go1.27.3
export KUBEBUILDER_ASSETS := $(CURDIR)/bin/k8s

GO        ?= go
BIN       := $(CURDIR)/bin
CLUSTERS  ?= 3
LAB_DIR   ?= .lab
TEST_FLAGS ?= -timeout 20m

.PHONY: all build tools tools-kubectl tools-cli tools-ocm tools-browser generate verify vet fmt test test-unit test-e2e bench scale lab clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/ocm-gitops
	$(GO) build -o $(BIN)/ocm-gitops ./cmd/ocm-gitops

tools: ## build what tests run: kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok (first run only, then cached)
	hack/tools.sh kube etcd kwok

tools-kubectl: ## build kubectl, for people looking around the lab (no test uses it)
	hack/tools.sh kubectl

tools-cli: ## build the kustomize, helm and sops CLIs that tests compare against
	hack/tools.sh cli sops

tools-ocm: ## build OCM's placement controller and work agent for test/conformance
	hack/tools.sh ocm

tools-browser: ## install Debian's chromium for the dashboard's browser test when missing (the test skips, saying why, when it cannot)
	@hack/browser.sh

generate: ## regenerate deepcopy code and CRDs, and re-copy OCM's CRDs from the module
	hack/tools.sh codegen
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/... \
		crd:crdVersions=v1 output:crd:artifacts:config=deploy/crds
	hack/sync-ocm-crds.sh

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet ./...

GENERATED = pkg/apis/apps/v1/zz_generated.deepcopy.go deploy/crds/*.yaml deploy/crds/ocm/*.yaml

verify: vet ## fail when generated files are stale, code is unformatted or go.mod untidy
	@$(GO) mod tidy -diff >/dev/null || { echo 'go.mod or go.sum is not tidy: run go mod tidy'; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed: run make fmt'; exit 1; }
	@before="$$(cat $(GENERATED) | sha256sum)"; $(MAKE) --no-print-directory generate >/dev/null; \
	  after="$$(cat $(GENERATED) | sha256sum)"; \
	  test "$$before" = "$$after" || { echo 'generated files were stale and have been regenerated: review and commit them'; exit 1; }

test: tools tools-cli tools-ocm tools-browser verify ## run every test (unit, integration on real control planes, e2e)
	$(GO) test $(TEST_FLAGS) ./...

test-unit: ## only the tests that need no control plane
	$(GO) test -short ./...

test-e2e: tools ## only the end-to-end tests
	$(GO) test $(TEST_FLAGS) -v ./test/e2e/...

bench: tools ## run the benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./...

SCALE_CLUSTERS ?= 1000

scale: tools ## the hub against $(SCALE_CLUSTERS) simulated clusters x 10 Subscriptions (docs/performance.md)
	$(GO) run ./test/scale fleet -clusters $(SCALE_CLUSTERS) -subscriptions 10

lab: ## hub + $(CLUSTERS) managed clusters that run pods + the example fleet + the dashboard (its URL printed), until Ctrl-C
	@echo ">> tools: kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, kubectl (built on first use, then cached)"
	@hack/tools.sh kube etcd kwok kubectl
	@echo ">> building bin/ocm-gitops"
	@$(GO) build -o $(BIN)/ocm-gitops ./cmd/ocm-gitops
	@$(BIN)/ocm-gitops lab up --clusters $(CLUSTERS) --dir $(LAB_DIR) --example

clean: ## remove build output and lab state (the tool cache stays)
	rm -rf $(BIN) $(LAB_DIR)
