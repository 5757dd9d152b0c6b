#!/usr/bin/env bash
# parley-sn's command line as a user meets it: --help, one clear line and
# exit 2 for each mistake, a clear failure (never a hang) for an address
# it cannot listen on, a Binding answer with the reflexive address, and a
# clean exit on SIGTERM.
. "$(dirname "$0")/lib.sh"
[ -x "$SN" ] || fail "parley-sn not built ($SN)"

note "--help"
timeout 5 "$SN" --help >"$TMP/help.out" 2>"$TMP/help.err"; rc=$?
[ $rc -eq 0 ] || fail "--help exited $rc"
head -1 "$TMP/help.out" | grep -q '^usage: parley-sn' || fail "--help printed no usage line"
for flag in --listen --user --auth-secret --relay-ports --allow-peer --metrics; do
	grep -q -- "$flag" "$TMP/help.out" || fail "--help does not mention $flag"
done
[ ! -s "$TMP/help.err" ] || fail "--help wrote to stderr"

note "--version"
timeout 5 "$SN" --version >"$TMP/version.out" 2>&1 || fail "--version failed"
grep -q '^parley-sn [0-9]' "$TMP/version.out" || fail "--version printed: $(cat "$TMP/version.out")"

# bad NAME ARGS...: exit 2, nothing on stdout, exactly one line on stderr
# that contains NAME.
bad() {
	local name=$1 rc lines; shift
	timeout 5 "$SN" "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"; rc=$?
	[ $rc -eq 2 ] || fail "'$*' exited $rc, expected 2"
	[ ! -s "$TMP/bad.out" ] || fail "'$*' wrote to stdout"
	lines=$(wc -l <"$TMP/bad.err")
	[ "$lines" -eq 1 ] || { cat "$TMP/bad.err"; fail "'$*' printed $lines lines, expected 1"; }
	grep -q -- "$name" "$TMP/bad.err" || fail "'$*': \"$(cat "$TMP/bad.err")\" does not name $name"
	note "$(cat "$TMP/bad.err")"
}

bad --bogus --bogus --user a:b
bad --workers --workers 0 --user a:b
bad --workers --user a:b --workers
bad --listen --listen nonsense --user a:b
bad --relay-ports --relay-ports 9-1 --user a:b
bad --allow-peer --allow-peer 1.2.3.4/99 --user a:b
bad --deny-peer --deny-peer nope --user a:b
bad --buffers --buffers 1000 --user a:b
bad --user --user nocolon
bad stray --user a:b stray
# No credentials at all: TURN without them would be an open relay.
bad --user --listen 127.0.0.1:3478

# A missing client or address skips only its own check, reported at the end.
skipped=()
start_sn sn --workers 2 --user alice:wonderland
if command -v turnutils_stunclient >/dev/null; then
	note "Binding with turnutils_stunclient"
	out=$(timeout 5 turnutils_stunclient -p "$SN_PORT" 127.0.0.1 2>&1) || fail "no Binding answer: $out"
	grep -q 'reflexive addr: 127\.0\.0\.1:[0-9]' <<<"$out" || fail "unexpected Binding answer: $out"
	[ "$(metric parley_sn_requests_total)" -gt 0 ] || fail "the Binding was not counted"
else
	skipped+=("turnutils_stunclient not installed (coturn)")
fi

note "SIGTERM"
stop_sn
grep -q ' error: ' "$TMP/sn.log" && { cat "$TMP/sn.log"; fail "errors logged during a clean run"; }

# An address that is not on this host: TEST-NET ranges, the first one
# this host does not have.
not_here=
for a in 192.0.2.1 198.51.100.1 203.0.113.1; do
	if ! ip -o addr 2>/dev/null | grep -qw "inet $a"; then not_here=$a; break; fi
done
[ -n "$not_here" ] || { skip "${skipped[*]:+${skipped[*]}; }every TEST-NET address is on this host"; }
note "--listen $not_here:3478 (not on this host)"
start=$(date +%s%N)
timeout 10 "$SN" --listen "$not_here:3478" --user a:b --workers 2 \
	>"$TMP/nohost.out" 2>"$TMP/nohost.err"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -ne 124 ] || fail "parley-sn hung on an address it cannot bind"
[ $rc -ne 0 ] || fail "parley-sn exited 0 without a listener"
# info lines may come first; the error must be one line naming the address.
errs=$(grep -v ' info: ' "$TMP/nohost.err")
n=$(grep -c . <<<"$errs")
[ "$n" -eq 1 ] || { cat "$TMP/nohost.err"; fail "$n error lines for an unusable --listen, expected 1"; }
grep -q "$not_here:3478" <<<"$errs" || fail "the error does not name $not_here:3478: $errs"
note "exit $rc after ${ms} ms: $errs"
[ ${#skipped[@]} -eq 0 ] || skip "${skipped[*]}"
