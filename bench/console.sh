#!/bin/bash
# Throughput with the operator console open and following Live, versus
# headless: the same binary, config and wrk load, once with --headless and
# once in a tmux pane (80x24) where the console takes the screen and draws
# every request's line. Prints a Markdown table and the ratio.
# Both runs start the proxy in a tmux pane of the same server, so both are
# session leaders in an autogroup of their own (kernel.sched_autogroup_enabled
# is 1 here): a headless proxy started from this script instead shared the
# script's autogroup with wrk, and the two modes were scheduled differently
# on the loaded machine, not only by the console's own work
# (HEADLESS_IN_PANE=0 starts it the earlier way, for comparison).
# The CPU columns: the proxy's user+system time per request (all threads),
# the console thread's time (the main thread, /proc/PID/task/PID/schedstat)
# and the tmux server's, during the wrk run.
# Usage: bench/console.sh [seconds] [connections] [binary]   (needs dockerd, wrk, tmux)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
DUR=${1:-10}
CONN=${2:-16}
BIN=${3:-build/docker-policy-proxy}
SOCK=${DOCKER_SOCKET:-/var/run/docker.sock}

command -v wrk >/dev/null || dpp_install wrk
command -v tmux >/dev/null || dpp_install tmux
[ -x "$BIN" ] || { echo "no $BIN (build first)" >&2; exit 1; }
dpp_docker_answers || { echo "no dockerd answers on $SOCK" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/dpp-bench.XXXXXX")
TMUX_SOCK="$DIR/tmux.sock"
PID=""
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cfg() { # PORT: one rule walked by every request, so the trace and counters are exercised
	cat >"$DIR/cfg.yaml" <<EOF
global:
  port: $1
  log_level: warn
  log_file: $DIR/console.log
auth:
  type: none
rules:
  - name: no-privileged
    action: deny
    conditions:
      - {field: body.HostConfig.Privileged, operator: equals, value: true}
EOF
}
up() { curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$1/_ping"; }
wait_up() { for _ in $(seq 100); do up "$1" && return 0; sleep 0.1; done; return 1; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
ns() { awk '{print $1}' "$1" 2>/dev/null || echo 0; }
# PORT PID TMUX_PID: prints "requests/s proxy-us-per-request console-ms tmux-ms".
measure() {
	local out t0 t1 m0 m1 x0 x1 n hz
	hz=$(getconf CLK_TCK)
	t0=$(ticks "$2"); m0=$(ns "/proc/$2/task/$2/schedstat"); x0=$(ns "/proc/$3/schedstat")
	out=$(wrk -t2 -c"$CONN" -d"${DUR}s" "http://127.0.0.1:$1/_ping")
	t1=$(ticks "$2"); m1=$(ns "/proc/$2/task/$2/schedstat"); x1=$(ns "/proc/$3/schedstat")
	n=$(awk '/requests in/ {print $1}' <<<"$out")
	awk -v r="$(awk '/Requests\/sec/ {print $2}' <<<"$out")" -v n="$n" -v t="$((t1 - t0))" -v hz="$hz" \
		-v m="$((m1 - m0))" -v x="$((x1 - x0))" \
		'BEGIN { printf "%s %.1f %.0f %.0f\n", r, t * 1e6 / hz / n, m / 1e6, x / 1e6 }'
}
# Starts the proxy in the pane (exec: the pane's process is the proxy).
pane() {
	tmux -S "$TMUX_SOCK" new-session -d -s bench -x 80 -y 24 "exec $BIN $1 --config $DIR/cfg.yaml --socket $SOCK 2>>$DIR/pane.log"
	PID=$(tmux -S "$TMUX_SOCK" display -p -t bench '#{pane_pid}')
	TPID=$(tmux -S "$TMUX_SOCK" display -p -t bench '#{pid}')
}
pane_gone() { for _ in $(seq 100); do tmux -S "$TMUX_SOCK" has-session -t bench 2>/dev/null || break; sleep 0.1; done; }

headless_run() {
	local p
	p=$(port)
	cfg "$p"
	if [ "${HEADLESS_IN_PANE:-1}" = 0 ]; then # the earlier way, for comparison
		"$BIN" --headless --config "$DIR/cfg.yaml" --socket "$SOCK" 2>>"$DIR/pane.log" >/dev/null </dev/null &
		PID=$!
		TPID=$PID
	else
		pane --headless
	fi
	wait_up "$p" || { cat "$DIR/pane.log" >&2; exit 1; }
	measure "$p" "$PID" "$TPID"
	kill "$PID"
	if [ "${HEADLESS_IN_PANE:-1}" = 0 ]; then wait "$PID" || true; else pane_gone; fi
	PID=""
}

console_run() {
	local p screen
	p=$(port)
	cfg "$p"
	pane ""
	wait_up "$p" || { tmux -S "$TMUX_SOCK" capture-pane -p -t bench >&2; exit 1; }
	measure "$p" "$PID" "$TPID"
	# Proof that the console was really drawing Live during the run.
	screen=$(tmux -S "$TMUX_SOCK" capture-pane -p -t bench)
	grep -Eq 'GET +/_ping +200 ALLOW' <<<"$screen" || { echo "no Live lines:" >&2; echo "$screen" >&2; exit 1; }
	grep -o 'DROPPED[^]]*' <<<"$screen" >>"$DIR/drops" || true
	tmux -S "$TMUX_SOCK" send-keys -t bench q y
	pane_gone
	PID=""
}

# Alternating rounds, because a shared machine's load drifts: the median
# ratio of neighbouring runs is the figure, every run is printed.
ROUNDS=${ROUNDS:-3}
RATIOS=()
ROWS=()
for r in $(seq "$ROUNDS"); do
	read -r h hus _ _ < <(headless_run)
	read -r c cus cms tms < <(console_run)
	ROWS+=("| $r | $h | $c | $(awk -v h="$h" -v c="$c" 'BEGIN { printf "%.1f %%", 100 * c / h }') | $hus | $cus | $cms | $tms |")
	RATIOS+=("$(awk -v h="$h" -v c="$c" 'BEGIN { printf "%.1f", 100 * c / h }')")
done

echo "machine: $(nproc) cores, $(uname -r); wrk -t2 -c$CONN -d${DUR}s GET /_ping; binary $BIN"
echo
echo "| round | headless requests/s | console open, following Live | console / headless | headless proxy CPU us/request | console open proxy CPU us/request | console thread CPU ms | tmux server CPU ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
printf '\nmedian console / headless: %s %%\n' "$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
echo "console drop badges: $(cat "$DIR/drops" 2>/dev/null | tr '\n' ' ' || true)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
