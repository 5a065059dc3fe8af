#!/usr/bin/env bash
# End-to-end tests for README claims about refusals, limits and shutdown that
# no other suite covered: response filters and max_filter_bytes, bodies where
# dockerd takes none, urlencoded bodies, `error` audit records, the upstream
# pool's retry-once, the shutdown grace, hijacked sessions at stop, SIGINT,
# exit code 69, and the header fields that never reach Docker.
#
# Against the real dockerd, except where only a stand-in can show the property
# (tests/e2e/fake_upstream.py on a Unix socket in the run directory: what the
# proxy writes upstream byte for byte, a pooled connection closed under a
# request, an answer slower than the grace). Every proxy started here is
# private, on 127.0.0.1, and stopped here with its exit status checked.
# Ends with "e2e: N passed, M failed".

# shellcheck source=tests/e2e/lib.sh disable=SC2317,SC2016,SC2015  # scenarios run through run_scenario; single-quoted snippets are for eval and YAML
. "$(dirname "$0")/lib.sh"

TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TOKEN

# start_cfg YAML [ARGS...]: a private proxy on the real dockerd with this config.
start_cfg() {
	CFG="$RUN_DIR/cfg-$SCEN_NO-$RANDOM.yaml"
	printf '%s\n' "$1" >"$CFG"
	shift
	start_private --socket "$DOCKER_SOCK" --config "$CFG" "$@"
}

# pcurl PATH [CURL ARGS...]: curl to the private proxy; prints "BODY STATUS".
pcurl() {
	local path=$1
	shift
	curl -sS --max-time 30 -w ' %{http_code}' "$@" "http://127.0.0.1:$P_PORT$path"
}

# fake_start: the stand-in upstream; sets FAKE_PID, FAKE_SOCK, FAKE_REC.
fake_start() {
	FAKE_SOCK="$RUN_DIR/fake-$SCEN_NO.sock"
	FAKE_REC="$RUN_DIR/fake-$SCEN_NO.jsonl"
	: >"$FAKE_REC"
	"$PY" "$E2E_DIR/fake_upstream.py" "$FAKE_SOCK" "$FAKE_REC" >"$RUN_DIR/fake-$SCEN_NO.log" 2>&1 &
	FAKE_PID=$!
	wait_for 10 test -S "$FAKE_SOCK" || { why "fake upstream did not start: $(cat "$RUN_DIR/fake-$SCEN_NO.log")"; return 1; }
}
fake_stop() { kill_bg "$FAKE_PID"; rm -f "$FAKE_SOCK"; }

# fake_seen [FILTER]: the fake's record as "conn seq method target action" lines
# (FILTER: only targets containing it); the start-up probe is included.
fake_seen() {
	"$PY" - "$FAKE_REC" "${1:-}" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if sys.argv[2] in e["target"]:
        print(e["conn"], e["seq"], e["method"], e["target"], e["action"])
PYEOF
}

# audit_find FILE EVENT METHOD PATH_SUBSTRING STATUS: 0 when a record has these
# values (only field names that exist in both audit layouts are used).
audit_find() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
path, event, method, sub, status = sys.argv[1:6]
for line in open(path):
    e = json.loads(line)
    if (e.get("event") == event and e.get("method") == method and sub in (e.get("path") or "")
            and str(e.get("status")) == status):
        print("record:", line.strip())
        sys.exit(0)
print("no %s record for %s %s with status %s in:" % (event, method, sub, status))
print(open(path).read())
sys.exit(1)
PYEOF
}

# A config for the stand-in upstream: open access (loopback only).
open_cfg() { OPEN_CFG="$RUN_DIR/open-$SCEN_NO.yaml"; printf 'auth:\n  type: none\n' >"$OPEN_CFG"; }

ps_count() { admin_docker ps -aq --filter "label=$LABEL" | wc -l; }

# --- response filters ----------------------------------------------------------

