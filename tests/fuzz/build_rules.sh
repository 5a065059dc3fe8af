#!/bin/bash
# libFuzzer target for rule evaluation over request bodies (rules.c +
# policy.c + body.c; differential and trace checks):
#   tests/fuzz/build_rules.sh [SECONDS]     (default 60)
# Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_link fuzz_rules fuzz_rules.c
cat "$here/body.dict" "$here/config.dict" >"$out/rules.dict"
fuzz_run fuzz_rules "$secs" -max_len=8192 -dict="$out/rules.dict"
