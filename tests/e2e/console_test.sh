#!/usr/bin/env bash
# End-to-end tests of the operator console, driven for real in tmux
# (send-keys, capture-pane) with the real dockerd and the docker CLI: the
# proxy runs on the pane's terminal, so the console takes the screen.
#
#   tests/e2e/console_test.sh        # ends with "e2e: N passed, M failed"
#
# Each console runs under a wrapper that records `stty -g` before and after
# it and its exit status, so tty restoration and exit codes are checked, not
# assumed. $EDITOR is a script whose behaviour a file selects.

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# console_cfg TAG PORT: a config with a deny rule, a rate limit, an audit file
# and the console's log file.
console_cfg() {
	cat >"$RUN_DIR/cfg-$1.yaml" <<EOF
# console e2e ($1)
global:
  port: $2
  audit_log: $RUN_DIR/audit-$1.jsonl
  log_file: $RUN_DIR/console-$1.log
  store:
    path: $RUN_DIR/store-$1.db
auth:
  type: none
rules:
  - name: no-privileged
    action: deny
    conditions:
      - field: body.HostConfig.Privileged
        operator: equals
        value: true
    message: "privileged containers are not allowed"
  - name: limit-info
    action: rate_limit
    conditions:
      - {field: path, operator: equals, value: /info}
    rate_limit: {requests: 2, period: 60, penalty: 30}
EOF
}

# start_console TAG [ENV...] -- [PROXY ARGS...]: a tmux session TAG at 80x24
# running the proxy in console mode; sets C_PORT and C_HOST.
start_console() {
	local tag=$1 envs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	C_PORT=$(free_port)
	C_HOST="tcp://127.0.0.1:$C_PORT"
	console_cfg "$tag" "$C_PORT"
	rm -f "$RUN_DIR/$tag".{rc,pid,stty-before,stty-after}
	tm new-session -d -s "$tag" -x 80 -y 24 \
		env -u VISUAL EDITOR="$RUN_DIR/editor.sh" "${envs[@]}" \
		sh "$RUN_DIR/wrap.sh" "$tag" "$DPP_BIN" --config "$RUN_DIR/cfg-$tag.yaml" \
		--socket "$DOCKER_SOCK" "$@" || { why "tmux new-session failed"; return 1; }
	wait_for 20 ping_ok "$C_PORT" || { screen "$tag"; why "console proxy did not answer"; return 1; }
	tm_wait_line "$tag" '1 Live 2 Denials' 10 || { screen "$tag"; why "no console on the screen"; return 1; }
}

screen() { echo "--- screen of $1:"; tm capture-pane -p -t "$1"; echo "---"; }
keys() { tm send-keys -t "$@"; }
# wait_screen TAG ERE [SECONDS]
wait_screen() {
	tm_wait_line "$1" "$2" "${3:-10}" && return 0
	screen "$1"
	why "the screen of $1 never showed /$2/"
}
no_line() {
	if tm_has_line "$1" "$2"; then
		screen "$1"
		why "the screen of $1 shows /$2/"
		return 1
	fi
	return 0
}
cpid() { cat "$RUN_DIR/$1.pid" 2>/dev/null; }
# sql TAG QUERY: the store of console TAG, read-only.
sql() { sqlite3 "file:$RUN_DIR/store-$1.db?mode=ro" "$2"; }
sql_is() { [ "$(sql "$1" "$2")" = "$3" ]; }

# The console session shared by the scenarios that follow one another.
S=main

sc_live_fields() {
	start_console "$S" -- || return 1
	DOCKER_HOST_=$C_HOST
	MAIN_PORT=$C_PORT
	dk version >/dev/null || { why "docker version through the proxy failed"; return 1; }
	curl -s "http://127.0.0.1:$C_PORT/_ping" >/dev/null
	screen "$S"
	# time, client, method, canonical path (no version prefix), status,
	# decision as text, rule, latency, bytes
	wait_screen "$S" '^[0-9]{2}:[0-9]{2}:[0-9]{2} 127\.0\.0\.1 +GET +/version +200 ALLOW -  +[0-9.]+m?s +[0-9.]+K? *$' || return 1
	wait_screen "$S" 'GET +/_ping +200 ALLOW' || return 1
	wait_screen "$S" '^TIME +CLIENT +METHOD +PATH +ST +DECIS +RULE +LAT +BYTES' || return 1
	# The header: listen address, upstream, Docker version, auth, config.
	wait_screen "$S" "^127\\.0\\.0\\.1:$C_PORT \\| -> $DOCKER_SOCK \\| Docker [0-9]" || return 1
	wait_screen "$S" '^auth none \| cfg-main\.yaml@[0-9a-f]{8}$' || return 1
	wait_screen "$S" '^[0-9.]+ req/s \| [0-9]+ denied/min \| 0 open streams \| 0 of 2 rules dry-run$' || return 1
	# Enter opens the details: headers (no Authorization), rules evaluated.
	keys "$S" Enter
	wait_screen "$S" '^Details' || return 1
	wait_screen "$S" 'Header fields' || return 1
	keys "$S" Escape
	wait_screen "$S" '1 Live 2 Denials' || return 1
	keys "$S" End
}

