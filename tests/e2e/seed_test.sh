#!/usr/bin/env bash
# End-to-end tests of the seed's own example configurations
# (tests/fixtures/seed/, docker-proxy's documented examples, unchanged):
# each file is loaded as it is, with bind, port and socket given by flags, and
# each of its rules is driven with the docker CLI (tokens in
# $DOCKER_CONFIG/config.json HttpHeaders) against the real dockerd. Every
# denial checks the status or the CLI output for the rule's message, and the
# raw Docker socket for proof that nothing was created; every scenario also
# shows a request the same configuration allows. Uses lib.sh.
#
#   tests/e2e/seed_test.sh        # ends with "e2e: N passed, M failed"

# shellcheck disable=SC2016  # single-quoted snippets for `wait_for N eval '...'` are deliberate
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

FIX="$E2E_REPO/tests/fixtures/seed"
ADMIN_TOKEN="adm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
READONLY_TOKEN="ro-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SHARED_SECRET="sec-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ADMIN_TOKEN READONLY_TOKEN
# Only the scenario of 07 sets a shared secret: with auth.type none the proxy
# refuses one as contradictory.
unset DOCKER_PROXY_SECRET DOCKER_PROXY_CONFIG DOCKER_PROXY_PORT DOCKER_SOCKET DOCKER_PROXY_LOG

# client_config NAME [HEADERS_JSON]: a docker CLI config dir sending HEADERS.
client_config() {
	local headers=${2:-}
	[ -n "$headers" ] || headers='{}'
	mkdir -p "$RUN_DIR/cfg-$1"
	printf '{"HttpHeaders":%s}\n' "$headers" >"$RUN_DIR/cfg-$1/config.json"
}

# as WHO docker-args...: the docker CLI through the proxy as WHO.
as() {
	local who=$1
	shift
	DOCKER_CONFIG="$RUN_DIR/cfg-$who" timeout -k 5 120 "$DOCKER" -H "$PROXY_HOST" "$@"
}

