#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# libivshmem's ABI as shipped, in KTAP:
#  - the dynamic symbols libivshmem.so.0 defines are exactly those of the
#    version script, all in its one node, named for the release (VERSION
#    of lib/Makefile), and every function of libivshmem.h is among them;
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
n=0 failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ivs-libabi.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

echo "TAP version 13"
echo "1..5"
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

version_node_names_the_release() {
	local version node nodes
	version=$(sed -n 's/^VERSION := \([0-9]*\)\.\([0-9]*\)\..*/\1.\2/p' "$TOP/lib/Makefile")
	node=LIBIVSHMEM_$version
	nodes=$(grep -o '^LIBIVSHMEM_[0-9.]*' "$MAP" | sort -u)
	[ "$nodes" = "$node" ] || { echo "map nodes '$nodes', release node $node"; return 1; }
	# Every exported symbol carries the node.
	nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^LIBIVSHMEM/ { print $3 }' |
		grep -v "@@$node\$" && return 1
	readelf -d "$LIB" | grep -q 'SONAME.*\[libivshmem\.so\.0\]' || { echo "soname"; return 1; }
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
	make -s -C "$TOP/lib" OUTPUT="$BUILD" PREFIX="$dest/usr" install >/dev/null || return 1
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
check version_node_names_the_release version_node_names_the_release
check header_functions_are_exported header_functions_are_exported
check install_is_complete install_is_complete
check installed_headers_include_only_installed_or_system_headers \
	installed_headers_include_only_installed_or_system_headers
echo "# Totals: pass:$((n - failed)) fail:$failed xfail:0 xpass:0 skip:0 error:0"
[ "$failed" = 0 ]
