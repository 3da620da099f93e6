#!/usr/bin/env bash
# bench.sh runs the Go benchmarks of every package, then every program under bench/ (`package main`
# programs, one per directory, that start what they measure on loopback, print their results and
# stop by themselves). Add one as bench/NAME/main.go: it is picked up here and run from the
# repository root with no arguments, after bin/ is built, so its defaults must suit that.
#
# Environment:
#   BENCHTIME  passed to go test -benchtime (default: go test's own, 1s)
#   BENCH      pattern for go test -bench (default .)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GASPER_ROOT"
ensure_go

args=(-run '^$' -bench "${BENCH:-.}" -benchmem)
[[ -z "${BENCHTIME:-}" ]] || args+=(-benchtime "$BENCHTIME")
log "go test ${args[*]} ./..."
go test "${args[@]}" ./...

mains=()
if [[ -d bench ]]; then
	mapfile -t mains < <(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./bench/... 2>/dev/null | sed '/^$/d')
fi
if ((${#mains[@]} == 0)); then
	note "no benchmark programs under bench/ (add bench/NAME/main.go to have one run here)"
	exit 0
fi
# Benchmark programs run from the repository root, with no arguments, and may use the binaries in
# bin/ (their flags' defaults point there), so build those first.
log "go build -o bin/ ./cmd/..."
mkdir -p bin
go build -o bin/ ./cmd/...
for m in "${mains[@]}"; do
	log "go run $m"
	go run "$m"
done
