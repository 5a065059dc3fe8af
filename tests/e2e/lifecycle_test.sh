#!/usr/bin/env bash
# End-to-end tests of the proxy's life cycle against the real dockerd: exit
# codes, start-up line, port taken, IPv6, Docker going away and coming back,
# SIGHUP, JSON logs. Ends with "e2e: N passed, M failed".

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# run_bin ARGS...: runs the proxy binary to completion; sets OUT and RC.
run_bin() {
	OUT=$(timeout -k 5 20 "$DPP_BIN" "$@" 2>&1)
	RC=$?
	echo "$ $DPP_BIN $* -> $RC"
	echo "$OUT"
}

sc_exit_codes() {
	run_bin --no-such-flag
	expect_eq "bad usage" 64 "$RC" || return 1
	printf 'global:\n  port: seventy\n  bogus: 1\n' >"$RUN_DIR/bad.yaml"
	run_bin --headless --config "$RUN_DIR/bad.yaml"
	expect_eq "bad config" 78 "$RC" || return 1
	expect_match "both errors with file:line:col" "bad.yaml:2:9: global.port.*bad.yaml:3:3: global.bogus" "$(echo "$OUT" | tr '\n' ' ')" || return 1
	run_bin --check-config --config "$RUN_DIR/bad.yaml"
	expect_eq "--check-config on a bad file" 1 "$RC" || return 1
	run_bin --check-config --config "$E2E_REPO/assets/config.example.yaml"
	expect_eq "--check-config on the example" 0 "$RC" || return 1
	run_bin --config "$RUN_DIR/missing.yaml" --check-config
	expect_eq "missing explicit file" 1 "$RC" || return 1
	run_bin --version
	expect_eq "--version exit code" 0 "$RC" || return 1
	expect_match "version" '^docker-policy-proxy [0-9]+\.[0-9]+' "$OUT"
}

sc_port_taken() {
	local port pid
	port=$(free_port)
	"$PY" -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$port)); s.listen(); time.sleep(30)" &
	pid=$!
	sleep 0.5
	run_bin --headless --port "$port" --socket "$DOCKER_SOCK"
	kill_bg "$pid"
	expect_eq "exit code" 71 "$RC" || return 1
	expect_match "one clear line" "cannot listen on 127\.0\.0\.1:$port: Address already in use" "$OUT"
}

sc_startup_line() {
	start_private --socket "$DOCKER_SOCK" || return 1
	expect_match "start-up line" "docker-policy-proxy [0-9.]+ listening on 127\.0\.0\.1:$P_PORT, upstream unix://$DOCKER_SOCK \(Docker [^,]+, API [0-9.]+\), auth: " "$(cat "$P_LOG")" || { stop_private; return 1; }
	stop_private
}

