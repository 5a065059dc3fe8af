#!/bin/sh
# `docker-policy-proxy explain` end to end on the binary (no Docker needed):
# exit codes, the deciding rule, skipped and unreached rules, the response,
# refusals before the rules, authentication, --json and --replay's refusal.
#   explain_cli.sh BINARY SOURCE_DIR
set -u
bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check NAME EXPECTED_RC PATTERN... -- ARGS...
	name=$1 want=$2
	shift 2
	pats=
	while [ "$1" != -- ]; do pats="$pats$1
"; shift; done
	shift
	"$bin" explain "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL $name: exit $rc, want $want"; cat "$tmp/out" "$tmp/err"; fail=1; return
	fi
	printf '%s' "$pats" | while IFS= read -r p; do
		[ -n "$p" ] || continue
		grep -qF -- "$p" "$tmp/out" || { echo "FAIL $name: no '$p' in:"; cat "$tmp/out"; echo x >"$tmp/failed"; }
	done
	[ -e "$tmp/failed" ] && { fail=1; rm -f "$tmp/failed"; return; }
	echo "ok   $name"
}
body=$src/tests/fixtures/seed/02-body-inspection.yaml
printf '%s' '{"Image":"busybox","HostConfig":{"privileged":true,"Binds":["/:/h"]}}' >"$tmp/priv.json"
printf '%s' '{"Image":"busybox","HostConfig":{"Binds":["/:/h"]}}' >"$tmp/bind.json"
printf '%s' '{"Image":"busybox","HostConfig":{"Privileged":false,"privileged":true}}' >"$tmp/dup.json"

check deny-privileged 1 \
	'endpoint:     /containers/create' '"Privileged":' \
	'body.HostConfig.Privileged equals true   [seen: true]  -> true' \
	'[2] block-bind-mounts (deny)  -- not reached' \
	'decision:     deny by rule block-privileged (deny)' 'HTTP 403' \
	'{"message":"Privileged containers are not allowed"}' 'fresh limiter' -- \
	--config "$body" --method POST --target /v1.41/containers/create --body "$tmp/priv.json"
check deny-bind 1 'body.HostConfig.Privileged equals true   [seen: absent]  -> false' \
	'=> no match: next rule' 'decision:     deny by rule block-bind-mounts' -- \
	--config "$body" --method POST --target /v1.41/containers/create --body "$tmp/bind.json"
check allow-default 0 'decision:     allow by the default action' 'forwarded to Docker' -- \
	--config "$body" --method GET --target '/v1.41/containers/json?all=1'
check endpoint-template 0 'endpoint:     /containers/{name}/start' 'canonical:    /containers/a/start' -- \
	--config "$body" --method POST --target '/v1.41/containers/%61/start'
check refused-target 1 'rules:        not evaluated (decided at: request target)' 'HTTP 400' -- \
	--config "$body" --method GET --target '/v1.41/containers/../json'
check refused-duplicate-fold 1 'name the same field for Docker' 'decided at: body' -- \
	--config "$body" --method POST --target /containers/create --body "$tmp/dup.json"
check refused-framing 1 'bad request framing' -- \
	--config "$body" --method POST --target /containers/create --header 'Content-Length: 5' \
	--header 'Transfer-Encoding: chunked'
ADMIN_TOKEN=admintoken-0123456789 READONLY_TOKEN=readonly-0123456789
export ADMIN_TOKEN READONLY_TOKEN
roles=$src/tests/fixtures/seed/03-roles-and-network.yaml
check auth-missing 1 'HTTP 401' 'WWW-Authenticate: Bearer' 'send Authorization: Bearer' -- \
	--config "$roles" --method GET --target /v1.41/info
check auth-token-role 1 'role readonly' 'Admin role required to create containers' -- \
	--config "$roles" --method POST --target /containers/create --token readonly-0123456789
check auth-role-flag 0 'role admin' 'not run: --role given' -- \
	--config "$roles" --method POST --target /containers/create --role admin
check client-ip 1 'client_ip:    8.8.8.8' 'Access restricted to internal network' -- \
	--config "$roles" --method GET --target /info --role admin --client-ip 8.8.8.8
check json 1 '"decided_at":	"rules"' '"seen":	true' '"result":	true' '"status":	403' \
	'"reached":	false' -- \
	--config "$body" --method POST --target /v1.41/containers/create --body "$tmp/priv.json" --json
check usage 64 -- --method GET
check exclusive-auth 64 -- --method GET --target /x --role a --token b
# --replay: a store recorded by a real proxy run (denials need no Docker:
# they are decided before anything is forwarded), replayed read-only.
cat >"$tmp/cur.yaml" <<EOF
auth:
  type: none
global:
  store:
    path: $tmp/st.db
rules:
  - {name: no-info, action: deny, message: no info, conditions: [{field: path, operator: equals, value: /info}]}
  - {name: no-plugins, action: deny, conditions: [{field: path, operator: starts_with, value: /plugins}]}
EOF
cat >"$tmp/cand.yaml" <<EOF
auth:
  type: none
global:
  store:
    path: $tmp/st.db
rules:
  - {name: no-plugins, action: deny, conditions: [{field: path, operator: starts_with, value: /plugins}]}
EOF
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" --headless --port "$port" --socket "$tmp/no-docker.sock" --config "$tmp/cur.yaml" >"$tmp/proxy.log" 2>&1 &
ppid=$!
i=0
until grep -q 'listening on' "$tmp/proxy.log" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
for u in /v1.41/info /v1.41/plugins /v1.41/info; do
	curl -s -o /dev/null "http://127.0.0.1:$port$u"
done
kill "$ppid"
wait "$ppid"
check replay-changes 1 'GET     /info' 'deny 403 (no-info)' \
	'2 decision(s) of 3 replayed request(s) would change' -- --replay --config "$tmp/cand.yaml"
check replay-same 0 '0 decision(s) of 3 replayed' -- --replay --config "$tmp/cur.yaml" --since 1h
check replay-json 1 '"changes":	2' '"recorded":	"deny 403 (no-info)"' -- \
	--replay --config "$tmp/cand.yaml" --json
check replay-bad-since 64 -- --replay --config "$tmp/cand.yaml" --since yesterday
exit $fail
