# Gasper's front door. `make` (or `make help`) lists the targets; each `## ` comment is its help line.
# The scripts behind them live in scripts/ and can be run directly too.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Go may be installed but not on PATH (Go's own /usr/local/go, Debian's golang-1.23-go from
# backports). Appended, so a go already on PATH wins.
export PATH := $(PATH):/usr/local/go/bin:/usr/lib/go-1.23/bin
# Debian's Go sets GOTOOLCHAIN=local in its go.env; auto lets it fetch the Go that go.mod asks for.
export GOTOOLCHAIN ?= auto

GO ?= go
BIN := bin
PURGE ?= 0

.PHONY: help up down clean-state build test test-e2e bench lint fmt clean

help: ## Show this list of targets
	@printf 'Usage: make TARGET\n\n'
	@awk 'BEGIN { FS = ":.*?## " } /^[a-zA-Z0-9_-]+:.*?## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@printf '\nSee README.md, docs/install.md (make up) and docs/operations.md (running it by hand).\n'

up: ## Install what is missing and start master + one agent on this machine (root, Debian 12)
	@bash scripts/up.sh

down: ## Stop what `make up` started (state kept; PURGE=1 also removes it)
	@PURGE=$(PURGE) bash scripts/down.sh

clean-state: ## Stop what `make up` started and remove its state directory
	@PURGE=1 bash scripts/down.sh

build: ## Build gasper, gasper-master and gasper-agent into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test: ## Run what CI runs: install deps, start containerd if needed, gofmt, vet, tests, fuzz
	@bash scripts/test.sh

test-e2e: ## Run the end-to-end tests (real binaries together; needs root and containerd)
	$(GO) test -count=1 ./e2e/...

bench: ## Run Go benchmarks, then every program under bench/
	@bash scripts/bench.sh

lint: ## Check formatting (gofmt) and run go vet
	@bash scripts/lint.sh

fmt: ## Format every Go file with gofmt
	@source scripts/lib.sh && go_files | xargs -0 -r gofmt -w

clean: ## Remove built binaries and test caches (not make up's state: see clean-state)
	rm -rf $(BIN)
	$(GO) clean -testcache
