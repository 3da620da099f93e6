#!/usr/bin/env bash
# Benchmarks the dns role (agent/dns, run by bench/dns/gasperdns) against
# NSD on the same zone, with dnsperf, on loopback only.
#
# Two runs per server:
#   throughput: dnsperf as fast as it can go (-Q far above what either
#               server reaches) -> queries/s;
#   latency:    a fixed, moderate rate with per-query timings (-v) -> average
#               and p99 latency when the server is not saturated.
#
# The throughput runs alternate between the two servers ROUNDS times, so a
# burst of other work on a shared machine hits both alike; each round's
# ratio is printed, and the range.
#
# Environment: APPS (1000), DURATION (10 s per throughput run), ROUNDS (3),
# RATE (10000 q/s for the latency run), CLIENTS (4), NSD_PORT (5300),
# GASPER_PORT (5301), CPUPROFILE (a path: write gasperdns's CPU profile
# there).
set -euo pipefail

APPS=${APPS:-1000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-10000}
CLIENTS=${CLIENTS:-4}
NSD_PORT=${NSD_PORT:-5300}
GASPER_PORT=${GASPER_PORT:-5301}
DOMAIN=bench.gasper.test

repo=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v dnsperf >/dev/null || ! command -v nsd >/dev/null || ! command -v dig >/dev/null; then
	echo "installing dnsperf, nsd and dig (Debian packages)..." >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq dnsperf nsd bind9-dnsutils >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq dnsperf nsd bind9-dnsutils >/dev/null; }
fi
NSD=$(command -v nsd || echo /usr/sbin/nsd)

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# The zone, twice: a zone file for NSD and a zone.json for Gasper.
{
	echo "\$ORIGIN $DOMAIN."
	echo "\$TTL 5"
	echo "@ IN SOA ns1 hostmaster 1 3600 600 604800 5"
	echo "@ IN NS ns1"
	echo "ns1 IN A 127.0.0.1"
	for ((i = 0; i < APPS; i++)); do
		echo "app$i IN A 10.0.0.1"
		echo "app$i IN A 10.0.0.2"
	done
} >"$work/bench.zone"
{
	printf '{"version":1,"domain":"%s","ttl":5,"proxies":["10.0.0.1","10.0.0.2"],"nameservers":["127.0.0.1"],"apps":[' "$DOMAIN"
	for ((i = 0; i < APPS; i++)); do
		((i > 0)) && printf ','
		printf '"app%d"' "$i"
	done
	printf ']}\n'
} >"$work/zone.json"
for ((i = 0; i < APPS; i++)); do echo "app$i.$DOMAIN A"; done >"$work/queries"

cat >"$work/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$NSD_PORT
  port: $NSD_PORT
  # One server process per core, as Gasper's Go runtime uses every core.
  server-count: $(nproc)
  reuseport: yes
  username: ""
  chroot: ""
  zonesdir: "$work"
  database: ""
  zonelistfile: "$work/zone.list"
  xfrdfile: "$work/xfrd.state"
  xfrdir: "$work"
  pidfile: "$work/nsd.pid"
  logfile: "$work/nsd.log"
  hide-version: yes
  verbosity: 0
remote-control:
  control-enable: no
zone:
  name: $DOMAIN
  zonefile: bench.zone
EOF

(cd "$repo" && go build -o "$work/gasperdns" ./bench/dns/gasperdns)

"$NSD" -d -c "$work/nsd.conf" 2>"$work/nsd.stderr" &
pids+=($!)
nsd_pid=$!
gasper_args=(-addr "127.0.0.1:$GASPER_PORT" -state "$work")
[[ -n ${CPUPROFILE:-} ]] && gasper_args+=(-cpuprofile "$CPUPROFILE")
"$work/gasperdns" "${gasper_args[@]}" 2>"$work/gasper.stderr" &
pids+=($!)
gasper_pid=$!

# Wait (10 s at most) until each answers an app name from the zone.
wait_ready() {
	local port=$1 name=$2
	for _ in $(seq 100); do
		if [[ $(dig @127.0.0.1 -p "$port" +short +time=1 +tries=1 "app0.$DOMAIN" A 2>/dev/null | wc -l) == 2 ]]; then
			return 0
		fi
		sleep 0.1
	done
	echo "$name on port $port does not answer; its log:" >&2
	cat "$work/$name.stderr" "$work/$name.log" 2>/dev/null >&2 || true
	exit 1
}
wait_ready "$NSD_PORT" nsd
wait_ready "$GASPER_PORT" gasper

