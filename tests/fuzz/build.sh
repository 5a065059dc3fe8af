#!/bin/sh
# Builds the libFuzzer target for the request-target canonicaliser with
# clang-14 (ASan + UBSan) and runs it for $1 seconds (default 60).
#
#   tests/fuzz/build.sh [SECONDS]
#
# Output goes to $DPP_FUZZ_OUT (default: build-fuzz/ at the top of the tree):
# the binary, a dictionary, and corpus/ (seeded from the unit-test table; it
# grows across runs). A crash leaves crash-* files in that directory and makes
# this script exit non-zero.
set -eu

secs=${1:-60}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${DPP_FUZZ_OUT:-$root/build-fuzz}
cc=${CC_FUZZ:-clang-14}
mkdir -p "$out/corpus"

"$cc" -g -O1 -std=c11 -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
	-I"$root/include" \
	"$here/fuzz_canon.c" "$root/src/proxy/canon.c" "$root/src/proxy/route.c" \
	-o "$out/fuzz_canon"

# Seeds: every target of the unit-test table (first TAB field, escapes
# decoded by printf %b).
n=0
grep -v '^#' "$root/tests/unit/data/canon_cases.txt" | cut -f1 | while IFS= read -r line; do
	n=$((n + 1))
	printf '%b' "$line" >"$out/corpus/seed-$n"
done

# And the committed seed corpus (tests/fuzz/corpus/fuzz_canon/).
cp "$here"/corpus/fuzz_canon/* "$out/corpus/"

cat >"$out/canon.dict" <<'EOF'
"/v1.41/"
"/v1/"
"/v"
"%2F"
"%2f"
"%5C"
"%00"
"%0A"
"%2e"
"%2E%2E"
"%25"
"%"
"/./"
"/../"
"//"
"?"
"&"
"="
";"
"+"
"#"
"\\"
"http://"
"https://h"
"*"
"/containers/json"
"/containers/a/b/start"
"/images/registry:5000/team/app/push"
"/exec/x/start"
"/checkpoints/"
"/debug/pprof/"
EOF

cd "$out"
exec ./fuzz_canon -max_total_time="$secs" -max_len=9000 -dict=canon.dict \
	-print_final_stats=1 corpus