# seed_proxy FILE: (re)starts the proxy on FILE; a fresh process, so fresh
# rate-limit buckets.
seed_proxy() {
	[ -z "$PROXY_PID" ] || stop_proxy 15 || return 1
	DPP_PROXY_ARGS="--config $1"
	start_proxy || { why "proxy did not start with $1"; return 1; }
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

# req TOKEN METHOD PATH [JSON_BODY]: "STATUS MESSAGE" of one request through
# the proxy (MESSAGE: the "message" of a JSON error body, else empty).
req() {
	local args=(-s -o "$RUN_DIR/resp" -w '%{http_code}' -X "$2") code msg
	[ -z "$1" ] || args+=(-H "Authorization: Bearer $1")
	[ -z "${4:-}" ] || args+=(-H 'Content-Type: application/json' -d "$4")
	code=$(curl "${args[@]}" "http://127.0.0.1:$PROXY_PORT$3")
	msg=$("$PY" -c 'import json,sys
try:
    print(json.load(open(sys.argv[1])).get("message", ""))
except Exception:
    print("")' "$RUN_DIR/resp")
	printf '%s %s' "$code" "$msg"
}

# raw_status METHOD PATH: Docker's own status for the request (raw socket).
raw_status() {
	curl -s -o /dev/null -w '%{http_code}' -X "$1" --unix-socket "$DOCKER_SOCK" "http://docker$2"
}

# absent KIND NAME: Docker has no such object (proof that a denial created nothing).
absent() {
	if admin_docker "$1" inspect "$2" >/dev/null 2>&1; then
		why "$1 $2 exists on Docker's side after a denial"
		return 1
	fi
	echo "ok: no $1 $2 on Docker's side"
}

n_containers() { admin_docker ps -aq --filter "label=$LABEL" | wc -l; }

cname() { echo "dpp-seed-$RUN_ID-$1"; }

# The seed's timestamp field (RFC 3339, UTC, milliseconds) for audit_record.
TS_RE='"timestamp": "~\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"'

# token_identity TOKEN: the audit identity of a bearer token.
token_identity() { printf 'token:%s' "$(printf %s "$1" | sha256sum | cut -c1-8)"; }

# with_audit FILE OUT AUDIT: a copy of the seed FILE whose global section also
# sets audit_log AUDIT and turns metrics on (neither key is in FILE).
with_audit() {
	if grep -q '^global:' "$1"; then
		awk -v a="$3" '{ print } /^global:/ { print "  audit_log: " a; print "  metrics: {enabled: true}" }' "$1" >"$2"
	else
		{ printf 'global:\n  audit_log: %s\n  metrics: {enabled: true}\n' "$3"; cat "$1"; } >"$2"
	fi
}

# audit_record FILE EVENT EXPECTED_JSON: FILE holds a record of EVENT whose
# first thirteen fields are the seed's, in the seed's order, with exactly the
# values of EXPECTED_JSON (all thirteen keys; a string "~RE" is a regular
# expression the value must match; types must match: null is not "").
audit_record() {
	local script
	script=$(cat <<'PYEOF'
import json, re, sys
path, event, want = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
SEED = ["timestamp", "event", "peer_ip", "method", "path", "user_agent", "user_role",
        "identity", "rule_name", "rule_action", "status", "dry_run", "message"]
if sorted(want) != sorted(SEED):
    print("test bug: expected keys %s" % sorted(want)); sys.exit(2)
def ok(rec):
    if list(rec)[:13] != SEED:
        return False
    for k, v in want.items():
        if isinstance(v, str) and v.startswith("~"):
            if not isinstance(rec[k], str) or not re.fullmatch(v[1:], rec[k]):
                return False
        elif rec[k] != v or type(rec[k]) is not type(v):
            return False
    return True
try:
    recs = [json.loads(l, object_pairs_hook=lambda p: dict(p)) for l in open(path).read().splitlines()]
except OSError:
    sys.exit(1)
cands = [r for r in recs if r.get("event") == event]
if any(ok(r) for r in cands):
    sys.exit(0)
print("no %s record with %s among: %s" % (event, want, cands))
sys.exit(1)
PYEOF
)
	wait_for 5 "$PY" -c "$script" "$1" "$2" "$3" >/dev/null || "$PY" -c "$script" "$1" "$2" "$3"
}

# seed_metrics FILE CHECKS...: reads /metrics with the reference Prometheus
# parser into FILE; each check "NAME OP N" compares sum() over the samples
# named NAME (OP: == or >=); "NAME{k=v,...} OP N" sums only the samples with
# those label values. Every seed series must have a sample.
seed_metrics() {
	local out=$1
	shift
	curl -s "http://127.0.0.1:$PROXY_PORT/metrics" >"$out" || { why "GET /metrics failed"; return 1; }
	"$PY" - "$out" "$@" <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
SEED = ["requests_total", "requests_allowed_total", "requests_denied_total",
        "requests_dry_run_total", "auth_failures_total", "auth_lockouts_total",
        "rate_limited_total", "upstream_errors_total", "upstream_timeouts_total",
        "body_too_large_total", "bad_request_total", "request_timeouts_total", "upgrade_total",
        "upstream_latency_ms_bucket", "upstream_latency_ms_count", "upstream_latency_ms_sum"]
samples = [s for f in parse(open(sys.argv[1]).read()) for s in f.samples]
names = {s.name for s in samples}
bad = ["docker_proxy_" + n for n in SEED if "docker_proxy_" + n not in names]
if bad:
    print("no sample for: %s" % bad); sys.exit(1)
for check in sys.argv[2:]:
    name, op, n = check.split()
    want = {}
    if "{" in name:
        name, labels = name.rstrip("}").split("{")
        want = dict(kv.split("=", 1) for kv in labels.split(","))
    sel = [s.value for s in samples
           if s.name == name and all(s.labels.get(k) == v for k, v in want.items())]
    v = sum(sel) if sel else None
    if v is None or not (v == float(n) if op == "==" else v >= float(n)):
        print("metric %s = %s, want %s %s" % (name, v, op, n)); sys.exit(1)
print("metrics ok: %d samples" % len(samples))
PYEOF
}

# ---------------------------------------------------------------------------
# 01: endpoints and methods (auth type none)

sc_endpoints() {
	local c v n out
	seed_proxy "$FIX/01-endpoints-and-methods.yaml" || return 1
	# block-secrets: the proxy answers (Docker itself would say 503: no swarm).
	denied_with "Secrets are not accessible" as anon secret ls || return 1
	expect_eq "GET /secrets" "403 Secrets are not accessible" "$(req "" GET /secrets)" || return 1
	expect_eq "Docker's own answer differs" 503 "$(raw_status GET /secrets)" || return 1
	# readonly-volumes
	v=$(cname vol)
	denied_with "Volume mutations are forbidden" as anon volume create --label "$LABEL" "$v" || return 1
	absent volume "$v" || return 1
	as anon volume ls >/dev/null || { why "volume ls refused"; return 1; }
	# block-dangerous-endpoints (/configs; /secrets is caught by block-secrets first)
	denied_with "Secrets and configs are not accessible" as anon config ls || return 1
	expect_eq "POST /configs/create" "403 Secrets and configs are not accessible" \
		"$(req "" POST /configs/create '{"Name":"x","Data":"eA=="}')" || return 1
	# block-exec: both the exec creation and the exec start are refused.
	c=$(cname exec)
	as anon run -d --network none "${LBL[@]}" --name "$c" "$IMG" sleep 300 >/dev/null || { why "run -d refused"; return 1; }
	denied_with "Exec operations are not permitted" as anon exec "$c" true || return 1
	expect_eq "no exec instance created" "[]" "$(admin_docker inspect -f '{{json .ExecIDs}}' "$c" | sed 's/^null$/[]/')" || return 1
	expect_eq "POST /exec/ID/start" "403 Exec operations are not permitted" \
		"$(req "" POST /exec/0123456789abcdef/start '{"Detach":true}')" || return 1
	out=$(as anon logs "$c" 2>&1) || { why "logs refused: $out"; return 1; }
	# off-hour-write-block (networks; volumes are caught by readonly-volumes first)
	n=$(cname net)
	denied_with "Write operations are restricted during off-hours" as anon network create --label "$LABEL" "$n" || return 1
	absent network "$n" || return 1
	as anon network ls >/dev/null || { why "network ls refused"; return 1; }
	admin_docker rm -f "$c" >/dev/null
}

# ---------------------------------------------------------------------------
# 02: body inspection (auth type none)

sc_body() {
	local before
	seed_proxy "$FIX/02-body-inspection.yaml" || return 1
	before=$(n_containers)
	denied_with "Privileged containers are not allowed" \
		as anon run --rm "${LBL[@]}" --name "$(cname priv)" --privileged "$IMG" true || return 1
	absent container "$(cname priv)" || return 1
	denied_with "Bind mounts are not allowed" \
		as anon run --rm "${LBL[@]}" --name "$(cname bind)" -v /tmp:/h "$IMG" true || return 1
	absent container "$(cname bind)" || return 1
	for cap in SYS_ADMIN NET_ADMIN SYS_PTRACE ALL; do
		denied_with "Adding privileged Linux capabilities is not allowed" \
			as anon run --rm "${LBL[@]}" --name "$(cname cap)" --cap-add "$cap" "$IMG" true || return 1
		absent container "$(cname cap)" || return 1
	done
	expect_eq "containers after the denials" "$before" "$(n_containers)" || return 1
	expect_eq "plain run" ok "$(as anon run --rm --network none "${LBL[@]}" "$IMG" echo ok)" || return 1
	expect_eq "harmless capability" ok "$(as anon run --rm --network none "${LBL[@]}" --cap-add CHOWN "$IMG" echo ok)" || return 1
	# The rule tests Binds for presence, so a named volume given with -v
	# (also in Binds) is refused too; --mount puts it in Mounts instead.
	denied_with "Bind mounts are not allowed" \
		as anon run --rm "${LBL[@]}" --name "$(cname bind)" -v "$(cname data):/data" "$IMG" true || return 1
	absent container "$(cname bind)" || return 1
	expect_eq "named volume with --mount" ok \
		"$(as anon run --rm --network none "${LBL[@]}" --mount "type=volume,src=$(cname data),dst=/data" "$IMG" echo ok)" || return 1
	admin_docker volume rm -f "$(cname data)" >/dev/null 2>&1
	return 0
}

# ---------------------------------------------------------------------------
# 03: roles and the internal-network rule (bearer tokens)

sc_roles() {
	local c
	seed_proxy "$FIX/03-roles-and-network.yaml" || return 1
	c=$(cname ro-create)
	denied_with "Admin role required to create containers" \
		as readonly run --rm "${LBL[@]}" --name "$c" "$IMG" true || return 1
	absent container "$c" || return 1
	as readonly ps >/dev/null || { why "readonly could not list"; return 1; }
	expect_eq "admin run" ok "$(as admin run --rm --network none "${LBL[@]}" "$IMG" echo ok)" || return 1
	expect_eq "no token" "401" "$(req "" GET /containers/json | cut -d' ' -f1)"
}

# internal-network-only: the rule reads client_ip; a loopback test cannot use
# other source addresses, so the file gets global.trusted_proxies (the
# loopback peer) and the CLI sends X-Forwarded-For.
sc_network() {
	local cfg="$RUN_DIR/03-trusted.yaml" c
	{ cat "$FIX/03-roles-and-network.yaml"; printf 'global:\n  trusted_proxies: [127.0.0.1]\n'; } >"$cfg"
	seed_proxy "$cfg" || return 1
	c=$(cname outside)
	denied_with "Access restricted to internal network" as outside ps || return 1
	denied_with "Access restricted to internal network" \
		as outside run --rm "${LBL[@]}" --name "$c" "$IMG" true || return 1
	absent container "$c" || return 1
	as inside ps >/dev/null || { why "an internal (10.x) client was refused"; return 1; }
	expect_eq "internal client runs" ok "$(as inside run --rm --network none "${LBL[@]}" "$IMG" echo ok)"
}

# ---------------------------------------------------------------------------
# 04: response filter, rate limits, dry run (auth type none)

sc_redact() {
	local c out
	seed_proxy "$FIX/04-redaction-and-rate-limits.yaml" || return 1
	c=$(cname env)
	as anon run -d --network none "${LBL[@]}" --name "$c" -e SECRET=hunter2 "$IMG" sleep 300 >/dev/null || { why "run refused"; return 1; }
	out=$(as anon inspect "$c") || { why "inspect failed"; return 1; }
	[[ $out == *hunter2* ]] && { why "the secret is visible through inspect"; return 1; }
	expect_match "Env redacted" 'SECRET=\*\*\*REDACTED\*\*\*' "$out" || return 1
	out=$(as anon inspect -f '{{json .Config.Cmd}}' "$c") || { why "inspect -f failed"; return 1; }
	[[ $out == *sleep* ]] && { why "Cmd not redacted: $out"; return 1; }
	expect_match "Cmd redacted" 'REDACTED' "$out" || return 1
	# Only the response was filtered: Docker still has the values.
	admin_docker inspect -f '{{.Config.Env}} {{.Config.Cmd}}' "$c" | grep -q 'hunter2.*sleep' || { why "raw inspect lost the values?"; return 1; }
	admin_docker rm -f "$c" >/dev/null
}

# rate-limit-container-create: rate_limit {requests: 5, period: 1} and no
# penalty written, so the seed's default penalty of 30 s applies: five rapid
# creates reach Docker (404: no such image, nothing is created), the sixth is
# refused, and so is one 2 s later although the bucket would have refilled.
sc_create_limit() {
	local args=() i codes before url
	seed_proxy "$FIX/04-redaction-and-rate-limits.yaml" || return 1
	url="http://127.0.0.1:$PROXY_PORT/containers/create"
	before=$(n_containers)
	for i in 1 2 3 4 5 6; do args+=(-o "$RUN_DIR/create-$i" "$url"); done
	# One connection, six requests back to back (well inside one refill step).
	codes=$(curl -s -w '%{http_code} ' -H 'Content-Type: application/json' \
		-d '{"Image":"dpp-seed-absent:none"}' "${args[@]}")
	expect_eq "statuses of six rapid creates" "404 404 404 404 404 429 " "$codes" || return 1
	for i in 1 2 3 4 5; do
		grep -q 'No such image' "$RUN_DIR/create-$i" || { why "create $i was not answered by Docker: $(cat "$RUN_DIR/create-$i")"; return 1; }
	done
	expect_eq "6th: the rule's message" '{"message":"Too many container create requests"}' \
		"$(tr -d '\n' <"$RUN_DIR/create-6")" || return 1
	sleep 2
	expect_eq "2 s later: still in the penalty" "429 Too many container create requests" \
		"$(req "" POST /containers/create '{"Image":"dpp-seed-absent:none"}')" || return 1
	curl -s -D "$RUN_DIR/hdr" -o /dev/null -H 'Content-Type: application/json' -d '{}' "$url"
	expect_match "Retry-After counts the penalty down" '^2[0-9]$' \
		"$(tr -d '\r' <"$RUN_DIR/hdr" | sed -n 's/^[Rr]etry-[Aa]fter: *//p')" || return 1
	denied_with "Too many container create requests" as anon create "${LBL[@]}" "$IMG" true || return 1
	expect_eq "containers" "$before" "$(n_containers)" || return 1
	as anon ps >/dev/null || { why "listing refused while creates are limited"; return 1; }
}

# rate-limit-all: 50 requests per 30 s per client, then 429 with the message.
sc_limit_all() {
	local args=() i codes ok=0 limited=0 first429=0
	seed_proxy "$FIX/04-redaction-and-rate-limits.yaml" || return 1
	for i in $(seq 1 60); do args+=(-o /dev/null "http://127.0.0.1:$PROXY_PORT/_ping"); done
	codes=$(curl -s -w '%{http_code}\n' "${args[@]}")
	i=0
	for c in $codes; do
		i=$((i + 1))
		case $c in
		200) [ "$first429" -eq 0 ] || { why "request $i allowed after a 429 (penalty ignored)"; return 1; }
		     ok=$((ok + 1)) ;;
		429) [ "$first429" -ne 0 ] || first429=$i; limited=$((limited + 1)) ;;
		*) why "request $i: unexpected status $c"; return 1 ;;
		esac
	done
	echo "allowed $ok, limited $limited (start-up pings used a few tokens)"
	if [ "$ok" -lt 45 ] || [ "$ok" -gt 51 ]; then
		why "allowed $ok of 60, expected about 50"
		return 1
	fi
	expect_eq "then the rule's message" "429 Rate limit exceeded. You are blocked for 30 seconds." \
		"$(req "" GET /_ping)" || return 1
	denied_with "Rate limit exceeded. You are blocked for 30 seconds." as anon ps
}

