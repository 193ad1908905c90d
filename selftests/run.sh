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
#                          (default "bookworm trixie sid debug-trixie
#                          debug-sid arm64-sid"; debug-bookworm is the opt-in
#                          tier: about 10 more minutes of building, 5 of
#                          guests); "arm64-SUITE" is SUITE's arm64 kernel
#                          (lib/arm64.sh): arm64-bookworm and arm64-trixie
#                          are the opt-in arm64 tier
#   IVSHMEM_ARM64_QEMU     the suite whose qemu-system-aarch64 runs the arm64
#                          guests (default the host's)
#   IVSHMEM_ARCH           arm64: the demo alone runs on the host suite's
#                          arm64 kernel
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
#                          probe, lifecycle, hotplug, mixed (default all of
#                          them)
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
REAL_TOP=$TOP
CACHE=${IVSHMEM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ivshmem}
ACCEL=${IVSHMEM_ACCEL:-auto}
GUEST_TIMEOUT=${IVSHMEM_GUEST_TIMEOUT:-600}
KERNEL_SUITES=${IVSHMEM_KERNELS:-bookworm trixie sid debug-trixie debug-sid arm64-sid}
QEMU_SUITES=${IVSHMEM_QEMUS:-bookworm trixie}
DEBUG_QEMU=${IVSHMEM_DEBUG_QEMU:-${QEMU_SUITES##* }}

# The guests' shared memory: big enough that firmware places BAR2 above
# 4 GiB, where it is write-back (see README, "Memory type").  Sparse files.
SHM_SIZE=$((2 << 30))
HOST_OFF=$((1 << 30))
GUEST_OFF=$(((1 << 30) + (1 << 20)))
XFER=65536
VECTORS=4
# The guests' architecture, until a kernel of the matrix says otherwise.
GUEST_ARCH=x86_64

# Fatal errors may happen in $(...); the summary goes to the real stdout (3).
exec 3>&1
note() { echo "# $*" >&3; }

# A private scratch directory for the run, removed at its end: UNIX
# sockets (whose paths may not pass 107 bytes, wherever the checkout is),
# the module's build trees (kbuild takes no path with a space), the
# results of the parts.  Everything that must outlive the run (logs, the
# packages) stays under build/.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ivs.XXXXXX") || { echo "run.sh: mktemp failed" >&2; exit 1; }
SOCKETS=$WORK/s
RESULTS=$WORK/results	# ok, fail or skip: one line per test case
TIMES=$WORK/times	# seconds and name of each part of the run, as it ends
case $WORK in
*[!A-Za-z0-9_./+@%,=-]*)
	echo "run.sh: TMPDIR ($WORK) has a space or another character that make and QEMU's options cannot take; set TMPDIR to a plain directory such as /tmp" >&2
	rm -rf "$WORK"
	exit 1 ;;
esac
# A socket path here is $SOCKETS/XXXXXX/NAME, NAME at most 8 bytes.
if ((${#WORK} + 18 > 107)); then
	echo "run.sh: TMPDIR ($WORK) is too long for UNIX socket paths (107 bytes at most); set TMPDIR to a shorter directory such as /tmp" >&2
	rm -rf "$WORK"
	exit 1
fi
# make and kbuild cannot name files under a path with a space, a colon or
# the like: such a checkout is built through a symlink beside $WORK (not
# in it: the chroots mount $WORK and the build directory side by side).
case $TOP in
*[!A-Za-z0-9_./+@%,=-]*)
	ln -s "$TOP" "$WORK.src"
	TOP=$WORK.src ;;
esac
BUILD=$TOP/build
LOGS=$BUILD/test-logs
mkdir -p "$SOCKETS"
: >"$RESULTS"
: >"$TIMES"
RUN_START=$SECONDS
CACHE_STATE=unknown

# kill_tree PID: PID's descendants, deepest first, then PID.
kill_tree() {
	local child
	for child in $(pgrep -P "$1" 2>/dev/null); do
		kill_tree "$child"
	done
	kill -TERM "$1" 2>/dev/null
}

cleanup() {
	local child
	for child in $(pgrep -P $$ 2>/dev/null); do
		kill_tree "$child"
	done
	wait 2>/dev/null
	rm -rf "$WORK"
	[ "$TOP" = "$REAL_TOP" ] || rm -f "$TOP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "# run.sh: $*" >&2
	if [ -n "${PART:-}" ]; then
		# Only this part of the run ends: run_part reports why.
		echo "$*" >"$WORK/died.${PART//\//_}"
		exit 1
	fi
	result fail "run.sh" "$*"
	summary
	exit 1
}

result() { # ok|fail|skip NAME [REASON]
	# Paths in a reason as the user knows them, not through the symlink.
	local reason=${3:-}
	[ "$TOP" = "$REAL_TOP" ] || reason=${reason//$TOP/$REAL_TOP}
	case $1 in
	ok) echo "ok - $2" ;;
	skip) echo "ok - $2 # SKIP $reason" ;;
	*) echo "not ok - $2${reason:+ # $reason}" ;;
	esac
	echo "$1" >>"$RESULTS"
}

# run_part NAME CMD...: one part of the run (a stage, a kernel's
# preparation, one guest topology) in a subshell of its own.  If it cannot
# go on (die, or any other early exit), that is the failure NAME/completed,
# its processes are ended, and the rest of the run goes on.  Its time is
# recorded for the table at the end.
run_part() {
	local name=$1 start=$SECONDS status reason
	shift
	(
		PART=$name
		trap 'for c in $(pgrep -P $BASHPID 2>/dev/null); do kill_tree $c; done' EXIT
		"$@"
	)
	status=$?
	printf '%s\t%s\t%s\t%s\n' "$((SECONDS - start))" "$name" "${PART:-}" \
		"${BACKGROUND:+ (in the background)}" >>"$TIMES"
	if [ $status != 0 ]; then
		reason=$(cat "$WORK/died.${name//\//_}" 2>/dev/null)
		result fail "$name/completed" "${reason:-exit status $status}"
		echo "$name" >>"$WORK/unfinished"
	fi
	return $status
}

# Install the Debian packages in "$@" that are missing.  Parts of the run
# that go on side by side may both install: dpkg's lock is waited for.
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
		-o DPkg::Lock::Timeout=1200 "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
		die "apt-get install failed: see $LOGS/apt.log"
}

