#!/usr/bin/env bash
# End-to-end tests for TLS, client certificates, the Unix-socket listener and
# exposure safety, through the real dockerd with real clients (docker CLI with
# --tlsverify and DOCKER_CERT_PATH, docker-py TLSConfig, curl --cert).
# Certificates are made at test time with certtool (gnutls-bin).
# Ends with "e2e: N passed, M failed".

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

TOKEN="tok-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TOKEN

# start_cfg YAML [ARGS...]: a private proxy with this config (sets CFG too).
start_cfg() {
	CFG="$RUN_DIR/cfg-$SCEN_NO.yaml"
	printf '%s\n' "$1" >"$CFG"
	shift
	start_private --socket "$DOCKER_SOCK" --config "$CFG" "$@"
}

stop_cfg() { stop_private; }

sc_exposure() {
	local out rc
	printf 'global:\n  bind: 0.0.0.0\nauth:\n  type: none\n' >"$RUN_DIR/open.yaml"
	out=$(timeout 20 "$DPP_BIN" --check-config --config "$RUN_DIR/open.yaml" 2>&1); rc=$?
	echo "$out"
	expect_eq "open + off loopback + no TLS refused" 1 "$rc" || return 1
	expect_match "says why" "refusing to expose open, unauthenticated Docker access" "$out" || return 1
	out=$(timeout 20 "$DPP_BIN" --headless --config "$RUN_DIR/open.yaml" 2>&1); rc=$?
	expect_eq "refused at start (bad config)" 78 "$rc" || return 1
	printf 'global:\n  bind: 0.0.0.0\n  insecure_allow_open: true\nauth:\n  type: none\n' >"$RUN_DIR/open2.yaml"
	out=$(timeout 20 "$DPP_BIN" --check-config --config "$RUN_DIR/open2.yaml" 2>&1); rc=$?
	echo "$out"
	expect_eq "insecure_allow_open overrides" 0 "$rc" || return 1
	expect_match "loud warning" "without TLS" "$out" || return 1
	printf 'global:\n  bind: 0.0.0.0\nauth:\n  secret: "${TOKEN}"\n' >"$RUN_DIR/bearer.yaml"
	out=$(timeout 20 "$DPP_BIN" --check-config --config "$RUN_DIR/bearer.yaml" 2>&1); rc=$?
	expect_eq "bearer off loopback without TLS starts" 0 "$rc" || return 1
	expect_match "with a warning" "without TLS: tokens and Docker traffic cross the network in clear" "$out" || return 1
	printf 'auth:\n  type: mtls\n' >"$RUN_DIR/mtls-notls.yaml"
	out=$(timeout 20 "$DPP_BIN" --check-config --config "$RUN_DIR/mtls-notls.yaml" 2>&1); rc=$?
	expect_eq "mtls without TLS refused" 1 "$rc" || return 1
	expect_match "says why" "mtls needs global.tls" "$out"
}