# A filter rule without conditions applies to every request: responses above
# max_filter_bytes and streams get 502, small JSON is filtered, non-JSON passes.
sc_max_filter_bytes() {
	local out
	start_cfg "global:
  max_filter_bytes: 1024
auth:
  type: none
rules:
  - name: filter-everything
    action: response_filter
    response_filter: [{field: Name, action: replace, replacement: filtered-by-dpp}]" || return 1
	echo "raw /info is $(curl -s --unix-socket "$DOCKER_SOCK" http://d/info | wc -c) bytes"
	out=$(pcurl /info)
	expect_match "/info above 1024 bytes" '^\{"message":"response larger than 1024 bytes cannot be filtered \(global.max_filter_bytes\); refused rather than passed on unfiltered"\} 502$' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	# Contrast: small JSON is filtered and passed; text passes untouched.
	out=$(pcurl "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22dpp-none-$RUN_ID%22%5D%7D")
	expect_eq "small JSON under the limit" "[] 200" "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	expect_eq "text/plain /_ping" "OK 200" "$(pcurl /_ping)" || { stop_private; return 1; }
	stop_private
}

sc_filter_streams() {
	local c out
	c=$(admin_docker run -d "${LBL[@]}" --name "dpp-claims-$RUN_ID-fs" "$IMG" \
		sh -c 'while true; do echo x; sleep 1; done') || { why "run -d failed"; return 1; }
	start_cfg "auth:
  type: none
rules:
  - name: filter-everything
    action: response_filter
    response_filter: [{field: name, action: replace, replacement: filtered-by-dpp}, {field: Name, action: replace, replacement: filtered-by-dpp}]" || return 1
	for p in /events "/containers/$c/logs?follow=1&stdout=1" "/containers/$c/stats"; do
		out=$(pcurl "$p" --max-time 10)
		expect_match "filter on the stream $p" '^\{"message":"response filters cannot apply to a streamed response \(rule filter-everything\)"\} 502$' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	done
	# Contrast under the same config: the same data, not streamed, is filtered.
	out=$(pcurl "/containers/$c/stats?stream=0")
	expect_match "stats?stream=0 filtered" '"name":"filtered-by-dpp".* 200$' "$out" || { stop_private; return 1; }
	out=$(pcurl /info)
	expect_match "/info filtered" '"Name":"filtered-by-dpp".* 200$' "$out" || { stop_private; return 1; }
	expect_match "raw /info has the real name" '"Name":"' "$(curl -s --unix-socket "$DOCKER_SOCK" http://d/info | grep -v filtered-by-dpp)" || { stop_private; return 1; }
	admin_docker rm -f "$c" >/dev/null
	stop_private
}

# --- bodies dockerd does not expect ---------------------------------------------

