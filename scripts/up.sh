#!/usr/bin/env bash
# up.sh brings up a one-machine Gasper cloud: it installs what is missing, builds the binaries,
# starts containerd (if nothing serves its socket), gasper-master and one gasper-agent with every
# role, logs the CLI in as admin and waits for the node to be ready. Running it again is harmless:
# whatever already runs is left running and checked again. `make down` stops it.
#
# Environment:
#   GASPER_UP_DIR            state directory (default /var/lib/gasper/up)
#   GASPER_UP_LISTEN         master REST API address (default 127.0.0.1:7080)
#   GASPER_UP_TUNNEL_LISTEN  master tunnel address (default 127.0.0.1:7443; :7443 for other machines)
#   GASPER_UP_TUNNEL_ADVERTISE  host:port agents dial (default 127.0.0.1:<tunnel port>)
#   GASPER_ADMIN_EMAIL       admin account (default admin@gasper.local)
#   GASPER_ADMIN_PASSWORD    admin password to set on first start (else generated)
#   GASPER_UP_TIMEOUT        seconds to wait for each component (default 60)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

UP_DIR="${GASPER_UP_DIR:-/var/lib/gasper/up}"
LISTEN="${GASPER_UP_LISTEN:-127.0.0.1:7080}"
TUNNEL_LISTEN="${GASPER_UP_TUNNEL_LISTEN:-127.0.0.1:7443}"
TUNNEL_ADVERTISE="${GASPER_UP_TUNNEL_ADVERTISE:-127.0.0.1:${TUNNEL_LISTEN##*:}}"
TIMEOUT="${GASPER_UP_TIMEOUT:-60}"
# gasper-master reads GASPER_ADMIN_EMAIL itself; the login below must use the same address.
ADMIN_EMAIL="${GASPER_ADMIN_EMAIL:-admin@gasper.local}"
ROLES="app,db,proxy,dns,ssh"

MASTER_DIR="$UP_DIR/master"
AGENT_DIR="$UP_DIR/agent"
LOG_DIR="$UP_DIR/logs"
RUN_DIR="$UP_DIR/run"
BIN="$GASPER_ROOT/bin"
# The REST API is plain HTTP on loopback; a wildcard listen address is reached through loopback.
API_HOST="${LISTEN%:*}"
case "$API_HOST" in "" | 0.0.0.0 | "[::]") API_HOST=127.0.0.1 ;; esac
MASTER_URL="http://$API_HOST:${LISTEN##*:}"
CLI_CONFIG="${GASPER_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/gasper}"

is_root || die "make up must run as root (it installs packages and starts containerd)"
start=$(now_s)

# 1. Packages and Go.
ensure_packages
ensure_go

# 2. Binaries.
log "building bin/gasper, bin/gasper-master, bin/gasper-agent"
mkdir -p "$BIN"
(cd "$GASPER_ROOT" && go build -o "$BIN/" ./cmd/...) || die "go build failed (errors above)"
for b in gasper gasper-master gasper-agent; do
	[[ -x "$BIN/$b" ]] || die "go build did not produce $BIN/$b"
done

mkdir -p "$MASTER_DIR" "$AGENT_DIR" "$LOG_DIR" "$RUN_DIR"
chmod 0700 "$UP_DIR" "$MASTER_DIR" "$AGENT_DIR"

# 3. containerd.
ensure_containerd "$RUN_DIR/containerd.pid" "$LOG_DIR/containerd.log"

# warn_if_stale NAME PID tells the user a running daemon predates the binary just built.
warn_if_stale() {
	if [[ "$(readlink "/proc/$2/exe" 2>/dev/null)" == *" (deleted)" ]]; then
		warn "$1 (pid $2) runs an older build; to run the new one: make down && make up"
	fi
}

