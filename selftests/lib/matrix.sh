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
# The pseudo-suite "debug-SUITE" is a kernel built here from SUITE's own
# linux-source package with KASAN, lockdep, kmemleak, UBSAN and more
# (selftests/debug-kernel.config), cached under $CACHE/debug-kernel.  It is
# built and run on the host, like the module built against it.

HOST_SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")
MIRROR=${IVSHMEM_MIRROR:-http://deb.debian.org/debian}
CHROOT_PACKAGES=gcc,make,sparse,libc6-dev,linux-headers-amd64,ca-certificates

# in_suite SUITE CMD...: run CMD on the host or in SUITE's chroot, where the
# build tree and the kernel caches appear at their host paths.  An arm64
# kernel's suite is that of its base suite.
in_suite() {
	local suite=$1
	shift
	is_arm64 "$suite" && suite=$(base_suite "$suite")
	if [ "$suite" = "$HOST_SUITE" ] || is_debug "$suite"; then
		"$@"
	else
		mkdir -p "$CACHE/kernels" "$CACHE/debug-kernel"
		unshare -m --propagation private "$TOP/selftests/lib/chroot-exec" \
			"$CACHE/chroots/$suite" "$BUILD" "$WORK" "$CACHE/kernels" "$CACHE/debug-kernel" \
			-- "$@"
	fi
}

# is_debug SUITE: SUITE is a debug kernel, "debug-" and a suite.
is_debug() {
	[[ $1 == debug-* ]]
}

# ensure_suite SUITE [PACKAGE...]: the suite's chroot exists, its package
# lists are at most a day old, and it has current kernel headers and PACKAGEs.

ensure_suite() {
	local suite=$1 root=$CACHE/chroots/$1
	shift
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

# kernel_apt SUITE COMMAND [ARG...]: apt-get or apt-cache over the package
# lists that hold SUITE's kernels: its chroot's or the host's, or for an
# arm64 kernel, the base suite's arm64 lists.
kernel_apt() {
	local suite=$1
	shift
	if is_arm64 "$suite"; then
		arm64_apt "$(base_suite "$suite")" "$@"
	else
		in_suite "$suite" "$@"
	fi
}

# suite_kernel SUITE: the kernel ABI name (6.12.N+debM-amd64, or -arm64 for
# an arm64 kernel) that the suite's linux-headers metapackage points at.
suite_kernel() {
	local v
	# Lists fetched first, so that a failure to fetch them is what is said.
	if is_arm64 "$1"; then
		arm64_apt "$(base_suite "$1")" apt-cache stats >/dev/null || exit 1
	fi
	if is_debug "$1"; then
		cat "$(debug_kernel_dir "${1#debug-}")/include/config/kernel.release"
		return
	fi
	v=$(suite_metapackage_target "$1")
	# A fresh host may have no package lists yet.
	if [ -z "$v" ] && [ "$1" = "$HOST_SUITE" ]; then
		apt_updated
		v=$(suite_metapackage_target "$1")
	fi
	[ -n "$v" ] || die "cannot resolve the linux-headers metapackage of $1"
	echo "$v"
}

# suite_metapackage_target SUITE: the version linux-headers-amd64 (or
# -arm64) depends on.
suite_metapackage_target() {
	local arch=amd64
	is_arm64 "$1" && arch=arm64
	kernel_apt "$1" apt-cache depends "linux-headers-$arch" 2>/dev/null |
		awk '/Depends: linux-headers-[0-9]/ { sub("linux-headers-", "", $2); print $2; exit }'
}

# fetch_kernel SUITE KVER: unpack the kernel image of linux-image-KVER into
# the cache; print the vmlinuz path.  Newer suites split linux-image-KVER
# into packages it depends on, so those are tried too, smallest first,
# until one holds the image.
fetch_kernel() {
	local suite=$1 kver=$2 dir=$CACHE/kernels/$2 pkg
	if is_debug "$suite"; then
		echo "$(debug_kernel_dir "${suite#debug-}")/arch/x86/boot/bzImage"
		return
	fi
	find_vmlinuz "$dir" "$kver" && return 0
	mkdir -p "$dir"
	for pkg in "linux-image-$kver" $(kernel_parts "$suite" "$kver"); do
		if is_arm64 "$suite"; then
			arm64_download "$(base_suite "$suite")" "$dir" "$pkg"
		else
			in_suite "$suite" sh -c 'cd "$1" && apt-get download "$2"' sh "$dir" "$pkg" \
				>>"$LOGS/download-$kver.log" 2>&1
		fi || die "cannot download $pkg"
		dpkg-deb -x "$dir/$pkg"_*.deb "$dir" || die "cannot unpack $pkg"
		rm -f "$dir"/*.deb
		find_vmlinuz "$dir" "$kver" && return 0
	done
	die "no package of linux-image-$kver holds its vmlinuz"
}

# huge_pfnmap SUITE KVER: "pud" if the kernel can map PFNs with 1 GiB entries,
# read from its configuration, else "none".  huge_test holds the driver to
# it.  The guests' CPU has 1 GiB pages (see boot_guest).
huge_pfnmap() {
	local config
	if is_debug "$1"; then
		config=$(debug_kernel_dir "${1#debug-}")/.config
	else
		config=$(find "$CACHE/kernels/$2" -name "config-$2" -o -path "*/modules/$2/config" |
			head -n 1)
	fi
	if grep -q '^CONFIG_ARCH_SUPPORTS_PUD_PFNMAP=y' "$config" 2>/dev/null; then
		echo pud
	else
		echo none
	fi
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
	for pkg in $(kernel_apt "$1" apt-cache depends "linux-image-$2" |
		awk -v k="$2" '$1 ~ /Depends:/ && index($2, k) { print $2 }'); do
		kernel_apt "$1" apt-cache show "$pkg" |
			awk -v p="$pkg" '/^Size:/ { print $2, p; exit }'
	done | sort -n | awk '{ print $2 }'
}

# Newer kernel Makefiles validate sparse with scripts/checker-valid.sh, which
# Debian's linux-kbuild packages leave out; without it C=2 silently checks
# nothing.  Add a minimal one to our own chroots (never to the host).
# add_checker_script SUITE KDIR
add_checker_script() {
	local suite root scripts
	suite=$(base_suite "$1")
	root=$CACHE/chroots/$suite
	[ "$suite" = "$HOST_SUITE" ] || is_debug "$1" && return 0
	scripts=$(in_suite "$suite" readlink -f "$2/scripts")
	[ -e "$root$scripts/checker-valid.sh" ] && return 0
	cat >"$root$scripts/checker-valid.sh" <<-'EOF'
	#!/bin/sh
	# Added by ivshmem's test runner: prints 1 if the checker runs.
	"$@" -E - </dev/null >/dev/null 2>&1 && echo 1
	EOF
	chmod +x "$root$scripts/checker-valid.sh"
}

# build_module SUITE KVER: build ivshmem.ko for KVER with W=1 and sparse into
# $WORK/kmod/KVER (kbuild takes no path with a space, which the checkout's
# may have), logging to $LOGS/build-module-KVER.log; print its path.  An
# arm64 kernel's module is cross-built (lib/arm64.sh).
build_module() {
	local suite=$1 kver=$2 src=$WORK/kmod/$2 log=$LOGS/build-module-$2.log kdir checker cross=
	rm -rf "$src"
	mkdir -p "$src"
	(cd "$TOP" && cp --parents kernel/*.c kernel/*.h kernel/Kbuild kernel/Makefile \
		kernel/conftest.sh kernel/conftest/*.c uapi/linux/*.h "$src/")
	rm -f "$src/kernel/conftest.h" "$src/kernel/"*.mod.c
	kdir=/usr/src/linux-headers-$kver
	if is_arm64 "$suite"; then
		kdir=$(arm64_headers "$(base_suite "$suite")" "$kver") || exit 1
		cross=CROSS_COMPILE=aarch64-linux-gnu-
		# Newer headers name their own path under /usr/src: here they
		# are in the cache.
		grep -q '^KBUILD_OUTPUT' "$kdir/Makefile" && cross="$cross KBUILD_OUTPUT=$kdir"
	fi
	add_checker_script "$suite" "$kdir"
	checker=C=2
	# A debug kernel is built on the host, whose sparse may be too old
	# for it; the suite's own kernel gets sparse in the suite's chroot.
	is_debug "$suite" && kdir=$(debug_kernel_dir "${suite#debug-}") checker=
	in_suite "$suite" make -C "$src/kernel" KDIR="$kdir" W=1 $checker $cross \
		>"$log" 2>&1 || { cat "$log" >&2; die "module build for $kver failed"; }
	# arm64: the test module that reads memory types from page tables.
	if is_arm64 "$suite"; then
		(cd "$TOP" && cp --parents selftests/kmod/*.c selftests/kmod/Kbuild "$src/")
		in_suite "$suite" make -C "$kdir" M="$src/selftests/kmod" W=1 $checker $cross modules \
			>>"$log" 2>&1 || { cat "$log" >&2; die "test module build for $kver failed"; }
	fi
	echo "$src/kernel/ivshmem.ko"
}

# suite_qemu_version SUITE [TARGET]: "7.2.x" of the suite's
# qemu-system-x86_64 (or qemu-system-TARGET).
suite_qemu_version() {
	in_suite "$1" "qemu-system-${2:-x86_64}" --version |
		awk '/version/ { sub(/^.*version /, ""); print $1; exit }'
}

# private_apt DIR COMMAND [ARG...]: apt-get or apt-cache over the sources in
# DIR/sources.list, with package lists and caches of their own in DIR and
# nothing of the host's configuration or installed packages.
private_apt() {
	local dir=$1 cmd=$2
	shift 2
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
	"$cmd" -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
		-o Dir::State::status=/dev/null "$@"
}

# suite_apt SUITE COMMAND [ARG...]: apt-get or apt-cache over SUITE's package
# lists kept on the host in $CACHE/apt/SUITE (fetched again once a day).
# The debug kernels' sources come through them, so that their builds need
# not wait for the suites' chroots.
suite_apt() {
	local suite=$1 dir=$CACHE/apt/$1
	shift
	if [ ! -e "$dir/.ivshmem-updated" ] || [ -n "$(find "$dir/.ivshmem-updated" -mmin +1440)" ]; then
		mkdir -p "$dir"
		echo "deb $MIRROR $suite main" >"$dir/sources.list"
		private_apt "$dir" apt-get update -q >"$LOGS/apt-update-host-$suite.log" 2>&1 ||
			die "cannot fetch the package lists of $suite: see $LOGS/apt-update-host-$suite.log"
		touch "$dir/.ivshmem-updated"
	fi
	private_apt "$dir" "$@"
}

# debug_source_package SUITE: "linux-source-X.Y VERSION", the kernel source
# package SUITE's linux-source metapackage points at, resolved once a run.
debug_source_package() {
	local pkg memo=$WORK/debug-source.$1
	if [ ! -s "$memo" ]; then
		pkg=$(suite_apt "$1" apt-cache depends linux-source 2>/dev/null |
			awk '/Depends: linux-source-/ { print $2; exit }')
		[ -n "$pkg" ] || die "cannot resolve linux-source in $1"
		echo "$pkg $(suite_apt "$1" apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')" \
			>"$memo"
	fi
	cat "$memo"
}

# debug_kernel_dir SUITE: the build tree of SUITE's debug kernel.  The source
# package's version and a hash of the config fragment name it, so either
# changing rebuilds it.
debug_kernel_dir() {
	local src sum
	src=$(debug_source_package "$1") || exit 1
	sum=$(md5sum <"$TOP/selftests/debug-kernel.config" | cut -c1-8)
	echo "$CACHE/debug-kernel/${src#* }-$sum"
}

# config_has_fragment CONFIG FRAGMENT: every option FRAGMENT sets survived
# olddefconfig; a checker silently dropped (an unmet dependency) fails.
config_has_fragment() {
	local line missing=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*) grep -qxF "$line" "$1" || { echo "missing: $line"; missing=1; } ;;
		esac
	done <"$2"
	return $missing
}

# build_debug_kernel SUITE: build SUITE's debug kernel once, from allnoconfig
# and selftests/debug-kernel.config, and say how long it took.
build_debug_kernel() {
	local suite=$1 dir src pkg log=$LOGS/build-debug-kernel-$1.log start
	dir=$(debug_kernel_dir "$suite") || exit 1
	[ -f "$dir/.ivshmem-ready" ] && return 0
	need_packages bc bison flex libelf-dev libssl-dev xz-utils
	src=$(debug_source_package "$suite") || exit 1
	pkg=${src%% *}
	note "building the $suite debug kernel from $pkg ${src#* } (once; cached in $dir)"
	start=$SECONDS
	rm -rf "$dir" "$dir.deb"
	mkdir -p "$dir" "$dir.deb"
	(cd "$dir.deb" && suite_apt "$suite" apt-get download "$pkg") >"$log" 2>&1 ||
		die "cannot download $pkg from $suite: see $log"
	dpkg-deb --fsys-tarfile "$dir.deb/$pkg"_*.deb | tar -xO "./usr/src/$pkg.tar.xz" |
		tar -xJ -C "$dir" --strip-components=1 || die "cannot unpack $pkg"
	rm -rf "$dir.deb"
	{
		make -C "$dir" allnoconfig &&
		"$dir/scripts/kconfig/merge_config.sh" -m -O "$dir" "$dir/.config" \
			"$TOP/selftests/debug-kernel.config" &&
		make -C "$dir" olddefconfig &&
		config_has_fragment "$dir/.config" "$TOP/selftests/debug-kernel.config" &&
		timeout 3600 make -C "$dir" -j"$(nproc)" bzImage modules
	} >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "$suite debug kernel build failed: see $log"; }
	touch "$dir/.ivshmem-ready"
	note "$suite debug kernel $(cat "$dir/include/config/kernel.release") built in $((SECONDS - start)) s"
}
