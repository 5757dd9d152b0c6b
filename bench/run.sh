#!/usr/bin/env bash
# ./run bench: every benchmark, reports in bench/out/ (Markdown, JSON, PNG).
#   1. micro-benchmarks: parser, integrity, lookups (ns/op)
#   2. relay sweep: parley-sn vs coturn vs the raw floor, driven by parley-load
#   3. cross-check at one load with coturn's turnutils_uclient
#   4. TCP allocations (RFC 6062): splice vs copy vs coturn, per frame and byte
#   5. mixer kernels: samples/s of each instruction set against scalar
#   6. global index: lookups/s on one reader and on every CPU
#   7. conference rooms: participants per core vs a per-listener baseline
#      and vs the codec-bound limit
# `./run bench --quick` runs each briefly (the test suite uses it to check
# that the tools run and their output is well-formed).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: bench/run.sh BUILD_DIR [--quick]}
QUICK=${2:-}
export OUT=${OUT:-bench/out}
mkdir -p "$OUT"

echo "== micro-benchmarks"
"$BUILD/bench/parley-micro" $QUICK --json "$OUT/micro.json" | tee "$OUT/micro.md"
echo
echo "== relay sweep (parley-load)"
bench/relay-vs-coturn.sh "$BUILD" $QUICK
echo
echo "== cross-check (turnutils_uclient)"
bench/uclient-crosscheck.sh "$BUILD" $QUICK
echo
echo "== TCP allocations (parley-load --tcp-allocations)"
bench/tcp-vs-coturn.sh "$BUILD" $QUICK
echo
echo "== mixer kernels"
mix_s=10; [ "$QUICK" = "--quick" ] && mix_s=1
"$BUILD/bench/parley-mix-bench" --seconds "$mix_s" --json "$OUT/mix.json" | tee "$OUT/mix.md"
echo
echo "== conference rooms (Opus, top-3 talkers, encode once)"
"$BUILD/bench/parley-room-bench" $QUICK --json "$OUT/room.json" | tee "$OUT/room.md"
echo
echo "== global index (lock-free shards)"
"$BUILD/bench/parley-gidx-bench" $QUICK --json "$OUT/gidx.json" | tee "$OUT/gidx.md"
echo
echo "reports in $OUT/"
