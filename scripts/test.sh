#!/bin/bash
# Installs whatever is missing, builds (release and ASan+UBSan), and runs every
# test: cmocka unit tests on both builds, fuzzers, and the end-to-end suite
# against a real dockerd (started here when none answers, and stopped again).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

FUZZ_SECONDS=${DPP_FUZZ_SECONDS:-60}
failed=()
step() { dpp_say "$*"; }

# shellcheck disable=SC2086
dpp_install $DPP_BUILD_PKGS $DPP_TEST_PKGS || exit 1
dpp_install_docker_if_absent || exit 1

step "release build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
	cmake --build build -j"$(nproc)" || exit 1
step "ASan+UBSan build (build-san/)"
cmake -S . -B build-san -DDPP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
	cmake --build build-san -j"$(nproc)" || exit 1

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

step "unit tests (release)"
(cd build && ctest --output-on-failure) || failed+=("unit tests (release)")
step "unit tests (ASan+UBSan)"
(cd build-san && ctest --output-on-failure) || failed+=("unit tests (ASan+UBSan)")

for f in tests/fuzz/*.sh; do
	[ -e "$f" ] || continue
	step "fuzzing: $f for ${FUZZ_SECONDS}s"
	bash "$f" "$FUZZ_SECONDS" || failed+=("fuzz $f")
done

dpp_ensure_dockerd /tmp/dpp-test-dockerd.log || exit 1
trap dpp_stop_dockerd_if_started EXIT

step "end-to-end tests against the real dockerd (proxy: ASan+UBSan build)"
DPP_BIN=build-san/docker-policy-proxy bash tests/e2e/run_all.sh || failed+=("end-to-end (ASan+UBSan)")

if [ ${#failed[@]} -ne 0 ]; then
	dpp_say "FAILED: ${failed[*]}"
	exit 1
fi
dpp_say "all tests passed"
