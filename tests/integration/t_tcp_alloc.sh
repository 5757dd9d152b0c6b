#!/usr/bin/env bash
# TURN TCP allocations (RFC 6062) relay streams correctly and safely.
# tcp-alloc plays client and peer through parley-sn and proves, with the
# default forwarding engine (copy) and again with splice and uring-splice:
# - links made either way (Connect; a peer connecting to the relayed
#   address, announced by ConnectionAttempt) carry every byte, both ways
#   at once, in order;
# - a slow reader slows the writer (back-pressure) while the server's
#   memory and its buffered-bytes gauge stay bounded;
# - a half-close crosses the relay once drained and the other direction
#   keeps working; a reset on one side resets the other;
# - the error paths answer as RFC 6062 says (447 connect failure, 446
#   duplicate Connect, 400 unknown CONNECTION-ID, 400 TCP over UDP), a
#   peer without a permission is refused unannounced, broken framing
#   closes the control connection;
# - the counters say so, and every link, connection and allocation is
#   freed afterwards, also when a client is killed mid-transfer;
# and coturn's turnutils_uclient -T relays through it without loss.
. "$(dirname "$0")/lib.sh"
TCP_ALLOC=${TCP_ALLOC:-$BUILD/tests/tcp-alloc}
[ -x "$TCP_ALLOC" ] || fail "tcp-alloc not built ($TCP_ALLOC)"
SEED=${TCP_ALLOC_SEED:-$RANDOM}
LINK_MAX_HELD=$((2 * 65536))   # a link holds at most one 64 KiB pipe per direction
SLOW_BYTES=$((64 << 20))       # tcp-alloc's slow-* default
# A relay that queued what it read would grow by most of SLOW_BYTES; one
# that forwards with stop-and-wait grows by a few pages.
RSS_GROWTH_MAX_KB=$((16 * 1024))
stale=""                       # engines whose buffered gauge stayed up, for the end

# ta NAME SCENARIO [ARGS...]: one tcp-alloc run against the current server;
# prints its last step.
ta() {
	local name=$1 scenario=$2; shift 2
	"$TCP_ALLOC" --server "127.0.0.1:$SN_PORT" --user alice:wonderland --seed "$SEED" \
		--scenario "$scenario" "$@" >"$TMP/$name.log" 2>&1 ||
		{ cat "$TMP/$name.log"; fail "tcp-alloc --scenario $scenario${*:+ $*} (seed $SEED)"; }
	note "$name: $(grep -v '\] OK$' "$TMP/$name.log" | tail -1 |
		sed 's/^tcp-alloc: [^:]*: \[ *[0-9.]* ms\] //')"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$SN_PID/status"
}

