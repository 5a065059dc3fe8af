#!/usr/bin/env bash
# End-to-end tests of the daemon's control socket (docs/control.md) with the
# real dockerd: a private headless proxy per scenario, driven by a small
# independent python NDJSON client (ctlclient.py). Hello and version
# mismatch; status/rules/limits; a docker CLI request as an event on a
# kinds-filtered subscription; dry_run recorded in history with source ctl
# and the caller's name; a stale config_apply refused; reload; a peer of
# another uid refused and audited; mode 0600; stale socket replaced, live one
# not taken; a subscriber that stops reading does not slow requests and its
# drops are counted; bye on SIGTERM. Uses lib.sh.
#
#   tests/e2e/control_test.sh        # ends with "e2e: N passed, M failed"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

TEST_GROUP=dpp-ctl-e2e
PUB=""   # a directory every uid can traverse (sockets nobody must reach)

ctl() { timeout -k 5 60 "$PY" "$PUB/ctlclient.py" "$SOCK" "$@"; }
# jget JSON EXPR: a python expression over the parsed object `o`.
jget() { "$PY" -c 'import json,sys; o=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

RULES='rules:
  - name: no-volume-create
    action: deny
    message: "volume creation is disabled"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: equals, value: /volumes/create}'

# ctl_proxy [GLOBAL_EXTRA]: a private proxy with its own directory (under
# $PUB, traversable by nobody), control socket $SOCK, audit $AUDIT, store $DB.
ctl_proxy() {
	D="$PUB/s$SCEN_NO"
	mkdir -p "$D"
	chmod 755 "$D"
	SOCK="$D/control.sock"
	AUDIT="$D/audit.jsonl"
	CFG="$D/config.yaml"
	DB="$D/docker-policy-proxy.db"
	cat >"$CFG" <<EOF
global:
  audit_log: $AUDIT
  control_socket: $SOCK
${1:-}
auth:
  type: none
$RULES
EOF
	start_private --config "$CFG" --socket "$DOCKER_SOCK" || return 1
	wait_for 10 test -S "$SOCK" || { why "no control socket at $SOCK"; return 1; }
}

sc_hello() {
	local out
	ctl_proxy || return 1
	out=$(ctl hello) || { why "hello refused: $out"; return 1; }
	expect_eq "hello version" 1 "$(jget "$out" 'o["hello"]')" || return 1
	expect_eq "hello pid" "$P_PID" "$(jget "$out" 'o["pid"]')" || return 1
	expect_eq "hello user" "$(id -un)" "$(jget "$out" 'o["user"]')" || return 1
	expect_eq "hello server" docker-policy-proxy "$(jget "$out" 'o["server"]')" || return 1
	out=$(ctl --hello-version 2 hello)
	expect_eq "version 2 refused" unsupported_version "$(jget "$out" 'o["error"]["code"]')" || return 1
	expect_eq "supported versions" "[1]" "$(jget "$out" 'o["error"]["supported"]')" || return 1
	out=$(ctl --client nonsense hello)
	expect_eq "unknown client refused" bad_request "$(jget "$out" 'o["error"]["code"]')" || return 1
	# A line that is not JSON: bad_request, and the daemon is fine.
	out=$(printf '{"hello":1,"client":"ctl"}\nnot json\n' | timeout 5 socat - "UNIX-CONNECT:$SOCK" 2>/dev/null |
		sed -n 2p)
	if command -v socat >/dev/null; then
		expect_eq "garbage refused" bad_request "$(jget "$out" 'o["error"]["code"]')" || return 1
	fi
	out=$(ctl req nosuch) && { why "unknown command accepted"; return 1; }
	expect_eq "unknown command" unknown_command "$(jget "$out" 'o["ok"] or o["error"]["code"]')" || return 1
	stop_private
}

