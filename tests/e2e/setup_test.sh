#!/usr/bin/env bash
# End-to-end tests of `docker-policy-proxy setup`: the full-screen wizard
# driven through tmux (80x24) to a saved configuration that passes
# --check-config and whose templates the proxy then enforces against the
# real dockerd; --plain driven through a pipe; --non-interactive for every
# template alone and all together; bad flags; overwrite protection; and the
# offer to run the wizard when the proxy starts on a terminal without a
# configuration. Uses lib.sh.
#
#   tests/e2e/setup_test.sh        # ends with "e2e: N passed, M failed"

# shellcheck disable=SC2016
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# The wizard runs in other directories: the binary by absolute path.
DPP_BIN=$(realpath "$DPP_BIN" 2>/dev/null || echo "$DPP_BIN")
unset DOCKER_PROXY_SECRET DOCKER_PROXY_CONFIG DOCKER_PROXY_PORT DOCKER_SOCKET DOCKER_PROXY_LOG \
	NO_COLOR ADMIN_TOKEN READONLY_TOKEN

# check_ok FILE: --check-config accepts FILE; its output goes to the log.
check_ok() {
	local out rc=0
	out=$("$DPP_BIN" --check-config --config "$1" 2>&1) || rc=$?
	[ "$rc" = 0 ] || { echo "$out"; why "--check-config refused $1 (exit $rc)"; return 1; }
	echo "$out" | tail -n 3
}

