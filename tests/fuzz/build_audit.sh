#!/bin/bash
# libFuzzer target for the audit record encoder (audit.c):
#   tests/fuzz/build_audit.sh [SECONDS]     (default 60)
# Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_link fuzz_audit fuzz_audit.c
fuzz_run fuzz_audit "$secs" -max_len=2048
