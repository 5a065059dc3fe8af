#!/usr/bin/env bash
# Security regressions against the real dockerd (issue 7, defects 1, 2, 3, 7).
# Each vector is first shown to work on the raw Docker socket, then refused by
# the proxy with its exact status and message, then checked on Docker's side
# (nothing happened), with an allowed request as contrast under the same
# configuration. Uses lib.sh (see there for the environment).
#
#   tests/e2e/security_test.sh      # ends with "e2e: N passed, M failed"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# The rules every scenario runs under (the seed's syntax).
RULES='rules:
  - name: block-exec
    conditions:
      - field: path
        operator: matches
        value: "^/containers/[^/]+/exec$"
    action: deny
    message: "Exec operations are not permitted"
  - name: block-attach
    conditions:
      - {field: path, operator: matches, value: "^/containers/[^/]+/attach$"}
    action: deny
    message: "Attach is not permitted"
  - name: protect-repo
    conditions:
      - {field: endpoint, operator: equals, value: "/images/{name}/tag"}
      - {field: query.repo, operator: starts_with, value: "dpp-protected"}
    action: deny
    message: "Tagging into the protected repository is not permitted"
  - name: redact-env
    action: response_filter
    conditions:
      - {field: path, operator: matches, value: "^/containers/[^/]+/json$"}
    response_filter:
      - {field: Config.Env, action: redact}'

MAX_BODY=65536

sec_proxy() {
	AUDIT="$RUN_DIR/audit.jsonl"
	CFG="$RUN_DIR/security.yaml"
	{
		printf 'global:\n  audit_log: %s\n  max_body_bytes: %s\n' "$AUDIT" "$MAX_BODY"
		printf 'auth:\n  type: none\n'
		printf '%s\n' "$RULES"
	} >"$CFG"
	DPP_PROXY_ARGS="--config $CFG"
	start_proxy
}

P() { echo "tcp://127.0.0.1:$PROXY_PORT"; }

