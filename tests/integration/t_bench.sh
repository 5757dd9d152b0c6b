#!/usr/bin/env bash
# The benchmark tools run (briefly, --quick) and write well-formed reports:
# micro-benchmarks, the parley/coturn/floor sweep driven by parley-load,
# the turnutils_uclient cross-check, the TCP-allocation comparison and the
# mixer kernels, the conference rooms and the global index.
# Timings are reported, never asserted.
. "$(dirname "$0")/lib.sh"
command -v turnserver >/dev/null || skip "coturn's turnserver not installed"
command -v jq >/dev/null || skip "jq not installed"

export OUT=$TMP/bench
"$ROOT/bench/run.sh" "$BUILD" --quick >"$TMP/bench.log" 2>&1 || { tail -30 "$TMP/bench.log"; fail "bench/run.sh --quick failed"; }

# micro: every operation has a positive ns/op
jq -e 'length >= 6 and all(.[]; (.ns_per_op | type) == "number" and .ns_per_op > 0)' \
	"$OUT/micro.json" >/dev/null || fail "micro.json malformed: $(cat "$OUT/micro.json")"

# sweep: each server at each load, with numbers where numbers belong
jq -e '
	([.[].server] | unique) == ["coturn", "floor", "parley"] and
	all(.[]; (.cpu_us_per_pkt | type) == "number" and .cpu_us_per_pkt > 0 and
		(.loss_pct | type) == "number" and (.p99_us | type) == "number" and
		.received > 0 and .peak_rss_kb > 0)' "$OUT/relay.json" >/dev/null ||
	fail "relay.json malformed: $(cat "$OUT/relay.json")"
grep -q '^| parley |' "$OUT/relay.md" || fail "relay.md has no parley row"

# cross-check
jq -e '.parley.relayed > 0 and .coturn.relayed > 0 and (.ratio_parley_over_coturn | type) == "number"' \
	"$OUT/uclient-crosscheck.json" >/dev/null || fail "uclient-crosscheck.json malformed"

# TCP allocations: every server at each size, relayed frames with a cost
jq -e '([.[].server] | unique) == ["coturn", "parley", "parley-splice", "parley-uring-splice"] and
	([.[].size] | unique) == [172, 1200] and
	all(.[]; .relayed_frames > 0 and (.us_per_frame | type) == "number" and .us_per_frame > 0 and
		(.loss_pct | type) == "number")' "$OUT/tcp.json" >/dev/null ||
	fail "tcp.json malformed: $(cat "$OUT/tcp.json")"
grep -q 'parley / coturn' "$OUT/tcp.md" || fail "tcp.md has no comparison"

# mixer kernels: the scalar baseline and at least one other table, each kernel measured
jq -e '([.results[].isa] | unique | contains(["scalar"])) and
	([.results[].isa] | unique | length) >= 2 and
	all(.results[]; .samples_per_s > 0 and .vs_scalar > 0)' "$OUT/mix.json" >/dev/null ||
	fail "mix.json malformed"

# rooms: every configuration measured, with both ratios
jq -e '(.results | length) >= 1 and all(.results[]; .parley_per_core > 0 and .baseline_per_core > 0 and
	(.vs_baseline | type) == "number" and (.vs_codec_bound | type) == "number")' \
	"$OUT/room.json" >/dev/null || fail "room.json malformed"

# global index: lookups/s for one thread and more
jq -e '(.rows | length) >= 1 and .rows[0].threads == 1 and all(.rows[]; .lookups_per_s > 0)' \
	"$OUT/gidx.json" >/dev/null || fail "gidx.json malformed: $(cat "$OUT/gidx.json")"

if command -v gnuplot >/dev/null; then
	for f in relay-loss.png relay-p99.png; do
		[ "$(head -c 4 "$OUT/$f" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "$f is not a PNG"
	done
fi
note "bench reports well-formed: $(ls "$OUT" | tr '\n' ' ')"
