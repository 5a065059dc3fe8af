#!/bin/sh
# ctest: the systemd units pass `systemd-analyze verify`, the service is
# Type=notify with the hardened sandbox, and `systemd-analyze security`
# rates it at most 2.0 ("OK"). Works without a running systemd (--offline,
# units verified as files; ExecStart pointed at the built binary).
#
#   systemd_verify.sh BINARY SERVICE SOCKET
set -eu
bin=${1:?usage: systemd_verify.sh BINARY SERVICE SOCKET}
service=${2:?}
socket=${3:?}
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#^ExecStart=[^ ]*#ExecStart=$bin#" "$service" >"$tmp/docker-policy-proxy.service"
cp "$socket" "$tmp/docker-policy-proxy.socket"
fail=0
# --man=no: the pages are not installed at build time (manpage_check.sh
# checks them).
if ! (cd "$tmp" && systemd-analyze verify --man=no ./docker-policy-proxy.service \
	./docker-policy-proxy.socket) >"$tmp/verify" 2>&1; then
	echo "FAIL: systemd-analyze verify:" >&2
	cat "$tmp/verify" >&2
	fail=1
fi
for d in Type=notify ExecReload= User=docker-policy-proxy SupplementaryGroups=docker \
	NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	ReadWritePaths=/var/lib/docker-policy-proxy RuntimeDirectory=docker-policy-proxy \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'CapabilityBoundingSet=$' \
	SystemCallFilter=@system-service '--headless'; do
	grep -q -- "$d" "$service" || { echo "FAIL: $service lacks $d" >&2; fail=1; }
done
(cd "$tmp" && systemd-analyze security --offline=yes --no-pager ./docker-policy-proxy.service) \
	>"$tmp/security" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for docker-policy-proxy.service: \([0-9.]*\).*/\1/p' "$tmp/security")
if [ -z "$score" ]; then
	echo "FAIL: no exposure score from systemd-analyze security:" >&2
	cat "$tmp/security" >&2
	fail=1
elif ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
	echo "FAIL: exposure score $score is above 2.0" >&2
	grep '✗' "$tmp/security" >&2 || true
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: units verify; systemd-analyze security exposure $score"
exit "$fail"
