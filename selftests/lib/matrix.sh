# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The kernels and QEMUs of the test matrix, sourced by run.sh.
#
# A "suite" is a Debian release: the host's own (bookworm) or another one
# (trixie, sid) reached through a debootstrap chroot cached under
# $CACHE/chroots.  Each suite gives the matrix its current kernel, resolved
# through the linux-headers-amd64 metapackage, and its QEMU.  Modules are
# built inside the suite that ships the kernel, against its own headers.
#
# The pseudo-suite "debug" is a kernel built here from the host's
# linux-source package with KASAN, lockdep and kmemleak
# (selftests/debug-kernel.config), cached under $CACHE/debug-kernel.

HOST_SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")
MIRROR=${IVSHMEM_MIRROR:-http://deb.debian.org/debian}
CHROOT_PACKAGES=gcc,make,sparse,libc6-dev,linux-headers-amd64,ca-certificates

# in_suite SUITE CMD...: run CMD on the host or in SUITE's chroot, where the
# build tree and the kernel caches appear at their host paths.
in_suite() {
	local suite=$1
	shift
	if [ "$suite" = "$HOST_SUITE" ] || [ "$suite" = debug ]; then
		"$@"
	else
		mkdir -p "$CACHE/kernels" "$CACHE/debug-kernel"
		unshare -m --propagation private "$TOP/selftests/lib/chroot-exec" \
			"$CACHE/chroots/$suite" "$BUILD" "$CACHE/kernels" "$CACHE/debug-kernel" \
			-- "$@"
	fi
}

# ensure_suite SUITE [PACKAGE...]: the suite's chroot exists, its package
# lists are at most a day old, and it has current kernel headers and PACKAGEs.
ensure_suite() {
	local suite=$1 root=$CACHE/chroots/$1
	shift
	if [ "$suite" = debug ]; then
		build_debug_kernel
		return
	fi
	if [ "$suite" = "$HOST_SUITE" ]; then
		(($#)) && need_packages "$@"
		return 0
	fi
	if [ ! -e "$root/.ivshmem-ready" ]; then
		need_packages debootstrap
		note "creating the $suite chroot (cached in $root)"
		rm -rf "$root.tmp"
		debootstrap --variant=minbase --include="$CHROOT_PACKAGES" "$suite" "$root.tmp" \
			"$MIRROR" >"$LOGS/debootstrap-$suite.log" 2>&1 ||
			die "debootstrap $suite failed: see $LOGS/debootstrap-$suite.log"
		rm -rf "$root"
		mv "$root.tmp" "$root"
		touch "$root/.ivshmem-ready" "$root/.ivshmem-updated"
	elif [ -n "$(find "$root/.ivshmem-updated" -mmin +1440)" ]; then
		in_suite "$suite" apt-get update -q >"$LOGS/apt-update-$suite.log" 2>&1 ||
			die "apt-get update in the $suite chroot failed"
		touch "$root/.ivshmem-updated"
	fi
	in_suite "$suite" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends linux-headers-amd64 "$@" \
		>"$LOGS/apt-$suite.log" 2>&1 || die "apt-get install in the $suite chroot failed"
}

# suite_kernel SUITE: the kernel ABI name (6.12.N+debM-amd64) that the suite's
# linux-headers-amd64 metapackage points at.
suite_kernel() {
	local v
	if [ "$1" = debug ]; then
		cat "$(debug_kernel_dir)/include/config/kernel.release"
		return
	fi
	v=$(suite_metapackage_target "$1")
	# A fresh host may have no package lists yet.
	if [ -z "$v" ] && [ "$1" = "$HOST_SUITE" ]; then
		apt_updated
		v=$(suite_metapackage_target "$1")
	fi
	[ -n "$v" ] || die "cannot resolve linux-headers-amd64 in $1"
	echo "$v"
}

# suite_metapackage_target SUITE: the version linux-headers-amd64 depends on.
suite_metapackage_target() {
	in_suite "$1" apt-cache depends linux-headers-amd64 2>/dev/null |
		awk '/Depends: linux-headers-[0-9]/ { sub("linux-headers-", "", $2); print $2; exit }'
}

# fetch_kernel SUITE KVER: unpack the kernel image of linux-image-KVER into
# the cache; print the vmlinuz path.  Newer suites split linux-image-KVER
# into packages it depends on, so those are tried too, smallest first,
# until one holds the image.
fetch_kernel() {
	local suite=$1 kver=$2 dir=$CACHE/kernels/$2 pkg
	if [ "$suite" = debug ]; then
		echo "$(debug_kernel_dir)/arch/x86/boot/bzImage"
		return
	fi
	find_vmlinuz "$dir" "$kver" && return 0
	mkdir -p "$dir"
	for pkg in "linux-image-$kver" $(kernel_parts "$suite" "$kver"); do
		in_suite "$suite" sh -c 'cd "$1" && apt-get download "$2"' sh "$dir" "$pkg" \
			>>"$LOGS/download-$kver.log" 2>&1 || die "cannot download $pkg"
		dpkg-deb -x "$dir/$pkg"_*.deb "$dir" || die "cannot unpack $pkg"
		rm -f "$dir"/*.deb
		find_vmlinuz "$dir" "$kver" && return 0
	done
	die "no package of linux-image-$kver holds its vmlinuz"
}

# find_vmlinuz DIR KVER: print the kernel image unpacked in DIR, if any:
# /boot/vmlinuz-KVER, or /usr/lib/modules/KVER/vmlinuz in newer packages.
find_vmlinuz() {
	local f
	for f in "$1/boot/vmlinuz-$2" "$1/usr/lib/modules/$2/vmlinuz"; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# kernel_parts SUITE KVER: the packages named after KVER that linux-image-KVER
# depends on, smallest first.
kernel_parts() {
	local pkg
	for pkg in $(in_suite "$1" apt-cache depends "linux-image-$2" |
		awk -v k="$2" '$1 ~ /Depends:/ && index($2, k) { print $2 }'); do
		in_suite "$1" apt-cache show "$pkg" |
			awk -v p="$pkg" '/^Size:/ { print $2, p; exit }'
	done | sort -n | awk '{ print $2 }'
}

# Newer kernel Makefiles validate sparse with scripts/checker-valid.sh, which
# Debian's linux-kbuild packages leave out; without it C=2 silently checks
# nothing.  Add a minimal one to our own chroots (never to the host).
add_checker_script() {
	local suite=$1 kver=$2 root=$CACHE/chroots/$1 scripts
	[ "$suite" = "$HOST_SUITE" ] || [ "$suite" = debug ] && return 0
	scripts=$(in_suite "$suite" readlink -f "/usr/src/linux-headers-$kver/scripts")
	[ -e "$root$scripts/checker-valid.sh" ] && return 0
	cat >"$root$scripts/checker-valid.sh" <<-'EOF'
	#!/bin/sh
	# Added by ivshmem's test runner: prints 1 if the checker runs.
	"$@" -E - </dev/null >/dev/null 2>&1 && echo 1
	EOF
	chmod +x "$root$scripts/checker-valid.sh"
}

# build_module SUITE KVER: build ivshmem.ko for KVER with W=1 and sparse into
# $BUILD/kmod/KVER, logging to $LOGS/build-module-KVER.log; print its path.
build_module() {
	local suite=$1 kver=$2 src=$BUILD/kmod/$2 log=$LOGS/build-module-$2.log kdir
	rm -rf "$src"
	mkdir -p "$src"
	(cd "$TOP" && cp --parents kernel/*.c kernel/*.h kernel/Kbuild kernel/Makefile \
		kernel/conftest.sh kernel/conftest/*.c uapi/linux/*.h "$src/")
	rm -f "$src/kernel/conftest.h" "$src/kernel/"*.mod.c
	add_checker_script "$suite" "$kver"
	kdir=/usr/src/linux-headers-$kver
	[ "$suite" = debug ] && kdir=$(debug_kernel_dir)
	in_suite "$suite" make -C "$src/kernel" KDIR="$kdir" W=1 C=2 \
		>"$log" 2>&1 || { cat "$log" >&2; die "module build for $kver failed"; }
	echo "$src/kernel/ivshmem.ko"
}

# suite_qemu_version SUITE: "7.2.x" of the suite's qemu-system-x86_64.
suite_qemu_version() {
	in_suite "$1" qemu-system-x86_64 --version |
		awk '/version/ { sub(/^.*version /, ""); print $1; exit }'
}

# The build tree of the debug kernel: the host's linux-source version and
# a hash of the config fragment name it, so either changing rebuilds it.
debug_kernel_dir() {
	local pkg sum
	pkg=$(apt-cache depends linux-source 2>/dev/null |
		awk '/Depends: linux-source-/ { print $2; exit }')
	sum=$(cat "$TOP/selftests/debug-kernel.config" | md5sum | cut -c1-8)
	echo "$CACHE/debug-kernel/$(apt-cache policy "$pkg" |
		awk '/Candidate:/ { print $2 }')-$sum"
}

# Build the debug kernel once (about 20 minutes on two cores).
build_debug_kernel() {
	local dir pkg log=$LOGS/build-debug-kernel.log
	dir=$(debug_kernel_dir)
	[ -f "$dir/.ivshmem-ready" ] && return 0
	need_packages linux-source bc bison flex libelf-dev libssl-dev xz-utils
	pkg=$(apt-cache depends linux-source | awk '/Depends: linux-source-/ { print $2; exit }')
	note "building the debug kernel from $pkg (once; cached in $dir)"
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -xJf "/usr/src/$pkg.tar.xz" -C "$dir" --strip-components=1 ||
		die "cannot unpack /usr/src/$pkg.tar.xz"
	{
		make -C "$dir" defconfig &&
		"$dir/scripts/kconfig/merge_config.sh" -m -O "$dir" "$dir/.config" \
			"$TOP/selftests/debug-kernel.config" &&
		make -C "$dir" olddefconfig &&
		make -C "$dir" -j"$(nproc)" bzImage modules
	} >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "debug kernel build failed: see $log"; }
	touch "$dir/.ivshmem-ready"
}
