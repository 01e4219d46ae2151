# mcp-token-broker: `make build`, `make test`, `make test-windows`, `make lint`, `make install`,
# `make uninstall`, `make dist`, `make deb`, `make bench`.
GO      ?= go
PREFIX  ?= $(HOME)/.local
PKG     := github.com/mcp-token-broker/mcp-token-broker
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# BIN and GEN can be moved (tests build into a temporary folder).
BIN     ?= bin/broker
LDFLAGS := -s -w -X $(PKG)/cmd/broker/cli.version=$(VERSION) -X $(PKG)/cmd/broker/cli.commit=$(COMMIT) -X $(PKG)/cmd/broker/cli.date=$(DATE)

.PHONY: build test test-deps lint gen install uninstall dist deb
# Without cgo by default; on a Mac with the Xcode command line tools,
# `CGO_ENABLED=1 make build` links the macOS tray (Cocoa).
CGO_ENABLED ?= 0
build:
	CGO_ENABLED=$(CGO_ENABLED) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/broker

# The whole loop against the built-in Entra ID simulator, no tenant needed
# (Ctrl-C ends it). Not `go run`: it exits 1 when interrupted, whatever the
# program did, and make would report an error.
.PHONY: demo
demo:
	@$(MAKE) --no-print-directory -s build
	@$(BIN) demo

# Installs what the tests need (Debian packages, npm CLIs) when missing, then
# runs every test. The tests start their own session bus, keyring, Xvfb and
# simulator.
test: test-deps
	$(GO) test -timeout 15m ./...

test-deps:
	@scripts/test-deps

# A bounded fuzz run of the editors of other programs' files (JSONC,
# TOML, Continue's YAML), each checked against its parser's round trip; FUZZTIME each.
FUZZTIME ?= 10s
.PHONY: fuzz-short
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzSet$$' -fuzztime $(FUZZTIME) ./files/jsonedit
	$(GO) test -run '^$$' -fuzz '^FuzzSet$$' -fuzztime $(FUZZTIME) ./files/tomledit
	$(GO) test -run '^$$' -fuzz '^FuzzContinueApply$$' -fuzztime $(FUZZTIME) ./integrations

# The Windows suite: broker.exe and brokerw.exe under Wine 8 and Xvfb
# (cmd/broker/windows_wine_test.go, build tag wine), about 2 minutes.
.PHONY: test-windows
test-windows:
	@scripts/wine-setup
	$(GO) vet -tags wine ./cmd/broker
	$(GO) test -tags wine -count=1 -timeout 10m -run TestWindowsUnderWine ./cmd/broker

# Measures the real binary (whole processes against the Entra ID simulator,
# temporary HOMEs) and writes BENCHMARKS.md from scratch; about 3 minutes,
# 2 of them the daemon's idle window. It builds its own copy of the binary
# (a concurrent `make build` cannot swap it mid-run) and installs what it
# compares with: the test tools, and Debian's azure-cli for `az`.
BENCH_DIR ?= build/bench
.PHONY: bench
bench: test-deps
	@command -v az >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		echo "bench: installing azure-cli" >&2; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends azure-cli >/dev/null; }
	$(MAKE) --no-print-directory build BIN=$(BENCH_DIR)/broker
	$(GO) build -o $(BENCH_DIR)/benchreport ./internal/benchreport
	$(BENCH_DIR)/benchreport -broker $(BENCH_DIR)/broker -out BENCHMARKS.md

# actionlint checks the GitHub workflows (runners this machine cannot be),
# with shellcheck on their scripts when it is installed (test-deps does).
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	GOOS=darwin CGO_ENABLED=0 $(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run go mod tidy" >&2; $(GO) mod tidy -diff; exit 1; }
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml

# --- installation and release (installer/, packaging/) ---------------------
# make install [PREFIX=~/.local] [DESTDIR=staging]: the binary, man pages,
# bash, zsh and fish completions and the icon the autostart entry names. make uninstall removes exactly those (and
# the folders they leave empty). `broker install` then sets up start at login.
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share
MAN1DIR     ?= $(DATADIR)/man/man1
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
ICONDIR     ?= $(DATADIR)/icons/hicolor/32x32/apps
GEN         ?= build/gen
# Release builds, all without cgo: the darwin binaries have no tray icon
# (fyne.io/systray needs cgo on macOS) and notify through osascript; build
# the tray on a Mac with `CGO_ENABLED=1 make build`.
DIST_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
DEB_ARCHES   ?= amd64 arm64
DIST         ?= dist
DIST_BUILD   ?= build/dist
NFPM         := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
# Debian versions start with a digit: v1.2.3-4-gabc -> 1.2.3+4+gabc; an
# untagged tree (a bare commit hash) -> 0.0.0~git<hash>.
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -E '/^v?[0-9]+\./!s/^/0.0.0~git/; s/^v//; s/-/+/g')
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
# The manifests of `make dist` download the archives from RELEASE_URL and
# name PKG_LICENSE (an SPDX identifier; the project has no license file yet).
RELEASE_URL ?= https://github.com/mcp-token-broker/mcp-token-broker/releases/download/$(VERSION)
PKG_LICENSE ?= Proprietary

# Man pages, completions and the autostart template, generated from the
# command tree by internal/gendocs (not linked into the broker binary).
gen:
	rm -rf $(GEN)
	$(GO) run -ldflags '$(LDFLAGS)' ./internal/gendocs $(GEN)

