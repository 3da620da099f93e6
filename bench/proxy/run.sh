#!/usr/bin/env bash
# run.sh: the Gasper proxy role against nginx as a reverse proxy, in front
# of the same backend (nginx answering a fixed 64-byte body), all on
# loopback. wrk measures HTTP/1.1 keep-alive over plain HTTP and HTTPS;
# h2load measures HTTP/2 over TLS. Prints one table: requests/s and p99
# latency, and the ratios gasper/nginx and gasper/floor (the backend hit
# directly). Everything started here is stopped by pid on exit.
#
# The runs alternate between Gasper and nginx, ROUNDS times over, so a burst
# of other work on a shared machine hits both alike; the table gives each
# round's numbers and the range of the ratios. Both proxies log no
# requests (Gasper's access log is off below Info, nginx has access_log
# off), both keep connections to the backend alive, and nginx runs one
# worker per core, as Gasper's Go runtime uses every core.
#
# Environment: DURATION (seconds per run, default 10), ROUNDS (default 3),
# CONNS (default 50), THREADS (wrk threads, default 2), STREAMS (h2load
# streams per connection, default 10), PPROF=1 to save a CPU profile of
# the Gasper proxy during its first HTTP/1.1 run.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
STREAMS=${STREAMS:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx || ! need h2load; then
	echo "installing wrk, nginx-light, nghttp2-client" >&2
	if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get install -y wrk nginx-light nghttp2-client >/dev/null ||
		{ $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk nginx-light nghttp2-client >/dev/null; }
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d /tmp/gasper-bench-proxy.XXXXXX)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	for f in "$WORK"/nginx-*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# Ports: backend, gasper http/https, nginx http/https.
BACK=18080 GHTTP=18081 GHTTPS=18444 NHTTP=18082 NHTTPS=18445

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=bench.test -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

nginx_conf() { # name, body of the http block
	mkdir -p "$WORK/$1"
	cat >"$WORK/$1/nginx.conf" <<-CONF
	worker_processes $3;
	pid $WORK/nginx-$1.pid;
	error_log $WORK/$1/error.log warn;
	daemon off;
	events { worker_connections 4096; }
	http {
		access_log off;
		client_body_temp_path $WORK/$1/body;
		proxy_temp_path $WORK/$1/proxy;
		fastcgi_temp_path $WORK/$1/fastcgi;
		uwsgi_temp_path $WORK/$1/uwsgi;
		scgi_temp_path $WORK/$1/scgi;
		keepalive_requests 100000;
		$2
	}
	CONF
}

# The backend: nginx answering from memory, the cheapest thing there is.
nginx_conf backend "server { listen 127.0.0.1:$BACK; location / { default_type text/plain; return 200 'gasper bench backend: 64 bytes of body, padded to that size.\n'; } }" 1
# nginx as the reverse proxy: keep-alive to the backend, as Gasper does.
nginx_conf proxy "
	upstream app { server 127.0.0.1:$BACK; keepalive 128; }
	server {
		listen 127.0.0.1:$NHTTP;
		listen 127.0.0.1:$NHTTPS ssl http2;
		ssl_certificate $WORK/cert.pem;
		ssl_certificate_key $WORK/key.pem;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection \"\";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
			proxy_set_header X-Forwarded-Proto \$scheme;
		}
	}" "$(nproc)"
"$NGINX" -p "$WORK/backend" -c "$WORK/backend/nginx.conf" & PIDS+=($!)
"$NGINX" -p "$WORK/proxy" -c "$WORK/proxy/nginx.conf" & PIDS+=($!)
NGINX_PROXY_PID=$!

(cd "$ROOT" && go build -o "$WORK/benchproxy" ./bench/proxy)
PPROF_ADDR=127.0.0.1:18090
"$WORK/benchproxy" gasper -http 127.0.0.1:$GHTTP -https 127.0.0.1:$GHTTPS -backend 127.0.0.1:$BACK \
	-cert "$WORK/cert.pem" -key "$WORK/key.pem" -pprof "$PPROF_ADDR" & PIDS+=($!)
GASPER_PID=$!

wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}
for p in $BACK $GHTTP $GHTTPS $NHTTP $NHTTPS; do wait_port "$p"; done

source "$ROOT/bench/cputime.sh"