# req HOST METHOD PATH [CURL ARGS...]: sets R_CODE and R_BODY.
req() {
	local host=$1 method=$2 path=$3 out
	shift 3
	out=$(curl_to "$host" "$path" -X "$method" --max-time 20 -o - -w '\n%{http_code}' "$@")
	R_CODE=${out##*$'\n'}
	R_BODY=${out%$'\n'*}
	printf '%s %s -> %s %s\n' "$method" "$path" "$R_CODE" "$(short "${R_BODY:0:300}")"
}

json_message() { printf '%s' "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["message"])' 2>/dev/null; }

# refused STATUS MESSAGE: the last answer was exactly that Docker-style error.
refused() {
	expect_eq "status" "$1" "$R_CODE" || return 1
	expect_eq "message" "$2" "$(json_message "$R_BODY")"
}

# audit_has EVENT STATUS PATH: a record with that event, status and path.
# (Through -c: a here-document would be read up by wait_for's first try, and
# every retry would run an empty script that "passes".)
audit_has() {
	local script
	script=$(cat <<'PYEOF'
import json, sys
path, event, status, rpath = sys.argv[1:5]
try:
    lines = open(path).read().splitlines()
except OSError:
    sys.exit(1)
for line in lines:
    rec = json.loads(line)
    if rec.get("event") == event and str(rec.get("status")) == status and rec.get("path") == rpath:
        sys.exit(0)
sys.exit(1)
PYEOF
)
	wait_for 5 "$PY" -c "$script" "$AUDIT" "$1" "$2" "$3"
}

# audit_count EVENT STATUS PATH: how many records have that event, status and path.
audit_count() {
	"$PY" - "$AUDIT" "$@" <<'PYEOF'
import json, sys
path, event, status, rpath = sys.argv[1:5]
try:
    recs = [json.loads(l) for l in open(path).read().splitlines()]
except OSError:
    recs = []
print(sum(1 for r in recs if r.get("event") == event and str(r.get("status")) == status
          and r.get("path") == rpath))
PYEOF
}

cn() { echo "dpp-sec-$RUN_ID-$1"; }

# make_pair SUFFIX: a target container (running when $2 = run) and a parent
# linked to it as "alias", so that "PARENT/alias" names the target.
make_pair() {
	T=$(cn "target-$1")
	PARENT=$(cn "parent-$1")
	admin_docker rm -f "$T" "$PARENT" >/dev/null 2>&1
	admin_docker create "${LBL[@]}" --name "$T" -e "SECRET=hunter2-$RUN_ID" "$IMG" \
		sh -c 'echo hello-from-target; sleep 300' >/dev/null || { why "create target"; return 1; }
	admin_docker create "${LBL[@]}" --name "$PARENT" --link "$T:alias" "$IMG" sleep 300 >/dev/null ||
		{ why "create parent"; return 1; }
	if [ "${2:-}" = run ]; then
		admin_docker start "$T" >/dev/null || { why "start target"; return 1; }
	fi
}

alias_msg() {
	printf "refused container reference \"%s\": it contains '/' (a legacy link alias); address the container by its name or ID" "$1"
}

# ---------------------------------------------------------------------------

# Container start through a link alias with an old API version and a
# HostConfig body: dockerd applies the body (here harmless DNS settings).
sc_alias_start() {
	local body='{"Dns":["10.9.9.9"],"DnsSearch":["dpp-sec.example"]}'
	make_pair start || return 1
	req "$RAW_HOST" POST "/v1.23/containers/$PARENT/alias/start" -H 'Content-Type: application/json' -d "$body"
	expect_eq "raw: start through the alias" 204 "$R_CODE" || return 1
	expect_eq "raw: HostConfig from the start body applied" "true [10.9.9.9]" \
		"$(admin_docker inspect -f '{{.State.Running}} {{.HostConfig.Dns}}' "$T")" || return 1
	make_pair start || return 1
	req "$(P)" POST "/v1.23/containers/$PARENT/alias/start" -H 'Content-Type: application/json' -d "$body"
	refused 400 "$(alias_msg "$PARENT/alias")" || return 1
	expect_eq "docker: target not started, no DNS" "false []" \
		"$(admin_docker inspect -f '{{.State.Running}} {{.HostConfig.Dns}}' "$T")" || return 1
	audit_has error 400 "/containers/$PARENT/alias/start" || { why "no audit record of the refusal"; return 1; }
	# The direct path with the same body is refused too.
	req "$(P)" POST "/v1.23/containers/$T/start" -H 'Content-Type: application/json' -d "$body"
	refused 400 "a request body on container start is refused (old API versions read it as host configuration)" || return 1
	expect_eq "docker: still not started" "false []" \
		"$(admin_docker inspect -f '{{.State.Running}} {{.HostConfig.Dns}}' "$T")" || return 1
	# Allowed contrast: a plain start by name.
	req "$(P)" POST "/v1.41/containers/$T/start"
	expect_eq "proxy: plain start" 204 "$R_CODE" || return 1
	expect_eq "docker: started without the DNS settings" "true []" \
		"$(admin_docker inspect -f '{{.State.Running}} {{.HostConfig.Dns}}' "$T")"
}

# Exec create through the alias, past a ^/containers/[^/]+/exec$ rule.
sc_alias_exec() {
	local body='{"Cmd":["echo","x"],"AttachStdout":true}'
	make_pair exec run || return 1
	req "$RAW_HOST" POST "/v1.41/containers/$PARENT/alias/exec" -H 'Content-Type: application/json' -d "$body"
	expect_eq "raw: exec create through the alias" 201 "$R_CODE" || return 1
	expect_eq "raw: the exec belongs to the target" 1 \
		"$(admin_docker inspect -f '{{len .ExecIDs}}' "$T")" || return 1
	make_pair exec run || return 1
	req "$(P)" POST "/v1.41/containers/$PARENT/alias/exec" -H 'Content-Type: application/json' -d "$body"
	refused 400 "$(alias_msg "$PARENT/alias")" || return 1
	expect_eq "docker: no exec created" 0 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$T")" || return 1
	audit_has error 400 "/containers/$PARENT/alias/exec" || { why "no audit record of the refusal"; return 1; }
	# The rule holds on the direct path.
	req "$(P)" POST "/v1.41/containers/$T/exec" -H 'Content-Type: application/json' -d "$body"
	refused 403 "Exec operations are not permitted" || return 1
	expect_eq "docker: still no exec" 0 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$T")" || return 1
	# Allowed contrast under the same rules.
	req "$(P)" GET "/v1.41/containers/$T/top"
	expect_eq "proxy: top" 200 "$R_CODE"
}

# Attach through the alias, past the attach rule.
sc_alias_attach() {
	make_pair attach run || return 1
	wait_for 10 eval 'admin_docker logs "$T" 2>&1 | grep -q hello-from-target' || { why "target printed nothing"; return 1; }
	req "$RAW_HOST" POST "/v1.41/containers/$PARENT/alias/attach?logs=1&stdout=1" --max-time 5
	expect_eq "raw: attach through the alias" 200 "$R_CODE" || return 1
	[[ $R_BODY == *hello-from-target* ]] || { why "raw attach did not return the target's output"; return 1; }
	req "$(P)" POST "/v1.41/containers/$PARENT/alias/attach?logs=1&stdout=1&stdin=1&stream=1" \
		-H 'Connection: Upgrade' -H 'Upgrade: tcp'
	refused 400 "$(alias_msg "$PARENT/alias")" || return 1
	[[ $R_BODY != *hello-from-target* ]] || { why "output leaked"; return 1; }
	audit_has error 400 "/containers/$PARENT/alias/attach" || { why "no audit record of the refusal"; return 1; }
	req "$(P)" POST "/v1.41/containers/$T/attach?logs=1&stdout=1" -H 'Connection: Upgrade' -H 'Upgrade: tcp'
	refused 403 "Attach is not permitted" || return 1
	# Allowed contrast: logs of the same container.
	req "$(P)" GET "/v1.41/containers/$T/logs?stdout=1"
	expect_eq "proxy: logs" 200 "$R_CODE" || return 1
	[[ $R_BODY == *hello-from-target* ]] || { why "logs through the proxy lack the output"; return 1; }
}

# Inspect through the alias, past the redaction rule.
sc_alias_inspect() {
	make_pair inspect || return 1
	req "$RAW_HOST" GET "/v1.41/containers/$PARENT/alias/json"
	expect_eq "raw: inspect through the alias" 200 "$R_CODE" || return 1
	[[ $R_BODY == *"hunter2-$RUN_ID"* ]] || { why "raw inspect lacks the secret"; return 1; }
	req "$(P)" GET "/v1.41/containers/$PARENT/alias/json"
	refused 400 "$(alias_msg "$PARENT/alias")" || return 1
	[[ $R_BODY != *hunter2* ]] || { why "the secret leaked"; return 1; }
	audit_has error 400 "/containers/$PARENT/alias/json" || { why "no audit record of the refusal"; return 1; }
	# Allowed contrast: inspect by name, redacted.
	req "$(P)" GET "/v1.41/containers/$T/json"
	expect_eq "proxy: inspect by name" 200 "$R_CODE" || return 1
	[[ $R_BODY != *hunter2* ]] || { why "the secret is visible through the proxy"; return 1; }
	expect_match "redacted Env" 'SECRET=\*\*\*REDACTED\*\*\*' "$R_BODY"
}

# A form body in a Content-Type Go reads as urlencoded: dockerd takes "repo"
# from the body ahead of the query, past a rule on query.repo.
form_tag() {
	local ctype=$1 tag=$2 evil="dpp-protected-$RUN_ID/evil" ok="dpp-ok-$RUN_ID/x"
	req "$RAW_HOST" POST "/v1.41/images/$IMG/tag?repo=$ok&tag=$tag-raw" -H "Content-Type: $ctype" \
		--data-binary "repo=$evil"
	expect_eq "raw: tag" 201 "$R_CODE" || return 1
	admin_docker image inspect "$evil:$tag-raw" >/dev/null 2>&1 ||
		{ why "raw: dockerd did not take repo from the form body"; return 1; }
	req "$(P)" POST "/v1.41/images/$IMG/tag?repo=$ok&tag=$tag" -H "Content-Type: $ctype" \
		--data-binary "repo=$evil"
	refused 400 "urlencoded request bodies are refused (Docker would merge them into the query parameters)" || return 1
	! admin_docker image inspect "$evil:$tag" >/dev/null 2>&1 || { why "docker: the protected tag was created"; return 1; }
	! admin_docker image inspect "$ok:$tag" >/dev/null 2>&1 || { why "docker: a tag was created"; return 1; }
	audit_has error 400 "/images/$IMG/tag" || { why "no audit record of the refusal"; return 1; }
	# The rule holds on the query, and an allowed tag goes through.
	req "$(P)" POST "/v1.41/images/$IMG/tag?repo=$evil&tag=$tag-q"
	refused 403 "Tagging into the protected repository is not permitted" || return 1
	! admin_docker image inspect "$evil:$tag-q" >/dev/null 2>&1 || { why "docker: the protected tag was created"; return 1; }
	req "$(P)" POST "/v1.41/images/$IMG/tag?repo=$ok&tag=$tag"
	expect_eq "proxy: allowed tag" 201 "$R_CODE" || return 1
	admin_docker image inspect "$ok:$tag" >/dev/null || { why "docker: the allowed tag is missing"; return 1; }
	# An image name with '/' and ':' is still the tag endpoint for the rule.
	req "$(P)" POST "/v1.41/images/$ok:$tag/tag?repo=$evil&tag=$tag-slash"
	refused 403 "Tagging into the protected repository is not permitted" || return 1
	! admin_docker image inspect "$evil:$tag-slash" >/dev/null 2>&1 || { why "docker: the protected tag was created"; return 1; }
}

sc_form_nbsp() { form_tag $'\xc2\xa0application/x-www-form-urlencoded' nbsp; }
sc_form_idot() { form_tag $'appl\xc4\xb0cation/x-www-form-urlencoded' idot; }

# A Content-Type with bytes outside printable ASCII that is no form type to Go
# is refused on form-parsing routes too; plain JSON passes.
sc_ctype_nonascii() {
	req "$(P)" POST "/v1.41/images/$IMG/tag?repo=dpp-ok-$RUN_ID/y&tag=t" -H $'Content-Type: application/json\xc2\xa0x'
	refused 400 "refused Content-Type: only printable ASCII is accepted (Docker reads it with Unicode rules)" || return 1
	! admin_docker image inspect "dpp-ok-$RUN_ID/y:t" >/dev/null 2>&1 || { why "docker: tag created"; return 1; }
	req "$(P)" POST "/v1.41/images/$IMG/tag?repo=dpp-ok-$RUN_ID/y&tag=t" -H 'Content-Type: application/json'
	expect_eq "proxy: tag with a plain Content-Type" 201 "$R_CODE"
}

# multipart/form-data on /build. dockerd 20.10.24 accepts and runs such a
# request (here the Dockerfile comes from the query's remote URL, served on
# loopback); the proxy refuses multipart everywhere.
sc_multipart_build() {
	local port pid www="$RUN_DIR/www" remote rc=0
	mkdir -p "$www"
	printf 'FROM %s\nLABEL dpp.test=multipart\n' "$IMG" >"$www/Dockerfile"
	port=$(free_port)
	(cd "$www" && exec "$PY" -m http.server "$port" --bind 127.0.0.1) >"$RUN_DIR/www.log" 2>&1 &
	pid=$!
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$port/Dockerfile" || { kill_bg "$pid"; why "no file server"; return 1; }
	remote="http://127.0.0.1:$port/Dockerfile"
	{
		req "$RAW_HOST" POST "/v1.41/build?remote=$remote&t=dpp-mp-$RUN_ID:raw" -F "networkmode=host" -F "t=dpp-mp-$RUN_ID:body"
		expect_eq "raw: multipart build" 200 "$R_CODE" &&
		admin_docker image inspect "dpp-mp-$RUN_ID:raw" >/dev/null &&
		req "$(P)" POST "/v1.41/build?remote=$remote&t=dpp-mp-$RUN_ID:proxy" -F "networkmode=host" -F "t=dpp-mp-$RUN_ID:body2" &&
		refused 400 "multipart/form-data request bodies are refused (Docker would read form fields from them instead of the query parameters)" &&
		! admin_docker image inspect "dpp-mp-$RUN_ID:proxy" >/dev/null 2>&1 &&
		! admin_docker image inspect "dpp-mp-$RUN_ID:body2" >/dev/null 2>&1 &&
		audit_has error 400 /build &&
		req "$(P)" GET /v1.41/_ping -H 'Content-Type: Multipart/Form-Data; boundary=x' &&
		refused 400 "multipart/form-data request bodies are refused (Docker would read form fields from them instead of the query parameters)" &&
		req "$(P)" GET /v1.41/_ping -H 'Content-Type: text/plain' &&
		expect_eq "proxy: ping" 200 "$R_CODE" &&
		req "$(P)" POST "/v1.41/build?remote=$remote&t=dpp-mp-$RUN_ID:allowed" &&
		expect_eq "proxy: build without a form body" 200 "$R_CODE" &&
		admin_docker image inspect "dpp-mp-$RUN_ID:allowed" >/dev/null
	} || rc=1
	kill_bg "$pid"
	[ "$rc" = 0 ] || why "multipart build scenario failed"
}

# A JSON body over max_body_bytes: 413 with Docker's JSON error for both
# framings, nothing created; dockerd itself takes the same body.
sc_413() {
	local big="$RUN_DIR/big.json" c
	"$PY" -c 'import json,sys; print(json.dumps({"Image": sys.argv[1], "Cmd": ["true"], "Labels": {"dpp-e2e.run": sys.argv[2], "pad": "a" * 70000}}))' "$IMG" "$RUN_ID" >"$big"
	c=$(cn big)
	req "$RAW_HOST" POST "/v1.41/containers/create?name=$c-raw" -H 'Content-Type: application/json' --data-binary "@$big"
	expect_eq "raw: create with the large body" 201 "$R_CODE" || return 1
	for framing in length chunked; do
		local hdr=() before
		[ "$framing" = chunked ] && hdr=(-H 'Transfer-Encoding: chunked')
		# Counted: each framing must add its own record (the chunked one
		# must not pass on the Content-Length case's record).
		before=$(audit_count error 413 /containers/create)
		req "$(P)" POST "/v1.41/containers/create?name=$c-$framing" -H 'Content-Type: application/json' "${hdr[@]}" --data-binary "@$big"
		refused 413 "request body larger than $MAX_BODY bytes (global.max_body_bytes)" || return 1
		! admin_docker inspect "$c-$framing" >/dev/null 2>&1 || { why "docker: $framing create happened"; return 1; }
		wait_for 5 eval '[ "$(audit_count error 413 /containers/create)" -gt "$before" ]' ||
			{ why "no audit record of the $framing 413"; return 1; }
		sleep 0.3
		expect_eq "413 records after the $framing request" $((before + 1)) "$(audit_count error 413 /containers/create)" || return 1
	done
	# The connection stays usable after a chunked 413 (keep-alive).
	curl -sS -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
		--data-binary "@$big" "http://127.0.0.1:$PROXY_PORT/v1.41/containers/create" \
		--next -o /dev/null -w '%{http_code} new-connections=%{num_connects}\n' "http://127.0.0.1:$PROXY_PORT/_ping" >"$RUN_DIR/two.txt"
	expect_eq "413 then ping on the same connection" "413 200 new-connections=0" "$(tr '\n' ' ' <"$RUN_DIR/two.txt" | sed 's/ $//')" || return 1
	# Allowed contrast: a small body.
	req "$(P)" POST "/v1.41/containers/create?name=$c-small" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
		-d "{\"Image\":\"$IMG\",\"Cmd\":[\"true\"],\"Labels\":{\"dpp-e2e.run\":\"$RUN_ID\"}}"
	expect_eq "proxy: small chunked create" 201 "$R_CODE" || return 1
	admin_docker inspect "$c-small" >/dev/null || { why "docker: the small create is missing"; return 1; }
	admin_docker rm -f "$c-raw" "$c-small" >/dev/null
}

# A chunked body that never ends is read and dropped for at most 256 MiB past
# the limit; then the connection is closed, and the audit still has a 413.
sc_413_endless() {
	local rc t0 el
	t0=$(now_ms)
	head -c $((300 * 1024 * 1024)) /dev/zero |
		curl -sS -o "$RUN_DIR/endless.out" --max-time 120 -H 'Content-Type: application/json' \
			-H 'Transfer-Encoding: chunked' --data-binary @- "http://127.0.0.1:$PROXY_PORT/v1.41/containers/create?name=$(cn endless)"
	rc=$?
	el=$(( $(now_ms) - t0 ))
	log "curl exited $rc after $el ms"
	[ "$rc" != 0 ] && [ "$rc" != 28 ] || { why "expected the connection to be closed (curl $rc)"; return 1; }
	! admin_docker inspect "$(cn endless)" >/dev/null 2>&1 || { why "docker: created"; return 1; }
	"$PY" - "$AUDIT" <<'PYEOF' || { why "no 413 audit record for the endless body"; return 1; }
import json, sys
for line in open(sys.argv[1]).read().splitlines():
    rec = json.loads(line)
    if rec.get("status") == 413 and "connection closed after" in rec.get("message", ""):
        sys.exit(0)
sys.exit(1)
PYEOF
	grep -q 'connection closed after 268435456 more bytes' "$PROXY_LOG" || { why "not logged"; return 1; }
	ping_ok "$PROXY_PORT" || { why "proxy not answering afterwards"; return 1; }
}

sc_stop() { stop_proxy 15; }

# ---------------------------------------------------------------------------

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ "$DPP_E2E_TARGET" = proxy ] || setup_failed target "security tests need the proxy (DPP_E2E_TARGET=proxy)"
[ -n "$SETUP_BROKEN" ] || sec_proxy

run_scenario security/alias-start sc_alias_start
run_scenario security/alias-exec sc_alias_exec
run_scenario security/alias-attach sc_alias_attach
run_scenario security/alias-inspect sc_alias_inspect
run_scenario security/form-nbsp-tag sc_form_nbsp
run_scenario security/form-idot-tag sc_form_idot
run_scenario security/content-type-non-ascii sc_ctype_nonascii
run_scenario security/multipart-build sc_multipart_build
run_scenario security/413-both-framings sc_413
run_scenario security/413-endless-chunked sc_413_endless
if [ -n "$PROXY_PID" ]; then
	run_scenario security/stop sc_stop
fi
e2e_finish
