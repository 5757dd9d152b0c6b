# Shared helpers for the integration tests: each test sources this with
# the build directory as $1, starts what it needs on loopback, and stops
# every process it started by PID when it exits (trap).
set -uo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SN=$BUILD/src/sn/parley-sn
GARBAGE=$BUILD/tests/stun-garbage
TMP=$(mktemp -d /tmp/parley-test.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }
note() { echo "-- $*"; }

# free_port: a loopback port no socket uses, UDP or TCP, in any state,
# and not handed out before in this test (a port picked for a process not
# started yet is not bound yet; $TMP/ports remembers it across the
# subshells free_port runs in). Below the kernel's ephemeral range (32768
# and up by default), so the outgoing connections of an earlier run
# (TIME_WAIT, or still closing) cannot be holding it as their local port.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % 20000))
		grep -qx "$p" "$TMP/ports" 2>/dev/null && continue
		if ! ss -Hanu "sport = :$p" | grep -q . && ! ss -Hant "sport = :$p" | grep -q .; then
			echo "$p" >>"$TMP/ports"
			echo "$p"; return 0
		fi
	done
	return 1
}

# start_sn NAME ARGS...: starts parley-sn with a fresh listen and metrics
# port (SN_PORT, SN_METRICS), waits until it answers, logs to $TMP/NAME.log.
start_sn() {
	local name=$1; shift
	SN_NAME=$name
	SN_PORT=$(free_port) || fail "no free port"
	SN_METRICS=$(free_port) || fail "no free port"
	"$SN" --listen 127.0.0.1:$SN_PORT --metrics 127.0.0.1:$SN_METRICS \
		--relay-ports 40000-44999 "$@" >"$TMP/$name.log" 2>&1 &
	SN_PID=$!
	PIDS+=("$SN_PID")
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$SN_METRICS/metrics" >/dev/null 2>&1 && return 0
		kill -0 "$SN_PID" 2>/dev/null || { cat "$TMP/$name.log"; fail "parley-sn exited at start"; }
		sleep 0.05
	done
	fail "parley-sn did not come up"
}

# stop_sn: SIGTERM, and the process must exit 0 within 5 s. The last
# metrics are kept in $TMP/NAME.metrics.
stop_sn() {
	curl -sf "http://127.0.0.1:$SN_METRICS/metrics" >"$TMP/$SN_NAME.metrics" 2>/dev/null
	kill -TERM "$SN_PID"
	for _ in $(seq 1 100); do
		kill -0 "$SN_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$SN_PID" 2>/dev/null && fail "parley-sn did not stop on SIGTERM"
	wait "$SN_PID"; local rc=$?
	[ $rc -eq 0 ] || fail "parley-sn exited $rc on SIGTERM"
}

# metric NAME [LABELS]: the server's total for a metric, e.g.
# metric parley_sn_dropped_total 'reason="truncated"'.
metric() {
	local body
	body=$(curl -sf "http://127.0.0.1:$SN_METRICS/metrics") || fail "metrics endpoint down"
	if [ $# -gt 1 ]; then
		awk -v m="$1{$2}" '$1 == m { print $2 }' <<<"$body"
	else
		awk -v m="$1" '$1 == m { print $2 }' <<<"$body"
	fi
}

# uclient LOG ARGS...: coturn's turnutils_uclient against our server.
uclient() {
	local log=$1; shift
	timeout 60 turnutils_uclient -p "$SN_PORT" "$@" 127.0.0.1 >"$log" 2>&1
}

# check_uclient LOG MIN_MSGS: sent == received >= MIN_MSGS and 0% loss.
check_uclient() {
	local log=$1 min=$2 sent recv
	sent=$(grep -o 'tot_send_msgs=[0-9]*' "$log" | tail -1 | cut -d= -f2)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$log" | tail -1 | cut -d= -f2)
	[ -n "$sent" ] && [ -n "$recv" ] || { tail -20 "$log"; fail "uclient printed no totals"; }
	grep -q 'Total lost packets 0 (0.000000%)' "$log" || { tail -5 "$log"; fail "uclient saw loss"; }
	[ "$sent" -ge "$min" ] || fail "uclient sent $sent < $min"
	[ "$recv" -eq "$sent" ] || fail "uclient received $recv of $sent"
	note "uclient: $recv/$sent messages, 0% loss"
}
