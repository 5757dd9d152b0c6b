#!/usr/bin/env bash
# coturn's own test client relays through parley-sn with no loss: UDP with
# channels, UDP with Send indications, TCP to the server; IPv4, 172-byte
# messages (a 20 ms Opus frame with RTP and SRTP overhead); and once more
# through a wildcard (0.0.0.0) listener.
. "$(dirname "$0")/lib.sh"
command -v turnutils_uclient >/dev/null || skip "turnutils_uclient not installed (coturn)"

start_sn sn --workers 2 --user alice:wonderland --allow-loopback-peers

note "UDP, channels"
uclient "$TMP/udp.log" -y -c -n 200 -l 172 -m 10 -u alice -w wonderland
check_uclient "$TMP/udp.log" 2000

note "UDP, Send/Data indications"
uclient "$TMP/send.log" -s -y -c -n 200 -l 172 -m 10 -u alice -w wonderland
check_uclient "$TMP/send.log" 2000

note "TCP to the server, channels"
uclient "$TMP/tcp.log" -t -y -c -n 200 -l 172 -m 10 -u alice -w wonderland
check_uclient "$TMP/tcp.log" 2000

note "TCP to the server, Send/Data indications"
uclient "$TMP/tcps.log" -t -s -y -c -n 100 -l 172 -m 5 -u alice -w wonderland
check_uclient "$TMP/tcps.log" 500

peer=$(metric parley_sn_relayed_to_peer_total)
client=$(metric parley_sn_relayed_to_client_total)
note "server relayed $peer packets to peers and $client to clients"
[ "$peer" -ge 6500 ] && [ "$client" -ge 6500 ] || fail "server counters too low: $peer/$client"
[ "$(metric parley_sn_tcp_connections_accepted_total)" -gt 0 ] || fail "no TCP connection counted"
stop_sn

# A wildcard listener learns the address each client reached from
# IP_PKTINFO, answers from it and relays from it. Nothing leaves loopback:
# the wildcard only binds, the clients still talk to 127.0.0.1.
WILD=$(free_port) || fail "no free port"
start_sn wild --workers 2 --user alice:wonderland --allow-loopback-peers --listen 0.0.0.0:$WILD
note "UDP through a 0.0.0.0 listener"
timeout 60 turnutils_uclient -p "$WILD" -y -c -n 100 -l 172 -m 4 -u alice -w wonderland 127.0.0.1 \
	>"$TMP/wild.log" 2>&1
check_uclient "$TMP/wild.log" 400
stop_sn
