#!/usr/bin/env bash
# TCP allocations (RFC 6062): parley-sn's CPU per relayed frame and per
# relayed KiB against coturn's, in one run, at a voice-sized (172 B) and
# a video-sized (1200 B) frame; and what splicing saves (or costs)
# against the copying path (parley-sn --tcp-forward copy, the default |
# splice | uring-splice).
#
# Load: parley-load --tcp-allocations. Each call is two TCP allocations;
# one Connects to the other's relayed address, both bind data
# connections, and each leg sends RFC 4571-framed RTP-shaped packets at
# 50/s to the other: data connection -> link -> the server's own TCP
# connection between the two relayed addresses -> link -> data
# connection. Every frame crosses the server twice (out of one link, into
# the other), so relayed frames = 2 x frames received. Server CPU comes
# from /proc/PID/task/*/schedstat (io_uring's and io-wq's threads
# included) over the media phase only. One relay thread on CPU 0, the
# load and the sampler on CPU 1; servers alternate at each point to
# spread the machine's noise. Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=$(cd "${1:?usage: bench/tcp-vs-coturn.sh BUILD_DIR [--quick]}" && pwd)
QUICK=${2:-}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
SN=$BUILD/src/sn/parley-sn
LOAD=$BUILD/src/load/parley-load

CALLS=${CALLS:-"200 400"}
SIZES=${SIZES:-"172 1200"}
DURATION=${DURATION:-6}
SERVERS=${SERVERS:-"parley parley-splice parley-uring-splice coturn"}
if [ "$QUICK" = "--quick" ]; then CALLS=20; DURATION=2; fi

. bench/lib.sh

echo '[' >"$OUT/tcp.points.json"
first=1
for size in $SIZES; do
	for calls in $CALLS; do
		for name in $SERVERS; do
			p=$(free_port)
			start_server "$name" "$p"
			sample "$SRV_PID" "$OUT/cpu.samples" &
			sampler=$!
			t0=${EPOCHREALTIME/./}000
			rm -f "$OUT/load.json"
			taskset -c 1 "$LOAD" --target 127.0.0.1:$p --tcp-allocations --calls "$calls" \
				--size "$size" --duration "$DURATION" --ramp 1 --user bench --password bench \
				--quiet --json "$OUT/load.json" >"$OUT/tcp-$name-$size-$calls.log" 2>&1 || true
			rss=$(rss_kb "$SRV_PID")
			kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true
			kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
			if [ ! -s "$OUT/load.json" ]; then
				# A point that could not run is reported, not fatal.
				echo "$name size=$size calls=$calls: the load did not finish (see $OUT/tcp-$name-$size-$calls.log)"
				continue
			fi
			read -r setup dur recv loss p99 < <(jq -r \
				'[.setup_s, .duration_s, .received, .loss_pct, .latency_us.p99] | @tsv' "$OUT/load.json")
			cpu=$(cpu_between "$OUT/cpu.samples" "$t0" "$setup" "$dur")
			frames=$((2 * recv))
			per=$(awk -v c="$cpu" -v f="$frames" 'BEGIN { if (f > 0) printf "%.3f", c / f / 1000; else print "null" }')
			kib=$(awk -v c="$cpu" -v f="$frames" -v s="$size" 'BEGIN { if (f > 0) printf "%.3f", c / (f * s / 1024) / 1000; else print "null" }')
			printf '%-20s size=%-4s calls=%-4s cpu=%7s us/frame %7s us/KiB  loss=%6s%%  p99=%7s us  rss=%s KiB\n' \
				"$name" "$size" "$calls" "$per" "$kib" "$loss" "$p99" "$rss"
			[ $first = 1 ] || echo ',' >>"$OUT/tcp.points.json"
			first=0
			printf '{"server":"%s","size":%s,"calls":%s,"relayed_frames":%s,"cpu_ns":%s,"us_per_frame":%s,"us_per_kib":%s,"loss_pct":%s,"p99_us":%s,"peak_rss_kb":%s}' \
				"$name" "$size" "$calls" "$frames" "$cpu" "$per" "$kib" "$loss" "$p99" "${rss:-0}" \
				>>"$OUT/tcp.points.json"
		done
	done
done
echo ']' >>"$OUT/tcp.points.json"
jq . "$OUT/tcp.points.json" >"$OUT/tcp.json"
rm -f "$OUT/tcp.points.json" "$OUT/cpu.samples" "$OUT/load.json"

{
	echo "# TCP allocations (RFC 6062): parley-sn vs coturn $(dpkg-query -W -f='${Version}' coturn 2>/dev/null)"
	echo
	echo "parley-load --tcp-allocations, 50 frames/s per direction per call, ${DURATION} s of media per point;"
	echo "one relay thread on CPU 0, load on CPU 1. A relayed frame is one frame leaving the server once."
	echo "parley = IORING_OP_RECV/SEND through a 16 KiB area (the default); parley-splice = splice(2)"
	echo "after a readiness poll; parley-uring-splice = IORING_OP_SPLICE (io-wq)."
	echo
	echo "| frame | calls | server | relayed frames | CPU µs/frame | CPU µs/KiB | loss % | p99 µs | peak RSS KiB |"
	echo "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	jq -r '.[] | "| \(.size) B | \(.calls) | \(.server) | \(.relayed_frames) | \(.us_per_frame) | \(.us_per_kib) | \(.loss_pct) | \(.p99_us) | \(.peak_rss_kb) |"' "$OUT/tcp.json"
	echo
	echo "| frame | calls | parley / coturn | splice / copy | io_uring splice / copy |"
	echo "| ---: | ---: | ---: | ---: | ---: |"
	jq -r '
		def at(s; z; c): [.[] | select(.server == s and .size == z and .calls == c) | .us_per_frame][0];
		def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else "-" end;
		. as $all |
		([.[] | [.size, .calls]] | unique[] as [$z, $c] |
			"| \($z) B | \($c) | **\(ratio($all | at("parley"; $z; $c); $all | at("coturn"; $z; $c)))** | \(ratio($all | at("parley-splice"; $z; $c); $all | at("parley"; $z; $c))) | \(ratio($all | at("parley-uring-splice"; $z; $c); $all | at("parley"; $z; $c))) |")
	' "$OUT/tcp.json"
} >"$OUT/tcp.md"
cat "$OUT/tcp.md"
