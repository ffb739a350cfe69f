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

## fuzz: run each fuzz target of the shell packages for a short while
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./api/
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 30s ./config/

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin
