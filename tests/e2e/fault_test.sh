#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted snippets for `wait_for N eval '...'`
# Fault and load tests against a real dockerd: a PRIVATE one started here
# (its own socket, data root, exec root and pid file, no bridge, no iptables;
# dockerd starts its own containerd), so restarting it disturbs nobody. The
# shared dockerd on /var/run/docker.sock is never touched. Both the private
# dockerd and its containerd are stopped at the end (by pid).
#
#   DPP_BIN=build-san/docker-policy-proxy bash tests/e2e/fault_test.sh
#
# Every scenario is bounded in time and count and stops by itself:
#   dockerd-restart       an event stream through the proxy while dockerd stops:
#                         the stream ends (the break is signalled to the client,
#                         not dressed up as a complete answer), 502 with Docker's
#                         JSON message while dockerd is down, recovery once it is
#                         back (a container runs through the proxy again)
#   upload-killed         20 clients SIGKILLed mid-upload (4 of 256 MiB sent): the
#                         upstream upload is aborted, fds and threads of the proxy
#                         return to their baseline
#   slowloris-heads       100 connections dripping their heads: all cut at the
#                         head deadline (global.client_timeout), others still served
#   slowloris-bodies      50 connections dripping JSON bodies: all cut
#   churn                 10,000 connections, one request each: all 200, no leak
#   wrk-load              DPP_FAULT_WRK_SECONDS (default 60) of wrk at full rate:
#                         0 errors, 0 non-2xx, RSS flat after warm-up
#   sighup-storm          300 SIGHUPs (every 50 ms, two alternating configs) under
#                         wrk load: 0 errors, every reload applied, the last
#                         config in force
#   audit-unwritable      audit_log on /dev/full (every write fails) and in a
#                         missing directory: requests still served, the failure
#                         logged, and a SIGHUP to a writable path resumes auditing
#   store-disk-full       skipped here: tests/e2e/store_test.sh store/disk-full covers it
# Environment: DPP_FAULT_WRK_SECONDS (default 60), DPP_FAULT_CHURN (default
# 10000), plus lib.sh's (DPP_BIN, DPP_E2E_LOGDIR, DPP_E2E_ONLY, ...).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

WRK_SECONDS=${DPP_FAULT_WRK_SECONDS:-60}
CHURN=${DPP_FAULT_CHURN:-10000}
FC="$E2E_DIR/fault_clients.py"

e2e_init

# --------------------------------------------------------------------------
# The private dockerd

PD_DIR=""
PD_PID=""
PD_SOCK=""
pd_up() { timeout 5 /usr/bin/docker -H "unix://$PD_SOCK" version >/dev/null 2>&1; }
# The private dockerd runs in a network namespace of its own: a dockerd
# started with --bridge=none deletes the host's docker0 (moby's
# removeDefaultBridgeInterface), which would break the shared daemon.
PD_NETNS=""
pd_start() {
	if [ -z "$PD_NETNS" ]; then
		PD_NETNS="dppf-$$"
		ip netns add "$PD_NETNS" || { PD_NETNS=""; return 1; }
		ip -n "$PD_NETNS" link set lo up
	fi
	nsenter --net="/run/netns/$PD_NETNS" dockerd -H "unix://$PD_SOCK" --data-root "$PD_DIR/data" --exec-root "$PD_DIR/exec" \
		--pidfile "$PD_DIR/docker.pid" --bridge=none --iptables=false --ip-masq=false \
		--ip6tables=false >>"$E2E_LOGDIR/private-dockerd.log" 2>&1 </dev/null &
	PD_PID=$!
	wait_for 60 pd_up || { tail -n 20 "$E2E_LOGDIR/private-dockerd.log"; return 1; }
	log "private dockerd pid $PD_PID on $PD_SOCK"
}
# Stops the private dockerd and waits for its containerd to go too.
pd_stop() {
	local cpid=""
	[ -n "$PD_PID" ] || return 0
	[ -r "$PD_DIR/exec/containerd/containerd.pid" ] && cpid=$(cat "$PD_DIR/exec/containerd/containerd.pid")
	kill -TERM "$PD_PID" 2>/dev/null
	wait_for 30 eval '! proc_alive "$PD_PID"' || kill -KILL "$PD_PID" 2>/dev/null
	wait "$PD_PID" 2>/dev/null
	PD_PID=""
	if [ -n "$cpid" ] && ! wait_for 15 eval '! proc_alive "$cpid"'; then
		log "containerd $cpid outlived dockerd: SIGKILL"
		kill -KILL "$cpid" 2>/dev/null
	fi
	return 0
}
fault_cleanup() {
	pd_stop
	[ -z "$PD_NETNS" ] || ip netns del "$PD_NETNS" 2>/dev/null
	if [ -n "$PD_DIR" ] && [ -d "$PD_DIR" ]; then
		# overlay mounts are gone with dockerd; never follow one still there
		if ! grep -q " $PD_DIR/" /proc/mounts; then
			rm -rf "$PD_DIR"
		else
			log "mounts left under $PD_DIR: not removed"
		fi
	fi
	e2e_cleanup
}
trap 'fault_cleanup' EXIT

