#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite, in five stages:
#   static  the uapi and library headers as C11 and C++17 with the ABI
#           pinned; the module built with W=1 and sparse for every kernel of
#           the matrix; checkpatch; cppcheck and clang-tidy over user space
#           (lib/static.sh)
#   server  host tests of ivshmem-server and of libivshmem as a host peer,
#           under valgrind and again built with ASan and UBSan; libivshmem's
#           ABI; interoperability with QEMU's own ivshmem-server and
#           ivshmem-client (lib/interop.sh)
#   package the Debian packages built, lintian and the man pages checked
#           (lib/package.sh), then installed with apt in a real Debian guest
#           with systemd and udev (lib/debian-guest.sh)
#   guest   for every QEMU and kernel of the matrix (lib/matrix.sh), QEMU
#           guests with ivshmem devices running the KTAP programs of this
#           directory (lib/guests.sh)
#   demo    the demo of the README, its story checked
#   intx    opt-in, not in the default: revision 0 devices without MSI-X, on
#           a QEMU built here with selftests/qemu/ivshmem-intx.patch
#           (lib/qemu-intx.sh), for the host's kernel and the debug kernels
# Installs the Debian packages it lacks (as root); caches kernels and the
# chroots of other Debian suites under $IVSHMEM_CACHE.
#
# Environment:
#   IVSHMEM_KERNELS        Debian suites whose current kernel the guests run,
#                          and "debug-SUITE" for a kernel built from SUITE's
#                          linux-source with KASAN, lockdep, kmemleak, UBSAN
#                          (default "bookworm trixie sid debug-bookworm
#                          debug-trixie debug-sid")
#   IVSHMEM_QEMUS          Debian suites whose QEMU runs the guests
#                          (default "bookworm trixie")
#   IVSHMEM_DEBUG_QEMU     the one suite of IVSHMEM_QEMUS whose QEMU runs the
#                          debug kernels, which are slow under emulation
#                          (default: the last of IVSHMEM_QEMUS)
#   IVSHMEM_HOTPLUG_QEMU   the suite whose QEMU runs the debug kernels'
#                          hot-unplug guests (default sid)
#   IVSHMEM_HOTPLUG_CYCLES unplug and replug cycles per hot-unplug guest
#                          (default 50)
#   IVSHMEM_TOPOLOGIES     the guest topologies to boot: any of basic, pair,
#                          probe, hotplug (default all of them)
#   IVSHMEM_CACHE          download cache (default ~/.cache/ivshmem)
#   IVSHMEM_ACCEL          tcg, kvm or auto (default: kvm only if a probe
#                          guest boots with it, else tcg)
#   IVSHMEM_GUEST_TIMEOUT  seconds a guest may run (default 600)
#   IVSHMEM_INTX           1 adds the intx stage to the stages that run
#   IVSHMEM_NO_DEBIAN_GUEST 1 ends the package stage after the host's checks
#                          of the packages, without the Debian guest
#   IVSHMEM_DEBIAN_GUEST_TIMEOUT seconds the Debian guest may run (default
#                          1500; it takes about 5 minutes under TCG)
#
# usage: run.sh [static] [server] [package] [guest] [demo] [intx]
#        (default: all but intx)
#
# "run.sh demo" alone is the demo (README): the host's kernel and QEMU only.
#
# Prints "ok - NAME" / "not ok - NAME" per test case and ends with
# "N passed, N failed, N skipped".  Exit status 0 only if nothing failed.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
LOGS=$BUILD/test-logs
CACHE=${IVSHMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ivshmem}
ACCEL=${IVSHMEM_ACCEL:-auto}
GUEST_TIMEOUT=${IVSHMEM_GUEST_TIMEOUT:-600}
KERNEL_SUITES=${IVSHMEM_KERNELS:-bookworm trixie sid debug-bookworm debug-trixie debug-sid}
QEMU_SUITES=${IVSHMEM_QEMUS:-bookworm trixie}
DEBUG_QEMU=${IVSHMEM_DEBUG_QEMU:-${QEMU_SUITES##* }}

# The guests' shared memory: big enough that firmware places BAR2 above
# 4 GiB, where it is write-back (see README, "Memory type").  Sparse files.
SHM_SIZE=$((2 << 30))
HOST_OFF=$((1 << 30))
GUEST_OFF=$(((1 << 30) + (1 << 20)))
XFER=65536
VECTORS=4

passed=0 failed=0 skipped=0

# Fatal errors may happen in $(...); the summary goes to the real stdout (3).
exec 3>&1
note() { echo "# $*" >&3; }
die() {
	echo "# run.sh: $*" >&2
	echo "$passed passed, $((failed + 1)) failed, $skipped skipped" >&3
	exit 1
}

result() { # ok|fail|skip NAME [REASON]
	case $1 in
	ok) passed=$((passed + 1)); echo "ok - $2" ;;
	skip) skipped=$((skipped + 1)); echo "ok - $2 # SKIP ${3:-}" ;;
	*) failed=$((failed + 1)); echo "not ok - $2${3:+ # $3}" ;;
	esac
}