sc_bodies_refused() {
	local c before out code
	start_cfg "auth:
  type: none" || return 1
	c="dpp-claims-$RUN_ID-body"
	admin_docker create "${LBL[@]}" --name "$c" "$IMG" true >/dev/null || { why "create failed"; stop_private; return 1; }
	out=$(pcurl /containers/json -X GET -H 'Content-Type: application/json' -d '{}')
	expect_eq "GET with a body" '{"message":"a request body is not allowed on GET"} 400' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	out=$(pcurl /containers/json -X GET -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' -d '{}')
	expect_eq "GET with a chunked body" '{"message":"a request body is not allowed on GET"} 400' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X HEAD -d x "http://127.0.0.1:$P_PORT/_ping")
	expect_eq "HEAD with a body" 400 "$code" || { stop_private; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -I "http://127.0.0.1:$P_PORT/_ping")
	expect_eq "HEAD without a body (contrast)" 200 "$code" || { stop_private; return 1; }
	out=$(pcurl "/containers/$c?force=1" -X DELETE -H 'Content-Type: application/json' -d '{}')
	expect_eq "DELETE with a body" '{"message":"a request body is not allowed on DELETE"} 400' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	admin_docker inspect "$c" >/dev/null 2>&1 || { why "the container was removed although the DELETE was refused"; stop_private; return 1; }
	out=$(pcurl "/containers/$c?force=1" -X DELETE)
	expect_eq "DELETE without a body (contrast)" " 204" "$out" || { stop_private; return 1; }
	admin_docker inspect "$c" >/dev/null 2>&1 && { why "the container survived the allowed DELETE"; stop_private; return 1; }
	# A body on container start (old API versions read it as host configuration).
	out=$(pcurl "/v1.24/containers/$c-start/start" -X POST -H 'Content-Type: application/json' -d '{"Privileged":true}')
	expect_eq "body on container start (no such container yet: refused before Docker)" '{"message":"a request body on container start is refused (old API versions read it as host configuration)"} 400' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	admin_docker create "${LBL[@]}" --name "$c-start" "$IMG" sleep 60 >/dev/null || { why "create failed"; stop_private; return 1; }
	out=$(pcurl "/v1.24/containers/$c-start/start" -X POST -H 'Content-Type: application/json' -d '{"Binds":["/:/host"]}')
	expect_eq "body on container start" '{"message":"a request body on container start is refused (old API versions read it as host configuration)"} 400' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	expect_eq "the container was not started" false "$(admin_docker inspect -f '{{.State.Running}}' "$c-start")" || { stop_private; return 1; }
	expect_eq "start without a body (contrast)" " 204" "$(pcurl "/containers/$c-start/start" -X POST)" || { stop_private; return 1; }
	expect_eq "started" true "$(admin_docker inspect -f '{{.State.Running}}' "$c-start")" || { stop_private; return 1; }
	expect_eq "no host bind from the refused body" "[]" "$(admin_docker inspect -f '{{json .Mounts}}' "$c-start")" || { stop_private; return 1; }
	admin_docker rm -f "$c-start" >/dev/null
	# Urlencoded bodies (Go would merge them into the query parameters).
	before=$(ps_count)
	for ct in application/x-www-form-urlencoded 'Application/X-WWW-Form-Urlencoded; charset=utf-8'; do
		out=$(pcurl "/containers/create?name=$c-form" -X POST -H "Content-Type: $ct" --data-raw "Image=$IMG&Labels=$LABEL")
		expect_eq "urlencoded body ($ct)" '{"message":"urlencoded request bodies are refused (Docker would merge them into the query parameters)"} 400' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	done
	admin_docker inspect "$c-form" >/dev/null 2>&1 && { why "a container was created from a refused urlencoded request"; stop_private; return 1; }
	expect_eq "ps -a unchanged after the refusals" "$before" "$(ps_count)" || { stop_private; return 1; }
	# Contrast: the same create with a JSON body is executed.
	out=$(pcurl "/containers/create?name=$c-form" -X POST -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$IMG\",\"Cmd\":[\"true\"],\"Labels\":{\"${LABEL%%=*}\":\"${LABEL#*=}\"}}")
	expect_match "JSON create (contrast)" '"Id":"[0-9a-f]{64}".* 201$' "$out" || { stop_private; return 1; }
	admin_docker inspect "$c-form" >/dev/null 2>&1 || { why "the allowed create made no container"; stop_private; return 1; }
	admin_docker rm -f "$c-form" >/dev/null
	stop_private
}

# --- audit records of refusals before the rules ---------------------------------

sc_error_audit() {
	local audit="$RUN_DIR/audit-$SCEN_NO.jsonl" out n
	start_cfg "global:
  audit_log: $audit
  max_body_bytes: 1024
auth:
  type: none" || return 1
	# Allowed requests leave no record (contrast).
	expect_eq "allowed ping" "OK 200" "$(pcurl /_ping)" || { stop_private; return 1; }
	out=$(pcurl '/containers/a%2Fb/json')
	expect_match "encoded slash in the target" '^\{"message":"refused request target: [^"]+"\} 400$' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	out=$(pcurl /containers/create -X POST -H 'Content-Type: application/json' -d '{"Image": ')
	expect_match "truncated JSON body" '^\{"message":"[^"]+"\} 400$' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	out=$(head -c 2000 /dev/zero | tr '\0' a | sed 's/.*/{"Image":"&"}/' | pcurl /containers/create -X POST -H 'Content-Type: application/json' --data-binary @-)
	expect_eq "body over max_body_bytes" '{"message":"request body larger than 1024 bytes (global.max_body_bytes)"} 413' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	stop_private || return 1
	audit_find "$audit" error GET '/containers/a%2Fb/json' 400 || { why "no error record for the refused target"; return 1; }
	audit_find "$audit" error POST /containers/create 400 || { why "no error record for the bad JSON body"; return 1; }
	audit_find "$audit" error POST /containers/create 413 || { why "no error record for the 413"; return 1; }
	n=$(grep -c . "$audit")
	expect_eq "records (three refusals, the allowed ping has none)" 3 "$n" || return 1
	# Docker down: 502, audited as error.
	audit="$RUN_DIR/audit-$SCEN_NO-down.jsonl"
	printf 'global:\n  audit_log: %s\nauth:\n  type: none\n' "$audit" >"$RUN_DIR/down.yaml"
	start_private --socket "$RUN_DIR/no-docker-here.sock" --config "$RUN_DIR/down.yaml" || return 1
	out=$(pcurl /version)
	expect_match "Docker down" '^\{"message":"[^"]+"\} 502$' "$(echo "$out" | tr -d '\n')" || { stop_private; return 1; }
	stop_private || return 1
	audit_find "$audit" error GET /version 502 || { why "no error record for the 502"; return 1; }
}

