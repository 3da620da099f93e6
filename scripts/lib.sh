# shellcheck shell=bash
# lib.sh holds what up.sh, down.sh, test.sh and lint.sh share: logging, the system package and Go
# toolchain install step, pidfile handling and starting/stopping containerd. Source it; do not run it.
#
# Variables set here (CONTAINERD_STARTED, GASPER_PACKAGES, ...) are read by the sourcing scripts.
# shellcheck disable=SC2034

# Fail on any error in the sourcing script too; the scripts set this themselves, this is a guard.
set -euo pipefail

GASPER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GASPER_ROOT

# The system packages Gasper and its tests need. Add a test's needs here, with the reason.
#   containerd runc                  run containers (agents drive containerd directly)
#   containernetworking-plugins      bridge/host-local/portmap CNI plugins in /usr/lib/cni
#   iptables iproute2                CNI portmap/firewall rules; `ip netns` test hosts
#   debootstrap                      building base images with no registry
#   ca-certificates git curl         sources from git, health checks, TLS
#   tmux openssh-client procps       terminal tests, the ssh role's tests, ps/pgrep in tests
#   postgresql-client mariadb-client redis-tools
#                                    real clients for the database tests
GASPER_PACKAGES=(
	containerd runc containernetworking-plugins iptables iproute2 debootstrap
	ca-certificates git curl tmux openssh-client procps busybox-static tini
	postgresql-client mariadb-client redis-tools
)

# The containerd socket every Gasper component and test looks for.
CONTAINERD_SOCK="${CONTAINERD_SOCK:-/run/containerd/containerd.sock}"

# The oldest Go that can fetch a newer toolchain by itself (GOTOOLCHAIN=auto).
GO_SWITCH_MIN=1.21
# The Debian package used when the machine has no Go, or one older than GO_SWITCH_MIN.
GO_DEBIAN_PKG=golang-1.23-go
GO_DEBIAN_BIN=/usr/lib/go-1.23/bin

if [[ -t 1 ]]; then
	_c_step=$'\033[1;34m' _c_warn=$'\033[1;33m' _c_err=$'\033[1;31m' _c_off=$'\033[0m'
else
	_c_step='' _c_warn='' _c_err='' _c_off=''
fi

# log prints a progress line.
log() { printf '%s==>%s %s\n' "$_c_step" "$_c_off" "$*"; }
# note prints a detail line under a progress line.
note() { printf '    %s\n' "$*"; }
# warn prints a warning to stderr.
warn() { printf '%swarning:%s %s\n' "$_c_warn" "$_c_off" "$*" >&2; }
# die prints an error to stderr and exits 1.
die() {
	printf '%serror:%s %s\n' "$_c_err" "$_c_off" "$*" >&2
	exit 1
}

# is_root tells whether the script runs as root.
is_root() { [[ "$(id -u)" -eq 0 ]]; }

# now_s prints the current time in seconds with milliseconds, for step timings.
now_s() { date +%s.%3N; }
# elapsed START prints the seconds since START (from now_s) with one decimal.
elapsed() { awk -v s="$1" -v e="$(now_s)" 'BEGIN { printf "%.1f", e - s }'; }

# wait_for DESC TIMEOUT_SECONDS CMD... runs CMD every half second until it succeeds, or fails with
# a message naming DESC once TIMEOUT_SECONDS have passed.
wait_for() {
	local desc="$1" timeout="$2"
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			warn "timed out after ${timeout}s waiting for ${desc}"
			return 1
		fi
		sleep 0.5
	done
}

# ---------------------------------------------------------------------------------------------
# System packages

_apt_updated=0

# apt_get runs apt-get non-interactively, waiting for the dpkg lock rather than failing on it
# (another apt-get may be running on a shared machine).
apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold "$@" </dev/null
}

# apt_update_once runs apt-get update the first time it is called.
apt_update_once() {
	if ((_apt_updated == 0)); then
		log "apt-get update"
		apt_get update >/dev/null || apt_get update
		_apt_updated=1
	fi
}

