#!/bin/bash
# Small-request throughput and latency: wrk through docker-policy-proxy versus
# the same dockerd through socat (a minimal TCP->Unix relay: wrk cannot speak
# to a Unix socket itself). Prints a Markdown table for README.
# Usage: bench/wrk.sh [seconds] [connections]   (needs a running dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
DUR=${1:-10}
CONN=${2:-16}
PROXY_PORT=23901
SOCAT_PORT=23902
SOCK=${DOCKER_SOCKET:-/var/run/docker.sock}

dpp_install wrk socat
[ -x build/docker-policy-proxy ] || { cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }
dpp_docker_answers || { echo "no dockerd answers on $SOCK" >&2; exit 1; }

build/docker-policy-proxy --headless --port $PROXY_PORT --socket "$SOCK" --log-level warn &
PROXY=$!
socat TCP-LISTEN:$SOCAT_PORT,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$SOCK" &
SOCAT=$!
trap 'kill $PROXY $SOCAT 2>/dev/null; wait 2>/dev/null' EXIT
sleep 1

run() { # name url
	local out rps p50 p99
	out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$2")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p50=$(awk '$1=="50%" {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {print $2}' <<<"$out")
	printf '| %s | %s | %s | %s |\n' "$1" "$rps" "$p50" "$p99"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); dockerd $(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?'); wrk -t2 -c$CONN -d${DUR}s"
echo
echo "| path | requests/s | p50 | p99 |"
echo "| --- | --- | --- | --- |"
run "GET /_ping via socat (reference)" "http://127.0.0.1:$SOCAT_PORT/_ping"
run "GET /_ping via docker-policy-proxy" "http://127.0.0.1:$PROXY_PORT/_ping"
run "GET /v1.41/version via socat (reference)" "http://127.0.0.1:$SOCAT_PORT/v1.41/version"
run "GET /v1.41/version via docker-policy-proxy" "http://127.0.0.1:$PROXY_PORT/v1.41/version"
