#!/usr/bin/env bash
# End-to-end tests of the policy engine through the real dockerd: each example
# rule of the seed spec as its own configuration, driven by the docker CLI with
# its token in $DOCKER_CONFIG/config.json (HttpHeaders), plus curl and the
# audit file and metrics. Uses lib.sh (see there for the environment).
#
#   tests/e2e/policy_test.sh        # ends with "e2e-policy: N passed, M failed"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

ADMIN_TOKEN="adm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
USER_TOKEN="usr-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ADMIN_TOKEN USER_TOKEN

# client_config NAME TOKEN: a docker CLI config dir that sends the token.
client_config() {
	mkdir -p "$RUN_DIR/cfg-$1"
	printf '{"HttpHeaders":{"Authorization":"Bearer %s"}}\n' "$2" >"$RUN_DIR/cfg-$1/config.json"
	echo "$RUN_DIR/cfg-$1"
}

# as ROLE docker-args...: the docker CLI through the proxy with ROLE's token.
as() {
	local who=$1
	shift
	DOCKER_CONFIG="$RUN_DIR/cfg-$who" timeout -k 5 120 "$DOCKER" -H "$PROXY_HOST" "$@"
}

# policy_proxy RULES_YAML: (re)starts the proxy with the two tokens, an audit
# file and the given rules section.
policy_proxy() {
	[ -z "$PROXY_PID" ] || stop_proxy 15 || return 1
	AUDIT="$RUN_DIR/audit-$SCEN_NO.jsonl"
	CFG="$RUN_DIR/policy-$SCEN_NO.yaml"
	write_cfg "$1"
	DPP_PROXY_ARGS="--config $CFG"
	start_proxy || { why "proxy did not start with $CFG"; return 1; }
}

# write_cfg RULES_YAML: (re)writes $CFG. Metrics are on unless CFG_METRICS=false;
# CFG_GLOBAL adds lines to the global section.
write_cfg() {
	{
		printf 'global:\n  audit_log: %s\n  metrics: {enabled: %s}\n' "$AUDIT" "${CFG_METRICS:-true}"
		[ -z "${CFG_GLOBAL:-}" ] || printf '%s\n' "$CFG_GLOBAL"
		printf 'auth:\n  tokens:\n'
		printf '    - {token: "${ADMIN_TOKEN}", role: admin}\n'
		printf '    - {token: "${USER_TOKEN}", role: user}\n'
		printf '%s\n' "$1"
	} >"$CFG"
}

# audit_has EVENT RULE: a record with that event and rule_name ("" = none) is
# in the audit file, and every record carries the seed's thirteen fields in
# the seed's order with values of the right kind for its event.
# (The scripts go through -c: a here-document would be read up by the first
# try of wait_for, and every retry would run an empty script that "passes".)
audit_has() {
	local script
	script=$(cat <<'PYEOF'
import json, re, sys
path, event, rule = sys.argv[1:4]
SEED = ["timestamp", "event", "peer_ip", "method", "path", "user_agent", "user_role",
        "identity", "rule_name", "rule_action", "status", "dry_run", "message"]
ACTIONS = {"deny": {"deny", "require_role"}, "dry_run": {"deny", "require_role", "rate_limit"},
           "rate_limited": {"rate_limit"}}
try:
    lines = open(path).read().splitlines()
except OSError:
    sys.exit(1)
def bad(why, line):
    print("bad audit record (%s): %s" % (why, line))
    sys.exit(2)
found = False
for line in lines:
    rec = json.loads(line)
    if list(rec)[:13] != SEED:
        bad("not the seed's fields in order", line)
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", rec["timestamp"]):
        bad("timestamp", line)
    if not re.fullmatch(r"127\.\d+\.\d+\.\d+", rec["peer_ip"] or "") or not rec["user_agent"] or rec["user_agent"] == "-":
        bad("peer_ip / user_agent", line)
    if not isinstance(rec["dry_run"], bool) or rec["dry_run"] != (rec["event"] == "dry_run"):
        bad("dry_run", line)
    if rec["event"] == "dry_run" and rec["status"] != 0:
        bad("dry_run status", line)
    if rec["event"] in ACTIONS and rec["rule_name"] is not None and rec["rule_action"] not in ACTIONS[rec["event"]]:
        bad("rule_action", line)
    if rec["event"] in ("auth_failure", "lockout") and ((rec["rule_name"], rec["rule_action"], rec["user_role"]) != (None, None, None) or not (rec["identity"] is None or rec["identity"].startswith("token:"))):
        bad("auth failure with a rule, a role or an identity other than the wrong token's", line)
    if rec["event"] == event and rec["rule_name"] == (rule or None):
        found = True
sys.exit(0 if found else 1)
PYEOF
)
	wait_for 5 "$PY" -c "$script" "$AUDIT" "$1" "$2"
}

