#!/usr/bin/env bash
# End-to-end tests of the SQLite store (global.store) with the real dockerd:
# rows against the JSONL audit file, an external write lock, a full
# filesystem, kill -9 under load, a corrupt file, SIGHUP history, rollback
# with and without --confirm, retention, and every query of README's
# "Audit queries" section run with the sqlite3 CLI. Uses lib.sh.
#
#   tests/e2e/store_test.sh        # ends with "e2e: N passed, M failed"
#
# Test hooks of the proxy used here (documented in README): DPP_STORE_QUEUE
# (events kept while the file cannot be written) and DPP_STORE_SWEEP_MS
# (retention sweep interval).

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

ADMIN_TOKEN="adm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
USER_TOKEN="usr-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ADMIN_TOKEN USER_TOKEN
MNT=""

client_config() {
	mkdir -p "$RUN_DIR/cfg-$1"
	printf '{"HttpHeaders":{"Authorization":"Bearer %s"}}\n' "$2" >"$RUN_DIR/cfg-$1/config.json"
}

as() {
	local who=$1
	shift
	DOCKER_CONFIG="$RUN_DIR/cfg-$who" timeout -k 5 120 "$DOCKER" -H "$PROXY_HOST" "$@"
}

cname() { echo "dpp-store-$RUN_ID-$1"; }
token_identity() { printf 'token:%s' "$(printf %s "$1" | sha256sum | cut -c1-8)"; }
dpp() { timeout -k 5 60 "$DPP_BIN" "$@"; }

metric_value() {
	curl -s "http://127.0.0.1:$PROXY_PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'
}
metric_sum() {
	curl -s "http://127.0.0.1:$PROXY_PORT/metrics" |
		awk -v k="$1" 'index($1, k) == 1 { s += $2 } END { printf "%d\n", s }'
}

# The rules every scenario uses (the seed's syntax).
RULES='rules:
  - name: block-exec
    action: deny
    message: "exec is disabled on this host"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: matches, value: "^/containers/[^/]+/exec$"}
  - name: no-volume-create
    action: deny
    message: "MSG_VOLUMES"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: equals, value: /volumes/create}
  - name: watch-networks
    action: deny
    dry_run: true
    message: "network listing is watched"
    conditions:
      - {field: method, operator: equals, value: GET}
      - {field: path, operator: equals, value: /networks}'

# store_proxy [GLOBAL_EXTRA_YAML] [MSG]: (re)starts the proxy with a fresh
# directory: config, JSONL audit file and store side by side.
store_proxy() {
	[ -z "$PROXY_PID" ] || stop_proxy 15 || return 1
	SDIR="$RUN_DIR/store-$SCEN_NO"
	mkdir -p "$SDIR"
	AUDIT="$SDIR/audit.jsonl"
	CFG="$SDIR/config.yaml"
	DB=${DB_OVERRIDE:-$SDIR/store.db}
	write_cfg "${1:-}" "${2:-volume creation is disabled}"
	DPP_PROXY_ARGS="--config $CFG"
	start_proxy || { why "proxy did not start with $CFG"; return 1; }
}

# write_cfg GLOBAL_EXTRA MSG: the config file (the store path spelled out).
write_cfg() {
	{
		printf 'global:\n  audit_log: %s\n  metrics: {enabled: true}\n' "$AUDIT"
		printf '  store:\n    path: %s\n' "$DB"
		[ -z "$1" ] || printf '%s\n' "$1"
		printf 'auth:\n  tokens:\n'
		printf '    - {token: "%s", role: admin}\n' "$ADMIN_TOKEN"
		printf '    - {token: "${USER_TOKEN}", role: user}\n'
		printf '%s\n' "${RULES/MSG_VOLUMES/$2}"
	} >"$CFG"
}

sql() { sqlite3 -readonly -cmd '.timeout 5000' "$DB" "$@"; }
rows() { sql "SELECT count(*) FROM audit_events${1:+ WHERE $1}"; }
jsonl_count() { [ -f "$AUDIT" ] && wc -l <"$AUDIT" || echo 0; }

# deny_curl N: N denied POST /volumes/create through curl; fails on any other status.
deny_curl() {
	local i code
	for i in $(seq 1 "$1"); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $ADMIN_TOKEN" \
			-H 'Content-Type: application/json' -d '{"Name":"x"}' "http://127.0.0.1:$PROXY_PORT/v1.41/volumes/create")
		[ "$code" = 403 ] || { why "request $i: status $code, want 403"; return 1; }
	done
}

# ---------------------------------------------------------------------------

