#!/bin/sh
# ctest: the seed's example config FILE (tests/fixtures/seed/, copied
# unchanged from docker-proxy's documentation) passes --check-config, and the
# printed rule set holds every rule of the file.
#
#   seed_check_config.sh BINARY FILE
#
# The tokens the examples reference come from the environment, as the seed
# reads them. 06-mtls.yaml names placeholder certificate paths: a copy with
# test certificates (tests/unit/make_certs.sh) in their place is checked.
set -eu

bin=${1:?usage: seed_check_config.sh BINARY FILE}
file=${2:?usage: seed_check_config.sh BINARY FILE}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export ADMIN_TOKEN=seed-admin-token-0123456789abcdef
export READONLY_TOKEN=seed-readonly-token-0123456789abcdef
unset DOCKER_PROXY_SECRET DOCKER_PROXY_CONFIG DOCKER_PROXY_PORT DOCKER_PROXY_SOCKET || true
# Only where the file asks for it: with auth.type none the proxy refuses a
# configured shared secret as contradictory.
if grep -q 'DOCKER_PROXY_SECRET' "$file"; then
	export DOCKER_PROXY_SECRET=seed-shared-secret-0123456789abcdef
fi

cfg=$file
placeholders='^ *\(cert\|key\|client_ca\): */etc/docker-proxy/'
if grep -q "$placeholders" "$file"; then
	sh "$here/make_certs.sh" "$tmp/certs"
	sed -e "s#/etc/docker-proxy/server-key.pem#$tmp/certs/server.key#" \
	    -e "s#/etc/docker-proxy/server.pem#$tmp/certs/server.pem#" \
	    -e "s#/etc/docker-proxy/ca.pem#$tmp/certs/ca.pem#" "$file" >"$tmp/config.yaml"
	if grep -q "$placeholders" "$tmp/config.yaml"; then
		echo "FAIL: a placeholder path was not replaced" >&2
		exit 1
	fi
	cfg=$tmp/config.yaml
fi

rc=0
"$bin" --check-config --config "$cfg" >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: --check-config exited $rc for $file" >&2
	cat "$tmp/err" "$tmp/out" >&2
	exit 1
fi
# Every rule of the file, in the printed (seed syntax) rule set.
want=$(grep -c '^  - name:' "$file" || true)
if ! grep -q "^# $want rules\{0,1\} in evaluation order" "$tmp/out"; then
	echo "FAIL: expected $want rules in the output of $file" >&2
	cat "$tmp/out" >&2
	exit 1
fi
for name in $(sed -n 's/^  - name: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$file"); do
	if ! grep -q "^  - name: \"$name\"\$" "$tmp/out"; then
		echo "FAIL: rule $name missing from the output" >&2
		cat "$tmp/out" >&2
		exit 1
	fi
done
if grep -i 'error' "$tmp/err"; then
	echo "FAIL: errors reported for $file" >&2
	exit 1
fi
echo "ok: $file ($want rules)"
