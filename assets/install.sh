#!/bin/bash
# Installs docker-policy-proxy from this checkout, the way docker-proxy's
# installer did from its release: build dependencies, build, install (the
# .deb where dpkg exists), a configuration with the installer's safe
# defaults (tokens for admin and readonly, its 15 rules, 127.0.0.1:2376),
# and the service when systemd runs. Prints what it did and the tokens,
# once. Safe to run again: an existing configuration is kept (no new
# tokens), the package is reinstalled, the service restarted.
#
#   sudo assets/install.sh
#
# Environment: DPP_INSTALL_BUILD_DIR (default build-install), DPP_INSTALL_PORT
# (default 2376), DPP_INSTALL_NO_APT=1 (do not install packages).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

build=${DPP_INSTALL_BUILD_DIR:-build-install}
port=${DPP_INSTALL_PORT:-2376}
conf_dir=/etc/docker-policy-proxy
conf=$conf_dir/config.yaml
done_list=()
did() { done_list+=("$*"); dpp_say "$*"; }

if [ "$(id -u)" != 0 ]; then
	echo "install.sh: run as root (it installs packages, a system user and a service)" >&2
	exit 1
fi

if [ "${DPP_INSTALL_NO_APT:-0}" != 1 ]; then
	# shellcheck disable=SC2086
	dpp_install $DPP_BUILD_PKGS libsystemd-dev dpkg-dev adduser
fi

dpp_say "building into $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	-DDPP_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
did "built $build/docker-policy-proxy ($("$build/docker-policy-proxy" --version))"

if command -v dpkg >/dev/null 2>&1; then
	rm -f "$build"/docker-policy-proxy_*.deb
	(cd "$build" && cpack -G DEB >/dev/null)
	deb=$(ls "$build"/docker-policy-proxy_*.deb)
	dpkg -i "$deb" >/dev/null
	did "installed the package $(basename "$deb") (dpkg -i)"
else
	cmake --install "$build" >/dev/null
	if ! getent passwd docker-policy-proxy >/dev/null; then
		useradd --system --user-group --home-dir /var/lib/docker-policy-proxy \
			--shell /usr/sbin/nologin docker-policy-proxy
	fi
	getent group docker >/dev/null && usermod -a -G docker docker-policy-proxy
	install -d -o root -g docker-policy-proxy -m 0750 "$conf_dir"
	install -d -o docker-policy-proxy -g docker-policy-proxy -m 0750 /var/lib/docker-policy-proxy
	did "installed with cmake --install (no dpkg here); system user docker-policy-proxy"
fi

tokens=""
if [ -e "$conf" ]; then
	did "kept the existing $conf (its tokens are unchanged; docker-policy-proxy setup --force replaces it)"
else
	templates=(block-exec-operations block-docker-build readonly-volumes readonly-networks
		readonly-images block-secrets block-privileged-containers block-host-network
		block-bind-mounts block-host-pid-namespace admin-only-container-lifecycle
		admin-only-create admin-only-delete rate-limit-all)
	args=(setup --non-interactive --bind 127.0.0.1 --port "$port" --auth tokens
		--token-role admin --token-role readonly --output "$conf")
	[ -S /var/run/docker.sock ] && args+=(--socket /var/run/docker.sock)
	for t in "${templates[@]}"; do args+=(--template "$t"); done
	tokens=$(/usr/bin/docker-policy-proxy "${args[@]}")
	did "wrote $conf: tokens for admin and readonly, ${#templates[@]} templates (15 rules), 127.0.0.1:$port"
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable docker-policy-proxy.service >/dev/null 2>&1
	systemctl restart docker-policy-proxy.service
	did "enabled and (re)started docker-policy-proxy.service (systemctl status docker-policy-proxy)"
else
	did "systemd is not running here (no /run/systemd/system): the unit is installed but not" \
		"started; run: docker-policy-proxy --headless --config $conf"
fi

echo
echo "docker-policy-proxy is installed:"
for line in "${done_list[@]}"; do echo "  - $line"; done
if [ -n "$tokens" ]; then
	echo
	echo "The tokens, shown this once (they are in $conf, mode 0600):"
	echo "$tokens" | sed 's/^/  /'
	echo
	echo "Clients send them as a header, e.g. in \$DOCKER_CONFIG/config.json:"
	echo "  {\"HttpHeaders\": {\"Authorization\": \"Bearer <token>\"}}"
fi
echo "Then: DOCKER_HOST=tcp://127.0.0.1:$port docker ps"
