#!/usr/bin/env bash
# End-to-end tests of the proxy's systemd integration without a running
# systemd: sd_notify(3) messages read from a NOTIFY_SOCKET of our own
# (READY=1 only once the listener is up and Docker answered, STATUS= with
# the request rate, RELOADING=1 around SIGHUP, STOPPING=1), and socket
# activation through systemd-socket-activate(1) (sd_listen_fds). Uses lib.sh.
#
#   tests/e2e/systemd_test.sh        # ends with "e2e: N passed, M failed"

# shellcheck disable=SC2016
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

unset DOCKER_PROXY_SECRET DOCKER_PROXY_CONFIG DOCKER_PROXY_PORT DOCKER_SOCKET DOCKER_PROXY_LOG

# notify_listen LOG: a datagram socket that logs every notification; sets
# N_SOCK and N_PID.
notify_listen() {
	N_SOCK="$RUN_DIR/notify-$RANDOM.sock"
	"$PY" -c 'import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    out.write(s.recv(4096).decode().replace("\n", "|") + "\n")' "$N_SOCK" "$1" &
	N_PID=$!
	wait_for 5 test -S "$N_SOCK" || { why "notify listener did not start"; return 1; }
}

sc_notify() {
	local nlog="$RUN_DIR/notify.log" i
	: >"$nlog"
	printf 'auth:\n  type: none\n' >"$RUN_DIR/none.yaml"
	notify_listen "$nlog" || return 1
	NOTIFY_SOCKET=$N_SOCK start_private --config "$RUN_DIR/none.yaml" --socket "$DOCKER_SOCK" || return 1
	wait_for 5 grep -q '^READY=1' "$nlog" || { cat "$nlog"; why "no READY=1"; return 1; }
	for i in $(seq 1 30); do curl -s -o /dev/null "http://127.0.0.1:$P_PORT/_ping"; done
	wait_for 8 grep -Eq '^STATUS=serving: [0-9.]+ requests/s, [0-9]+ requests since start' "$nlog" ||
		{ cat "$nlog"; why "no STATUS= with the request rate"; return 1; }
	grep -Eq 'requests/s, (2[0-9]|[3-9][0-9]) requests since start' "$nlog" ||
		{ cat "$nlog"; why "the status does not count the 30 requests"; return 1; }
	kill -HUP "$P_PID"
	wait_for 5 grep -q '^RELOADING=1' "$nlog" || { cat "$nlog"; why "no RELOADING=1"; return 1; }
	wait_for 5 eval '[ "$(grep -c "^READY=1" "$nlog")" -ge 2 ]' ||
		{ cat "$nlog"; why "no READY=1 after the reload"; return 1; }
	stop_private || return 1
	grep -q '^STOPPING=1' "$nlog" || { cat "$nlog"; why "no STOPPING=1"; return 1; }
	cat "$nlog"
	kill_bg "$N_PID"
}

# READY=1 waits for Docker: the socket named does not answer at first.
sc_ready_waits_for_docker() {
	local nlog="$RUN_DIR/notify-wait.log" sock="$RUN_DIR/late-docker.sock" relay
	: >"$nlog"
	notify_listen "$nlog" || return 1
	NOTIFY_SOCKET=$N_SOCK start_private --config "$RUN_DIR/none.yaml" --socket "$sock" || return 1
	sleep 2
	grep -q '^READY=1' "$nlog" && { cat "$nlog"; why "READY=1 before Docker answered"; return 1; }
	grep -q '^STATUS=listening; waiting for Docker' "$nlog" || { cat "$nlog"; why "no waiting status"; return 1; }
	socat "UNIX-LISTEN:$sock,fork" "UNIX-CONNECT:$DOCKER_SOCK" &
	relay=$!
	wait_for 10 grep -q '^READY=1' "$nlog" || { cat "$nlog"; kill_bg "$relay"; why "no READY=1 once Docker answered"; return 1; }
	cat "$nlog"
	stop_private || { kill_bg "$relay"; return 1; }
	kill_bg "$relay" "$N_PID"
}

sc_socket_activation() {
	local port log="$RUN_DIR/activate.log" pid code
	command -v systemd-socket-activate >/dev/null || { skip_because "systemd-socket-activate missing"; return 77; }
	port=$(free_port)
	# The file's port is not the one systemd listens on: the passed socket wins.
	printf 'global:\n  port: 1\nauth:\n  type: none\n' >"$RUN_DIR/act.yaml"
	systemd-socket-activate -l "127.0.0.1:$port" "$DPP_BIN" --headless --config "$RUN_DIR/act.yaml" \
		--socket "$DOCKER_SOCK" >"$log" 2>&1 </dev/null &
	pid=$!
	wait_for 5 grep -q "Listening on 127.0.0.1:$port" "$log" || { cat "$log"; why "activator did not listen"; return 1; }
	# The first connection starts the proxy, which serves the passed socket.
	code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/_ping")
	expect_eq "GET /_ping through the activated socket" 200 "$code" || { cat "$log"; return 1; }
	grep -q "listening on 127.0.0.1:$port," "$log" || { cat "$log"; why "start-up line does not name the passed socket"; return 1; }
	kill -HUP "$pid"
	sleep 0.5
	! grep -q 'needs a restart.*global.port' "$log" || { cat "$log"; why "reload reports the passed port as a restart"; return 1; }
	kill -TERM "$pid"
	wait_for 15 eval '! proc_alive "$pid"' || { why "no exit after SIGTERM"; return 1; }
	wait "$pid"
	expect_eq "exit status" 0 "$?" || return 1
	cat "$log"
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
command -v socat >/dev/null || setup_failed packages "socat is missing"

run_scenario systemd/notify-ready-status-reload-stop sc_notify
run_scenario systemd/ready-waits-for-docker sc_ready_waits_for_docker
run_scenario systemd/socket-activation sc_socket_activation
e2e_finish
