#!/usr/bin/env bash
# The login server and the client: accounts from the command line; a
# password login that registers the device and returns a certificate,
# TURN credentials parley-sn accepts, and the bootstrap list; a device
# login with no password; wrong passwords, unknown users, a pinned key
# that does not match, a server that is down, an expired certificate and
# a tampered one, each refused with one clear line; hostile bytes on the
# TLS port and the HTTP endpoints.
. "$(dirname "$0")/lib.sh"
LOGIN=$BUILD/src/login/parley-login
PARLEY=$BUILD/src/client/parley

STATE=$TMP/login-state
L_PORT=$(free_port) || fail "no free port"
L_HTTP=$(free_port) || fail "no free port"

note "accounts from the command line"
echo "wonderland1" | "$LOGIN" --state "$STATE" --add-user alice >"$TMP/add.log" 2>&1 ||
	{ cat "$TMP/add.log"; fail "--add-user failed"; }
printf 'looking-glass\n' >"$TMP/bob.pw"
"$LOGIN" --state "$STATE" --add-user bob --password-file "$TMP/bob.pw" >/dev/null || fail "--add-user bob"
echo "x" | "$LOGIN" --state "$STATE" --add-user carol 2>"$TMP/short.err" && fail "a 1-byte password was accepted"
grep -q "passwords 8-1024" "$TMP/short.err" || fail "short password: unclear error: $(cat "$TMP/short.err")"
echo "wonderland1" | "$LOGIN" --state "$STATE" --add-user alice 2>"$TMP/dup.err" && fail "duplicate user accepted"
grep -q "already exists" "$TMP/dup.err" || fail "duplicate user: unclear error"
echo "whatever123" | "$LOGIN" --state "$STATE" --add-user 'Bad/Name' 2>/dev/null && fail "bad name accepted"
KEY=$("$LOGIN" --state "$STATE" --show-key) || fail "--show-key"
[[ $KEY =~ ^[0-9a-f]{64}$ ]] || fail "--show-key printed '$KEY'"
[ "$(stat -c %a "$STATE/login.key")" = 600 ] || fail "server key file is not 0600"
"$LOGIN" --state "$STATE" --threads 0 2>"$TMP/bad.err"; [ $? -eq 2 ] || fail "bad flag: exit code"
grep -q -- "--threads '0'" "$TMP/bad.err" || fail "bad flag not named: $(cat "$TMP/bad.err")"

note "start a supernode with a TURN secret, and the login server handing out its credentials"
start_sn sn --workers 1 --auth-secret s3cret --allow-loopback-peers
"$LOGIN" --state "$STATE" --listen 127.0.0.1:$L_PORT --http 127.0.0.1:$L_HTTP \
	--bootstrap 127.0.0.1:$SN_PORT --bootstrap 127.0.0.2:3478 --auth-secret s3cret \
	--threads 2 >"$TMP/login.log" 2>&1 &
LOGIN_PID=$!
PIDS+=("$LOGIN_PID")
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$L_HTTP/version" >/dev/null 2>&1 && break
	kill -0 "$LOGIN_PID" 2>/dev/null || { cat "$TMP/login.log"; fail "parley-login exited at start"; }
	sleep 0.05
