# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Interoperability with QEMU's own contrib/ivshmem-server and
# contrib/ivshmem-client, built from Debian's qemu source package (bookworm)
# through a private apt configuration with a deb-src line, and cached under
# $CACHE/qemu-contrib (two binaries, about a minute to build).  Sourced by
# run.sh; run_interop_tests runs host/interop_test both ways.

QEMU_CONTRIB=$CACHE/qemu-contrib

# Prints the directory holding QEMU's ivshmem-server and ivshmem-client,
# building them first if the cache lacks them (or they no longer run).
qemu_contrib_tools() {
	local dir=$QEMU_CONTRIB apt log=$LOGS/qemu-contrib.log src
	if "$dir/bin/ivshmem-server" -h >/dev/null 2>&1 &&
		"$dir/bin/ivshmem-client" -h >/dev/null 2>&1; then
		echo "$dir/bin"
		return 0
	fi
	need_packages meson ninja-build libglib2.0-dev dpkg-dev pkg-config python3 gcc flex bison
	note "building QEMU's contrib/ivshmem-server and ivshmem-client (log: $log)"
	apt=$dir/apt
	rm -rf "$dir/src" "$dir/bin" "$apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$dir/src" "$dir/bin"
	echo "deb-src http://deb.debian.org/debian bookworm main" >"$apt/sources.list"
	local opts=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache")
	{
		apt-get "${opts[@]}" update &&
			(cd "$dir/src" && apt-get "${opts[@]}" source --only-source qemu)
	} >"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
	src=$(find "$dir/src" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n 1)
	[ -n "$src" ] || { echo "no qemu source in $dir/src" >&2; return 1; }
	(
		mkdir -p "$src/build" && cd "$src/build" &&
			../configure --without-default-features --target-list= --disable-system \
				--disable-user --enable-tools &&
			ninja contrib/ivshmem-server/ivshmem-server contrib/ivshmem-client/ivshmem-client
	) >>"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
	cp "$src/build/contrib/ivshmem-server/ivshmem-server" \
		"$src/build/contrib/ivshmem-client/ivshmem-client" "$dir/bin/" || return 1
	# Only the two binaries are kept.
	rm -rf "$dir/src" "$apt"
	echo "$dir/bin"
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
