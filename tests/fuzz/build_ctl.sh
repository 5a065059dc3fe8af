#!/bin/bash
# libFuzzer target for the control socket's line reader and request and
# object decoding (src/ctl/proto.c): tests/fuzz/build_ctl.sh [SECONDS]
# (default 60). Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_core_lib
mkdir -p "$out/ctl-obj"
# shellcheck disable=SC2086
$cc $FUZZ_CFLAGS -fsanitize=fuzzer-no-link -I"$root/include" -I"$root/src/ctl" \
	$(pkg-config --cflags $FUZZ_PKGS) -c "$root/src/ctl/proto.c" -o "$out/ctl-obj/proto.o"
# shellcheck disable=SC2086
$cc $FUZZ_CFLAGS -fsanitize=fuzzer -I"$root/include" -I"$root/src/ctl" \
	$(pkg-config --cflags $FUZZ_PKGS) "$here/fuzz_ctl.c" "$out/ctl-obj/proto.o" \
	"$out/libdpp_fuzz.a" $(pkg-config --libs $FUZZ_PKGS) -lhttp_parser -lm -pthread \
	-o "$out/fuzz_ctl"
fuzz_run fuzz_ctl "$secs" -max_len=4096 -dict="$here/ctl.dict"