source "$repo/bench/cputime.sh"

# throughput PORT PID -> "qps avg_latency_ms lost cpu_us_per_query"
throughput() {
	local out t0 t1
	t0=$(cpu_ticks "$2")
	out=$(timeout $((DURATION + 30)) dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" \
		-l "$DURATION" -c "$CLIENTS" -Q 1000000 -q 200 -t 2 2>&1)
	t1=$(cpu_ticks "$2")
	echo "$out" >"$work/throughput.$1"
	awk -v t=$((t1 - t0)) -v u="$TICK_US" '/Queries per second:/ {q = $4}
	     /Average Latency \(s\):/ {l = $4 * 1000}
	     /Queries lost:/ {lost = $3}
	     /Queries completed:/ {n = $3}
	     END {printf "%.0f %.3f %s %.2f\n", q, l, lost, (n > 0 ? t * u / n : 0)}' <<<"$out"
}

# latency PORT -> "avg_ms p99_ms" at RATE queries/s for 5 s
latency() {
	timeout 60 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l 5 -c "$CLIENTS" \
		-Q "$RATE" -t 2 -v 2>/dev/null |
		awk '$1 == ">" && $2 == "NOERROR" {print $NF}' | sort -g |
		awk '{v[NR] = $1; s += $1}
		     END {if (NR == 0) {print "nan nan"; exit}
		          i = int(NR * 0.99); if (i < 1) i = 1
		          printf "%.3f %.3f\n", s / NR * 1000, v[i] * 1000}'
}

echo
echo "dns benchmark: $APPS apps x 2 proxies, dnsperf -c $CLIENTS, $(nproc) cores, loopback, NSD server-count $(nproc)"
printf '%-6s %-8s %12s %14s %10s %14s\n' round server "queries/s" "sat. avg ms" lost "cpu us/query"
ratios=() cpus=()
for ((r = 1; r <= ROUNDS; r++)); do
	read -r nsd_qps nsd_sat nsd_lost nsd_cpu < <(throughput "$NSD_PORT" "$nsd_pid")
	printf '%-6s %-8s %12s %14s %10s %14s\n' "$r" nsd "$nsd_qps" "$nsd_sat" "$nsd_lost" "$nsd_cpu"
	read -r gas_qps gas_sat gas_lost gas_cpu < <(throughput "$GASPER_PORT" "$gasper_pid")
	printf '%-6s %-8s %12s %14s %10s %14s\n' "$r" gasper "$gas_qps" "$gas_sat" "$gas_lost" "$gas_cpu"
	cpus+=("$(awk -v g="$gas_cpu" -v n="$nsd_cpu" 'BEGIN {if (g > 0) printf "%.2f", n / g; else print 0}')")
	ratios+=("$(awk -v g="$gas_qps" -v n="$nsd_qps" 'BEGIN {if (n > 0) printf "%.2f", g / n; else print 0}')")
done
read -r nsd_avg nsd_p99 < <(latency "$NSD_PORT")
read -r gas_avg gas_p99 < <(latency "$GASPER_PORT")
printf '\n%-8s %16s %16s\n' server "avg ms @${RATE}/s" "p99 ms @${RATE}/s"
printf '%-8s %16s %16s\n' nsd "$nsd_avg" "$nsd_p99"
printf '%-8s %16s %16s\n' gasper "$gas_avg" "$gas_p99"
echo "ratio gasper/nsd (queries/s) per round: ${ratios[*]}"
printf '%s\n' "${ratios[@]}" | sort -g | awk '{v[NR] = $1} END {printf "range: %s - %s\n", v[1], v[NR]}'
echo "ratio nsd/gasper (cpu per query, above 1 = gasper cheaper) per round: ${cpus[*]}"
printf '%s\n' "${cpus[@]}" | sort -g | awk '{v[NR] = $1} END {printf "range: %s - %s\n", v[1], v[NR]}'
