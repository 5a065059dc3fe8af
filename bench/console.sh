#!/bin/bash
# Throughput with the operator console open and following Live, versus
# headless: the same binary, config and wrk load, once with --headless and
# once in a tmux pane (80x24) where the console takes the screen and draws
# every request's line. Prints a Markdown table and the ratio.
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
rps() { wrk -t2 -c"$CONN" -d"${DUR}s" "http://127.0.0.1:$1/_ping" | awk '/Requests\/sec/ {print $2}'; }

headless_run() {
	local p
	p=$(port)
	cfg "$p"
	"$BIN" --headless --config "$DIR/cfg.yaml" --socket "$SOCK" >"$DIR/headless.log" 2>&1 </dev/null &
	PID=$!
	wait_up "$p" || { cat "$DIR/headless.log"; exit 1; }
	rps "$p"
	kill "$PID"
	wait "$PID" || true
	PID=""
}

console_run() {
	local p screen
	p=$(port)
	cfg "$p"
	tmux -S "$TMUX_SOCK" new-session -d -s bench -x 80 -y 24 "$BIN --config $DIR/cfg.yaml --socket $SOCK"
	wait_up "$p" || { tmux -S "$TMUX_SOCK" capture-pane -p -t bench >&2; exit 1; }
	rps "$p"
	# Proof that the console was really drawing Live during the run.
	screen=$(tmux -S "$TMUX_SOCK" capture-pane -p -t bench)
	grep -Eq 'GET +/_ping +200 ALLOW' <<<"$screen" || { echo "no Live lines:" >&2; echo "$screen" >&2; exit 1; }
	grep -o 'DROPPED[^]]*' <<<"$screen" >>"$DIR/drops" || true
	tmux -S "$TMUX_SOCK" send-keys -t bench q y
	for _ in $(seq 100); do tmux -S "$TMUX_SOCK" has-session -t bench 2>/dev/null || break; sleep 0.1; done
}

# Alternating rounds, because a shared machine's load drifts: the median
# ratio of neighbouring runs is the figure, every run is printed.
ROUNDS=${ROUNDS:-3}
RATIOS=()
ROWS=()
for r in $(seq "$ROUNDS"); do
	h=$(headless_run)
	c=$(console_run)
	ROWS+=("| $r | $h | $c | $(awk -v h="$h" -v c="$c" 'BEGIN { printf "%.1f %%", 100 * c / h }') |")
	RATIOS+=("$(awk -v h="$h" -v c="$c" 'BEGIN { printf "%.1f", 100 * c / h }')")
done

echo "machine: $(nproc) cores, $(uname -r); wrk -t2 -c$CONN -d${DUR}s GET /_ping; binary $BIN"
echo
echo "| round | headless requests/s | console open, following Live | console / headless |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
printf '\nmedian console / headless: %s %%\n' "$(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
echo "console drop badges: $(cat "$DIR/drops" 2>/dev/null | tr '\n' ' ' || true)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