# watch-image-pulls: dry_run, so the import (POST /images/create) goes through,
# with a dry_run record (status 0, dry_run true) and its rule_decisions count.
# The copy adds global.audit_log and metrics; the rules are the file's.
sc_dry_run() {
	local img="dpp-seed-dry:$RUN_ID" cfg="$RUN_DIR/04-audit.yaml" audit="$RUN_DIR/audit-04.jsonl"
	with_audit "$FIX/04-redaction-and-rate-limits.yaml" "$cfg" "$audit"
	seed_proxy "$cfg" || return 1
	tar -C "$RUN_DIR/rootfs" -c . | as anon import - "$img" >/dev/null ||
		{ why "image import was blocked by a dry-run rule"; return 1; }
	admin_docker image inspect "$img" >/dev/null || { why "imported image not in Docker"; return 1; }
	admin_docker rmi "$img" >/dev/null
	audit_record "$audit" dry_run '{'"$TS_RE"',
		"event": "dry_run", "peer_ip": "127.0.0.1", "method": "POST", "path": "/images/create",
		"user_agent": "~Docker-Client/.+", "user_role": "admin", "identity": "anonymous",
		"rule_name": "watch-image-pulls", "rule_action": "deny", "status": 0, "dry_run": true,
		"message": "(dry-run) image pull would be denied"}' || { why "no dry_run record with the seed's values"; return 1; }
	seed_metrics "$RUN_DIR/metrics-04.txt" \
		'docker_proxy_rule_decisions_total{rule=watch-image-pulls,mode=dry_run} == 1' \
		'docker_proxy_requests_dry_run_total == 1' 'docker_proxy_requests_denied_total == 0' ||
		{ why "metrics after the dry run"; return 1; }
}