dk() { timeout -k 5 120 "$DOCKER" -H "$DOCKER_HOST_" "$@"; }

sc_denial_privileged() {
	local out
	out=$(dk run --rm --privileged "$IMG" true 2>&1) && { why "privileged run was allowed: $out"; return 1; }
	expect_match "CLI message" 'privileged containers are not allowed' "$out" || return 1
	keys "$S" 2
	wait_screen "$S" 'POST +/containers/create +403 DENY +no-privileged' || return 1
	# Details of the denial name the rule and its condition's result.
	keys "$S" Enter
	wait_screen "$S" '#1 no-privileged: DENIED' || return 1
	wait_screen "$S" '\[true \] body\.HostConfig\.Privileged equals true' || return 1
	wait_screen "$S" '^  \{"Hostname":' || return 1
	keys "$S" Escape End
}

sc_dry_run_toggle() {
	local out before
	before=$(sha256sum <"$RUN_DIR/cfg-$S.yaml")
	keys "$S" 3
	wait_screen "$S" '^ +0 +no-privileged +deny +- +[0-9]+ +1 ' || return 1
	keys "$S" t
	wait_screen "$S" 'Apply\? \(y/N\)' || return 1
	wait_screen "$S" '^\+ +dry_run: true' || return 1
	expect_eq "file unchanged before y" "$before" "$(sha256sum <"$RUN_DIR/cfg-$S.yaml")" || return 1
	keys "$S" y
	wait_screen "$S" 'applied, live now' || return 1
	grep -A2 'name: no-privileged' "$RUN_DIR/cfg-$S.yaml" | grep -q '^    dry_run: true$' ||
		{ cat "$RUN_DIR/cfg-$S.yaml"; why "the config file does not hold dry_run: true"; return 1; }
	wait_screen "$S" '^ +0 +no-privileged +deny +DRY ' || return 1
	# The next try goes through, as a dry run.
	# (created, not started: this dockerd may lack the capabilities to run it)
	out=$(dk create "${LBL[@]}" --privileged "$IMG" true 2>&1) || { why "privileged create still refused: $out"; return 1; }
	keys "$S" 2
	wait_screen "$S" 'DRY +no-privileged' || return 1
	grep -q '"event":"dry_run"' "$RUN_DIR/audit-$S.jsonl" ||
		{ why "no dry_run record in the audit file"; return 1; }
	grep -q 'console: dry-run on for rule no-privileged applied' "$RUN_DIR/console-$S.log" ||
		{ why "the log does not record the change"; return 1; }
	# The store: the version with source console, applied, holding the
	# flag, and the dry_run audit row.
	wait_for 10 sql_is "$S" "SELECT source || ' ' || applied || ' ' || (instr(content, 'dry_run: true') > 0) FROM config_versions ORDER BY id DESC LIMIT 1" "console 1 1" ||
		{ sql "$S" "SELECT id, source, applied FROM config_versions"; why "config_versions lacks the console version"; return 1; }
	wait_for 10 sql_is "$S" "SELECT count(*) > 0 FROM audit_events WHERE event = 'dry_run' AND rule_name = 'no-privileged'" 1 ||
		{ why "no dry_run row in audit_events"; return 1; }
}