# pkg_installed NAME tells whether the Debian package NAME is installed.
pkg_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# ensure_packages installs whichever of GASPER_PACKAGES are missing.
ensure_packages() {
	local missing=() p
	for p in "${GASPER_PACKAGES[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "system packages: all ${#GASPER_PACKAGES[@]} present"
		return 0
	fi
	is_root || die "missing system packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})"
	log "installing system packages: ${missing[*]}"
	apt_update_once
	apt_get install "${missing[@]}"
}

# ---------------------------------------------------------------------------------------------
# Go toolchain

# version_ge A B tells whether version A >= version B (dotted numbers, "go" prefix allowed).
version_ge() {
	local a="${1#go}" b="${2#go}"
	[[ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n1)" == "$b" ]]
}

# gomod_go_version prints the Go version go.mod asks for (its toolchain line if newer).
gomod_go_version() {
	local want tc
	want="$(awk '$1 == "go" { print $2; exit }' "$GASPER_ROOT/go.mod")"
	tc="$(awk '$1 == "toolchain" { sub(/^go/, "", $2); print $2; exit }' "$GASPER_ROOT/go.mod")"
	if [[ -n "$tc" ]] && version_ge "$tc" "$want"; then
		want="$tc"
	fi
	printf '%s\n' "$want"
}

# local_go_version prints the version of the go on PATH without letting it switch toolchains.
local_go_version() {
	(cd / && GOTOOLCHAIN=local go env GOVERSION 2>/dev/null) | sed 's/^go//'
}

# debian_codename prints the machine's Debian suite name (bookworm on Debian 12).
debian_codename() {
	# shellcheck disable=SC1091
	(. /etc/os-release && printf '%s\n' "${VERSION_CODENAME:-}")
}

# debian_main_source prints "URI<TAB>SIGNED_BY" of the apt source that serves the machine's own
# suite, read from its deb822 (.sources) or one-line (.list) files, so that a backports entry can
# use the same archive without naming any host here.
debian_main_source() {
	local codename="$1" f out
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		out="$(awk -v suite="$codename" '
			function flush() {
				if (uri != "" && has_suite && deb) { print uri "\t" signed; done = 1 }
				uri = ""; signed = ""; has_suite = 0; deb = 0
			}
			done { next }
			/^[[:space:]]*$/ { flush(); next }
			/^[[:space:]]*#/ { next }
			tolower($1) == "types:"     { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:"      { uri = $2 }
			tolower($1) == "suites:"    { for (i = 2; i <= NF; i++) if ($i == suite) has_suite = 1 }
			tolower($1) == "signed-by:" { signed = $2 }
			END { if (!done) flush() }
		' "$f")"
		if [[ -n "$out" ]]; then
			printf '%s\n' "$out"
			return 0
		fi
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		# deb [options] URI SUITE COMPONENTS...
		out="$(awk -v suite="$codename" '
			$1 == "deb" {
				i = 2
				signed = ""
				if ($i ~ /^\[/) {
					for (; ; i++) {
						opt = $i; gsub(/[][]/, "", opt)
						if (opt ~ /^signed-by=/) { sub(/^signed-by=/, "", opt); signed = opt }
						if ($i ~ /\]$/) break
					}
					i++
				}
				if ($(i + 1) == suite) { print $i "\t" signed; exit }
			}
		' "$f")"
		if [[ -n "$out" ]]; then
			printf '%s\n' "$out"
			return 0
		fi
	done
	return 1
}

# ensure_backports adds the -backports suite of the machine's own archive to apt's sources if
# apt cannot already install PKG.
ensure_backports() {
	local pkg="$1" codename src uri signed file
	apt_update_once
	if apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
		return 0
	fi
	codename="$(debian_codename)"
	[[ -n "$codename" ]] || die "cannot tell the Debian suite from /etc/os-release to add backports"
	src="$(debian_main_source "$codename")" ||
		die "no apt source for suite '$codename' found in /etc/apt; add ${codename}-backports yourself and rerun"
	uri="${src%%$'\t'*}"
	signed="${src#*$'\t'}"
	file=/etc/apt/sources.list.d/gasper-backports.sources
	log "adding ${codename}-backports (from the archive already configured: $uri) as $file"
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\n' "$uri" "$codename"
		[[ -z "$signed" ]] || printf 'Signed-By: %s\n' "$signed"
	} >"$file"
	_apt_updated=0
	apt_update_once
}

# go_usable tells whether the go on PATH can build this module (possibly by fetching a toolchain).
go_usable() {
	command -v go >/dev/null 2>&1 && version_ge "$(local_go_version)" "$GO_SWITCH_MIN"
}

# find_go puts a usable go on PATH (exported) if one is installed but not on PATH: Go's own
# /usr/local/go/bin, or Debian's GO_DEBIAN_BIN. It installs nothing.
find_go() {
	local dir
	go_usable && return 0
	for dir in /usr/local/go/bin "$GO_DEBIAN_BIN"; do
		if [[ -x "$dir/go" ]] && PATH="$dir:$PATH" go_usable; then
			log "adding $dir to PATH (it holds go $(PATH="$dir:$PATH" local_go_version))"
			export PATH="$dir:$PATH"
			return 0
		fi
	done
	return 1
}

# ensure_go makes a usable `go` available on PATH (and exported) for this script and its children.
# Order: the go already on PATH; /usr/local/go/bin; Debian's GO_DEBIAN_PKG from backports. Any Go
# from 1.21 on fetches the exact toolchain go.mod asks for through the Go module proxy
# (GOTOOLCHAIN=auto).
ensure_go() {
	local want have
	want="$(gomod_go_version)"
	[[ -n "$want" ]] || die "cannot read the go version from $GASPER_ROOT/go.mod"

	if ! find_go; then
		is_root || die "Go $want is needed and no Go >= $GO_SWITCH_MIN was found (install Go, or run as root)"
		log "no Go >= $GO_SWITCH_MIN found: installing Debian's $GO_DEBIAN_PKG from backports"
		ensure_backports "$GO_DEBIAN_PKG"
		apt_get install "$GO_DEBIAN_PKG"
		PATH="$GO_DEBIAN_BIN:$PATH"
	fi
	export PATH

	have="$(local_go_version)"
	if ! version_ge "$have" "$want"; then
		# Debian's Go sets GOTOOLCHAIN=local in its go.env; the environment overrides that.
		if [[ "${GOTOOLCHAIN:-auto}" == local* ]]; then
			die "go.mod needs Go $want, the local Go is $have, and GOTOOLCHAIN=$GOTOOLCHAIN forbids fetching it: unset GOTOOLCHAIN"
		fi
		export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
		log "go.mod needs Go $want, local Go is $have: fetching go$want through the Go module proxy (GOTOOLCHAIN=$GOTOOLCHAIN)"
	fi
	(cd "$GASPER_ROOT" && go version >/dev/null) || die "go cannot provide Go $want (see the error above)"
	log "go: $(cd "$GASPER_ROOT" && go version)"
}

# ---------------------------------------------------------------------------------------------
# Processes we start

# pid_of_ours PIDFILE EXE prints the pid in PIDFILE if that process is alive and runs EXE (a path).
# A binary rebuilt since the process started shows as "EXE (deleted)" and still counts.
pid_of_ours() {
	local pidfile="$1" exe="$2" pid link
	[[ -f "$pidfile" ]] || return 1
	pid="$(tr -dc '0-9' <"$pidfile")"
	[[ -n "$pid" ]] || return 1
	link="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	link="${link% (deleted)}"
	[[ "$link" == "$(readlink -f "$exe")" ]] || return 1
	printf '%s\n' "$pid"
}

# start_bg PIDFILE LOGFILE CMD... starts CMD in its own session, detached from the terminal, with
# output appended to LOGFILE, and writes its pid to PIDFILE.
start_bg() {
	local pidfile="$1" logfile="$2" pid
	shift 2
	mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
	printf -- '---- %s: %s\n' "$(date -Is)" "$*" >>"$logfile"
	# Without job control the child is not a process-group leader, so setsid does not fork and
	# $! is the daemon's own pid.
	setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$pidfile"
}

# stop_pid NAME PID [TIMEOUT] sends SIGTERM to PID, waits up to TIMEOUT seconds (default 20) for it
# to exit, then sends SIGKILL. Returns 2 if it had to use SIGKILL.
stop_pid() {
	local name="$1" pid="$2" timeout="${3:-20}"
	kill -TERM "$pid" 2>/dev/null || return 0
	if wait_for "$name (pid $pid) to exit after SIGTERM" "$timeout" bash -c "! kill -0 $pid"; then
		note "stopped $name (pid $pid)"
		return 0
	fi
	warn "$name (pid $pid) did not exit within ${timeout}s: sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	wait_for "$name (pid $pid) to exit after SIGKILL" 10 bash -c "! kill -0 $pid" || true
	return 2
}

# log_tail FILE prints the last lines of FILE, indented, to stderr.
log_tail() {
	local file="$1" n="${2:-40}"
	[[ -f "$file" ]] || return 0
	printf '    --- last %s lines of %s ---\n' "$n" "$file" >&2
	tail -n "$n" "$file" | sed 's/^/    | /' >&2
}

# ---------------------------------------------------------------------------------------------
# containerd

# containerd_answers tells whether a containerd serves CONTAINERD_SOCK.
containerd_answers() {
	[[ -S "$CONTAINERD_SOCK" ]] && timeout 10 ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1
}

# containerd_socket_has_listener tells whether any process listens on CONTAINERD_SOCK.
containerd_socket_has_listener() {
	ss -xlnH 2>/dev/null | awk -v s="$CONTAINERD_SOCK" '$5 == s { found = 1 } END { exit !found }'
}

# ensure_containerd PIDFILE LOGFILE starts containerd if nothing serves CONTAINERD_SOCK, records its
# pid in PIDFILE (the only containerd we ever stop), and waits until it answers. It sets
# CONTAINERD_STARTED to 1 when the containerd serving the socket is ours, 0 when it is someone else's.
CONTAINERD_STARTED=0
ensure_containerd() {
	local pidfile="$1" logfile="$2" pid
	CONTAINERD_STARTED=0
	if pid="$(pid_of_ours "$pidfile" "$(command -v containerd)")"; then
		if wait_for "containerd (pid $pid, started earlier by this script) to answer on $CONTAINERD_SOCK" 30 containerd_answers; then
			log "containerd: already running (pid $pid, started by us earlier)"
			CONTAINERD_STARTED=1
			return 0
		fi
		die "containerd pid $pid (ours) does not answer on $CONTAINERD_SOCK; see $logfile"
	fi
	rm -f "$pidfile"
	if [[ -S "$CONTAINERD_SOCK" ]]; then
		if containerd_answers; then
			log "containerd: already running on $CONTAINERD_SOCK (not started by us; left alone)"
			return 0
		fi
		if containerd_socket_has_listener; then
			die "a process listens on $CONTAINERD_SOCK but containerd does not answer; fix or stop it first"
		fi
		# A containerd that was killed leaves its socket behind; nothing listens on it any more.
		warn "removing stale socket $CONTAINERD_SOCK (nothing listens on it)"
		rm -f "$CONTAINERD_SOCK"
	fi
	is_root || die "containerd is not running and only root can start it: run as root, or start containerd"
	command -v containerd >/dev/null || die "containerd is not installed"
	log "containerd: starting (log: $logfile)"
	start_bg "$pidfile" "$logfile" containerd
	pid="$(cat "$pidfile")"
	if ! wait_for "containerd (pid $pid) to serve $CONTAINERD_SOCK" 60 containerd_answers; then
		log_tail "$logfile"
		die "containerd did not come up"
	fi
	CONTAINERD_STARTED=1
	note "containerd is up (pid $pid)"
}

# stop_containerd PIDFILE stops the containerd recorded in PIDFILE, if it is still ours.
stop_containerd() {
	local pidfile="$1" pid rc=0
	if ! pid="$(pid_of_ours "$pidfile" "$(command -v containerd || echo /usr/bin/containerd)")"; then
		rm -f "$pidfile"
		return 0
	fi
	stop_pid containerd "$pid" 30 || rc=$?
	if ((rc == 2)) && ! containerd_socket_has_listener; then
		# SIGKILL leaves the socket behind; it would make the next run think containerd is up.
		rm -f "$CONTAINERD_SOCK"
	fi
	rm -f "$pidfile"
}

# ---------------------------------------------------------------------------------------------
# Source checks

# go_files prints the repository's Go files (NUL-separated), leaving out testdata and vendor, whose
# files may be deliberately malformed or are not ours.
go_files() {
	(cd "$GASPER_ROOT" && find . \( -name .git -o -name testdata -o -name vendor -o -name bin \) -prune \
		-o -type f -name '*.go' -print0)
}

# check_gofmt fails, listing the files, if any Go file is not gofmt-formatted.
check_gofmt() {
	local bad f
	bad="$(cd "$GASPER_ROOT" && go_files | xargs -0 -r gofmt -l)"
	if [[ -n "$bad" ]]; then
		printf '%s\n' "gofmt: these files need formatting (run: make fmt):" >&2
		while IFS= read -r f; do printf '    %s\n' "$f"; done <<<"$bad" >&2
		return 1
	fi
	note "gofmt: all files formatted"
}