# --- the upstream pool -----------------------------------------------------------

# A request without body that fails on a pooled connection before any response
# byte is retried once on a fresh connection; a request whose body was sent never.
sc_retry_once() {
	local out seen
	fake_start && open_cfg || return 1
	start_private --socket "$FAKE_SOCK" --config "$OPEN_CFG" || { fake_stop; return 1; }
	# 1. warm the pool, then a GET the fake drops on the reused connection.
	expect_match "first request" '"target": "/v1.41/warm-1".* 200$' "$(pcurl /v1.41/warm-1)" || { stop_private; fake_stop; return 1; }
	out=$(pcurl /v1.41/drop-reused-get)
	expect_match "GET dropped on the pooled connection: retried, answered" '"target": "/v1.41/drop-reused-get".* 200$' "$out" || { stop_private; fake_stop; return 1; }
	seen=$(fake_seen drop-reused-get)
	echo "fake saw: $seen"
	expect_match "seen twice: dropped on a reused connection, answered on a new one" '^([0-9]+) [2-9] GET /v1.41/drop-reused-get dropped
([0-9]+) 1 GET /v1.41/drop-reused-get answered$' "$seen" || { stop_private; fake_stop; return 1; }
	# 2. retried once only: a request dropped on every connection gets 502 after two tries.
	pcurl /v1.41/warm-2 >/dev/null
	out=$(pcurl /v1.41/drop-always-get)
	expect_eq "GET dropped twice" '{"message":"the connection to Docker broke before it answered"} 502' "$(echo "$out" | tr -d '\n')" || { stop_private; fake_stop; return 1; }
	expect_eq "tries of the always-dropped GET" 2 "$(fake_seen drop-always-get | wc -l)" || { stop_private; fake_stop; return 1; }
	# 3. never with a body: a POST dropped on the pooled connection is not repeated.
	pcurl /v1.41/warm-3 >/dev/null
	expect_match "pool warm again" ' 200$' "$(pcurl /v1.41/warm-4)" || { stop_private; fake_stop; return 1; }
	out=$(pcurl '/v1.41/containers/create?name=drop-reused-post' -X POST -H 'Content-Type: application/json' -d '{"Image":"busybox"}')
	expect_eq "POST with a body dropped" '{"message":"the connection to Docker broke before it answered"} 502' "$(echo "$out" | tr -d '\n')" || { stop_private; fake_stop; return 1; }
	seen=$(fake_seen drop-reused-post)
	echo "fake saw: $seen"
	expect_match "POST seen exactly once, on a reused connection" '^[0-9]+ [2-9] POST /v1.41/containers/create\?name=drop-reused-post dropped$' "$seen" || { stop_private; fake_stop; return 1; }
	# 4. a pooled connection Docker closed just after answering is taken at once
	# (within the 1 s in which the pool skips its liveness poll): the head's send
	# fails before anything is delivered, so even a POST with a body goes out on
	# a new connection, exactly once.
	expect_match "answered, then closed by the upstream" ' 200$' "$(pcurl /v1.41/close-after-1)" || { stop_private; fake_stop; return 1; }
	out=$(pcurl '/v1.41/containers/create?name=after-close-post' -X POST -H 'Content-Type: application/json' -d '{"Image":"busybox"}')
	expect_match "POST after the upstream closed the pooled connection" '"target": "/v1.41/containers/create\?name=after-close-post".* 200$' "$out" || { stop_private; fake_stop; return 1; }
	seen=$(fake_seen after-close-post)
	echo "fake saw: $seen"
	expect_match "POST seen once, first on a new connection" '^[0-9]+ 1 POST /v1.41/containers/create\?name=after-close-post answered$' "$seen" || { stop_private; fake_stop; return 1; }
	stop_private || { fake_stop; return 1; }
	fake_stop
}

# --- header fields that never reach Docker ----------------------------------------