PD_DIR=$(mktemp -d /tmp/dppf.XXXXXX) || exit 2
PD_SOCK="$PD_DIR/docker.sock"
DOCKER_SOCK=$PD_SOCK
RAW_HOST="unix://$PD_SOCK"
command -v wrk >/dev/null || ensure_packages
if ! command -v dockerd >/dev/null || ! pd_start; then
	setup_failed private-dockerd "the private dockerd did not start (log: private-dockerd.log)"
else
	build_image
fi
[ -x "$DPP_BIN" ] || setup_failed proxy "no proxy binary $DPP_BIN"
command -v wrk >/dev/null || setup_failed wrk "wrk is not installed"

# A proxy on the private dockerd with config file $1; sets P_PID, P_PORT, P_LOG.
fault_proxy() {
	start_private --socket "$PD_SOCK" --config "$1" && return 0
	kill_bg "$P_PID" # start_private leaves a proxy that did not come up running
	return 1
}
code_of() { curl -s -o "${2:-/dev/null}" -w '%{http_code}' --max-time "${3:-10}" "http://127.0.0.1:$P_PORT$1"; }

# settle_to PID FDS THREADS SECONDS: wait until fds and threads are back to
# (at most) the baseline.
settled() { [ "$(proc_fds "$1")" -le "$2" ] && [ "$(proc_threads "$1")" -le "$3" ]; }
settle_to() {
	wait_for "$4" settled "$1" "$2" "$3"
}

# --------------------------------------------------------------------------

scen_dockerd_restart() {
	local cfg="$RUN_DIR/restart.yaml" out="$RUN_DIR/events.out" cpid t_stop t_end code rc
	printf 'auth:\n  type: none\n' >"$cfg"
	fault_proxy "$cfg" || return 1
	expect_eq "ping before" 200 "$(code_of /_ping)" || { stop_private; return 1; }
	curl -sS -N -o "$out" -w '%{http_code}' --max-time 120 \
		"http://127.0.0.1:$P_PORT/v1.41/events" >"$out.code" 2>"$out.err" &
	cpid=$!
	sleep 1
	timeout 60 /usr/bin/docker -H "tcp://127.0.0.1:$P_PORT" run --rm --network none "$IMG" echo hi ||
		{ why "docker run through the proxy failed"; kill_bg "$cpid"; stop_private; return 1; }
	wait_for 10 grep -q '"status":"die"' "$out" || { why "no die event on the stream"; kill_bg "$cpid"; stop_private; return 1; }
	t_stop=$(now_ms)
	pd_stop
	wait_for 30 eval '! proc_alive "$cpid"' || { why "event stream still open 30 s after dockerd stopped"; kill_bg "$cpid"; stop_private; return 1; }
	wait "$cpid"
	rc=$?
	t_end=$(now_ms)
	log "stream ended $((t_end - t_stop)) ms after the stop; curl exit $rc: $(cat "$out.err")"
	expect_eq "stream status" 200 "$(cat "$out.code")" || { stop_private; return 1; }
	# 18: the chunked stream was cut without its last chunk. The proxy must not
	# end it as if Docker had finished it.
	expect_eq "curl sees the stream break (18: no terminating chunk)" 18 "$rc" || { stop_private; return 1; }
	grep -q "response stream broke off" "$P_LOG" || { why "the proxy did not log the broken stream"; stop_private; return 1; }
	code=$(code_of /v1.41/version "$RUN_DIR/down.json")
	expect_eq "while down" 502 "$code" || { stop_private; return 1; }
	expect_match "Docker-style JSON message" '^\{"message":"cannot reach Docker at .*' "$(cat "$RUN_DIR/down.json")" || { stop_private; return 1; }
	expect_eq "ping while down" 502 "$(code_of /_ping)" || { stop_private; return 1; }
	pd_start || { why "private dockerd did not come back"; stop_private; return 1; }
	wait_for 30 eval '[ "$(code_of /_ping)" = 200 ]' || { why "no recovery: /_ping not 200 within 30 s of dockerd's return"; stop_private; return 1; }
	expect_eq "run after recovery" hi "$(timeout 60 /usr/bin/docker -H "tcp://127.0.0.1:$P_PORT" run --rm --network none "$IMG" echo hi)" || { stop_private; return 1; }
	proc_alive "$P_PID" || { why "proxy died"; return 1; }
	stop_private
}

