#!/bin/bash
# libFuzzer target for the SQLite store's event encoder (src/store/writer.c,
# db.c): tests/fuzz/build_store.sh [SECONDS]     (default 60)
# Output in $DPP_FUZZ_OUT or build-fuzz/ (see fuzz_lib.inc). The store's
# sources are compiled here (they are not part of the core library).
set -eu
. "$(dirname "$0")/fuzz_lib.inc"
fuzz_core_lib
mkdir -p "$out/store-obj"
pkgs="$FUZZ_PKGS sqlite3"
for f in db writer; do
	# shellcheck disable=SC2086
	$cc $FUZZ_CFLAGS -fsanitize=fuzzer-no-link -I"$root/include" -I"$root/src/store" \
		$(pkg-config --cflags $pkgs) -c "$root/src/store/$f.c" -o "$out/store-obj/$f.o"
done
# shellcheck disable=SC2086
$cc $FUZZ_CFLAGS -fsanitize=fuzzer -I"$root/include" -I"$root/src/store" \
	$(pkg-config --cflags $pkgs) "$here/fuzz_store.c" "$out/store-obj/db.o" \
	"$out/store-obj/writer.o" "$out/libdpp_fuzz.a" \
	$(pkg-config --libs $pkgs) -lhttp_parser -lm -pthread -o "$out/fuzz_store"
fuzz_run fuzz_store "$secs" -max_len=2048