sc_hidden_headers() {
	local out
	fake_start || return 1
	printf 'auth:\n  secret: "${TOKEN}"\n' >"$RUN_DIR/hdr.yaml"
	start_private --socket "$FAKE_SOCK" --config "$RUN_DIR/hdr.yaml" || { fake_stop; return 1; }
	expect_match "without the token" ' 401$' "$(pcurl /v1.41/containers/json)" || { stop_private; fake_stop; return 1; }
	for m in GET POST; do
		local data=()
		[ "$m" = POST ] && data=(-H 'Content-Type: application/json' -d '{"Image":"busybox"}')
		out=$(pcurl "/v1.41/containers/create?name=hdr-$m" -X "$m" "${data[@]}" \
			-H "Authorization: Bearer $TOKEN" \
			-H 'X-HTTP-Method-Override: DELETE' -H 'X-HTTP-Method: PUT' -H 'X-Method-Override: PATCH' \
			-H 'Proxy-Authorization: Basic Zm9vOmJhcg==' -H 'Keep-Alive: timeout=5' \
			-H 'Connection: keep-alive, X-Dpp-Hop' -H 'X-Dpp-Hop: named-in-connection' \
			-H 'Expect: 100-continue' -H 'X-Dpp-Probe: passes')
		expect_match "$m with the token" ' 200$' "$out" || { stop_private; fake_stop; return 1; }
		"$PY" - "$FAKE_REC" "hdr-$m" "$m" "$TOKEN" <<'PYEOF' || { why "a header that must stay at the proxy reached the upstream ($m)"; stop_private; fake_stop; return 1; }
import json, sys
rec, name, method, token = sys.argv[1:5]
heads = [json.loads(l) for l in open(rec)]
heads = [e for e in heads if name in e["target"]]
assert len(heads) == 1, "want one request upstream, got %d" % len(heads)
e = heads[0]
print("upstream head:\n" + e["head"])
fields = [l.split(":", 1)[0].strip().lower() for l in e["head"].split("\r\n")[1:]]
assert e["method"] == method, "method changed to " + e["method"]
for f in ("authorization", "x-http-method-override", "x-http-method", "x-method-override",
          "proxy-authorization", "keep-alive", "x-dpp-hop", "expect"):
    assert f not in fields, f + " reached the upstream"
assert token not in e["head"], "the token reached the upstream"
assert "x-dpp-probe" in fields, "an ordinary header was dropped (the check would prove nothing)"
if method == "POST":
    assert e["body"] == '{"Image":"busybox"}', "body changed: %r" % e["body"]
print("ok: hidden headers stayed at the proxy")
PYEOF
	done
	# Expect: 100-continue is answered by the proxy itself (the stand-in never sends 100).
	out=$(curl -sv -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Expect: 100-continue' \
		-d '{"Image":"busybox"}' "http://127.0.0.1:$P_PORT/v1.41/containers/create?name=hdr-expect" 2>&1)
	expect_match "100 Continue from the proxy" '< HTTP/1.1 100 Continue' "$out" || { stop_private; fake_stop; return 1; }
	expect_match "then Docker's answer" '< HTTP/1.1 200' "$out" || { stop_private; fake_stop; return 1; }
	stop_private || { fake_stop; return 1; }
	fake_stop
}

# --- the metrics path is the proxy's own when enabled --------------------------------------------

sc_metrics_not_forwarded() {
	local out
	fake_start || return 1
	printf 'global:\n  metrics: {enabled: true}\nauth:\n  secret: "${TOKEN}"\n' >"$RUN_DIR/metrics.yaml"
	start_private --socket "$FAKE_SOCK" --config "$RUN_DIR/metrics.yaml" || { fake_stop; return 1; }
	# Enabled: answered here, before authentication, never forwarded.
	out=$(pcurl /metrics)
	expect_match "GET /metrics without a token" '^# (HELP|TYPE) docker_proxy_.* 200$' "$(printf '%s' "$out" | tr '\n' ' ')" || { stop_private; fake_stop; return 1; }
	expect_eq "HEAD /metrics" 200 "$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$P_PORT/metrics")" || { stop_private; fake_stop; return 1; }
	out=$(curl -s -D - -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$P_PORT/metrics" | tr -d '\r')
	expect_match "POST /metrics: 405 with Allow and the message" '^HTTP/1.1 405 .*Allow: GET, HEAD.*\{"message":"only GET and HEAD are allowed on the metrics path"\}' "$(echo "$out" | tr '\n' ' ')" || { stop_private; fake_stop; return 1; }
	# Contrast: a version-prefixed /metrics is Docker's path and is forwarded (with a token).
	expect_match "GET /v1.41/metrics" '"target": "/v1.41/metrics".* 200$' "$(pcurl /v1.41/metrics -H "Authorization: Bearer $TOKEN")" || { stop_private; fake_stop; return 1; }
	expect_eq "what reached the upstream" "GET /v1.41/metrics answered" "$(fake_seen metrics | cut -d' ' -f3-)" || { stop_private; fake_stop; return 1; }
	stop_private || { fake_stop; return 1; }
	# Off (the default): the path is Docker's like any other, behind authentication.
	printf 'auth:\n  secret: "${TOKEN}"\n' >"$RUN_DIR/metrics-off.yaml"
	start_private --socket "$FAKE_SOCK" --config "$RUN_DIR/metrics-off.yaml" || { fake_stop; return 1; }
	expect_match "metrics off, no token" ' 401$' "$(pcurl /metrics)" || { stop_private; fake_stop; return 1; }
	expect_match "metrics off, with the token: forwarded" '"target": "/metrics".* 200$' "$(pcurl /metrics -H "Authorization: Bearer $TOKEN")" || { stop_private; fake_stop; return 1; }
	expect_eq "what reached the upstream" "GET /v1.41/metrics answered
GET /metrics answered" "$(fake_seen metrics | cut -d' ' -f3-)" || { stop_private; fake_stop; return 1; }
	stop_private || { fake_stop; return 1; }
	fake_stop
}

# --- framing refused before anything is forwarded -------------------------------------

sc_framing() {
	local out
	fake_start && open_cfg || return 1
	start_private --socket "$FAKE_SOCK" --config "$OPEN_CFG" || { fake_stop; return 1; }
	out=$("$PY" - "$P_PORT" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
def send(name, fields, body):
    head = ("POST /v1.41/containers/create?name=%s HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\n%s\r\n" % (name, "".join(f + "\r\n" for f in fields)))
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head.encode() + body)
    s.settimeout(10)
    buf = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf and buf.endswith(b"}\n"):
                break
    except socket.timeout:
        pass
    s.close()
    status = buf.split(b" ", 2)[1].decode() if buf.startswith(b"HTTP/1.1 ") else "none"
    body = buf.split(b"\r\n\r\n", 1)[1].decode().strip() if b"\r\n\r\n" in buf else ""
    print("%s %s %s" % (name, status, body))
send("framing-two-cl", ["Content-Length: 2", "Content-Length: 2"], b"{}")
send("framing-cl-te", ["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n")
send("framing-te-gzip", ["Transfer-Encoding: gzip, chunked"], b"0\r\n\r\n")
send("framing-two-te", ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], b"0\r\n\r\n")
send("framing-ok", ["Content-Length: 2"], b"{}")
PYEOF
)
	echo "$out"
	expect_eq "answers" 'framing-two-cl 400 {"message":"bad request framing: more than one Content-Length header field"}
framing-cl-te 400 {"message":"bad request framing: both Content-Length and Transfer-Encoding present"}
framing-te-gzip 400 {"message":"bad request framing: unsupported Transfer-Encoding (only a single \"chunked\" is accepted)"}
framing-two-te 400 {"message":"bad request framing: unsupported Transfer-Encoding (only a single \"chunked\" is accepted)"}
framing-ok 200 {"method": "POST", "target": "/v1.41/containers/create?name=framing-ok"}' "$out" || { stop_private; fake_stop; return 1; }
	expect_eq "what reached the upstream" "1 POST /v1.41/containers/create?name=framing-ok answered" "$(fake_seen framing- | cut -d' ' -f2-)" || { stop_private; fake_stop; return 1; }
	stop_private || { fake_stop; return 1; }
	fake_stop
}