sc_rows_match_jsonl() {
	local c out
	store_proxy || return 1
	c=$(cname exec)
	as admin run -d "${LBL[@]}" --network none --name "$c" "$IMG" sleep 300 >/dev/null || { why "run -d refused"; return 1; }
	out=$(as admin exec "$c" true 2>&1) && { why "exec was not denied"; return 1; }
	[[ $out == *"exec is disabled on this host"* ]] || { why "exec denial message: $out"; return 1; }
	as user volume create "$(cname vol)" >/dev/null 2>&1 && { why "volume create was not denied"; return 1; }
	as admin network ls >/dev/null || { why "network ls (dry-run rule) refused"; return 1; }
	curl -s -o /dev/null -H 'Authorization: Bearer wrong-token-value' "http://127.0.0.1:$PROXY_PORT/_ping"
	wait_for 5 eval '[ "$(jsonl_count)" -ge 5 ] && [ "$(rows)" = "$(jsonl_count)" ]' ||
		{ why "store has $(rows) rows, the JSONL file $(jsonl_count) records"; return 1; }
	expect_eq "rows = JSONL records" "$(jsonl_count)" "$(rows)" || return 1
	# Each JSONL record is a row with the same values, field by field.
	"$PY" - "$AUDIT" "$DB" <<'PYEOF' || { why "a JSONL record differs from its row"; return 1; }
import json, sqlite3, sys
audit, db = sys.argv[1:3]
SEED = ["timestamp", "event", "peer_ip", "method", "path", "user_agent", "user_role",
        "identity", "rule_name", "rule_action", "status", "dry_run", "message"]
con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
con.row_factory = sqlite3.Row
rows = {r["request_id"]: r for r in con.execute("SELECT * FROM audit_events")}
recs = [json.loads(l) for l in open(audit)]
assert len(recs) == len(rows), (len(recs), len(rows))
for rec in recs:
    row = rows[rec["request_id"]]
    for k in SEED:
        want = rec[k]
        got = bool(row[k]) if k == "dry_run" else row[k]
        if got != want:
            print("request %s: %s is %r in the store, %r in the JSONL file" % (rec["request_id"], k, got, want))
            sys.exit(1)
    assert row["duration_ms"] == rec["duration_ms"]
    assert row["time_ms"] > 1700000000000
kinds = sorted(r["event"] for r in rows.values())
print("events:", kinds)
# auth failures: the wrong token, and start_proxy's token-less ping(s)
assert kinds.count("deny") == 2 and kinds.count("dry_run") == 1 and kinds.count("auth_failure") in (2, 3), kinds
PYEOF
	expect_eq "exec row" "deny|block-exec|deny|403|admin|$(token_identity "$ADMIN_TOKEN")|127.0.0.1|exec is disabled on this host" \
		"$(sql "SELECT event, rule_name, rule_action, status, user_role, identity, client_ip, message FROM audit_events WHERE path GLOB '/containers/*/exec'")" || return 1
	expect_eq "dry-run row" "dry_run|watch-networks|0|1" \
		"$(sql "SELECT event, rule_name, status, dry_run FROM audit_events WHERE event = 'dry_run'")" || return 1
	sql "SELECT count(*) FROM audit_events WHERE message LIKE '%$ADMIN_TOKEN%' OR identity LIKE '%$USER_TOKEN%'" | grep -qx 0 ||
		{ why "a token value is in the store"; return 1; }
	# The CLI: JSON lines with the seed's fields, filters, the table.
	out=$(dpp audit --store "$DB" --json)
	expect_eq "audit --json lines" "$(jsonl_count)" "$(printf '%s\n' "$out" | grep -c .)" || return 1
	printf '%s\n' "$out" >"$SDIR/audit-cli.jsonl"
	"$PY" - "$AUDIT" "$SDIR/audit-cli.jsonl" <<'PYEOF' || { why "audit --json differs from the JSONL file"; return 1; }
import json, sys
SEED = ["timestamp", "event", "peer_ip", "method", "path", "user_agent", "user_role",
        "identity", "rule_name", "rule_action", "status", "dry_run", "message"]
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert len(a) == len(b) and len(a) >= 5, (len(a), len(b))
for x, y in zip(a, b):
    assert list(y)[:13] == SEED, list(y)
    assert [x[k] for k in SEED] == [y[k] for k in SEED], (x, y)
PYEOF
	expect_eq "audit --event deny --rule block-exec" 1 "$(dpp audit --store "$DB" --json --event deny --rule block-exec | wc -l)" || return 1
	expect_eq "audit --identity (user)" 1 "$(dpp audit --config "$CFG" --json --identity "$(token_identity "$USER_TOKEN")" | wc -l)" || return 1
	expect_eq "audit --ip 127.0.0.0/8" "$(jsonl_count)" "$(dpp audit --store "$DB" --json --ip 127.0.0.0/8 | wc -l)" || return 1
	expect_eq "audit --ip 10.0.0.0/8" 0 "$(dpp audit --store "$DB" --json --ip 10.0.0.0/8 | wc -l)" || return 1
	expect_eq "audit --path /containers/ --since 1h" 1 "$(dpp audit --store "$DB" --json --path /containers/ --since 1h | wc -l)" || return 1
	expect_eq "audit --until 2000-01-01" 0 "$(dpp audit --store "$DB" --json --until 2000-01-01 | wc -l)" || return 1
	expect_eq "audit --limit 2" 2 "$(dpp audit --store "$DB" --json --limit 2 | wc -l)" || return 1
	out=$(COLUMNS=200 dpp audit --store "$DB")
	echo "$out"
	[[ $out == *"TIME (UTC)"*"block-exec"* ]] || { why "audit table lacks the header or the exec denial"; return 1; }
	[ "$(printf '%s\n' "$out" | awk '{ if (length($0) > 200) print }' | wc -l)" = 0 ] || { why "audit table wider than COLUMNS"; return 1; }
	expect_eq "metric rows" "$(rows)" "$(metric_value 'docker_proxy_store_rows{table="audit_events"}')" || return 1
	expect_eq "store up" 1 "$(metric_value docker_proxy_store_up)" || return 1
	expect_eq "file mode" 600 "$(stat -c %a "$DB")" || return 1
}

