# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The INTx tier ("run.sh intx", or IVSHMEM_INTX=1): no QEMU since 4.0 offers
# a revision-0 ivshmem device without MSI-X, so qemu-system-x86_64 is built
# from Debian's qemu source package (bookworm, through qemu_source of
# lib/interop.sh) with selftests/qemu/ivshmem-intx.patch, which gives
# ivshmem-doorbell the test-only property x-intx=on.  Only what a q35 TCG or
# KVM guest with serial ports, -kernel/-initrd and a socket chardev needs is
# configured.  The binary is cached under $CACHE/qemu-intx, named after the
# source version and a hash of the patch and the configuration.  Sourced by
# run.sh.

QEMU_INTX=$CACHE/qemu-intx
QEMU_INTX_PATCH=$TOP/selftests/qemu/ivshmem-intx.patch
# Only the q35 board and the ivshmem device; the board selects its serial
# ports, fw_cfg and the rest.
QEMU_INTX_DEVICES='CONFIG_Q35=y
CONFIG_IVSHMEM_DEVICE=y'
QEMU_INTX_CONFIGURE=(--prefix=/usr --target-list=x86_64-softmmu
	--without-default-features --without-default-devices
	--with-devices-x86_64=ivshmem-intx --enable-tcg --enable-kvm
	--enable-fdt=system --disable-docs --disable-werror)

# qemu_intx_dir: the cache directory of the patched build for the current
# source package, patch and build recipe (may not exist yet).
qemu_intx_dir() {
	local ver sum
	ver=$(qemu_source_version)
	sum=$(printf '%s\n' "$(cat "$QEMU_INTX_PATCH")" "$QEMU_INTX_DEVICES" \
		"${QEMU_INTX_CONFIGURE[*]}" | md5sum | cut -c1-8)
	echo "$QEMU_INTX/${ver#*:}-$sum"
}

# qemu_intx_firmware DIR: the binary in DIR/bin looks for its firmware
# relative to itself, in DIR/share/qemu and DIR/share/qemu-firmware: there
# go the host's option ROMs and SeaBIOS.
qemu_intx_firmware() {
	mkdir -p "$1/share"
	ln -sfn /usr/share/qemu "$1/share/qemu"
	ln -sfn /usr/share/seabios "$1/share/qemu-firmware"
	rm -f "$1/share/seabios"
}

# qemu_intx_build: print the bin directory of the patched QEMU, building it
# first unless it is cached; the build time goes to the log.
qemu_intx_build() {
	local dir src build=$QEMU_INTX/build log=$LOGS/qemu-intx.log start
	dir=$(qemu_intx_dir)
	if [ -n "$(qemu_source_version)" ] &&
		"$dir/bin/qemu-system-x86_64" -device ivshmem-doorbell,help 2>/dev/null |
		grep -q x-intx; then
		qemu_intx_firmware "$dir"
		echo "$dir/bin"
		return 0
	fi
	need_packages seabios dpkg-dev xz-utils meson ninja-build pkg-config python3 gcc flex bison \
		libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev
	: >"$log"
	src=$(qemu_source "$build/src" "$log") || return 1
	dir=$(qemu_intx_dir)
	note "building qemu-system-x86_64 $(qemu_source_version) with selftests/qemu/ivshmem-intx.patch (once; cached in $dir; log: $log)"
	start=$SECONDS
	echo "$QEMU_INTX_DEVICES" >"$src/configs/devices/x86_64-softmmu/ivshmem-intx.mak"
	(
		cd "$src" && patch -p1 <"$QEMU_INTX_PATCH" &&
			mkdir build && cd build &&
			../configure "${QEMU_INTX_CONFIGURE[@]}" &&
			nice -n 19 ionice -c3 ninja -j2 qemu-system-x86_64
	) >>"$log" 2>&1 || { tail -n 30 "$log" >&2; return 1; }
	rm -rf "$dir"
	mkdir -p "$dir/bin" "$dir/share"
	cp "$src/build/qemu-system-x86_64" "$dir/bin/" || return 1
	qemu_intx_firmware "$dir"
	rm -rf "$build"
	note "qemu-system-x86_64 with x-intx built in $((SECONDS - start)) s"
	echo "$dir/bin"
}

