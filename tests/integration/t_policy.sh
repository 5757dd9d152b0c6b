#!/usr/bin/env bash
# The peer policy seen from coturn's client (its -y peers are other
# allocations' relayed addresses, on 127.0.0.1): loopback peers are
# refused by default (403, counted, nothing relayed), --allow-peer opens a
# prefix, and --deny-peer wins over --allow-loopback-peers.
. "$(dirname "$0")/lib.sh"
command -v turnutils_uclient >/dev/null || skip "turnutils_uclient not installed (coturn)"

# forbidden LOG RC: the client was refused with 403 and nothing moved.
forbidden() {
	local log=$1 rc=$2
	[ "$rc" -ne 0 ] || { tail -5 "$log"; fail "uclient succeeded towards a forbidden peer"; }
	grep -q 'error 403' "$log" || { tail -5 "$log"; fail "no 403 Forbidden"; }
	[ "$(metric parley_sn_peers_refused_total)" -gt 0 ] || fail "no refused peer counted"
	[ "$(metric parley_sn_relayed_to_peer_total)" -eq 0 ] || fail "relayed to a forbidden peer"
	[ "$(metric parley_sn_relayed_to_client_total)" -eq 0 ] || fail "relayed from a forbidden peer"
}

note "default policy: loopback peers refused"
start_sn default --workers 2 --user alice:wonderland
uclient "$TMP/default.log" -y -c -n 10 -l 172 -m 1 -u alice -w wonderland; rc=$?
forbidden "$TMP/default.log" $rc
# The allocations themselves were fine: only the peer was refused.
[ "$(metric parley_sn_allocations_created_total)" -gt 0 ] || fail "no allocation made"
stop_sn

note "--allow-peer 127.0.0.0/8 opens it"
start_sn allow --workers 2 --user alice:wonderland --allow-peer 127.0.0.0/8
uclient "$TMP/allow.log" -y -c -n 50 -l 172 -m 2 -u alice -w wonderland
check_uclient "$TMP/allow.log" 100
[ "$(metric parley_sn_peers_refused_total)" -eq 0 ] || fail "a peer was refused"
stop_sn

note "--allow-peer for another prefix leaves loopback refused"
start_sn other --workers 2 --user alice:wonderland --allow-peer 10.0.0.0/8
uclient "$TMP/other.log" -y -c -n 10 -l 172 -m 1 -u alice -w wonderland; rc=$?
forbidden "$TMP/other.log" $rc
stop_sn

note "--deny-peer 127.0.0.0/8 wins over --allow-loopback-peers"
start_sn deny --workers 2 --user alice:wonderland --allow-loopback-peers --deny-peer 127.0.0.0/8
uclient "$TMP/deny.log" -y -c -n 10 -l 172 -m 1 -u alice -w wonderland; rc=$?
forbidden "$TMP/deny.log" $rc
stop_sn

note "--deny-peer of a narrower prefix leaves 127.0.0.1 allowed"
start_sn narrow --workers 2 --user alice:wonderland --allow-loopback-peers --deny-peer 127.0.0.2/32
uclient "$TMP/narrow.log" -y -c -n 10 -l 172 -m 1 -u alice -w wonderland
check_uclient "$TMP/narrow.log" 10
stop_sn
