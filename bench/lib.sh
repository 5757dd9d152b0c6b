# Shared by the bench scripts: how each server is started (one command
# line per server, so every comparison measures the same set-up), CPU and
# memory readings from /proc, free ports, and stopping what was started.
# The sourcing script sets OUT, SN (parley-sn) and, for the floor, FLOOR.

PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# cpu_ns PID: nanoseconds on CPU, all threads (io_uring's included).
cpu_ns() {
	local sum=0 ns t
	for t in /proc/"$1"/task/*/schedstat; do
		read -r ns _ 2>/dev/null <"$t" && sum=$((sum + ns))
	done
	echo "$sum"
}

# sample PID FILE: "t_ns cpu_ns" every 50 ms until PID exits. Builtins
# only (no fork per sample) and pinned to the load's CPU: a sampler that
# forks on the server's CPU shows up in the server's p99 latency.
sample() {
	local fd sum ns t
	taskset -cp 1 "$BASHPID" >/dev/null
	exec {fd}<> <(:)
	while kill -0 "$1" 2>/dev/null; do
		sum=0
		for t in /proc/"$1"/task/*/schedstat; do
			read -r ns _ 2>/dev/null <"$t" && sum=$((sum + ns))
		done
		echo "${EPOCHREALTIME/./}000 $sum"
		read -t 0.05 -u "$fd" || true
	done >"$2"
}

# cpu_between SAMPLES T0_NS SKIP_S DUR_S: CPU ns the sampled process spent
# from T0 + SKIP to T0 + SKIP + DUR (the media phase of a parley-load run).
cpu_between() {
	awk -v t0="$2" -v s="$3" -v d="$4" '
		BEGIN { a = t0 + s * 1e9; b = a + d * 1e9 }
		{ if ($1 <= a) ca = $2; if ($1 <= b) cb = $2 }
		END { printf "%.0f\n", (cb > ca ? cb - ca : 0) }' "$1"
}

# rss_kb PID: peak resident set (VmHWM).
rss_kb() { awk '/^VmHWM/ { print $2 }' /proc/"$1"/status; }

# free_port: a loopback port no socket uses, UDP or TCP, in any state.
# Below the kernel's ephemeral range (32768 and up by default), so the
# outgoing connections of an earlier run (TIME_WAIT, or still closing)
# cannot be holding it as their local port.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % 20000))
		if ! ss -Hanu "sport = :$p" | grep -q . && ! ss -Hant "sport = :$p" | grep -q .; then
			echo "$p"; return 0
		fi
	done
	return 1
}

# start_server NAME PORT: parley (or parley-splice, parley-uring-splice), coturn or floor on 127.0.0.1:PORT, one
# worker / relay thread pinned to CPU 0, credentials bench:bench in realm
# parley. Sets SRV_PID; logs to $OUT/server-NAME.log.
start_server() {
	local name=$1 p=$2
	case $name in
	parley | parley-splice | parley-uring-splice)
		# The suffix picks how TCP allocations are forwarded (the
		# comparison the TCP bench makes); plain parley copies.
		taskset -c 0 "$SN" --listen 127.0.0.1:$p --workers 1 --user bench:bench \
			--allow-loopback-peers --relay-ports 45000-49999 --max-allocations 20000 \
			$(case $name in parley-*) echo --tcp-forward "${name#parley-}" ;; esac) \
			>"$OUT/server-$name.log" 2>&1 &
		;;
	coturn)
		taskset -c 0 turnserver -n --no-cli --no-tls --no-dtls --listening-ip 127.0.0.1 \
			--listening-port $p --relay-ip 127.0.0.1 --min-port 50000 --max-port 54999 \
			--relay-threads 1 --lt-cred-mech --user bench:bench --realm parley \
			--allow-loopback-peers --no-stdout-log --log-file /dev/null \
			>"$OUT/server-$name.log" 2>&1 &
		;;
	floor)
		taskset -c 0 "$FLOOR" 127.0.0.1:$p >"$OUT/server-$name.log" 2>&1 &
		;;
	esac
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	sleep 0.5
	kill -0 "$SRV_PID" 2>/dev/null || { cat "$OUT/server-$name.log"; echo "bench: $name did not start" >&2; exit 1; }
}