done
curl -sf "http://127.0.0.1:$L_HTTP/version" | grep -q '^parley-login ' || fail "/version"
[ "$(curl -sf "http://127.0.0.1:$L_HTTP/bootstrap" | wc -l)" -eq 2 ] || fail "/bootstrap"

A=$TMP/alice
note "first login on this device: with the password"
echo "wonderland1" | "$PARLEY" --state "$A" login alice --server 127.0.0.1:$L_PORT --server-key "$KEY" \
	>"$TMP/l1.out" 2>&1 || { cat "$TMP/l1.out"; fail "password login failed"; }
cat "$TMP/l1.out"
grep -q "password login" "$TMP/l1.out" || fail "not a password login"
[ "$(stat -c %a "$A/device.key")" = 600 ] || fail "device key is not 0600"
grep -q "127.0.0.1:$SN_PORT" "$A/hostcache" || fail "bootstrap list not in the host cache"

note "second login: the device key, no password (stdin closed)"
"$PARLEY" --state "$A" login alice </dev/null >"$TMP/l2.out" 2>&1 || { cat "$TMP/l2.out"; fail "device login failed"; }
cat "$TMP/l2.out"
grep -q "device login" "$TMP/l2.out" || fail "not a device login"
"$PARLEY" --state "$A" status >"$TMP/status.out" || fail "status after login"
grep -q "certificate     valid until" "$TMP/status.out" || fail "status: $(cat "$TMP/status.out")"

note "the TURN credentials from the login work on the supernode"
TUSER=$(sed -n 's/^user=//p' "$A/turn")
TPASS=$(sed -n 's/^password=//p' "$A/turn")
[ -n "$TUSER" ] && [ -n "$TPASS" ] || fail "no TURN credentials stored"
uclient "$TMP/turn.log" -y -c -n 20 -l 172 -m 1 -u "$TUSER" -w "$TPASS"
check_uclient "$TMP/turn.log" 20

note "refusals, one line each"
B=$TMP/bob
echo "wrong-password" | "$PARLEY" --state "$B" login bob --server 127.0.0.1:$L_PORT --server-key "$KEY" \
	2>"$TMP/wrong.err" && fail "wrong password accepted"
grep -q "wrong user name or password" "$TMP/wrong.err" || fail "wrong password: $(cat "$TMP/wrong.err")"
[ "$(wc -l <"$TMP/wrong.err")" -eq 1 ] || fail "wrong password: more than one line"
echo "wonderland1" | "$PARLEY" --state "$TMP/nobody" login nobody --server 127.0.0.1:$L_PORT --server-key "$KEY" \
	2>"$TMP/nobody.err" && fail "unknown user accepted"
grep -q "wrong user name or password" "$TMP/nobody.err" || fail "unknown user: $(cat "$TMP/nobody.err")"
OTHER=$(printf '%064d' 7)
echo "looking-glass" | "$PARLEY" --state "$B" login bob --server 127.0.0.1:$L_PORT --server-key "$OTHER" \
	2>"$TMP/pin.err" && fail "a server with another key was trusted"
grep -q "not the pinned one" "$TMP/pin.err" || fail "pin mismatch: $(cat "$TMP/pin.err")"
echo "looking-glass" | "$PARLEY" --state "$B" login bob --server 127.0.0.1:$L_PORT --server-key "$KEY" \
	>/dev/null 2>&1 || fail "bob's login failed"

note "a revoked device falls back to the password"
"$LOGIN" --state "$STATE" --del-user bob >/dev/null || fail "--del-user"
"$LOGIN" --state "$STATE" --add-user bob --password-file "$TMP/bob.pw" >/dev/null || fail "re-add bob"
"$PARLEY" --state "$B" login bob --password-file "$TMP/bob.pw" >"$TMP/re.out" 2>&1 ||
	{ cat "$TMP/re.out"; fail "fallback to the password failed"; }
grep -q "no longer registered" "$TMP/re.out" && grep -q "password login" "$TMP/re.out" ||
	fail "fallback: $(cat "$TMP/re.out")"

note "a tampered certificate is refused"
cp "$A/cert" "$TMP/cert.bak"
# One byte of the user name (the user stays valid: 'a' -> 'b'), then one
# byte of the signature: both must fail the signature check.
for off in 2 $(( $(stat -c %s "$A/cert") - 1 )); do
	cp "$TMP/cert.bak" "$A/cert"
	printf 'b' | dd of="$A/cert" bs=1 seek=$off conv=notrunc 2>/dev/null
	cmp -s "$A/cert" "$TMP/cert.bak" && printf 'c' | dd of="$A/cert" bs=1 seek=$off conv=notrunc 2>/dev/null
	"$PARLEY" --state "$A" status >/dev/null 2>"$TMP/tamper.err" && fail "tampered certificate (byte $off) accepted"
	grep -q "does not verify" "$TMP/tamper.err" || fail "tamper at $off: $(cat "$TMP/tamper.err")"
done
printf '\377\377' | dd of="$A/cert" bs=1 seek=0 conv=notrunc 2>/dev/null
"$PARLEY" --state "$A" status >/dev/null 2>"$TMP/tamper.err" && fail "garbage certificate accepted"
grep -q "malformed" "$TMP/tamper.err" || fail "garbage cert: $(cat "$TMP/tamper.err")"
cp "$TMP/cert.bak" "$A/cert"

note "hostile bytes on the TLS port and on HTTP do not hurt the server"
head -c 3000 /dev/urandom | timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$L_PORT" 2>/dev/null
printf 'GET /../../etc/passwd HTTP/1.0\r\n\r\n' | timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$L_HTTP" 2>/dev/null
# A client that opens a connection and says nothing is dropped at the
# I/O deadline, not kept forever.
exec 7<>/dev/tcp/127.0.0.1/$L_PORT
"$PARLEY" --state "$A" login alice </dev/null >/dev/null 2>&1 || fail "login failed while a silent client held a thread"
exec 7>&-
kill -0 "$LOGIN_PID" || fail "parley-login died"
curl -sf "http://127.0.0.1:$L_HTTP/metrics" >"$TMP/login.metrics" || fail "/metrics"
grep -q 'parley_login_password_logins_refused_total [1-9]' "$TMP/login.metrics" || fail "refusals not counted"
grep -q 'parley_login_device_logins_total [1-9]' "$TMP/login.metrics" || fail "device logins not counted"
grep -q 'parley_login_tls_failures_total [1-9]' "$TMP/login.metrics" || fail "TLS failures not counted"

note "guessing is rate-limited per source address"
limited=0
for i in $(seq 1 20); do
	echo "guess-$i-xxxx" | "$PARLEY" --state "$TMP/guess" login bob --server 127.0.0.1:$L_PORT \
		--server-key "$KEY" 2>"$TMP/guess.err" && fail "a guess was accepted"
	grep -q "too many failed logins" "$TMP/guess.err" && { limited=$i; break; }
done
[ $limited -gt 0 ] || fail "no rate limit after 20 guesses: $(cat "$TMP/guess.err")"
note "refused from guess $limited on"
curl -sf "http://127.0.0.1:$L_HTTP/metrics" | grep -q 'parley_login_rate_limited_total [1-9]' ||
	fail "rate-limited tries not counted"
# A device login needs no password: the limit does not lock it out.
"$PARLEY" --state "$A" login alice </dev/null >/dev/null 2>&1 || fail "device login refused by the password limit"

note "login server down: a clear error; the certificate still stands"
kill -TERM "$LOGIN_PID"
for _ in $(seq 1 100); do kill -0 "$LOGIN_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$LOGIN_PID" 2>/dev/null && fail "parley-login did not stop on SIGTERM"
wait "$LOGIN_PID"; [ $? -eq 0 ] || fail "parley-login exited non-zero on SIGTERM"
"$PARLEY" --state "$A" login alice </dev/null 2>"$TMP/down.err" && fail "login with the server down succeeded"
grep -q "cannot reach the login server" "$TMP/down.err" || fail "server down: $(cat "$TMP/down.err")"
"$PARLEY" --state "$A" status >/dev/null || fail "status failed with the login server down"

note "an expired certificate"
"$LOGIN" --state "$STATE" --listen 127.0.0.1:$L_PORT --cert-lifetime 1 --threads 1 >"$TMP/login2.log" 2>&1 &
LOGIN_PID=$!
PIDS+=("$LOGIN_PID")
for _ in $(seq 1 100); do ss -Hlnt "sport = :$L_PORT" | grep -q . && break; sleep 0.05; done
"$PARLEY" --state "$A" login alice </dev/null >/dev/null 2>&1 || fail "device login (short certificate)"
sleep 2
"$PARLEY" --state "$A" status >/dev/null 2>"$TMP/exp.err" && fail "expired certificate reported valid"
grep -q "certificate expired at" "$TMP/exp.err" || fail "expired: $(cat "$TMP/exp.err")"
stop_sn
note "login: all checks passed"