# ---------------------------------------------------------------------------
# 05: allow-healthcheck before deny-everything-else (auth type none)

sc_allowlist() {
	local before c
	seed_proxy "$FIX/05-allowlist.yaml" || return 1
	expect_eq "ping allowed" 200 "$(req "" GET /_ping | cut -d' ' -f1)" || return 1
	denied_with "Access denied" as anon ps || return 1
	before=$(n_containers)
	c=$(cname allowlist)
	denied_with "Access denied" as anon run --rm "${LBL[@]}" --name "$c" "$IMG" true || return 1
	absent container "$c" || return 1
	expect_eq "containers" "$before" "$(n_containers)" || return 1
	expect_eq "any other path" "403 Access denied" "$(req "" GET /version)"
}

# ---------------------------------------------------------------------------
# 06: mTLS with required client certificates (placeholders replaced by test
# certificates; bind 0.0.0.0 overridden to loopback by --bind). An admin-only
# create rule is appended: CN=admin.ops.example.com is mapped to admin, while a
# certificate from the same CA with CN=admin matches no entry and so gets
# default_role "user" (the seed: the CN is the role only when "neither a map
# entry matches nor default_role is set").

# client_cert PKI NAME CN: a TLS client certificate signed by the test CA.
client_cert() {
	printf 'cn = "%s"\ntls_www_client\nexpiration_days = 2\n' "$3" >"$1/$2.tmpl"
	certtool --generate-privkey --key-type=rsa --bits=2048 --no-text --outfile "$1/$2.key" >/dev/null 2>&1 &&
		certtool --generate-certificate --load-privkey "$1/$2.key" --load-ca-certificate "$1/ca.pem" \
			--load-ca-privkey "$1/ca.key" --template "$1/$2.tmpl" --outfile "$1/$2.pem" >/dev/null 2>&1
}