scen_upload_killed() {
	local cfg="$RUN_DIR/upload.yaml" cid fds thr fds2 thr2 peak
	printf 'auth:\n  type: none\n' >"$cfg"
	fault_proxy "$cfg" || return 1
	cid=$(admin_docker create "${LBL[@]}" --network none "$IMG" true) || { why "create failed"; stop_private; return 1; }
	# one complete request first, so lazily created state exists before the baseline
	expect_eq "ping" 200 "$(code_of /_ping)" || { stop_private; return 1; }
	sleep 1
	fds=$(proc_fds "$P_PID")
	thr=$(proc_threads "$P_PID")
	log "baseline: $fds fds, $thr threads"
	"$PY" "$FC" upload-kill "$P_PORT" "/v1.41/containers/$cid/archive?path=/tmp" 20 || { why "the upload clients did not run"; stop_private; return 1; }
	peak=$(proc_fds "$P_PID")
	log "right after the kills: $peak fds, $(proc_threads "$P_PID") threads"
	if ! settle_to "$P_PID" "$fds" "$thr" 30; then
		why "leak: $(proc_fds "$P_PID") fds / $(proc_threads "$P_PID") threads 30 s after, baseline $fds / $thr"
		ls -l "/proc/$P_PID/fd" | tail -n 20
		stop_private
		return 1
	fi
	fds2=$(proc_fds "$P_PID")
	thr2=$(proc_threads "$P_PID")
	log "settled: $fds2 fds, $thr2 threads"
	# Docker never got a complete archive: nothing was extracted.
	if admin_docker cp "$cid:/tmp/." - 2>/dev/null | tar -t 2>/dev/null | grep -qv '^\./$'; then
		why "something was extracted into the container"
		stop_private
		return 1
	fi
	grep -Eq "cut|broke|abort|closed|client" "$P_LOG" && log "proxy log: $(grep -Ec "cut|broke|abort|closed" "$P_LOG") line(s) about cut uploads"
	expect_eq "ping after" 200 "$(code_of /_ping)" || { stop_private; return 1; }
	admin_docker rm -f "$cid" >/dev/null
	stop_private
}

scen_slowloris_heads() {
	local cfg="$RUN_DIR/loris.yaml" fds thr
	printf 'auth:\n  type: none\nglobal:\n  client_timeout: 3\n' >"$cfg"
	fault_proxy "$cfg" || return 1
	expect_eq "ping" 200 "$(code_of /_ping)" || { stop_private; return 1; }
	fds=$(proc_fds "$P_PID")
	thr=$(proc_threads "$P_PID")
	"$PY" "$FC" loris-heads "$P_PORT" 100 10 >"$RUN_DIR/loris.out" &
	local lp=$!
	sleep 1.5
	# while 100 connections drip, others are served
	expect_eq "ping during the attack" 200 "$(code_of /_ping "" 5)" || { kill_bg "$lp"; stop_private; return 1; }
	wait "$lp"
	local rc=$?
	cat "$RUN_DIR/loris.out"
	[ "$rc" -eq 0 ] || { why "not every dripping head was cut within 10 s: $(cat "$RUN_DIR/loris.out")"; stop_private; return 1; }
	settle_to "$P_PID" "$fds" "$thr" 15 || { why "fds/threads not back to $fds/$thr"; stop_private; return 1; }
	stop_private
}

scen_slowloris_bodies() {
	local cfg="$RUN_DIR/loris.yaml" fds thr rc
	printf 'auth:\n  type: none\nglobal:\n  client_timeout: 3\n' >"$cfg"
	fault_proxy "$cfg" || return 1
	expect_eq "ping" 200 "$(code_of /_ping)" || { stop_private; return 1; }
	fds=$(proc_fds "$P_PID")
	thr=$(proc_threads "$P_PID")
	"$PY" "$FC" loris-bodies "$P_PORT" /v1.41/containers/create 50 15 >"$RUN_DIR/lorisb.out"
	rc=$?
	cat "$RUN_DIR/lorisb.out"
	[ "$rc" -eq 0 ] || { why "dripping bodies not cut within 15 s: $(cat "$RUN_DIR/lorisb.out")"; stop_private; return 1; }
	settle_to "$P_PID" "$fds" "$thr" 15 || { why "fds/threads not back to $fds/$thr"; stop_private; return 1; }
	expect_eq "no container was created" "" "$(admin_docker ps -aq)" || { stop_private; return 1; }
	stop_private
}