# audit_values EVENT RULE EXPECTED_JSON: some record with that event and
# rule_name ("" = none) has exactly the expected values; a string value
# starting with "~" is a regular expression the field must match.
audit_values() {
	local script
	script=$(cat <<'PYEOF'
import json, re, sys
path, event, rule, want = sys.argv[1], sys.argv[2], sys.argv[3] or None, json.loads(sys.argv[4])
def ok(rec):
    for k, v in want.items():
        if isinstance(v, str) and v.startswith("~"):
            if not isinstance(rec.get(k), str) or not re.search(v[1:], rec[k]):
                return False
        elif k not in rec or rec[k] != v or type(rec[k]) is not type(v):
            return False
    return True
try:
    recs = [json.loads(l) for l in open(path).read().splitlines()]
except OSError:
    sys.exit(1)
cands = [r for r in recs if r["event"] == event and r["rule_name"] == rule]
if any(ok(r) for r in cands):
    sys.exit(0)
print("no %s record for %s with %s among: %s" % (event, rule, want, cands))
sys.exit(1)
PYEOF
)
	wait_for 5 "$PY" -c "$script" "$AUDIT" "$1" "$2" "$3"
}

# token_identity TOKEN: the audit identity of a bearer token.
token_identity() { printf 'token:%s' "$(printf %s "$1" | sha256sum | cut -c1-8)"; }

# metric_value NAME_WITH_LABELS: the sample's value from /metrics (0 if absent).
metric_value() {
	curl -s "http://127.0.0.1:$PROXY_PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'
}

# denied_with MSG docker-args...: the command fails and prints MSG.
denied_with() {
	local msg=$1 out
	shift
	if out=$("$@" 2>&1); then
		why "expected a denial with '$msg', but it succeeded: $(short "$out")"
		return 1
	fi
	echo "$out"
	[[ $out == *"$msg"* ]] || { why "denial did not print '$msg': $(short "$out")"; return 1; }
}

cname() { echo "dpp-pol-$RUN_ID-$1"; }

# api WHO CURL-ARGS... PATH: curl through the proxy with WHO's token (admin,
# user, or none); prints the body, a newline, the status.
api() {
	local who=$1 auth=()
	shift
	case $who in
	admin) auth=(-H "Authorization: Bearer $ADMIN_TOKEN") ;;
	user) auth=(-H "Authorization: Bearer $USER_TOKEN") ;;
	esac
	local path=${*: -1}
	curl -sS --max-time 30 -w '\n%{http_code}' "${auth[@]}" "${@:1:$#-1}" "http://127.0.0.1:$PROXY_PORT$path"
}

# refused STATUS MESSAGE WHO CURL-ARGS... PATH: exactly that status and Docker's
# {"message": MESSAGE}. refused_like: MESSAGE is an extended regex (whole message).
refused() { _refused exact "$@"; }
refused_like() { _refused regex "$@"; }
_refused() {
	local how=$1 status=$2 msg=$3 out got body
	shift 3
	out=$(api "$@")
	got=${out##*$'\n'}
	body=${out%$'\n'*}
	echo "$* -> $got $body"
	expect_eq "status of $*" "$status" "$got" || return 1
	body=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["message"])' "$body") ||
		{ why "the $status answer has no Docker JSON error body: $(short "$out")"; return 1; }
	if [ "$how" = exact ]; then
		expect_eq "message" "$msg" "$body"
	else
		expect_match "message" "^($msg)\$" "$body"
	fi
}

# ps_count: containers of this run on Docker's side (ps -a, by label).
ps_count() { admin_docker ps -aq --filter "label=$LABEL" | wc -l; }

# nothing_created NAME BEFORE: Docker has no container NAME and ps -a is as before.
nothing_created() {
	admin_docker inspect "$1" >/dev/null 2>&1 && { why "container $1 exists on Docker's side after the denial"; return 1; }
	expect_eq "ps -a (this run's containers) unchanged" "$2" "$(ps_count)"
}

# create_body NAME [HOSTCONFIG_JSON]: a container create body with this run's label.
create_body() {
	printf '{"Image":"%s","Cmd":["true"],"Labels":{"%s":"%s"},"HostConfig":%s}' "$IMG" "${LABEL%%=*}" "${LABEL#*=}" "${2:-{\}}"
}

# ---------------------------------------------------------------------------