install: build gen
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) $(DESTDIR)$(ICONDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/broker
	install -m 0644 $(GEN)/man/man1/*.1 $(DESTDIR)$(MAN1DIR)/
	install -m 0644 $(GEN)/completions/broker.bash $(DESTDIR)$(BASHCOMPDIR)/broker
	install -m 0644 $(GEN)/completions/_broker $(DESTDIR)$(ZSHCOMPDIR)/_broker
	install -m 0644 $(GEN)/completions/broker.fish $(DESTDIR)$(FISHCOMPDIR)/broker.fish
	install -m 0644 assets/icons/ok.png $(DESTDIR)$(ICONDIR)/mcp-token-broker.png
	@echo "installed $(BINDIR)/broker; run \`$(BINDIR)/broker install\` to start it at login"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/broker $(DESTDIR)$(BASHCOMPDIR)/broker $(DESTDIR)$(ZSHCOMPDIR)/_broker $(DESTDIR)$(FISHCOMPDIR)/broker.fish
	rm -f $(DESTDIR)$(MAN1DIR)/broker.1 $(DESTDIR)$(MAN1DIR)/broker-*.1 $(DESTDIR)$(ICONDIR)/mcp-token-broker.png
	@for d in $(MAN1DIR) $(DATADIR)/man $(BASHCOMPDIR) $(DATADIR)/bash-completion $(ZSHCOMPDIR) \
		$(DATADIR)/zsh $(FISHCOMPDIR) $(DATADIR)/fish $(ICONDIR) $(DATADIR)/icons/hicolor/32x32 \
		$(DATADIR)/icons/hicolor $(DATADIR)/icons $(DATADIR) $(BINDIR); do \
		rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done
	@echo "start at login is not touched: \`broker uninstall\` removes it"

# dist/: linux/amd64, linux/arm64, darwin/amd64, darwin/arm64 (.tar.gz, with
# man pages and completions) and windows/amd64 (.zip), the .debs,
# SHA256SUMS, and the package managers' manifests made from those sums:
# scoop/, winget/ (for the zip) and homebrew/ (for the tarballs), written by
# packaging/genmanifests. The Windows zip also holds brokerw.exe, the same
# program linked for the GUI subsystem: `broker install` points the Run key
# at it so that no console window opens at login. The targets build in
# parallel; the .debs hold the linux binaries of the tarballs (not built
# twice).
dist: gen
	rm -rf $(DIST) $(DIST_BUILD)
	mkdir -p $(DIST) $(DIST_BUILD)
	set -e; pids=; for t in $(DIST_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		name=broker_$(VERSION)_$${os}_$${arch}; dir=$(DIST_BUILD)/$$name; mkdir -p $$dir; \
		( set -e; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$dir/broker$$ext ./cmd/broker; \
		if [ $$os = windows ]; then \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS) -H windowsgui' -o $$dir/brokerw.exe ./cmd/broker; \
			(cd $(DIST_BUILD) && zip -qrX $(abspath $(DIST))/$$name.zip $$name); \
		else \
			cp -R $(GEN)/man $(GEN)/completions $$dir/; \
			tar -C $(DIST_BUILD) --sort=name --owner=0 --group=0 --numeric-owner --mtime=@$(SOURCE_DATE_EPOCH) \
				-cf - $$name | gzip -9n > $(DIST)/$$name.tar.gz; \
		fi ) & pids="$$pids $$!"; \
	done; \
	rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc
	set -e; for arch in $(DEB_ARCHES); do \
		mkdir -p $(DEB_STAGE)/$$arch; cp $(DIST_BUILD)/broker_$(VERSION)_linux_$$arch/broker $(DEB_STAGE)/$$arch/broker; \
	done
	$(MAKE) --no-print-directory deb-pkg DEB_OUT=$(DIST) VERSION='$(VERSION)'
	cd $(DIST) && sha256sum *.tar.gz *.zip *.deb > SHA256SUMS
	$(GO) run ./packaging/genmanifests -sums $(DIST)/SHA256SUMS -version '$(VERSION)' \
		-url '$(RELEASE_URL)' -license '$(PKG_LICENSE)' -out $(DIST)

# .deb with nfpm from the Go module proxy (not a dependency of the binary).
DEB_OUT   ?= dist
DEB_STAGE ?= build/deb
deb: gen
	$(MAKE) --no-print-directory deb-only VERSION='$(VERSION)' COMMIT='$(COMMIT)' DATE='$(DATE)'

# deb-only builds the linux binaries into DEB_STAGE; deb-pkg packages them.
.PHONY: deb-only deb-pkg
deb-only:
	set -e; for arch in $(DEB_ARCHES); do \
		mkdir -p $(DEB_STAGE)/$$arch; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DEB_STAGE)/$$arch/broker ./cmd/broker; \
	done
	$(MAKE) --no-print-directory deb-pkg VERSION='$(VERSION)'

deb-pkg:
	mkdir -p $(DEB_OUT) $(GEN)/man-gz
	set -e; for f in $(GEN)/man/man1/*.1; do gzip -9n < $$f > $(GEN)/man-gz/$${f##*/}.gz; done
	set -e; for arch in $(DEB_ARCHES); do \
		DEB_ARCH=$$arch DEB_VERSION='$(DEB_VERSION)' GEN=$(GEN) DEB_STAGE=$(DEB_STAGE) \
			$(GO) run $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DEB_OUT)/; \
	done
