# switchboard — the two commands a new machine needs are `make run` and
# `make test`; both do their own set-up.

GO        ?= go
BIN       ?= bin/switchboard
PKG       := ./cmd/switchboard
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TIMEOUT   ?= 30m
# Debian packages the tests use: a real MariaDB for storage tests and
# Chromium for the wallboard test. Installed only when missing and root.
DEB_PKGS  := mariadb-server chromium

export CI

.PHONY: all build run test bench lint deps tools fuzz clean

all: build

## build: compile bin/switchboard
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)

## run: build and start `switchboard serve` on the embedded defaults
##      (simulated PBX, SQLite switchboard.db, http://127.0.0.1:8080)
run: build
	./$(BIN) serve --routing configs/routing.yaml

## deps: fetch Go modules and the Debian packages the tests need
deps:
	$(GO) mod download
	@missing=""; \
	command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing="$$missing mariadb-server"; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing </dev/null; \
		else \
			echo "warning: missing Debian packages:$$missing (not root or no apt-get); the tests that need them will say so"; \
		fi; \
	fi

## test: install what is needed, then run the whole suite with -race
test: deps
	$(GO) test -race -count=1 -timeout $(TIMEOUT) ./...

## bench: run the benchmarks (figures go in docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: run every fuzz target of the repo for FUZZTIME each (make fuzz FUZZTIME=1m);
##       a crash is kept in the package's testdata/fuzz and fails the run
# Targets are found in the sources (func FuzzX(f *testing.F) in a _test.go
# file), so a new one runs without touching this file; `go test -list`
# would run each package's TestMain (storage starts MariaDB). go test
# takes one target per -fuzz, hence one invocation per target, anchored.
# Every target runs even after a failure; the failures are listed at the end.
# A bare "context deadline exceeded" that wrote no crasher is Go's fuzz
# coordinator racing its own -fuzztime deadline (before Go 1.27,
# internal/fuzz's stop() checks only the workers' context, which a busy
# machine cancels late), not a finding: that target is run once more, and
# fails if it happens again.
FUZZTIME  ?= 10s
fuzz:
	@fail=""; n=0; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $$(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' . | \
			grep -v '/testdata/' | sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*$$|\1:\2|' | sort -u); do \
		pkg=$${t%%:*}; name=$${t##*:}; n=$$((n+1)); \
		for try in 1 2; do \
			echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
			before=$$(ls "$$pkg/testdata/fuzz/$$name" 2>/dev/null | wc -l); \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s "$$pkg" >"$$log" 2>&1; rc=$$?; \
			cat "$$log"; \
			[ "$$rc" = 0 ] && break; \
			after=$$(ls "$$pkg/testdata/fuzz/$$name" 2>/dev/null | wc -l); \
			if [ "$$try" = 1 ] && [ "$$after" = "$$before" ] && grep -qx '    context deadline exceeded' "$$log"; then \
				echo "fuzz: $$name: deadline race in Go's fuzz coordinator, no crasher written; once more"; continue; \
			fi; \
			fail="$$fail $$pkg:$$name"; break; \
		done; \
	done; \
	if [ "$$n" = 0 ]; then echo "fuzz: no fuzz target found"; exit 1; fi; \
	if [ -n "$$fail" ]; then echo "fuzz: $$n targets, failed:$$fail"; exit 1; fi; \
	echo "fuzz: $$n targets, no failure"

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
