# The two set-up commands are `make run` and `make test`; see README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin/screend

.PHONY: run test setup build vet bench install clean

# setup installs and starts what screend needs (idempotent, seconds when done).
setup:
	@scripts/setup.sh

build:
	$(GO) build -o $(BIN) ./cmd/screend

# run sets up, builds and runs the daemon on ./var/inbox with local defaults.
run: setup build
	@source var/env && exec $(BIN) run

# test sets up, then vets and tests everything against the real database.
test: setup
	source var/env && $(GO) vet ./... && $(GO) test ./...

clean:
	rm -rf bin
