#!/usr/bin/env bash
# Installation tests. They change the machine (a package, a system user,
# /etc/docker-policy-proxy, /var/lib/docker-policy-proxy) and undo every
# change at the end; they never touch dockerd or the docker group beyond
# adding and removing the service user's membership.
#   1. `cpack -G DEB` builds a package whose Depends come from
#      dpkg-shlibdeps; `dpkg -i` creates the user (in group docker) and the
#      directories; the binary runs --version and --check-config on the
#      shipped example; a reinstall keeps an existing config; the service
#      user reaches Docker through the group; `dpkg --purge` removes it all.
#   2. assets/install.sh runs twice: the first writes the seed installer's
#      configuration and prints the tokens once, says systemd is not running;
#      the second keeps the file and prints no tokens.
# Refuses to run (fails) where docker-policy-proxy is already installed.
#
#   tests/e2e/install_test.sh        # ends with "e2e: N passed, M failed"

# shellcheck disable=SC2016
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PKG=docker-policy-proxy
CONF=/etc/docker-policy-proxy/config.yaml
unset DOCKER_PROXY_SECRET DOCKER_PROXY_CONFIG DOCKER_PROXY_PORT DOCKER_SOCKET DOCKER_PROXY_LOG

installed() { dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; }

# The machine as it was, to compare with at the end.
snapshot() {
	{
		getent group docker | cut -d: -f1,3
		getent passwd "$PKG" || echo "no user"
		ls -d /etc/docker-policy-proxy /var/lib/docker-policy-proxy 2>&1 | sed 's/^ls: //'
		installed && echo installed || echo "not installed"
	} 2>&1
}

restore() {
	if installed || dpkg-query -W "$PKG" >/dev/null 2>&1; then
		dpkg --purge "$PKG" >>"$E2E_LOGDIR/restore.log" 2>&1 || true
	fi
}

sc_deb() {
	local b="$RUN_DIR/build-deb" deb info owner ro_out port pid code
	cmake -S "$E2E_REPO" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
		-DDPP_TESTS=OFF >"$RUN_DIR/cmake.log" 2>&1 &&
		cmake --build "$b" -j2 >>"$RUN_DIR/cmake.log" 2>&1 ||
		{ tail -20 "$RUN_DIR/cmake.log"; why "build failed"; return 1; }
	(cd "$b" && cpack -G DEB) >"$RUN_DIR/cpack.log" 2>&1 || { cat "$RUN_DIR/cpack.log"; why "cpack failed"; return 1; }
	deb=$(ls "$b"/${PKG}_*.deb) || { why "no .deb"; return 1; }
	info=$(dpkg-deb -I "$deb")
	echo "$info"
	# dpkg-shlibdeps found the real libraries.
	for lib in libmicrohttpd12 libyaml-0-2 libcjson1 libpcre2-8-0 libgnutls30 libncursesw6 libsystemd0 adduser; do
		grep -q "Depends:.*$lib" <<<"$info" || { why "Depends lacks $lib"; return 1; }
	done
	dpkg-deb -c "$deb" | grep -E 'usr/bin/docker-policy-proxy$|man8/docker-policy-proxy.8|man5/docker-policy-proxy.yaml.5|systemd/system/docker-policy-proxy.(service|socket)$|config.example.yaml$' |
		wc -l | grep -qx 6 || { dpkg-deb -c "$deb"; why "the package lacks a file"; return 1; }
	dpkg -i "$deb" || { why "dpkg -i failed"; return 1; }
	id "$PKG" || { why "no user $PKG"; return 1; }
	id -nG "$PKG" | grep -qw docker || { why "$PKG is not in group docker"; return 1; }
	owner=$(stat -c '%U:%G %a' /etc/docker-policy-proxy)
	expect_eq "/etc/docker-policy-proxy" "root:$PKG 750" "$owner" || return 1
	expect_eq "/var/lib/docker-policy-proxy" "$PKG:$PKG 750" "$(stat -c '%U:%G %a' /var/lib/docker-policy-proxy)" || return 1
	/usr/bin/docker-policy-proxy --version | grep -q '^docker-policy-proxy ' || { why "--version"; return 1; }
	/usr/bin/docker-policy-proxy --check-config --config /usr/share/doc/$PKG/config.example.yaml >/dev/null ||
		{ why "--check-config refused the shipped example"; return 1; }
	grep -q '^ExecStart=/usr/bin/docker-policy-proxy --headless' /usr/lib/systemd/system/$PKG.service ||
		{ why "unit does not start /usr/bin/docker-policy-proxy"; return 1; }
	# The wizard as root writes the service's file, readable by the service user only.
	ro_out=$(/usr/bin/docker-policy-proxy setup --non-interactive --template block-privileged-containers \
		--socket "$DOCKER_SOCK") || { why "setup as root failed"; return 1; }
	expect_eq "config owner and mode" "$PKG:$PKG 600" "$(stat -c '%U:%G %a' "$CONF")" || return 1
	# The service user reaches Docker through the docker group.
	port=$(free_port)
	runuser -u "$PKG" -- /usr/bin/docker-policy-proxy --headless --config "$CONF" --port "$port" \
		>"$RUN_DIR/svc.log" 2>&1 </dev/null &
	pid=$!
	wait_for 10 grep -q 'listening on' "$RUN_DIR/svc.log" || { cat "$RUN_DIR/svc.log"; why "service user cannot start it"; return 1; }
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(sed -n 's/^ADMIN_TOKEN=//p' <<<"$ro_out")" \
		"http://127.0.0.1:$port/version")
	kill -TERM "$pid"
	wait "$pid"
	expect_eq "GET /version as the service user, admin token" 200 "$code" || { cat "$RUN_DIR/svc.log"; return 1; }
	# A reinstall never overwrites the config.
	local sum
	sum=$(sha256sum <"$CONF")
	dpkg -i "$deb" >/dev/null || { why "reinstall failed"; return 1; }
	expect_eq "config after reinstall" "$sum" "$(sha256sum <"$CONF")" || return 1
	dpkg --purge "$PKG" || { why "purge failed"; return 1; }
	! id "$PKG" 2>/dev/null || { why "user left after purge"; return 1; }
	! getent group "$PKG" || { why "group left after purge"; return 1; }
	[ ! -e /etc/docker-policy-proxy ] && [ ! -e /var/lib/docker-policy-proxy ] && [ ! -e /usr/bin/docker-policy-proxy ] ||
		{ ls -la /etc/docker-policy-proxy /var/lib/docker-policy-proxy 2>&1; why "files left after purge"; return 1; }
}

