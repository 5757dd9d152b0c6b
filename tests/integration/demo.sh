#!/usr/bin/env bash
# ./run demo: a supernode on loopback carries relayed calls driven by
# coturn's independent TURN client, users log in to the login server, and
# the demo reports what the server saw.
. "$(dirname "$0")/lib.sh"
command -v turnutils_uclient >/dev/null || fail "turnutils_uclient missing (apt-get install coturn)"

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "1. start a supernode (parley-sn) on 127.0.0.1, 2 workers"
OV0=$(free_port) || fail "no free port"
start_sn demo --workers 2 --user alice:wonderland --auth-secret demo-secret --allow-loopback-peers \
	--software parley-sn --overlay 127.0.0.1:$OV0 --overlay-period 200
echo "   listening on 127.0.0.1:$SN_PORT (UDP+TCP), metrics on http://127.0.0.1:$SN_METRICS/metrics"
sed 's/^/   /' "$TMP/demo.log"

say "2. STUN: what address does the supernode see? (turnutils_stunclient)"
timeout 10 turnutils_stunclient -p "$SN_PORT" 127.0.0.1 2>&1 | grep -m1 -i 'reflexive' | sed 's/^[0-9]*: *: */   /'

say "2a. two more supernodes join the overlay through the first; one then dies"
declare -a XPID
for i in 1 2; do
	ov=$(free_port) || fail "no free port"
	"$SN" --listen 127.0.0.1:$(free_port) --workers 1 --user x:yyyyyyyy --relay-ports 45000-49999 \
		--overlay 127.0.0.1:$ov --overlay-period 200 --peer 127.0.0.1:$OV0 >"$TMP/extra$i.log" 2>&1 &
	XPID[$i]=$!
	PIDS+=("${XPID[$i]}")
done
overlay_members() { curl -sf "http://127.0.0.1:$SN_METRICS/metrics" | awk -v s="$1" '$1 == "parley_sn_overlay_members{state=\"" s "\"}" { print $2 }'; }
for _ in $(seq 1 50); do [ "$(overlay_members alive)" = 2 ] && break; sleep 0.1; done
echo "   the first supernode sees $(overlay_members alive) others alive"
kill -KILL "${XPID[2]}"; { wait "${XPID[2]}"; } 2>/dev/null
for _ in $(seq 1 100); do [ "$(overlay_members dead)" = 1 ] && break; sleep 0.1; done
echo "   after one was killed: $(overlay_members alive) alive, $(overlay_members dead) dead"
grep -h "overlay: supernode .* -> " "$TMP/demo.log" | sed 's/^.*overlay: /   /'

say "2b. the login server: accounts, then alice logs in (password once, then her device key)"
LOGIN=$BUILD/src/login/parley-login
PARLEY=$BUILD/src/client/parley
L_PORT=$(free_port) || fail "no free port"
echo "wonderland1" | "$LOGIN" --state "$TMP/login" --add-user alice | sed 's/^/   /'
echo "looking-glass" | "$LOGIN" --state "$TMP/login" --add-user bob | sed 's/^/   /'
"$LOGIN" --state "$TMP/login" --listen 127.0.0.1:$L_PORT --bootstrap 127.0.0.1:$SN_PORT \
	--auth-secret demo-secret --threads 2 >"$TMP/login.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do ss -Hlnt "sport = :$L_PORT" | grep -q . && break; sleep 0.05; done
KEY=$("$LOGIN" --state "$TMP/login" --show-key)
echo "   login server on 127.0.0.1:$L_PORT (TLS 1.3), key ${KEY:0:16}..."
echo "wonderland1" | "$PARLEY" --state "$TMP/alice" login alice --server 127.0.0.1:$L_PORT --server-key "$KEY" |
	sed 's/^/   /'
"$PARLEY" --state "$TMP/alice" login alice </dev/null | sed 's/^/   /'
"$PARLEY" --state "$TMP/alice" status | sed 's/^/   /'
echo wrong-password | "$PARLEY" --state "$TMP/bob" login bob --server 127.0.0.1:$L_PORT --server-key "$KEY" 2>&1 |
	sed 's/^/   (bob, wrong password) /'
TUSER=$(sed -n 's/^user=//p' "$TMP/alice/turn")
TPASS=$(sed -n 's/^password=//p' "$TMP/alice/turn")

calls() {
	local title=$1 log=$2; shift 2
	say "$title"
	uclient "$log" "$@" -u alice -w wonderland -l 172 -z 20
	local sent recv lost rtt jit
	sent=$(grep -o 'tot_send_msgs=[0-9]*' "$log" | tail -1 | cut -d= -f2)
	recv=$(grep -o 'tot_recv_msgs=[0-9]*' "$log" | tail -1 | cut -d= -f2)
	lost=$(grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$log" | tail -1)
	rtt=$(grep -o 'Average round trip delay [0-9.]* ms' "$log" | tail -1)
	jit=$(grep -o 'Average jitter [0-9.]* ms' "$log" | tail -1)
	echo "   sent $sent, received $recv; ${lost:-no loss report}; ${rtt:-}; ${jit:-}"
}

calls "3. five calls over UDP, media on TURN channels (172-byte packets every 20 ms)" \
	"$TMP/c1.log" -y -c -m 5 -n 250
say "3b. a call with the TURN credentials alice got from the login server ($TUSER)"
uclient "$TMP/c0.log" -y -c -m 1 -n 100 -l 172 -z 20 -u "$TUSER" -w "$TPASS"
grep -o 'Total lost packets [0-9]* ([0-9.]*%)' "$TMP/c0.log" | tail -1 | sed 's/^/   /'
calls "4. five calls over UDP, media in Send/Data indications" "$TMP/c2.log" -s -y -c -m 5 -n 250
calls "5. five calls from clients that reach the supernode over TCP only" "$TMP/c3.log" -t -y -c -m 5 -n 250
calls "6. five calls on TCP allocations (RFC 6062: Connect, ConnectionBind)" \
	"$TMP/c5.log" -T -y -m 5 -n 250

say "7. the default policy: without --allow-loopback-peers, loopback peers are refused"
stop_sn
start_sn demo2 --workers 1 --user alice:wonderland
uclient "$TMP/c4.log" -y -c -m 1 -n 10 -u alice -w wonderland
grep -m1 -o 'error 403 (Forbidden)' "$TMP/c4.log" | sed 's/^/   channel bind: /' ||
	echo "   (no 403 seen: unexpected)"
echo "   peers refused by policy: $(metric parley_sn_peers_refused_total)"
stop_sn

say "8. what the first supernode counted"
awk '/relayed|allocations_created|requests_total|tcp_connections_accepted|tcp_peer_bound|tcp_handovers|auth_failures/ && !/worker=/ && !/^#/ { printf "   %-48s %s\n", $1, $2 }' \
	"$TMP/demo.metrics" 2>/dev/null || true
sed -n '/relayed .* packets/s/^.*info: /   /p' "$TMP/demo.log"
echo
