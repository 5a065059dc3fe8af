#!/bin/bash
# Instructions per request, measured with callgrind (stable on a loaded
# machine, unlike wall-clock figures): starts BIN with CONFIG under callgrind,
# warms up, zeroes the counters, sends requests with wrk for SECONDS, dumps
# and divides the instructions of all threads by the requests answered.
# Usage: bench/callgrind.sh BIN CONFIG URL [SECONDS] [wrk args...]
# Prints "<Ir per request> <requests> <dump file>".
set -euo pipefail
BIN=$1 CFG=$2 URL=$3 SECS=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
OUT=$(mktemp -d /tmp/dpp-cg.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" "$BIN" -c "$CFG" --headless \
	>"$OUT/log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null; wait $VG 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "$URL" && break; sleep 0.2; done
wrk -t1 -c4 -d2s "$@" "$URL" >/dev/null
callgrind_control -z $VG >/dev/null
n=$(wrk -t1 -c4 -d"${SECS}s" "$@" "$URL" | awk '/requests in/ {print $1}')
callgrind_control -d $VG >/dev/null
sleep 0.5
f=$(ls -t "$OUT"/cg.out.* | head -1)
ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")
echo "$(( ir / n )) $n $f"
