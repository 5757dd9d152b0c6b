#!/usr/bin/env bash
# Relay capacity and cost, parley-sn against coturn's turnserver, in one
# run, driven by parley-load (relay mode: each call is two TURN clients
# sending each other 172-byte RTP-shaped packets at 50/s through their
# relays, so each packet crosses the server twice).
#
# Each server gets one worker/relay thread pinned to CPU 0; the load runs
# on CPU 1. Offered load is swept; at each point the servers alternate
# (parley, coturn, floor, parley, ...) so slow drifts of the machine hit
# all of them.
# The raw floor (bench/floor.c: one recvmmsg/sendmmsg thread) is measured
# under the same load in parley-load's --raw mode.
#
# Per server and load: server CPU per forwarded packet (from
# /proc/PID/task/*/schedstat, over the media phase only), loss, one-way
# latency p50/p99 (load's clock), peak RSS. Writes $OUT/relay.json,
# $OUT/relay.md and, with gnuplot, relay-loss.png and relay-p99.png.
# Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${1:?usage: bench/relay-vs-coturn.sh BUILD_DIR [--quick]}" && pwd)
QUICK=${2:-}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
SN=$BUILD/src/sn/parley-sn
LOAD=$BUILD/src/load/parley-load
FLOOR=$BUILD/bench/parley-floor

CALLS=${CALLS:-"50 100 200 300 400 500 700 900"}
DURATION=${DURATION:-6}
SERVERS=${SERVERS:-"parley coturn floor"}
if [ "$QUICK" = "--quick" ]; then CALLS="20 40"; DURATION=2; fi

. bench/lib.sh

echo '[' >"$OUT/relay.points.json"
first=1
for calls in $CALLS; do
	for name in $SERVERS; do
		p=$(free_port)
		start_server "$name" "$p"
		sample "$SRV_PID" "$OUT/cpu.samples" &
		sampler=$!
		# A packet crosses a TURN relay twice (client -> relay A -> relay
		# B -> client) and the floor once: the floor gets twice the calls,
		# so every server forwards the same datagrams/s at a point.
		mode=(); n=$calls
		[ "$name" = floor ] && { mode=(--raw); n=$((2 * calls)); }
		t0=${EPOCHREALTIME/./}000
		taskset -c 1 "$LOAD" --target 127.0.0.1:$p --calls "$n" --duration "$DURATION" \
			--ramp 1 --user bench --password bench --quiet "${mode[@]}" \
			--json "$OUT/load.json" >"$OUT/load-$name-$calls.log" 2>&1 || true
		rss=$(rss_kb "$SRV_PID")
		kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true
		kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
		# CPU over the media phase: from the end of set-up for duration_s.
		read -r setup dur sent recv loss p50 p99 < <(jq -r \
			'[.setup_s, .duration_s, .sent, .received, .loss_pct, .latency_us.p50, .latency_us.p99] | @tsv' \
			"$OUT/load.json")
		cpu=$(cpu_between "$OUT/cpu.samples" "$t0" "$setup" "$dur")
		# Forwarded packets (one receive + one send each): a packet between
		# TURN clients crosses the relay twice (client -> relay A -> relay B
		# -> client); through the floor once.
		hops=2; [ "$name" = floor ] && hops=1
		fwd=$((hops * recv))
		per=$(awk -v c="$cpu" -v f="$fwd" 'BEGIN { if (f > 0) printf "%.3f", c / f / 1000; else print "null" }')
		offered=$((n * 2 * 50 * hops))
		printf '%-7s calls=%-4s offered=%6s fwd/s  cpu=%6s us/pkt  loss=%6s%%  p50=%6s us  p99=%7s us  rss=%s KiB\n' \
			"$name" "$calls" "$offered" "$per" "$loss" "$p50" "$p99" "$rss"
		[ $first = 1 ] || echo ',' >>"$OUT/relay.points.json"
		first=0
		printf '{"server":"%s","calls":%s,"offered_fwd_per_s":%s,"cpu_us_per_pkt":%s,"loss_pct":%s,"p50_us":%s,"p99_us":%s,"peak_rss_kb":%s,"sent":%s,"received":%s}' \
			"$name" "$calls" "$offered" "$per" "$loss" "$p50" "$p99" "${rss:-0}" "$sent" "$recv" \
			>>"$OUT/relay.points.json"
	done