sc_auth() {
	local code
	policy_proxy 'rules: []' || return 1
	refused 401 "authentication required: send Authorization: Bearer <token>" none /containers/json || return 1
	curl -s -D - -o /dev/null "http://127.0.0.1:$PROXY_PORT/_ping" | grep -qi '^WWW-Authenticate: Bearer' ||
		{ why "401 without WWW-Authenticate: Bearer"; return 1; }
	denied_with "authentication required" "$DOCKER" -H "$PROXY_HOST" ps || return 1
	as user ps >/dev/null || { why "user token refused"; return 1; }
	as admin ps >/dev/null || { why "admin token refused"; return 1; }
	audit_has auth_failure "" || { why "no auth_failure record in the audit"; return 1; }
	audit_values auth_failure "" '{"peer_ip": "127.0.0.1", "method": "GET", "path": "/containers/json",
		"user_agent": "~^curl/", "user_role": null, "identity": null, "rule_action": null,
		"status": 401, "dry_run": false, "message": "~authentication required"}' ||
		{ why "auth_failure record without the seed's values"; return 1; }
	grep -q "$ADMIN_TOKEN\|$USER_TOKEN" "$AUDIT" "$PROXY_LOG" && { why "a token leaked into the audit or log"; return 1; }
	# Requests without any token are not failures: twelve of them lock nothing.
	local i
	for i in $(seq 1 12); do
		expect_eq "request $i without a token" 401 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PROXY_PORT/_ping")" || return 1
	done
	expect_eq "a valid token after 12 token-less requests" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$PROXY_PORT/_ping")" || return 1
	# Ten wrong tokens from one address lock it out (429 + Retry-After), each step checked.
	for i in $(seq 1 10); do
		refused 401 "invalid credentials" none -H 'Authorization: Bearer wrong-token-value' /_ping || return 1
	done
	curl -s -D "$RUN_DIR/hdr" -o "$RUN_DIR/body" -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$PROXY_PORT/_ping"
	head -1 "$RUN_DIR/hdr" | grep -q ' 429' || { why "no lockout after 10 failures: $(head -1 "$RUN_DIR/hdr")"; return 1; }
	grep -qi '^Retry-After: 300' "$RUN_DIR/hdr" || { why "lockout without Retry-After: 300 (5 minutes)"; return 1; }
	expect_eq "lockout message" '{"message":"too many failed authentications from this address; try again later"}' "$(tr -d '\n' <"$RUN_DIR/body")" || return 1
	# Another address is not locked (contrast).
	expect_eq "a valid token from 127.0.0.2" 200 "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$PROXY_PORT/_ping")" || return 1
	audit_has lockout "" || { why "no lockout record in the audit"; return 1; }
}

sc_block_exec() {
	local c
	policy_proxy 'rules:
  - name: block-exec
    action: deny
    message: "exec is disabled on this host"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: matches, value: "^/containers/[^/]+/exec$"}' || return 1
	c=$(cname exec)
	as admin run -d "${LBL[@]}" --name "$c" "$IMG" sleep 300 >/dev/null || { why "run -d refused"; return 1; }
	denied_with "exec is disabled on this host" as admin exec "$c" true || return 1
	refused 403 "exec is disabled on this host" admin -H 'Content-Type: application/json' \
		-d '{"Cmd":["touch","/tmp/pwned"]}' "/v1.41/containers/$c/exec" || return 1
	# Docker never saw an exec create: the container has no exec instance.
	expect_eq "exec instances on Docker's side" 0 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$c")" || return 1
	expect_eq "run still works" ok "$(as admin run --rm "${LBL[@]}" "$IMG" echo ok)" || return 1
	audit_has deny block-exec || { why "no deny record for block-exec"; return 1; }
	expect_eq "denied metric (the CLI's exec and the curl one)" 2 "$(metric_value 'docker_proxy_requests_denied_total{rule="block-exec"}')"
}

sc_readonly_volumes() {
	policy_proxy 'rules:
  - name: read-only-volumes
    action: deny
    message: "volumes must be mounted read-only (:ro)"
    conditions:
      - {field: path, operator: equals, value: /containers/create}
      - {field: body.HostConfig.Binds, operator: matches, value: "\"[^\"]*(?<!:ro)\"[],]"}' || return 1
	local before
	before=$(ps_count)
	denied_with "volumes must be mounted read-only" as user run --rm "${LBL[@]}" --name "$(cname rw)" -v /tmp:/h "$IMG" true || return 1
	refused 403 "volumes must be mounted read-only (:ro)" user -H 'Content-Type: application/json' \
		-d "$(create_body x '{"Binds":["/tmp:/h"]}')" "/v1.41/containers/create?name=$(cname rw)" || return 1
	nothing_created "$(cname rw)" "$before" || return 1
	as user run --rm "${LBL[@]}" -v /tmp:/h:ro "$IMG" true || { why "a :ro bind was refused"; return 1; }
	as user run --rm "${LBL[@]}" "$IMG" true || { why "a run without volumes was refused"; return 1; }
}

