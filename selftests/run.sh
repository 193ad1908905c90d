#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite, in three stages:
#   static  the uapi header as C11 and C++17 with its ABI pinned; the module
#           built with W=1 and sparse for every kernel of the matrix;
#           cppcheck and clang-tidy over user space
#   server  host tests of ivshmem-server, under valgrind and again built
#           with AddressSanitizer and UndefinedBehaviorSanitizer
#   guest   for every QEMU and kernel of the matrix, QEMU guests with
#           ivshmem devices running the KTAP programs of this directory
# Installs the Debian packages it lacks (as root); caches kernels and the
# chroots of other Debian suites under $IVSHMEM_CACHE.
#
# Environment:
#   IVSHMEM_KERNELS        Debian suites whose current kernel the guests run,
#                          and "debug" for the KASAN/lockdep/kmemleak kernel
#                          (default "bookworm trixie sid debug")
#   IVSHMEM_QEMUS          Debian suites whose QEMU runs the guests
#                          (default "bookworm trixie")
#   IVSHMEM_CACHE          download cache (default ~/.cache/ivshmem)
#   IVSHMEM_ACCEL          tcg, kvm or auto (default: kvm only if a probe
#                          guest boots with it, else tcg)
#   IVSHMEM_GUEST_TIMEOUT  seconds a guest may run (default 600)
#
# usage: run.sh [static] [server] [guest] [demo]   (default: all)
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
KERNEL_SUITES=${IVSHMEM_KERNELS:-bookworm trixie sid debug}
QEMU_SUITES=${IVSHMEM_QEMUS:-bookworm trixie}

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

build_userspace() {
	make -C "$TOP/tools" >"$LOGS/build-tools.log" 2>&1 ||
		{ cat "$LOGS/build-tools.log"; die "tools build failed"; }
	make -C "$TOP/selftests" all sanitized >"$LOGS/build-selftests.log" 2>&1 ||
		{ cat "$LOGS/build-selftests.log"; die "test build failed"; }
}

# make_initramfs KVER MODULE: busybox, the module and the static test
# programs; print the path of the initramfs.
make_initramfs() {
	local root=$BUILD/guest/$1/root out=$BUILD/guest/$1/initrd.gz
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,tests,lib/modules}
	cp /bin/busybox "$BUILD/guest-bin/ivshmem-ctl" "$root/bin/"
	cp "$2" "$root/lib/modules/"
	cp "$TOP/selftests/guest/init" "$root/init"
	find "$BUILD/selftests" -maxdepth 1 -type f -name '*_test' -exec cp {} "$root/tests/" \;
	cp "$BUILD/guest-bin/ivshmem-demo" "$root/tests/"
	(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
	echo "$out"
}

# One combination of the matrix at a time: the guests boot $VMLINUZ with
# $INITRD under the QEMU of $QEMU_SUITE; names and logs go under $RUN.
# boot_guest NAME APPEND QEMU-ARGS...: run one guest to completion.
boot_guest() {
	local name=$1 append=$2 dir=$LOGS/$RUN/$1
	shift 2
	mkdir -p "$dir"
	# phys-bits=39: newer SeaBIOS puts 64-bit BARs at the top of the
	# physical address space, and with 40 bits that is inside the range
	# QEMU reserves in e820 for AMD's HyperTransport hole, where Linux
	# refuses to place the BAR again after a remove and rescan.
	in_suite "$QEMU_SUITE" timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -machine q35 -accel "$ACCEL" \
		-cpu qemu64,phys-bits=39 -m 512 -smp 1 -nodefaults -display none -no-reboot \
		-kernel "$VMLINUZ" -initrd "$INITRD" \
		-append "console=ttyS0 loglevel=7 panic=-1 $append" \
		-serial "file:$dir/console.log" -serial "file:$dir/ktap.log" \
		"$@" >"$dir/qemu.log" 2>&1
	echo $? >"$dir/qemu.status"
}

