#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: host-side tests of ivshmem-server, then the guest
# suite, which boots Debian kernels under QEMU with ivshmem devices and runs
# the KTAP programs of this directory inside them.  Installs the Debian
# packages it lacks (as root) and caches kernels under $IVSHMEM_CACHE.
#
# Environment:
#   IVSHMEM_CACHE          download cache (default ~/.cache/ivshmem)
#   IVSHMEM_ACCEL          tcg, kvm or auto (default: kvm only if a probe
#                          guest boots with it, else tcg)
#   IVSHMEM_GUEST_TIMEOUT  seconds a guest may run (default 600)
#
# usage: run.sh [static] [server] [guest]   (default: all)
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

# The guests' shared memory: big enough that firmware places BAR2 above
# 4 GiB, where it is write-back (see README, "Memory type").  Sparse files.
SHM_SIZE=$((2 << 30))
HOST_OFF=$((1 << 30))
GUEST_OFF=$(((1 << 30) + (1 << 20)))
XFER=65536
VECTORS=4

passed=0 failed=0 skipped=0

note() { echo "# $*"; }
die() { echo "# run.sh: $*" >&2; echo "$passed passed, $((failed + 1)) failed, $skipped skipped"; exit 1; }

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

# The kernel ABI name (6.1.0-N-amd64) that linux-image-amd64 points at.
resolve_kernel() {
	local v
	v=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }')
	if [ -z "$v" ]; then
		apt_updated
		v=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }')
	fi
	[ -n "$v" ] || die "cannot resolve linux-image-amd64"
	echo "$v"
}