# --- shutdown -------------------------------------------------------------------------

# SIGTERM: a plain request in flight still completes (real dockerd: stopping a
# container whose PID 1 ignores SIGTERM takes the whole timeout).
sc_grace_inflight() {
	local c out="$RUN_DIR/grace.out" cpid t0
	c=$(admin_docker run -d "${LBL[@]}" --name "dpp-claims-$RUN_ID-grace" "$IMG" sleep 600) || { why "run -d failed"; return 1; }
	start_cfg "auth:
  type: none" || return 1
	t0=$(now_ms)
	curl -s -o "$out" -w '%{http_code}' --max-time 30 -X POST "http://127.0.0.1:$P_PORT/containers/$c/stop?t=4" >"$out.code" &
	cpid=$!
	sleep 1
	stop_private TERM 15 || { kill_bg "$cpid"; return 1; }
	wait "$cpid"
	echo "stop request answered $(cat "$out.code") after $(( $(now_ms) - t0 )) ms; proxy exited $STOP_MS ms after SIGTERM"
	expect_eq "in-flight POST /containers/{id}/stop?t=4 answered" 204 "$(cat "$out.code")" || return 1
	expect_eq "the container stopped" false "$(admin_docker inspect -f '{{.State.Running}}' "$c")" || return 1
	[ "$STOP_MS" -ge 2000 ] || { why "proxy exited $STOP_MS ms after SIGTERM: it did not wait for the in-flight request"; return 1; }
	admin_docker rm -f "$c" >/dev/null
}