sc_block_privileged() {
	local code
	policy_proxy 'rules:
  - name: block-privileged
    action: deny
    message: "privileged containers are not allowed"
    conditions:
      - {field: path, operator: equals, value: /containers/create}
      - {field: body.HostConfig.Privileged, operator: equals, value: true}' || return 1
	local n before lbl
	n=$(cname "priv-${DOCKER//[^A-Za-z0-9]/_}")
	lbl="\"Labels\":{\"${LABEL%%=*}\":\"${LABEL#*=}\"}"
	before=$(ps_count)
	denied_with "privileged containers are not allowed" as admin run --rm "${LBL[@]}" --name "$n" --privileged "$IMG" true || return 1
	nothing_created "$n" "$before" || return 1
	as admin run --rm "${LBL[@]}" "$IMG" true || { why "a plain run was refused"; return 1; }
	# Case variants reach the same Go field: the rule still sees them.
	refused 403 "privileged containers are not allowed" admin -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$IMG\",$lbl,\"hostconfig\":{\"privileged\":true}}" "/v1.41/containers/create?name=$n" || return 1
	# Two spellings of one field: refused, never guessed.
	refused 400 'invalid JSON request body: invalid JSON body: keys "Privileged" and "privileged" name the same field for Docker (case-insensitive match)' \
		admin -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$IMG\",$lbl,\"HostConfig\":{\"Privileged\":false,\"privileged\":true}}" "/v1.41/containers/create?name=$n" || return 1
	# Host settings at the top level (legacy decoding in dockerd 20.10).
	refused 400 'refused container create body: invalid container config: top-level field "Privileged" is not a container config field (host settings belong in HostConfig)' \
		admin -H 'Content-Type: application/json' -d "{\"Image\":\"$IMG\",$lbl,\"Privileged\":true}" "/v1.41/containers/create?name=$n" || return 1
	# Chunked body: read completely before the decision.
	refused 403 "privileged containers are not allowed" admin -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
		-d "{\"Image\":\"$IMG\",$lbl,\"HostConfig\":{\"Privileged\":true}}" "/v1.41/containers/create?name=$n" || return 1
	nothing_created "$n" "$before" || return 1
	# Contrast under the same config: the same create without Privileged is executed.
	expect_match "allowed create" '"Id":"[0-9a-f]{64}"' "$(api admin -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$IMG\",\"Cmd\":[\"true\"],$lbl,\"HostConfig\":{\"Privileged\":false}}" "/v1.41/containers/create?name=$n")" || return 1
	admin_docker inspect "$n" >/dev/null 2>&1 || { why "the allowed create made no container"; return 1; }
	admin_docker rm -f "$n" >/dev/null
}

sc_block_binds() {
	policy_proxy 'rules:
  - name: block-bind-mounts
    action: deny
    message: "bind mounts are not allowed"
    conditions:
      - {field: path, operator: equals, value: /containers/create}
      - or:
          - {field: body.HostConfig.Binds, operator: matches, value: "\"/"}
          - {field: body.HostConfig.Mounts, operator: matches, value: "\"Type\":\"bind\""}' || return 1
	local before
	before=$(ps_count)
	denied_with "bind mounts are not allowed" as user run --rm "${LBL[@]}" --name "$(cname bind1)" -v /etc:/h "$IMG" true || return 1
	denied_with "bind mounts are not allowed" as user run --rm "${LBL[@]}" --name "$(cname bind2)" --mount type=bind,src=/etc,dst=/h "$IMG" true || return 1
	refused 403 "bind mounts are not allowed" user -H 'Content-Type: application/json' \
		-d "$(create_body x '{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/h"}]}')" "/v1.41/containers/create?name=$(cname bind3)" || return 1
	nothing_created "$(cname bind1)" "$before" || return 1
	nothing_created "$(cname bind2)" "$before" || return 1
	nothing_created "$(cname bind3)" "$before" || return 1
	as user run --rm "${LBL[@]}" -v "dpp-pol-$RUN_ID-vol:/data" "$IMG" true || { why "a named volume was refused"; return 1; }
	admin_docker volume rm -f "dpp-pol-$RUN_ID-vol" >/dev/null 2>&1
	return 0
}