scen_churn() {
	local cfg="$RUN_DIR/churn.yaml" fds cold_fds thr rc
	printf 'auth:\n  type: none\n' >"$cfg"
	fault_proxy "$cfg" || return 1
	expect_eq "ping" 200 "$(code_of /_ping)" || { stop_private; return 1; }
	sleep 0.5
	cold_fds=$(proc_fds "$P_PID")
	thr=$(proc_threads "$P_PID")
	# The upstream pool keeps up to one idle Docker connection per concurrent
	# client: warm it with a short churn at the same concurrency first, so the
	# baseline holds the pool and only a leak can exceed it.
	"$PY" "$FC" churn "$P_PORT" 2000 16 || { why "warm-up churn failed"; stop_private; return 1; }
	sleep 1
	fds=$(proc_fds "$P_PID")
	thr=$(proc_threads "$P_PID")
	log "baseline with a warm pool: $fds fds, $thr threads"
	timeout 300 "$PY" "$FC" churn "$P_PORT" "$CHURN" 16 >"$RUN_DIR/churn.out"
	rc=$?
	cat "$RUN_DIR/churn.out"
	[ "$rc" -eq 0 ] || { why "churn: $(cat "$RUN_DIR/churn.out")"; stop_private; return 1; }
	# The upstream pool may keep up to POOL_IDLE_MAX (32, server.c) idle
	# Docker connections, and how many depends on scheduling: allow the pool's
	# bound above the cold baseline, never more. A leak of one descriptor per
	# 300 of the 10,000 connections already exceeds it; threads must return.
	settle_to "$P_PID" "$((cold_fds + 32))" "$thr" 15 || { why "leak after churn: $(proc_fds "$P_PID") fds / $(proc_threads "$P_PID") threads, cold baseline $cold_fds (+32 pool) / $thr"; stop_private; return 1; }
	stop_private
}

