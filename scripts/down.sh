#!/usr/bin/env bash
# down.sh stops what `make up` started: the agent, the master and (only if make up started it)
# containerd. It finds each by the pid in its pidfile and stops it only if /proc/PID/exe is still
# the binary we started. The state is kept unless PURGE=1 (or --purge) is given.
#
# Environment:
#   GASPER_UP_DIR  state directory (default /var/lib/gasper/up)
#   PURGE=1        also remove the state directory (master database, agent identity, logs)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

UP_DIR="${GASPER_UP_DIR:-/var/lib/gasper/up}"
RUN_DIR="$UP_DIR/run"
BIN="$GASPER_ROOT/bin"
purge="${PURGE:-0}"
[[ "${1:-}" == "--purge" ]] && purge=1

# stop_ours NAME PIDFILE EXE stops the process in PIDFILE if it still runs EXE.
stop_ours() {
	local name="$1" pidfile="$2" exe="$3" pid
	if pid="$(pid_of_ours "$pidfile" "$exe")"; then
		log "stopping $name (pid $pid)"
		stop_pid "$name" "$pid" 20 || true
	elif [[ -f "$pidfile" ]]; then
		note "$name: not running (stale pidfile $pidfile removed)"
	else
		note "$name: not running"
	fi
	rm -f "$pidfile"
}

if [[ -d "$RUN_DIR" ]]; then
	# Reverse start order: the agent uses the master and containerd.
	stop_ours gasper-agent "$RUN_DIR/agent.pid" "$BIN/gasper-agent"
	# The node's app containers were started by make up too. With the agent
	# stopped, remove them (the next make up starts them again from the state
	# it kept); with PURGE=1 also the node's images, namespace and bridge.
	if [[ -d "$UP_DIR/agent/containers" && -S "$CONTAINERD_SOCK" && -x "$BIN/gasper-agent" ]]; then
		down_args=(down --state-dir "$UP_DIR/agent" --containerd-socket "$CONTAINERD_SOCK")
		[[ "$purge" == 1 ]] && down_args+=(--purge)
		log "removing the node's containers"
		"$BIN/gasper-agent" "${down_args[@]}" | sed 's/^/    /' || warn "gasper-agent down failed; containers may still run (ctr -n gasper tasks ls)"
	fi
	stop_ours gasper-master "$RUN_DIR/master.pid" "$BIN/gasper-master"
	if [[ -f "$RUN_DIR/containerd.pid" ]]; then
		log "stopping containerd (started by make up)"
		stop_containerd "$RUN_DIR/containerd.pid"
	else
		note "containerd: not started by make up; left alone"
	fi
else
	log "nothing to stop: $RUN_DIR does not exist"
fi

if [[ "$purge" == 1 ]]; then
	case "$UP_DIR" in
	"" | / | /var | /var/lib | "$HOME") die "refusing to remove state directory '$UP_DIR'" ;;
	esac
	if [[ -d "$UP_DIR" ]]; then
		log "removing state $UP_DIR"
		rm -rf -- "$UP_DIR"
	fi
	note "the CLI's saved login (in \$GASPER_CONFIG_DIR or ~/.config/gasper) is kept; make up logs in again"
else
	note "state kept in $UP_DIR (make clean-state removes it)"
fi
