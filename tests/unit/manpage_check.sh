#!/bin/sh
# ctest: both man pages are lint-clean (mandoc -T lint), and the long
# options of `--help` and `setup --help` are exactly those the
# docker-policy-proxy(8) page documents.
#
#   manpage_check.sh BINARY MAN8 MAN5
#
# The only mandoc messages tolerated are about this host's manual database
# (a page referenced with .Xr that is not installed here, such as
# docker-policy-proxy.yaml(5) itself before installation).
set -eu
bin=${1:?usage: manpage_check.sh BINARY MAN8 MAN5}
man8=${2:?}
man5=${3:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v mandoc >/dev/null 2>&1 || { echo "SKIP: mandoc is not installed (apt-get install mandoc)"; exit 77; }
fail=0
for page in "$man8" "$man5"; do
	mandoc -T lint "$page" >"$tmp/lint" 2>&1 || true
	grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db' -e 'mandoc.db' \
		"$tmp/lint" >"$tmp/bad" || true
	if [ -s "$tmp/bad" ]; then
		echo "FAIL: mandoc -T lint $page:" >&2
		cat "$tmp/bad" >&2
		fail=1
	fi
	mandoc -T utf8 "$page" >/dev/null 2>&1 || { echo "FAIL: mandoc cannot render $page" >&2; fail=1; }
done

# Long options: from the help texts, and from the page (.Fl -name).
{ "$bin" --help; "$bin" setup --help; } | grep -o -- '--[a-z][a-z-]*' | sort -u >"$tmp/help"
grep -o -- 'Fl -[a-z][a-z-]*' "$man8" | sed 's/^Fl /-/' | sort -u >"$tmp/man"
# A .Fl line may name several options: ".Fl -help | -version".
grep -- '^\.Fl ' "$man8" | grep -o -- ' -[a-z][a-z-]*' | sed 's/^ /-/' | sort -u >>"$tmp/man"
sort -u "$tmp/man" -o "$tmp/man"
if ! diff "$tmp/help" "$tmp/man" >"$tmp/diff"; then
	echo "FAIL: --help and docker-policy-proxy(8) disagree (< only in --help, > only in the page):" >&2
	cat "$tmp/diff" >&2
	fail=1
fi
# Short options too.
for s in c b p s l h V; do
	"$bin" --help | grep -q -- "-$s, --" || { echo "FAIL: -$s missing from --help" >&2; fail=1; }
	grep -q "^\.It Fl $s , Fl -" "$man8" || { echo "FAIL: -$s missing from the page" >&2; fail=1; }
done
[ "$fail" = 0 ] && echo "ok: man pages lint-clean; $(wc -l <"$tmp/help") long options agree"
exit "$fail"