# Package lists older than a day are refreshed once per run.
apt_updated() {
	[ -e "$WORK/apt-updated" ] && return 0
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null)" ]; then
		apt-get update -q -o DPkg::Lock::Timeout=1200 >"$LOGS/apt-update.log" 2>&1 ||
			die "apt-get update failed"
	fi
	touch "$WORK/apt-updated"
}

. "$TOP/selftests/lib/matrix.sh"
. "$TOP/selftests/lib/arm64.sh"
. "$TOP/selftests/lib/guests.sh"
. "$TOP/selftests/lib/static.sh"
. "$TOP/selftests/lib/interop.sh"
. "$TOP/selftests/lib/fuzz.sh"
. "$TOP/selftests/lib/qemu-intx.sh"
. "$TOP/selftests/lib/package.sh"
. "$TOP/selftests/lib/debian-guest.sh"

build_userspace() {
	# TOP given, so that the Makefiles name files through it (see WORK).
	make -C "$TOP/tools" TOP="$TOP" >"$LOGS/build-tools.log" 2>&1 ||
		{ cat "$LOGS/build-tools.log"; die "tools build failed"; }
	make -C "$TOP/selftests" TOP="$TOP" all sanitized tsan >"$LOGS/build-selftests.log" 2>&1 ||
		{ cat "$LOGS/build-selftests.log"; die "test build failed"; }
}

# The topologies run_guest_suite boots, for every kernel and QEMU of the
# matrix (IVSHMEM_TOPOLOGIES narrows them for a quicker local run).
TOPOLOGIES=${IVSHMEM_TOPOLOGIES:-basic pair probe lifecycle hotplug mixed}
wants() { [[ " $TOPOLOGIES " == *" $1 "* ]]; }