sc_admin_create() {
	policy_proxy 'rules:
  - name: admin-only-create
    action: require_role
    role: admin
    message: "only admins may create containers"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: equals, value: /containers/create}' || return 1
	local before
	before=$(ps_count)
	denied_with "only admins may create containers" as user run --rm "${LBL[@]}" --name "$(cname uc)" "$IMG" true || return 1
	refused 403 "only admins may create containers" user -H 'Content-Type: application/json' \
		-d "$(create_body x)" "/v1.41/containers/create?name=$(cname uc)" || return 1
	nothing_created "$(cname uc)" "$before" || return 1
	as user ps >/dev/null || { why "user could not list containers"; return 1; }
	expect_eq "admin run" ok "$(as admin run --rm "${LBL[@]}" "$IMG" echo ok)" || return 1
	audit_has deny admin-only-create || { why "no deny record for admin-only-create"; return 1; }
	audit_values deny admin-only-create "{\"peer_ip\": \"127.0.0.1\", \"method\": \"POST\",
		\"path\": \"/containers/create\", \"user_agent\": \"~^Docker-Client/\", \"user_role\": \"user\",
		\"identity\": \"$(token_identity "$USER_TOKEN")\", \"rule_action\": \"require_role\",
		\"status\": 403, \"dry_run\": false, \"message\": \"only admins may create containers\"}" ||
		{ why "deny record without the seed's values"; return 1; }
}

sc_internal_network() {
	local n=dpp-pol-$RUN_ID-net
	policy_proxy 'rules:
  - name: internal-network-only
    action: deny
    message: "only internal networks may be created"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: equals, value: /networks/create}
      - {field: body.Internal, operator: not_equals, value: true}' || return 1
	denied_with "only internal networks may be created" as admin network create "${LBL[@]}" "$n-ext" || return 1
	refused 403 "only internal networks may be created" admin -H 'Content-Type: application/json' \
		-d "{\"Name\":\"$n-ext\",\"Internal\":false}" /v1.41/networks/create || return 1
	admin_docker network inspect "$n-ext" >/dev/null 2>&1 && { why "network $n-ext exists on Docker's side after the denial"; return 1; }
	as admin network create "${LBL[@]}" --internal "$n" >/dev/null || { why "internal network refused"; return 1; }
	as admin network rm "$n" >/dev/null
}

sc_redact_env() {
	local c out
	policy_proxy 'rules:
  - name: redact-env
    action: response_filter
    conditions:
      - {field: method, operator: equals, value: GET}
      - {field: path, operator: matches, value: "^/containers/[^/]+/json$"}
    response_filter:
      - {field: Config.Env, action: redact}' || return 1
	c=$(cname env)
	as admin run -d "${LBL[@]}" --name "$c" -e SECRET=hunter2 "$IMG" sleep 300 >/dev/null || { why "run refused"; return 1; }
	out=$(as admin inspect "$c") || { why "docker inspect failed with redaction on"; return 1; }
	[[ $out == *hunter2* ]] && { why "the secret is visible through inspect"; return 1; }
	expect_match "inspect Env" 'SECRET=\*\*\*REDACTED\*\*\*' "$out" || return 1
	expect_eq "inspect format" "$c" "$(as admin inspect -f '{{.Name}}' "$c" | tr -d /)" || return 1
	as admin ps --filter "name=$c" | grep -q "$c" || { why "ps broken with redaction on"; return 1; }
	# The raw socket still has the real value: only the response was filtered.
	admin_docker inspect -f '{{.Config.Env}}' "$c" | grep -q hunter2 || { why "raw inspect lost the value?"; return 1; }
}