sc_editor_invalid() {
	local before
	before=$(sha256sum <"$RUN_DIR/cfg-$S.yaml")
	echo invalid >"$RUN_DIR/editor-mode"
	keys "$S" 3 e
	wait_screen "$S" 'not one valid rule' || return 1
	wait_screen "$S" 'line [0-9]+ column [0-9]+' || return 1
	wait_screen "$S" 'Nothing was applied' || return 1
	keys "$S" Escape
	expect_eq "file unchanged" "$before" "$(sha256sum <"$RUN_DIR/cfg-$S.yaml")" || return 1
	# The whole file, refused by the real loader with FILE:LINE:COL.
	echo invalid-config >"$RUN_DIR/editor-mode"
	keys "$S" E
	wait_screen "$S" 'refused by the configuration loader' || return 1
	wait_screen "$S" "cfg-$S\\.yaml:[0-9]+:[0-9]+: " || return 1
	keys "$S" Escape
	expect_eq "file unchanged" "$before" "$(sha256sum <"$RUN_DIR/cfg-$S.yaml")" || return 1
	wait_for 10 sql_is "$S" "SELECT source || ' ' || applied FROM config_versions ORDER BY id DESC LIMIT 1" "console 0" ||
		{ why "the refused edit is not in config_versions"; return 1; }
	grep -c . "$RUN_DIR/editor-calls" | grep -qx 2 || { why "the editor did not run twice"; return 1; }
}

sc_editor_valid() {
	echo valid >"$RUN_DIR/editor-mode"
	keys "$S" 3 e
	wait_screen "$S" 'Apply\? \(y/N\)' || return 1
	wait_screen "$S" '^\+ +message: "no privileged containers here"' || return 1
	wait_screen "$S" '^- +message: "privileged containers are not allowed"' || return 1
	keys "$S" y
	wait_screen "$S" 'applied, live now' || return 1
	grep -q 'message: "no privileged containers here"' "$RUN_DIR/cfg-$S.yaml" ||
		{ why "the change is not in the file"; return 1; }
}

sc_undo() {
	keys "$S" u
	wait_screen "$S" 'undo the last change: valid' || return 1
	keys "$S" y
	wait_screen "$S" 'applied, live now' || return 1
	grep -q 'message: "privileged containers are not allowed"' "$RUN_DIR/cfg-$S.yaml" ||
		{ why "undo did not restore the message"; return 1; }
	grep -q 'dry_run: true' "$RUN_DIR/cfg-$S.yaml" || { why "undo went back too far"; return 1; }
}

sc_changed_on_disk() {
	# A hand edit between reading and applying is never overwritten.
	echo valid >"$RUN_DIR/editor-mode"
	keys "$S" 3 e
	wait_screen "$S" 'Apply\? \(y/N\)' || return 1
	printf '# edited by hand\n' >>"$RUN_DIR/cfg-$S.yaml"
	keys "$S" y
	wait_screen "$S" 'changed on disk since it was read' || return 1
	keys "$S" Escape
	grep -q '^# edited by hand$' "$RUN_DIR/cfg-$S.yaml" || { why "the hand edit was lost"; return 1; }
	grep -q 'no privileged containers here' "$RUN_DIR/cfg-$S.yaml" && { why "the refused edit was written"; return 1; }
	return 0
}

sc_audit_and_history() {
	keys "$S" 5
	wait_screen "$S" 'POST +/containers/create +403 DENY +no-privileged' || return 1
	wait_screen "$S" 'store page 1' || return 1
	keys "$S" / C-u 'rule:no-privileged status:4xx since:1h' Enter
	wait_screen "$S" '^\[/rule:no-privileged status:4xx since:1h\]' || return 1
	wait_screen "$S" 'POST +/containers/create +403 DENY +no-privileged' || return 1
	no_line "$S" ' ALLOW ' || return 1
	keys "$S" / C-u Enter 6
	wait_screen "$S" '^ +[0-9]+ +[0-9T:-]+.* console +.* yes' || return 1
	wait_screen "$S" '^ +1 +[0-9T:-]+.* startup +' || return 1
	# Roll back to the start-up version: validate, diff, confirm, apply.
	keys "$S" G d
	wait_screen "$S" '^live file vs version 1' || return 1
	wait_screen "$S" '^- +dry_run: true' || return 1
	keys "$S" Escape r
	wait_screen "$S" 'roll back to version 1: valid' || return 1
	keys "$S" y
	wait_screen "$S" 'applied, live now' || return 1
	grep -q 'dry_run' "$RUN_DIR/cfg-$S.yaml" && { why "the rollback did not restore version 1"; return 1; }
	wait_for 10 sql_is "$S" "SELECT source || ' ' || applied FROM config_versions ORDER BY id DESC LIMIT 1" "rollback 1" ||
		{ sql "$S" "SELECT id, source, applied FROM config_versions"; why "no rollback row"; return 1; }
	keys "$S" 1
}