# 4. gasper-master.
master_healthy() { curl -fsS --max-time 5 "$MASTER_URL/api/v1/health" >/dev/null; }
if pid="$(pid_of_ours "$RUN_DIR/master.pid" "$BIN/gasper-master")"; then
	log "gasper-master: already running (pid $pid)"
	warn_if_stale gasper-master "$pid"
else
	log "gasper-master: starting (API $MASTER_URL, tunnel $TUNNEL_LISTEN, log $LOG_DIR/master.log)"
	start_bg "$RUN_DIR/master.pid" "$LOG_DIR/master.log" "$BIN/gasper-master" \
		--data-dir "$MASTER_DIR" \
		--listen "$LISTEN" \
		--tunnel-listen "$TUNNEL_LISTEN" \
		--tunnel-advertise "$TUNNEL_ADVERTISE" \
		--log-format text
	pid="$(cat "$RUN_DIR/master.pid")"
fi
if ! wait_for "gasper-master to answer GET $MASTER_URL/api/v1/health" "$TIMEOUT" master_healthy; then
	kill -0 "$pid" 2>/dev/null || warn "gasper-master (pid $pid) has exited"
	log_tail "$LOG_DIR/master.log"
	die "gasper-master is not healthy"
fi
note "gasper-master is healthy (pid $pid)"

# 5. CLI login, join token, agent.
# The CLI prefers GASPER_MASTER and GASPER_TOKEN to its saved session: pin them to this master.
gasper() { env -u GASPER_TOKEN GASPER_MASTER="$MASTER_URL" "$BIN/gasper" "$@"; }
if [[ -n "${GASPER_ADMIN_PASSWORD:-}" ]]; then
	password="$GASPER_ADMIN_PASSWORD"
	password_from="GASPER_ADMIN_PASSWORD"
else
	password_file="$MASTER_DIR/admin-password"
	wait_for "the master to write $password_file" "$TIMEOUT" test -s "$password_file" ||
		die "no admin password: set GASPER_ADMIN_PASSWORD or look for $password_file"
	password="$(head -n1 "$password_file")"
	password_from="$password_file"
fi
log "logging the CLI in as $ADMIN_EMAIL (config: $CLI_CONFIG)"
if ! printf '%s\n' "$password" | gasper login --master "$MASTER_URL" --email "$ADMIN_EMAIL" --password-stdin >/dev/null; then
	if gasper whoami >/dev/null 2>&1; then
		warn "login with the password from $password_from failed, but the CLI's saved session still works"
	else
		die "cannot log in as $ADMIN_EMAIL with the password from $password_from"
	fi
fi

if pid="$(pid_of_ours "$RUN_DIR/agent.pid" "$BIN/gasper-agent")"; then
	log "gasper-agent: already running (pid $pid)"
	warn_if_stale gasper-agent "$pid"
else
	agent_args=(join "$TUNNEL_ADVERTISE" --roles "$ROLES" --advertise 127.0.0.1 --state-dir "$AGENT_DIR"
		--containerd-socket "$CONTAINERD_SOCK" --log-format text)
	if [[ ! -f "$AGENT_DIR/identity.json" ]]; then
		# First start: the agent needs a join token. Later starts reuse the identity it keeps.
		# Its advice on stderr is for people joining other machines; show it only on failure.
		if ! token="$(gasper node token 2>"$RUN_DIR/node-token.err")"; then
			cat "$RUN_DIR/node-token.err" >&2
			die "gasper node token failed"
		fi
		rm -f "$RUN_DIR/node-token.err"
		[[ -n "$token" ]] || die "gasper node token printed nothing"
		# Through the environment, not argv: argv is visible to every user in ps and goes into
		# the log's start line.
		export GASPER_JOIN_TOKEN="$token"
		log "gasper-agent: joining $TUNNEL_ADVERTISE with a new join token (log $LOG_DIR/agent.log)"
	else
		log "gasper-agent: restarting with the identity in $AGENT_DIR (log $LOG_DIR/agent.log)"
	fi
	start_bg "$RUN_DIR/agent.pid" "$LOG_DIR/agent.log" "$BIN/gasper-agent" "${agent_args[@]}"
	pid="$(cat "$RUN_DIR/agent.pid")"
	unset GASPER_JOIN_TOKEN
