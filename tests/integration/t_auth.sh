#!/usr/bin/env bash
# Authentication and quotas seen from coturn's client: a wrong password
# or a wrong shared secret gets no allocation (and is counted), the right
# ones relay; time-limited credentials (coturn's "TURN REST API" -W mode,
# username "EXPIRY:alice") relay with no loss; a per-user quota refuses
# the allocation over it with 486.
. "$(dirname "$0")/lib.sh"
command -v turnutils_uclient >/dev/null || skip "turnutils_uclient not installed (coturn)"

# refused LOG: the client failed, relayed nothing, and the server made no
# allocation for it.
refused() {
	local log=$1 rc=$2
	[ "$rc" -ne 0 ] || { tail -5 "$log"; fail "uclient succeeded with bad credentials"; }
	! grep -q 'tot_recv_msgs=[1-9]' "$log" || fail "uclient received relayed data"
	[ "$(metric parley_sn_allocations_created_total)" -eq 0 ] || fail "an allocation was made"
	[ "$(metric parley_sn_relayed_to_peer_total)" -eq 0 ] || fail "something was relayed"
	[ "$(metric parley_sn_auth_failures_total)" -gt 0 ] || fail "no authentication failure counted"
}

# The failed-authentication limiter is not under test here: a high rate
# keeps it from dropping the later attempts from the same 127.0.0.1.
note "static user, wrong password"
start_sn static --workers 2 --user alice:wonderland --allow-loopback-peers --auth-fail-rate 100
uclient "$TMP/wrong.log" -y -c -n 10 -l 172 -m 1 -u alice -w not-the-password; rc=$?
refused "$TMP/wrong.log" $rc
note "$(metric parley_sn_auth_failures_total) authentication failures counted"

note "static user, unknown name"
failures=$(metric parley_sn_auth_failures_total)
uclient "$TMP/unknown.log" -y -c -n 10 -l 172 -m 1 -u mallory -w wonderland; rc=$?
refused "$TMP/unknown.log" $rc
[ "$(metric parley_sn_auth_failures_total)" -gt "$failures" ] || fail "unknown user not counted"

note "static user, right password"
uclient "$TMP/right.log" -y -c -n 50 -l 172 -m 2 -u alice -w wonderland
check_uclient "$TMP/right.log" 100
[ "$(metric parley_sn_dropped_total 'reason="auth_rate_limited"')" -eq 0 ] ||
	fail "the limiter interfered"
stop_sn

note "shared secret, right secret"
start_sn secret --workers 2 --auth-secret s3cret --allow-loopback-peers
uclient "$TMP/secret.log" -y -c -n 50 -l 172 -m 4 -W s3cret -u alice
check_uclient "$TMP/secret.log" 200
[ "$(metric parley_sn_auth_failures_total)" -eq 0 ] || fail "the right secret had failures"

note "shared secret, wrong secret"
created=$(metric parley_sn_allocations_created_total)
relayed=$(metric parley_sn_relayed_to_peer_total)
uclient "$TMP/badsecret.log" -y -c -n 10 -l 172 -m 1 -W not-the-secret -u alice; rc=$?
[ $rc -ne 0 ] || { tail -5 "$TMP/badsecret.log"; fail "uclient succeeded with a wrong secret"; }
[ "$(metric parley_sn_allocations_created_total)" -eq "$created" ] || fail "wrong secret got an allocation"
[ "$(metric parley_sn_relayed_to_peer_total)" -eq "$relayed" ] || fail "wrong secret relayed"
[ "$(metric parley_sn_auth_failures_total)" -gt 0 ] || fail "wrong secret not counted"
stop_sn

# uclient -y -m 1 makes three allocations as one user (its client, the
# peer it talks to, and a third); a quota of 1 stops it at the second.
note "per-user quota 1"
start_sn quota --workers 2 --user alice:wonderland --allow-loopback-peers --max-allocations-per-user 1
uclient "$TMP/quota.log" -y -c -n 10 -l 172 -m 1 -u alice -w wonderland; rc=$?
[ $rc -ne 0 ] || fail "uclient succeeded over its quota"
grep -q 'error 486' "$TMP/quota.log" || { tail -5 "$TMP/quota.log"; fail "no 486 Allocation Quota Reached"; }
[ "$(metric parley_sn_allocations_created_total)" -eq 1 ] ||
	fail "$(metric parley_sn_allocations_created_total) allocations made under a quota of 1"
[ "$(metric parley_sn_auth_failures_total)" -eq 0 ] || fail "a quota refusal counted as an auth failure"
stop_sn

note "per-user quota 3: the same client fits"
start_sn quota3 --workers 2 --user alice:wonderland --allow-loopback-peers --max-allocations-per-user 3
uclient "$TMP/quota3.log" -y -c -n 10 -l 172 -m 1 -u alice -w wonderland
check_uclient "$TMP/quota3.log" 10
! grep -q 'error 486' "$TMP/quota3.log" || fail "486 under a quota that fits"
stop_sn
