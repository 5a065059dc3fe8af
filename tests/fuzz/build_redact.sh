#!/bin/bash
# libFuzzer target for response filtering (redact.c):
#   tests/fuzz/build_redact.sh [SECONDS]     (default 60)
# Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_link fuzz_redact fuzz_redact.c
fuzz_run fuzz_redact "$secs" -max_len=4096 -dict="$here/body.dict"