# wrk_check OUT: 0 socket errors, 0 non-2xx, some requests.
wrk_check() {
	local out=$1 reqs
	cat "$out"
	reqs=$(awk '/requests in/ {print $1}' "$out")
	[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { why "wrk made no requests"; return 1; }
	! grep -q "Socket errors" "$out" || { why "wrk: $(grep 'Socket errors' "$out")"; return 1; }
	! grep -q "Non-2xx" "$out" || { why "wrk: $(grep 'Non-2xx' "$out")"; return 1; }
	log "wrk: $reqs requests, 0 errors"
}

scen_wrk_load() {
	local cfg="$RUN_DIR/wrk.yaml" wp rss=() t warm last i
	printf 'auth:\n  type: none\n' >"$cfg"
	fault_proxy "$cfg" || return 1
	wrk -t2 -c32 -d"${WRK_SECONDS}s" --timeout 10s "http://127.0.0.1:$P_PORT/_ping" >"$RUN_DIR/wrk.out" 2>&1 &
	wp=$!
	for ((t = 0; t < WRK_SECONDS; t += 5)); do
		sleep 5
		rss+=("$(proc_rss_kb "$P_PID")")
	done
	wait "$wp"
	log "RSS every 5 s (KiB): ${rss[*]}"
	wrk_check "$RUN_DIR/wrk.out" || { stop_private; return 1; }
	# flat: after the first quarter (warm-up: thread stacks, allocator and
	# ASan quarantine fill), RSS grows by at most 10 % + 8 MiB.
	i=$(( ${#rss[@]} / 4 ))
	warm=${rss[$i]}
	last=${rss[-1]}
	[ "$last" -le $(( warm + warm / 10 + 8192 )) ] || { why "RSS grew from $warm KiB to $last KiB under steady load"; stop_private; return 1; }
	log "RSS flat: $warm KiB after warm-up, $last KiB at the end"
	proc_alive "$P_PID" || { why "proxy died"; return 1; }
	stop_private
}

scen_sighup_storm() {
	local cfg="$RUN_DIR/hup.yaml" wp i n
	write_cfg() { # write_cfg MESSAGE: atomically, as an editor or config manager would
		printf 'auth:\n  type: none\nrules:\n  - name: no-info\n    action: deny\n    message: "%s"\n    conditions:\n      - {field: path, operator: equals, value: /info}\n' "$1" >"$cfg.tmp" && mv "$cfg.tmp" "$cfg"
	}
	write_cfg "version A"
	fault_proxy "$cfg" || return 1
	wrk -t2 -c16 -d20s --timeout 10s "http://127.0.0.1:$P_PORT/_ping" >"$RUN_DIR/wrk-hup.out" 2>&1 &
	wp=$!
	sleep 1
	for ((i = 1; i <= 300; i++)); do
		if ((i % 2)); then write_cfg "version B $i"; else write_cfg "version A $i"; fi
		kill -HUP "$P_PID" || { why "proxy gone at SIGHUP $i"; kill_bg "$wp"; return 1; }
		sleep 0.05
	done
	write_cfg "final version"
	kill -HUP "$P_PID"
	wait "$wp"
	wrk_check "$RUN_DIR/wrk-hup.out" || { stop_private; return 1; }
	wait_for 10 eval 'curl -s --max-time 5 "http://127.0.0.1:$P_PORT/v1.41/info" | grep -q "final version"' ||
		{ why "the last config is not in force: $(curl -s "http://127.0.0.1:$P_PORT/v1.41/info" | head -c 200)"; stop_private; return 1; }
	n=$(grep -c "configuration reloaded" "$P_LOG")
	log "$n reloads logged as applied (signals coalesce while a reload runs)"
	[ "$n" -ge 10 ] || { why "only $n reloads applied"; stop_private; return 1; }
	! grep -q "reload refused" "$P_LOG" || { why "a reload was refused: $(grep -m1 'reload refused' "$P_LOG")"; stop_private; return 1; }
	stop_private
}

scen_audit_unwritable() {
	local cfg="$RUN_DIR/audit.yaml" good="$RUN_DIR/audit-good.jsonl"
	# /dev/full: open succeeds, every write fails with ENOSPC (a full disk).
	# Denials are audited: each one is a record to write.
	deny_info() { printf 'auth:\n  type: none\nglobal:\n  audit_log: %s\nrules:\n  - {name: no-info, action: deny, conditions: [{field: path, operator: equals, value: /info}]}\n' "$1" >"$cfg"; }
	deny_info /dev/full
	fault_proxy "$cfg" || return 1
	for i in 1 2 3 4 5; do
		expect_eq "request $i served while audit writes fail" 200 "$(code_of /_ping)" || { stop_private; return 1; }
		expect_eq "denial $i answered while audit writes fail" 403 "$(code_of /v1.41/info)" || { stop_private; return 1; }
	done
	wait_for 10 grep -Eqi "audit.*(No space|cannot write|failed)" "$P_LOG" || { why "the failing audit writes were not logged"; cat "$P_LOG"; stop_private; return 1; }
	log "logged: $(grep -Ei -m1 "audit.*(No space|cannot write|failed)" "$P_LOG")"
	# SIGHUP to a writable path: auditing resumes.
	deny_info "$good"
	kill -HUP "$P_PID"
	wait_for 10 grep -q "audit: writing $good" "$P_LOG" || { why "no switch to $good"; stop_private; return 1; }
	expect_eq "denial after the switch" 403 "$(code_of /v1.41/info)" || { stop_private; return 1; }
	stop_private || return 1
	grep -q '"path":"/info"' "$good" || { why "the denial after the switch is not audited"; return 1; }
	# A configured audit file that cannot be opened at all refuses start-up
	# (exit 73): lifecycle_test.sh, scenario lifecycle/audit-log-unopenable.
}

scen_store_disk_full() {
	skip_because "covered by the store suite (tests/e2e/store_test.sh, scenario store/disk-full, which fills a file system under the store and checks the gap it records)"
}

# Every proxy started here: no sanitizer report in its log (ASan, UBSan,
# TSan builds print there; exit statuses are checked at each stop too).
scen_sanitizers_clean() {
	local f bad=0 n=0
	for f in "$RUN_DIR"/proxy-*.log; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		if grep -Eq "ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error:|ERROR: LeakSanitizer" "$f"; then
			grep -E -m3 -A5 "ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error:|ERROR: LeakSanitizer" "$f"
			bad=1
		fi
	done
	log "$n proxy log(s) checked"
	[ "$n" -gt 0 ] || { why "no proxy log to check"; return 1; }
	[ "$bad" = 0 ] || why "sanitizer report in a proxy log"
}

run_scenario dockerd-restart scen_dockerd_restart
run_scenario upload-killed scen_upload_killed
run_scenario slowloris-heads scen_slowloris_heads
run_scenario slowloris-bodies scen_slowloris_bodies
run_scenario churn scen_churn
run_scenario wrk-load scen_wrk_load
run_scenario sighup-storm scen_sighup_storm
run_scenario audit-unwritable scen_audit_unwritable
run_scenario store-disk-full scen_store_disk_full
run_scenario sanitizers-clean scen_sanitizers_clean

fault_cleanup
e2e_finish