sc_unix_roles() {
	local sockdir sock out
	# A directory other users can traverse (RUN_DIR is private).
	sockdir=$(mktemp -d /tmp/dpp-e2e-sock.XXXXXX) && chmod 755 "$sockdir" || { why "no socket dir"; return 1; }
	sock="$sockdir/proxy.sock"
	start_cfg "global:
  listen_unix: $sock
  listen_unix_mode: \"0666\"
  listen_unix_group: nogroup
auth:
  secret: \"\${TOKEN}\"
  unix_role_map:
    - {uid: 0, role: admin}
    - {uid: 65534, role: viewer}
rules:
  - name: viewers-read-only
    action: deny
    message: \"viewers may only read\"
    conditions:
      - {field: role, operator: equals, value: viewer}
      - {field: method, operator: not_in, value: [GET, HEAD]}" || return 1
	[ -S "$sock" ] || { why "no socket at $sock"; stop_cfg; return 1; }
	expect_eq "socket mode" 666 "$(stat -c %a "$sock")" || { stop_cfg; return 1; }
	expect_eq "socket group" nogroup "$(stat -c %G "$sock")" || { stop_cfg; return 1; }
	grep -q "and unix:$sock" "$P_LOG" || { why "start-up line does not name the Unix socket"; stop_cfg; return 1; }
	# root (uid 0) is admin by SO_PEERCRED, without any token.
	expect_eq "root runs" ok "$(timeout 60 "$DOCKER" -H "unix://$sock" run --rm --network none "${LBL[@]}" "$IMG" echo ok)" || { stop_cfg; return 1; }
	echo hello | timeout 60 "$DOCKER" -H "unix://$sock" run --rm -i --network none "${LBL[@]}" "$IMG" cat >"$RUN_DIR/u.out" 2>&1
	expect_eq "hijack over the Unix socket" hello "$(cat "$RUN_DIR/u.out")" || { stop_cfg; return 1; }
	# nobody (uid 65534) is a viewer: may read, may not create.
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" http://d/containers/json)
	expect_eq "viewer lists" 200 "$out" || { stop_cfg; return 1; }
	local before name="dpp-tls-$RUN_ID-viewer"
	before=$(admin_docker ps -aq --filter "label=$LABEL" | wc -l)
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -w ' %{http_code}' --unix-socket "$sock" -H 'Content-Type: application/json' \
		-d "{\"Image\":\"$IMG\",\"Labels\":{\"${LABEL%%=*}\":\"${LABEL#*=}\"}}" "http://d/containers/create?name=$name")
	expect_eq "viewer may not create" '{"message":"viewers may only read"} 403' "$(echo "$out" | tr -d '\n')" || { stop_cfg; return 1; }
	admin_docker inspect "$name" >/dev/null 2>&1 && { why "the viewer's denied create made $name"; stop_cfg; return 1; }
	expect_eq "ps -a unchanged after the denial" "$before" "$(admin_docker ps -aq --filter "label=$LABEL" | wc -l)" || { stop_cfg; return 1; }
	stop_cfg || return 1
	[ ! -e "$sock" ] || { why "socket file left behind after stop"; return 1; }
	rmdir "$sockdir"
}


# --- TLS ------------------------------------------------------------------

make_pki() {
	PKI="$RUN_DIR/pki"
	bash "$E2E_REPO/tests/unit/make_certs.sh" "$PKI" >"$RUN_DIR/pki.log" 2>&1 ||
		{ setup_failed pki "certificate generation failed: $(tail -n 3 "$RUN_DIR/pki.log")"; return 1; }
	# Docker's file names for DOCKER_CERT_PATH, one directory per client.
	for who in alice node1 bob; do
		mkdir -p "$PKI/$who-dir"
		cp "$PKI/ca.pem" "$PKI/$who-dir/ca.pem"
		cp "$PKI/$who.pem" "$PKI/$who-dir/cert.pem"
		cp "$PKI/$who.key" "$PKI/$who-dir/key.pem"
	done
}