# intx_kernel_suites: the kernels of the tier when it runs alone: the
# host's, and the debug kernels already built (never built for it).
intx_kernel_suites() {
	local suite
	echo "$HOST_SUITE"
	for suite in bookworm trixie sid; do
		[ "$suite" = "$HOST_SUITE" ] || [ -e "$CACHE/chroots/$suite/.ivshmem-ready" ] ||
			continue
		[ -f "$(debug_kernel_dir "$suite")/.ivshmem-ready" ] && echo "debug-$suite"
	done
}

# run_intx_tier [SUITE KVER VMLINUZ INITRD]...: for the host's kernel and the
# debug kernels among those given, a guest under the patched QEMU, run on the
# host, with two x-intx devices in the functions of one slot, so on one INTx
# line, both peers of one server; two guests at a time.  iomem=relaxed lets
# intx_test map BAR0 beside the driver.
run_intx_tier() {
	local bin qver runs=() pids=() srvs=() run seed mem
	if ! bin=$(qemu_intx_build); then
		result fail "intx/build_qemu" "see $LOGS/qemu-intx.log"
		return
	fi
	qver=$("$bin/qemu-system-x86_64" --version | awk '/version/ { print $4; exit }')
	while (($# >= 4)); do
		if [ "$1" = "$HOST_SUITE" ] || is_debug "$1"; then
			run=${2%-amd64}/qemu-$qver-intx
			note "INTx guest: kernel $2 ($1), QEMU $qver with x-intx ($bin)"
			seed=$((RANDOM * 32768 + RANDOM))
			RUN=$run
			mkdir -p "$LOGS/$RUN"
			mem=$(new_memfile intx $seed) || exit 1
			start_server intx "$mem"
			srvs+=("$SERVER_PID")
			PATH=$bin:$PATH QEMU_SUITE=$HOST_SUITE VMLINUZ=$3 INITRD=$4 boot_guest intx \
				"iomem=relaxed ivt_run=intx_test ivt_dev=ivshmem0 ivt_dev2=ivshmem1 ivt_vectors=$VECTORS" \
				-chardev socket,id=ivs0,path="$SOCK" \
				-device ivshmem-doorbell,chardev=ivs0,vectors=$VECTORS,x-intx=on,addr=4.0,multifunction=on \
				-chardev socket,id=ivs1,path="$SOCK" \
				-device ivshmem-doorbell,chardev=ivs1,vectors=$VECTORS,x-intx=on,addr=4.1 &
			pids+=($!)
			runs+=("$run")
		fi
		shift 4
		if ((${#pids[@]} == 2 || ($# < 4 && ${#pids[@]} > 0))); then
			wait "${pids[@]}"
			for run in "${srvs[@]}"; do
				stop_server "$run"
			done
			for run in "${runs[@]}"; do
				RUN=$run collect_intx_guest
			done
			pids=() srvs=() runs=()
		fi
	done
}

# collect_intx_guest: the results of $RUN's guest; an interrupt nobody
# claims is no WARNING, but its line is lost, so that fails too.
collect_intx_guest() {
	local dir=$LOGS/$RUN/intx
	collect_guest intx
	if grep -qE 'nobody cared|Disabling IRQ' "$dir/console.log"; then
		result fail "$RUN/intx/irq_not_disabled" \
			"$(grep -m1 -E 'nobody cared|Disabling IRQ' "$dir/console.log")"
	else
		result ok "$RUN/intx/irq_not_disabled"
	fi
	rm -f "$LOGS/$RUN"/*.mem
}
