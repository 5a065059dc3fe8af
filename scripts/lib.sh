# Shared by run.sh and test.sh: package installation and the Docker daemon.
# shellcheck shell=bash

dpp_say() { printf '==> %s\n' "$*" >&2; }

# Build dependencies (Debian 12 package names).
DPP_BUILD_PKGS="build-essential cmake pkg-config libmicrohttpd-dev libyaml-dev libcjson-dev
 libpcre2-dev libgnutls28-dev libsqlite3-dev libncurses-dev libhttp-parser-dev libsystemd-dev"
# Test dependencies: unit tests, fuzzers, real clients for the end-to-end tests.
DPP_TEST_PKGS="libcmocka-dev clang libclang-rt-14-dev busybox-static python3-docker curl tmux
 gnutls-bin python3-prometheus-client socat mandoc dpkg-dev fakeroot adduser systemd sqlite3 wrk"

dpp_apt_updated=0
# Installs the packages of "$@" that are not installed yet.
dpp_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		dpp_say "missing packages: ${missing[*]} (run as root, or install them yourself)"
		return 1
	fi
	if [ "$dpp_apt_updated" = 0 ]; then
		dpp_say "apt-get update"
		apt-get update -qq
		dpp_apt_updated=1
	fi
	dpp_say "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Debian's docker.io only when no Docker engine is installed at all (a host
# with Docker CE keeps it).
dpp_install_docker_if_absent() {
	if command -v dockerd >/dev/null 2>&1; then
		return 0
	fi
	dpp_say "no Docker engine installed: installing Debian's docker.io"
	dpp_install docker.io
}

dpp_docker_answers() {
	curl -fsS --max-time 3 --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1
}

# Starts dockerd in the background when none answers. Sets DPP_STARTED_DOCKERD
# to its pid when we started it, so callers stop only what they started.
DPP_STARTED_DOCKERD=""
dpp_ensure_dockerd() {
	local log=${1:-/tmp/dpp-dockerd.log} i
	dpp_docker_answers && return 0
	dpp_say "no Docker daemon answers on /var/run/docker.sock: starting dockerd (log: $log)"
	dockerd >"$log" 2>&1 &
	DPP_STARTED_DOCKERD=$!
	for i in $(seq 1 120); do
		dpp_docker_answers && { dpp_say "dockerd is up (pid $DPP_STARTED_DOCKERD)"; return 0; }
		kill -0 "$DPP_STARTED_DOCKERD" 2>/dev/null || break
		sleep 0.5
	done
	dpp_say "dockerd did not come up; last lines of $log:"
	tail -20 "$log" >&2
	return 1
}

dpp_stop_dockerd_if_started() {
	[ -n "$DPP_STARTED_DOCKERD" ] || return 0
	dpp_say "stopping the dockerd we started (pid $DPP_STARTED_DOCKERD)"
	kill -TERM "$DPP_STARTED_DOCKERD" 2>/dev/null || true
	for _ in $(seq 1 60); do
		kill -0 "$DPP_STARTED_DOCKERD" 2>/dev/null || break
		sleep 0.5
	done
	DPP_STARTED_DOCKERD=""
}
