#!/bin/bash
# Installs what is missing, builds, and runs docker-policy-proxy against the
# local Docker socket. Extra arguments go to the proxy (e.g. --port 2380).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# shellcheck disable=SC2086
dpp_install $DPP_BUILD_PKGS curl
dpp_install_docker_if_absent
dpp_ensure_dockerd /var/log/dpp-dockerd.log
dpp_say "building (build/)"
cmake -S . -B build -DDPP_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
headless=()
[ -t 0 ] && [ -t 1 ] || headless=(--headless)
dpp_say "starting: build/docker-policy-proxy ${headless[*]} $*"
exec build/docker-policy-proxy "${headless[@]}" "$@"
