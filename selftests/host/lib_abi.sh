#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libivshmem's ABI as shipped, in KTAP:
#  - the dynamic symbols libivshmem.so.0 defines are exactly those of the
#    version script, each in the node that lists it: LIBIVSHMEM_0.1 as
#    released (pinned), then one node per release, the last named for this
#    one (VERSION of lib/Makefile); every function of libivshmem.h is
#    among them;
#  - "make install" installs everything the installed headers include: a
#    program built with only the installed files and pkg-config compiles,
#    links and runs.
#
# usage: lib_abi.sh TOP BUILD
set -uo pipefail

TOP=$1
BUILD=$2
LIB=$BUILD/lib/libivshmem.so.0
MAP=$TOP/lib/libivshmem.map
# sha256 of the sorted symbols of each released node, as released.
FROZEN="0.1:03fd29dc22b0e52956d9482cf918a6ebf68f980df5ed8cd6b9904afb368b1b05
0.2:59ba3a7a8e58b8708c2cacd2f89930a08c5d88d49e63d4acb5143ccee037bdc8
0.3:401b2275236987f08b2c16a86d33518bb32eb6ba58c665ad003abe2f8e9c7f76"
n=0 failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ivs-libabi.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

echo "TAP version 13"
echo "1..6"
check() { # NAME COMMAND...
	local name=$1 out
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n $name"
	else
		failed=$((failed + 1))
		echo "not ok $n $name"
		printf '%s\n' "$out" | head -n 30 | sed 's/^/# /'
	fi
}

map_symbols() {
	sed -n 's/^[[:space:]]*\(ivshmem_[a-z0-9_]*\);.*/\1/p' "$MAP" | sort
}

exported_symbols_match_the_map() {
	local exported
	exported=$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' |
		sed 's/@.*//' | sort)
	diff -u <(map_symbols) <(echo "$exported")
}

# The nodes: LIBIVSHMEM_0.1, frozen, then one per later release, the last
# named for this release (VERSION of lib/Makefile); every exported symbol
# carries the node that lists it.
version_nodes_name_the_releases() {
	local version node nodes want got
	version=$(sed -n 's/^VERSION := \([0-9]*\)\.\([0-9]*\)\..*/\1.\2/p' "$TOP/lib/Makefile")
	node=LIBIVSHMEM_$version
	nodes=$(grep -o '^LIBIVSHMEM_[0-9.]*' "$MAP")
	[ "$(echo "$nodes" | head -n 1)" = LIBIVSHMEM_0.1 ] &&
		[ "$(echo "$nodes" | tail -n 1)" = "$node" ] &&
		[ "$(echo "$nodes" | sort -u | wc -l)" = "$(echo "$nodes" | wc -l)" ] ||
		{ echo "map nodes '$(echo $nodes)', release node $node"; return 1; }
	want=$(awk '/^LIBIVSHMEM_[0-9.]* *[{]/ { node = $1 }
		/^[[:space:]]*ivshmem_[a-z0-9_]*;/ { s = $1; sub(";", "", s); print s "@@" node }' "$MAP" |
		sort)
	got=$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort)
	diff -u <(echo "$want") <(echo "$got") || return 1
	readelf -d "$LIB" | grep -q 'SONAME.*\[libivshmem\.so\.0\]' || { echo "soname"; return 1; }
}

# The released nodes' symbols are pinned.
released_node_is_unchanged() {
	local node want sum
	while IFS=: read -r node want; do
		sum=$(awk -v n="LIBIVSHMEM_$node" '$1 == n && $2 == "{" { on = 1 } on && /^}/ { exit }
			on && /^[[:space:]]*ivshmem_[a-z0-9_]*;/ { print $1 }' "$MAP" | sort | sha256sum)
		[ "${sum%% *}" = "$want" ] || { echo "LIBIVSHMEM_$node changed"; return 1; }
	done <<<"$FROZEN"
}

header_functions_are_exported() {
	local declared
	declared=$(grep -v '^[[:space:]]*\*' "$TOP/lib/libivshmem.h" |
		grep -o '\bivshmem_[a-z0-9_]*(' | tr -d '(' | sort -u)
	diff -u <(echo "$declared") <(map_symbols | sort -u)
}

install_is_complete() {
	local dest=$TMP/dest cflags libs
	# Installed under a prefix of its own, so that its .pc file is right.
	make -s -C "$TOP/lib" TOP="$TOP" OUTPUT="$BUILD" PREFIX="$dest/usr" install >/dev/null || return 1
	cat >"$TMP/user.c" <<-'EOF'
	#include <stdio.h>
	#include <string.h>
	#include <libivshmem.h>

	int main(void)
	{
		struct ivshmem_server_opts *opts;

		if (ivshmem_server_opts_new(&opts))
			return 1;
		ivshmem_server_opts_free(opts);
		/* From <linux/ivshmem.h>, through libivshmem.h. */
		printf("%d %s\n", IVSHMEM_MAX_VECTORS, ivshmem_irq_mode_name(IVSHMEM_IRQ_HOST_EVENTFD));
		return 0;
	}
	EOF
	cflags=$(PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig pkg-config --cflags libivshmem) ||
		return 1
	libs=$(PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig pkg-config --libs libivshmem) || return 1
	# Nothing from the source tree: only the installed files.
	# shellcheck disable=SC2086
	cc -std=c11 -Wall -Werror $cflags -o "$TMP/user" "$TMP/user.c" $libs || return 1
	[ "$(LD_LIBRARY_PATH=$dest/usr/lib "$TMP/user")" = "256 host-eventfd" ]
}

installed_headers_include_only_installed_or_system_headers() {
	local dest=$TMP/dest h inc bad=0
	for h in $(cd "$dest/usr/include" && find . -name '*.h'); do
		for inc in $(sed -n 's/^#include <\([^>]*\)>.*/\1/p' "$dest/usr/include/$h"); do
			[ -e "$dest/usr/include/$inc" ] && continue
			echo "#include <$inc>" | cc -std=c11 -E -x c - >/dev/null 2>&1 && continue
			echo "$h includes <$inc>, which is not installed"
			bad=1
		done
	done
	return $bad
}

check exported_symbols_match_the_map exported_symbols_match_the_map
check version_nodes_name_the_releases version_nodes_name_the_releases
check released_node_is_unchanged released_node_is_unchanged
check header_functions_are_exported header_functions_are_exported
check install_is_complete install_is_complete
check installed_headers_include_only_installed_or_system_headers \
	installed_headers_include_only_installed_or_system_headers
echo "# Totals: pass:$((n - failed)) fail:$failed xfail:0 xpass:0 skip:0 error:0"
[ "$failed" = 0 ]