# Install the Debian packages in "$@" that are missing.
need_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	[ "$(id -u)" = 0 ] || die "needs root to install: ${missing[*]}"
	note "installing ${missing[*]}"
	apt_updated
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >"$LOGS/apt.log" 2>&1 || die "apt-get install failed: see $LOGS/apt.log"
}

APT_UPDATED=
apt_updated() {
	[ -n "$APT_UPDATED" ] && return 0
	apt-get update -q >"$LOGS/apt-update.log" 2>&1 || die "apt-get update failed"
	APT_UPDATED=1
}

. "$TOP/selftests/lib/matrix.sh"
. "$TOP/selftests/lib/guests.sh"
. "$TOP/selftests/lib/static.sh"
. "$TOP/selftests/lib/interop.sh"
. "$TOP/selftests/lib/fuzz.sh"
. "$TOP/selftests/lib/qemu-intx.sh"
. "$TOP/selftests/lib/package.sh"
. "$TOP/selftests/lib/debian-guest.sh"

build_userspace() {
	make -C "$TOP/tools" >"$LOGS/build-tools.log" 2>&1 ||
		{ cat "$LOGS/build-tools.log"; die "tools build failed"; }
	make -C "$TOP/selftests" all sanitized tsan >"$LOGS/build-selftests.log" 2>&1 ||
		{ cat "$LOGS/build-selftests.log"; die "test build failed"; }
}

# The topologies run_guest_suite boots, for every kernel and QEMU of the
# matrix (IVSHMEM_TOPOLOGIES narrows them for a quicker local run).
TOPOLOGIES=${IVSHMEM_TOPOLOGIES:-basic pair probe hotplug}
wants() { [[ " $TOPOLOGIES " == *" $1 "* ]]; }

