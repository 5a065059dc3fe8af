#!/bin/bash
# libFuzzer target for the header/framing checks and Content-Type reading:
#   tests/fuzz/build_headers.sh [SECONDS]     (default 60)
# Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_link fuzz_headers fuzz_headers.c
fuzz_run fuzz_headers "$secs" -max_len=2048