# Each topology is a part of the run of its own (run_part).
run_guest_suite() {
	local seed
	seed=$((RANDOM * 32768 + RANDOM))
	mkdir -p "$LOGS/$RUN"
	wants basic && run_part "$RUN/basic" run_basic_guests
	wants pair && run_part "$RUN/pair" run_pair_guests
	wants probe && run_part "$RUN/probe" run_probe_guests
	[ -n "$LIFECYCLE" ] && wants lifecycle && run_part "$RUN/lifecycle" run_lifecycle_guests
	[ -n "$HOTPLUG" ] && wants hotplug && run_part "$RUN/hotplug" run_hotplug_guests
	[ "$GUEST_ARCH" = arm64 ] && wants mixed && run_part "$RUN/mixed" run_mixed_guests
	rm -f "$LOGS/$RUN"/*.mem "$LOGS/$RUN"/*.small "$LOGS/$RUN"/*.large* "$LOGS/$RUN"/*.reset
	rm -f "$LOGS/$RUN"/lifecycle/*.mem "$LOGS/$RUN"/lifecycle/*.qcow2 "$LOGS/$RUN"/lifecycle/*.state
}

run_basic_guests() {
	local mem_plain mem_door mem_rm pid_plain pid_door pid_chan pid_rm srv_door srv_rm

	# Topology 1: ivshmem-plain on a host file the host checks.
	mem_plain=$(new_memfile plain $seed) || exit 1
	small_device plain
	large_devices plain $seed
	reset_device plain
	boot_guest plain "ivt_run=uapi_test,uapi_test32,mmap_test,huge_test,large_test,reset_test ivt_mode=none ivt_vectors=0 ivt_large=$LARGE_NAMES ivt_reset_dev=$RESET_NAME $(common_append $seed)" \
		-object memory-backend-file,id=shm,size=$SHM_SIZE,share=on,mem-path="$mem_plain" \
		-device ivshmem-plain,memdev=shm,addr=4 "${SMALL_DEVICE[@]}" "${LARGE_DEVICES[@]}" \
		"${RESET_DEVICE[@]}" &
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
	small_device doorbell
	boot_guest doorbell "ivt_run=uapi_test,uapi_test32,mmap_test,doorbell_test,doorbell_test32,lib_test,chan_test,ctl_test,bench,genl_test ivt_mode=msix ivt_vectors=$VECTORS ivt_host_peer=$HOST_PEER_ID $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 "${SMALL_DEVICE[@]}" &
	pid_door=$!

	# Topology 2b: the device removed, reloaded and fuzzed under its users,
	# on a doorbell device and server of its own, beside topology 2 so that
	# the long programs of both run at once.
	mem_rm=$(new_memfile removal $seed) || exit 1
	start_server removal "$mem_rm"
	srv_rm=$SERVER_PID
	small_device removal
	boot_guest removal "ivt_run=fuzz_test,remove_test,stress_remove_test,module_test ivt_mode=msix ivt_vectors=$VECTORS $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 "${SMALL_DEVICE[@]}" &
	pid_rm=$!

	wait $pid_plain
	collect_guest plain
	check_host_side plain "$mem_plain" $seed
	check_large_devices plain $seed
	check_reset_device plain
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
	# Two vCPUs each on arm64, in threads of their own: the weakly
	# ordered case on both sides.
	[ "$GUEST_ARCH" = arm64 ] && local GUEST_CPUS=2
	for role in a b; do
		boot_guest pair-$role "ivt_run=pair_test,chan_test ivt_role=$role ivt_storm_messages=$STORM ivt_vectors=$VECTORS $(common_append $seed)" \
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

# Topology 5: the VM's life around a mapped device (lifecycle_test.c, driven
# by selftests/lib/qmp-lifecycle): savevm and loadvm, a migration through a
# file into a second QEMU, suspend to RAM, AER recovery below a root port.
# For the stock kernels under the newest QEMU.  Both devices have
# master=on, without which QEMU refuses to migrate.  The destination is set up as on another host: its own
# ivshmem-server (QEMU wants the master to be the first peer, ID 0, of its
# server) and its own memory files, which the migration fills.
LIFECYCLE_PLAIN_SIZE=$((1 << 30))
run_lifecycle_guests() {
	local dir=$LOGS/$RUN/lifecycle side status srv pid qmp state append
	state=$dir/migration.state
	mkdir -p "$dir"
	rm -f "$state" "$dir/snapshots.qcow2"
	qemu-img create -q -f qcow2 "$dir/snapshots.qcow2" 64M >"$dir/qemu-img.log" 2>&1 ||
		die "qemu-img: $(cat "$dir/qemu-img.log")"
	append="ivt_run=lifecycle_test ivt_mode=msix ivt_vectors=$VECTORS ivt_plain_dev=ivshmem1 $(common_append $seed)"
	for side in source destination; do
		rm -f "$dir/$side.mem" "$dir/$side-plain.mem"
		start_server lifecycle/$side "$dir/$side.mem"
		srv=$SERVER_PID
		truncate -s $LIFECYCLE_PLAIN_SIZE "$dir/$side-plain.mem"
		qmp=$(new_socket qmp) || exit 1
		set -- -qmp unix:"$qmp",server=on,wait=off \
			-chardev socket,id=ivs,path="$SOCK" \
			-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,master=on,addr=4 \
			-object memory-backend-file,id=plain,size=$LIFECYCLE_PLAIN_SIZE,share=on,mem-path="$dir/$side-plain.mem" \
			-device pcie-root-port,id=rp_plain,bus=pcie.0,chassis=3,slot=3,addr=5 \
			-device ivshmem-plain,memdev=plain,master=on,bus=rp_plain \
			-drive if=none,id=snapshots,format=qcow2,file="$(qemu_opt_value "$dir/snapshots.qcow2")"
		[ $side = destination ] && set -- "$@" -incoming defer
		GUEST_CONTINUES=$([ $side = destination ] && echo 1) boot_guest lifecycle "$append" "$@" &
		pid=$!
		timeout "$GUEST_TIMEOUT" "$TOP/selftests/lib/qmp-lifecycle" $side "$qmp" "$dir/ktap.log" \
			"$state" "$dir/$side.mem" "$dir/$side-plain.mem" >"$dir/qmp-$side.log" 2>&1
		status=$?
		[ $status = 0 ] || kill_tree $pid
		wait $pid
		stop_server $srv
		if [ $status != 0 ]; then
			result fail "$RUN/lifecycle/qmp_$side" "$(tail -n 1 "$dir/qmp-$side.log")"
			break
		fi
		result ok "$RUN/lifecycle/qmp_$side"
	done
	collect_guest lifecycle
	# What the guest wrote before the migration, in the destination's files.
	[ $status = 0 ] || return 0
	check_pattern_file lifecycle "$dir/destination.mem" $GUEST_OFF migrated_doorbell_memory
	check_pattern_file lifecycle "$dir/destination-plain.mem" $((1 << 20)) migrated_plain_memory
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
# arm64: the virt board has native PCIe hot-plug only, so both devices get
# HOTPLUG_PCIEHP_CYCLES cycles through pciehp.
run_hotplug_guests() {
	local srv dir name kind cycles qmp pids=() srvs=() names
	local -A driver_of
	names="hotplug-doorbell hotplug-plain hotplug-pciehp"
	[ "$GUEST_ARCH" = arm64 ] && names="hotplug-doorbell hotplug-plain"
	note "hot-unplug guests, under QEMU $(suite_qemu_version "$HOTPLUG_QEMU" \
		"$([ "$GUEST_ARCH" = arm64 ] && echo aarch64)") ($HOTPLUG_QEMU)"
	for name in $names; do
		dir=$LOGS/$RUN/$name
		mkdir -p "$dir"
		kind=doorbell cycles=$HOTPLUG_CYCLES
		[ "$GUEST_ARCH" = arm64 ] && cycles=$HOTPLUG_PCIEHP_CYCLES
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
		qmp=$(new_socket qmp) || exit 1
		QEMU_SUITE=$HOTPLUG_QEMU boot_guest $name "ivt_run=hotplug_test ivt_mode=$([ $kind = doorbell ] && echo msix || echo none) ivt_cycles=$cycles" \
			-qmp unix:"$qmp",server=on,wait=off \
			-device pcie-root-port,id=rp,bus=pcie.0,chassis=1,slot=1,addr=4 "$@" &
		pids+=($!)
		if [ $kind = doorbell ]; then
			set -- doorbell "$SOCK" $VECTORS
		else
			set -- plain "$dir/shm" $HOTPLUG_SIZE
		fi
		timeout "$GUEST_TIMEOUT" "$TOP/selftests/lib/qmp-hotplug" "$qmp" \
			"$dir/ktap.log" "$cycles" "$@" >"$dir/qmp-hotplug.log" 2>&1 &
		driver_of[$name]=$!
	done
	wait "${pids[@]}"
	for srv in "${srvs[@]}"; do
		stop_server $srv
	done
	for name in $names; do
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
	note "demo: ivshmem-server, a host peer and guests A and B ($GUEST_ARCH, $([ "$GUEST_ARCH" = arm64 ] && echo tcg || echo "$ACCEL"))"
	mem=$dir/shm
	rm -f "$mem"
	start_server demo "$mem"
	"$BUILD/ivshmem-demo" -s "$SOCK" host >"$dir/host.log" 2>&1 &
	host_pid=$!
	# The story so far, from every part, as it is written.
	follow_logs "$dir/story.done" "$dir/host.log" "$dir/guest-a/ktap.log" \
		"$dir/guest-b/ktap.log" | story_in_step_order | tee "$dir/story.log" &
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
	check_story_order "$dir/story.log"
	for part in guest-a guest-b; do
		check_kernel_log "$part"
	done
	rm -f "$mem"
}

# check_story_order STORY: the demo's story is told in the order it
# happened: every line numbered, the numbers 1, 2, 3... in order, and every
# message sent before it is received.
check_story_order() {
	local story=$1 steps text sent got
	steps=$(grep -E '\| ' "$story" | awk '{ print $1 }' | tr '\n' ' ')
	if [ "$steps" = "$(seq -s ' ' 1 "$(echo "$steps" | wc -w)") " ]; then
		result ok "demo/story_in_step_order"
	else
		result fail "demo/story_in_step_order" "steps as printed: $steps"
	fi
	while IFS= read -r text; do
		sent=$(grep -nF "sends \"$text\"" "$story" | head -n 1 | cut -d: -f1)
		got=$(grep -nF "my mailbox says: \"$text\"" "$story" | head -n 1 | cut -d: -f1)
		if [ -n "$sent" ] && [ -n "$got" ] && ((sent < got)); then
			result ok "demo/sent_before_received/$(echo "$text" | tr -cs 'A-Za-z' _ | sed 's/_$//')"
		else
			result fail "demo/sent_before_received/$(echo "$text" | tr -cs 'A-Za-z' _ | sed 's/_$//')" \
				"sent on line ${sent:-none}, received on line ${got:-none}"
		fi
	done <<-'EOF'
	hello B, this is guest A
	hi A, B here: got your message
	host, A and B say hello
	greetings from the host
	EOF
}

# Host tests of ivshmem-server and of libivshmem as a host peer, under
# valgrind and built with ASan and UBSan.
run_server_tests() {
	local asan=(env ASAN_OPTIONS=exitcode=99 UBSAN_OPTIONS=print_stacktrace=1)
	# --fair-sched: valgrind runs one thread at a time, and its default lock
	# lets a spinning thread starve one that returns from a system call.
	local valgrind=(valgrind -q --error-exitcode=99 --leak-check=full
		--errors-for-leak-kinds=definite,indirect --fair-sched=yes)
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
	[[ " $KERNEL_SUITES " == *" arm64-"* ]] && run_part server/arm64 run_arm64_host_tests
	run_interop_tests
	run_join_storm
	run_fuzzers
}

stage_wanted() { [[ $STAGES == *" $1 "* ]]; }

# The host's part of every stage: packages, user space built.
setup_host() {
	# gcc-N-multilib, not gcc-multilib: that one conflicts with the
	# cross compilers of the arm64 guests.
	need_packages gcc
	need_packages qemu-system-x86 busybox-static cpio gzip xz-utils g++ \
		"gcc-$(gcc -dumpversion | cut -d. -f1)-multilib" make libc6-dev valgrind python3 \
		kmod sparse cppcheck clang-tidy pkg-config qemu-utils libnl-3-dev libnl-genl-3-dev libsystemd-dev perl
	# What the debug kernels' build needs, now rather than in the
	# background.
	[[ " $KERNEL_SUITES " == *" debug-"* ]] &&
		need_packages bc bison flex libelf-dev libssl-dev
	build_userspace
}

run_static_checks() {
	check_uapi
	check_kernel_style
	check_arm64_module_builds
	check_userspace_lint
	check_executable_scripts
}

# prepare_kernel SUITE: SUITE's kernel fetched (or, for a debug kernel,
# taken from its build), the module built against it, an initramfs packed;
# what the guests need is left in $WORK/kernel.SUITE for load_kernel.
prepare_kernel() {
	local suite=$1 kver vmlinuz ko initrd
	kver=$(suite_kernel "$suite") || exit 1
	[ "$suite" = "$HOST_SUITE" ] && need_packages "linux-headers-$kver"
	note "$suite kernel: $kver"
	is_arm64 "$suite" && { build_userspace_arm64 || exit 1; }
	vmlinuz=$(fetch_kernel "$suite" "$kver") || exit 1
	ko=$(build_module "$suite" "$kver") || exit 1
	initrd=$(make_initramfs "$kver" "$ko" "$(is_arm64 "$suite" && echo arm64)") || exit 1
	stage_wanted static && check_module_log "$kver" "$suite"
	printf '%s\n' "$kver" "$vmlinuz" "$initrd" "$(huge_pfnmap "$suite" "$kver")" \
		>"$WORK/kernel.$suite"
}

# load_kernel SUITE: KVER, VMLINUZ, INITRD and HUGE_PFNMAP of a kernel that
# prepare_kernel prepared; 1 if it could not.
load_kernel() {
	[ -f "$WORK/kernel.$1" ] || return 1
	{ read -r KVER; read -r VMLINUZ; read -r INITRD; read -r HUGE_PFNMAP; } <"$WORK/kernel.$1"
}

# build_debug_kernels SUITE...: the debug kernels the cache lacks, one after
# the other in the order given, in the background at the lowest CPU and I/O
# priority, so that they take what the stages in the foreground leave idle
# (valgrind and the fuzzers use one core, downloads and debootstrap hardly
# any).  $WORK/built.SUITE marks each as done, built or not.
build_debug_kernels() {
	local suite
	renice -n 19 -p "$BASHPID" >/dev/null
	ionice -c 3 -p "$BASHPID" 2>/dev/null
	BACKGROUND=1
	for suite; do
		run_part "kernel/$suite/build" build_debug_kernel "${suite#debug-}"
		touch "$WORK/built.$suite"
	done
}

# wait_debug_kernel SUITE: back once the builder is done with SUITE (or has
# died); the time waited is a line of the stage table.
wait_debug_kernel() {
	local start=$SECONDS
	while [ ! -e "$WORK/built.$1" ] && kill -0 "$BUILDER" 2>/dev/null; do
		sleep 2
	done
	printf '%s\t%s\t\t\n' "$((SECONDS - start))" "waiting for the $1 kernel" >>"$TIMES"
}

# guests_of SUITE: the guest suite for SUITE's kernel under $QEMU_SUITE's
# QEMU, a part of the run of its own; named as could not run if the kernel
# or that QEMU is missing.
guests_of() {
	local suite=$1 qver
	if ! load_kernel "$suite"; then
		echo "guests of $suite's kernel under $QEMU_SUITE's QEMU (no kernel)" >>"$WORK/unfinished"
		return
	fi
	qver=$(suite_qemu_version "$QEMU_SUITE" "$(is_arm64 "$suite" && echo aarch64)")
	if [ -z "$qver" ]; then
		echo "guests of $KVER under $QEMU_SUITE's QEMU (no QEMU)" >>"$WORK/unfinished"
		return
	fi
	HOTPLUG= LIFECYCLE= SCALE_APPEND=
	local GUEST_ARCH=x86_64 ARM64_SUITE= STORM=0
	if is_arm64 "$suite"; then
		# Under TCG always (no arm64 KVM on this host); no lifecycle
		# topology yet (README, "Known limits").
		GUEST_ARCH=arm64 ARM64_SUITE=$suite HOTPLUG=1
		RUN=${KVER}/qemu-$qver
		note "kernel $KVER ($suite), QEMU $qver ($QEMU_SUITE), huge PFN mappings: $HUGE_PFNMAP"
		run_guest_suite
		return
	fi
	ensure_accel
	is_debug "$suite" && HOTPLUG=1
	# Under the checkers every call is many times slower: a benchmark
	# measures them, not the driver, and KASAN and lockdep need fewer
	# rounds of a race than a stock kernel does to catch it.
	is_debug "$suite" && SCALE_APPEND="ivt_split_windows=2000 ivt_removal_races=60"
	! is_debug "$suite" && [ "$QEMU_SUITE" = "$DEBUG_QEMU" ] && LIFECYCLE=1
	# Under the checkers too (the debug kernels run under DEBUG_QEMU).
	is_debug "$suite" && LIFECYCLE=1
	# chan_test's restart storm (both sides killed and restarted at random
	# for 100,000 messages between the pair's guests, about 30 s): once,
	# the newest kernel under the newest QEMU.
	[ "$suite" = "${plain[-1]:-}" ] && [ "$QEMU_SUITE" = "$DEBUG_QEMU" ] && STORM=100000
	RUN=${KVER%-amd64}/qemu-$qver
	note "kernel $KVER ($suite), QEMU $qver ($QEMU_SUITE), huge PFN mappings: $HUGE_PFNMAP"
	run_guest_suite
}

# ensure_accel: ACCEL decided once, by a probe guest of the kernel loaded.
ensure_accel() {
	[ -n "${ACCEL_PICKED:-}" ] && return 0
	QEMU_SUITE=$HOST_SUITE pick_accel
	note "guests run with $ACCEL"
	ACCEL_PICKED=1
}

main() {
	STAGES=" ${*:-static server package guest demo} "
	BUILDER=
	[ "${IVSHMEM_INTX:-0}" = 1 ] && ! stage_wanted intx && STAGES="$STAGES intx "
	local suite plain=() debug=() arm64=() qemus kernels= intx=() chroots=() demo_arch=x86_64
	# What the cache held at the start, for the table at the end.
	CACHE_STATE=$(ls "$CACHE" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')
	CACHE_STATE="${CACHE_STATE:+holding }${CACHE_STATE:-empty}"
	rm -rf "$LOGS"
	mkdir -p "$LOGS" "$CACHE/kernels"
	note "logs in $REAL_TOP/build/test-logs; cache in $CACHE, $CACHE_STATE"
	# The demo alone needs only the host's kernel and QEMU (IVSHMEM_ARCH:
	# or the host suite's kernel for that architecture).
	if [ "$STAGES" = " demo " ]; then
		case ${IVSHMEM_ARCH:-x86_64} in
		x86_64|amd64) KERNEL_SUITES=${IVSHMEM_KERNELS:-$HOST_SUITE} ;;
		arm64|aarch64) KERNEL_SUITES=${IVSHMEM_KERNELS:-arm64-$HOST_SUITE} demo_arch=arm64 ;;
		*) echo "run.sh: IVSHMEM_ARCH is x86_64 or arm64, not ${IVSHMEM_ARCH}" >&2; return 2 ;;
		esac
		QEMU_SUITES=${IVSHMEM_QEMUS:-$HOST_SUITE}
	fi
	# The INTx tier alone: the host's kernel and the debug kernels built.
	if [ "$STAGES" = " intx " ]; then
		KERNEL_SUITES=${IVSHMEM_KERNELS:-$(intx_kernel_suites | tr '\n' ' ')}
		QEMU_SUITES=${IVSHMEM_QEMUS:-$HOST_SUITE}
	fi

	# Without user space nothing else can run.
	run_part setup setup_host || { summary; return; }

	for suite in $KERNEL_SUITES; do
		if is_debug "$suite"; then
			debug+=("$suite")
		elif is_arm64 "$suite"; then
			arm64+=("$suite")
		else
			plain+=("$suite")
		fi
	done
	{ stage_wanted static || stage_wanted guest || stage_wanted demo || stage_wanted intx; } &&
		kernels=1
	if [ -n "$kernels" ]; then
		# The debug kernels build in the background from the start; then
		# the chroots of every suite named, the hot-unplug guests' QEMU
		# among them.
		if ((${#debug[@]})); then
			build_debug_kernels "${debug[@]}" &
			BUILDER=$!
		fi
		qemus=$QEMU_SUITES
		((${#debug[@]})) && stage_wanted guest && qemus="$qemus $HOTPLUG_QEMU"
		((${#arm64[@]})) && qemus="$qemus $ARM64_QEMU"
		((${#arm64[@]})) && stage_wanted guest && qemus="$qemus $HOTPLUG_QEMU"
		# Side by side: debootstrap mostly waits for the mirror.
		for suite in $(for s in "${plain[@]}" "${arm64[@]}" $qemus; do
			base_suite "$s"; done | sort -u); do
			set --
			[[ " $qemus " == *" $suite "* ]] && set -- qemu-system-x86
			# The arm64 guests', and their hot-unplug guests'.
			((${#arm64[@]})) && { [ "$suite" = "$ARM64_QEMU" ] ||
				{ stage_wanted guest && [ "$suite" = "$HOTPLUG_QEMU" ]; }; } &&
				set -- "$@" qemu-system-arm
			run_part "suite/$suite" ensure_suite "$suite" "$@" &
			chroots+=($!)
		done
		((${#chroots[@]})) && wait "${chroots[@]}"
		for suite in "${plain[@]}" "${arm64[@]}"; do
			run_part "kernel/$suite" prepare_kernel "$suite"
		done
	fi

	stage_wanted static && run_part static run_static_checks
	stage_wanted server && run_part server run_server_tests
	stage_wanted package && run_part package run_package_tests
	if stage_wanted demo; then
		if [ "$demo_arch" = arm64 ]; then
			if load_kernel "${arm64[0]:-none}"; then
				GUEST_ARCH=arm64 QEMU_SUITE=$ARM64_QEMU run_part demo run_demo
			else
				echo "demo (no arm64 kernel of ${arm64[0]:-the host suite})" >>"$WORK/unfinished"
			fi
		elif load_kernel "${plain[0]:-none}"; then
			ensure_accel
			QEMU_SUITE=$HOST_SUITE run_part demo run_demo
		else
			echo "demo (no kernel of ${plain[0]:-the host})" >>"$WORK/unfinished"
		fi
	fi
	if stage_wanted guest; then
		for QEMU_SUITE in $QEMU_SUITES; do
			for suite in "${plain[@]}"; do
				guests_of "$suite"
			done
		done
		for suite in "${arm64[@]}"; do
			QEMU_SUITE=$ARM64_QEMU guests_of "$suite"
		done
	fi

	# Each debug kernel as soon as it is built: its guests run while the
	# next one builds.
	if [ -n "$BUILDER" ]; then
		for suite in "${debug[@]}"; do
			wait_debug_kernel "$suite"
			run_part "kernel/$suite" prepare_kernel "$suite"
			stage_wanted guest && QEMU_SUITE=$DEBUG_QEMU guests_of "$suite"
		done
		wait "$BUILDER"
	fi
	if stage_wanted intx; then
		for suite in $KERNEL_SUITES; do
			load_kernel "$suite" && intx+=("$suite" "$KVER" "$VMLINUZ" "$INITRD")
		done
		run_part intx run_intx_tier "${intx[@]}"
	fi
	summary
}

# The stage times (parts run at the top of the run; those in the background
# marked), what could not run, and the counts, last.
summary() {
	local passed failed skipped total=$((SECONDS - RUN_START))
	passed=$(grep -c '^ok$' "$RESULTS")
	failed=$(grep -c '^fail$' "$RESULTS")
	skipped=$(grep -c '^skip$' "$RESULTS")
	echo "# stage times (the cache $CACHE_STATE at the start):"
	awk -F '\t' '$3 == "" { printf "#   %-48s %5d s%s\n", $2, $1, $4 }' "$TIMES"
	printf '#   %-48s %5d s (%d min %d s)\n' "whole run" "$total" $((total / 60)) $((total % 60))
	if [ -s "$WORK/unfinished" ]; then
		echo "# could not run or finish:"
		sed 's/^/#   /' "$WORK/unfinished"
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

main "$@"
