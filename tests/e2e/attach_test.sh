#!/usr/bin/env bash
# End-to-end tests of the control socket's clients: `docker-policy-proxy
# console` attached to a headless daemon (driven in tmux: send-keys,
# capture-pane) and `docker-policy-proxy ctl`, with the real dockerd and the
# docker CLI.
#
#   tests/e2e/attach_test.sh        # ends with "e2e: N passed, M failed"
#
# The daemon is private (its own port, config, store and control socket in
# the run directory). Each console runs under a wrapper that records
# `stty -g` before and after it and its exit status.

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

CTL_SOCK=""
CFG=""

attach_cfg() {
	cat >"$CFG" <<EOF
# attach e2e
global:
  audit_log: $RUN_DIR/audit.jsonl
  control_socket: $CTL_SOCK
  store:
    path: $RUN_DIR/store.db
auth:
  type: none
rules:
  - name: block-privileged
    action: deny
    conditions:
      - field: body.HostConfig.Privileged
        operator: equals
        value: true
    message: "privileged containers are not allowed"
EOF
}

# daemon_up: the private headless daemon on a free port (P_PID, P_PORT).
daemon_up() {
	start_private --config "$CFG" --socket "$DOCKER_SOCK" || return 1
	wait_for 10 test -S "$CTL_SOCK" || { cat "$P_LOG"; why "no control socket at $CTL_SOCK"; return 1; }
	DOCKER_HOST_="tcp://127.0.0.1:$P_PORT"
}

dk() { timeout -k 5 120 "$DOCKER" -H "$DOCKER_HOST_" "$@"; }
ctl() { timeout -k 5 60 "$DPP_BIN" ctl --control-socket "$CTL_SOCK" "$@"; }

screen() { echo "--- screen of $1:"; tm capture-pane -p -t "$1"; echo "---"; }
keys() { tm send-keys -t "$@"; }
wait_screen() {
	tm_wait_line "$1" "$2" "${3:-10}" && return 0
	screen "$1"
	why "the screen of $1 never showed /$2/"
}
cpid() { cat "$RUN_DIR/$1.pid" 2>/dev/null; }
sql() { sqlite3 "file:$RUN_DIR/store.db?mode=ro" "$1"; }

# start_attached TAG [ARGS...]: `console` in tmux session TAG at 80x24.
start_attached() {
	local tag=$1
	shift
	rm -f "$RUN_DIR/$tag".{rc,pid,stty-before,stty-after}
	tm new-session -d -s "$tag" -x 80 -y 24 \
		sh "$RUN_DIR/wrap.sh" "$tag" "$DPP_BIN" console --control-socket "$CTL_SOCK" "$@" ||
		{ why "tmux new-session failed"; return 1; }
	wait_screen "$tag" "^attached to PID $P_PID " 15 || return 1
	wait_screen "$tag" '1 Live 2 Denials' 5 || return 1
}

# wait_exit TAG: the wrapped console ended; checks status 0 and the tty.
wait_exit() {
	wait_for 10 test -e "$RUN_DIR/$1.rc" || { screen "$1"; why "console $1 did not exit"; return 1; }
	expect_eq "console $1 exit status" 0 "$(cat "$RUN_DIR/$1.rc")" || return 1
	expect_eq "console $1 terminal restored" "$(cat "$RUN_DIR/$1.stty-before")" \
		"$(cat "$RUN_DIR/$1.stty-after")"
}

