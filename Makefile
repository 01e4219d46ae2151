# mcp-token-broker: `make build`, `make test`, `make lint`.
GO      ?= go
PREFIX  ?= $(HOME)/.local
PKG     := github.com/mcp-token-broker/mcp-token-broker
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X $(PKG)/cmd/broker/cli.version=$(VERSION) -X $(PKG)/cmd/broker/cli.commit=$(COMMIT) -X $(PKG)/cmd/broker/cli.date=$(DATE)

.PHONY: build test test-deps lint
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/broker ./cmd/broker

# Installs what the tests need (Debian packages, npm CLIs) when missing, then
# runs every test. The tests start their own session bus, keyring, Xvfb and
# simulator.
test: test-deps
	$(GO) test -timeout 15m ./...

test-deps:
	@scripts/test-deps

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