sc_external_lock() {
	local lockpid t0 i code max=0 n=0 ms D="event = 'deny'"
	store_proxy || return 1
	deny_curl 1 || return 1
	wait_for 5 eval '[ "$(rows "$D")" = 1 ]' || { why "first row missing"; return 1; }
	"$PY" - "$DB" >"$RUN_DIR/lock.out" 2>&1 <<'PYEOF' &
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(30)
con.execute("ROLLBACK")
print("released", flush=True)
PYEOF
	lockpid=$!
	wait_for 10 grep -q locked "$RUN_DIR/lock.out" || { kill_bg "$lockpid"; why "python did not take the lock"; return 1; }
	t0=$(now_ms)
	# Requests throughout the 30 s: each one is answered at once.
	while [ $(( $(now_ms) - t0 )) -lt 27000 ]; do
		code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 -H "Authorization: Bearer $ADMIN_TOKEN" \
			-H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$PROXY_PORT/v1.41/volumes/create")
		n=$((n + 1))
		[ "${code% *}" = 403 ] || { kill_bg "$lockpid"; why "request $n: $code"; return 1; }
		ms=$(awk -v t="${code#* }" 'BEGIN { printf "%d", t * 1000 }')
		[ "$ms" -gt "$max" ] && max=$ms
		sleep 0.3
	done
	log "requests during the lock: $n, slowest ${max} ms"
	[ "$max" -lt 500 ] || { kill_bg "$lockpid"; why "a request took ${max} ms while the store was locked"; return 1; }
	expect_eq "rows while locked" 1 "$(rows "$D")" || { kill_bg "$lockpid"; return 1; }
	[ "$(metric_value docker_proxy_store_write_failures_total)" -gt 0 ] || { kill_bg "$lockpid"; why "the writer never met the lock"; return 1; }
	wait "$lockpid"
	grep -q released "$RUN_DIR/lock.out" || { why "lock holder failed: $(cat "$RUN_DIR/lock.out")"; return 1; }
	wait_for 10 eval '[ "$(rows "$D")" = $((n + 1)) ]' || { why "after the lock: $(rows "$D") rows, want $((n + 1))"; return 1; }
	expect_eq "nothing dropped" 0 "$(metric_sum docker_proxy_store_dropped_total)" || return 1
	expect_eq "rows = JSONL records" "$(jsonl_count)" "$(rows)"
}

# The mount goes away on every outcome: the proxy (holding the file open)
# is stopped first, then the tmpfs is unmounted.
sc_disk_full() {
	local rc
	MNT="$RUN_DIR/full"
	mkdir -p "$MNT"
	mount -t tmpfs -o size=1m tmpfs "$MNT" || { MNT=""; skip_because "cannot mount a tmpfs here"; return 77; }
	disk_full_body
	rc=$?
	if [ -n "$PROXY_PID" ]; then
		kill -TERM "$PROXY_PID" 2>/dev/null
		wait_for 15 eval '! proc_alive "$PROXY_PID"' || kill -KILL "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
		PROXY_PID=""
	fi
	umount "$MNT" || { why "cannot unmount $MNT"; rc=1; }
	MNT=""
	return "$rc"
}