# median_ping N: median seconds of N sequential GET /_ping.
median_ping() {
	local _
	for _ in $(seq "$1"); do
		curl -s -o /dev/null -w '%{time_total}\n' --max-time 5 "http://127.0.0.1:$P_PORT/_ping"
	done | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

sc_two_consoles() {
	daemon_up || return 1
	start_attached c1 || return 1
	start_attached c2 || return 1
	dk version >/dev/null || { why "docker version through the proxy failed"; return 1; }
	wait_screen c1 'GET +/version +200 ALLOW' || return 1
	wait_screen c2 'GET +/version +200 ALLOW' || return 1
	# The header's other figures come from the daemon's snapshot.
	wait_screen c1 '0 of 1 rules dry-run' || return 1
}

sc_status_json() {
	local out
	out=$(ctl status --json) || { why "ctl status --json failed: $out"; return 1; }
	printf '%s\n' "$out" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
s = d["status"]
assert s["pid"] == int(sys.argv[1]), s["pid"]
assert s["listen"].endswith(":" + sys.argv[2]), s["listen"]
assert s["n_rules"] == 1 and s["n_dry_run"] == 0, s
assert s["docker_up"] is True, s
assert isinstance(s["ruleset_id"], str), s["ruleset_id"]
names = [x["name"] for x in d["subscribers"]]
assert len(names) >= 2, names
' "$P_PID" "$P_PORT" || { why "ctl status --json: $(short "$out")"; return 1; }
	out=$(ctl status) || { why "ctl status failed"; return 1; }
	expect_match "human status" "daemon +PID $P_PID" "$out" || return 1
	if printf '%s\n' "$out" | awk 'length > 80 {bad = 1} END {exit !bad}'; then
		why "ctl status has lines over 80 columns"
		return 1
	fi
	out=$(ctl rules) || { why "ctl rules failed"; return 1; }
	expect_match "ctl rules" 'block-privileged +0 +deny +-' "$out"
}

sc_events_deny() {
	local out epid rc
	# Not under timeout(1): SIGINT goes to ctl itself.
	"$DPP_BIN" ctl --control-socket "$CTL_SOCK" events --kind deny --json \
		>"$RUN_DIR/events.ndjson" 2>"$RUN_DIR/events.err" &
	epid=$!
	sleep 0.5
	dk version >/dev/null
	out=$(dk run --rm --privileged "${LBL[@]}" "$IMG" true 2>&1) && { why "privileged run was allowed: $out"; kill_bg "$epid"; return 1; }
	expect_match "CLI message" 'privileged containers are not allowed' "$out" || { kill_bg "$epid"; return 1; }
	wait_for 10 grep -q '"block-privileged"' "$RUN_DIR/events.ndjson" ||
		{ kill_bg "$epid"; cat "$RUN_DIR/events.err"; why "ctl events showed no denial"; return 1; }
	kill -INT "$epid"
	wait_for 10 eval '! proc_alive "$epid"' || { kill_bg "$epid"; why "ctl events did not end on SIGINT"; return 1; }
	wait "$epid"
	rc=$?
	expect_eq "ctl events exit status after SIGINT" 0 "$rc" || return 1
	# Only the kind asked for, each line one JSON object.
	"$PY" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert evs and all(e["kind"] == "deny" for e in evs), evs
assert any(e["path"] == "/containers/create" and e["status"] == 403 for e in evs), evs
' "$RUN_DIR/events.ndjson" || { why "events: $(short "$(cat "$RUN_DIR/events.ndjson")")"; return 1; }
	# Both consoles show it.
	wait_screen c1 'POST +/containers/create +403 DENY +block-privile' || return 1
	wait_screen c2 'POST +/containers/create +403 DENY +block-privile'
}

sc_dry_run_ctl() {
	local out id row
	out=$(SUDO_USER=e2e-operator ctl dry-run block-privileged on) || { why "ctl dry-run on failed: $out"; return 1; }
	expect_match "dry-run answer" 'dry-run on, live now' "$out" || return 1
	grep -q 'dry_run: true' "$CFG" || { why "the file has no dry_run: true"; return 1; }
	out=$(ctl rules)
	expect_match "ctl rules after" 'block-privileged +0 +deny +yes' "$out" || return 1
	id=$(dk create --privileged "${LBL[@]}" "$IMG" true 2>&1) || { why "privileged create refused in dry run: $id"; return 1; }
	admin_docker rm -f "$id" >/dev/null
	row=$(sql "SELECT source || '|' || author FROM config_versions ORDER BY id DESC LIMIT 1")
	expect_eq "history records source ctl and the caller" "ctl|e2e-operator (root)" "$row" || return 1
	wait_screen c1 'DRY +block-privile' || return 1
	out=$(ctl dry-run block-privileged off) || { why "ctl dry-run off failed: $out"; return 1; }
	out=$(ctl dry-run no-such-rule on 2>&1)
	expect_eq "unknown rule: exit 65" 65 "$?" || return 1
	expect_match "unknown rule message" 'not_found' "$out"
}

# The console's own keys go over the socket too: t (dry-run toggle) in the
# Rules view, validated, diffed, confirmed, written and recorded by the daemon.
sc_console_toggle() {
	local row
	keys c2 3
	wait_screen c2 'block-privilege +deny +- ' || return 1
	keys c2 t
	wait_screen c2 'Apply\? \(y/N\)' || return 1
	wait_screen c2 '^\+ +dry_run: true' || return 1
	keys c2 y
	wait_screen c2 'applied, live now' || return 1
	# Log lines go to the Log view, never over the screen.
	if tm_has_line c2 'Z (info|warn) +console:'; then
		screen c2
		why "a log line was written over the console's screen"
		return 1
	fi
	grep -q 'dry_run: true' "$CFG" || { why "the file has no dry_run: true after t y"; return 1; }
	row=$(sql "SELECT source || '|' || author FROM config_versions ORDER BY id DESC LIMIT 1")
	expect_eq "history records the attached console" "console|root" "$row" || return 1
	# The other console sees the change in its header.
	wait_screen c1 '1 of 1 rules dry-run' || return 1
	keys c2 t
	wait_screen c2 'Apply\? \(y/N\)' || return 1
	keys c2 y
	wait_screen c2 'block-privilege +deny +- ' || return 1
	keys c2 1
}

sc_exit_codes() {
	local out rc
	out=$("$DPP_BIN" ctl --control-socket "$RUN_DIR/nothing.sock" status 2>&1)
	rc=$?
	expect_eq "no daemon: exit 69" 69 "$rc" || return 1
	expect_match "no daemon message" "no daemon answers on $RUN_DIR/nothing.sock" "$out" || return 1
	"$DPP_BIN" ctl bogus >/dev/null 2>&1
	expect_eq "usage: exit 64" 64 "$?" || return 1
	"$DPP_BIN" ctl dry-run block-privileged maybe --control-socket "$CTL_SOCK" >/dev/null 2>&1
	expect_eq "dry-run maybe: exit 64" 64 "$?" || return 1
	if command -v setpriv >/dev/null; then
		out=$(setpriv --reuid nobody --regid nogroup --clear-groups "$DPP_BIN" ctl --control-socket "$CTL_SOCK" status 2>&1)
		rc=$?
		expect_eq "another uid: exit 77" 77 "$rc" || return 1
		expect_match "another uid message" "permission denied on $CTL_SOCK" "$out" || return 1
	fi
	ctl reload >/dev/null || { why "ctl reload failed"; return 1; }
	out=$(ctl limits) || { why "ctl limits failed"; return 1; }
	expect_match "ctl limits" 'Rate-limit buckets: 0' "$out"
}

# Every bus subscription taken (16 per daemon, shared with the audit writer
# and the store): console must say the daemon refused it, not blame TERM.
sc_console_bus_full() {
	local i f pids=() out rc=""
	proc_alive "${P_PID:-}" || daemon_up || return 1
	for i in $(seq 16); do
		"$DPP_BIN" ctl --control-socket "$CTL_SOCK" events >/dev/null 2>"$RUN_DIR/busy-$i.err" &
		pids+=($!)
		sleep 0.3
		if grep -q 'refused (busy)' "$RUN_DIR/busy-$i.err"; then
			rc=ok
			break
		fi
	done
	[ -n "$rc" ] || { kill_bg "${pids[@]}"; why "16 followers and none refused busy"; return 1; }
	rm -f "$RUN_DIR/cb.rc"
	tm new-session -d -s cb -x 80 -y 24 sh "$RUN_DIR/wrap.sh" cb \
		sh -c 'exec "$0" console --control-socket "$1" 2>"$2"' "$DPP_BIN" "$CTL_SOCK" "$RUN_DIR/cb.err"
	wait_for 15 test -e "$RUN_DIR/cb.rc" || { kill_bg "${pids[@]}"; why "console did not exit"; return 1; }
	out=$(cat "$RUN_DIR/cb.rc")
	f=$(cat "$RUN_DIR/cb.err")
	kill_bg "${pids[@]}"
	tm kill-session -t cb 2>/dev/null
	expect_eq "console exit status (refused)" 65 "$out" || return 1
	expect_match "console says why" 'cannot subscribe to events: refused \(busy\)' "$f" || return 1
	ctl status >/dev/null || { why "daemon unhealthy"; return 1; }
}

sc_killed_and_stopped_consoles() {
	local before after bound
	before=$(median_ping 200)
	log "median /_ping before: $before s"
	kill -KILL "$(cpid c2)" || { why "no pid for console c2"; return 1; }
	kill -STOP "$(cpid c1)" || { why "no pid for console c1"; return 1; }
	# Traffic while one console is gone and one does not read.
	seq 2000 | xargs -P 4 -I{} curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$P_PORT/_ping"
	after=$(median_ping 200)
	log "median /_ping after: $after s"
	bound=$(awk -v b="$before" 'BEGIN {print b * 3 + 0.005}')
	awk -v a="$after" -v m="$bound" 'BEGIN {exit !(a <= m)}' ||
		{ why "latency rose: median $before s -> $after s (bound $bound s)"; return 1; }
	proc_alive "$P_PID" && ping_ok "$P_PORT" || { why "the daemon is not healthy"; return 1; }
	ctl status >/dev/null || { why "ctl status fails after the consoles went"; return 1; }
	kill -CONT "$(cpid c1)"
	dk version >/dev/null
	wait_screen c1 'GET +/version +200 ALLOW' 15
}

sc_q_detaches() {
	keys c1 q
	wait_exit c1 || return 1
	proc_alive "$P_PID" && ping_ok "$P_PORT" || { why "the daemon stopped when a console detached"; return 1; }
}

sc_history_rollback_socket() {
	local first out
	first=$(sql "SELECT min(id) FROM config_versions WHERE applied = 1")
	[ -n "$first" ] || { why "no applied version in the store"; return 1; }
	# A change first, so the rollback has something to undo.
	ctl dry-run block-privileged on >/dev/null || { why "ctl dry-run on failed"; return 1; }
	out=$(SUDO_USER=e2e-rollback "$DPP_BIN" history rollback "$first" --config "$CFG" 2>&1) ||
		{ why "rollback failed: $out"; return 1; }
	expect_match "rollback answer" "the proxy \\(pid $P_PID\\) reloaded: version [0-9]+ is live \\(a copy of version $first\\)" "$out" || return 1
	# Through the socket the daemon records its peer: "NAME (root)" (the
	# file + SIGHUP path would record plain $SUDO_USER).
	expect_eq "rollback recorded by the daemon for its peer" "rollback|e2e-rollback (root)" \
		"$(sql "SELECT source || '|' || author FROM config_versions ORDER BY id DESC LIMIT 1")"
}

sc_daemon_stops() {
	local old=$P_PID
	start_attached c3 || return 1
	stop_private || return 1
	wait_screen c3 "the daemon \\(PID $old\\) stopped: r reconnect, q quit" || return 1
	# A new daemon on the same socket: r attaches to it.
	daemon_up || return 1
	keys c3 r
	wait_screen c3 "^attached to PID $P_PID " 10 || return 1
	stop_private || return 1
	wait_screen c3 "the daemon \\(PID $P_PID\\) stopped: r reconnect, q quit" || return 1
	keys c3 q
	wait_exit c3
}

e2e_init
ensure_packages || e2e_finish
ensure_dockerd || e2e_finish
build_image || e2e_finish
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[-1]:-docker}
CTL_SOCK="$RUN_DIR/control.sock"
CFG="$RUN_DIR/attach.yaml"
attach_cfg

write_tty_wrapper "$RUN_DIR/wrap.sh"

run_scenario attach/two-consoles sc_two_consoles
run_scenario attach/ctl-status-json sc_status_json
run_scenario attach/ctl-events-deny sc_events_deny
run_scenario attach/ctl-dry-run sc_dry_run_ctl
run_scenario attach/console-toggle sc_console_toggle
run_scenario attach/exit-codes sc_exit_codes
run_scenario attach/killed-and-stopped-consoles sc_killed_and_stopped_consoles
run_scenario attach/q-detaches sc_q_detaches
run_scenario attach/history-rollback-socket sc_history_rollback_socket
run_scenario attach/console-bus-full sc_console_bus_full
run_scenario attach/daemon-stops sc_daemon_stops
[ -n "${P_PID:-}" ] && proc_alive "$P_PID" && kill -TERM "$P_PID"
e2e_finish