# Per worker: buffered bytes must fit the worker's open links (one link's
# worth for a worker with none: the gauge is refreshed every 100 ms).
# Prints "BUFFERED LINKS BAD" summed over the workers.
sample_links() {
	curl -sf "http://127.0.0.1:$SN_METRICS/metrics" | awk -v max="$LINK_MAX_HELD" '
		/^parley_sn_tcp_peer_buffered_bytes\{worker=/ { split($1, a, "\""); buf[a[2]] = $2 }
		/^parley_sn_tcp_peer_connections\{worker=/ { split($1, a, "\""); lk[a[2]] = $2 }
		END {
			tb = 0; tl = 0; bad = 0
			for (w in buf) {
				l = lk[w] > 1 ? lk[w] : 1
				if (buf[w] > max * l)
					bad = 1
				tb += buf[w]; tl += lk[w]
			}
			print tb, tl, bad
		}'
}

# slow_sampled NAME: slow-peer while the server's RSS and buffered-bytes
# gauge are sampled; fails when either grows past its bound.
slow_sampled() {
	local name=$1 rss0 rss max_rss=0 max_buf=0 n=0 pid buf links bad
	rss0=$(rss_kb)
	"$TCP_ALLOC" --server "127.0.0.1:$SN_PORT" --user alice:wonderland --seed "$SEED" \
		--scenario slow-peer --timeout 30 >"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	while kill -0 "$pid" 2>/dev/null; do
		sleep 0.5
		rss=$(rss_kb)
		read -r buf links bad < <(sample_links)
		[ "${bad:-1}" -eq 0 ] ||
			fail "$name: $buf bytes buffered with $links links open (at most $LINK_MAX_HELD per link)"
		[ $((rss - rss0)) -le $RSS_GROWTH_MAX_KB ] ||
			fail "$name: server RSS grew from $rss0 kB to $rss kB"
		[ "$rss" -gt "$max_rss" ] && max_rss=$rss
		[ "$buf" -gt "$max_buf" ] && max_buf=$buf
		n=$((n + 1))
	done
	wait "$pid" || { cat "$TMP/$name.log"; fail "tcp-alloc --scenario slow-peer (seed $SEED)"; }
	note "$name: $(grep 'writer blocked' "$TMP/$name.log" | sed 's/^tcp-alloc: [^:]*: \[ *[0-9.]* ms\] //')"
	note "$name: $n samples: server RSS $rss0 kB at start, at most $max_rss kB" \
		"(+$((max_rss - rss0)) kB); buffered at most $max_buf bytes"
}

# settle NAME WANT: polls (5 s at most) until metric NAME is WANT; prints
# its last value.
settle() {
	local v
	for _ in $(seq 1 100); do
		v=$(metric "$1")
		[ "$v" = "$2" ] && break
		sleep 0.05
	done
	echo "$v"
}

# Everything a run opened is closed: links, connections, allocations.
all_closed() {
	local n
	for m in tcp_peer_connections tcp_connections allocations; do
		n=$(settle "parley_sn_$m" 0)
		[ "$n" = 0 ] || fail "parley_sn_$m is still $n after every client closed"
	done
}

# killed NAME: a client killed by SIGKILL in the middle of a transfer;
# its link must be freed. Prints the buffered-bytes gauge afterwards.
killed() {
	local name=$1 before pid
	before=$(metric parley_sn_tcp_relayed_to_peer_bytes_total)
	"$TCP_ALLOC" --server "127.0.0.1:$SN_PORT" --user alice:wonderland --seed "$SEED" \
		--scenario slow-peer --timeout 30 >"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 1 100); do
		[ "$(metric parley_sn_tcp_relayed_to_peer_bytes_total)" -gt $((before + (4 << 20))) ] && break
		sleep 0.05
	done
	[ "$(metric parley_sn_tcp_relayed_to_peer_bytes_total)" -gt $((before + (4 << 20))) ] ||
		{ cat "$TMP/$name.log"; fail "$name: the transfer did not start"; }
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	all_closed
	note "$name: client killed mid-transfer; link, connections and allocation freed"
}

# ---- copy engine (the default) ---------------------------------------------
start_sn sn --workers 2 --user alice:wonderland --allow-loopback-peers
note "seed $SEED; copy engine (the default)"

ta echo echo
ta echo-peer echo --initiator peer
slow_sampled slow-peer
ta slow-client slow-client --timeout 30
ta half-close-client half-close-client
ta half-close-peer half-close-peer
ta reset-client reset-client
ta reset-peer reset-peer
ta connect-refused connect-refused
ta connect-twice connect-twice
ta bad-id bad-id
ta no-permission no-permission
ta broken-frame broken-frame
ta udp-alloc udp-alloc

if command -v turnutils_uclient >/dev/null; then
	note "turnutils_uclient -T, 172-byte messages"
	uclient "$TMP/uclient-172.log" -T -y -n 200 -l 172 -m 5 -u alice -w wonderland
	check_uclient "$TMP/uclient-172.log" 1000
	note "turnutils_uclient -T, 1200-byte messages"
	uclient "$TMP/uclient-1200.log" -T -y -n 200 -l 1200 -m 5 -u alice -w wonderland
	check_uclient "$TMP/uclient-1200.log" 1000
else
	note "turnutils_uclient not installed (coturn): its TCP-relay runs skipped"
fi

all_closed
bound=$(metric parley_sn_tcp_peer_bound_total)
failed=$(metric parley_sn_tcp_peer_connect_failures_total)
refused=$(metric parley_sn_tcp_peer_refused_total)
resets=$(metric parley_sn_tcp_peer_reset_total)
framing=$(metric parley_sn_dropped_total 'reason="tcp_framing"')
up=$(metric parley_sn_tcp_relayed_to_peer_bytes_total)
down=$(metric parley_sn_tcp_relayed_to_client_bytes_total)
note "counters: bound=$bound connect_failures=$failed refused=$refused resets=$resets" \
	"tcp_framing=$framing handovers=$(metric parley_sn_tcp_handovers_total)" \
	"to_peer=$up to_client=$down bytes"
[ "$bound" -gt 0 ] || fail "no link counted as bound"
[ "$failed" -ge 1 ] || fail "connect-refused was not counted as a connect failure"
[ "$refused" -ge 2 ] || fail "no-permission's two refused peers counted $refused times"
[ "$resets" -ge 2 ] || fail "reset-client and reset-peer counted $resets resets"
[ "${framing:-0}" -ge 1 ] || fail "broken-frame not counted as dropped{reason=\"tcp_framing\"}"
# Each direction carried at least echo's 1 MiB and one slow run.
[ "$up" -ge $((SLOW_BYTES + (1 << 20))) ] || fail "only $up bytes counted to peers"
[ "$down" -ge $((SLOW_BYTES + (1 << 20))) ] || fail "only $down bytes counted to clients"

killed killed
held=$(settle parley_sn_tcp_peer_buffered_bytes 0)
[ "$held" = 0 ] || stale+=" copy=$held"
stop_sn

# ---- the other engines ---------------------------------------------------------
for engine in splice uring-splice; do
	if ! "$SN" --help 2>&1 | grep -q -- "$engine"; then
		note "no --tcp-forward $engine in this build: skipped"
		continue
	fi
	start_sn "$engine" --workers 2 --user alice:wonderland --allow-loopback-peers \
		--tcp-forward "$engine"
	note "$engine engine"
	ta "$engine-echo" echo
	slow_sampled "$engine-slow-peer"
	ta "$engine-half-close-client" half-close-client
	ta "$engine-half-close-peer" half-close-peer
	ta "$engine-reset-client" reset-client
	ta "$engine-reset-peer" reset-peer
	all_closed
	[ "$(metric parley_sn_tcp_peer_reset_total)" -ge 2 ] || fail "$engine engine: resets not counted"
	killed "$engine-killed"
	held=$(settle parley_sn_tcp_peer_buffered_bytes 0)
	[ "$held" = 0 ] || stale+=" $engine=$held"
	stop_sn
done

# Last, so that everything above has been seen: with no link open, no
# byte can be buffered.
[ -z "$stale" ] || fail "parley_sn_tcp_peer_buffered_bytes with no link open:$stale"