disk_full_body() {
	local dropped gaps
	DB_OVERRIDE="$MNT/store.db" DPP_STORE_QUEUE=16 store_proxy || return 1
	deny_curl 2 || return 1
	wait_for 5 eval '[ "$(rows "event = '"'deny'"'")" = 2 ]' || { why "first rows missing"; return 1; }
	# Fill the filesystem.
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
	log "free: $(df -k "$MNT" | tail -1)"
	deny_curl 150 || return 1
	wait_for 10 eval '[ "$(metric_sum docker_proxy_store_dropped_total)" -gt 0 ]' ||
		{ why "no drop counted on a full disk (rows $(rows))"; return 1; }
	proc_alive "$PROXY_PID" || { why "the proxy died on a full disk"; return 1; }
	grep -q 'disk\|full' "$PROXY_LOG" || { why "no log line about the full disk"; return 1; }
	# Space returns: the queued events land, and one gap row tells the loss.
	rm -f "$MNT/filler"
	wait_for 20 eval '[ "$(sql "SELECT count(*) FROM store_gaps")" -ge 1 ]' || { why "no store_gaps row after space returned"; return 1; }
	dropped=$(metric_sum docker_proxy_store_dropped_total)
	wait_for 10 eval '[ $(( $(rows) + dropped )) = "$(jsonl_count)" ]' ||
		{ why "rows $(rows) + dropped $dropped != JSONL $(jsonl_count)"; return 1; }
	gaps=$(sql "SELECT sum(dropped) FROM store_gaps")
	expect_eq "dropped in store_gaps = dropped metric" "$dropped" "$gaps" || return 1
	expect_eq "gap reason" "disk full" "$(sql "SELECT reason FROM store_gaps LIMIT 1")" || return 1
	expect_eq "gap detail names the kind" "$dropped" "$(sql "SELECT detail ->> '$.deny' FROM store_gaps")" || return 1
	deny_curl 1 || return 1
	wait_for 5 eval '[ $(( $(rows) + dropped )) = "$(jsonl_count)" ]' || { why "writing did not recover"; return 1; }
	expect_eq "integrity" ok "$(sql 'PRAGMA integrity_check')" || return 1
	stop_proxy 15
}

sc_kill9() {
	local loadpid written n
	store_proxy '    requests: all' || return 1
	# Load: allowed pings (stored with requests: all) from 8 clients.
	( seq 1 4000 | xargs -P 8 -I{} curl -s -o /dev/null --max-time 10 -H "Authorization: Bearer $ADMIN_TOKEN" \
		"http://127.0.0.1:$PROXY_PORT/_ping" ) &
	loadpid=$!
	wait_for 60 eval '[ "$(metric_value docker_proxy_store_written_total)" -gt 200 ]' || { kill_bg "$loadpid"; why "load did not reach the store"; return 1; }
	written=$(metric_value docker_proxy_store_written_total)
	kill -KILL "$PROXY_PID"
	wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=""
	kill_bg "$loadpid"
	n=$(rows)
	log "committed before the kill: >= $written, rows after: $n"
	expect_eq "integrity_check" ok "$(sql 'PRAGMA integrity_check')" || return 1
	[ "$n" -ge "$written" ] || { why "rows $n < $written committed before kill -9"; return 1; }
	# Rows are whole: no half-written record.
	expect_eq "rows with null fields" 0 "$(rows "timestamp IS NULL OR event IS NULL OR status IS NULL")" || return 1
	# A restart notices the unclean stop, checks the file and goes on.
	DPP_PROXY_ARGS="--config $CFG"
	start_proxy || { why "no restart after kill -9"; return 1; }
	wait_for 5 eval '[ "$(sql "SELECT count(*) FROM store_events WHERE what = '"'store_open'"' AND detail LIKE '"'%unclean%'"'")" = 1 ]' ||
		{ why "restart did not notice the unclean stop"; return 1; }
	deny_curl 1 || return 1
	wait_for 5 eval '[ "$(rows "event = '"'deny'"'")" = 1 ]' || { why "no writing after restart"; return 1; }
	stop_proxy 15
}