sc_status_rules_limits() {
	local out
	ctl_proxy || return 1
	curl -s -o /dev/null "http://127.0.0.1:$P_PORT/_ping"
	out=$(ctl req status) || { why "status: $out"; return 1; }
	expect_eq "status pid" "$P_PID" "$(jget "$out" 'o["status"]["pid"]')" || return 1
	expect_eq "docker_up" True "$(jget "$out" 'o["status"]["docker_up"]')" || return 1
	expect_eq "config_path" "$CFG" "$(jget "$out" 'o["status"]["config_path"]')" || return 1
	expect_eq "n_rules" 1 "$(jget "$out" 'o["status"]["n_rules"]')" || return 1
	expect_match "requests counted" '^[1-9]' "$(jget "$out" 'o["status"]["requests"]')" || return 1
	expect_match "ruleset_id is a string" "^<class 'str'>$" "$(jget "$out" 'type(o["status"]["ruleset_id"])')" || return 1
	out=$(ctl req rules) || { why "rules: $out"; return 1; }
	expect_eq "rule name" no-volume-create "$(jget "$out" 'o["rules"][0]["name"]')" || return 1
	expect_eq "rule never hit" -1 "$(jget "$out" 'o["rules"][0]["last_hit_ago_ms"]')" || return 1
	out=$(ctl req limits) || { why "limits: $out"; return 1; }
	expect_eq "no buckets" "[]" "$(jget "$out" 'o["buckets"]')" || return 1
	expect_eq "no lockouts" "[]" "$(jget "$out" 'o["lockouts"]')" || return 1
	out=$(ctl req snapshot) || { why "snapshot: $out"; return 1; }
	expect_eq "snapshot members" "['buckets', 'id', 'lockouts', 'ok', 'rules', 'status', 'subscribers']" \
		"$(jget "$out" 'sorted(o)')" || return 1
	stop_private
}

sc_events_filtered() {
	local ev n
	ctl_proxy || return 1
	ctl events '["deny"]' 1 30 >"$D/events.out" &
	local cpid=$!
	sleep 1
	# An allowed request first (must not arrive: kind request), then a denied one.
	timeout 60 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" ps >/dev/null || { why "docker ps failed"; return 1; }
	timeout 60 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" volume create "dpp-ctl-$RUN_ID" >/dev/null 2>&1 &&
		{ why "volume create was allowed"; return 1; }
	wait "$cpid" || { why "no deny event on the subscription (rc $?)"; return 1; }
	n=$(grep -c '"event"' "$D/events.out")
	expect_eq "events received" 1 "$n" || return 1
	ev=$(head -1 "$D/events.out")
	expect_eq "kind" deny "$(jget "$ev" 'o["event"]["kind"]')" || return 1
	expect_eq "path" /volumes/create "$(jget "$ev" 'o["event"]["path"]')" || return 1
	expect_eq "rule" no-volume-create "$(jget "$ev" 'o["event"]["rule_name"]')" || return 1
	expect_match "user agent" '^Docker-Client/' "$(jget "$ev" 'o["event"]["user_agent"]')" || return 1
	expect_eq "trace outcome" denied "$(jget "$ev" 'o["event"]["trace"]["rules"][0]["outcome"]')" || return 1
	stop_private
}

# bytes_out of an allowed small response (Docker's /version, a buffered
# body of known length) is the body's size, not 0.
sc_event_bytes_out() {
	local ev size
	ctl_proxy "  store:
    requests: all" || return 1
	ctl events '["request"]' 1 30 >"$D/events.out" &
	local cpid=$!
	sleep 1
	curl -s -o "$D/version.json" "http://127.0.0.1:$P_PORT/version" || { why "GET /version failed"; return 1; }
	wait "$cpid" || { why "no request event (rc $?)"; return 1; }
	size=$(stat -c %s "$D/version.json")
	expect_match "a body came back" '^[1-9]' "$size" || return 1
	ev=$(head -1 "$D/events.out")
	expect_eq "path" /version "$(jget "$ev" 'o["event"]["path"]')" || return 1
	expect_eq "event bytes_out" "$size" "$(jget "$ev" 'o["event"]["bytes_out"]')" || return 1
	wait_for 10 eval '[ -n "$(sqlite3 "$DB" "SELECT 1 FROM audit_events WHERE path = '"'/version'"'")" ]' ||
		{ why "no store row for /version"; return 1; }
	expect_eq "store bytes_out" "$size" \
		"$(sqlite3 "$DB" "SELECT bytes_out FROM audit_events WHERE path = '/version'")" || return 1
	stop_private
}

file_sha() { sha256sum "$1" | cut -d' ' -f1; }