fi
# node_ready: a node is ready and its tunnel is up (after a master restart a
# node stays "ready" for a grace period before its agent is back).
node_ready() {
	local nodes
	nodes="$(gasper node list --json 2>/dev/null)" || return 1
	grep -Eq '"state"[[:space:]]*:[[:space:]]*"ready"' <<<"$nodes" && grep -Eq '"connected"[[:space:]]*:[[:space:]]*true' <<<"$nodes"
}
if ! wait_for "a node to be ready in 'gasper node list --json'" "$TIMEOUT" node_ready; then
	kill -0 "$pid" 2>/dev/null || warn "gasper-agent (pid $pid) has exited"
	log_tail "$LOG_DIR/agent.log"
	die "no node became ready"
fi
# A node can still look ready from an earlier agent for a heartbeat grace: the new one must be alive.
kill -0 "$pid" 2>/dev/null || {
	log_tail "$LOG_DIR/agent.log"
	die "gasper-agent (pid $pid) has exited"
}
note "gasper-agent is connected and its node is ready (pid $pid)"

# 6. The example app: deployed once, then only checked (a second make up keeps it).
EXAMPLE_APP="${GASPER_UP_EXAMPLE:-hello}"
if gasper app info "$EXAMPLE_APP" >/dev/null 2>&1; then
	log "example app $EXAMPLE_APP: already deployed"
else
	log "deploying the example app $EXAMPLE_APP from examples/static (the first build makes the runtime image: about a minute)"
	gasper app create "$EXAMPLE_APP" --from "$GASPER_ROOT/examples/static" --env GREETING="from make up" \
		--wait-timeout 10m >/dev/null || die "deploying the example app failed (see above, and gasper app logs $EXAMPLE_APP)"
fi
# app_url prints the example app's address, and fails while it has none.
app_url() {
	local u
	u="$(gasper app info "$EXAMPLE_APP" --json 2>/dev/null | sed -n 's/^  "address": "\(.*\)",$/http:\/\/\1/p')"
	[[ -n "$u" ]] && printf '%s\n' "$u"
}
wait_for "the example app $EXAMPLE_APP to serve" "$TIMEOUT" app_url || die "the example app does not serve: gasper app info $EXAMPLE_APP"
APP_URL="$(app_url)"

# 7. What next. Settings that differ from the defaults must be repeated by the user.
env_hint=""
[[ "$UP_DIR" == /var/lib/gasper/up ]] || env_hint="GASPER_UP_DIR=$UP_DIR "
cli_hint=""
[[ -z "${GASPER_CONFIG_DIR:-}" ]] || cli_hint="
    export GASPER_CONFIG_DIR=\"$GASPER_CONFIG_DIR\""
log "Gasper is up ($(elapsed "$start")s)"
cat <<EOF

  Master API     $MASTER_URL   (tunnel for agents: $TUNNEL_ADVERTISE)
  Admin login    $ADMIN_EMAIL, password from $password_from
  CLI config     $CLI_CONFIG   (already logged in)

  Example app    $EXAMPLE_APP at $APP_URL
                 (try: curl $APP_URL)

  Try:
    export PATH="$BIN:\$PATH"$cli_hint
    gasper app list
    gasper app logs $EXAMPLE_APP
    gasper app create myapp --from examples/python3
    gasper node list

  Logs           $LOG_DIR/master.log
                 $LOG_DIR/agent.log
  State          $UP_DIR   (pidfiles in $RUN_DIR)
  Stop           ${env_hint}make down          (keeps the state; ${env_hint}make clean-state removes it)

EOF
gasper node list || true
printf '\n%s\n' "$APP_URL"
