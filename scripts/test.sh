#!/bin/bash
# Installs whatever is missing, builds (release and ASan+UBSan), and runs every
# test: cmocka unit tests on both builds, fuzzers, and the end-to-end suite
# against a real dockerd (started here when none answers, and stopped again).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Seconds per fuzz target (9 targets: 9 x 33 s = 297 s, within the 5 min
# fuzzing share of the CI budget). Longer runs: DPP_FUZZ_SECONDS=1800.
FUZZ_SECONDS=${DPP_FUZZ_SECONDS:-33}
failed=()
passed=0
step() { dpp_say "$*"; }
# suite NAME CMD...: runs one suite and records its outcome.
suite() {
	local name=$1
	shift
	step "$name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed+=("$name")
		dpp_say "FAILED: $name"
	fi
}

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

suite "unit tests (release)" bash -c 'cd build && ctest --no-tests=error --output-on-failure'
suite "unit tests (ASan+UBSan)" bash -c 'cd build-san && ctest --no-tests=error --output-on-failure'

# ThreadSanitizer for the modules that own threads or shared state.
tsan_tests() {
	cmake -S . -B build-tsan -DDPP_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
		cmake --build build-tsan -j"$(nproc)" >/dev/null || return 1
	(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --no-tests=error --output-on-failure \
		-R '^(test_bus|test_ratelimit|test_audit|test_metrics|test_tls|test_auth|test_auth_peer|test_store_thread)$')
}
suite "unit tests (ThreadSanitizer: bus, rate limiter, audit, metrics, TLS, auth, store)" tsan_tests

for f in tests/fuzz/*.sh; do
	[ -e "$f" ] || continue
	suite "fuzzing $(basename "$f") for ${FUZZ_SECONDS}s" bash "$f" "$FUZZ_SECONDS"
done

dpp_ensure_dockerd /tmp/dpp-test-dockerd.log || exit 1
trap dpp_stop_dockerd_if_started EXIT

# The proxy under test is the sanitized build: an ASan/UBSan report makes it
# exit non-zero, which the harness checks at every stop.
suite "end-to-end: transparent proxy (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/proxy bash tests/e2e/run_all.sh
suite "end-to-end: policy (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/policy bash tests/e2e/policy_test.sh
suite "end-to-end: presets against the real dockerd (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/presets bash tests/e2e/presets_test.sh
suite "end-to-end: security regressions (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/security bash tests/e2e/security_test.sh
suite "end-to-end: SQLite store, audit and history (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/store bash tests/e2e/store_test.sh
suite "end-to-end: the daemon's control socket (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/control bash tests/e2e/control_test.sh
suite "end-to-end: life cycle (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/lifecycle bash tests/e2e/lifecycle_test.sh
suite "end-to-end: TLS, client certificates, Unix socket (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/tls bash tests/e2e/tls_test.sh
suite "end-to-end: the seed's example configs (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/seed bash tests/e2e/seed_test.sh
suite "end-to-end: body JSON spelling and exact numbers (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/bodyjson bash tests/e2e/bodyjson_test.sh
suite "end-to-end: README claims on refusals, limits and shutdown (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/claims bash tests/e2e/claims_test.sh
suite "end-to-end: setup wizard (full screen via tmux, --plain, --non-interactive; ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/setup bash tests/e2e/setup_test.sh
suite "end-to-end: systemd notify and socket activation (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/systemd bash tests/e2e/systemd_test.sh
suite "install: .deb (dpkg -i, purge) and assets/install.sh twice" \
	env DPP_E2E_LOGDIR=.e2e-logs/install bash tests/e2e/install_test.sh
suite "end-to-end: faults and load on a private dockerd (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/fault bash tests/e2e/fault_test.sh
suite "end-to-end: operator console in tmux (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/console bash tests/e2e/console_test.sh
suite "end-to-end: console attached and ctl over the control socket (ASan+UBSan build)" \
	env DPP_BIN=build-san/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/attach bash tests/e2e/attach_test.sh
suite "end-to-end: threads smoke (ThreadSanitizer build)" \
	env DPP_BIN=build-tsan/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/tsan TSAN_OPTIONS=halt_on_error=0 \
	DPP_E2E_ONLY='run-echo|exec-stdin|logs-follow|events|attach-stream|aborted-streams|sigterm' bash tests/e2e/run_all.sh
# Ruleset and runtime swaps racing requests: the SIGHUP storm under wrk load.
suite "end-to-end: ruleset swap under load, SIGHUP storm (ThreadSanitizer build)" \
	env DPP_BIN=build-tsan/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/tsan-hup \
	TSAN_OPTIONS=halt_on_error=0:exitcode=66 DPP_E2E_ONLY='sighup-storm|sanitizers-clean' \
	bash tests/e2e/fault_test.sh
suite "end-to-end: transparent proxy smoke (release build)" \
	env DPP_BIN=build/docker-policy-proxy DPP_E2E_LOGDIR=.e2e-logs/release DPP_E2E_ONLY='run-echo|exec-stdin|run-it|sdk|head-ping' bash tests/e2e/run_all.sh

[ ${#failed[@]} -eq 0 ] || dpp_say "FAILED: ${failed[*]}"
echo "test suites: $passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
