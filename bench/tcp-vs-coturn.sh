#!/usr/bin/env bash
# TCP allocations (RFC 6062): parley-sn's CPU per relayed frame and per
# relayed byte against coturn's, in one run, at a voice-sized (172 B) and
# a video-sized (1200 B) frame; and what splicing saves against the
# copying path (parley-sn --tcp-forward splice | uring-splice | copy).
#
# Load: coturn's turnutils_uclient -T -y (client-to-client over TCP
# allocations: each client's data connection, the relay's connection
# to the other client's relayed address, and the other's data
# connection), so both servers face the same independent client. Every
# message crosses the server twice (out through one link's peer side,
# in through the other's), so relayed frames = 2 x messages received.
# Server CPU: /proc/PID/task/*/schedstat around the media phase (after
# the client's "Total connect time"), io_uring's and io-wq's threads
# included. Server on CPU 0, load on CPU 1; rounds alternate servers to
# spread the machine's noise. Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${1:?usage: bench/tcp-vs-coturn.sh BUILD_DIR [--quick]}" && pwd)
QUICK=${2:-}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
SN=$BUILD/src/sn/parley-sn

CLIENTS=${CLIENTS:-20}       # uclient sessions (-m)
MSGS=${MSGS:-1000}           # messages per session (-n)
INTERVAL=${INTERVAL:-5}      # ms between a session's messages (-z)
ROUNDS=${ROUNDS:-2}
SIZES=${SIZES:-"172 1200"}
SERVERS="parley parley-uring-splice parley-copy coturn"
if [ "$QUICK" = "--quick" ]; then CLIENTS=6 MSGS=100 ROUNDS=1; fi

. bench/lib.sh

declare -A CPU FRAMES LOSS
for size in $SIZES; do
	for r in $(seq 1 "$ROUNDS"); do
		for name in $SERVERS; do
			p=$(free_port)
			start_server "$name" "$p"
			log=$OUT/tcp-$name-$size.load.log
			taskset -c 1 turnutils_uclient -T -y -m "$CLIENTS" -n "$MSGS" -l "$size" -z "$INTERVAL" \
				-u bench -w bench -p "$p" 127.0.0.1 >"$log" 2>&1 &
			load=$!
			for _ in $(seq 1 600); do
				grep -q 'Total connect time' "$log" 2>/dev/null && break
				kill -0 "$load" 2>/dev/null || break
				sleep 0.1
			done
			before=$(cpu_ns "$SRV_PID")
			wait "$load" || true
			after=$(cpu_ns "$SRV_PID")
			recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$log" | tail -1 | cut -d= -f2)
			loss=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$log" | tail -1 |
				grep -o '([0-9.]*%)' | tr -d '()%')
			kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true
			k="$name/$size"
			CPU[$k]=$(( ${CPU[$k]:-0} + after - before ))
			FRAMES[$k]=$(( ${FRAMES[$k]:-0} + 2 * ${recv:-0} ))
			LOSS[$k]="${LOSS[$k]:-}${LOSS[$k]:+ }${loss:-?}"
			echo "size $size round $r $name: ${recv:-0} messages, server CPU $(( (after - before) / 1000000 )) ms, loss ${loss:-?}%"
		done
	done
done

per_frame() { awk -v c="$1" -v f="$2" 'BEGIN { if (f > 0) printf "%.2f", c / f / 1000; else print "nan" }'; }
per_kib() { awk -v c="$1" -v f="$2" -v s="$3" 'BEGIN { if (f > 0) printf "%.2f", c / (f * s / 1024) / 1000; else print "nan" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "nan" }'; }

json="{\"load\":{\"tool\":\"turnutils_uclient -T -y\",\"sessions\":$CLIENTS,\"messages\":$MSGS,\"interval_ms\":$INTERVAL,\"rounds\":$ROUNDS},\"sizes\":{"
{
	echo "# TCP allocations (RFC 6062): parley-sn vs coturn $(dpkg-query -W -f='${Version}' coturn 2>/dev/null)"
	echo
	echo "Load: turnutils_uclient -T -y, $CLIENTS sessions x $MSGS messages every $INTERVAL ms, $ROUNDS round(s)"
	echo "alternating; one relay thread on CPU 0, load on CPU 1. A frame is one message crossing the server once."
	echo
	echo "| frame | server | relayed frames | CPU µs/frame | CPU µs/KiB | loss % per round | vs coturn |"
	echo "| ---: | --- | ---: | ---: | ---: | --- | ---: |"
	first=1
	for size in $SIZES; do
		c=$(per_frame "${CPU[coturn/$size]}" "${FRAMES[coturn/$size]}")
		[ $first = 1 ] || json+=","
		first=0
		json+="\"$size\":{"
		sep=""
		for name in $SERVERS; do
			k="$name/$size"
			f=$(per_frame "${CPU[$k]}" "${FRAMES[$k]}")
			b=$(per_kib "${CPU[$k]}" "${FRAMES[$k]}" "$size")
			echo "| $size B | $name | ${FRAMES[$k]} | $f | $b | ${LOSS[$k]} | $(ratio "$f" "$c") |"
			json+="$sep\"$name\":{\"frames\":${FRAMES[$k]},\"cpu_ns\":${CPU[$k]},\"us_per_frame\":$f,\"us_per_kib\":$b}"
			sep=","
		done
		json+="}"
	done
	echo
	for size in $SIZES; do
		s=$(per_frame "${CPU[parley/$size]}" "${FRAMES[parley/$size]}")
		u=$(per_frame "${CPU[parley-uring-splice/$size]}" "${FRAMES[parley-uring-splice/$size]}")
		cp=$(per_frame "${CPU[parley-copy/$size]}" "${FRAMES[parley-copy/$size]}")
		c=$(per_frame "${CPU[coturn/$size]}" "${FRAMES[coturn/$size]}")
		echo "- $size B: parley-sn (splice) / coturn **$(ratio "$s" "$c")**; splice / copy $(ratio "$s" "$cp"); io_uring splice / copy $(ratio "$u" "$cp")"
	done
} >"$OUT/tcp.md"
cat "$OUT/tcp.md"
echo "$json}}" >"$OUT/tcp.json"
