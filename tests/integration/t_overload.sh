#!/usr/bin/env bash
# Past saturation the relay drops what waited too long instead of
# delivering it late. The server is frozen (SIGSTOP) for 300 ms while 20
# calls flow; the packets that queued meanwhile are older than
# --max-queue-delay when it resumes. With the limit at 20 ms they are
# dropped and counted, and no packet reaches a client 300 ms late; with the
# limit off (the control run) the freeze shows up in the latency, which is
# what makes this test able to fail.
. "$(dirname "$0")/lib.sh"
LOAD=$BUILD/src/load/parley-load
command -v jq >/dev/null || skip "jq not installed"

# frozen_run LIMIT_MS: writes "max_latency_us stale_drops" to $TMP/result.LIMIT_MS
frozen_run() {
	start_sn "sn$1" --workers 1 --user load:secret --allow-loopback-peers --max-queue-delay "$1"
	"$LOAD" --target 127.0.0.1:$SN_PORT --user load --password secret --calls 20 --duration 3 \
		--quiet --json "$TMP/run$1.json" >"$TMP/run$1.out" 2>&1 &
	local load=$!
	sleep 1.5
	kill -STOP "$SN_PID"
	sleep 0.3
	kill -CONT "$SN_PID"
	wait "$load" || { cat "$TMP/run$1.out"; fail "parley-load failed"; }
	echo "$(jq -r '.latency_us.max' "$TMP/run$1.json") $(metric parley_sn_dropped_total 'reason="queued_too_long"')" \
		>"$TMP/result.$1"
	stop_sn
}

frozen_run 20
frozen_run 0
read -r max_on drops_on <"$TMP/result.20"
read -r max_off drops_off <"$TMP/result.0"
note "limit 20 ms: max one-way latency ${max_on} us, ${drops_on} stale datagrams dropped"
note "no limit:    max one-way latency ${max_off} us, ${drops_off} dropped"

[ "${drops_on%.*}" -gt 0 ] || fail "nothing counted as queued_too_long with a 20 ms limit"
[ "${drops_off%.*}" -eq 0 ] || fail "stale drops counted with the limit off"
awk -v m="$max_off" 'BEGIN { exit !(m >= 200000) }' ||
	fail "control run: the 300 ms freeze did not show (max ${max_off} us): the test cannot tell"
awk -v m="$max_on" 'BEGIN { exit !(m < 100000) }' ||
	fail "with a 20 ms limit a packet still arrived ${max_on} us late"
