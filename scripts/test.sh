#!/usr/bin/env bash
# test.sh is what CI runs (through .ci/run and `make test`): it installs missing system packages and
# Go, starts containerd if nothing serves its socket (and stops it again at exit, only if it started
# it), then runs gofmt, go vet, every Go test, and a short fuzz pass over every Fuzz target.
# Works as root on a brand-new Debian 12 machine with no stdin (CI=true).
#
# Environment:
#   GASPER_TEST_DIR   where containerd's log and pidfile go (default /var/lib/gasper/test)
#   GO_TEST_TIMEOUT   go test -timeout (default 25m)
#   FUZZTIME          per fuzz target (default 15s; 0 skips the fuzz pass)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GASPER_ROOT"

TEST_DIR="${GASPER_TEST_DIR:-/var/lib/gasper/test}"
GO_TEST_TIMEOUT="${GO_TEST_TIMEOUT:-25m}"
FUZZTIME="${FUZZTIME:-15s}"
CONTAINERD_PIDFILE="$TEST_DIR/run/containerd.pid"

total_start=$(now_s)
timings=()

# step NAME CMD... runs CMD as a named step and records how long it took.
step() {
	local name="$1" t rc=0
	shift
	log "$name"
	t=$(now_s)
	"$@" || rc=$?
	timings+=("$(printf '%-28s %7ss  %s' "$name" "$(elapsed "$t")" "$([[ $rc == 0 ]] && echo ok || echo "FAILED ($rc)")")")
	printf '    time: %s %ss\n' "$name" "$(elapsed "$t")"
	return "$rc"
}

# summary RC prints the per-step timings and the total; it runs at exit, whatever the outcome.
summary() {
	local rc="$1"
	if ((${#timings[@]} > 0)); then
		printf '\n==> steps\n'
		printf '    %s\n' "${timings[@]}"
	fi
	printf '    %-28s %7ss  %s\n' total "$(elapsed "$total_start")" "$([[ $rc == 0 ]] && echo ok || echo FAILED)"
}

started_containerd=0
cleanup() {
	local rc=$?
	if ((started_containerd == 1)); then
		log "stopping the containerd this run started"
		stop_containerd "$CONTAINERD_PIDFILE" || true
	fi
	summary "$rc"
	counts
	exit "$rc"
}
trap cleanup EXIT
# `exit` from a signal runs the EXIT trap, so containerd is stopped on Ctrl-C and CI's SIGTERM too.
trap 'exit 130' INT
trap 'exit 143' TERM

setup() {
	ensure_packages
	ensure_go
	mkdir -p "$TEST_DIR/logs" "$TEST_DIR/run"
	rm -f "$GO_TEST_LOG"
	ensure_containerd "$CONTAINERD_PIDFILE" "$TEST_DIR/logs/containerd.log"
	# CONTAINERD_STARTED is 1 only for a containerd started by a test run (this one, or one that
	# was killed before its trap ran); one left by make up or anybody else is not ours to stop.
	started_containerd=$CONTAINERD_STARTED
}

GO_TEST_LOG="$TEST_DIR/logs/go-test.log"
# gotest runs the package tests, then the end-to-end tests on their own: on
# two cores, e2e (real clusters, builds in containers) beside the image and
# runtime builds would starve both and turn deadlines into flakes.
gotest() {
	local pkgs rc=0
	pkgs="$(go list ./... | grep -v '/e2e$')"
	# shellcheck disable=SC2086 # one package path per word
	go test -count=1 -timeout "$GO_TEST_TIMEOUT" $pkgs 2>&1 | tee "$GO_TEST_LOG" || rc=$?
	go test -count=1 -timeout "$GO_TEST_TIMEOUT" ./e2e/... 2>&1 | tee -a "$GO_TEST_LOG" || rc=$?
	return "$rc"
}

# counts prints how many Go test packages passed and failed, in the closing
# line CI reads.
counts() {
	[[ -f "$GO_TEST_LOG" ]] || return 0
	local passed failed
	passed=$(grep -c '^ok ' "$GO_TEST_LOG" || true)
	failed=$(grep -cE '^FAIL[[:space:]]+gasper' "$GO_TEST_LOG" || true)
	printf 'packages: %s passed, %s failed\n' "$passed" "$failed"
}

# fuzz_one runs one fuzz target. Go's fuzzer can end a timed run on a busy
# machine with "context deadline exceeded" and no crasher: a toolchain hiccup,
# not a finding. That case (and only it: a real finding writes a crasher under
# testdata/fuzz) is run once more.
fuzz_one() {
	local pkg="$1" name="$2" out rc=0 try
	for try in 1 2; do
		rc=0
		out="$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1)" || rc=$?
		printf '%s\n' "$out" | tail -n 4
		if ((rc == 0)); then
			return 0
		fi
		if [[ "$out" != *"context deadline exceeded"* || "$out" == *"Failing input written to"* ]]; then
			printf '%s\n' "$out" | tail -n 40
			return "$rc"
		fi
		note "fuzz $name: the fuzzer's timed run ended with 'context deadline exceeded' and no crasher (try $try)"
	done
	return "$rc"
}

# fuzz runs every Fuzz target for FUZZTIME, one at a time, in its own package. `go test -list`
# prints a package's matching names before that package's "ok" line.
fuzz() {
	local list targets=() names=() line pkg name failed=0
	if [[ "$FUZZTIME" == 0 || "$FUZZTIME" == 0s ]]; then
		note "FUZZTIME=$FUZZTIME: fuzz pass skipped"
		return 0
	fi
	# A package that does not build has already failed the go test step; fuzz the others.
	if ! list="$(go test -list '^Fuzz' ./... 2>/dev/null)"; then
		warn "some packages do not build (see go test above); fuzzing the rest"
	fi
	while IFS= read -r line; do
		case "$line" in
		Fuzz*) names+=("$line") ;;
		ok*)
			pkg="$(awk '{ print $2 }' <<<"$line")"
			for name in "${names[@]}"; do targets+=("$pkg $name"); done
			names=()
			;;
		esac
	done <<<"$list"
	if ((${#targets[@]} == 0)); then
		note "no fuzz targets found"
		return 0
	fi
	note "${#targets[@]} fuzz target(s), $FUZZTIME each"
	for line in "${targets[@]}"; do
		pkg="${line% *}" name="${line#* }"
		step "fuzz $name" fuzz_one "$pkg" "$name" || failed=1
	done
	return "$failed"
}

# Setup runs outside step: a function called as the left side of || runs without errexit, and
# setup relies on it. A failure here exits (the EXIT trap still prints the timings).
log "setup (packages, go, containerd)"
t=$(now_s)
setup
timings+=("$(printf '%-28s %7ss  ok' setup "$(elapsed "$t")")")

# Every check runs even if an earlier one failed, so one CI run reports all that is wrong.
failed=()
step "gofmt" check_gofmt || failed+=(gofmt)
step "go vet" go vet ./... || failed+=("go vet")
step "go test" gotest || failed+=("go test")
step "fuzz" fuzz || failed+=(fuzz)

if ((${#failed[@]} > 0)); then
	printf '\n%sFAILED:%s %s\n' "$_c_err" "$_c_off" "$(IFS=,; echo "${failed[*]}")" >&2
	exit 1
fi