# mtls_docker PKI NAME docker-args...: the docker CLI with client certificate NAME.
mtls_docker() {
	local pki=$1 who=$2
	shift 2
	timeout 60 "$DOCKER" --tlsverify --tlscacert "$pki/ca.pem" --tlscert "$pki/$who.pem" \
		--tlskey "$pki/$who.key" "$@"
}

sc_mtls() {
	local cfg="$RUN_DIR/06.yaml" pki="$RUN_DIR/pki" port log pid out rc c audit="$RUN_DIR/audit-06.jsonl"
	bash "$E2E_REPO/tests/unit/make_certs.sh" "$pki" >"$RUN_DIR/pki.log" 2>&1 || { why "make_certs.sh failed"; return 1; }
	client_cert "$pki" opsadmin admin.ops.example.com || { why "certtool failed (opsadmin)"; return 1; }
	client_cert "$pki" cnadmin admin || { why "certtool failed (cnadmin)"; return 1; }
	sed -e "s#/etc/docker-proxy/server-key.pem#$pki/server.key#" \
	    -e "s#/etc/docker-proxy/server.pem#$pki/server.pem#" \
	    -e "s#/etc/docker-proxy/ca.pem#$pki/ca.pem#" "$FIX/06-mtls.yaml" >"$cfg.in"
	with_audit "$cfg.in" "$cfg" "$audit"
	printf '%s\n' 'rules:' '  - name: admin-only-create' \
		'    conditions: [{field: path, operator: equals, value: /containers/create}]' \
		'    action: require_role' '    role: admin' \
		'    message: Admin role required to create containers' >>"$cfg"
	port=$(free_port)
	log="$RUN_DIR/proxy-06.log"
	"$DPP_BIN" --headless --bind 127.0.0.1 --port "$port" --socket "$DOCKER_SOCK" --config "$cfg" >"$log" 2>&1 </dev/null &
	pid=$!
	wait_for 20 grep -q 'listening on https://127.0.0.1' "$log" || { cat "$log"; kill "$pid"; why "TLS proxy did not start"; return 1; }
	out=$(mtls_docker "$pki" opsadmin -H "tcp://127.0.0.1:$port" run --rm --network none "${LBL[@]}" "$IMG" echo over-mtls 2>&1)
	expect_eq "mapped admin certificate: run" over-mtls "$out" || { kill "$pid"; return 1; }
	mtls_docker "$pki" alice -H "tcp://127.0.0.1:$port" ps >/dev/null 2>&1 ||
		{ kill "$pid"; why "unmatched certificate (default_role user): ps refused"; return 1; }
	# CN=admin, not in the map: default_role user, refused by the admin-only rule.
	c=$(cname cn-admin)
	denied_with "Admin role required to create containers" \
		mtls_docker "$pki" cnadmin -H "tcp://127.0.0.1:$port" run --rm "${LBL[@]}" --name "$c" "$IMG" true ||
		{ kill "$pid"; return 1; }
	absent container "$c" || { kill "$pid"; return 1; }
	out=$(curl -s --cacert "$pki/ca.pem" --cert "$pki/cnadmin.pem" --key "$pki/cnadmin.key" \
		-A "dpp-seed-e2e/1.0" -o "$RUN_DIR/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$IMG\",\"Labels\":{\"${LABEL%%=*}\":\"${LABEL#*=}\"}}" \
		"https://127.0.0.1:$port/v1.41/containers/create?name=$c")
	expect_eq "CN=admin, POST /containers/create" "403 Admin role required to create containers" \
		"$out $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"])' "$RUN_DIR/resp" 2>&1)" ||
		{ kill "$pid"; return 1; }
	absent container "$c" || { kill "$pid"; return 1; }
	# The role it got is default_role, recorded as such.
	audit_record "$audit" deny "{$TS_RE, \"event\": \"deny\", \"peer_ip\": \"127.0.0.1\",
		\"method\": \"POST\", \"path\": \"/containers/create\", \"user_agent\": \"dpp-seed-e2e/1.0\",
		\"user_role\": \"user\", \"identity\": \"cert:admin\", \"rule_name\": \"admin-only-create\",
		\"rule_action\": \"require_role\", \"status\": 403, \"dry_run\": false,
		\"message\": \"Admin role required to create containers\"}" ||
		{ kill "$pid"; why "CN=admin: no deny record with user_role user"; return 1; }
	out=$(timeout 60 "$DOCKER" --tlsverify --tlscacert "$pki/ca.pem" -H "tcp://127.0.0.1:$port" \
		run --rm "${LBL[@]}" --name "$(cname nocert)" "$IMG" true 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" -ne 0 ] || { kill "$pid"; why "a client without a certificate was served"; return 1; }
	[[ $out == *"certificate required"* ]] || { kill "$pid"; why "no certificate-required alert: $(short "$out")"; return 1; }
	absent container "$(cname nocert)" || { kill "$pid"; return 1; }
	kill -TERM "$pid"
	wait_for 15 eval '! proc_alive "$pid"' || { kill -KILL "$pid"; why "no exit after SIGTERM"; return 1; }
	wait "$pid"
	expect_eq "exit status after SIGTERM" 0 "$?"
}

