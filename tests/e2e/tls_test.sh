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
auth:
  secret: \"\${TOKEN}\"
  unix_role_map:
    - {uid: 0, role: admin}
    - {uid: 65534, role: viewer}
rules:
  - {name: viewers-read-only, action: deny, message: \"viewers may only read\", match: {role: viewer, method: {not_in: [GET, HEAD]}}}" || return 1
	[ -S "$sock" ] || { why "no socket at $sock"; stop_cfg; return 1; }
	expect_eq "socket mode" 666 "$(stat -c %a "$sock")" || { stop_cfg; return 1; }
	grep -q "and unix:$sock" "$P_LOG" || { why "start-up line does not name the Unix socket"; stop_cfg; return 1; }
	# root (uid 0) is admin by SO_PEERCRED, without any token.
	expect_eq "root runs" ok "$(timeout 60 "$DOCKER" -H "unix://$sock" run --rm "${LBL[@]}" "$IMG" echo ok)" || { stop_cfg; return 1; }
	echo hello | timeout 60 "$DOCKER" -H "unix://$sock" run --rm -i "${LBL[@]}" "$IMG" cat >"$RUN_DIR/u.out" 2>&1
	expect_eq "hijack over the Unix socket" hello "$(cat "$RUN_DIR/u.out")" || { stop_cfg; return 1; }
	# nobody (uid 65534) is a viewer: may read, may not create.
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" http://d/containers/json)
	expect_eq "viewer lists" 200 "$out" || { stop_cfg; return 1; }
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups curl -s --unix-socket "$sock" -H 'Content-Type: application/json' -d "{\"Image\":\"$IMG\"}" http://d/containers/create)
	expect_match "viewer may not create" "viewers may only read" "$out" || { stop_cfg; return 1; }
	stop_cfg || return 1
	[ ! -e "$sock" ] || { why "socket file left behind after stop"; return 1; }
	rmdir "$sockdir"
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -x "$DPP_BIN" ] || setup_failed proxy "proxy binary $DPP_BIN not found"
command -v certtool >/dev/null || setup_failed certtool "certtool (gnutls-bin) is needed to make test certificates"
mapfile -t CLIS < <(list_clis)
DOCKER=${CLIS[0]:-docker}

run_scenario exposure/refusals-and-warnings sc_exposure
run_scenario unix/peer-roles sc_unix_roles
e2e_finish