# Turn a guest's KTAP into results, then check its kernel log.
collect_guest() {
	local name=$1 dir=$LOGS/$RUN/$1 status reason line
	note "guest $RUN/$name: $(head -n 1 "$dir/ktap.log" 2>/dev/null | sed 's/^# ivt: //')"
	while IFS=$'\t' read -r status line reason; do
		result "$status" "$RUN/$name/$line" "$reason"
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
		result fail "$RUN/$name/guest_completed" "qemu status $(cat "$dir/qemu.status"); see $dir"
		tail -n 30 "$dir/console.log" 2>/dev/null | sed 's/^/# console: /'
	fi
	check_kernel_log "$name"
}

# check_kernel_log NAME: any kernel complaint fails the run, whatever the
# tests said.  Only the debug kernel's banners naming its checkers are let
# through.
check_kernel_log() {
	local name=$1 dir=$LOGS/$RUN/$1
	local pattern='\b(BUG|WARNING|Oops|KASAN)\b|lockdep|leak'
	local banners='RCU lockdep checking is enabled|kmemleak: Kernel memory leak detector initialized'
	if grep -E "$pattern" "$dir/console.log" | grep -qvE "$banners"; then
		result fail "$RUN/$name/kernel_log_clean" "see $dir/console.log"
		grep -E "$pattern" "$dir/console.log" | grep -vE "$banners" | head -n 1 |
			sed 's/^/# console: /'
		grep -vE "$banners" "$dir/console.log" | grep -E -A 20 "$pattern" | head -n 60 |
			sed 's/^/# console: /'
	else
		result ok "$RUN/$name/kernel_log_clean"
	fi
}