sc_rate_limit() {
	local out
	policy_proxy 'rules:
  - name: limit-list
    action: rate_limit
    rate_limit: {requests: 3, period: 60s, penalty: 0}
    message: "slow down: at most 3 listings a minute"
    conditions:
      - {field: method, operator: equals, value: GET}
      - {field: path, operator: equals, value: /containers/json}' || return 1
	local i code from
	# Buckets are per (rule, client address): 127.0.0.1 first, with the CLI.
	for i in 1 2 3; do as user ps >/dev/null || { why "request $i from 127.0.0.1 was limited"; return 1; }; done
	denied_with "slow down" as user ps || return 1
	out=$(curl -s -D - -H "Authorization: Bearer $USER_TOKEN" "http://127.0.0.1:$PROXY_PORT/containers/json")
	expect_match "fifth from 127.0.0.1: 429 with Retry-After and the message" 'HTTP/1.1 429.*Retry-After: [0-9]+.*\{"message":"slow down: at most 3 listings a minute"\}' "$(echo "$out" | tr -d '\r' | tr '\n' ' ')" || return 1
	# Other endpoints are not limited by this rule (contrast).
	expect_eq "GET /info from 127.0.0.1" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $USER_TOKEN" "http://127.0.0.1:$PROXY_PORT/info")" || return 1
	# 127.0.0.2 has its own bucket: every step's verdict.
	from=(--interface 127.0.0.2)
	for i in 1 2 3 4 5; do
		code=$(curl -s -o "$RUN_DIR/rl-body" -w '%{http_code}' "${from[@]}" -H "Authorization: Bearer $USER_TOKEN" "http://127.0.0.1:$PROXY_PORT/containers/json")
		if [ "$i" -le 3 ]; then
			expect_eq "request $i from 127.0.0.2" 200 "$code" || return 1
		else
			expect_eq "request $i from 127.0.0.2" 429 "$code" || return 1
			expect_eq "message" '{"message":"slow down: at most 3 listings a minute"}' "$(tr -d '\n' <"$RUN_DIR/rl-body")" || return 1
		fi
	done
	audit_has rate_limited limit-list || { why "no rate_limited record"; return 1; }
	grep '"event":"rate_limited"' "$AUDIT" | grep -q '127\.0\.0\.2' || { why "no rate_limited record for 127.0.0.2"; return 1; }
	# 1 (CLI) + 1 (curl) from 127.0.0.1, 2 from 127.0.0.2.
	expect_eq "rate-limited requests counted" 4 "$(metric_value 'docker_proxy_rate_limited_total{rule="limit-list"}')" || return 1
}

sc_dry_run_pulls() {
	local img="dpp-e2e:dry$RUN_ID"
	policy_proxy 'rules:
  - name: watch-image-pulls
    action: deny
    dry_run: true
    message: "image pulls are being watched"
    conditions:
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: equals, value: /images/create}' || return 1
	tar -C "$RUN_DIR/rootfs" -c . | as admin import - "$img" >/dev/null ||
		{ why "image import (POST /images/create) was blocked by a dry-run rule"; return 1; }
	admin_docker rmi "$img" >/dev/null
	audit_has dry_run watch-image-pulls || { why "no dry_run record"; return 1; }
	audit_values dry_run watch-image-pulls '{"peer_ip": "127.0.0.1", "method": "POST",
		"path": "/images/create", "user_agent": "~^Docker-Client/", "user_role": "admin",
		"identity": "~^token:[0-9a-f]{8}$", "rule_action": "deny", "status": 0, "dry_run": true,
		"message": "image pulls are being watched"}' || { why "dry_run record without the seed's values"; return 1; }
	expect_eq "dry-run metric" 1 "$(metric_value 'docker_proxy_rule_decisions_total{rule="watch-image-pulls",mode="dry_run"}')" || return 1
	expect_eq "dry-run requests" 1 "$(metric_value 'docker_proxy_requests_dry_run_total')"
}

sc_healthcheck_deny_all() {
	local code
	policy_proxy 'rules:
  - name: healthcheck
    priority: 100
    action: allow
    conditions:
      - {field: path, operator: equals, value: /_ping}
  - name: deny-all
    action: deny
    message: "this proxy only answers health checks"' || return 1
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $USER_TOKEN" "http://127.0.0.1:$PROXY_PORT/_ping")
	expect_eq "ping allowed" 200 "$code" || return 1
	denied_with "this proxy only answers health checks" as admin ps || return 1
	refused 403 "this proxy only answers health checks" admin /v1.41/containers/json || return 1
	local before
	before=$(ps_count)
	refused 403 "this proxy only answers health checks" admin -H 'Content-Type: application/json' \
		-d "$(create_body x)" "/v1.41/containers/create?name=$(cname hc)" || return 1
	nothing_created "$(cname hc)" "$before"
}

sc_canonical_paths() {
	local code auth=(-H "Authorization: Bearer $ADMIN_TOKEN")
	policy_proxy 'rules:
  - name: no-container-list
    action: deny
    message: "listing containers is off"
    conditions:
      - {field: path, operator: equals, value: /containers/json}' || return 1
	for t in /containers/json /v1.41/containers/json /%63ontainers/json /v1.41/%63ontainers/json '/containers/json?all=1'; do
		refused 403 "listing containers is off" admin "$t" || return 1
	done
	refused_like 400 "refused request target: encoded '/' \\(%2F\\) in path" admin --path-as-is /containers%2Fjson || return 1
	refused_like 400 "refused request target: dot segment \\('\\.' or '\\.\\.'\\) in path" admin --path-as-is /v1.41/containers/../containers/json || return 1
	refused_like 400 "refused request target: empty path segment \\('//'\\) in path" admin --path-as-is //containers/json || return 1
	refused_like 400 "refused request target: dot segment \\('\\.' or '\\.\\.'\\) in path" admin --path-as-is /containers/./json || return 1
	refused_like 400 "refused request target: encoded NUL \\(%00\\) in path" admin --path-as-is '/containers/json%00' || return 1
	refused 400 "refused request target: semicolon in query (use '&')" admin '/containers/json?all=1;x=2' || return 1
	refused 400 "bad request framing: both Content-Length and Transfer-Encoding present" admin \
		-H 'Content-Length: 2' -H 'Transfer-Encoding: chunked' --data-binary '{}' /containers/create || return 1
	# Contrast under the same config: another listing passes.
	expect_match "GET /images/json allowed" '200$' "$(api admin /v1.41/images/json)"
}