done
echo ']' >>"$OUT/relay.points.json"
jq . "$OUT/relay.points.json" >"$OUT/relay.json"
rm -f "$OUT/relay.points.json" "$OUT/cpu.samples" "$OUT/load.json"

# Summary: per server, median CPU/packet below saturation, highest load
# held with < 0.1% loss; then, load by load, parley's CPU per packet over
# coturn's and over the floor's where both held.
jq -r --arg servers "$SERVERS" '
	def held(s): [.[] | select(.server == s and .loss_pct < 0.1) | .offered_fwd_per_s] | max // 0;
	def cpu(s): [.[] | select(.server == s and .loss_pct < 0.1) | .cpu_us_per_pkt] | sort | if length > 0 then .[length/2|floor] else null end;
	. as $all |
	"| server | CPU µs per forwarded packet (median, < 0.1% loss) | highest load held (< 0.1% loss), forwarded/s |",
	"| --- | ---: | ---: |",
	($servers | split(" ")[] as $s | "| \($s) | \($all | cpu($s)) | \($all | held($s)) |")
' "$OUT/relay.json" >"$OUT/relay-summary.md"
jq -r '
	def at(s; l): [.[] | select(.server == s and .offered_fwd_per_s == l and .loss_pct < 0.1) | .cpu_us_per_pkt][0];
	def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else "-" end;
	. as $all |
	"",
	"| forwarded/s | parley / coturn CPU per packet | parley / floor CPU per packet |",
	"| ---: | ---: | ---: |",
	([.[].offered_fwd_per_s] | unique[] as $l |
		"| \($l) | \(ratio($all | at("parley"; $l); $all | at("coturn"; $l))) | \(ratio($all | at("parley"; $l); $all | at("floor"; $l))) |")
' "$OUT/relay.json" >>"$OUT/relay-summary.md"

{
	echo "# parley-sn vs coturn $(dpkg-query -W -f='${Version}' coturn 2>/dev/null) (and the raw floor)"
	echo
	echo "One worker / relay thread on CPU 0, parley-load on CPU 1; 172-byte packets, 50/s per direction per call;"
	echo "each packet crosses the server twice. ${DURATION} s of media per point; servers alternate at each point."
	echo
	cat "$OUT/relay-summary.md"
	echo
	echo "| server | calls | offered fwd/s | CPU µs/pkt | loss % | p50 µs | p99 µs | peak RSS KiB |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	jq -r '.[] | "| \(.server) | \(.calls) | \(.offered_fwd_per_s) | \(.cpu_us_per_pkt) | \(.loss_pct) | \(.p50_us) | \(.p99_us) | \(.peak_rss_kb) |"' "$OUT/relay.json"
} >"$OUT/relay.md"
cat "$OUT/relay.md"

if command -v gnuplot >/dev/null; then
	for s in $SERVERS; do
		jq -r --arg s "$s" '.[] | select(.server == $s) | "\(.offered_fwd_per_s) \(.loss_pct) \(.p99_us)"' \
			"$OUT/relay.json" >"$OUT/plot-$s.dat"
	done
	plot() { # COLUMN YLABEL FILE LOGSCALE
		local cmd="" s
		for s in $SERVERS; do cmd+="${cmd:+, }'$OUT/plot-$s.dat' using 1:$1 with linespoints title '$s'"; done
		gnuplot <<GP
set terminal pngcairo size 900,540
set output '$3'
set xlabel 'offered load (forwarded datagrams/s)'
set ylabel '$2'
set grid
set key top left
$4
plot $cmd
GP
	}
	plot 2 'loss (%)' "$OUT/relay-loss.png" ""
	plot 3 'one-way p99 latency (µs)' "$OUT/relay-p99.png" "set logscale y"
	rm -f "$OUT"/plot-*.dat
	echo "plots: $OUT/relay-loss.png $OUT/relay-p99.png"
fi
