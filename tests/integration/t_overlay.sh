#!/usr/bin/env bash
# Supernodes find each other: five parley-sn join an overlay through one
# seed and each learns the other four; two are killed (SIGKILL: no
# goodbye) and every survivor marks them dead within seconds; one stops
# gracefully and the others see it leave; a restarted supernode rejoins.
# Hostile datagrams on the overlay port are counted and dropped.
. "$(dirname "$0")/lib.sh"

N=5
PERIOD=200
declare -a OPORT MPORT PID

# start NODE: parley-sn number NODE, joining through node 0's overlay port.
start() {
	local i=$1 seed=()
	[ "$i" -gt 0 ] && seed=(--peer 127.0.0.1:${OPORT[0]})
	"$SN" --listen 127.0.0.1:$(free_port) --metrics 127.0.0.1:${MPORT[$i]} --workers 1 \
		--user alice:wonderland --relay-ports $((40000 + i * 1000))-$((40999 + i * 1000)) \
		--overlay 127.0.0.1:${OPORT[$i]} --overlay-period $PERIOD "${seed[@]}" \
		>"$TMP/sn$i.log" 2>&1 &
	PID[$i]=$!
	PIDS+=("${PID[$i]}")
}

# members NODE STATE: how many others node NODE counts in STATE.
members() {
	curl -sf "http://127.0.0.1:${MPORT[$1]}/metrics" 2>/dev/null |
		awk -v m="parley_sn_overlay_members{state=\"$2\"}" '$1 == m { print $2 }'
}

# wait_for SECONDS CONDITION...: polls the condition every 0.1 s.
wait_for() {
	local limit=$1; shift
	for _ in $(seq 1 $((limit * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

all_see() { # STATE COUNT NODES...
	local state=$1 count=$2; shift 2
	for i in "$@"; do [ "$(members "$i" "$state")" = "$count" ] || return 1; done
}

for i in $(seq 0 $((N - 1))); do
	OPORT[$i]=$(free_port) || fail "no free port"
	MPORT[$i]=$(free_port) || fail "no free port"
done

note "bad flags are named"
"$SN" --user a:b --peer 127.0.0.1:1 2>"$TMP/flag.err"; [ $? -eq 2 ] || fail "--peer without --overlay accepted"
grep -q -- "--peer needs --overlay" "$TMP/flag.err" || fail "unclear: $(cat "$TMP/flag.err")"
"$SN" --user a:b --overlay 0.0.0.0:4000 2>"$TMP/flag.err"; [ $? -eq 2 ] || fail "wildcard --overlay accepted"

note "$N supernodes join through one seed"
t0=$(date +%s%N)
for i in $(seq 0 $((N - 1))); do start "$i"; done
wait_for 15 all_see alive $((N - 1)) $(seq 0 $((N - 1))) ||
	{ for i in $(seq 0 $((N - 1))); do echo "sn$i: $(members "$i" alive) alive"; tail -3 "$TMP/sn$i.log"; done
	  fail "full membership not reached"; }
note "full membership after $(( ($(date +%s%N) - t0) / 1000000 )) ms"

note "hostile datagrams on an overlay port"
if [ -x "$GARBAGE" ]; then
	"$GARBAGE" --target 127.0.0.1:${OPORT[1]} --count 500 >/dev/null 2>&1 || true
fi
head -c 4000 /dev/urandom >"$TMP/junk"
for _ in 1 2 3; do timeout 2 bash -c "cat '$TMP/junk' >/dev/udp/127.0.0.1/${OPORT[1]}" 2>/dev/null; done
printf '\xc7\x10\x00\x04\x00\x00\x00\x01\x00\x0f\x00' | timeout 2 bash -c "cat >/dev/udp/127.0.0.1/${OPORT[1]}"
sleep 0.5
kill -0 "${PID[1]}" || fail "sn1 died of hostile datagrams"
mal=$(curl -sf "http://127.0.0.1:${MPORT[1]}/metrics" | awk '$1 == "parley_sn_overlay_malformed_total" { print $2 }')
[ "${mal:-0}" -ge 1 ] || fail "malformed datagrams not counted"
all_see alive $((N - 1)) 1 || fail "hostile datagrams changed the membership"

note "kill two supernodes (SIGKILL: no goodbye)"
kill -KILL "${PID[3]}" "${PID[4]}"
{ wait "${PID[3]}" "${PID[4]}"; } 2>/dev/null
t0=$(date +%s%N)
wait_for 20 all_see dead 2 0 1 2 ||
	{ for i in 0 1 2; do echo "sn$i: $(members "$i" alive) alive, $(members "$i" suspect) suspect, $(members "$i" dead) dead"; done
	  fail "deaths not detected"; }
note "both deaths seen by every survivor after $(( ($(date +%s%N) - t0) / 1000000 )) ms (period $PERIOD ms)"
all_see alive 2 0 1 2 || fail "a survivor lost a live member"

note "a graceful stop is a leave"
kill -TERM "${PID[2]}"
wait "${PID[2]}"; [ $? -eq 0 ] || fail "sn2 exited non-zero on SIGTERM"
wait_for 10 all_see left 1 0 1 || fail "the leave was not seen: $(members 0 left) $(members 1 left)"
grep -q "overlay: supernode .* -> left" "$TMP/sn0.log" || fail "no leave in the log"

note "a restarted supernode rejoins (new id, same address)"
start 3
wait_for 15 all_see alive 2 0 1 3 || fail "restarted supernode did not rejoin: $(members 0 alive) $(members 3 alive)"
note "overlay: all checks passed"