sc_corrupt() {
	local aside
	SDIR="$RUN_DIR/store-$SCEN_NO-pre"
	mkdir -p "$SDIR"
	DB_OVERRIDE="$SDIR/store.db"
	head -c 20000 /dev/urandom >"$DB_OVERRIDE"
	cp "$DB_OVERRIDE" "$RUN_DIR/garbage"
	store_proxy || { unset DB_OVERRIDE; return 1; }
	unset DB_OVERRIDE
	wait_for 5 grep -q 'set the corrupt file aside' "$PROXY_LOG" || { why "no log line about the corrupt file"; return 1; }
	aside=$(ls "$DB".corrupt-* 2>/dev/null | head -1)
	[ -n "$aside" ] || { why "the corrupt file was not set aside"; return 1; }
	cmp -s "$aside" "$RUN_DIR/garbage" || { why "the set-aside file is not the original bytes"; return 1; }
	expect_eq "store_reset recorded" 1 "$(sql "SELECT count(*) FROM store_events WHERE what = 'store_reset' AND detail LIKE '%$(basename "$aside")%'")" || return 1
	deny_curl 1 || return 1
	wait_for 5 eval '[ "$(rows "event = '"'deny'"'")" = 1 ]' || { why "the fresh store gets no rows"; return 1; }
	# Body sizes: deny_curl sends {"Name":"x"} (12 bytes) and gets Docker's JSON error.
	expect_eq "bytes_in|bytes_out|query" "12|$(printf '%s\n' '{"message":"volume creation is disabled"}' | wc -c)|" \
		"$(sql "SELECT bytes_in, bytes_out, query FROM audit_events WHERE event = 'deny'")" || return 1
	curl -s -o /dev/null -H "Authorization: Bearer $ADMIN_TOKEN" -X POST "http://127.0.0.1:$PROXY_PORT/v1.41/volumes/create?probe=1&x=%20"
	wait_for 5 eval '[ "$(rows "event = '"'deny'"'")" = 2 ]' || { why "second deny row missing"; return 1; }
	expect_eq "query as sent" "probe=1&x=%20" "$(sql "SELECT query FROM audit_events WHERE event = 'deny' AND query IS NOT NULL")" || return 1
	expect_eq "store up" 1 "$(metric_value docker_proxy_store_up)"
}

sc_newer_schema() {
	store_proxy || return 1
	stop_proxy 15 || return 1
	sqlite3 "$DB" 'PRAGMA user_version = 99' || return 1
	cp "$DB" "$RUN_DIR/newer.db"
	DPP_PROXY_ARGS="--config $CFG"
	start_proxy || { why "the proxy did not start beside a newer store"; return 1; }
	wait_for 5 grep -q 'newer than this binary' "$PROXY_LOG" || { why "no log about the newer schema"; return 1; }
	deny_curl 1 || return 1
	sleep 0.5
	expect_eq "store up" 0 "$(metric_value docker_proxy_store_up)" || return 1
	[ "$(metric_sum docker_proxy_store_dropped_total)" -ge 1 ] || { why "events not counted while the store is off"; return 1; }
	cmp -s "$DB" "$RUN_DIR/newer.db" || { why "the newer file was touched"; return 1; }
	dpp history --store "$DB" >/dev/null 2>&1 && { why "history read a newer schema"; return 1; }
	stop_proxy 15
}

# Message of the volume-create rule the proxy answers with now.
live_msg() {
	curl -s -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{}' \
		"http://127.0.0.1:$PROXY_PORT/v1.41/volumes/create" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["message"])'
}
versions() { sql "SELECT count(*) FROM config_versions"; }