tls_config() { # $1: extra lines under global.tls
	printf '%s' "global:
  audit_log: $RUN_DIR/audit-$SCEN_NO.jsonl
  tls:
    cert: $PKI/server.pem
    key: $PKI/server.key
    client_ca: $PKI/ca.pem
$1
auth:
  type: mtls
  mtls:
    cert_role_map:
      - {cn: \"*.build.example.com\", role: builder}
      - {cn: alice, role: admin}
rules:
  - name: builders-no-exec
    action: deny
    message: \"builders may not exec\"
    conditions:
      - {field: role, operator: equals, value: builder}
      - {field: method, operator: equals, value: POST}
      - {field: path, operator: matches, value: \"^/containers/[^/]+/exec$\"}"
}

# tdk WHO ARGS...: docker CLI with --tlsverify and WHO's certificate.
tdk() {
	local who=$1
	shift
	timeout -k 5 120 "$DOCKER" --tlsverify --tlscacert "$PKI/ca.pem" --tlscert "$PKI/$who.pem" \
		--tlskey "$PKI/$who.key" -H "tcp://127.0.0.1:$P_PORT" "$@"
}

sc_tls_cli() {
	local c out
	start_cfg "$(tls_config)" || return 1
	grep -q "listening on https://127.0.0.1:$P_PORT" "$P_LOG" || { why "start-up line does not say https"; stop_cfg; return 1; }
	tdk alice ps >/dev/null || { why "docker --tlsverify ps failed"; stop_cfg; return 1; }
	out=$(DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$PKI/alice-dir" timeout 60 "$DOCKER" -H "tcp://127.0.0.1:$P_PORT" run --rm --network none "${LBL[@]}" "$IMG" echo over-tls)
	expect_eq "run --rm with DOCKER_CERT_PATH" over-tls "$out" || { stop_cfg; return 1; }
	c="dpp-tls-$RUN_ID-x"
	tdk alice run -d --network none "${LBL[@]}" --name "$c" "$IMG" sleep 300 >/dev/null || { why "run -d failed"; stop_cfg; return 1; }
	printf 'line1\nline2\n' >"$RUN_DIR/in.txt"
	out=$(tdk alice exec -i "$c" sh -c 'cat; exit 5' <"$RUN_DIR/in.txt")
	local rc=$?
	expect_eq "exec -i < file over TLS (half-close): output" "line1
line2" "$out" || { stop_cfg; return 1; }
	expect_eq "exec -i exit code" 5 "$rc" || { stop_cfg; return 1; }
	tm new-session -d -s tlsit -x 120 -y 30 "$DOCKER --tlsverify --tlscacert $PKI/ca.pem --tlscert $PKI/alice.pem --tlskey $PKI/alice.key -H tcp://127.0.0.1:$P_PORT exec -it $c sh; echo EXITED \$?; sleep 30"
	tm_wait_line tlsit '/ #' 15 || { why "no shell prompt over TLS"; tm kill-session -t tlsit; stop_cfg; return 1; }
	tm send-keys -t tlsit 'echo $((6*7))' Enter
	tm_wait_line tlsit '^42' 10 || { why "typed command gave no output over TLS"; tm kill-session -t tlsit; stop_cfg; return 1; }
	tm send-keys -t tlsit 'exit 4' Enter
	tm_wait_line tlsit 'EXITED 4' 10 || { why "exec -it did not end with 4"; tm kill-session -t tlsit; stop_cfg; return 1; }
	tm kill-session -t tlsit
	stop_cfg
}

sc_tls_clients() {
	local out code
	start_cfg "$(tls_config)" || return 1
	# requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the CA that
	# docker-py configures: run it without them.
	out=$(env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE "$PY" - "$P_PORT" "$PKI" <<'PYEOF'
import sys, docker
port, pki = sys.argv[1], sys.argv[2]
tls = docker.tls.TLSConfig(client_cert=(pki + "/alice.pem", pki + "/alice.key"), ca_cert=pki + "/ca.pem", verify=True)
c = docker.DockerClient(base_url="https://127.0.0.1:" + port, tls=tls)
print(c.version()["ApiVersion"] != "" and "sdk-ok")
PYEOF
)
	expect_eq "docker-py TLSConfig" sdk-ok "$out" || { stop_cfg; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" --cert "$PKI/alice.pem" --key "$PKI/alice.key" "https://127.0.0.1:$P_PORT/_ping")
	expect_eq "curl --cert" 200 "$code" || { stop_cfg; return 1; }
	# No certificate (not required): no identity, so mtls answers 401.
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.pem" "https://127.0.0.1:$P_PORT/_ping")
	expect_eq "no certificate under mtls" 401 "$code" || { stop_cfg; return 1; }
	# TLS 1.1 is refused by the server in the handshake: curl fails with 35
	# (CURLE_SSL_CONNECT_ERROR) after receiving (IN) a protocol_version alert,
	# and gnutls-cli reports alert 70; the same client with TLS 1.2 completes.
	out=$(curl -sv -o /dev/null --cacert "$PKI/ca.pem" --tls-max 1.1 "https://127.0.0.1:$P_PORT/_ping" 2>&1)
	code=$?
	expect_eq "curl --tls-max 1.1 exit code" 35 "$code" || { echo "$out"; stop_cfg; return 1; }
	expect_match "the server's alert, as curl reports it" 'TLSv1\.1 \(IN\), TLS alert, protocol version' "$out" || { stop_cfg; return 1; }
	out=$(timeout 20 gnutls-cli --x509cafile "$PKI/ca.pem" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' -p "$P_PORT" 127.0.0.1 </dev/null 2>&1)
	echo "$out"
	expect_match "gnutls-cli with TLS 1.1 only" 'Received alert \[70\]: Error in protocol version' "$out" || { stop_cfg; return 1; }
	out=$(timeout 20 gnutls-cli --x509cafile "$PKI/ca.pem" --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2' -p "$P_PORT" 127.0.0.1 </dev/null 2>&1)
	expect_match "gnutls-cli with TLS 1.2 only (contrast)" 'Handshake was completed' "$out" || { echo "$out"; stop_cfg; return 1; }
	stop_cfg
}

sc_tls_roles() {
	local c="dpp-tls-$RUN_ID-r"
	start_cfg "$(tls_config)" || return 1
	tdk alice run -d --network none "${LBL[@]}" --name "$c" "$IMG" sleep 300 >/dev/null || { why "alice (admin) could not run"; stop_cfg; return 1; }
	# node1.build.example.com matches *.build.example.com (one label): builder.
	out=$(tdk node1 exec "$c" true 2>&1) && { why "builder could exec"; stop_cfg; return 1; }
	expect_match "wildcard role denied exec with the rule's message" "builders may not exec" "$out" || { stop_cfg; return 1; }
	out=$(curl -s -w ' %{http_code}' --cacert "$PKI/ca.pem" --cert "$PKI/node1.pem" --key "$PKI/node1.key" \
		-H 'Content-Type: application/json' -d '{"Cmd":["true"]}' "https://127.0.0.1:$P_PORT/v1.41/containers/$c/exec")
	expect_eq "builder's exec create: status and message" '{"message":"builders may not exec"} 403' "$(echo "$out" | tr -d '\n')" || { stop_cfg; return 1; }
	expect_eq "exec instances on Docker's side after the denials" 0 "$(admin_docker inspect -f '{{len .ExecIDs}}' "$c")" || { stop_cfg; return 1; }
	tdk node1 ps >/dev/null || { why "builder could not list"; stop_cfg; return 1; }
	tdk alice exec "$c" true || { why "admin could not exec"; stop_cfg; return 1; }
	grep -q '"user_role":"builder","identity":"cert:node1.build.example.com"' "$RUN_DIR/audit-$SCEN_NO.jsonl" ||
		{ why "audit lacks the certificate identity and role"; stop_cfg; return 1; }
	stop_cfg
}

sc_tls_reject() {
	local audit="$RUN_DIR/audit-$SCEN_NO.jsonl" out
	start_cfg "$(tls_config '    require_client_cert: true')" || return 1
	# Each is refused by the server's alert inside the handshake. TLS 1.2 for
	# these checks: under TLS 1.3 the server judges the client certificate after
	# the client's handshake is complete, and whether curl reads that alert or a
	# reset first is a race. curl: 35 (CURLE_SSL_CONNECT_ERROR) with the alert
	# received (IN).
	out=$(curl -sv --tls-max 1.2 -o /dev/null --cacert "$PKI/ca.pem" "https://127.0.0.1:$P_PORT/_ping" 2>&1)
	expect_eq "no certificate: curl exit code" 35 "$?" || { echo "$out"; stop_cfg; return 1; }
	expect_match "no certificate: the server's alert" 'TLSv1\.2 \(IN\), TLS alert' "$out" || { stop_cfg; return 1; }
	out=$(curl -sv --tls-max 1.2 -o /dev/null --cacert "$PKI/ca.pem" --cert "$PKI/expired.pem" --key "$PKI/expired.key" "https://127.0.0.1:$P_PORT/_ping" 2>&1)
	expect_eq "expired certificate: curl exit code" 35 "$?" || { echo "$out"; stop_cfg; return 1; }
	expect_match "expired certificate: bad_certificate alert" 'TLSv1\.2 \(IN\), TLS alert, bad certificate' "$out" || { stop_cfg; return 1; }
	out=$(curl -sv --tls-max 1.2 -o /dev/null --cacert "$PKI/ca.pem" --cert "$PKI/foreign.pem" --key "$PKI/foreign.key" "https://127.0.0.1:$P_PORT/_ping" 2>&1)
	expect_eq "foreign-CA certificate: curl exit code" 35 "$?" || { echo "$out"; stop_cfg; return 1; }
	expect_match "foreign-CA certificate: bad_certificate alert" 'TLSv1\.2 \(IN\), TLS alert, bad certificate' "$out" || { stop_cfg; return 1; }
	# Under TLS 1.3 they are refused too (no response, whichever way curl sees it).
	expect_eq "no certificate over TLS 1.3: no HTTP status" 000 "$(curl -s -o /dev/null -w '%{http_code}' --tlsv1.3 --cacert "$PKI/ca.pem" "https://127.0.0.1:$P_PORT/_ping")" || { stop_cfg; return 1; }
	tdk alice version >/dev/null || { why "a valid client failed"; stop_cfg; return 1; }
	wait_for 5 grep -q 'expired' "$audit" || { why "expired certificate not audited"; stop_cfg; return 1; }
	grep -q '"event":"auth_failure"' "$audit" || { why "no auth_failure records"; stop_cfg; return 1; }
	expect_eq "rejections audited (three over TLS 1.2, one over 1.3)" 4 "$(grep -c 'TLS connection refused' "$audit")" || { stop_cfg; return 1; }
	stop_cfg
}

server_serial() {
	"$PY" - "$1" "$RUN_DIR/srv-$RANDOM.pem" <<'PYEOF'
import ssl, sys
port, path = int(sys.argv[1]), sys.argv[2]
open(path, "w").write(ssl.get_server_certificate(("127.0.0.1", port)))
print(ssl._ssl._test_decode_cert(path)["serialNumber"].lower().lstrip("0"))
PYEOF
}

sc_tls_reload() {
	local before after
	start_cfg "$(tls_config)" || return 1
	before=$(server_serial "$P_PORT")
	expect_eq "serial before reload" 5e0001 "$before" || { stop_cfg; return 1; }
	sed -i "s#$PKI/server.pem#$PKI/server2.pem#; s#$PKI/server.key#$PKI/server2.key#" "$CFG"
	kill -HUP "$P_PID"
	wait_for 5 grep -q 'TLS certificate, key and CA re-read' "$P_LOG" || { why "no TLS reload logged"; stop_cfg; return 1; }
	after=$(server_serial "$P_PORT")
	expect_eq "serial after reload" 5e0002 "$after" || { stop_cfg; return 1; }
	# A bad key keeps the old material.
	sed -i "s#$PKI/server2.key#$PKI/alice.key#" "$CFG"
	kill -HUP "$P_PID"
	wait_for 5 grep -q 'TLS reload refused' "$P_LOG" || { why "bad key not reported"; stop_cfg; return 1; }
	expect_eq "serial after a bad reload" 5e0002 "$(server_serial "$P_PORT")" || { stop_cfg; return 1; }
	tdk alice version >/dev/null || { why "clients broken after a bad reload"; stop_cfg; return 1; }
	stop_cfg
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -x "$DPP_BIN" ] || setup_failed proxy "proxy binary $DPP_BIN not found"
command -v certtool >/dev/null || setup_failed certtool "certtool (gnutls-bin) is needed to make test certificates"
command -v gnutls-cli >/dev/null || setup_failed gnutls-cli "gnutls-cli (gnutls-bin) is needed to see the TLS 1.1 refusal"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}

[ -n "$SETUP_BROKEN" ] || make_pki
run_scenario exposure/refusals-and-warnings sc_exposure
run_scenario tls/docker-cli sc_tls_cli
run_scenario tls/sdk-and-curl sc_tls_clients
run_scenario tls/cert-roles sc_tls_roles
run_scenario tls/rejections-audited sc_tls_reject
run_scenario tls/reload sc_tls_reload
run_scenario unix/peer-roles sc_unix_roles
e2e_finish