sc_metrics_format() {
	policy_proxy 'rules: []' || return 1
	as admin ps >/dev/null
	curl -s "http://127.0.0.1:$PROXY_PORT/metrics" >"$RUN_DIR/metrics.txt" || { why "no /metrics"; return 1; }
	"$PY" "$E2E_REPO/tests/unit/check_prometheus.py" "$RUN_DIR/metrics.txt" || { why "metrics are not valid Prometheus text"; return 1; }
	grep -q '^docker_proxy_requests_total{' "$RUN_DIR/metrics.txt" || { why "no docker_proxy_requests_total"; return 1; }
}

# Every series of the seed appears, and the proxy's own refusals and relays
# are counted where they happen.
sc_metrics_counters() {
	local name big auth=(-H "Authorization: Bearer $ADMIN_TOKEN") c before
	policy_proxy 'rules: []' || return 1
	for name in requests_total requests_allowed_total requests_denied_total requests_dry_run_total \
		auth_failures_total auth_lockouts_total rate_limited_total upstream_errors_total \
		upstream_timeouts_total body_too_large_total bad_request_total request_timeouts_total \
		upgrade_total rule_decisions_total upstream_latency_ms; do
		curl -s "http://127.0.0.1:$PROXY_PORT/metrics" | grep -q "^# TYPE docker_proxy_$name " ||
			{ why "no docker_proxy_$name family"; return 1; }
	done
	curl -s --path-as-is -o /dev/null "${auth[@]}" "http://127.0.0.1:$PROXY_PORT/containers/./json"
	expect_eq "bad_request after a 400" 1 "$(metric_value docker_proxy_bad_request_total)" || return 1
	big=$(head -c 1100000 /dev/zero | tr '\0' a)
	printf '{"Image":"%s"}' "$big" >"$RUN_DIR/big.json"
	curl -s -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' --data-binary "@$RUN_DIR/big.json" \
		"http://127.0.0.1:$PROXY_PORT/containers/create"
	expect_eq "body_too_large after a 413" 1 "$(metric_value docker_proxy_body_too_large_total)" || return 1
	before=$(metric_value docker_proxy_upstream_latency_ms_count)
	as admin ps >/dev/null || { why "ps refused"; return 1; }
	[ "$(metric_value docker_proxy_upstream_latency_ms_count)" -gt "$before" ] || { why "upstream latency not observed"; return 1; }
	c=$(cname metrics)
	as admin run -d "${LBL[@]}" --name "$c" "$IMG" sleep 300 >/dev/null || { why "run -d refused"; return 1; }
	as admin exec "$c" true || { why "exec failed"; return 1; }
	[ "$(metric_value docker_proxy_upgrade_total)" -ge 1 ] || { why "exec did not count an upgrade"; return 1; }
	admin_docker rm -f "$c" >/dev/null
}

# Behind a trusted proxy the audit record keeps the TCP peer in peer_ip and
# adds the forwarded client as client_ip; without a forwarded address there
# is no client_ip field.
sc_audit_trusted_proxy() {
	local auth=(-H "Authorization: Bearer $ADMIN_TOKEN")
	CFG_GLOBAL='  trusted_proxies: [127.0.0.1]' policy_proxy 'rules:
  - name: no-container-list
    action: deny
    message: "listing containers is off"
    conditions:
      - {field: path, operator: equals, value: /containers/json}' || return 1
	curl -s -o /dev/null "${auth[@]}" -H 'X-Forwarded-For: 203.0.113.9' "http://127.0.0.1:$PROXY_PORT/containers/json"
	curl -s -o /dev/null "${auth[@]}" -A 'probe/1' "http://127.0.0.1:$PROXY_PORT/containers/json"
	audit_values deny no-container-list '{"peer_ip": "127.0.0.1", "client_ip": "203.0.113.9", "status": 403}' ||
		{ why "no client_ip next to peer_ip behind a trusted proxy"; return 1; }
	wait_for 5 "$PY" -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
plain = [r for r in recs if r["user_agent"] == "probe/1"]
sys.exit(0 if plain and all("client_ip" not in r for r in plain) else 1)' "$AUDIT" ||
		{ why "client_ip written although nothing changed it"; return 1; }
}