# ---------------------------------------------------------------------------
# 07: global settings, a shared secret from DOCKER_PROXY_SECRET, metrics (the
# audit path, /var/log/..., is moved into the scratch directory)

sc_secret() {
	local cfg="$RUN_DIR/07.yaml" c rc=0
	sed "s#/var/log/docker-proxy/audit.jsonl#$RUN_DIR/audit-07.jsonl#" "$FIX/07-global-and-secret.yaml" >"$cfg"
	export DOCKER_PROXY_SECRET=$SHARED_SECRET
	seed_proxy "$cfg" || rc=1
	unset DOCKER_PROXY_SECRET
	[ "$rc" -eq 0 ] || return 1
	expect_eq "secret: run" ok "$(as secret run --rm --network none "${LBL[@]}" "$IMG" echo ok)" || return 1
	c=$(cname nosecret)
	as anon run --rm "${LBL[@]}" --name "$c" "$IMG" true && { why "run without a token succeeded"; return 1; }
	absent container "$c" || return 1
	expect_eq "no token" 401 "$(req "" GET /containers/json | cut -d' ' -f1)" || return 1
	expect_eq "wrong token" 401 "$(req "wrong-$SHARED_SECRET" GET /containers/json | cut -d' ' -f1)" || return 1
	expect_eq "wrong token (curl)" 401 "$(curl -s -o /dev/null -w '%{http_code}' -A "dpp-seed-e2e/1.0" \
		-H "Authorization: Bearer wrong-$SHARED_SECRET" "http://127.0.0.1:$PROXY_PORT/v1.41/containers/json?all=1")" || return 1
	expect_eq "no token (curl)" 401 "$(curl -s -o /dev/null -w '%{http_code}' -A "dpp-seed-e2e/2.0" \
		-X DELETE "http://127.0.0.1:$PROXY_PORT/containers/x")" || return 1
	audit_record "$RUN_DIR/audit-07.jsonl" auth_failure "{$TS_RE, \"event\": \"auth_failure\",
		\"peer_ip\": \"127.0.0.1\", \"method\": \"GET\", \"path\": \"/containers/json\",
		\"user_agent\": \"dpp-seed-e2e/1.0\", \"user_role\": null, \"identity\": \"$(token_identity "wrong-$SHARED_SECRET")\",
		\"rule_name\": null, \"rule_action\": null, \"status\": 401, \"dry_run\": false,
		\"message\": \"invalid credentials\"}" || { why "no auth_failure record (wrong token) with the seed's values"; return 1; }
	audit_record "$RUN_DIR/audit-07.jsonl" auth_failure "{$TS_RE, \"event\": \"auth_failure\",
		\"peer_ip\": \"127.0.0.1\", \"method\": \"DELETE\", \"path\": \"/containers/x\",
		\"user_agent\": \"dpp-seed-e2e/2.0\", \"user_role\": null, \"identity\": null,
		\"rule_name\": null, \"rule_action\": null, \"status\": 401, \"dry_run\": false,
		\"message\": \"authentication required: send Authorization: Bearer <token>\"}" ||
		{ why "no auth_failure record (no token) with the seed's values"; return 1; }
	seed_metrics "$RUN_DIR/metrics-07.txt" 'docker_proxy_auth_failures_total >= 4' \
		'docker_proxy_requests_total{status=401} >= 4' 'docker_proxy_requests_denied_total == 0' \
		'docker_proxy_rate_limited_total == 0' || { why "metrics of 07"; return 1; }
}

