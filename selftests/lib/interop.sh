# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Interoperability with QEMU's own contrib/ivshmem-server and
# contrib/ivshmem-client, built from Debian's qemu source package (bookworm)
# and cached under $CACHE/qemu-contrib (two binaries, about a minute to
# build).  Sourced by run.sh; run_interop_tests runs host/interop_test both
# ways.  qemu_source is shared with lib/qemu-intx.sh.

QEMU_CONTRIB=$CACHE/qemu-contrib
QEMU_SOURCE=$CACHE/qemu-source

# qemu_source DIR LOG: unpack Debian's qemu source package (bookworm) into
# DIR, which is emptied first, and print the path of the tree.  The
# package's files come through a private apt configuration with a deb-src
# line and are downloaded once, into $QEMU_SOURCE.
qemu_source() {
	local dest=$1 log=$2 apt=$QEMU_SOURCE/apt dsc
	need_packages dpkg-dev xz-utils
	dsc=$(find "$QEMU_SOURCE" -maxdepth 1 -name 'qemu_*.dsc' 2>/dev/null | head -n 1)
	if [ -z "$dsc" ] || [ ! -e "$QEMU_SOURCE/.ivshmem-ready" ]; then
		rm -rf "$QEMU_SOURCE"
		mkdir -p "$apt"
		echo "deb-src $MIRROR bookworm main" >"$apt/sources.list"
		{
			private_apt "$apt" apt-get update &&
				(cd "$QEMU_SOURCE" && private_apt "$apt" apt-get source --download-only --only-source qemu)
		} >>"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
		rm -rf "$apt"
		dsc=$(find "$QEMU_SOURCE" -maxdepth 1 -name 'qemu_*.dsc' | head -n 1)
		[ -n "$dsc" ] || { echo "no qemu source in $QEMU_SOURCE" >&2; return 1; }
		touch "$QEMU_SOURCE/.ivshmem-ready"
	fi
	rm -rf "$dest"
	mkdir -p "$(dirname "$dest")"
	dpkg-source --no-check -x "$dsc" "$dest" >>"$log" 2>&1 ||
		{ tail -n 20 "$log" >&2; return 1; }
	echo "$dest"
}

# qemu_source_version: the version of the cached qemu source package
# ("1:7.2+dfsg-7+deb12u18"), empty before the first qemu_source.
qemu_source_version() {
	sed -n 's/^Version: //p' "$QEMU_SOURCE"/qemu_*.dsc 2>/dev/null | head -n 1
}

# Prints the directory holding QEMU's ivshmem-server and ivshmem-client,
# building them first if the cache lacks them (or they no longer run).
qemu_contrib_tools() {
	local dir=$QEMU_CONTRIB log=$LOGS/qemu-contrib.log src
	if "$dir/bin/ivshmem-server" -h >/dev/null 2>&1 &&
		"$dir/bin/ivshmem-client" -h >/dev/null 2>&1; then
		echo "$dir/bin"
		return 0
	fi
	need_packages meson ninja-build libglib2.0-dev dpkg-dev pkg-config python3 gcc flex bison
	note "building QEMU's contrib/ivshmem-server and ivshmem-client (log: $log)"
	rm -rf "$dir/src" "$dir/bin" "$dir/apt"
	mkdir -p "$dir/bin"
	: >"$log"
	src=$(qemu_source "$dir/src" "$log") || return 1
	(
		mkdir -p "$src/build" && cd "$src/build" &&
			../configure --without-default-features --target-list= --disable-system \
				--disable-user --enable-tools &&
			ninja contrib/ivshmem-server/ivshmem-server contrib/ivshmem-client/ivshmem-client
	) >>"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
	cp "$src/build/contrib/ivshmem-server/ivshmem-server" \
		"$src/build/contrib/ivshmem-client/ivshmem-client" "$dir/bin/" || return 1
	# Only the two binaries are kept.
	rm -rf "$dir/src"
	echo "$dir/bin"
}

# The host-peer join storm (host/join_storm.c): 50, 200 and 500 peers join
# our server and QEMU's at once, with 1 and 8 vectors.  The times, peak
# descriptors and CPU of both servers are printed as "# bench:" lines; only
# our server delivering every eventfd is tested.
run_join_storm() {
	local bin
	note "host-peer join storm, our ivshmem-server against QEMU's contrib server (numbers printed; what our server delivers is tested)"
	if ! bin=$(qemu_contrib_tools); then
		result skip "join-storm" "QEMU's contrib/ivshmem-server did not build"
		return
	fi
	run_host_ktap join-storm "$BUILD/selftests/host/join_storm" "$BUILD/ivshmem-server" \
		"$bin/ivshmem-server"
}

# QEMU's client on our server, and libivshmem and ivshmem-ctl on QEMU's
# server; our side again under valgrind.
run_interop_tests() {
	local bin
	note "interoperability with QEMU's contrib/ivshmem-server and ivshmem-client"
	if ! bin=$(qemu_contrib_tools); then
		result fail "interop/build_qemu_contrib_tools" "see $LOGS/qemu-contrib.log"
		return
	fi
	set -- "$bin/ivshmem-server" "$bin/ivshmem-client" "$BUILD/ivshmem-server" \
		"$BUILD/ivshmem-ctl"
	run_host_ktap interop "$BUILD/selftests/host/interop_test" "$@"
	run_host_ktap interop-valgrind valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect "$BUILD/selftests/host/interop_test" "$@"
}