# req TOKEN METHOD PATH [JSON]: "STATUS MESSAGE" through the private proxy.
req() {
	local args=(-s -o "$RUN_DIR/resp" -w '%{http_code}' -X "$2") code msg
	[ -z "$1" ] || args+=(-H "Authorization: Bearer $1")
	[ -z "${4:-}" ] || args+=(-H 'Content-Type: application/json' -d "$4")
	code=$(curl "${args[@]}" "http://127.0.0.1:$P_PORT$3")
	msg=$("$PY" -c 'import json,sys
try:
    print(json.load(open(sys.argv[1])).get("message", ""))
except Exception:
    print("")' "$RUN_DIR/resp")
	printf '%s %s' "$code" "$msg"
}

sc_list_templates() {
	local out n
	out=$("$DPP_BIN" setup --list-templates) || { why "--list-templates failed"; return 1; }
	echo "$out"
	for n in block-exec-operations block-docker-build readonly-volumes readonly-networks \
		readonly-images block-secrets block-privileged-containers block-host-network \
		block-bind-mounts block-host-pid-namespace block-host-ipc-namespace \
		block-capability-escalation admin-only-container-lifecycle admin-only-create \
		admin-only-delete internal-network-only redact-container-environment rate-limit-all; do
		grep -q "^$n " <<<"$out" || { why "template $n not listed"; return 1; }
	done
}

# bad_flag WANT_RC MESSAGE_ERE ARGS...: setup exits WANT_RC, says MESSAGE, writes nothing.
bad_flag() {
	local want=$1 msg=$2 out rc=0
	shift 2
	rm -f "$RUN_DIR/bad.yaml"
	out=$("$DPP_BIN" setup --non-interactive --output "$RUN_DIR/bad.yaml" "$@" 2>&1 </dev/null) || rc=$?
	echo "setup $* -> $rc: $out"
	expect_eq "exit status of setup $*" "$want" "$rc" || return 1
	expect_match "message of setup $*" "$msg" "$out" || return 1
	[ ! -e "$RUN_DIR/bad.yaml" ] || { why "setup $* wrote a file"; return 1; }
}

sc_bad_flags() {
	bad_flag 64 'port must be 1..65535' --port 0 || return 1
	bad_flag 64 'port must be 1..65535' --port abc || return 1
	bad_flag 64 'auth must be none, secret, tokens or mtls' --auth bogus || return 1
	bad_flag 64 'unknown template .nope.' --template nope || return 1
	bad_flag 64 'cannot run dry' --dry-run-template redact-container-environment || return 1
	bad_flag 64 'only allowed on a loopback' --bind 0.0.0.0 --auth none || return 1
	bad_flag 64 'unknown option .--frobnicate.' --frobnicate || return 1
	bad_flag 64 'needs a value' --template || return 1
	bad_flag 64 'exclude each other' --plain || return 1
	bad_flag 64 'a role is' --token-role 'bad role' || return 1
	bad_flag 64 'needs TLS with a client CA' --auth mtls || return 1
	bad_flag 64 'unexpected argument' extra || return 1
	bad_flag 78 'nothing written' --tls-cert /nonexistent.pem --tls-key /nonexistent.key || return 1
}

sc_each_template() {
	local t n=0 all=() out
	while read -r t; do
		all+=(--template "$t")
		out="$RUN_DIR/t-$t.yaml"
		"$DPP_BIN" setup --non-interactive --template "$t" --output "$out" >"$RUN_DIR/tokens" ||
			{ why "setup --template $t failed"; return 1; }
		check_ok "$out" || return 1
		grep -q "^# template $t: " "$out" || { why "$out lacks the comment naming $t"; return 1; }
		! grep -Eq ': (null|~)$' "$out" || { why "$out has null keys"; return 1; }
		n=$((n + 1))
	done < <("$DPP_BIN" setup --list-templates | awk '/^[a-z]/ {print $1}')
	expect_eq "templates tried" 18 "$n" || return 1
	out="$RUN_DIR/t-all.yaml"
	"$DPP_BIN" setup --non-interactive "${all[@]}" --dry-run-template rate-limit-all \
		--token-role admin --token-role ci --output "$out" >"$RUN_DIR/tokens" ||
		{ why "setup with every template failed"; return 1; }
	check_ok "$out" || return 1
	expect_eq "rules written" 19 "$(grep -c '^- name: ' "$out")" || return 1
	expect_eq "token lines printed" 2 "$(grep -Ec '^(ADMIN|CI)_TOKEN=[0-9a-f]{64}$' "$RUN_DIR/tokens")" || return 1
	expect_eq "mode" 600 "$(stat -c %a "$out")" || return 1
	# The seed's semantics: every rule the file names is in the printed rule set.
	"$DPP_BIN" --check-config --config "$out" | grep -q '^# 19 rules in evaluation order' ||
		{ why "--check-config does not show 19 rules"; return 1; }
	# ${ENV} references, and the secret mode.
	"$DPP_BIN" setup --non-interactive --token-env --template block-docker-build \
		--output "$RUN_DIR/env.yaml" >"$RUN_DIR/tokens" || { why "--token-env failed"; return 1; }
	grep -q 'token: "${ADMIN_TOKEN}"' "$RUN_DIR/env.yaml" || { why "no \${ADMIN_TOKEN} reference"; return 1; }
	grep -q '^ADMIN_TOKEN=' "$RUN_DIR/tokens" || { why "token not printed"; return 1; }
	"$DPP_BIN" setup --non-interactive --auth secret --output "$RUN_DIR/secret.yaml" >"$RUN_DIR/tokens" ||
		{ why "--auth secret failed"; return 1; }
	grep -Eq '^DOCKER_PROXY_SECRET=[0-9a-f]{64}$' "$RUN_DIR/tokens" || { why "secret not printed"; return 1; }
	check_ok "$RUN_DIR/secret.yaml" || return 1
	# mTLS with a cert_role_map; relative certificate paths are made absolute.
	sh "$E2E_REPO/tests/unit/make_certs.sh" "$RUN_DIR/certs" >/dev/null 2>&1 || { why "make_certs.sh failed"; return 1; }
	(cd "$RUN_DIR" && "$DPP_BIN" setup --non-interactive --auth mtls --tls-cert certs/server.pem \
		--tls-key certs/server.key --tls-ca certs/ca.pem --cert-role alice=admin \
		--mtls-default-role viewer --bind 0.0.0.0 --output mtls.yaml) >"$RUN_DIR/tokens" 2>&1 ||
		{ cat "$RUN_DIR/tokens"; why "--auth mtls failed"; return 1; }
	grep -q "cert: $RUN_DIR/certs/server.pem" "$RUN_DIR/mtls.yaml" || { why "TLS path not absolute"; return 1; }
	grep -q 'type: mtls' "$RUN_DIR/mtls.yaml" && grep -q 'cn: alice' "$RUN_DIR/mtls.yaml" ||
		{ why "mtls section missing"; return 1; }
	! grep -qi 'must be' "$RUN_DIR/tokens" || { cat "$RUN_DIR/tokens"; why "a good --auth printed an error"; return 1; }
	check_ok "$RUN_DIR/mtls.yaml"
}

sc_overwrite() {
	local f="$RUN_DIR/ow.yaml" rc=0 sum
	"$DPP_BIN" setup --non-interactive --output "$f" >/dev/null || { why "first write failed"; return 1; }
	sum=$(sha256sum <"$f")
	"$DPP_BIN" setup --non-interactive --output "$f" >/dev/null 2>"$RUN_DIR/err" || rc=$?
	cat "$RUN_DIR/err"
	expect_eq "exit status without --force" 73 "$rc" || return 1
	expect_eq "file unchanged" "$sum" "$(sha256sum <"$f")" || return 1
	"$DPP_BIN" setup --non-interactive --force --template block-docker-build --output "$f" >/dev/null ||
		{ why "--force failed"; return 1; }
	expect_eq "old file kept as .bak" "$sum" "$(sha256sum <"$f.bak")" || return 1
	grep -q 'block-docker-build' "$f" || { why "new file not in place"; return 1; }
}

# --plain through a pipe: the same questions as line prompts, a custom rule
# from the builder, '<' to go back once.
sc_plain_pipe() {
	local f="$RUN_DIR/plain.yaml" out
	# welcome, bind, port, "<" back to port, port, socket, TLS none, auth tokens,
	# roles, literal tokens, templates 7 (privileged) and 14 (admin-only-create),
	# dry run: 7's position (1), custom rule yes: name, action deny, field other,
	# field name, operator equals, value 5, message, dry run no; no more custom
	# rules; store (default); output; save; done.
	printf '%s\n' '' '' '2399' '<' '2399' '' '' '' 'admin,ops' '' '7 14' '1' '2' \
		'no-five-cpus' '1' '9' 'body.HostConfig.CpuCount' '1' '5' 'five CPUs are too many' '1' \
		'1' '' "$f" '1' '' >"$RUN_DIR/answers"
	out=$("$DPP_BIN" setup --plain <"$RUN_DIR/answers" 2>&1) || { echo "$out"; why "setup --plain failed"; return 1; }
	echo "$out" | tail -n 20
	check_ok "$f" || return 1
	grep -q '^  port: 2399$' "$f" || { why "port answer lost"; return 1; }
	grep -q 'role: ops' "$f" || { why "role ops missing"; return 1; }
	grep -q '^- name: no-five-cpus$' "$f" || { why "custom rule missing"; return 1; }
	grep -q '    value: 5$' "$f" || { why "5 not written as a number"; return 1; }
	grep -A12 'name: block-privileged-containers' "$f" | grep -q 'dry_run: true' ||
		{ why "dry run not applied to block-privileged-containers"; return 1; }
	grep -Eq '^OPS_TOKEN=[0-9a-f]{64}$' <<<"$out" || { why "tokens not shown"; return 1; }
	# End of input before saving: nothing written, non-zero.
	printf '\n\n' | "$DPP_BIN" setup --plain --output "$RUN_DIR/never.yaml" >/dev/null 2>&1 &&
		{ why "cancelled run exited 0"; return 1; }
	[ ! -e "$RUN_DIR/never.yaml" ] || { why "cancelled run wrote a file"; return 1; }
}

tkeys() { tm send-keys -t wiz "$@"; sleep 0.25; }

# The full-screen wizard in an 80x24 tmux pane, to a saved file that the
# proxy then enforces against the real dockerd.
sc_tmux_wizard() {
	local f="$RUN_DIR/wiz/wizard.yaml" pane admin ro code
	mkdir -p "$RUN_DIR/wiz" # its own store (docker-policy-proxy.db beside the file)
	tm new-session -d -x 80 -y 24 -s wiz "cd '$RUN_DIR' && TERM=xterm-256color '$DPP_BIN' setup; echo SETUP-EXIT=\$?; sleep 60" ||
		{ why "tmux new-session failed"; return 1; }
	tm_wait_line wiz 'This wizard writes a configuration file' 10 || { why "no welcome screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Listen address' 5 || { why "no listen address screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Listen port' 5 || { why "no port screen"; return 1; }
	tkeys Escape # Esc goes back
	tm_wait_line wiz 'Listen address' 5 || { why "Esc did not go back"; return 1; }
	tkeys Enter
	tkeys Enter
	tm_wait_line wiz 'Docker socket' 5 || { why "no socket screen"; return 1; }
	tm_has_line wiz 'answers: Docker' || { why "the socket screen does not say Docker answers"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'no TLS' 5 || { why "no TLS screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Authentication' 5 || { why "no auth screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Token roles' 5 || { why "no roles screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'How tokens are written' 5 || { why "no token style screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Rule templates' 5 || { why "no templates screen"; return 1; }
	# 6: block-privileged-containers, 8: block-bind-mounts, 13: admin-only-create
	for _ in 1 2 3 4 5 6; do tkeys Down; done
	tkeys Space
	tkeys Down
	tkeys Down
	tkeys Space
	for _ in 1 2 3 4 5; do tkeys Down; done
	tkeys Space
	tm capture-pane -p -t wiz
	tm_has_line wiz '\[x\] block-privileged-containers' && tm_has_line wiz '\[x\] block-bind-mounts' &&
		tm_has_line wiz '\[x\] admin-only-create' || { why "templates not selected"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Dry run' 5 || { why "no dry-run screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Custom rules' 5 || { why "no custom rules screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'SQLite file for audit events' 5 || { why "no store screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'Configuration file' 5 || { why "no output screen"; return 1; }
	tkeys C-u
	tm send-keys -t wiz -l "$f"
	tkeys Enter
	tm_wait_line wiz 'Review' 5 || { why "no review screen"; return 1; }
	[ ! -e "$f" ] || { why "a file exists before saving"; return 1; }
	tm capture-pane -p -t wiz
	tkeys Enter
	tm_wait_line wiz 'The tokens, shown this once' 10 || { tm capture-pane -p -t wiz; why "no done screen"; return 1; }
	pane=$(tm capture-pane -p -t wiz)
	admin=$(sed -n 's/^ *ADMIN_TOKEN=\([0-9a-f]\{64\}\).*/\1/p' <<<"$pane")
	ro=$(sed -n 's/^ *READONLY_TOKEN=\([0-9a-f]\{64\}\).*/\1/p' <<<"$pane")
	[ -n "$admin" ] && [ -n "$ro" ] || { echo "$pane"; why "tokens not on the done screen"; return 1; }
	tkeys Enter
	tm_wait_line wiz 'SETUP-EXIT=0' 5 || { tm capture-pane -p -t wiz; why "setup did not exit 0"; return 1; }
	tm kill-session -t wiz
	expect_eq "mode" 600 "$(stat -c %a "$f")" || return 1
	check_ok "$f" || return 1
	cat "$f"
	# Enforced against the real dockerd.
	start_private --config "$f" --socket "$DOCKER_SOCK" || return 1
	local img="{\"Image\":\"$IMG\",\"Cmd\":[\"true\"],\"Labels\":{\"dpp-e2e.run\":\"$RUN_ID\"}"
	code=$(req "" GET /_ping)
	expect_eq "no token" "401" "${code%% *}" || return 1
	expect_eq "privileged create" "403 Privileged containers are not allowed" \
		"$(req "$admin" POST /containers/create "$img,\"HostConfig\":{\"Privileged\":true}}")" || return 1
	expect_eq "bind mount create" "403 Bind mounts are not allowed" \
		"$(req "$admin" POST /containers/create "$img,\"HostConfig\":{\"Binds\":[\"/:/host\"]}}")" || return 1
	expect_eq "create as readonly" "403 Admin role required to create containers" \
		"$(req "$ro" POST /containers/create "$img}")" || return 1
	expect_eq "list as readonly" "200 " "$(req "$ro" GET /containers/json)" || return 1
	code=$(req "$admin" POST /containers/create "$img}")
	expect_eq "plain create as admin" "201 " "$code" || return 1
	expect_eq "containers of this run" 1 "$(admin_docker ps -aq --filter "label=dpp-e2e.run=$RUN_ID" | wc -l)" ||
		return 1
	stop_private || return 1
	# The save is in config history with source setup, and the proxy's
	# start on the same file added no second row.
	DOCKER_PROXY_CONFIG=$f "$DPP_BIN" history >"$RUN_DIR/history" 2>&1 || { cat "$RUN_DIR/history"; why "history failed"; return 1; }
	cat "$RUN_DIR/history"
	grep -Eq '^\* 1 +[0-9T:.-]+Z +setup ' "$RUN_DIR/history" || { why "no live setup version in history"; return 1; }
	expect_eq "history rows" 1 "$(grep -Ec '^[ *] [0-9]+ ' "$RUN_DIR/history")" || return 1
}

# On a terminal without any configuration, the proxy offers the wizard.
sc_offer_wizard() {
	mkdir -p "$RUN_DIR/empty"
	tm new-session -d -x 80 -y 24 -s offer "cd '$RUN_DIR/empty' && '$DPP_BIN' --port $(free_port); echo OFFER-EXIT=\$?; sleep 30" ||
		{ why "tmux failed"; return 1; }
	tm_wait_line offer 'Run the setup wizard now' 10 || { tm capture-pane -p -t offer; why "no offer"; return 1; }
	tm send-keys -t offer y Enter
	tm_wait_line offer 'This wizard writes a configuration file' 10 ||
		{ tm capture-pane -p -t offer; why "the wizard did not start"; return 1; }
	tm send-keys -t offer F10
	sleep 0.3
	tm send-keys -t offer y
	tm_wait_line offer 'OFFER-EXIT=1' 10 || { tm capture-pane -p -t offer; why "cancelled wizard did not exit 1"; return 1; }
	tm kill-session -t offer
	[ ! -e "$RUN_DIR/empty/config.yaml" ] || { why "cancelled wizard wrote a file"; return 1; }
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ -n "$SETUP_BROKEN" ] || build_image
[ -x "$DPP_BIN" ] || setup_failed binary "$DPP_BIN not built"

run_scenario setup/list-templates sc_list_templates
run_scenario setup/bad-flags sc_bad_flags
run_scenario setup/each-template-and-all sc_each_template
run_scenario setup/overwrite-needs-force sc_overwrite
run_scenario setup/plain-through-a-pipe sc_plain_pipe
run_scenario setup/tmux-wizard-enforced sc_tmux_wizard
run_scenario setup/offer-without-config sc_offer_wizard
e2e_finish