run_guest_suite() {
	local seed
	seed=$((RANDOM * 32768 + RANDOM))
	mkdir -p "$LOGS/$RUN"
	wants basic && run_basic_guests
	wants pair && run_pair_guests
	wants probe && run_probe_guests
	[ -n "$HOTPLUG" ] && wants hotplug && run_hotplug_guests
	rm -f "$LOGS/$RUN"/*.mem "$LOGS/$RUN"/*.small
}

run_basic_guests() {
	local mem_plain mem_door mem_rm pid_plain pid_door pid_chan pid_rm srv_door srv_rm

	# Topology 1: ivshmem-plain on a host file the host checks.
	mem_plain=$(new_memfile plain $seed) || exit 1
	boot_guest plain "ivt_run=uapi_test,uapi_test32,mmap_test,huge_test ivt_mode=none ivt_vectors=0 $(common_append $seed)" \
		-object memory-backend-file,id=shm,size=$SHM_SIZE,share=on,mem-path="$mem_plain" \
		-device ivshmem-plain,memdev=shm,addr=4 $(small_device plain) &
	pid_plain=$!

	# Topology 2: ivshmem-doorbell on our server, with a host peer; the
	# guest rings itself and the host peer, and talks over channels to a
	# second host peer.
	mem_door=$(new_memfile doorbell $seed) || exit 1
	start_server doorbell "$mem_door"
	srv_door=$SERVER_PID
	start_host_peer doorbell
	# A second host peer: the far end of chan_test's channels.
	mkdir -p "$LOGS/$RUN/doorbell"
	timeout "$GUEST_TIMEOUT" "$BUILD/selftests/host/chan_peer" "$SOCK" "$GUEST_TIMEOUT" \
		>"$LOGS/$RUN/doorbell/chan_peer.log" 2>&1 &
	pid_chan=$!
	boot_guest doorbell "ivt_run=uapi_test,uapi_test32,mmap_test,doorbell_test,doorbell_test32,lib_test,chan_test,ctl_test,bench,genl_test ivt_mode=msix ivt_vectors=$VECTORS ivt_host_peer=$HOST_PEER_ID $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 $(small_device doorbell) &
	pid_door=$!

	# Topology 2b: the device removed, reloaded and fuzzed under its users,
	# on a doorbell device and server of its own, beside topology 2 so that
	# the long programs of both run at once.
	mem_rm=$(new_memfile removal $seed) || exit 1
	start_server removal "$mem_rm"
	srv_rm=$SERVER_PID
	boot_guest removal "ivt_run=fuzz_test,remove_test,stress_remove_test,module_test ivt_mode=msix ivt_vectors=$VECTORS $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 $(small_device removal) &
	pid_rm=$!

	wait $pid_plain
	collect_guest plain
	check_host_side plain "$mem_plain" $seed
	wait $pid_door
	if wait $pid_chan && grep -q '^chan_peer: ok' "$LOGS/$RUN/doorbell/chan_peer.log"; then
		result ok "$RUN/doorbell/chan_peer_exchanged_with_guest"
	else
		result fail "$RUN/doorbell/chan_peer_exchanged_with_guest" \
			"$(tail -n 1 "$LOGS/$RUN/doorbell/chan_peer.log")"
	fi
	finish_host_peer doorbell
	stop_server $srv_door
	collect_guest doorbell
	check_host_side doorbell "$mem_door" $seed
	wait $pid_rm
	stop_server $srv_rm
	collect_guest removal
}

# Topology 3: two guests on one server ring each other, then flood.
run_pair_guests() {
	local mem_pair srv_pair role pids=()
	mem_pair=$(new_memfile pair $seed) || exit 1
	start_server pair "$mem_pair"
	srv_pair=$SERVER_PID
	for role in a b; do
		boot_guest pair-$role "ivt_run=pair_test,chan_test ivt_role=$role ivt_vectors=$VECTORS $(common_append $seed)" \
			-chardev socket,id=ivs,path="$SOCK" \
			-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 &
		pids+=($!)
	done
	wait "${pids[@]}"
	stop_server $srv_pair
	collect_guest pair-a
	collect_guest pair-b
}

# Topology 4: probe gives up no more than it must.  Without MSI (pci=nomsi)
# a doorbell device keeps its shared memory, with no interrupts; a device
# with 64 vectors gets and rings every one.
run_probe_guests() {
	local mem_nomsi mem_many srv_nomsi srv_many pids=()
	mem_nomsi=$(new_memfile nomsi $seed) || exit 1
	start_server nomsi "$mem_nomsi"
	srv_nomsi=$SERVER_PID
	boot_guest nomsi "pci=nomsi ivt_run=uapi_test,mmap_test ivt_mode=none ivt_vectors=0 ivt_device_vectors=-1 ivt_doorbell_device=1 $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 &
	pids+=($!)
	mem_many=$(new_memfile many $seed) || exit 1
	start_server many "$mem_many" 64
	srv_many=$SERVER_PID
	boot_guest many "ivt_run=uapi_test,doorbell_test ivt_mode=msix ivt_vectors=64 $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=64,addr=4 &
	pids+=($!)
	wait "${pids[@]}"
	stop_server $srv_nomsi
	stop_server $srv_many
	collect_guest nomsi
	check_host_side nomsi "$mem_nomsi" $seed
	collect_guest many
}

# Real hot-unplug, for the debug kernels: each device sits behind a PCIe root
# port on q35, and selftests/lib/qmp-hotplug removes and re-adds it through
# QMP while hotplug_test has it open, mapped and blocked.  Three guests side
# by side: ivshmem-doorbell and ivshmem-plain for HOTPLUG_CYCLES cycles with
# q35's default ACPI hot-plug (the guest's acpiphp), and ivshmem-doorbell for
# HOTPLUG_PCIEHP_CYCLES with native PCIe hot-plug (the guest's pciehp, which
# waits 5 s after each attention button press before it powers the slot
# off).  They run under HOTPLUG_QEMU: QEMU 7.2 and 10.0 crash re-adding
# ivshmem-doorbell (README, "Known limits").
HOTPLUG_CYCLES=${IVSHMEM_HOTPLUG_CYCLES:-50}
HOTPLUG_PCIEHP_CYCLES=${IVSHMEM_HOTPLUG_PCIEHP_CYCLES:-5}
HOTPLUG_QEMU=${IVSHMEM_HOTPLUG_QEMU:-sid}
HOTPLUG_SIZE=$((64 << 20))
run_hotplug_guests() {
	local srv dir name kind cycles pids=() srvs=()
	local -A driver_of
	note "hot-unplug guests, under QEMU $(suite_qemu_version "$HOTPLUG_QEMU") ($HOTPLUG_QEMU)"
	for name in hotplug-doorbell hotplug-plain hotplug-pciehp; do
		dir=$LOGS/$RUN/$name
		mkdir -p "$dir"
		kind=doorbell cycles=$HOTPLUG_CYCLES
		case $name in
		*-plain) kind=plain
			 set -- ;;
		*-pciehp) cycles=$HOTPLUG_PCIEHP_CYCLES
			  set -- -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off ;;
		*) set -- ;;
		esac
		if [ $kind = doorbell ]; then
			# A server of its own: QEMU crashes sooner re-adding the
			# device while other peers come and go.
			start_server $name "$LOGS/$RUN/$name.mem"
			srvs+=($SERVER_PID)
			set -- "$@" -chardev socket,id=ivs0,path="$SOCK" \
				-device ivshmem-doorbell,id=ivs,chardev=ivs0,vectors=$VECTORS,bus=rp
		else
			truncate -s $HOTPLUG_SIZE "$dir/shm0"
			set -- "$@" -object memory-backend-file,id=shm0,size=$HOTPLUG_SIZE,share=on,mem-path="$dir/shm0" \
				-device ivshmem-plain,id=ivs,memdev=shm0,bus=rp
		fi
		QEMU_SUITE=$HOTPLUG_QEMU boot_guest $name "ivt_run=hotplug_test ivt_mode=$([ $kind = doorbell ] && echo msix || echo none) ivt_cycles=$cycles" \
			-qmp unix:"$dir/qmp.sock",server=on,wait=off \
			-device pcie-root-port,id=rp,bus=pcie.0,chassis=1,slot=1,addr=4 "$@" &
		pids+=($!)
		if [ $kind = doorbell ]; then
			set -- doorbell "$SOCK" $VECTORS
		else
			set -- plain "$dir/shm" $HOTPLUG_SIZE
		fi
		timeout "$GUEST_TIMEOUT" "$TOP/selftests/lib/qmp-hotplug" "$dir/qmp.sock" \
			"$dir/ktap.log" "$cycles" "$@" >"$dir/qmp-hotplug.log" 2>&1 &
		driver_of[$name]=$!
	done
	wait "${pids[@]}"
	for srv in "${srvs[@]}"; do
		stop_server $srv
	done
	for name in hotplug-doorbell hotplug-plain hotplug-pciehp; do
		dir=$LOGS/$RUN/$name
		if wait "${driver_of[$name]}"; then
			result ok "$RUN/$name/qmp_unplug_and_replug"
		else
			result fail "$RUN/$name/qmp_unplug_and_replug" "$(tail -n 1 "$dir/qmp-hotplug.log")"
		fi
		collect_guest $name
		rm -f "$dir"/shm*
	done
}

# run_host_ktap NAME COMMAND...: the KTAP a host test prints, as results.
run_host_ktap() {
	local name=$1 line status log=$LOGS/$1.log
	shift
	"$@" >"$log" 2>&1
	status=$?
	while IFS= read -r line; do
		case $line in
		"not ok "*) result fail "$name/${line#not ok [0-9]* }" ;;
		"ok "*" # SKIP"*) line=${line#ok [0-9]* }; result skip "$name/${line% # SKIP*}" "${line#* # SKIP}" ;;
		"ok "*) result ok "$name/${line#ok [0-9]* }" ;;
		"# Totals"*) ;;
		"#"*) echo "$line" ;;
		esac
	done <"$log"
	case $status in
	0|1|4) ;;
	*) result fail "$name/exit_status" "exited with status $status"
	   grep -v '^\(ok\|not ok\|#\|TAP\|1\.\.\)' "$log" | head -n 20 | sed 's/^/# /' ;;
	esac
}

# The demo: ivshmem-server, a host peer and two guests pass messages and
# doorbells around (tools/demo/ivshmem-demo.c plays every part).  The story
# is shown as it happens, then checked.
run_demo() {
	local dir mem host_pid tail_pid pids=() part line
	RUN=demo
	dir=$LOGS/demo
	mkdir -p "$dir"
	note "demo: ivshmem-server, a host peer and guests A and B ($ACCEL)"
	mem=$dir/shm
	rm -f "$mem"
	start_server demo "$mem"
	"$BUILD/ivshmem-demo" -s "$SOCK" host >"$dir/host.log" 2>&1 &
	host_pid=$!
	# The story so far, from every part, as it is written.
	follow_logs "$dir/story.done" "$dir/host.log" "$dir/guest-a/ktap.log" \
		"$dir/guest-b/ktap.log" | tee "$dir/story.log" &
	tail_pid=$!
	for part in a b; do
		boot_guest guest-$part "ivt_run=ivshmem-demo ivt_role=guest-$part" \
			-chardev socket,id=ivs,path="$SOCK" \
			-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 &
		pids+=($!)
	done
	wait "${pids[@]}"
	wait $host_pid
	touch "$dir/story.done"
	wait $tail_pid
	stop_server $SERVER_PID

	while IFS='|' read -r part line; do
		if grep -qF "$part| $line" "$dir/story.log"; then
			result ok "demo/$(echo "$part $line" | tr -cs 'A-Za-z' _ | sed 's/_$//')"
		else
			result fail "demo/$(echo "$part $line" | tr -cs 'A-Za-z' _ | sed 's/_$//')"
		fi
	done <<-'EOF'
	guest B |doorbell! my mailbox says: "hello B, this is guest A"
	guest A |doorbell! my mailbox says: "hi A, B here: got your message"
	host    |doorbell! my mailbox says: "host, A and B say hello"
	guest A |doorbell! my mailbox says: "greetings from the host"
	guest B |doorbell! my mailbox says: "greetings from the host"
	host    |done
	guest A |done
	guest B |done
	EOF
	for part in guest-a guest-b; do
		check_kernel_log "$part"
	done
	rm -f "$mem"
}

# Host tests of ivshmem-server and of libivshmem as a host peer, under
# valgrind and built with ASan and UBSan.
run_server_tests() {
	local asan=(env ASAN_OPTIONS=exitcode=99 UBSAN_OPTIONS=print_stacktrace=1)
	local valgrind=(valgrind -q --error-exitcode=99 --leak-check=full
		--errors-for-leak-kinds=definite,indirect)
	note "number parser of the tools"
	run_host_ktap number "${valgrind[@]}" "$BUILD/selftests/host/number_test"
	run_host_ktap number-asan "${asan[@]}" "$BUILD/selftests/asan/number_test"
	note "ivshmem-server host tests, under valgrind"
	run_host_ktap server-valgrind env IVT_VALGRIND=1 "$BUILD/selftests/host/server_test" \
		"$BUILD/ivshmem-server" "$TOP/tools/ivshmem-server/ivshmem-server.service"
	note "ivshmem-server host tests, built with ASan and UBSan"
	run_host_ktap server-asan "${asan[@]}" "$BUILD/selftests/asan/server_test" \
		"$BUILD/selftests/asan/ivshmem-server" "$TOP/tools/ivshmem-server/ivshmem-server.service"
	note "libivshmem host-peer tests, under valgrind"
	run_host_ktap lib-valgrind "${valgrind[@]}" "$BUILD/selftests/host/lib_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
	note "libivshmem host-peer tests, built with ASan and UBSan"
	run_host_ktap lib-asan "${asan[@]}" "$BUILD/selftests/asan/lib_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
	note "libivshmem channels between host peers, under valgrind"
	run_host_ktap chan-valgrind "${valgrind[@]}" "$BUILD/selftests/host/chan_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
	note "libivshmem channels between host peers, built with ASan and UBSan"
	run_host_ktap chan-asan "${asan[@]}" "$BUILD/selftests/asan/chan_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
	note "libivshmem channels between host peers, built with ThreadSanitizer"
	run_host_ktap chan-tsan env TSAN_OPTIONS=exitcode=99 "$BUILD/selftests/tsan/chan_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
	note "libivshmem ABI: exported symbols, version node, what install installs"
	run_host_ktap lib-abi bash "$TOP/selftests/host/lib_abi.sh" "$TOP" "$BUILD"
	note "libivshmem host-peer benchmarks (printed, not counted)"
	run_host_ktap lib-bench "$BUILD/selftests/host/host_bench" "$BUILD/ivshmem-server"
	note "libivshmem channel benchmarks against a socketpair and a pipe (printed, not counted)"
	run_host_ktap chan-bench "$BUILD/selftests/host/chan_bench" "$BUILD/ivshmem-server"
	run_interop_tests
	run_join_storm
	run_fuzzers
}

main() {
	local stages=" ${*:-static server package guest demo} " suite kver ko
	[ "${IVSHMEM_INTX:-0}" = 1 ] && [[ $stages != *" intx "* ]] && stages="$stages intx "
	local -A vmlinuz initrd kernel
	rm -rf "$LOGS"
	mkdir -p "$LOGS" "$CACHE/kernels"
	# The demo alone needs only the host's kernel and QEMU.
	if [ "$stages" = " demo " ]; then
		KERNEL_SUITES=${IVSHMEM_KERNELS:-$HOST_SUITE}
		QEMU_SUITES=${IVSHMEM_QEMUS:-$HOST_SUITE}
	fi
	# The INTx tier alone: the host's kernel and the debug kernels built.
	if [ "$stages" = " intx " ]; then
		KERNEL_SUITES=${IVSHMEM_KERNELS:-$(intx_kernel_suites | tr '\n' ' ')}
		QEMU_SUITES=${IVSHMEM_QEMUS:-$HOST_SUITE}
	fi

	need_packages qemu-system-x86 busybox-static cpio gzip xz-utils gcc g++ gcc-multilib make libc6-dev valgrind python3 \
		kmod sparse cppcheck clang-tidy pkg-config libnl-3-dev libnl-genl-3-dev libsystemd-dev perl
	build_userspace

	# The host tests and the packages need no guest kernels of the matrix.
	if [[ $stages != *" static "* && $stages != *" guest "* &&
	      $stages != *" demo "* && $stages != *" intx "* ]]; then
		[[ $stages == *" server "* ]] && run_server_tests
		[[ $stages == *" package "* ]] && run_package_tests
		summary
		return
	fi

	# The hot-unplug guests of the debug kernels need their own QEMU.
	[[ " $KERNEL_SUITES " == *" debug-"* ]] && QEMU_SUITES_ALL="$QEMU_SUITES $HOTPLUG_QEMU"

	# Every suite of the matrix, with its kernel built and packed.
	for suite in $(echo "$KERNEL_SUITES ${QEMU_SUITES_ALL:-$QEMU_SUITES}" | tr ' ' '\n' | sort -u); do
		if [[ " ${QEMU_SUITES_ALL:-$QEMU_SUITES} " == *" $suite "* ]]; then
			ensure_suite "$suite" qemu-system-x86
		else
			ensure_suite "$suite"
		fi
	done
	for suite in $KERNEL_SUITES; do
		kver=$(suite_kernel "$suite") || exit 1
		kernel[$suite]=$kver
		[ "$suite" = "$HOST_SUITE" ] && need_packages "linux-headers-$kver"
		note "$suite kernel: $kver"
		vmlinuz[$suite]=$(fetch_kernel "$suite" "$kver") || exit 1
		ko=$(build_module "$suite" "$kver") || exit 1
		initrd[$suite]=$(make_initramfs "$kver" "$ko") || exit 1
		[[ $stages == *" static "* ]] && check_module_log "$kver" "$suite"
	done

	if [[ $stages == *" static "* ]]; then
		check_uapi
		check_kernel_style
		check_userspace_lint
	fi
	[[ $stages == *" server "* ]] && run_server_tests
	[[ $stages == *" package "* ]] && run_package_tests
	[[ $stages == *" guest "* || $stages == *" demo "* || $stages == *" intx "* ]] ||
		{ summary; return; }

	suite=${KERNEL_SUITES%% *}
	VMLINUZ=${vmlinuz[$suite]} INITRD=${initrd[$suite]} QEMU_SUITE=$HOST_SUITE pick_accel
	note "guests run with $ACCEL"
	if [[ $stages == *" demo "* ]]; then
		VMLINUZ=${vmlinuz[$suite]} INITRD=${initrd[$suite]} QEMU_SUITE=$HOST_SUITE run_demo
	fi
	if [[ $stages == *" intx "* ]]; then
		local intx=()
		for suite in $KERNEL_SUITES; do
			intx+=("$suite" "${kernel[$suite]}" "${vmlinuz[$suite]}" "${initrd[$suite]}")
		done
		run_intx_tier "${intx[@]}"
	fi
	[[ $stages == *" guest "* ]] || { summary; return; }
	for QEMU_SUITE in $QEMU_SUITES; do
		local qver
		qver=$(suite_qemu_version "$QEMU_SUITE")
		for suite in $KERNEL_SUITES; do
			is_debug "$suite" && [ "$QEMU_SUITE" != "$DEBUG_QEMU" ] && continue
			HOTPLUG=
			is_debug "$suite" && HOTPLUG=1
			VMLINUZ=${vmlinuz[$suite]}
			INITRD=${initrd[$suite]}
			kver=${kernel[$suite]}
			HUGE_PFNMAP=$(huge_pfnmap "$suite" "$kver")
			RUN=${kver%-amd64}/qemu-$qver
			note "kernel $kver ($suite), QEMU $qver ($QEMU_SUITE), huge PFN mappings: $HUGE_PFNMAP"
			run_guest_suite
		done
	done
	summary
}

summary() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

main "$@"
