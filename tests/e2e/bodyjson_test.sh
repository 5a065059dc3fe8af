#!/usr/bin/env bash
# End-to-end regression tests for issue 7 defects 4 and 6 against the real
# dockerd: each vector is first shown to work on the raw Docker socket, then
# the proxy's answer is checked (exact status and message, nothing created on
# Docker's side, an allowed contrast under the same configuration).
#   - JSON text in Docker's spelling: a Mounts entry spelled "tYpe":"bind" is a
#     real bind mount for dockerd; the seed's regex rule and a structure-aware
#     rule (body.HostConfig.Mounts.*.Type) both refuse it.
#   - Response filters keep numbers: ShmSize 9007199254740993 (beyond 2^53)
#     comes back exactly through a redaction rule, with key order intact; 1e400
#     (dockerd cannot produce it) through a small fake upstream.
# Uses lib.sh (see there for the environment).
#
#   tests/e2e/bodyjson_test.sh      # ends with "e2e: N passed, M failed"

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# http HOST METHOD PATH [JSON]: sets CODE and BODY (no exit on HTTP errors).
http() {
	local host=$1 method=$2 path=$3 body=${4-} args
	args=(-o "$RUN_DIR/resp" -w '%{http_code}' -X "$method")
	[ -z "$body" ] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
	CODE=$(curl_to "$host" "$path" "${args[@]}") || CODE="curl-failed"
	BODY=$(cat "$RUN_DIR/resp" 2>/dev/null)
	printf '%s %s -> %s %s\n' "$method" "$path" "$CODE" "$(short "$BODY")"
}

# message_of JSON: the "message" member of a Docker error body.
message_of() {
	"$PY" -c 'import json, sys; print(json.loads(sys.argv[1]).get("message", ""))' "$1" 2>/dev/null
}

# expect_refused STATUS MESSAGE: the last answer is exactly that refusal.
expect_refused() {
	expect_eq "status" "$1" "$CODE" || return 1
	expect_eq "message" "$2" "$(message_of "$BODY")"
}

# gone NAME: Docker has no such container.
gone() {
	if admin_docker container inspect "$1" >/dev/null 2>&1; then
		why "container $1 exists on Docker's side"
		return 1
	fi
	echo "ok: no container $1 on Docker's side"
}

# create_body MOUNTS_JSON [CMD_JSON]: a container create body with labels.
create_body() {
	printf '{"Image":"%s","Cmd":%s,"Labels":{"%s":"%s"},"HostConfig":{"Mounts":%s}}' \
		"$IMG" "${2:-[\"true\"]}" "${LABEL%%=*}" "${LABEL#*=}" "$1"
}

# bj_proxy RULES_YAML: a private proxy (auth none, loopback) with these rules.
bj_proxy() {
	CFG="$RUN_DIR/bodyjson-$SCEN_NO-$RANDOM.yaml"
	printf 'auth:\n  type: none\n%s\n' "$1" >"$CFG"
	start_private --bind 127.0.0.1 --socket "$DOCKER_SOCK" --config "$CFG" || return 1
	PH="tcp://127.0.0.1:$P_PORT"
}

SEED_RULE='rules:
  - name: block-bind-mounts
    conditions:
      - field: path
        operator: equals
        value: /containers/create
      - or:
          - field: body.HostConfig.Binds
            operator: exists
          - field: body.HostConfig.Mounts
            operator: matches
            value: '"'"'"Type"\s*:\s*"bind"'"'"'
    action: deny
    message: Bind mounts are not allowed'

WILDCARD_RULE='rules:
  - name: no-bind-mounts
    conditions:
      - field: path
        operator: equals
        value: /containers/create
      - field: body.HostConfig.Mounts.*.Type
        operator: equals
        value: bind
    action: deny
    message: bind mounts are refused'