sc_rate_limit_countdown() {
	local a b i
	for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$C_PORT/info"; done
	keys "$S" 4
	wait_screen "$S" '^limit-info +127\.0\.0\.1 +0\.[0-9]/2 +2/1m00s +[0-9.]+s +1$' || return 1
	a=$(tm capture-pane -p -t "$S" | sed -n 's/^limit-info .* \([0-9.]*\)s  *1$/\1/p')
	sleep 2.2
	b=$(tm capture-pane -p -t "$S" | sed -n 's/^limit-info .* \([0-9.]*\)s  *1$/\1/p')
	log "penalty remaining: $a s, then $b s"
	[ -n "$a" ] && [ -n "$b" ] || { screen "$S"; why "no penalty countdown"; return 1; }
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(b < a - 1.5 && b > a - 3.5) }' ||
		{ why "the countdown did not decrease by about 2 s: $a -> $b"; return 1; }
}

sc_filter() {
	keys "$S" 1 /
	wait_screen "$S" '^filter:' || return 1
	keys "$S" -l 'status:4xx'
	keys "$S" Enter
	wait_screen "$S" '^\[/status:4xx\]' || return 1
	wait_screen "$S" 'GET +/info +429 LIMIT +limit-info' || return 1
	no_line "$S" ' 200 ALLOW ' || return 1
	keys "$S" / C-u 'method:POST' Enter
	wait_screen "$S" '^\[/method:POST\]' || return 1
	wait_screen "$S" 'POST +/containers/create +403 DENY' || return 1
	no_line "$S" ' GET ' || return 1
	keys "$S" / C-u 'status:abc' Enter
	wait_screen "$S" 'filter not changed: status:' || return 1
	keys "$S" / C-u Enter
	wait_screen "$S" ' 200 ALLOW ' || return 1
}

sc_resize() {
	local cap
	tm resize-window -t "$S" -x 200 -y 60
	wait_screen "$S" '^TIME +CLIENT +IDENTITY/ROLE +METHOD +PATH' || return 1
	cap=$(tm capture-pane -p -t "$S")
	expect_eq "rows at 200x60" 60 "$(printf '%s\n' "$cap" | wc -l)" || return 1
	[[ $(printf '%s\n' "$cap" | sed -n 1p) =~ Docker\ [0-9.]+.*API.*up\  ]] ||
		{ screen "$S"; why "the wide header lacks the API version or uptime"; return 1; }
	[[ $(printf '%s\n' "$cap" | sed -n 60p) =~ q:quit ]] || { screen "$S"; why "no footer on row 60"; return 1; }
	wait_screen "$S" 'anonymous/admin' || return 1
	tm resize-window -t "$S" -x 80 -y 24
	wait_screen "$S" '^TIME +CLIENT +METHOD +PATH +ST +DECIS +RULE +LAT +BYTES$' || return 1
	cap=$(tm capture-pane -p -t "$S")
	expect_eq "rows at 80x24" 24 "$(printf '%s\n' "$cap" | wc -l)" || return 1
	[[ $(printf '%s\n' "$cap" | sed -n 24p) =~ q:quit ]] || { screen "$S"; why "no footer on row 24"; return 1; }
	[[ $(printf '%s\n' "$cap" | sed -n 4p) =~ ^1\ Live\ 2\ Denials\ 3\ Rules\ 4\ Limits\ 5\ Audit\ 6\ History\ 7\ Log ]] ||
		{ screen "$S"; why "the tabs row broke at 80 columns"; return 1; }
	[ "$(printf '%s\n' "$cap" | awk '{ if (length($0) > 80) n++ } END { print n + 0 }')" = 0 ] ||
		{ why "a line is wider than 80 columns"; return 1; }
}

sc_help_and_pause() {
	keys "$S" '?'
	wait_screen "$S" '^Help: keys' || return 1
	wait_screen "$S" '^  1 +Live: every finished request' || return 1
	keys "$S" NPage
	wait_screen "$S" '^  t +toggle dry-run of the selected rule' || return 1
	keys "$S" Escape 1 Z
	wait_screen "$S" '\[PAUSED \+0\]' || return 1
	curl -s -o /dev/null "http://127.0.0.1:$C_PORT/_ping"
	wait_screen "$S" '\[PAUSED \+1\]' || return 1
	keys "$S" Z
	wait_for 5 eval '! tm_has_line "$S" PAUSED' || { screen "$S"; why "still PAUSED after Z"; return 1; }
}