# start_server NAME MEMFILE: an ivshmem-server on MEMFILE for VECTORS vectors.
start_server() {
	local name=$1 mem=$2 dir=$LOGS/$RUN/$1
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

# start_host_peer NAME: host/peer_echo joins the server at $SOCK before the
# guest does; sets HOST_PEER_ID.
start_host_peer() {
	local dir=$LOGS/$RUN/$1
	"$BUILD/selftests/host/peer_echo" "$SOCK" "$GUEST_TIMEOUT" >"$dir/peer_echo.log" 2>&1 &
	HOST_PEER_PID=$!
	for _ in $(seq 100); do
		HOST_PEER_ID=$(sed -n 's/^peer_echo: id \([0-9]*\).*/\1/p' "$dir/peer_echo.log")
		[ -n "$HOST_PEER_ID" ] && return 0
		sleep 0.05
	done
	die "host peer did not join: $(cat "$dir/peer_echo.log")"
}

# finish_host_peer NAME: the host peer answered the guest and exited cleanly.
finish_host_peer() {
	local dir=$LOGS/$RUN/$1
	kill "$HOST_PEER_PID" 2>/dev/null && sleep 0.1
	if wait "$HOST_PEER_PID" && grep -q '^peer_echo: got' "$dir/peer_echo.log"; then
		result ok "$RUN/$1/host_peer_answered_guest"
	else
		result fail "$RUN/$1/host_peer_answered_guest" "$(tail -n 1 "$dir/peer_echo.log")"
	fi
}

stop_server() {
	kill -TERM "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

new_memfile() { # NAME SEED: sparse backing file with the host pattern in it
	local mem=$LOGS/$RUN/$1.mem
	rm -f "$mem"
	truncate -s $SHM_SIZE "$mem"
	"$BUILD/selftests/host/pattern" fill "$mem" $HOST_OFF $XFER "$2" || die "pattern fill failed"
	echo "$mem"
}

common_append() { # SEED
	echo "ivt_size=$SHM_SIZE ivt_seed=$1 ivt_host_off=$HOST_OFF ivt_guest_off=$GUEST_OFF ivt_xfer=$XFER"
}

check_host_side() { # NAME MEMFILE SEED
	if "$BUILD/selftests/host/pattern" check "$2" $GUEST_OFF $XFER "$3" 2>"$LOGS/$RUN/$1/pattern.log"; then
		result ok "$RUN/$1/host_reads_guest_writes"
	else
		result fail "$RUN/$1/host_reads_guest_writes" "$(cat "$LOGS/$RUN/$1/pattern.log")"
	fi
}

# A small second device, so several devices and index reuse get exercised.
small_device() { # NAME
	truncate -s 4M "$LOGS/$RUN/$1.small"
	echo "-object memory-backend-file,id=small,size=4M,share=on,mem-path=$LOGS/$RUN/$1.small"
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
	ACCEL=kvm RUN=probe boot_guest kvm "ivt_run="
	GUEST_TIMEOUT=$saved
	grep -q '^# ivt: done' "$LOGS/probe/kvm/ktap.log" 2>/dev/null && ACCEL=kvm
	return 0
}

run_guest_suite() {
	local seed mem_plain mem_door mem_pair pid_plain pid_door srv_door srv_pair
	seed=$((RANDOM * 32768 + RANDOM))
	mkdir -p "$LOGS/$RUN"

	# Topology 1: ivshmem-plain on a host file the host checks.
	mem_plain=$(new_memfile plain $seed) || exit 1
	boot_guest plain "ivt_run=uapi_test,mmap_test ivt_mode=none ivt_vectors=0 $(common_append $seed)" \
		-object memory-backend-file,id=shm,size=$SHM_SIZE,share=on,mem-path="$mem_plain" \
		-device ivshmem-plain,memdev=shm,addr=4 $(small_device plain) &
	pid_plain=$!

	# Topology 2: ivshmem-doorbell on our server, with a host peer; the
	# guest rings itself and the host peer, then loses the device, and
	# finally reloads the module.
	mem_door=$(new_memfile doorbell $seed) || exit 1
	start_server doorbell "$mem_door"
	srv_door=$SERVER_PID
	start_host_peer doorbell
	boot_guest doorbell "ivt_run=uapi_test,mmap_test,doorbell_test,lib_test,ctl_test,bench_test,remove_test,module_test ivt_mode=msix ivt_vectors=$VECTORS ivt_host_peer=$HOST_PEER_ID $(common_append $seed)" \
		-chardev socket,id=ivs,path="$SOCK" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 $(small_device doorbell) &
	pid_door=$!

	wait $pid_plain
	collect_guest plain
	check_host_side plain "$mem_plain" $seed
	wait $pid_door
	finish_host_peer doorbell
	stop_server $srv_door
	collect_guest doorbell
	check_host_side doorbell "$mem_door" $seed

	# Topology 3: two guests on one server ring each other.
	mem_pair=$(new_memfile pair $seed) || exit 1
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
	rm -f "$LOGS/$RUN"/*.mem "$LOGS/$RUN"/*.small
}

# The uapi header as C and C++, with its ABI pinned; libivshmem's header too.
check_uapi() {
	local lang cc
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
		if echo '#include "libivshmem.h"' | $cc -Wall -Wextra -pedantic -Werror \
			-I"$TOP/uapi" -I"$TOP/lib" -fsyntax-only - >"$LOGS/lib-$lang.log" 2>&1; then
			result ok "static/libivshmem_header_$lang"
		else
			result fail "static/libivshmem_header_$lang" "see $LOGS/lib-$lang.log"
			sed 's/^/# /' "$LOGS/lib-$lang.log" | head -n 20
		fi
	done
}

# check_module_log KVER: the W=1 + sparse build of the module warned nothing.
check_module_log() {
	local log=$LOGS/build-module-$1.log
	if grep -q '^  CHECK ' "$log" && ! grep -qE 'warning:|error:' "$log"; then
		result ok "static/module_w1_sparse_clean/$1"
	else
		result fail "static/module_w1_sparse_clean/$1" "see $log"
		grep -E 'warning:|error:|C=2 specified' "$log" | head -n 20 | sed 's/^/# /'
	fi
}

# checkpatch.pl from the host's linux-source package, which carries the
# kernel's scripts, unpacked once into the cache; prints its path.
fetch_checkpatch() {
	local dir=$CACHE/checkpatch pkg
	if [ ! -f "$dir/checkpatch.pl" ]; then
		pkg=$(apt-cache depends linux-source 2>/dev/null |
			awk '/Depends: linux-source-/ { print $2; exit }')
		[ -n "$pkg" ] || die "cannot resolve the linux-source package"
		mkdir -p "$dir"
		(cd "$dir" && apt-get download "$pkg" >/dev/null 2>&1) || die "cannot download $pkg"
		dpkg-deb --fsys-tarfile "$dir/$pkg"_*.deb |
			tar -xO "./usr/src/$pkg.tar.xz" |
			tar -xJ -C "$dir" --wildcards --strip-components=2 '*/scripts/checkpatch.pl' \
				'*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' ||
			die "cannot unpack checkpatch.pl from $pkg"
		rm -f "$dir"/*.deb
	fi
	echo "$dir/checkpatch.pl"
}

# The kernel code and the uapi header against checkpatch --strict.
check_kernel_style() {
	local checkpatch files
	checkpatch=$(fetch_checkpatch) || exit 1
	files=$(cd "$TOP" && ls kernel/*.c kernel/*.h kernel/conftest/*.c uapi/linux/*.h |
		grep -v -e '\.mod\.c$' -e '^kernel/conftest\.h$')
	if (cd "$TOP" && perl "$checkpatch" --no-tree --strict -q --terse -f $files) \
		>"$LOGS/checkpatch.log" 2>&1; then
		result ok "static/checkpatch"
	else
		result fail "static/checkpatch" "see $LOGS/checkpatch.log"
		grep -v '^total' "$LOGS/checkpatch.log" | head -n 20 | sed 's/^/# /'
	fi
}

# cppcheck and clang-tidy over all user-space C, with the checked-in
# .cppcheck-suppressions and .clang-tidy.
check_userspace_lint() {
	local files f bad=
	mapfile -t files < <(cd "$TOP" && ls tools/*/*.c lib/*.c selftests/*.c selftests/lib/*.c \
		selftests/host/*.c)
	if (cd "$TOP" && cppcheck -q --std=c11 --enable=warning,style,performance,portability \
		--error-exitcode=1 --inline-suppr --suppressions-list=.cppcheck-suppressions \
		-D_GNU_SOURCE -Iuapi -Ilib -Iselftests $(pkg-config --cflags libnl-genl-3.0) \
		"${files[@]}") >"$LOGS/cppcheck.log" 2>&1; then
		result ok "static/cppcheck"
	else
		result fail "static/cppcheck" "see $LOGS/cppcheck.log"
		head -n 20 "$LOGS/cppcheck.log" | sed 's/^/# /'
	fi
	: >"$LOGS/clang-tidy.log"
	for f in "${files[@]}"; do
		(cd "$TOP" && clang-tidy -quiet "$f" -- -std=c11 -D_GNU_SOURCE -Iuapi -Ilib -Iselftests \
			$(pkg-config --cflags-only-I libnl-genl-3.0 | sed 's/-I/-isystem /g')) \
			>>"$LOGS/clang-tidy.log" 2>&1 || bad="$bad $f"
	done
	if [ -z "$bad" ]; then
		result ok "static/clang_tidy"
	else
		result fail "static/clang_tidy" "in$bad; see $LOGS/clang-tidy.log"
		grep -E 'warning:|error:' "$LOGS/clang-tidy.log" | head -n 20 | sed 's/^/# /'
	fi
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

# follow_logs STOPFILE FILE...: print the new complete lines of FILEs, in
# the order they appear, until STOPFILE exists (then once more).
follow_logs() {
	local stop=$1 f n done=
	shift
	local -A seen
	while [ -z "$done" ]; do
		[ -e "$stop" ] && done=1
		for f in "$@"; do
			[ -f "$f" ] || continue
			n=$(tr -dc '\n' <"$f" | wc -c)
			((n > ${seen[$f]:-0})) || continue
			head -n "$n" "$f" | tail -n +"$((${seen[$f]:-0} + 1))" |
				sed 's/\r$//; /^# ivt/d; /^$/d'
			seen[$f]=$n
		done
		sleep 0.2
	done
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
	truncate -s $SHM_SIZE "$mem"
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
	note "ivshmem-server host tests, under valgrind"
	run_host_ktap server-valgrind env IVT_VALGRIND=1 "$BUILD/selftests/host/server_test" \
		"$BUILD/ivshmem-server"
	note "ivshmem-server host tests, built with ASan and UBSan"
	run_host_ktap server-asan "${asan[@]}" "$BUILD/selftests/asan/server_test" \
		"$BUILD/selftests/asan/ivshmem-server"
	note "libivshmem host-peer tests, under valgrind"
	run_host_ktap lib-valgrind "${valgrind[@]}" "$BUILD/selftests/host/lib_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
	note "libivshmem host-peer tests, built with ASan and UBSan"
	run_host_ktap lib-asan "${asan[@]}" "$BUILD/selftests/asan/lib_host_test" \
		"$BUILD/ivshmem-server" "$BUILD/ivshmem-ctl"
}

main() {
	local stages=" ${*:-static server guest demo} " suite kver ko
	local -A vmlinuz initrd kernel
	rm -rf "$LOGS"
	mkdir -p "$LOGS" "$CACHE/kernels"
	# The demo alone needs only the host's kernel and QEMU.
	if [ "$stages" = " demo " ]; then
		KERNEL_SUITES=${IVSHMEM_KERNELS:-$HOST_SUITE}
		QEMU_SUITES=${IVSHMEM_QEMUS:-$HOST_SUITE}
	fi

	need_packages qemu-system-x86 busybox-static cpio gzip gcc g++ make libc6-dev valgrind \
		kmod sparse cppcheck clang-tidy pkg-config libnl-3-dev libnl-genl-3-dev
	build_userspace

	# Every suite of the matrix, with its kernel built and packed.
	for suite in $(echo "$KERNEL_SUITES $QEMU_SUITES" | tr ' ' '\n' | sort -u); do
		if [[ " $QEMU_SUITES " == *" $suite "* ]]; then
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
		[[ $stages == *" static "* ]] && check_module_log "$kver"
	done

	if [[ $stages == *" static "* ]]; then
		check_uapi
		check_kernel_style
		check_userspace_lint
	fi
	[[ $stages == *" server "* ]] && run_server_tests
	[[ $stages == *" guest "* || $stages == *" demo "* ]] || { summary; return; }

	suite=${KERNEL_SUITES%% *}
	VMLINUZ=${vmlinuz[$suite]} INITRD=${initrd[$suite]} QEMU_SUITE=$HOST_SUITE pick_accel
	note "guests run with $ACCEL"
	if [[ $stages == *" demo "* ]]; then
		VMLINUZ=${vmlinuz[$suite]} INITRD=${initrd[$suite]} QEMU_SUITE=$HOST_SUITE run_demo
	fi
	[[ $stages == *" guest "* ]] || { summary; return; }
	for QEMU_SUITE in $QEMU_SUITES; do
		local qver
		qver=$(suite_qemu_version "$QEMU_SUITE")
		for suite in $KERNEL_SUITES; do
			VMLINUZ=${vmlinuz[$suite]}
			INITRD=${initrd[$suite]}
			kver=${kernel[$suite]}
			RUN=${kver%-amd64}/qemu-$qver
			note "kernel $kver ($suite), QEMU $qver ($QEMU_SUITE)"
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