# ---------------------------------------------------------------------------
# 08: the installer's config (bearer tokens; rate-limit-all 50 per 30 s, so
# each scenario starts a fresh proxy)

sc_installer_readonly() {
	local c v b code cfg="$RUN_DIR/08-audit.yaml" audit="$RUN_DIR/audit-08-$SCEN_NO.jsonl"
	with_audit "$FIX/08-installer-output.yaml" "$cfg" "$audit"
	seed_proxy "$cfg" || return 1
	as readonly ps >/dev/null || { why "readonly: ps refused"; return 1; }
	as readonly images >/dev/null || { why "readonly: images refused"; return 1; }
	as readonly volume ls >/dev/null || { why "readonly: volume ls refused"; return 1; }
	as readonly network ls >/dev/null || { why "readonly: network ls refused"; return 1; }
	c=$(cname ro-run)
	denied_with "Admin role required to create containers" \
		as readonly run --rm "${LBL[@]}" --name "$c" "$IMG" true || return 1
	absent container "$c" || return 1
	v=$(cname ro-vol)
	denied_with "volumes mutations are forbidden" as readonly volume create --label "$LABEL" "$v" || return 1
	absent volume "$v" || return 1
	admin_docker volume create --label "$LABEL" "$v" >/dev/null || { why "raw volume create failed"; return 1; }
	denied_with "volumes mutations are forbidden" as readonly volume rm "$v" || return 1
	admin_docker volume inspect "$v" >/dev/null || { why "the volume was removed despite the denial"; return 1; }
	admin_docker volume rm "$v" >/dev/null
	c=$(cname ro-exec)
	admin_docker run -d --network none "${LBL[@]}" --name "$c" "$IMG" sleep 300 >/dev/null || { why "raw run failed"; return 1; }
	denied_with "Exec operations are not permitted" as readonly exec "$c" true || return 1
	expect_eq "no exec instance created" "[]" "$(admin_docker inspect -f '{{json .ExecIDs}}' "$c" | sed 's/^null$/[]/')" || return 1
	admin_docker rm -f "$c" >/dev/null
	b="dpp-seed-build:$RUN_ID"
	mkdir -p "$RUN_DIR/ctx"
	printf 'FROM %s\nRUN true\n' "$IMG" >"$RUN_DIR/ctx/Dockerfile"
	# The classic builder: one POST /build, whichever CLI runs.
	export DOCKER_BUILDKIT=0
	denied_with "Image building is not permitted via this proxy" \
		as readonly build -q -t "$b" "$RUN_DIR/ctx" || { unset DOCKER_BUILDKIT; return 1; }
	unset DOCKER_BUILDKIT
	absent image "$b" || return 1
	# A context far beyond the socket buffers: the proxy reads it to the end
	# before answering, so the client still gets the rule's status and message.
	head -c $((8 * 1024 * 1024)) /dev/zero >"$RUN_DIR/big.tar"
	expect_eq "8 MiB build context" "403 Image building is not permitted via this proxy" \
		"$(curl -s -o "$RUN_DIR/resp" -w '%{http_code} ' -H "Authorization: Bearer $READONLY_TOKEN" \
			-H 'Content-Type: application/x-tar' --data-binary @"$RUN_DIR/big.tar" \
			"http://127.0.0.1:$PROXY_PORT/build?t=$b" && "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"])' "$RUN_DIR/resp")" || return 1
	# The deny record of admin-only-create: the seed's thirteen fields.
	c=$(cname ro-curl)
	code=$(curl -s -o /dev/null -w '%{http_code}' -A "dpp-seed-e2e/1.0" -H "Authorization: Bearer $READONLY_TOKEN" \
		-H 'Content-Type: application/json' -d "{\"Image\":\"$IMG\"}" \
		"http://127.0.0.1:$PROXY_PORT/v1.41/containers/create?name=$c")
	expect_eq "readonly: POST /containers/create" 403 "$code" || return 1
	absent container "$c" || return 1
	audit_record "$audit" deny "{$TS_RE, \"event\": \"deny\",
		\"peer_ip\": \"127.0.0.1\", \"method\": \"POST\", \"path\": \"/containers/create\",
		\"user_agent\": \"dpp-seed-e2e/1.0\", \"user_role\": \"readonly\", \"identity\": \"$(token_identity "$READONLY_TOKEN")\",
		\"rule_name\": \"admin-only-create\", \"rule_action\": \"require_role\", \"status\": 403,
		\"dry_run\": false, \"message\": \"Admin role required to create containers\"}" ||
		{ why "no deny record with the seed's values"; return 1; }
	seed_metrics "$RUN_DIR/metrics-08.txt" 'docker_proxy_requests_denied_total{rule=admin-only-create} >= 2' \
		'docker_proxy_requests_total{method=POST,status=403} >= 2' || { why "metrics after the denials"; return 1; }
}