# Metrics off (the default): /metrics is an ordinary path, authenticated and
# forwarded; Docker answers 404 with its own JSON message.
sc_metrics_off() {
	local code
	CFG_METRICS=false policy_proxy 'rules: []' || return 1
	code=$(curl -s -o "$RUN_DIR/body" -w '%{http_code}' "http://127.0.0.1:$PROXY_PORT/metrics")
	expect_eq "/metrics without a token" 401 "$code" || return 1
	code=$(curl -s -o "$RUN_DIR/body" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$PROXY_PORT/metrics")
	expect_eq "/metrics forwarded to Docker" 404 "$code" || return 1
	"$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["message"]; sys.exit(0 if "page not found" in m else 1)' "$RUN_DIR/body" ||
		{ why "not Docker's 404 message: $(short "$(cat "$RUN_DIR/body")")"; return 1; }
	grep -q docker_proxy_ "$RUN_DIR/body" && { why "metrics served while disabled"; return 1; }
	return 0
}

sc_reload() {
	policy_proxy 'rules: []' || return 1
	as user ps >/dev/null || { why "ps refused before reload"; return 1; }
	write_cfg 'rules:
  - name: no-ps
    action: deny
    message: "listing is off now"
    conditions:
      - {field: path, operator: equals, value: /containers/json}'
	kill -HUP "$PROXY_PID"
	wait_for 5 eval '! as user ps >/dev/null 2>&1' || { why "new rule not in force after SIGHUP"; return 1; }
	denied_with "listing is off now" as user ps || return 1
	write_cfg 'rules:
  - name: no-ps
    action: deny
    message: "listing is off now"
    conditions:
      - {field: path, operator: equals, value: /containers/json}
  - name: broken
    action: nonsense'
	kill -HUP "$PROXY_PID"
	wait_for 5 grep -q "reload refused" "$PROXY_LOG" || { why "bad config not reported"; return 1; }
	denied_with "listing is off now" as user ps || { why "old rules lost after a bad reload"; return 1; }
	proc_alive "$PROXY_PID" || { why "proxy died on a bad reload"; return 1; }
	# logrotate: the file is moved away, SIGHUP re-opens the path.
	mv "$AUDIT" "$AUDIT.1"
	kill -HUP "$PROXY_PID"
	wait_for 5 eval '[ "$(grep -c "SIGHUP: reloading" "$PROXY_LOG")" -ge 3 ]' || { why "third reload not seen"; return 1; }
	sleep 0.5
	as user ps >/dev/null 2>&1
	wait_for 5 grep -q '"rule_name":"no-ps"' "$AUDIT" || { why "audit not re-opened at its path after SIGHUP"; return 1; }
	grep -q '"rule_name":"no-ps"' "$AUDIT.1" || { why "earlier records not in the rotated file"; return 1; }
}

sc_stop() { stop_proxy 15; }

# ---------------------------------------------------------------------------

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ "$DPP_E2E_TARGET" = proxy ] || setup_failed target "policy tests need the proxy (DPP_E2E_TARGET=proxy)"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}
client_config admin "$ADMIN_TOKEN" >/dev/null
client_config user "$USER_TOKEN" >/dev/null

run_scenario policy/auth sc_auth
run_scenario policy/block-exec sc_block_exec
run_scenario policy/read-only-volumes sc_readonly_volumes
run_scenario policy/block-privileged sc_block_privileged
run_scenario policy/block-bind-mounts sc_block_binds
run_scenario policy/admin-only-create sc_admin_create
run_scenario policy/internal-network-only sc_internal_network
run_scenario policy/redact-env sc_redact_env
run_scenario policy/rate-limit sc_rate_limit
run_scenario policy/dry-run-pulls sc_dry_run_pulls
run_scenario policy/healthcheck-then-deny-all sc_healthcheck_deny_all
run_scenario policy/canonical-paths sc_canonical_paths
run_scenario policy/metrics-format sc_metrics_format
run_scenario policy/metrics-counters sc_metrics_counters
run_scenario policy/metrics-off sc_metrics_off
run_scenario policy/audit-trusted-proxy sc_audit_trusted_proxy
run_scenario policy/reload sc_reload
# The denial message reaches every docker CLI.
for cli in "${CLIS[@]}"; do
	DOCKER=$cli
	run_scenario "policy/deny-message-$(cli_tag "$cli")" sc_block_privileged
done
if [ -n "$PROXY_PID" ]; then
	run_scenario policy/stop sc_stop
fi
e2e_finish