sc_sighup_history() {
	local out
	store_proxy "" "message one" || return 1
	wait_for 5 eval '[ "$(versions)" = 1 ]' || { why "start-up version not recorded"; return 1; }
	sleep 1.1
	write_cfg "" "message two"
	kill -HUP "$PROXY_PID"
	wait_for 5 eval '[ "$(versions)" = 2 ]' || { why "SIGHUP version not recorded"; return 1; }
	expect_eq "live message" "message two" "$(live_msg)" || return 1
	cp "$CFG" "$RUN_DIR/good.yaml"
	sleep 1.1
	printf 'global:\n  port: [\n' >"$CFG"
	kill -HUP "$PROXY_PID"
	wait_for 5 eval '[ "$(versions)" = 3 ]' || { why "refused version not recorded"; return 1; }
	expect_eq "refused row" "sighup|0|2" "$(sql 'SELECT source, applied, based_on FROM config_versions WHERE id = 3')" || return 1
	sql 'SELECT errors FROM config_versions WHERE id = 3' | grep -q "config.yaml:[0-9]*:[0-9]*:" || { why "refused row without file:line:col errors"; return 1; }
	expect_eq "still live after the refusal" "message two" "$(live_msg)" || return 1
	# Restoring the live text is an unchanged reload: no row.
	cp "$RUN_DIR/good.yaml" "$CFG"
	kill -HUP "$PROXY_PID"
	sleep 1
	expect_eq "no row for an unchanged reload" 3 "$(versions)" || return 1
	expect_eq "sources" "startup sighup sighup" "$(sql 'SELECT group_concat(source, " ") FROM config_versions')" || return 1
	expect_eq "author" 1 "$(sql "SELECT count(*) FROM config_versions WHERE id = 1 AND author <> ''")" || return 1
	out=$(dpp history --config "$CFG")
	echo "$out"
	printf '%s\n' "$out" | grep -Eq '^\* 2 .*applied' || { why "history does not mark version 2 live"; return 1; }
	printf '%s\n' "$out" | grep -Eq '^  3 .*refused' || { why "history does not show the refusal"; return 1; }
	# show masks token values unless --reveal.
	out=$(dpp history show 1 --store "$DB")
	[[ $out != *"$ADMIN_TOKEN"* && $out == *'token: "********"'* && $out == *"message one"* ]] ||
		{ why "history show did not mask the token: $(short "$out")"; return 1; }
	out=$(dpp history show 1 --store "$DB" --reveal)
	[[ $out == *"$ADMIN_TOKEN"* ]] || { why "history show --reveal hides the token"; return 1; }
	out=$(dpp history diff 1 --store "$DB")
	echo "$out"
	[[ $out == *'-    message: "message one"'* && $out == *'+    message: "message two"'* && $out == *"--- version 1"* ]] ||
		{ why "history diff 1 (against live 2) is not the unified diff"; return 1; }
	[[ $out != *"$ADMIN_TOKEN"* ]] || { why "history diff shows the token"; return 1; }
	dpp history diff 1 2 --store "$DB" >/dev/null || { why "history diff 1 2 failed"; return 1; }
	dpp history show 99 --store "$DB" >/dev/null 2>&1 && { why "history show 99 succeeded"; return 1; }
	return 0
}

sc_rollback() {
	local out
	store_proxy "" "message one" || return 1
	sleep 1.1
	write_cfg "" "message two"
	kill -HUP "$PROXY_PID"
	wait_for 5 eval '[ "$(versions)" = 2 ]' || { why "v2 not recorded"; return 1; }
	chmod 640 "$CFG"
	# Plain rollback.
	out=$(dpp history rollback 1 --config "$CFG" --comment "back to one" 2>&1) || { why "rollback 1 failed: $out"; return 1; }
	echo "$out"
	[[ $out == *"version 3 is live"* ]] || { why "rollback did not report the new live version: $out"; return 1; }
	expect_eq "live after rollback" "message one" "$(live_msg)" || return 1
	expect_eq "rollback row" "rollback|1|1|back to one" "$(sql "SELECT source, applied, rollback_of, comment FROM config_versions WHERE id = 3")" || return 1
	expect_eq "file mode kept" 640 "$(stat -c %a "$CFG")" || return 1
	expect_eq "file is version 1's text" "$(sql 'SELECT sha256 FROM config_versions WHERE id = 1')" "$(sha256sum <"$CFG" | cut -d' ' -f1)" || return 1
	# With --confirm and no confirmation: the proxy reverts by itself.
	out=$(dpp history rollback 2 --store "$DB" --confirm 5s 2>&1) || { why "rollback 2 --confirm failed: $out"; return 1; }
	echo "$out"
	[[ $out == *"history confirm"* ]] || { why "no confirm hint: $out"; return 1; }
	expect_eq "live during the window" "message two" "$(live_msg)" || return 1
	expect_eq "pending" pending "$(sql 'SELECT confirm_state FROM config_versions WHERE id = 4')" || return 1
	wait_for 12 eval '[ "$(versions)" = 5 ]' || { why "no revert after the deadline"; return 1; }
	wait_for 3 eval '[ "$(live_msg)" = "message one" ]' || { why "reverted config not live: $(live_msg)"; return 1; }
	expect_eq "reverted state" reverted "$(sql 'SELECT confirm_state FROM config_versions WHERE id = 4')" || return 1
	expect_eq "revert row" "rollback|1|3|4" "$(sql 'SELECT source, applied, rollback_of, based_on FROM config_versions WHERE id = 5')" || return 1
	sql 'SELECT comment FROM config_versions WHERE id = 5' | grep -q 'not confirmed' || { why "revert row without its reason"; return 1; }
	grep -q 'was not confirmed' "$PROXY_LOG" || { why "no log line for the revert"; return 1; }
	# With --confirm and `history confirm`: it stays.
	out=$(dpp history rollback 2 --store "$DB" --confirm 5s 2>&1) || { why "second rollback failed: $out"; return 1; }
	out=$(dpp history confirm --store "$DB" 2>&1) || { why "history confirm failed: $out"; return 1; }
	echo "$out"
	expect_eq "confirmed" confirmed "$(sql 'SELECT confirm_state FROM config_versions WHERE id = 6')" || return 1
	sleep 7
	expect_eq "still live after the deadline" "message two" "$(live_msg)" || return 1
	expect_eq "no revert" 6 "$(versions)" || return 1
	dpp history confirm --store "$DB" >/dev/null 2>&1 && { why "a second confirm succeeded"; return 1; }
	# A hand edit is recorded before a rollback replaces it.
	printf '# edited by hand\n' >>"$CFG"
	dpp history rollback 1 --store "$DB" >/dev/null 2>&1 || { why "rollback over a hand edit failed"; return 1; }
	expect_eq "hand edit recorded" "file|0" "$(sql "SELECT source, applied FROM config_versions WHERE id = 7")" || return 1
	sql 'SELECT content FROM config_versions WHERE id = 7' | grep -q '# edited by hand' || { why "hand edit text not kept"; return 1; }
	# A version that does not load is refused before anything changes.
	sum=$(sha256sum <"$CFG")
	sqlite3 "$DB" "INSERT INTO config_versions (time_ms, timestamp, source, author, sha256, content, applied) VALUES (1, 'x', 'console', 't', '$(printf 'x%.0s' $(seq 64))', 'global: {port: 0}', 0)"
	dpp history rollback 9 --store "$DB" >/dev/null 2>&1 && { why "rollback to an invalid version succeeded"; return 1; }
	expect_eq "file untouched by the refused rollback" "$sum" "$(sha256sum <"$CFG")"
}