sc_colour() {
	# In tmux's default terminal the decisions are coloured ...
	tm capture-pane -e -p -t "$S" | grep -q $'\e\\[3[0-7]m' ||
		{ why "no colour escape in the default terminal"; return 1; }
	# ... and TERM=vt100 or NO_COLOR=1 render without any colour.
	local tag
	for tag in vt100 nocolor; do
		if [ $tag = vt100 ]; then
			start_console $tag TERM=vt100 -- || return 1
		else
			start_console $tag NO_COLOR=1 -- || return 1
		fi
		curl -s -o /dev/null "http://127.0.0.1:$C_PORT/_ping"
		wait_screen $tag 'GET +/_ping +200 ALLOW' || return 1
		if tm capture-pane -e -p -t $tag | grep -Eq $'\e\\[([0-9]*;)*(3[0-8]|4[0-8]|9[0-7]|10[0-7])(;[0-9]+)*m'; then
			tm capture-pane -e -p -t $tag | cat -v | head -5
			why "$tag: colour escapes on the screen"
			return 1
		fi
		tm capture-pane -e -p -t $tag | grep -Eq $'\e\\[([0-9]+;)*7(;[0-9]+)*m' ||
			{ why "$tag: no reverse video for the tabs"; return 1; }
		keys $tag q y
		wait_for 15 test -s "$RUN_DIR/$tag.rc" || { why "$tag did not exit"; return 1; }
	done
}

sc_read_only() {
	local before
	start_console ro -- --read-only || return 1
	before=$(sha256sum <"$RUN_DIR/cfg-ro.yaml")
	wait_screen ro '\[READ-ONLY\]' || return 1
	keys ro 3 t
	wait_screen ro "read-only console \\(--read-only\\): 't' \\(toggle_dry_run\\) is refused" || return 1
	expect_eq "file unchanged" "$before" "$(sha256sum <"$RUN_DIR/cfg-ro.yaml")" || return 1
	keys ro q y
	wait_for 15 test -s "$RUN_DIR/ro.rc" || { why "did not exit"; return 1; }
}

sc_sighup_reload() {
	# kill -HUP with the terminal still there is a reload, not a hangup.
	local pid
	pid=$(cpid "$S")
	sed -i 's/penalty: 30/penalty: 31/' "$RUN_DIR/cfg-$S.yaml"
	kill -HUP "$pid"
	wait_screen "$S" 'SIGHUP: configuration reloaded' || return 1
	proc_alive "$pid" || { why "the proxy exited on kill -HUP"; return 1; }
	grep -q 'configuration reloaded' "$RUN_DIR/console-$S.log" || { why "no reload in the log"; return 1; }
}

sc_quit() {
	keys "$S" q
	wait_screen "$S" 'Stop the proxy and quit\? \(y/N\)' || return 1
	keys "$S" n
	wait_screen "$S" 'still running' || return 1
	ping_ok "$MAIN_PORT" || { why "the proxy stopped after n"; return 1; }
	keys "$S" F10
	wait_screen "$S" 'Stop the proxy and quit\? \(y/N\)' || return 1
	keys "$S" y
	wait_for 20 test -s "$RUN_DIR/$S.rc" || { why "no exit after q y"; return 1; }
	expect_eq "exit status" 0 "$(cat "$RUN_DIR/$S.rc")" || return 1
	wait_for 5 test -s "$RUN_DIR/$S.stty-after" || { why "no stty after"; return 1; }
	expect_eq "tty state restored" "$(cat "$RUN_DIR/$S.stty-before")" "$(cat "$RUN_DIR/$S.stty-after")" || return 1
	grep -q 'stopped$' "$RUN_DIR/console-$S.log" || { why "the log does not end with stopped"; return 1; }
}

sc_sigterm_restores_tty() {
	start_console term -- || return 1
	kill -TERM "$(cpid term)"
	wait_for 20 test -s "$RUN_DIR/term.stty-after" || { why "no exit after SIGTERM"; return 1; }
	expect_eq "exit status" 0 "$(cat "$RUN_DIR/term.rc")" || return 1
	expect_eq "tty state restored" "$(cat "$RUN_DIR/term.stty-before")" "$(cat "$RUN_DIR/term.stty-after")" || return 1
}

