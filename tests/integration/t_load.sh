#!/usr/bin/env bash
# parley-load against parley-sn on loopback: relay mode over UDP with
# channels, over TCP, and with Send indications (20 calls, 3 s each: no
# loss, every packet sent comes back, and the server's own counters agree);
# stun mode; and the command line refusing what it must (a bad flag, a
# target that is not on loopback).
. "$(dirname "$0")/lib.sh"
LOAD=$BUILD/src/load/parley-load
[ -x "$LOAD" ] || fail "$LOAD not built"

# jget FILE KEY[.KEY]: a value of a --json report.
jget() {
	jq -er ".$2" "$1" || fail "no $2 in $1"
}

start_sn sn --workers 2 --user load:secret --allow-loopback-peers

# relay NAME ARGS...: 20 calls for 3 s; exit 0, no loss, received == sent,
# and the server relayed at least as many packets each way.
relay() {
	local name=$1; shift
	local json=$TMP/$name.json peer0 client0 peer1 client1 sent recv lost up rc
	peer0=$(metric parley_sn_relayed_to_peer_total)
	client0=$(metric parley_sn_relayed_to_client_total)
	timeout 30 "$LOAD" --target 127.0.0.1:$SN_PORT --user load --password secret \
		--calls 20 --duration 3 --json "$json" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		cat "$TMP/$name.out" "$TMP/$name.err"
		fail "$name: parley-load exited $rc"
	fi
	sent=$(jget "$json" sent); recv=$(jget "$json" received)
	lost=$(jget "$json" lost); up=$(jget "$json" calls_up)
	[ "$up" -eq 20 ] || { cat "$TMP/$name.out"; fail "$name: $up of 20 calls up"; }
	[ "$sent" -gt 0 ] || fail "$name: nothing sent"
	[ "$lost" -eq 0 ] || { cat "$TMP/$name.out"; fail "$name: $lost packets lost"; }
	[ "$recv" -eq "$sent" ] || fail "$name: received $recv of $sent"
	peer1=$(metric parley_sn_relayed_to_peer_total)
	client1=$(metric parley_sn_relayed_to_client_total)
	[ $((peer1 - peer0)) -ge "$sent" ] ||
		fail "$name: server relayed $((peer1 - peer0)) to peers, load sent $sent"
	[ $((client1 - client0)) -ge "$recv" ] ||
		fail "$name: server relayed $((client1 - client0)) to clients, load received $recv"
	note "$name: 20 calls, $recv/$sent packets, 0 lost, p50 $(jget "$json" latency_us.p50) us"
}

note "relay mode, UDP, channels"
relay udp
note "relay mode, TCP to the server, channels"
relay tcp --transport tcp
note "relay mode, UDP, Send indications"
relay send --send-indications

note "stun mode, 2000 requests/s for 2 s"
timeout 20 "$LOAD" --target 127.0.0.1:$SN_PORT --mode stun --rate 2000 --duration 2 \
	--json "$TMP/stun.json" >"$TMP/stun.out" 2>&1
rc=$?
[ $rc -eq 0 ] || { cat "$TMP/stun.out"; fail "stun mode exited $rc"; }
answers=$(jget "$TMP/stun.json" answers)
[ "$answers" -gt 0 ] || fail "stun mode: no answers"
note "stun mode: $answers answers"

note "usage errors"
"$LOAD" --target 127.0.0.1:$SN_PORT --user load:secret --no-such-flag >"$TMP/bad.out" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "a bad flag exited $rc, expected 2"
grep -q -- '--no-such-flag' "$TMP/bad.out" || fail "bad flag not named: $(cat "$TMP/bad.out")"
"$LOAD" --target 127.0.0.1:$SN_PORT --user load:secret --pps 0 >"$TMP/bad.out" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "--pps 0 exited $rc, expected 2"
# 192.0.2.1 is TEST-NET-1: nothing would answer, and nothing may be sent.
"$LOAD" --target 192.0.2.1:3478 --user load:secret --calls 1 --duration 1 >"$TMP/remote.out" 2>&1
rc=$?
[ $rc -eq 2 ] || fail "a non-loopback target exited $rc, expected 2"
grep -q 'allow-remote' "$TMP/remote.out" || fail "no hint in the refusal: $(cat "$TMP/remote.out")"

stop_sn