sc_installer_admin() {
	local before c
	seed_proxy "$FIX/08-installer-output.yaml" || return 1
	expect_eq "admin: plain run" ok "$(as admin run --rm --network none "${LBL[@]}" "$IMG" echo ok)" || return 1
	before=$(n_containers)
	c=$(cname adm-priv)
	denied_with "Privileged containers are not allowed" \
		as admin run --rm "${LBL[@]}" --name "$c" --privileged "$IMG" true || return 1
	absent container "$c" || return 1
	c=$(cname adm-hostnet)
	denied_with "Host network mode is not allowed" \
		as admin run --rm "${LBL[@]}" --name "$c" --network host "$IMG" true || return 1
	absent container "$c" || return 1
	c=$(cname adm-bind)
	denied_with "Bind mounts are not allowed" \
		as admin run --rm "${LBL[@]}" --name "$c" -v /tmp:/h "$IMG" true || return 1
	absent container "$c" || return 1
	denied_with "Bind mounts are not allowed" \
		as admin run --rm "${LBL[@]}" --name "$c" --mount type=bind,src=/tmp,dst=/h "$IMG" true || return 1
	absent container "$c" || return 1
	expect_eq "containers after the denials" "$before" "$(n_containers)"
}

# ---------------------------------------------------------------------------
# 09: the wizard's shape, every unset key spelled null (global, auth and
# rules), used exactly as written.

sc_wizard() {
	local c
	seed_proxy "$FIX/09-wizard-output-with-nulls.yaml" || return 1
	c=$(cname wiz-priv)
	denied_with "Privileged containers are not allowed" \
		as admin run --rm "${LBL[@]}" --name "$c" --privileged "$IMG" true || return 1
	absent container "$c" || return 1
	c=$(cname wiz-bind)
	denied_with "Bind mounts are not allowed" \
		as admin run --rm "${LBL[@]}" --name "$c" -v /tmp:/h "$IMG" true || return 1
	absent container "$c" || return 1
	expect_eq "plain run" ok "$(as admin run --rm --network none "${LBL[@]}" "$IMG" echo ok)"
}

sc_stop() { stop_proxy 15; }

# ---------------------------------------------------------------------------

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ "$DPP_E2E_TARGET" = proxy ] || setup_failed target "seed tests need the proxy (DPP_E2E_TARGET=proxy)"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}
client_config anon
client_config admin "{\"Authorization\":\"Bearer $ADMIN_TOKEN\"}"
client_config readonly "{\"Authorization\":\"Bearer $READONLY_TOKEN\"}"
client_config secret "{\"Authorization\":\"Bearer $SHARED_SECRET\"}"
client_config outside "{\"Authorization\":\"Bearer $ADMIN_TOKEN\",\"X-Forwarded-For\":\"203.0.113.9\"}"
client_config inside "{\"Authorization\":\"Bearer $ADMIN_TOKEN\",\"X-Forwarded-For\":\"10.1.2.3\"}"

run_scenario seed/01-endpoints-and-methods sc_endpoints
run_scenario seed/02-body-inspection sc_body
run_scenario seed/03-admin-only-create sc_roles
run_scenario seed/03-internal-network-only sc_network
run_scenario seed/04-redact-environment sc_redact
run_scenario seed/04-rate-limit-container-create sc_create_limit
run_scenario seed/04-rate-limit-all sc_limit_all
run_scenario seed/04-watch-image-pulls sc_dry_run
run_scenario seed/05-allowlist sc_allowlist
run_scenario seed/06-mtls sc_mtls
run_scenario seed/07-global-and-secret sc_secret
run_scenario seed/08-installer-readonly sc_installer_readonly
run_scenario seed/08-installer-admin sc_installer_admin
run_scenario seed/09-wizard-nulls sc_wizard
# The installer's shape with every docker CLI: each prints the rules' messages.
for cli in "${CLIS[@]:1}"; do
	DOCKER=$cli
	run_scenario "seed/08-installer-readonly-$(cli_tag "$cli")" sc_installer_readonly
	run_scenario "seed/08-installer-admin-$(cli_tag "$cli")" sc_installer_admin
done
if [ -n "$PROXY_PID" ]; then
	run_scenario seed/stop sc_stop
fi
e2e_finish