sc_killed_session() {
	# A dropped SSH session: the terminal goes away under the console.
	# The proxy must notice the hangup (SIGHUP with the tty gone, or POLLHUP
	# on stdin), stop cleanly, not hang, and leave its log complete. The tty
	# itself no longer exists, so its state cannot be read afterwards; the
	# restoring paths are checked by quit, sigterm and fatal-signal.
	local pid
	start_console hup -- || return 1
	pid=$(cpid hup)
	tm kill-session -t hup
	wait_for 20 eval '! proc_alive "$pid"' || { why "the proxy kept running after its terminal went away"; return 1; }
	grep -q 'hung up; stopping the proxy' "$RUN_DIR/console-hup.log" || { tail "$RUN_DIR/console-hup.log"; why "no hangup in the log"; return 1; }
	grep -q 'stopped$' "$RUN_DIR/console-hup.log" || { why "no clean stop in the log"; return 1; }
	grep -q 'reloading' "$RUN_DIR/console-hup.log" && { why "the hangup was taken for a reload"; return 1; }
	return 0
}

sc_fatal_signal_restores_tty() {
	# A crash (here SIGABRT) still gives the terminal back: the handler
	# restores the saved termios before the signal takes the process.
	start_console abrt -- || return 1
	kill -ABRT "$(cpid abrt)"
	wait_for 20 test -s "$RUN_DIR/abrt.rc" || { why "no exit after SIGABRT"; return 1; }
	expect_eq "killed by SIGABRT" 134 "$(cat "$RUN_DIR/abrt.rc")" || return 1
	expect_eq "tty state restored" "$(cat "$RUN_DIR/abrt.stty-before")" "$(cat "$RUN_DIR/abrt.stty-after")" || return 1
}

sc_headless_without_tty() {
	# stdin not a terminal (and no --headless): headless as before, logging
	# to stderr, not to global.log_file.
	local port log="$RUN_DIR/headless.log" pid rc
	port=$(free_port)
	"$DPP_BIN" --config "$RUN_DIR/cfg-$S.yaml" --port "$port" --socket "$DOCKER_SOCK" \
		</dev/null >"$log" 2>&1 &
	pid=$!
	wait_for 20 grep -q 'listening on' "$log" || { kill_bg "$pid"; cat "$log"; why "no start-up line on stderr"; return 1; }
	ping_ok "$port" || { kill_bg "$pid"; why "headless proxy does not answer"; return 1; }
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	expect_eq "exit status" 0 "$rc"
}

e2e_init
ensure_packages || e2e_finish
ensure_dockerd || e2e_finish
build_image || e2e_finish
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[-1]:-docker}

write_tty_wrapper "$RUN_DIR/wrap.sh"
cat >"$RUN_DIR/editor.sh" <<EOF
#!/bin/sh
mode=\$(cat "$RUN_DIR/editor-mode")
echo "\$mode \$1" >>"$RUN_DIR/editor-calls"
case \$mode in
invalid) printf -- '- name: no-privileged\n  action: [deny\n' >"\$1" ;;
invalid-config) printf 'global:\n  port: [1\n' >"\$1" ;;
valid) sed -i 's/privileged containers are not allowed/no privileged containers here/' "\$1" ;;
esac
EOF
chmod +x "$RUN_DIR/editor.sh"

run_scenario console/live-fields sc_live_fields
run_scenario console/denial-privileged sc_denial_privileged
run_scenario console/dry-run-toggle sc_dry_run_toggle
run_scenario console/editor-invalid sc_editor_invalid
run_scenario console/editor-valid sc_editor_valid
run_scenario console/undo sc_undo
run_scenario console/changed-on-disk sc_changed_on_disk
run_scenario console/audit-and-history sc_audit_and_history
run_scenario console/rate-limit-countdown sc_rate_limit_countdown
run_scenario console/filter sc_filter
run_scenario console/resize sc_resize
run_scenario console/help-and-pause sc_help_and_pause
run_scenario console/sighup-reload sc_sighup_reload
run_scenario console/colour sc_colour
run_scenario console/read-only sc_read_only
run_scenario console/quit sc_quit
run_scenario console/sigterm-restores-tty sc_sigterm_restores_tty
run_scenario console/killed-session sc_killed_session
run_scenario console/fatal-signal-restores-tty sc_fatal_signal_restores_tty
run_scenario console/headless-without-tty sc_headless_without_tty
e2e_finish