# Unpack linux-image-$1 into the cache; print the vmlinuz path.
fetch_kernel() {
	local kver=$1 dir=$CACHE/kernels/$1
	if [ ! -f "$dir/boot/vmlinuz-$kver" ]; then
		mkdir -p "$dir"
		(cd "$dir" && apt-get download "linux-image-$kver" >/dev/null 2>&1) ||
			die "cannot download linux-image-$kver"
		dpkg-deb -x "$dir"/linux-image-"$kver"_*.deb "$dir" || die "cannot unpack linux-image-$kver"
		rm -f "$dir"/*.deb
	fi
	echo "$dir/boot/vmlinuz-$kver"
}

build_all() {
	local kdir=$1
	# W=1 and sparse (C=2: every file, even if up to date); the log is
	# checked for warnings by run_static_checks.
	make -C "$TOP/kernel" KDIR="$kdir" W=1 C=2 >"$LOGS/build-kernel.log" 2>&1 ||
		{ cat "$LOGS/build-kernel.log"; die "module build failed"; }
	make -C "$TOP/selftests" >"$LOGS/build-selftests.log" 2>&1 ||
		{ cat "$LOGS/build-selftests.log"; die "test build failed"; }
	make -C "$TOP/tools" >"$LOGS/build-tools.log" 2>&1 ||
		{ cat "$LOGS/build-tools.log"; die "tools build failed"; }
}

make_initramfs() {
	local root=$BUILD/guest/root
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,tests,lib/modules}
	cp /bin/busybox "$root/bin/"
	cp "$TOP/kernel/ivshmem.ko" "$root/lib/modules/"
	cp "$TOP/selftests/guest/init" "$root/init"
	find "$BUILD/selftests" -maxdepth 1 -type f -name '*_test' -exec cp {} "$root/tests/" \;
	(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$BUILD/guest/initrd.gz"
}

# boot_guest NAME APPEND QEMU-ARGS...: run one guest to completion.
boot_guest() {
	local name=$1 append=$2 dir=$LOGS/$1
	shift 2
	mkdir -p "$dir"
	timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -machine q35 -accel "$ACCEL" \
		-m 512 -smp 1 -nodefaults -display none -no-reboot \
		-kernel "$VMLINUZ" -initrd "$BUILD/guest/initrd.gz" \
		-append "console=ttyS0 loglevel=7 panic=-1 $append" \
		-serial "file:$dir/console.log" -serial "file:$dir/ktap.log" \
		"$@" >"$dir/qemu.log" 2>&1
	echo $? >"$dir/qemu.status"
}

# Turn a guest's KTAP into results, then check its kernel log.
collect_guest() {
	local name=$1 dir=$LOGS/$1 status reason line
	note "guest $name: $(head -n 1 "$dir/ktap.log" 2>/dev/null | sed 's/^# ivt: //')"
	while IFS=$'\t' read -r status line reason; do
		result "$status" "$name/$line" "$reason"
	done < <(awk '
		{ sub(/\r$/, "") }	# the guest tty ends lines with CR LF
		/^# ivt: start / { prog = $4; next }
		/^# ivt: exit / {
			if ($5 != 0 && $5 != 1 && $5 != 4)
				printf "fail\t%s\texited with status %s\n", $4, $5
			next
		}
		/^# ivt: insmod failed/ { printf "fail\tinsmod\t\n"; next }
		/^(not )?ok [0-9]+ / {
			ok = ($1 == "ok")
			sub(/^(not )?ok [0-9]+ /, "")
			skip = sub(/ # SKIP.*$/, "")
			printf "%s\t%s/%s\t\n", !ok ? "fail" : skip ? "skip" : "ok", prog, $0
			next
		}' "$dir/ktap.log" 2>/dev/null)
	tr -d '\r' <"$dir/ktap.log" 2>/dev/null | grep -v '^\(ok\|TAP\|1\.\.\|# ivt\|# Totals\)' |
		sed 's/^/# /' | head -n 100
	if ! grep -q '^# ivt: done' "$dir/ktap.log" 2>/dev/null; then
		result fail "$name/guest_completed" "qemu status $(cat "$dir/qemu.status"); see $dir"
		tail -n 30 "$dir/console.log" 2>/dev/null | sed 's/^/# console: /'
	fi
	# Any kernel complaint fails the run, whatever the tests said.
	if grep -qE '\b(BUG|WARNING|Oops|KASAN)\b|lockdep|leak' "$dir/console.log"; then
		result fail "$name/kernel_log_clean" "see $dir/console.log"
		grep -E -A 20 '\b(BUG|WARNING|Oops|KASAN)\b|lockdep|leak' "$dir/console.log" |
			head -n 60 | sed 's/^/# console: /'
	else
		result ok "$name/kernel_log_clean"
	fi
}

# start_server NAME MEMFILE: an ivshmem-server on MEMFILE for VECTORS vectors.
start_server() {
	local name=$1 mem=$2 dir=$LOGS/$1
	mkdir -p "$dir"
	SOCK=$dir/server.sock
	"$BUILD/ivshmem-server" -F -S "$SOCK" -m "$mem" -l $SHM_SIZE -n $VECTORS --keep-shm \
		>"$dir/server.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.05
	done
	die "ivshmem-server for $name did not start: $(cat "$dir/server.log")"
}

stop_server() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

new_memfile() { # NAME SEED: sparse backing file with the host pattern in it
	local mem=$LOGS/$1.mem
	rm -f "$mem"
	truncate -s $SHM_SIZE "$mem"
	"$BUILD/selftests/host/pattern" fill "$mem" $HOST_OFF $XFER "$2" || die "pattern fill failed"
	echo "$mem"
}

common_append() { # SEED
	echo "ivt_size=$SHM_SIZE ivt_seed=$1 ivt_host_off=$HOST_OFF ivt_guest_off=$GUEST_OFF ivt_xfer=$XFER"
}

check_host_side() { # NAME MEMFILE SEED
	if "$BUILD/selftests/host/pattern" check "$2" $GUEST_OFF $XFER "$3" 2>"$LOGS/$1/pattern.log"; then
		result ok "$1/host_reads_guest_writes"
	else
		result fail "$1/host_reads_guest_writes" "$(cat "$LOGS/$1/pattern.log")"
	fi
}

# A small second device, so several devices and index reuse get exercised.
small_device() { # NAME
	truncate -s 4M "$LOGS/$1.small"
	echo "-object memory-backend-file,id=small,size=4M,share=on,mem-path=$LOGS/$1.small"
	echo "-device ivshmem-plain,memdev=small,addr=5"
}

pick_accel() {
	case $ACCEL in
	tcg|kvm) return ;;
	esac
	ACCEL=tcg
	[ -w /dev/kvm ] || return 0
	# Nested KVM can hang at kernel entry: trust it only if a guest finishes.
	local saved=$GUEST_TIMEOUT
	GUEST_TIMEOUT=20
	ACCEL=kvm boot_guest kvm-probe "ivt_run="
	GUEST_TIMEOUT=$saved
	grep -q '^# ivt: done' "$LOGS/kvm-probe/ktap.log" 2>/dev/null && ACCEL=kvm
	return 0
}

run_guest_suite() {
	local seed mem_plain mem_door mem_pair pid_plain pid_door srv_door srv_pair
	seed=$((RANDOM * 32768 + RANDOM))

	# Topology 1: ivshmem-plain on a host file the host checks.
	mem_plain=$(new_memfile plain $seed)
	boot_guest plain "ivt_run=uapi_test,mmap_test ivt_mode=none ivt_vectors=0 $(common_append $seed)" \
		-object memory-backend-file,id=shm,size=$SHM_SIZE,share=on,mem-path="$mem_plain" \
		-device ivshmem-plain,memdev=shm,addr=4 $(small_device plain) &
	pid_plain=$!

	# Topology 2: ivshmem-doorbell on our server; the guest rings itself,
	# then loses the device, and finally reloads the module.
	mem_door=$(new_memfile doorbell $seed)
	start_server doorbell "$mem_door"
	srv_door=$SERVER_PID
	boot_guest doorbell "ivt_run=uapi_test,mmap_test,doorbell_test,remove_test,module_test ivt_mode=msix ivt_vectors=$VECTORS $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 $(small_device doorbell) &
	pid_door=$!

	wait $pid_plain
	collect_guest plain
	check_host_side plain "$mem_plain" $seed
	wait $pid_door
	stop_server $srv_door
	collect_guest doorbell
	check_host_side doorbell "$mem_door" $seed

	# Topology 3: two guests on one server ring each other.
	mem_pair=$(new_memfile pair $seed)
	start_server pair "$mem_pair"
	srv_pair=$SERVER_PID
	local pids=()
	for role in a b; do
		boot_guest pair-$role "ivt_run=pair_test ivt_role=$role ivt_vectors=$VECTORS $(common_append $seed)" \
			-chardev socket,id=ivs,path="$SOCK" \
			-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 &
		pids+=($!)
	done
	wait "${pids[@]}"
	stop_server $srv_pair
	collect_guest pair-a
	collect_guest pair-b
	rm -f "$LOGS"/*.mem "$LOGS"/*.small
}

# Build-time checks: the uapi header as C and C++, the module's warnings.
run_static_checks() {
	local lang std cc
	for lang in c11 cxx17; do
		case $lang in
		c11) cc="gcc -x c -std=c11" ;;
		cxx17) cc="g++ -x c++ -std=c++17" ;;
		esac
		if $cc -Wall -Wextra -pedantic -Werror -I"$TOP/uapi" -fsyntax-only \
			"$TOP/selftests/host/uapi_abi.c" >"$LOGS/uapi-$lang.log" 2>&1; then
			result ok "static/uapi_header_$lang"
		else
			result fail "static/uapi_header_$lang" "see $LOGS/uapi-$lang.log"
			sed 's/^/# /' "$LOGS/uapi-$lang.log" | head -n 20
		fi
	done
	if grep -q '^  CHECK ' "$LOGS/build-kernel.log" &&
		! grep -qE 'warning:|error:' "$LOGS/build-kernel.log"; then
		result ok "static/module_w1_sparse_clean"
	else
		result fail "static/module_w1_sparse_clean" "see $LOGS/build-kernel.log"
		grep -E 'warning:|error:' "$LOGS/build-kernel.log" | head -n 20 | sed 's/^/# /'
	fi
}

run_server_tests() {
	local line status
	note "ivshmem-server host tests (under valgrind)"
	IVT_VALGRIND=1 "$BUILD/selftests/host/server_test" "$BUILD/ivshmem-server" >"$LOGS/server_test.log" 2>&1
	status=$?
	while IFS= read -r line; do
		case $line in
		"not ok "*) result fail "server/${line#not ok [0-9]* }" ;;
		"ok "*" # SKIP"*) line=${line#ok [0-9]* }; result skip "server/${line% # SKIP*}" "${line#* # SKIP}" ;;
		"ok "*) result ok "server/${line#ok [0-9]* }" ;;
		"# Totals"*) ;;
		"#"*) echo "$line" ;;
		esac
	done <"$LOGS/server_test.log"
	case $status in
	0|1|4) ;;
	*) result fail "server/server_test_exit" "exited with status $status" ;;
	esac
}

main() {
	local kver suites=" ${*:-static server guest} "
	rm -rf "$LOGS"
	mkdir -p "$LOGS" "$CACHE" "$BUILD/guest"

	need_packages qemu-system-x86 busybox-static cpio gzip gcc g++ make libc6-dev valgrind \
		kmod sparse
	kver=$(resolve_kernel)
	need_packages "linux-headers-$kver"
	VMLINUZ=$(fetch_kernel "$kver")
	note "guest kernel $kver"
	build_all "/usr/src/linux-headers-$kver"
	make_initramfs

	[[ $suites == *" static "* ]] && run_static_checks
	[[ $suites == *" server "* ]] && run_server_tests
	if [[ $suites == *" guest "* ]]; then
		pick_accel
		note "guests run with $ACCEL"
		run_guest_suite
	fi

	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

main "$@"
