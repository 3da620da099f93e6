#!/usr/bin/env bash
# lint.sh checks formatting (gofmt) and runs go vet on every package. `make fmt` fixes formatting.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GASPER_ROOT"
ensure_go

log "gofmt -l"
check_gofmt
log "go vet ./..."
go vet ./...
