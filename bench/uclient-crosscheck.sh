#!/usr/bin/env bash
# Cross-check of the relay bench with an independent load tool: parley-sn
# against coturn's turnserver at one load point, driven by coturn's own
# turnutils_uclient, so the figures do not rest on parley-load alone.
#
# Both servers get one relay thread pinned to CPU 0; the load (coturn's
# turnutils_uclient, client-to-client mode: every message crosses the
# relay twice) runs on CPU 1. Server CPU is read from
# /proc/PID/task/*/schedstat (nanoseconds on CPU, all threads) around the
# load window; forwarded packets come from the load's own totals, so the
# same count divides both servers' CPU. Runs alternate A/B to spread the
# machine's noise over both. Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${1:?usage: bench/uclient-crosscheck.sh BUILD_DIR [--quick]}" && pwd)
QUICK=${2:-}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
SN=$BUILD/src/sn/parley-sn

CLIENTS=${CLIENTS:-100}      # concurrent client pairs' senders
MSGS=${MSGS:-500}            # messages per client (20 ms apart)
ROUNDS=${ROUNDS:-2}
if [ "$QUICK" = "--quick" ]; then CLIENTS=10 MSGS=50 ROUNDS=1; fi

. bench/lib.sh

declare -A CPU PKTS RSS LOSS RTT
for r in $(seq 1 "$ROUNDS"); do
	for name in parley coturn; do
		p=$(free_port)
		start_server "$name" "$p"
		taskset -c 1 turnutils_uclient -y -c -m "$CLIENTS" -n "$MSGS" -l 172 -z 20 \
			-u bench -w bench -p "$p" 127.0.0.1 >"$OUT/$name.load.log" 2>&1 &
		load=$!
		# The media phase starts when the client prints its connect time:
		# allocations and channel binds before it are not per-packet cost.
		for _ in $(seq 1 600); do
			grep -q 'Total connect time' "$OUT/$name.load.log" 2>/dev/null && break
			kill -0 "$load" 2>/dev/null || break
			sleep 0.1
		done
		before=$(cpu_ns "$SRV_PID")
		wait "$load" || true
		after=$(cpu_ns "$SRV_PID")
		recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$OUT/$name.load.log" | tail -1 | cut -d= -f2)
		loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$OUT/$name.load.log" | tail -1 | grep -o '([0-9.]*%)' | tr -d '()%')
		rtt=$(grep -o 'Average round trip delay [0-9.]*' "$OUT/$name.load.log" | tail -1 | awk '{print $5}')
		RSS[$name]=$(rss_kb "$SRV_PID")
		kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true
		# every message crosses the relay twice (client -> its relay -> peer's relay -> peer)
		CPU[$name]=$(( ${CPU[$name]:-0} + after - before ))
		PKTS[$name]=$(( ${PKTS[$name]:-0} + 2 * ${recv:-0} ))
		LOSS[$name]="${LOSS[$name]:-}${LOSS[$name]:+ }${loss:-?}"
		RTT[$name]="${RTT[$name]:-}${RTT[$name]:+ }${rtt:-?}"
		echo "round $r $name: ${recv:-0} messages, server CPU $(( (after - before) / 1000000 )) ms, loss ${loss:-?}%"
	done
done

per() { awk -v c="$1" -v p="$2" 'BEGIN { if (p > 0) printf "%.2f", c / p / 1000; else print "nan" }'; }
P=$(per "${CPU[parley]}" "${PKTS[parley]}")
C=$(per "${CPU[coturn]}" "${PKTS[coturn]}")
RATIO=$(awk -v a="$P" -v b="$C" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')
RATE=$((CLIENTS * 50 * 2))

{
	echo "# Cross-check with turnutils_uclient: parley-sn vs coturn $(dpkg-query -W -f='${Version}' coturn 2>/dev/null)"
	echo
	echo "Load: turnutils_uclient -y, $CLIENTS senders x $MSGS messages of 172 B every 20 ms"
	echo "(~$RATE relayed datagrams/s offered), $ROUNDS round(s) alternating; server on CPU 0, load on CPU 1."
	echo
	echo "| server | relayed packets | server CPU µs/packet | loss % per round | avg RTT ms per round | peak RSS KiB |"
	echo "| --- | ---: | ---: | --- | --- | ---: |"
	echo "| parley-sn | ${PKTS[parley]} | $P | ${LOSS[parley]} | ${RTT[parley]} | ${RSS[parley]} |"
	echo "| coturn | ${PKTS[coturn]} | $C | ${LOSS[coturn]} | ${RTT[coturn]} | ${RSS[coturn]} |"
	echo
	echo "parley-sn / coturn CPU per relayed packet: **$RATIO**"
} | tee "$OUT/uclient-crosscheck.md"

cat >"$OUT/uclient-crosscheck.json" <<JSON
{"load":{"tool":"turnutils_uclient","senders":$CLIENTS,"messages":$MSGS,"size":172,"interval_ms":20,"rounds":$ROUNDS},
 "parley":{"relayed":${PKTS[parley]},"cpu_ns":${CPU[parley]},"us_per_packet":$P,"peak_rss_kb":${RSS[parley]:-0}},
 "coturn":{"relayed":${PKTS[coturn]},"cpu_ns":${CPU[coturn]},"us_per_packet":$C,"peak_rss_kb":${RSS[coturn]:-0}},
 "ratio_parley_over_coturn":$RATIO}
JSON