sc_install_sh_twice() {
	local out1 out2 sum
	out1=$(DPP_INSTALL_BUILD_DIR="$RUN_DIR/build-install" bash "$E2E_REPO/assets/install.sh" 2>&1) ||
		{ echo "$out1"; why "first install.sh run failed"; return 1; }
	echo "$out1"
	grep -Eq '^  ADMIN_TOKEN=[0-9a-f]{64}$' <<<"$out1" && grep -Eq '^  READONLY_TOKEN=[0-9a-f]{64}$' <<<"$out1" ||
		{ why "tokens not printed"; return 1; }
	if [ -d /run/systemd/system ]; then
		grep -q 'started docker-policy-proxy.service' <<<"$out1" || { why "service not started"; return 1; }
	else
		grep -q 'systemd is not running here' <<<"$out1" || { why "no systemd, and install.sh did not say so"; return 1; }
	fi
	expect_eq "rules" 15 "$(grep -c '^- name: ' "$CONF")" || return 1
	/usr/bin/docker-policy-proxy --check-config --config "$CONF" | grep -q '^# 15 rules in evaluation order' ||
		{ why "--check-config of the installed file"; return 1; }
	sum=$(sha256sum <"$CONF")
	out2=$(DPP_INSTALL_BUILD_DIR="$RUN_DIR/build-install" bash "$E2E_REPO/assets/install.sh" 2>&1) ||
		{ echo "$out2"; why "second install.sh run failed"; return 1; }
	echo "$out2"
	grep -q 'kept the existing' <<<"$out2" || { why "second run did not keep the config"; return 1; }
	! grep -q '_TOKEN=' <<<"$out2" || { why "second run printed tokens"; return 1; }
	expect_eq "config after the second run" "$sum" "$(sha256sum <"$CONF")" || return 1
	dpkg --purge "$PKG" >/dev/null || { why "purge failed"; return 1; }
}

e2e_init
ensure_packages
[ -n "$SETUP_BROKEN" ] || ensure_dockerd
[ "$(id -u)" = 0 ] || setup_failed root "the install tests need root"
command -v dpkg >/dev/null || setup_failed dpkg "no dpkg here"
if installed || [ -e /etc/docker-policy-proxy ] || getent passwd "$PKG" >/dev/null; then
	setup_failed machine "$PKG is already installed here (or its user or /etc directory exist): not touching it"
fi
BEFORE=$(snapshot)
if [ -z "$SETUP_BROKEN" ]; then
	trap 'restore; e2e_cleanup' EXIT
fi

run_scenario install/deb-install-purge sc_deb
restore
run_scenario install/install-sh-twice sc_install_sh_twice
restore
sc_restored() {
	expect_eq "machine state after the tests" "$BEFORE" "$(snapshot)" || return 1
	dockerd_up || { why "dockerd does not answer"; return 1; }
}
run_scenario install/machine-restored sc_restored
e2e_finish