# p99 from wrk --latency output, in ms.
wrk_run() { # url [pid] -> "rps p99ms cpu_us_per_request"
	local out t0 t1
	t0=$( [[ -n ${2:-} ]] && cpu_ticks "$2" || echo 0)
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -H "Host: bench.test" "$1")
	t1=$( [[ -n ${2:-} ]] && cpu_ticks "$2" || echo 0)
	local rps p99 n
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "warning: $(grep 'Non-2xx\|Socket errors' <<<"$out") for $1" >&2; fi
	echo "$rps $p99 $(awk -v t=$((t1 - t0)) -v n="$n" -v u="$TICK_US" 'BEGIN {if (n > 0) printf "%.1f", t * u / n; else print "-"}')"
}
h2_run() { # port pid -> "rps p99ms cpu_us_per_request"
	local log="$WORK/h2.log" out t0 t1
	rm -f "$log"
	t0=$(cpu_ticks "$2")
	out=$(h2load -c"$CONNS" -m"$STREAMS" -t"$THREADS" -D"$DURATION" --warm-up-time=1 \
		--connect-to=127.0.0.1:"$1" --log-file="$log" https://bench.test/)
	t1=$(cpu_ticks "$2")
	local rps p99 n
	rps=$(awk '/^finished in/ {print $4}' <<<"$out")
	# Requests done include the warm-up second, as the CPU time does.
	n=$(awk '/^requests:/ {print $8}' <<<"$out")
	p99=$(awk '{print $3}' "$log" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')
	grep -E "^requests:" <<<"$out" | grep -v " 0 failed" >&2 || true
	echo "$rps $p99 $(awk -v t=$((t1 - t0)) -v n="$n" -v u="$TICK_US" 'BEGIN {if (n > 0) printf "%.1f", t * u / n; else print "-"}')"
}

declare -A R
echo "each run: ${DURATION}s, $CONNS connections, $ROUNDS rounds" >&2
for ((r = 1; r <= ROUNDS; r++)); do
	echo "round $r: floor http/1.1" >&2; R[floor_h1_$r]=$(wrk_run "http://127.0.0.1:$BACK/")
	if [[ -n ${PPROF:-} && $r == 1 ]]; then
		curl -s -o "$ROOT/bench/proxy/cpu.pprof" "http://$PPROF_ADDR/debug/pprof/profile?seconds=$((DURATION - 1))" &
		PPROF_PID=$!
	fi
	echo "round $r: gasper http/1.1" >&2; R[gasper_h1_$r]=$(wrk_run "http://127.0.0.1:$GHTTP/" "$GASPER_PID")
	[[ -z ${PPROF_PID:-} ]] || { wait "$PPROF_PID"; PPROF_PID=; }
	echo "round $r: nginx  http/1.1" >&2; R[nginx_h1_$r]=$(wrk_run "http://127.0.0.1:$NHTTP/" "$NGINX_PROXY_PID")
	echo "round $r: gasper https/1.1" >&2; R[gasper_tls_$r]=$(wrk_run "https://127.0.0.1:$GHTTPS/" "$GASPER_PID")
	echo "round $r: nginx  https/1.1" >&2; R[nginx_tls_$r]=$(wrk_run "https://127.0.0.1:$NHTTPS/" "$NGINX_PROXY_PID")
	echo "round $r: gasper h2" >&2; R[gasper_h2_$r]=$(h2_run "$GHTTPS" "$GASPER_PID")
	echo "round $r: nginx  h2" >&2; R[nginx_h2_$r]=$(h2_run "$NHTTPS" "$NGINX_PROXY_PID")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }
field() { echo "${R[$1]}" | cut -d' ' -f"$2"; }
printf '\n%-5s %-9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s\n' round protocol floor_rps floor_p99 \
	g_rps g_p99 g_cpu_us n_rps n_p99 n_cpu_us rps_g/n cpu_n/g
declare -A RPS CPU
for ((r = 1; r <= ROUNDS; r++)); do
	for proto in h1 tls h2; do
		case $proto in h1) name="http/1.1" ;; tls) name="https/1.1" ;; h2) name="h2 (TLS)" ;; esac
		if [[ $proto == h1 ]]; then fr=$(field floor_h1_$r 1) fp=$(field floor_h1_$r 2); else fr=- fp=-; fi
		g=gasper_${proto}_$r n=nginx_${proto}_$r
		rr=$(ratio "$(field $g 1)" "$(field $n 1)")
		cr=$(ratio "$(field $n 3)" "$(field $g 3)")
		RPS[$proto]+="$rr " CPU[$proto]+="$cr "
		printf '%-5s %-9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s\n' "$r" "$name" "$fr" "$fp" \
			"$(field $g 1)" "$(field $g 2)" "$(field $g 3)" "$(field $n 1)" "$(field $n 2)" "$(field $n 3)" "$rr" "$cr"
	done
done
echo "(rps: requests/s; p99 in ms; cpu_us: the proxy's CPU time per request, in microseconds;"
echo " rps_g/n: gasper/nginx throughput; cpu_n/g: nginx's CPU per request / gasper's, above 1 = gasper cheaper;"
echo " floor = wrk against the backend itself over plain HTTP/1.1)"
range() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {printf "%s - %s", v[1], v[NR]}'; }
for proto in h1 tls h2; do
	printf 'gasper/nginx %-4s throughput %s   cpu per request (nginx/gasper) %s\n' "$proto" \
		"$(range <<<"${RPS[$proto]}")" "$(range <<<"${CPU[$proto]}")"
done
