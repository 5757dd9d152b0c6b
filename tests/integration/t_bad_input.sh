#!/usr/bin/env bash
# Hostile input does not stop the relay. While coturn's client relays
# through parley-sn, stun-garbage sends every kind of malformed
# STUN/TURN/ChannelData over UDP, then TCP connections with broken
# framing. The client must see no loss, each kind must be counted under
# its drop reason (so it was recognised, not just survived), and the
# server must still answer a Binding request and stop cleanly.
. "$(dirname "$0")/lib.sh"
command -v turnutils_uclient >/dev/null || skip "turnutils_uclient not installed (coturn)"
command -v turnutils_stunclient >/dev/null || skip "turnutils_stunclient not installed (coturn)"
[ -x "$GARBAGE" ] || fail "stun-garbage not built ($GARBAGE)"

UDP_GARBAGE=5200   # 400 rounds of its 13 kinds, ~0.3 s at its 20k/s cap
TCP_GARBAGE=28     # 4 connections of each of its 7 kinds
seed=${GARBAGE_SEED:-$RANDOM}

start_sn sn --workers 2 --user alice:wonderland --allow-loopback-peers

note "uclient relaying in the background (10 clients, 300 messages each)"
timeout 60 turnutils_uclient -p "$SN_PORT" -y -c -n 300 -l 172 -m 10 -u alice -w wonderland \
	127.0.0.1 >"$TMP/udp.log" 2>&1 &
uc=$!
PIDS+=("$uc")

# The garbage must land while packets are being relayed, not before the
# allocations exist nor after the client is done.
for _ in $(seq 1 100); do
	[ "$(metric parley_sn_relayed_to_peer_total)" -gt 0 ] && break
	sleep 0.05
done
[ "$(metric parley_sn_relayed_to_peer_total)" -gt 0 ] || fail "uclient relayed nothing within 5 s"

note "UDP garbage: $UDP_GARBAGE datagrams, seed $seed"
"$GARBAGE" --target "127.0.0.1:$SN_PORT" --count "$UDP_GARBAGE" --seed "$seed" \
	>"$TMP/garbage-udp.log" 2>&1 || { cat "$TMP/garbage-udp.log"; fail "stun-garbage (udp) failed"; }
cat "$TMP/garbage-udp.log"
# Its Allocates with a forged nonce are answered (438) even mid-storm.
answered=$(grep -o 'errors_answered=[0-9]*' "$TMP/garbage-udp.log" | cut -d= -f2)
[ "${answered:-0}" -gt 0 ] || fail "the server answered none of the forged Allocates"

note "TCP garbage: $TCP_GARBAGE connections"
"$GARBAGE" --target "127.0.0.1:$SN_PORT" --tcp --count "$TCP_GARBAGE" --seed "$seed" \
	>"$TMP/garbage-tcp.log" 2>&1 || { cat "$TMP/garbage-tcp.log"; fail "stun-garbage (tcp) failed"; }
cat "$TMP/garbage-tcp.log"
grep -q "closed_by_server=$TCP_GARBAGE kept_open=0" "$TMP/garbage-tcp.log" ||
	fail "the server kept a broken TCP connection open"

wait "$uc"; rc=$?
[ $rc -eq 0 ] || { tail -20 "$TMP/udp.log"; fail "uclient exited $rc"; }
check_uclient "$TMP/udp.log" 3000
kill -0 "$SN_PID" 2>/dev/null || fail "parley-sn died"

rx=$(metric parley_sn_rx_packets_total)
[ "$rx" -ge "$UDP_GARBAGE" ] || fail "server received $rx packets, fewer than the garbage sent"
for reason in stun_short stun_length stun_attribute stun_fingerprint not_stun_or_channel \
	channel_data_malformed no_allocation truncated unexpected_message tcp_framing; do
	n=$(metric parley_sn_dropped_total "reason=\"$reason\"")
	note "dropped{reason=\"$reason\"} = ${n:-missing}"
	[ -n "$n" ] || fail "no parley_sn_dropped_total{reason=\"$reason\"} line"
	[ "$n" -gt 0 ] || fail "garbage that should be dropped as $reason was not counted"
done
# The relay was never short of buffers because of it.
n=$(metric parley_sn_dropped_total 'reason="no_rx_buffers"')
[ "$n" -eq 0 ] || fail "$n packets dropped for lack of receive buffers"

# Every broken TCP connection was closed and its slot freed.
for _ in $(seq 1 40); do
	[ "$(metric parley_sn_tcp_connections)" -eq 0 ] && break
	sleep 0.05
done
[ "$(metric parley_sn_tcp_connections)" -eq 0 ] || fail "TCP connections still open"
[ "$(metric parley_sn_tcp_connections_closed_total)" -ge "$TCP_GARBAGE" ] ||
	fail "fewer TCP connections closed than opened"

note "Binding after the storm"
out=$(timeout 5 turnutils_stunclient -p "$SN_PORT" 127.0.0.1 2>&1) || fail "no Binding answer: $out"
grep -q 'reflexive addr: 127\.0\.0\.1:[0-9]' <<<"$out" || fail "unexpected Binding answer: $out"

# Malformed input is logged at debug level at most, never per packet.
lines=$(wc -l <"$TMP/sn.log")
[ "$lines" -lt 20 ] || { head -20 "$TMP/sn.log"; fail "server logged $lines lines for bad input"; }
stop_sn