# ... and one slower than the 10 s grace is cut at the grace (stand-in upstream:
# it answers after 30 s).
sc_grace_cut() {
	local out="$RUN_DIR/cut.out" cpid
	: >"$out"
	fake_start && open_cfg || return 1
	start_private --socket "$FAKE_SOCK" --config "$OPEN_CFG" || { fake_stop; return 1; }
	curl -s -o "$out" -w '%{http_code}' --max-time 40 "http://127.0.0.1:$P_PORT/v1.41/slow-30" >"$out.code" &
	cpid=$!
	wait_for 5 grep -q slow-30 "$FAKE_REC" || { why "the slow request did not reach the fake"; kill_bg "$cpid"; stop_private; fake_stop; return 1; }
	stop_private TERM 15 || { kill_bg "$cpid"; fake_stop; return 1; }
	wait "$cpid"
	echo "client got '$(cat "$out.code")' body '$(cat "$out")'; proxy exited $STOP_MS ms after SIGTERM"
	[ "$STOP_MS" -ge 9500 ] && [ "$STOP_MS" -le 12500 ] ||
		{ why "proxy exited $STOP_MS ms after SIGTERM, want the 10 s grace (9.5..12.5 s)"; fake_stop; return 1; }
	grep -q '"target"' "$out" && { why "the client got the slow answer: not cut"; fake_stop; return 1; }
	# Cut: the connection closes (curl's 000) or a 503 "shutting down" got out first.
	expect_match "what the cut client saw" '^(000|503)$' "$(cat "$out.code")" || { fake_stop; return 1; }
	fake_stop
}

# Hijacked sessions (exec -i and attach with stdin) end at once on SIGTERM (README).
sc_hijack_cut() {
	local c a fifo="$RUN_DIR/exec-in" afifo="$RUN_DIR/attach-in" out="$RUN_DIR/exec-out" aout="$RUN_DIR/attach-out" dpid apid t0 el
	c=$(admin_docker run -d "${LBL[@]}" --name "dpp-claims-$RUN_ID-hj" "$IMG" sleep 600) || { why "run -d failed"; return 1; }
	a=$(admin_docker run -di "${LBL[@]}" --name "dpp-claims-$RUN_ID-hja" "$IMG" cat) || { why "run -di failed"; return 1; }
	start_cfg "auth:
  type: none" || return 1
	mkfifo "$fifo" "$afifo" || return 1
	timeout 60 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" exec -i "$c" cat <"$fifo" >"$out" 2>&1 &
	dpid=$!
	exec 7>"$fifo"
	timeout 60 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" attach --sig-proxy=false "$a" <"$afifo" >"$aout" 2>&1 &
	apid=$!
	exec 8>"$afifo"
	echo hello-through-exec >&7
	echo hello-through-attach >&8
	if ! wait_for 10 grep -q hello-through-exec "$out" || ! wait_for 10 grep -q hello-through-attach "$aout"; then
		exec 7>&- 8>&-
		kill_bg "$dpid" "$apid"
		why "the sessions did not echo (exec: $(cat "$out"), attach: $(cat "$aout"))"
		stop_private
		return 1
	fi
	t0=$(now_ms)
	stop_private TERM 5 || { exec 7>&- 8>&-; kill_bg "$dpid" "$apid"; return 1; }
	wait_for 5 eval '! proc_alive "$dpid" && ! proc_alive "$apid"' ||
		{ exec 7>&- 8>&-; kill_bg "$dpid" "$apid"; why "docker exec -i / attach still running 5 s after the proxy was stopped"; return 1; }
	el=$(( $(now_ms) - t0 ))
	exec 7>&- 8>&-
	wait "$dpid" "$apid" 2>/dev/null
	echo "proxy exited $STOP_MS ms after SIGTERM, both clients within $el ms"
	[ "$STOP_MS" -le 2000 ] || { why "proxy took $STOP_MS ms to exit with hijacked sessions open (want at once, <= 2 s)"; return 1; }
	[ "$el" -le 3000 ] || { why "the session clients ended $el ms after SIGTERM (want <= 3 s)"; return 1; }
	expect_eq "containers still running (the sessions ended, not the containers)" "true true" \
		"$(admin_docker inspect -f '{{.State.Running}}' "$c") $(admin_docker inspect -f '{{.State.Running}}' "$a")" || return 1
	admin_docker rm -f "$c" "$a" >/dev/null
}

