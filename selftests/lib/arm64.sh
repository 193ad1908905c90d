# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# arm64 guests, sourced by run.sh.
#
# The kernel "arm64-SUITE" of the matrix is SUITE's current arm64 kernel,
# resolved through its linux-headers-arm64 metapackage, booted under
# qemu-system-aarch64 -M virt (PCIe, GICv3 with its ITS, so MSI-X works)
# under TCG.  Nothing arm64 runs on the host:
# - the module is cross-built where SUITE's amd64 module is built (the host
#   or SUITE's chroot) by the cross compiler Debian's arm64 headers name,
#   against those headers unpacked into the kernel's cache beside a link to
#   the amd64 kbuild tools of the same version;
# - user space is cross-built once, statically, with the host's
#   gcc-aarch64-linux-gnu against the host suite's arm64 libnl unpacked into
#   the cache, and the compat tests with gcc-arm-linux-gnueabihf.
# Package lists of the arm64 architecture are kept in $CACHE/apt/SUITE-arm64.

ARM64_QEMU=${IVSHMEM_ARM64_QEMU:-$HOST_SUITE}
ARM64_SYSROOT=$CACHE/arm64/sysroot-$HOST_SUITE

is_arm64() {
	[[ $1 == arm64-* ]]
}

# base_suite SUITE: the Debian suite a kernel of the matrix comes from.
base_suite() {
	local s=${1#debug-}
	echo "${s#arm64-}"
}

# arm64_apt SUITE COMMAND [ARG...]: apt-get or apt-cache over SUITE's arm64
# package lists.  The host's own suite reads the host's sources (its kernel
# comes from the security archive), another suite those of its chroot.
arm64_apt() {
	local suite=$1 dir=$CACHE/apt/$1-arm64 cmd=$2 parts=/dev/null
	shift 2
	mkdir -p "$dir"
	if [ "$suite" = "$HOST_SUITE" ]; then
		cp /etc/apt/sources.list "$dir/sources.list" 2>/dev/null || : >"$dir/sources.list"
		parts=/etc/apt/sources.list.d
	else
		echo "deb $MIRROR $suite main" >"$dir/sources.list"
	fi
	if [ ! -e "$dir/.ivshmem-updated" ] || [ -n "$(find "$dir/.ivshmem-updated" -mmin +1440)" ]; then
		private_apt "$dir" apt-get -o Dir::Etc::SourceParts="$parts" \
			-o APT::Architecture=arm64 -o APT::Architectures::=arm64 update -q \
			>"$LOGS/apt-update-$suite-arm64.log" 2>&1 ||
			die "cannot fetch the arm64 package lists of $suite: see $LOGS/apt-update-$suite-arm64.log"
		touch "$dir/.ivshmem-updated"
	fi
	private_apt "$dir" "$cmd" -o Dir::Etc::SourceParts="$parts" \
		-o APT::Architecture=arm64 -o APT::Architectures::=arm64 "$@"
}

# arm64_download SUITE DIR PACKAGE...: the arm64 .debs of PACKAGEs in DIR.
arm64_download() {
	local suite=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	(cd "$dir" && arm64_apt "$suite" apt-get download "$@") >>"$LOGS/download-arm64.log" 2>&1
}

# arm64_headers SUITE KVER: Debian's arm64 headers of KVER unpacked into the
# kernel's cache, their kbuild tools linked to the amd64 ones of the same
# version, installed in SUITE (the host or its chroot) at exactly the
# versions the headers depend on, with the cross compiler they name; print
# the headers' directory.
arm64_headers() {
	local suite=$1 kver=$2 dir=$CACHE/kernels/$2 hdr deb kbuild gcc pins
	hdr=$dir/usr/src/linux-headers-$kver
	if [ ! -e "$hdr/.ivshmem-ready" ]; then
		arm64_download "$suite" "$dir/debs" "linux-headers-$kver" ||
			die "cannot download linux-headers-$kver"
		deb=$(echo "$dir/debs/linux-headers-${kver}"_*.deb)
		dpkg-deb -x "$deb" "$dir" || die "cannot unpack linux-headers-$kver"
		dpkg-deb -f "$deb" Depends >"$hdr/.ivshmem-depends"
		rm -rf "$dir/debs"
		touch "$hdr/.ivshmem-ready"
	fi
	# scripts -> ../../lib/linux-kbuild-X/scripts: the amd64 tools of X.
	kbuild=$(readlink "$hdr/scripts" | sed -n 's|^\.\./\.\./lib/\(linux-kbuild-[^/]*\)/scripts$|\1|p')
	[ -n "$kbuild" ] || die "linux-headers-$kver: no linux-kbuild link in scripts"
	mkdir -p "$dir/usr/lib"
	ln -sfn "/usr/lib/$kbuild" "$dir/usr/lib/$kbuild"
	# CC = $(CROSS_COMPILE)gcc-N in the headers' .kernelvariables.
	gcc=$(sed -n 's/^CC *=.*(CROSS_COMPILE)\(gcc-[0-9]*\).*/\1/p' "$hdr/.kernelvariables")
	[ -n "$gcc" ] || die "linux-headers-$kver: no compiler named in .kernelvariables"
	# The kbuild tools and the common headers they depend on: "P (= V)"
	# as P=V, P with any other or no version as P.
	pins=$(tr ',' '\n' <"$hdr/.ivshmem-depends" |
		sed -n -e 's/^ *\(linux-kbuild-[^ ]*\|linux-headers-[^ ]*-common\) (= \([^)]*\)).*/\1=\2/p' \
			-e 't' -e 's/^ *\(linux-kbuild-[^ ]*\|linux-headers-[^ ]*-common\)\( .*\)\{0,1\}$/\1/p')
	# shellcheck disable=SC2086 # one word per package
	install_exact "$suite" "$gcc-aarch64-linux-gnu" $pins ||
		die "cannot install $gcc-aarch64-linux-gnu and $(echo $pins) in $suite: see $LOGS/apt-$suite.log"
	echo "$hdr"
}

# install_exact SUITE PACKAGE[=VERSION]...: PACKAGEs installed on the host
# or in SUITE's chroot, at VERSION where given; the package lists are
# fetched again once if they lack one (a kernel newer than they are).
install_exact() {
	local suite=$1 spec have missing=() try
	shift
	for spec; do
		have=$(in_suite "$suite" dpkg-query -W -f='${db:Status-Status} ${Version}' "${spec%%=*}" \
			2>/dev/null)
		case $spec in
		*=*) [ "$have" = "installed ${spec#*=}" ] && continue ;;
		*) [[ $have == "installed "* ]] && continue ;;
		esac
		missing+=("$spec")
	done
	((${#missing[@]})) || return 0
	note "installing ${missing[*]}${suite:+ ($suite)}"
	for try in 1 2; do
		in_suite "$suite" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends -o DPkg::Lock::Timeout=1200 "${missing[@]}" \
			>>"$LOGS/apt-$suite.log" 2>&1 && return 0
		[ $try = 1 ] && in_suite "$suite" apt-get update -q -o DPkg::Lock::Timeout=1200 \
			>>"$LOGS/apt-$suite.log" 2>&1
	done
	return 1
}

# arm64_busybox: a static arm64 busybox, from the host suite, cached.
arm64_busybox() {
	local dir=$CACHE/arm64/busybox
	if [ ! -x "$dir/bin/busybox" ]; then
		rm -rf "$dir"
		arm64_download "$HOST_SUITE" "$dir.debs" busybox-static ||
			die "cannot download arm64 busybox-static"
		dpkg-deb -x "$dir.debs"/busybox-static_*.deb "$dir.root" || die "cannot unpack busybox-static"
		mkdir -p "$dir/bin"
		find "$dir.root" -path '*/bin/busybox' -type f -exec cp {} "$dir/bin/busybox" \;
		rm -rf "$dir.debs" "$dir.root"
		[ -x "$dir/bin/busybox" ] || die "no busybox in arm64 busybox-static"
	fi
	echo "$dir/bin/busybox"
}

# arm64_sysroot: the host suite's arm64 libnl (headers, static libraries,
# pkg-config files) unpacked into $ARM64_SYSROOT.
arm64_sysroot() {
	local lib=$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu
	[ -e "$ARM64_SYSROOT/.ivshmem-ready" ] && return 0
	rm -rf "$ARM64_SYSROOT" "$ARM64_SYSROOT.debs"
	arm64_download "$HOST_SUITE" "$ARM64_SYSROOT.debs" libnl-3-dev libnl-genl-3-dev ||
		die "cannot download arm64 libnl"
	for deb in "$ARM64_SYSROOT.debs"/*.deb; do
		dpkg-deb -x "$deb" "$ARM64_SYSROOT" || die "cannot unpack $deb"
	done
	rm -rf "$ARM64_SYSROOT.debs"
	# Older suites keep the static libraries in /lib, where pkg-config's
	# -L does not look.
	mkdir -p "$lib"
	find "$ARM64_SYSROOT/lib" -name '*.a' -exec mv -t "$lib" {} + 2>/dev/null
	ls "$lib"/libnl-genl-3.a >/dev/null || die "no static libnl-genl-3 in arm64 libnl"
	touch "$ARM64_SYSROOT/.ivshmem-ready"
}

# build_userspace_arm64: the guests' programs for arm64 in $BUILD/arm64
# (the compat ones for 32-bit Arm).
build_userspace_arm64() {
	local out=$BUILD/arm64 log=$LOGS/build-arm64.log
	need_packages gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf \
		libc6-dev-armhf-cross qemu-system-arm
	arm64_sysroot
	(
		export PKG_CONFIG_SYSROOT_DIR=$ARM64_SYSROOT
		export PKG_CONFIG_LIBDIR=$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig
		cross=(CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar SYSTEMD_LIBS=)
		make -C "$TOP/tools" TOP="$TOP" OUTPUT="$out" "${cross[@]}" \
			"$out/guest-bin/ivshmem-ctl" "$out/guest-bin/ivshmem-demo" &&
		make -C "$TOP/selftests" TOP="$TOP" BUILD="$out" "${cross[@]}" \
			CC32=arm-linux-gnueabihf-gcc guest
	) >"$log" 2>&1 || die "arm64 user space build failed: see $log"
}

# arm64_qemu_args: what an arm64 guest's QEMU is given before the devices:
# the virt board with GICv3 and its ITS, a CPU with every feature TCG has
# (pointer authentication with QEMU's cheaper algorithm), the kernel's
# console on the PL011 and the KTAP on a PCI serial port.  GUEST_CPUS vCPUs,
# each a host thread of its own when there are several.
arm64_qemu_args() {
	local logs=$1 accel=tcg
	((${GUEST_CPUS:-1} > 1)) && accel=tcg,thread=multi
	printf '%s\n' -machine virt,gic-version=3,its=on -accel "$accel" \
		-cpu max,pauth-impdef=on -m 512 -smp "${GUEST_CPUS:-1}" \
		-chardev "file,id=console,append=on,path=$logs/console.log" -serial chardev:console \
		-chardev "file,id=ktap,append=on,path=$logs/ktap.log" \
		-device pci-serial,chardev=ktap,addr=1f
}

# Mixed architectures: guest A of SUITE's arm64 kernel and guest B of an
# x86-64 kernel (the same suite's if the run has it, else the first) on one
# ivshmem-server ring each other (pair_test) and exchange 100,000 messages
# each way through channels, checksummed (chan_test).
run_mixed_guests() {
	local mem srv pids=() x86
	x86=$(mixed_partner) || { echo "mixed-architecture pair of $KVER (no x86-64 kernel)" \
		>>"$WORK/unfinished"; return 0; }
	mem=$(new_memfile mixed $seed) || exit 1
	start_server mixed "$mem"
	srv=$SERVER_PID
	set -- ivt_run=pair_test,chan_test ivt_storm_messages=0 ivt_vectors=$VECTORS
	boot_guest mixed-a "$* ivt_role=a $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 &
	pids+=($!)
	(
		load_kernel "$x86" || exit 1
		GUEST_ARCH=x86_64
		ensure_accel
		QEMU_SUITE=$HOST_SUITE boot_guest mixed-b "$* ivt_role=b $(common_append $seed)" \
			-chardev socket,id=ivs,path="$SOCK" \
			-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4
	) &
	pids+=($!)
	wait "${pids[@]}"
	stop_server $srv
	collect_guest mixed-a
	collect_guest mixed-b
}

# mixed_partner: the x86-64 kernel of the matrix for the mixed pair.
mixed_partner() {
	local suite want
	want=$(base_suite "$ARM64_SUITE")
	for suite in "$want" "${plain[@]}"; do
		is_arm64 "$suite" && continue
		[ -f "$WORK/kernel.$suite" ] && { echo "$suite"; return 0; }
	done
	return 1
}

# The arm64 kernels whose module the static stage builds without booting
# them (the guests of the opt-in arm64 tier boot them): the module, its
# conftest and the test module with -Werror, W=1 and sparse.
# Only in a run with arm64 guests: an x86-only run needs no cross compiler.
ARM64_BUILD_ONLY=${IVSHMEM_ARM64_BUILD_ONLY-bookworm trixie}

check_arm64_module_builds() {
	local suite
	[[ " $KERNEL_SUITES " == *" arm64-"* ]] || return 0
	for suite in $ARM64_BUILD_ONLY; do
		[[ " $KERNEL_SUITES " == *" arm64-$suite "* ]] && continue
		run_part "static/arm64-$suite" build_arm64_module_only "$suite"
	done
}

build_arm64_module_only() {
	local suite=$1 kver
	ensure_suite "$suite"
	kver=$(suite_kernel "arm64-$suite") || exit 1
	build_module "arm64-$suite" "$kver" >/dev/null || exit 1
	check_module_log "$kver" "arm64-$suite"
}

# libivshmem's host-peer tests and the channels' host tests built for arm64
# and run under qemu-user (qemu-aarch64) against the host's ivshmem-server,
# with the arm64 ivshmem-ctl: the library's arm64 code against a server and
# peers of another architecture.  The guests run the rest of user space.
run_arm64_host_tests() {
	local out=$BUILD/arm64 ctl=$WORK/arm64-ivshmem-ctl log=$LOGS/build-arm64-host.log
	need_packages qemu-user
	build_userspace_arm64
	(
		export PKG_CONFIG_SYSROOT_DIR=$ARM64_SYSROOT
		export PKG_CONFIG_LIBDIR=$ARM64_SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig
		cross=(CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar SYSTEMD_LIBS=)
		make -C "$TOP/tools" TOP="$TOP" OUTPUT="$out" "${cross[@]}" LDFLAGS=-static \
			"$out/ivshmem-ctl" &&
		make -C "$TOP/selftests" TOP="$TOP" BUILD="$out" "${cross[@]}" CFLAGS="-O2 -g -static" \
			"$out/selftests/host/lib_host_test" "$out/selftests/host/chan_host_test"
	) >"$log" 2>&1 || die "arm64 host test build failed: see $log"
	printf '#!/bin/sh\nexec qemu-aarch64 "%s" "$@"\n' "$out/ivshmem-ctl" >"$ctl"
	chmod +x "$ctl"
	note "libivshmem host-peer tests, arm64 under qemu-user"
	run_host_ktap lib-arm64 qemu-aarch64 "$out/selftests/host/lib_host_test" \
		"$BUILD/ivshmem-server" "$ctl"
	note "libivshmem channels between host peers, arm64 under qemu-user"
	run_host_ktap chan-arm64 qemu-aarch64 "$out/selftests/host/chan_host_test" \
		"$BUILD/ivshmem-server" "$ctl"
}
