#!/bin/sh
# Builds the libFuzzer target for src/proxy/body.c and runs it.
#   tests/fuzz/build_body.sh [SECONDS]     (default 60)
# Output (binary, corpus, crash files) goes to $DPP_FUZZ_OUT or build-fuzz/.
# cJSON is the system library (not instrumented): ASan sees the accesses of
# body.c and the libc calls cJSON makes, not cJSON's own loads.
set -eu

secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${DPP_FUZZ_OUT:-$root/build-fuzz}
corpus=$out/corpus-body

mkdir -p "$out" "$corpus"
clang-14 -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$root/include" $(pkg-config --cflags libcjson) \
	"$here/fuzz_body.c" "$root/src/proxy/body.c" "$root/src/proxy/route.c" "$root/src/proxy/canon.c" \
	$(pkg-config --libs libcjson) -pthread -o "$out/fuzz_body"

# Seeds: a docker CLI create body and a few edge cases.
printf '%s' '{"Hostname":"","Env":["A=1"],"Cmd":null,"Image":"busybox","Labels":{"a":"1","A":"2"},"HostConfig":{"Binds":null,"Privileged":false,"Memory":9007199254740993,"LogConfig":{"Type":"json-file","Config":{}},"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},"NetworkingConfig":{"EndpointsConfig":{"n":{"IPAMConfig":null}}}}' >"$corpus/seed-create"
printf '%s' '{"HostConfig":{"Privileged":false,"privileged":true}}' >"$corpus/seed-fold"
printf '{"\342\204\252ernelMemory":1,"s\305\277":[1.5e-3,-0,"\\ud83d\\ude00"]}' >"$corpus/seed-unicode"
printf '%s' '[[[[{"a":[{"b":null}]}]]]]' >"$corpus/seed-nest"
printf '%s' 'HostConfig.Binds.0' >"$corpus/seed-path"
printf '%s' 'PUT /containers/x/archive' >"$corpus/seed-kind"

cp "$here"/corpus/fuzz_body/* "$corpus/" # the committed seed corpus

rc=0
"$out/fuzz_body" -max_total_time="$secs" -max_len=4096 -timeout=10 \
	-dict="$here/body.dict" -artifact_prefix="$out/" "$corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "fuzz_body: failed (exit $rc); artifacts in $out/" >&2
	exit "$rc"
fi
echo "fuzz_body: ran ${secs}s without findings"