sc_dry_run_history() {
	local out v nv row
	ctl_proxy || return 1
	out=$(ctl req config_read) || { why "config_read: $out"; return 1; }
	v=$(jget "$out" 'o["version"]')
	expect_eq "version is the file's sha256" "$(file_sha "$CFG")" "$v" || return 1
	out=$(ctl req dry_run '{"rule":"nosuch","on":true}') && { why "unknown rule accepted"; return 1; }
	expect_eq "unknown rule" not_found "$(jget "$out" 'o["error"]["code"]')" || return 1
	out=$(ctl req dry_run "{\"rule\":\"no-volume-create\",\"on\":true,\"based_on\":\"$v\"}") ||
		{ why "dry_run refused: $out"; return 1; }
	nv=$(jget "$out" 'o["version"]')
	expect_eq "new version is the file's" "$(file_sha "$CFG")" "$nv" || return 1
	grep -q 'dry_run: true' "$CFG" || { why "dry_run: true not written to $CFG"; return 1; }
	out=$(ctl req rules)
	expect_eq "rule is dry-run live" True "$(jget "$out" 'o["rules"][0]["dry_run"]')" || return 1
	timeout 60 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" volume create "dpp-ctl-$RUN_ID" >/dev/null ||
		{ why "volume create still refused under dry run"; return 1; }
	admin_docker volume rm "dpp-ctl-$RUN_ID" >/dev/null 2>&1
	wait_for 10 eval '[ "$(sqlite3 "$DB" "SELECT count(*) FROM config_versions WHERE sha256 = '"'$nv'"'")" = 1 ]' ||
		{ why "no history row for $nv"; return 1; }
	row=$(sqlite3 "$DB" "SELECT source || '|' || author || '|' || applied FROM config_versions WHERE sha256 = '$nv'")
	expect_eq "history row" "ctl|$(id -un)|1" "$row" || return 1
	# A root peer acting for a sudo user: "NAME (root)".
	out=$(ctl --on-behalf-of alice req dry_run "{\"rule\":\"no-volume-create\",\"on\":false}") ||
		{ why "dry_run off refused: $out"; return 1; }
	nv=$(jget "$out" 'o["version"]')
	wait_for 10 eval '[ -n "$(sqlite3 "$DB" "SELECT id FROM config_versions WHERE sha256 = '"'$nv'"'")" ]' ||
		{ why "no history row for $nv"; return 1; }
	row=$(sqlite3 "$DB" "SELECT source || '|' || author FROM config_versions WHERE sha256 = '$nv' ORDER BY id DESC LIMIT 1")
	if [ "$(id -u)" = 0 ]; then
		expect_eq "on_behalf_of author" "ctl|alice (root)" "$row" || return 1
	fi
	# history over the socket: the same rows.
	out=$(ctl req history_list '{"limit":1}') || { why "history_list: $out"; return 1; }
	expect_eq "latest history row" "$nv" "$(jget "$out" 'o["versions"][0]["sha256"]')" || return 1
	out=$(ctl req history_show '{"version_id":1}') || { why "history_show: $out"; return 1; }
	expect_eq "history_show source" startup "$(jget "$out" 'o["entry"]["source"]')" || return 1
	stop_private
}