sc_ipv6() {
	local code
	"$PY" -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null ||
		{ why "this host has no IPv6 loopback (::1), the IPv6 bind cannot be tested"; return 1; }
	P_PORT=$(free_port)
	P_LOG="$RUN_DIR/proxy6.log"
	"$DPP_BIN" --headless --bind ::1 --port "$P_PORT" --socket "$DOCKER_SOCK" >"$P_LOG" 2>&1 &
	P_PID=$!
	wait_for 20 grep -q 'listening on' "$P_LOG" || { cat "$P_LOG"; why "no start on ::1"; return 1; }
	grep -q "listening on \[::1\]:$P_PORT" "$P_LOG" || { why "start-up line does not show [::1]"; stop_private; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://[::1]:$P_PORT/_ping")
	expect_eq "GET /_ping over IPv6" 200 "$code" || { stop_private; return 1; }
	expect_eq "docker over IPv6" OK "$(timeout 30 "$DOCKER" -H "tcp://[::1]:$P_PORT" version -f '{{if .Server.Version}}OK{{end}}')" || { stop_private; return 1; }
	stop_private
}

sc_docker_down_and_back() {
	local relay="$RUN_DIR/relay.sock" code body spid
	command -v socat >/dev/null || { why "socat is needed to stand in for a Docker socket that comes and goes"; return 1; }
	start_private --socket "$relay" || return 1
	grep -q "not answering" "$P_LOG" || { why "start-up does not say Docker is not answering"; stop_private; return 1; }
	body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$P_PORT/version")
	expect_match "502 with Docker's JSON body" '^\{"message":"[^"]+"\} +502 *$' "$(echo "$body" | tr '\n' ' ')" || { stop_private; return 1; }
	curl -s -o /dev/null "http://127.0.0.1:$P_PORT/version"
	# The real daemon appears behind the socket path.
	socat "UNIX-LISTEN:$relay,fork" "UNIX-CONNECT:$DOCKER_SOCK" &
	spid=$!
	wait_for 10 test -S "$relay"
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_PORT/version")
	expect_eq "recovered on its own" 200 "$code" || { kill_bg "$spid"; stop_private; return 1; }
	grep -q "Docker answers again" "$P_LOG" || { why "recovery not logged"; kill_bg "$spid"; stop_private; return 1; }
	# Down again: 502 every time, and said once more in the log, not per request.
	# The per-connection children (by pid) hold pooled connections.
	local kids=()
	mapfile -t kids < <(ps -o pid= --ppid "$spid" | tr -d " ")
	[ "${#kids[@]}" -eq 0 ] || kill "${kids[@]}" 2>/dev/null
	kill_bg "$spid"
	rm -f "$relay"
	for i in 1 2 3; do
		body=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$P_PORT/version")
		expect_match "second outage, request $i: 502 with Docker's JSON body" '^\{"message":"[^"]+"\} +502 *$' "$(echo "$body" | tr '\n' ' ')" || { stop_private; return 1; }
	done
	expect_eq "down messages after recovery" 1 "$(grep -c 'until it is back' "$P_LOG")" || { stop_private; return 1; }
	stop_private
}

sc_sighup() {
	local cfg="$RUN_DIR/hup.yaml"
	printf 'global:\n  log_format: text\nauth:\n  type: none\n' >"$cfg"
	start_private --socket "$DOCKER_SOCK" --config "$cfg" || return 1
	printf 'global:\n  log_format: json\n  bind: 127.0.0.2\nauth:\n  type: none\n' >"$cfg"
	kill -HUP "$P_PID"
	wait_for 5 grep -q 'configuration reloaded' "$P_LOG" || { why "no reload"; stop_private; return 1; }
	grep -q 'global.bind' "$P_LOG" || { why "bind change not reported as needing a restart"; stop_private; return 1; }
	expect_eq "serving on the old port after reload" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_PORT/_ping")" || { stop_private; return 1; }
	stop_private || return 1
	# After the reload the log is JSON Lines: every later line parses.
	tail -n 2 "$P_LOG" | "$PY" -c 'import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]' ||
		{ why "log lines after switching to json do not parse"; return 1; }
	return 0
}

sc_client_timeout() {
	local cfg="$RUN_DIR/timeout.yaml" ev="$RUN_DIR/events.out" epid c out
	printf 'global:\n  client_timeout: 2\n  metrics: {enabled: true}\nauth:\n  type: none\n' >"$cfg"
	start_private --socket "$DOCKER_SOCK" --config "$cfg" || return 1
	# A client that never finishes its headers is cut after 2 s.
	out=$("$PY" - "$P_PORT" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")
s.settimeout(10)
t = time.time()
s.recv(100)
print(round(time.time() - t))
PYEOF
)
	expect_match "seconds until a silent client is cut (2, give or take scheduling)" '^[23]$' "$out" || { stop_private; return 1; }
	# A client that drips its headers byte by byte is cut at the deadline too.
	out=$("$PY" - "$P_PORT" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.time()
try:
    for b in b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 200:
        s.sendall(bytes([b]))
        time.sleep(0.4)
        if time.time() - t > 15:
            break
    print("never cut")
except OSError:
    print("cut" if time.time() - t < 6 else "cut late")
PYEOF
)
	expect_eq "slow-drip client" cut "$out" || { stop_private; return 1; }
	# Both cuts are counted (the seed's docker_proxy_request_timeouts_total).
	out=$(curl -s "http://127.0.0.1:$P_PORT/metrics" | awk '$1 == "docker_proxy_request_timeouts_total" { print $2 }')
	[ "${out:-0}" -ge 2 ] || { why "request_timeouts_total is '${out}' after two cut clients"; stop_private; return 1; }
	# A quiet events stream outlives the timeout and still delivers.
	timeout 20 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" events >"$ev" 2>&1 &
	epid=$!
	sleep 4
	c="dpp-e2e-$RUN_ID-timeout"
	timeout 30 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" run -d "${LBL[@]}" --name "$c" "$IMG" sleep 60 >/dev/null || { why "run -d failed"; kill_bg "$epid"; stop_private; return 1; }
	wait_for 5 grep -q "container start" "$ev" || { why "events stream died during 4 quiet seconds: $(cat "$ev")"; kill_bg "$epid"; stop_private; return 1; }
	kill_bg "$epid"
	# Docker taking longer than the timeout to answer is not client silence.
	timeout 30 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" stop -t 4 "$c" >/dev/null || { why "docker stop -t 4 was cut"; stop_private; return 1; }
	admin_docker rm -f "$c" >/dev/null
	stop_private
}

sc_per_ip_limit() {
	local cfg="$RUN_DIR/perip.yaml" out
	printf 'global:\n  max_connections_per_ip: 2\nauth:\n  type: none\n' >"$cfg"
	start_private --socket "$DOCKER_SOCK" --config "$cfg" || return 1
	out=$("$PY" - "$P_PORT" <<'PY2'
import socket, sys, time
port = int(sys.argv[1])

def ping(s, what):
    # One keep-alive request; the whole answer (Content-Length body) must arrive.
    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    buf = b""
    while not (b"\r\n\r\n" in buf and buf.endswith(b"OK")):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("%s: closed after %r" % (what, buf))
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        raise SystemExit("%s: %r" % (what, buf))

held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
for i, s in enumerate(held):
    ping(s, "held connection %d" % (i + 1))
print("both held connections served")
third = socket.create_connection(("127.0.0.1", port))
try:
    third.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
    third.settimeout(5)
    refused = third.recv(100) == b""
except (ConnectionResetError, BrokenPipeError):
    refused = True
# The held connections are still served while the third is refused.
for i, s in enumerate(held):
    ping(s, "held connection %d after the refusal" % (i + 1))
for s in held:
    s.close()
time.sleep(0.5)
s = socket.create_connection(("127.0.0.1", port))
try:
    ping(s, "a new connection after the held ones closed")
    ok = True
except SystemExit as e:
    print(e)
    ok = False
print("served-refused-then-ok" if refused and ok else "refused=%s ok=%s" % (refused, ok))
PY2
)
	echo "$out"
	expect_eq "held connections served, third refused, then a new one served" served-refused-then-ok "$(echo "$out" | tail -n 1)" || { stop_private; return 1; }
	stop_private
}

# Issue 7 defect 5: a reload is judged against the listener that runs. The
# loopback-safe case of "start-up would refuse it": a file asking for TLS and
# auth mtls reloaded into a listener without TLS (TLS on/off is restart-only).
# Then the kept record: a restart-only key changed by one reload is reported
# again by the next, because the record holds the value that took effect.
sc_reload_judged_running() {
	local cfg="$RUN_DIR/reload-running.yaml" pki="$RUN_DIR/pki-reload"
	local tok="tok-$RUN_ID" code n
	command -v certtool >/dev/null || { why "certtool (gnutls-bin) is needed"; return 1; }
	bash "$E2E_REPO/tests/unit/make_certs.sh" "$pki" >"$RUN_DIR/pki-reload.log" 2>&1 ||
		{ why "certificate generation failed"; return 1; }
	printf 'auth:\n  type: bearer\n  secret: %s\n' "$tok" >"$cfg"
	start_private --socket "$DOCKER_SOCK" --config "$cfg" || return 1
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://127.0.0.1:$P_PORT/version")
	expect_eq "token before reload" 200 "$code" || { stop_private; return 1; }
	# The same file would start (TLS + mtls); the running listener has no TLS.
	printf 'global:\n  tls:\n    cert: %s\n    key: %s\n    client_ca: %s\nauth:\n  type: mtls\n' \
		"$pki/server.pem" "$pki/server.key" "$pki/ca.pem" >"$cfg"
	kill -HUP "$P_PID"
	wait_for 5 grep -q 'reload refused: the running configuration stays in effect' "$P_LOG" ||
		{ why "the reload was not refused"; stop_private; return 1; }
	grep -q 'reload refused: .*auth.type mtls needs global.tls' "$P_LOG" ||
		{ why "the refusal does not say why"; stop_private; return 1; }
	if grep -q 'configuration reloaded' "$P_LOG"; then
		why "the configuration was reloaded"; stop_private; return 1
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://127.0.0.1:$P_PORT/version")
	expect_eq "token after the refused reload" 200 "$code" || { stop_private; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_PORT/version")
	expect_eq "no token after the refused reload" 401 "$code" || { stop_private; return 1; }
	# A restart-only change, reloaded twice: reported both times.
	printf 'global:\n  max_connections: 64\nauth:\n  type: bearer\n  secret: %s\n' "$tok" >"$cfg"
	for n in 1 2; do
		kill -HUP "$P_PID"
		wait_for 5 eval '[ "$(grep -c "configuration reloaded" "$P_LOG")" -ge '"$n"' ]' ||
			{ why "reload $n not applied"; stop_private; return 1; }
		expect_eq "max_connections reported as needing a restart after reload $n" "$n" \
			"$(grep -c 'needs a restart to take effect (old value stays): global.max_connections' "$P_LOG")" ||
			{ stop_private; return 1; }
	done
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://127.0.0.1:$P_PORT/version")
	expect_eq "token after two reloads" 200 "$code" || { stop_private; return 1; }
	stop_private
}

# SIGTERM ends open events and logs -f streams at once (README), and the
# clients see their streams end.
sc_sigterm_streams() {
	local ev="$RUN_DIR/sig-events.out" lg="$RUN_DIR/sig-logs.out" epid lpid c
	c=$(admin_docker run -d "${LBL[@]}" --name "dpp-e2e-$RUN_ID-sigstreams" "$IMG" \
		sh -c 'while true; do echo x; sleep 0.2; done') || { why "run -d failed"; return 1; }
	printf 'auth:\n  type: none\n' >"$RUN_DIR/sigstreams.yaml"
	start_private --socket "$DOCKER_SOCK" --config "$RUN_DIR/sigstreams.yaml" || return 1
	timeout 30 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" events >"$ev" 2>&1 &
	epid=$!
	timeout 30 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" logs -f "$c" >"$lg" 2>&1 &
	lpid=$!
	wait_for 10 grep -q x "$lg" || { why "logs -f did not stream"; kill_bg "$epid" "$lpid"; stop_private; return 1; }
	sleep 1
	proc_alive "$epid" || { why "events client ended before SIGTERM: $(cat "$ev")"; kill_bg "$lpid"; stop_private; return 1; }
	stop_private TERM 15 || { kill_bg "$epid" "$lpid"; return 1; }
	[ "$STOP_MS" -le 2000 ] || { why "with events and logs -f open the proxy took $STOP_MS ms to exit (want at once: <= 2 s)"; kill_bg "$epid" "$lpid"; return 1; }
	wait_for 3 eval '! proc_alive "$epid" && ! proc_alive "$lpid"' || { why "a stream client still runs 3 s after the proxy exited"; kill_bg "$epid" "$lpid"; return 1; }
	wait "$epid" "$lpid" 2>/dev/null
	admin_docker rm -f "$c" >/dev/null
}

# A configured global.audit_log that cannot be opened for append: start-up
# refuses (exit 73, EX_CANTCREAT, with the reason), --check-config only warns;
# on SIGHUP the writer keeps the file it has open, logs the error and counts
# it in docker_proxy_audit_open_failures_total.
audit_records() {
	[ -f "$1" ] || { echo 0; return; }
	grep -c '"event":"deny"' "$1"
}
open_failures() {
	curl -s "http://127.0.0.1:$P_PORT/metrics" >"$RUN_DIR/audit-metrics.txt"
	"$PY" -c 'import sys
from prometheus_client.parser import text_string_to_metric_families as p
v = [s.value for f in p(open(sys.argv[1]).read()) for s in f.samples
     if s.name == "docker_proxy_audit_open_failures_total"]
print(int(v[0]) if len(v) == 1 else "missing")' "$RUN_DIR/audit-metrics.txt"
}
sc_audit_unopenable() {
	local cfg="$RUN_DIR/audit-bad.yaml" bad="$RUN_DIR/no-such-dir/audit.jsonl" port code
	local good="$RUN_DIR/aud1/audit.jsonl" moved="$RUN_DIR/aud1.moved/audit.jsonl"
	local rules='rules:\n  - name: no-version\n    conditions: [{field: path, operator: equals, value: /version}]\n    action: deny\n'
	printf "global:\n  audit_log: %s\n  metrics: {enabled: true}\nauth:\n  type: none\n$rules" "$bad" >"$cfg"
	port=$(free_port)
	run_bin --headless --port "$port" --socket "$DOCKER_SOCK" --config "$cfg"
	expect_eq "start with audit_log in a missing directory" 73 "$RC" || return 1
	expect_match "the reason" "global.audit_log: cannot open $bad for append: No such file or directory" "$OUT" || return 1
	if grep -q 'listening on' <<<"$OUT"; then why "the proxy listened before refusing"; return 1; fi
	[ ! -e "$RUN_DIR/no-such-dir" ] || { why "the missing directory was created"; return 1; }
	run_bin --check-config --socket "$DOCKER_SOCK" --config "$cfg"
	expect_eq "--check-config: a warning, not an error" 0 "$RC" || return 1
	expect_match "--check-config warns" "warning: global.audit_log: cannot open $bad for append" "$OUT" || return 1
	[ ! -e "$RUN_DIR/no-such-dir" ] || { why "--check-config created the directory"; return 1; }

	# SIGHUP: logrotate's re-open fails (the directory was moved away).
	mkdir -p "$RUN_DIR/aud1"
	printf "global:\n  audit_log: %s\n  metrics: {enabled: true}\nauth:\n  type: none\n$rules" "$good" >"$cfg"
	start_private --socket "$DOCKER_SOCK" --config "$cfg" || return 1
	expect_eq "open failures at start" 0 "$(open_failures)" || { stop_private; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_PORT/version")
	expect_eq "denied" 403 "$code" || { stop_private; return 1; }
	wait_for 5 eval '[ "$(audit_records "$good")" -eq 1 ]' || { why "no deny record"; stop_private; return 1; }
	mv "$RUN_DIR/aud1" "$RUN_DIR/aud1.moved"
	kill -HUP "$P_PID"
	wait_for 5 grep -q "audit: cannot re-open $good for append: No such file or directory; still writing" "$P_LOG" ||
		{ why "no error logged for the failed re-open"; stop_private; return 1; }
	expect_eq "open failures after the failed re-open" 1 "$(open_failures)" || { stop_private; return 1; }
	curl -s -o /dev/null "http://127.0.0.1:$P_PORT/version"
	wait_for 5 eval '[ "$(audit_records "$moved")" -eq 2 ]' ||
		{ why "the old descriptor was not kept: $(audit_records "$moved") record(s)"; stop_private; return 1; }
	# SIGHUP with a new audit_log that cannot be opened: the old file stays.
	printf "global:\n  audit_log: %s\n  metrics: {enabled: true}\nauth:\n  type: none\n$rules" "$bad" >"$cfg"
	kill -HUP "$P_PID"
	wait_for 5 grep -q "audit: cannot open $bad for append: No such file or directory .*; still writing $good" "$P_LOG" ||
		{ why "no error logged for the new path"; stop_private; return 1; }
	expect_eq "open failures after the bad new path" 2 "$(open_failures)" || { stop_private; return 1; }
	curl -s -o /dev/null "http://127.0.0.1:$P_PORT/version"
	wait_for 5 eval '[ "$(audit_records "$moved")" -eq 3 ]' ||
		{ why "records lost after the bad new path: $(audit_records "$moved")"; stop_private; return 1; }
	stop_private
}

# Issue 7's reload defect, exactly: started on 0.0.0.0 with bearer tokens, a
# reload of `bind: 127.0.0.1` + `auth: {type: none}` must be refused (bind is
# restart-only, so the listener stays on 0.0.0.0 and the file is judged
# against it), and the token stays required. Runs inside a private network
# namespace (unshare -n, only lo up), so 0.0.0.0 reaches loopback only; the
# Unix socket still reaches dockerd.
sc_reload_exposure_netns() {
	local inner="$RUN_DIR/netns-reload.sh" out="$RUN_DIR/netns-reload.out" rc
	command -v unshare >/dev/null && command -v ip >/dev/null ||
		{ skip_because "network namespaces unavailable: unshare or ip missing"; return 77; }
	if ! unshare -n sh -c 'ip link set lo up' >/dev/null 2>&1; then
		skip_because "network namespaces unavailable: 'unshare -n' failed (needs CAP_SYS_ADMIN)"
		return 77
	fi
	cat >"$inner" <<'EOF'
set -u
bin=$1 sock=$2 dir=$3 tok=$4
fail() { echo "FAIL: $*"; [ -z "${pid:-}" ] || kill -KILL "$pid" 2>/dev/null; exit 1; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
ip link set lo up || fail "ip link set lo up"
[ "$(ip -o link show | grep -vc ': lo:')" -eq 0 ] || fail "the namespace has other interfaces than lo"
printf 'global:\n  bind: 0.0.0.0\n  port: 23760\nauth:\n  type: bearer\n  tokens:\n    - token: %s\n      role: admin\n' "$tok" >"$dir/rl.yaml"
"$bin" --headless --socket "$sock" --config "$dir/rl.yaml" >"$dir/rl.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 200); do grep -q 'listening on 0.0.0.0:23760' "$dir/rl.log" && break; sleep 0.1; done
grep -q 'listening on 0.0.0.0:23760' "$dir/rl.log" || { cat "$dir/rl.log"; fail "not listening on 0.0.0.0:23760"; }
[ "$(code http://127.0.0.1:23760/version)" = 401 ] || fail "before the reload: no token was not 401"
[ "$(code -H "Authorization: Bearer $tok" http://127.0.0.1:23760/version)" = 200 ] || fail "before the reload: the token was not 200"
echo "before reload: 401 without a token, 200 with it"
printf 'global:\n  bind: 127.0.0.1\n  port: 23760\nauth: {type: none}\n' >"$dir/rl.yaml"
kill -HUP "$pid"
for _ in $(seq 1 50); do grep -q 'reload refused: the running configuration stays' "$dir/rl.log" && break; sleep 0.1; done
grep -q 'reload refused: the running configuration stays in effect' "$dir/rl.log" || { cat "$dir/rl.log"; fail "the reload was not refused"; }
grep -q 'reload refused: .*refusing to expose open, unauthenticated Docker access on 0.0.0.0 without TLS' "$dir/rl.log" ||
	{ cat "$dir/rl.log"; fail "the refusal does not name the exposure"; }
! grep -q 'configuration reloaded' "$dir/rl.log" || fail "the configuration was reloaded"
[ "$(code http://127.0.0.1:23760/version)" = 401 ] || fail "after the refused reload: no token was not 401"
[ "$(code -H "Authorization: Bearer $tok" http://127.0.0.1:23760/version)" = 200 ] || fail "after the refused reload: the token was not 200"
echo "after reload: refused, 401 without a token, 200 with it"
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
echo "ok"
EOF
	unshare -n bash "$inner" "$DPP_BIN" "$DOCKER_SOCK" "$RUN_DIR" "tok-$RUN_ID-0123456789" >"$out" 2>&1
	rc=$?
	cat "$out"
	[ "$rc" -eq 0 ] || { why "$(grep -m1 '^FAIL:' "$out" | cut -c7-)"; return 1; }
	expect_eq "last line" ok "$(tail -n 1 "$out")"
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -x "$DPP_BIN" ] || setup_failed proxy "proxy binary $DPP_BIN not found"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}

run_scenario lifecycle/exit-codes sc_exit_codes
run_scenario lifecycle/port-taken sc_port_taken
run_scenario lifecycle/startup-line sc_startup_line
run_scenario lifecycle/ipv6 sc_ipv6
run_scenario lifecycle/docker-down-and-back sc_docker_down_and_back
run_scenario lifecycle/sighup sc_sighup
run_scenario lifecycle/client-timeout sc_client_timeout
run_scenario lifecycle/per-ip-limit sc_per_ip_limit
run_scenario lifecycle/reload-judged-against-running sc_reload_judged_running
run_scenario lifecycle/sigterm-open-streams sc_sigterm_streams
run_scenario lifecycle/audit-log-unopenable sc_audit_unopenable
run_scenario lifecycle/reload-exposure-netns sc_reload_exposure_netns
e2e_finish