# The raw socket: "tYpe":"bind" is a bind mount for dockerd (Go's decoder
# matches field names case-insensitively). Binds a fresh temp dir, never /.
raw_bind_works() {
	local name=$1 dir out
	dir=$(mktemp -d "$RUN_DIR/bind.XXXXXX")
	echo "marker-$RUN_ID" >"$dir/f"
	http "$RAW_HOST" POST "/containers/create?name=$name" \
		"$(create_body "[{\"tYpe\":\"bind\",\"Source\":\"$dir\",\"Target\":\"/h\"}]" '["cat","/h/f"]')"
	expect_eq "raw create status" 201 "$CODE" || return 1
	expect_eq "raw mount type" bind "$(admin_docker container inspect -f '{{(index .HostConfig.Mounts 0).Type}}' "$name")" ||
		return 1
	out=$(admin_docker start -a "$name" 2>&1)
	expect_eq "file read through the bind mount" "marker-$RUN_ID" "$out" || return 1
	admin_docker rm -f "$name" >/dev/null
}

sc_seed_regex() {
	local name="dpp-bj-$RUN_ID-seed" dir
	raw_bind_works "$name-raw" || return 1
	bj_proxy "$SEED_RULE" || return 1
	dir=$(mktemp -d "$RUN_DIR/bind.XXXXXX")
	for spelling in tYpe TYPE type Type; do
		http "$PH" POST "/containers/create?name=$name-$spelling" \
			"$(create_body "[{\"$spelling\":\"bind\",\"Source\":\"$dir\",\"Target\":\"/h\"}]")"
		expect_refused 403 "Bind mounts are not allowed" || { stop_private; return 1; }
		gone "$name-$spelling" || { stop_private; return 1; }
	done
	# allowed contrast under the same rule: a tmpfs mount, spelled oddly too
	http "$PH" POST "/containers/create?name=$name-tmpfs" \
		"$(create_body '[{"tYpe":"tmpfs","Target":"/t"}]')"
	expect_eq "tmpfs create status" 201 "$CODE" || { stop_private; return 1; }
	admin_docker container inspect "$name-tmpfs" >/dev/null || { why "allowed container missing"; stop_private; return 1; }
	admin_docker rm -f "$name-tmpfs" >/dev/null
	stop_private
}

sc_wildcard() {
	local name="dpp-bj-$RUN_ID-star" dir
	raw_bind_works "$name-raw" || return 1
	bj_proxy "$WILDCARD_RULE" || return 1
	dir=$(mktemp -d "$RUN_DIR/bind.XXXXXX")
	# the bind mount is the second element, spelled TYPE
	http "$PH" POST "/containers/create?name=$name-deny" \
		"$(create_body "[{\"Type\":\"tmpfs\",\"Target\":\"/t\"},{\"TYPE\":\"bind\",\"Source\":\"$dir\",\"Target\":\"/h\"}]")"
	expect_refused 403 "bind mounts are refused" || { stop_private; return 1; }
	gone "$name-deny" || { stop_private; return 1; }
	http "$PH" POST "/containers/create?name=$name-ok" \
		"$(create_body '[{"Type":"tmpfs","Target":"/t"},{"type":"tmpfs","Target":"/u"}]')"
	expect_eq "tmpfs-only create status" 201 "$CODE" || { stop_private; return 1; }
	admin_docker rm -f "$name-ok" >/dev/null
	stop_private
}

REDACT_RULE='rules:
  - name: redact-env
    conditions:
      - field: path
        operator: matches
        value: "^/containers/[^/]+/json$"
    action: response_filter
    response_filter:
      - field: Config.Env
        action: redact'

# same_but_env RAW PROXIED: both parse to the same document (numbers kept as
# literal text, keys in order) once Config.Env is redacted in RAW.
same_but_env() {
	"$PY" - "$1" "$2" <<'PYEOF'
import json, sys
def load(t):
    return json.loads(t, parse_int=str, parse_float=str, parse_constant=str,
                      object_pairs_hook=lambda kv: kv)
raw, got = load(sys.argv[1]), load(sys.argv[2])
def env(doc):
    for k, v in doc:
        if k == "Config":
            for i, (k2, v2) in enumerate(v):
                if k2 == "Env":
                    return v, i
    raise SystemExit("no Config.Env")
cfg, i = env(raw)
cfg[i] = ("Env", [e.split("=", 1)[0] + "=***REDACTED***" if "=" in e else "***REDACTED***"
                  for e in cfg[i][1]])
if raw != got:
    for (k1, v1), (k2, v2) in zip(raw, got):
        if (k1, v1) != (k2, v2):
            print("first difference at", k1, "/", k2)
            break
    raise SystemExit(1)
print("identical apart from Config.Env")
PYEOF
}

sc_exact_numbers() {
	local name="dpp-bj-$RUN_ID-num" raw
	http "$RAW_HOST" POST "/containers/create?name=$name" \
		"$(printf '{"Image":"%s","Cmd":["true"],"Env":["SECRET=hunter2"],"Labels":{"%s":"%s"},"HostConfig":{"ShmSize":9007199254740993}}' \
			"$IMG" "${LABEL%%=*}" "${LABEL#*=}")"
	expect_eq "raw create status" 201 "$CODE" || return 1
	http "$RAW_HOST" GET "/containers/$name/json"
	raw=$BODY
	[[ $raw == *'"ShmSize":9007199254740993,'* ]] || { why "dockerd did not keep ShmSize exactly: $(short "$raw")"; return 1; }
	bj_proxy "$REDACT_RULE" || return 1
	http "$PH" GET "/containers/$name/json"
	expect_eq "proxied inspect status" 200 "$CODE" || { stop_private; return 1; }
	[[ $BODY == *'"ShmSize":9007199254740993,'* ]] || { why "ShmSize changed: $(short "$BODY")"; stop_private; return 1; }
	[[ $BODY == *'"SECRET=***REDACTED***"'* ]] || { why "Env not redacted"; stop_private; return 1; }
	same_but_env "$raw" "$BODY" || { why "the filter changed more than Config.Env"; stop_private; return 1; }
	stop_private
	admin_docker rm -f "$name" >/dev/null
}

# A fake upstream on a Unix socket that answers every request with a fixed
# JSON document: dockerd cannot produce 1e400.
FAKE_DOC='{"Id":"fake","Size":1e400,"Big":9007199254740993,"Neg":-0.0,"Config":{"Env":["A=1"]},"Z":1E+2}'
start_fake_upstream() {
	FAKE_SOCK="$RUN_DIR/fake-$RANDOM.sock"
	"$PY" - "$FAKE_SOCK" "$FAKE_DOC" >"$RUN_DIR/fake.log" 2>&1 <<'PYEOF' &
import socketserver, sys
from http.server import BaseHTTPRequestHandler
path, doc = sys.argv[1], sys.argv[2].encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def address_string(self):
        return "unix"
    def log_message(self, *a):
        pass
    def do_GET(self):
        body = doc if self.path.endswith("/json") else b'{"ApiVersion":"1.41"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_HEAD = do_GET
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
S(path, H).serve_forever()
PYEOF
	FAKE_PID=$!
	wait_for 10 test -S "$FAKE_SOCK" || { why "fake upstream did not start"; return 1; }
}

sc_fake_upstream_numbers() {
	local cfg
	start_fake_upstream || return 1
	http "unix://$FAKE_SOCK" GET /containers/fake/json
	expect_eq "fake upstream answers" "$FAKE_DOC" "$BODY" || { kill_bg "$FAKE_PID"; return 1; }
	cfg="$RUN_DIR/bodyjson-fake.yaml"
	printf 'auth:\n  type: none\n%s\n' "$REDACT_RULE" >"$cfg"
	start_private --bind 127.0.0.1 --socket "$FAKE_SOCK" --config "$cfg" || { kill_bg "$FAKE_PID"; return 1; }
	http "tcp://127.0.0.1:$P_PORT" GET /containers/fake/json
	expect_eq "status" 200 "$CODE" || { stop_private; kill_bg "$FAKE_PID"; return 1; }
	expect_eq "filtered document" \
		'{"Id":"fake","Size":1e400,"Big":9007199254740993,"Neg":-0.0,"Config":{"Env":["A=***REDACTED***"]},"Z":1E+2}' \
		"$BODY" || { stop_private; kill_bg "$FAKE_PID"; return 1; }
	stop_private || { kill_bg "$FAKE_PID"; return 1; }
	kill_bg "$FAKE_PID"
}

# ---------------------------------------------------------------------------

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -x "$DPP_BIN" ] || setup_failed proxy "proxy binary $DPP_BIN not found"

run_scenario bodyjson/seed-regex-sees-docker-spelling sc_seed_regex
run_scenario bodyjson/any-element-path sc_wildcard
run_scenario bodyjson/redaction-keeps-int64 sc_exact_numbers
run_scenario bodyjson/redaction-keeps-1e400 sc_fake_upstream_numbers
e2e_finish