sc_rollback() {
	local out v0 v1 row
	ctl_proxy || return 1
	v0=$(file_sha "$CFG")
	out=$(ctl req dry_run '{"rule":"no-volume-create","on":true}') || { why "dry_run: $out"; return 1; }
	v1=$(jget "$out" 'o["version"]')
	wait_for 10 eval '[ -n "$(sqlite3 "$DB" "SELECT id FROM config_versions WHERE sha256 = '"'$v1'"'")" ]' ||
		{ why "no history row for $v1"; return 1; }
	out=$(ctl req history_rollback '{"version_id":99999}') && { why "rollback to a missing version"; return 1; }
	expect_eq "missing version" not_found "$(jget "$out" 'o["error"]["code"]')" || return 1
	# Not whole numbers, or past 2^53 (a cast of 1e20 used to read as "the
	# latest applied" and answer ok): refused, nothing written.
	for bad in 1e20 1.5 -1; do
		out=$(ctl req history_rollback "{\"version_id\":$bad}") && { why "rollback to $bad accepted: $out"; return 1; }
		expect_eq "rollback to $bad" bad_request "$(jget "$out" 'o["error"]["code"]')" || return 1
		out=$(ctl req history_show "{\"version_id\":$bad}") && { why "show of $bad accepted: $out"; return 1; }
		expect_eq "show of $bad" bad_request "$(jget "$out" 'o["error"]["code"]')" || return 1
	done
	expect_eq "file untouched by the refused rollbacks" "$v1" "$(file_sha "$CFG")" || return 1
	out=$(ctl req history_rollback '{"version_id":1,"confirm_ms":600000,"comment":"back"}') ||
		{ why "rollback refused: $out"; return 1; }
	expect_eq "rollback version" "$v0" "$(jget "$out" 'o["version"]')" || return 1
	expect_eq "file restored" "$v0" "$(file_sha "$CFG")" || return 1
	out=$(ctl req rules)
	expect_eq "live rule not dry-run again" False "$(jget "$out" 'o["rules"][0]["dry_run"]')" || return 1
	wait_for 10 eval '[ "$(sqlite3 "$DB" "SELECT count(*) FROM config_versions WHERE source = '"'rollback'"'")" = 1 ]' ||
		{ why "no rollback row"; return 1; }
	row=$(sqlite3 "$DB" "SELECT author || '|' || rollback_of || '|' || comment || '|' || confirm_state FROM config_versions WHERE source = 'rollback'")
	expect_eq "rollback row" "$(id -un)|1|back|pending" "$row" || return 1
	out=$(ctl req history_confirm) || { why "confirm refused: $out"; return 1; }
	wait_for 10 eval '[ "$(sqlite3 "$DB" "SELECT confirm_state FROM config_versions WHERE source = '"'rollback'"'")" = confirmed ]' ||
		{ why "not confirmed in the store"; return 1; }
	out=$(ctl req history_confirm) && { why "a second confirm accepted"; return 1; }
	expect_eq "nothing to confirm" conflict "$(jget "$out" 'o["error"]["code"]')" || return 1
	stop_private
}

