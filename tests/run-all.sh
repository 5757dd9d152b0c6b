#!/usr/bin/env bash
# Runs every test against one build directory: the Criterion unit suites
# (through meson), then each integration script. Prints one closing line
# "N passed, N failed" and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: tests/run-all.sh BUILD_DIR}
passed=0 failed=0 skipped=0
failures=()

if meson test -C "$BUILD" --suite unit --print-errorlogs >"$BUILD/unit.log" 2>&1; then
	n=$(grep -cE '^ *[0-9]+/[0-9]+ .* OK ' "$BUILD/unit.log")
	passed=$((passed + n))
	echo "unit: $n suites passed"
else
	cat "$BUILD/unit.log"
	n_ok=$(grep -cE '^ *[0-9]+/[0-9]+ .* OK ' "$BUILD/unit.log")
	n_bad=$(grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR)' "$BUILD/unit.log")
	passed=$((passed + n_ok)); failed=$((failed + (n_bad > 0 ? n_bad : 1)))
	failures+=("unit suites")
fi

for t in tests/integration/t_*.sh; do
	name=$(basename "$t" .sh)
	log="$BUILD/$name.log"
	start=$(date +%s)
	timeout 300 "$t" "$BUILD" >"$log" 2>&1
	rc=$?
	dur=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1)); echo "ok   $name (${dur}s)"
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1)); echo "skip $name: $(tail -1 "$log")"
	else
		failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name (rc=$rc, ${dur}s)"
		sed 's/^/    /' "$log" | tail -40
	fi
done

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