sc_retention() {
	DPP_STORE_SWEEP_MS=500 store_proxy '    retention: 3s' || return 1
	local D="event = 'deny'"
	deny_curl 3 || return 1
	wait_for 5 eval '[ "$(rows "$D")" = 3 ]' || { why "rows not written: $(rows "$D")"; return 1; }
	# (with start_proxy's token-less ping, an auth_failure row)
	wait_for 10 eval '[ "$(rows)" = 0 ]' || { why "retention did not remove the rows: $(rows) left"; return 1; }
	grep -q 'retention removed [0-9]* row' "$PROXY_LOG" || { why "no retention log line"; return 1; }
	expect_eq "config versions are kept" 1 "$(versions)" || return 1
	deny_curl 1 || return 1
	wait_for 5 eval '[ "$(rows)" = 1 ]' || { why "no row after the sweep"; return 1; }
	expect_eq "metric rows" 1 "$(metric_value 'docker_proxy_store_rows{table="audit_events"}')"
}

# Every `sqlite3` line of README's "Audit queries" section, run against a
# database this scenario fills, with its expected answer.
sc_readme_queries() {
	local c lockpid i n=0 line out want
	DPP_STORE_QUEUE=4 store_proxy "" "first message" || return 1
	c=$(cname q)
	as admin run -d "${LBL[@]}" --network none --name "$c" "$IMG" sleep 300 >/dev/null || { why "run -d refused"; return 1; }
	as admin exec "$c" true >/dev/null 2>&1
	as user exec "$c" true >/dev/null 2>&1
	as admin network ls >/dev/null
	as user network ls >/dev/null
	# From 127.0.0.2: its lockout must not lock out the rest of the scenario.
	for i in $(seq 1 10); do
		curl -s -o /dev/null --interface 127.0.0.2 -H 'Authorization: Bearer wrong-token-value' "http://127.0.0.1:$PROXY_PORT/_ping"
		sleep 0.1 # the queue is tiny (4) in this scenario: no gap before the intended one
	done
	wait_for 5 eval '[ "$(rows "event = '"'lockout'"'")" -ge 1 ]' || { why "no lockout row"; return 1; }
	sleep 1.2
	WHEN=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	sleep 1.2
	write_cfg "" "second message"
	kill -HUP "$PROXY_PID"
	wait_for 5 eval '[ "$(versions)" = 2 ]' || { why "v2 not recorded"; return 1; }
	# A gap: a burst while another process holds the write lock, with a tiny queue.
	"$PY" -c 'import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute("BEGIN IMMEDIATE"); print("locked", flush=True); time.sleep(3)' "$DB" >"$RUN_DIR/qlock" &
	lockpid=$!
	wait_for 5 grep -q locked "$RUN_DIR/qlock"
	deny_curl 12 || { kill_bg "$lockpid"; return 1; }
	wait "$lockpid"
	wait_for 15 eval '[ "$(sql "SELECT count(*) FROM store_gaps")" = 1 ]' || { why "no gap row"; return 1; }
	wait_for 5 eval '[ $(( $(rows) + $(metric_sum docker_proxy_store_dropped_total) )) = "$(jsonl_count)" ]' || { why "rows + dropped != JSONL"; return 1; }
	export DB WHEN RULE=watch-networks ID FROM TO
	ID=$(token_identity "$USER_TOKEN")
	FROM=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
	TO=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
	local dropped refused_vol
	dropped=$(metric_sum docker_proxy_store_dropped_total)
	refused_vol=$(( 12 - dropped ))
	# Expected answers, in README order (a new README query needs one here).
	# Version 1 saw the two exec denials; version 2 the volume denials the
	# store kept (the rest are the gap).
	local q1="block-exec|2 no-volume-create|$refused_vol"
	[ "$refused_vol" -gt 2 ] && q1="no-volume-create|$refused_vol block-exec|2"
	# 127.0.0.1: two exec denials, the kept volume denials, start_proxy's
	# token-less pings (one or two, counted in the JSONL file); 127.0.0.2: ten
	# wrong tokens and the lockout.
	local pings local1 q3
	pings=$(grep -c '"event":"auth_failure","peer_ip":"127.0.0.1"' "$AUDIT")
	local1=$(( 2 + refused_vol + pings ))
	q3="127.0.0.1|$local1 127.0.0.2|11"
	[ "$local1" -lt 11 ] && q3="127.0.0.2|11 127.0.0.1|$local1"
	local TS='20[0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'
	local SHA='[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
	local expect=(
		"$q1"
		"$TS|$(token_identity "$ADMIN_TOKEN")|127.0.0.1|deny|403|/containers/$c/exec $TS|$ID|127.0.0.1|deny|403|/containers/$c/exec"
		"$q3"
		"$TS|deny|POST|/containers/$c/exec|block-exec|403 $TS|dry_run|GET|/networks|watch-networks|0"
		"2|2|$TS|$TS"
		"127.0.0.2|10|1|$TS 127.0.0.1|$pings|0|$TS"
		"1|$TS|startup|?*|$SHA"
		"$TS|$TS|$dropped|database locked by another process|{\"deny\":$dropped}"
		"1|startup|2 2|sighup|$refused_vol"
	)
	sed -n '/^## Audit queries/,/^## [^A]/p' "$E2E_REPO/README.md" >"$RUN_DIR/queries.md"
	grep -q . "$RUN_DIR/queries.md" || { why "README has no Audit queries section"; return 1; }
	while IFS= read -r line; do
		want=${expect[$n]:-}
		n=$((n + 1))
		[ -n "$want" ] || { why "README query $n has no expected answer in this test: $line"; return 1; }
		out=$(bash -c "$line" 2>&1) || { why "README query $n failed: $out"; return 1; }
		out=$(printf '%s\n' "$out" | tr '\n' ' ' | sed 's/ $//')
		echo "query $n: $line"
		echo "  -> $out"
		# shellcheck disable=SC2053  # the expectation is a glob pattern
		[[ $out == $want ]] || { why "README query $n: got '$out', want '$want'"; return 1; }
	done < <(grep -E '^sqlite3 ' "$RUN_DIR/queries.md")
	[ "$n" -ge 8 ] || { why "README documents $n queries, at least 8 are needed"; return 1; }
	[ "$n" = "${#expect[@]}" ] || { why "README has $n queries, this test expects ${#expect[@]}"; return 1; }
	# The schema in README is the one the proxy created.
	for t in audit_events config_versions store_gaps; do
		grep -q "CREATE TABLE $t" "$RUN_DIR/queries.md" || { why "README schema lacks $t"; return 1; }
	done
}

# ---------------------------------------------------------------------------

store_cleanup() {
	[ -z "$MNT" ] || umount "$MNT" 2>/dev/null
}

e2e_init
trap 'e2e_cleanup; store_cleanup' EXIT
ensure_packages
command -v sqlite3 >/dev/null || setup_failed packages "the sqlite3 CLI is not installed (apt-get install sqlite3)"
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ "$DPP_E2E_TARGET" = proxy ] || setup_failed target "store tests need the proxy (DPP_E2E_TARGET=proxy)"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}
client_config admin "$ADMIN_TOKEN"
client_config user "$USER_TOKEN"

run_scenario store/rows-match-jsonl sc_rows_match_jsonl
run_scenario store/readme-queries sc_readme_queries
run_scenario store/sighup-history sc_sighup_history
run_scenario store/rollback sc_rollback
run_scenario store/retention sc_retention
run_scenario store/corrupt-file sc_corrupt
run_scenario store/newer-schema sc_newer_schema
run_scenario store/kill-9-under-load sc_kill9
run_scenario store/disk-full sc_disk_full
run_scenario store/external-write-lock-30s sc_external_lock
[ -z "$PROXY_PID" ] || run_scenario store/stop stop_proxy
store_cleanup
e2e_finish
