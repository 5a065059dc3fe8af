#!/bin/bash
# libFuzzer target for the configuration loader (YAML in) and the auth/rules
# compilers:   tests/fuzz/build_config.sh [SECONDS]     (default 60)
# Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_link fuzz_config fuzz_config.c
fuzz_run fuzz_config "$secs" -max_len=8192 -dict="$here/config.dict"