sc_apply_stale() {
	local out v before
	ctl_proxy || return 1
	out=$(ctl req config_read)
	v=$(jget "$out" 'o["version"]')
	# Someone edits the file by hand meanwhile.
	printf '# edited by hand\n' >>"$CFG"
	before=$(file_sha "$CFG")
	out=$(ctl req config_apply "$("$PY" -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1]).read() + "# mine\n", "based_on": sys.argv[2]}))' "$CFG" "$v")") &&
		{ why "stale apply accepted"; return 1; }
	expect_eq "stale apply" conflict "$(jget "$out" 'o["error"]["code"]')" || return 1
	expect_eq "file unchanged" "$before" "$(file_sha "$CFG")" || return 1
	# Invalid text based on the live version: invalid, nothing changed.
	out=$(ctl req config_apply "{\"text\":\"rules: 7\\n\",\"based_on\":\"$before\"}") &&
		{ why "invalid apply accepted"; return 1; }
	expect_eq "invalid apply" invalid "$(jget "$out" 'o["error"]["code"]')" || return 1
	expect_eq "file unchanged after invalid" "$before" "$(file_sha "$CFG")" || return 1
	# A \u0000 in the text: cJSON's string ends there, so the rules after it
	# would vanish from an applied config. The line is refused.
	out=$(ctl req config_apply "$("$PY" -c 'import json,sys; t=open(sys.argv[1]).read(); i=t.index("rules:"); print(json.dumps({"text": t[:i] + "\0" + t[i:], "based_on": sys.argv[2]}))' "$CFG" "$before")") &&
		{ why "a text with U+0000 was applied: $out"; return 1; }
	expect_eq "file unchanged after U+0000" "$before" "$(file_sha "$CFG")" || return 1
	out=$(ctl req rules) || { why "rules: $out"; return 1; }
	expect_eq "rule still live" no-volume-create "$(jget "$out" 'o["rules"][0]["name"]')" || return 1
	out=$(ctl req config_validate '{"text":"rules: 7\n"}') && { why "invalid text validated"; return 1; }
	expect_eq "validate" invalid "$(jget "$out" 'o["error"]["code"]')" || return 1
	stop_private
}

sc_reload() {
	local out
	ctl_proxy || return 1
	sed -i 's/volume creation is disabled/volumes are off here/' "$CFG"
	out=$(ctl req reload) || { why "reload refused: $out"; return 1; }
	out=$(curl -s -XPOST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$P_PORT/volumes/create")
	expect_match "new message live" 'volumes are off here' "$out" || return 1
	printf 'rules: 7\n' >>"$CFG"
	out=$(ctl req reload) && { why "broken file reloaded"; return 1; }
	expect_eq "broken reload" invalid "$(jget "$out" 'o["error"]["code"]')" || return 1
	out=$(curl -s -XPOST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$P_PORT/volumes/create")
	expect_match "old rules stay" 'volumes are off here' "$out" || return 1
	stop_private
}

sc_foreign_uid() {
	local out gid
	[ "$(id -u)" = 0 ] || { skip_because "needs root (setpriv)"; return 77; }
	getent group "$TEST_GROUP" >/dev/null || groupadd "$TEST_GROUP" ||
		{ why "cannot create group $TEST_GROUP"; return 1; }
	gid=$(getent group "$TEST_GROUP" | cut -d: -f3)
	ctl_proxy "  control_group: $TEST_GROUP" || return 1
	expect_eq "socket mode and group" "660 $TEST_GROUP" "$(stat -c '%a %G' "$SOCK")" || return 1
	# The filesystem lets nobody (egid = the group) connect; the daemon
	# judges the user's groups, not the egid, and refuses.
	out=$(setpriv --reuid nobody --regid "$gid" --clear-groups "$PY" "$PUB/ctlclient.py" "$SOCK" hello 2>&1)
	expect_eq "nobody refused" forbidden "$(jget "$out" 'o["error"]["code"]')" || return 1
	wait_for 10 grep -q '"auth_failure"' "$AUDIT" || { why "no auth_failure in $AUDIT"; return 1; }
	out=$(grep '"auth_failure"' "$AUDIT" | tail -1)
	expect_eq "audit identity" "unix:uid=$(id -u nobody)" "$(jget "$out" 'o["identity"]')" || return 1
	expect_eq "audit method" CONTROL "$(jget "$out" 'o["method"]')" || return 1
	expect_eq "audit path" /control "$(jget "$out" 'o["path"]')" || return 1
	wait_for 10 eval '[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit_events WHERE event = '"'auth_failure'"' AND method = '"'CONTROL'"'")" -ge 1 ]' ||
		{ why "no auth_failure row in the store"; return 1; }
	# The daemon is unharmed.
	ctl req status >/dev/null || { why "status failed after the refusal"; return 1; }
	stop_private || return 1
	# Without control_group: mode 0600, and the filesystem refuses nobody.
	ctl_proxy || return 1
	expect_eq "socket mode" 600 "$(stat -c '%a' "$SOCK")" || return 1
	out=$(setpriv --reuid nobody --regid "$gid" --clear-groups "$PY" "$PUB/ctlclient.py" "$SOCK" hello 2>&1) &&
		{ why "nobody connected to a 0600 socket"; return 1; }
	expect_match "EACCES" 'PermissionError|Permission denied' "$out" || return 1
	stop_private
}

# A refused local user looping connect(2) cannot flood the audit trail or
# hold the connection slots: 20 refusals per 10 s are recorded one by one,
# the rest counted into one summary record; allowed clients still get in.
sc_refused_flood() {
	local gid n summary
	[ "$(id -u)" = 0 ] || { skip_because "needs root (setpriv)"; return 77; }
	getent group "$TEST_GROUP" >/dev/null || groupadd "$TEST_GROUP" ||
		{ why "cannot create group $TEST_GROUP"; return 1; }
	gid=$(getent group "$TEST_GROUP" | cut -d: -f3)
	ctl_proxy "  control_group: $TEST_GROUP" || return 1
	setpriv --reuid nobody --regid "$gid" --clear-groups "$PY" -c '
import socket, sys
for _ in range(300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError:
        pass
    s.close()
' "$SOCK" || { why "the flood client failed"; return 1; }
	ctl req status >/dev/null || { why "an allowed client was kept out during the flood"; return 1; }
	wait_for 15 grep -q 'more refused connection' "$AUDIT" ||
		{ why "no summary record for the refusals beyond the budget"; return 1; }
	n=$(grep -c '"auth_failure"' "$AUDIT")
	[ "$n" -le 25 ] || { why "$n auth_failure records for one flood (budget 20 + summary)"; return 1; }
	summary=$(grep 'more refused connection' "$AUDIT" | tail -1)
	expect_match "summary counts" '"message":"control socket: [0-9]+ more refused' "$summary" || return 1
	expect_eq "summary identity" "unix:uid=$(id -u nobody)" "$(jget "$summary" 'o["identity"]')" || return 1
	stop_private
}

# A config file that is a symlink (config management) keeps its link: a
# change replaces the file it points to.
sc_symlinked_config() {
	local out real
	ctl_proxy || return 1
	real="$D/real"
	mkdir -p "$real"
	mv "$CFG" "$real/config.yaml"
	ln -s real/config.yaml "$CFG"
	out=$(ctl req dry_run '{"rule":"no-volume-create","on":true}') || { why "dry_run refused: $out"; return 1; }
	[ -L "$CFG" ] || { why "$CFG is no longer a symlink"; return 1; }
	grep -q 'dry_run: true' "$real/config.yaml" || { why "the link's target was not changed"; return 1; }
	expect_eq "new version is the target's" "$(file_sha "$real/config.yaml")" "$(jget "$out" 'o["version"]')" || return 1
	out=$(ctl req rules)
	expect_eq "rule is dry-run live" True "$(jget "$out" 'o["rules"][0]["dry_run"]')" || return 1
	stop_private
}

sc_stale_live() {
	local out rc first_pid first_log
	D="$PUB/s$SCEN_NO"
	mkdir -p "$D"
	SOCK="$D/control.sock"
	# A socket file nobody listens on (a crash left it).
	"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
	test -S "$SOCK" || { why "could not make a stale socket"; return 1; }
	ctl_proxy || return 1
	grep -q 'replaced the stale' "$P_LOG" || { why "no 'replaced the stale' in the log"; return 1; }
	ctl req status >/dev/null || { why "the new socket does not answer"; return 1; }
	first_pid=$P_PID
	first_log=$P_LOG
	# A second daemon on the same control_socket must not take it.
	out=$(timeout 30 "$DPP_BIN" --headless --port "$(free_port)" --config "$CFG" --socket "$DOCKER_SOCK" 2>&1)
	rc=$?
	expect_eq "second daemon's exit status (EX_TEMPFAIL)" 75 "$rc" || return 1
	expect_match "message" 'control.sock is in use by another running docker-policy-proxy' "$out" || return 1
	out=$(ctl req status) || { why "the first daemon lost its socket"; return 1; }
	expect_eq "still the first daemon" "$first_pid" "$(jget "$out" 'o["status"]["pid"]')" || return 1
	P_PID=$first_pid
	P_LOG=$first_log
	stop_private || return 1
	[ ! -e "$SOCK" ] || { why "socket file left after a clean stop"; return 1; }
}

# A full listen backlog (the daemon stopped for a moment): Linux refuses a
# non-blocking AF_UNIX connect with EAGAIN and queues nothing. ctl must retry
# until its deadline, not send into an unconnected socket (ENOTCONN, exit 69).
sc_full_backlog() {
	local out
	ctl_proxy || return 1
	out=$("$PY" - "$SOCK" "$P_PID" "$DPP_BIN" <<'EOF'
import os, signal, socket, subprocess, sys, time
sock, pid, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.kill(pid, signal.SIGSTOP)
fill = []
try:
    while len(fill) < 1000:
        s = socket.socket(socket.AF_UNIX)
        s.setblocking(False)
        s.connect(sock)
        fill.append(s)
except BlockingIOError:
    pass
p = subprocess.Popen([binary, "ctl", "--control-socket", sock, "status"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
time.sleep(1)
for s in fill:
    s.close()
os.kill(pid, signal.SIGCONT)
_, err = p.communicate(timeout=30)
print(len(fill), p.returncode, err.decode().strip())
EOF
)
	log "backlog fillers, ctl status exit, its stderr: $out"
	expect_match "backlog was full" '^[1-9][0-9]* ' "$out" || return 1
	expect_match "ctl status waited and succeeded" '^[0-9]+ 0 ' "$out" || return 1
	stop_private
}

# median_ping N: median time_total of N curl /_ping in ms (3 decimals).
median_ping() {
	local i
	for i in $(seq "$1"); do
		curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$P_PORT/_ping"
	done | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f\n", a[int((NR + 1) / 2)] * 1000 }'
}

sc_stalled_subscriber() {
	local base stalled spid out dropped ok
	ctl_proxy || return 1
	base=$(median_ping 200)
	ctl stall "$D/stall.ready" &
	spid=$!
	wait_for 10 test -e "$D/stall.ready" || { why "the stalling subscriber did not subscribe"; return 1; }
	# Enough events to overflow its socket, output buffer and ring.
	"$PY" - "$P_PORT" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(4000):
    c.request("GET", "/_ping")
    c.getresponse().read()
EOF
	stalled=$(median_ping 200)
	log "median /_ping: ${base} ms alone, ${stalled} ms with a stalled subscriber"
	ok=$(awk -v b="$base" -v s="$stalled" 'BEGIN { print (s < 2 * b + 2) ? 1 : 0 }')
	expect_eq "latency with a stalled subscriber < 2x + 2 ms (${base} -> ${stalled})" 1 "$ok" || return 1
	out=$(ctl req status) || { why "status failed"; return 1; }
	dropped=$(jget "$out" 'max([s["dropped"] for s in o["subscribers"] if s["name"].startswith("ctl:")] or [0])')
	log "the stalled subscriber dropped $dropped events"
	expect_match "drops counted" '^[1-9]' "$dropped" || return 1
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	ctl req status >/dev/null || { why "daemon unhealthy after the subscriber left"; return 1; }
	stop_private
}

sc_bye() {
	local bpid out
	ctl_proxy || return 1
	ctl bye 30 >"$D/bye.out" &
	bpid=$!
	sleep 1
	stop_private || return 1
	wait "$bpid" || { why "no bye line before the connection closed"; return 1; }
	out=$(cat "$D/bye.out")
	expect_eq "bye reason" stopping "$(jget "$out" 'o["bye"]["reason"]')" || return 1
	[ ! -e "$SOCK" ] || { why "socket file left after SIGTERM"; return 1; }
}

ctl_cleanup() {
	[ -z "$PUB" ] || rm -rf "$PUB"
	getent group "$TEST_GROUP" >/dev/null && groupdel "$TEST_GROUP" 2>/dev/null
	return 0
}

e2e_init
trap 'e2e_cleanup; ctl_cleanup' EXIT
ensure_packages
command -v sqlite3 >/dev/null || setup_failed packages "the sqlite3 CLI is not installed"
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ "$DPP_E2E_TARGET" = proxy ] || setup_failed target "control tests need the proxy (DPP_E2E_TARGET=proxy)"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}
PUB=$(mktemp -d /tmp/dpp-ctl-e2e.XXXXXX) && chmod 755 "$PUB" && cp "$E2E_DIR/ctlclient.py" "$PUB/" &&
	chmod 644 "$PUB/ctlclient.py" || setup_failed scratch "cannot prepare $PUB"

run_scenario ctl/hello sc_hello
run_scenario ctl/status-rules-limits sc_status_rules_limits
run_scenario ctl/events-kind-filter sc_events_filtered
run_scenario ctl/event-bytes-out sc_event_bytes_out
run_scenario ctl/dry-run-history sc_dry_run_history
run_scenario ctl/symlinked-config sc_symlinked_config
run_scenario ctl/history-rollback-confirm sc_rollback
run_scenario ctl/apply-stale-refused sc_apply_stale
run_scenario ctl/reload sc_reload
run_scenario ctl/foreign-uid-refused sc_foreign_uid
run_scenario ctl/refused-flood sc_refused_flood
run_scenario ctl/stale-replaced-live-kept sc_stale_live
run_scenario ctl/full-backlog sc_full_backlog
run_scenario ctl/stalled-subscriber sc_stalled_subscriber
run_scenario ctl/bye-on-sigterm sc_bye
ctl_cleanup
e2e_finish