sc_sigint() {
	start_cfg "auth:
  type: none" || return 1
	expect_eq "serving" "OK 200" "$(pcurl /_ping)" || { stop_private; return 1; }
	stop_private INT 15 || return 1
	grep -q 'SIGINT: stopping' "$P_LOG" || { why "the log does not name SIGINT"; return 1; }
	return 0
}

# Exit 69: no socket configured and none of the auto-detected paths exists.
# A private mount namespace hides /run (and /var/run) from this process only.
sc_exit_69() {
	local out rc home="$RUN_DIR/home69" hide
	mkdir -p "$home"
	command -v unshare >/dev/null || { why "unshare (util-linux) is needed to hide the Docker socket"; return 1; }
	hide='mount -t tmpfs dpp-e2e /run || exit 90; if [ ! -L /var/run ]; then mount -t tmpfs dpp-e2e /var/run || exit 90; fi; [ ! -e /var/run/docker.sock ] && [ ! -e /run/docker.sock ] || exit 91; exec "$@"'
	out=$(env -u DOCKER_SOCKET HOME="$home" timeout -k 5 20 unshare -m --propagation private \
		sh -c "$hide" sh "$DPP_BIN" --headless --port "$(free_port)" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" -ne 90 ] && [ "$rc" -ne 91 ] || { why "could not hide the Docker socket in a mount namespace (rc $rc)"; return 1; }
	expect_eq "exit code without a Docker socket" 69 "$rc" || return 1
	expect_match "says why" 'no Docker socket configured or found' "$out" || return 1
	# Contrast in the same namespace: a socket named explicitly may not exist yet.
	out=$(env -u DOCKER_SOCKET HOME="$home" timeout -k 5 20 unshare -m --propagation private \
		sh -c "$hide" sh "$DPP_BIN" --check-config --socket /run/docker-later.sock 2>&1)
	rc=$?
	expect_eq "--check-config with an explicit, absent socket" 0 "$rc" || { echo "$out"; return 1; }
	# ... and outside it the same command line detects the real socket.
	out=$(env -u DOCKER_SOCKET HOME="$home" timeout -k 5 20 "$DPP_BIN" --check-config 2>&1)
	rc=$?
	expect_eq "--check-config with auto-detection here" 0 "$rc" || { echo "$out"; return 1; }
	expect_match "auto-detected" 'upstream socket: /(var/)?run/docker.sock \(auto' "$out"
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -x "$DPP_BIN" ] || setup_failed proxy "proxy binary $DPP_BIN not found"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}

run_scenario claims/max-filter-bytes sc_max_filter_bytes
run_scenario claims/filters-on-streams sc_filter_streams
run_scenario claims/bodies-refused sc_bodies_refused
run_scenario claims/error-audit sc_error_audit
run_scenario claims/upstream-retry-once sc_retry_once
run_scenario claims/hidden-headers sc_hidden_headers
run_scenario claims/framing-refused sc_framing
run_scenario claims/metrics-never-forwarded sc_metrics_not_forwarded
run_scenario claims/shutdown-grace-inflight sc_grace_inflight
run_scenario claims/shutdown-grace-cut sc_grace_cut
run_scenario claims/hijack-cut-at-stop sc_hijack_cut
run_scenario claims/sigint-exit-0 sc_sigint
run_scenario claims/exit-69 sc_exit_69
e2e_finish
