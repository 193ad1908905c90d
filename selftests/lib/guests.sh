# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# QEMU guests for run.sh: initramfs, booting, collecting KTAP and kernel
# logs, the ivshmem-server and host peer beside them.  Sourced by run.sh.

# make_initramfs KVER MODULE [ARCH]: busybox, the module (and
# uio_pci_generic) and the static test programs of ARCH (x86_64, the
# default, or arm64); print the path of the initramfs.
make_initramfs() {
	local root=$BUILD/guest/$1/root out=$BUILD/guest/$1/initrd.gz bin=$BUILD busybox=/bin/busybox
	if [ "${3:-x86_64}" = arm64 ]; then
		bin=$BUILD/arm64
		busybox=$(arm64_busybox) || exit 1
	fi
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,tests,lib/modules}
	cp "$busybox" "$bin/guest-bin/ivshmem-ctl" "$root/bin/"
	cp "$2" "$root/lib/modules/"
	# Test modules built beside it (build_module), which init loads too.
	if [ -d "${2%/kernel/*}/selftests/kmod" ]; then
		mkdir -p "$root/lib/modules/test"
		cp "${2%/kernel/*}/selftests/kmod/"*.ko "$root/lib/modules/test/"
	fi
	# uio_pci_generic, for bench's comparison, where the kernel's package
	# has it; busybox's insmod wants it uncompressed.
	mkdir -p "$root/lib/modules/extra"
	find "$CACHE/kernels/$1" -path '*/drivers/uio/*' \( -name 'uio.ko*' -o \
		-name 'uio_pci_generic.ko*' \) 2>/dev/null | while read -r ko; do
		case $ko in
		*.xz) xz -dc "$ko" ;;
		*.zst) zstd -qdc "$ko" ;;
		*) cat "$ko" ;;
		esac >"$root/lib/modules/extra/$(basename "${ko%.ko*}").ko"
	done
	cp "$TOP/selftests/guest/init" "$root/init"
	find "$bin/selftests" -maxdepth 1 -type f \( -name '*_test' -o -name '*_test32' \) \
		-exec cp {} "$root/tests/" \;
	cp "$bin/selftests/bench" "$root/tests/"
	cp "$bin/guest-bin/ivshmem-demo" "$root/tests/"
	(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$out"
	echo "$out"
}

# One combination of the matrix at a time: the guests boot $VMLINUZ with
# $INITRD under the QEMU of $QEMU_SUITE, for $GUEST_ARCH (x86_64 or arm64);
# names and logs go under $RUN.
# boot_guest NAME APPEND QEMU-ARGS...: run one guest to completion.
# A guest migrated in (GUEST_CONTINUES=1) goes on with the logs of the one it
# came from.
boot_guest() {
	local name=$1 append=$2 dir=$LOGS/$RUN/$1 logs
	shift 2
	mkdir -p "$dir"
	[ -n "${GUEST_CONTINUES:-}" ] || rm -f "$dir/console.log" "$dir/ktap.log" "$dir/qemu.log"
	logs=$(qemu_opt_value "$dir")
	if [ "${GUEST_ARCH:-x86_64}" = arm64 ]; then
		local board
		mapfile -t board < <(arm64_qemu_args "$logs")
		in_suite "$QEMU_SUITE" timeout "$GUEST_TIMEOUT" qemu-system-aarch64 "${board[@]}" \
			-nodefaults -display none -no-reboot -kernel "$VMLINUZ" -initrd "$INITRD" \
			-append "console=ttyAMA0 loglevel=7 panic=-1 ivt_console=ttyAMA0 ivt_ktap=ttyS0 $append" \
			"$@" >>"$dir/qemu.log" 2>&1
		echo $? >"$dir/qemu.status"
		return
	fi
	# phys-bits=39: newer SeaBIOS puts 64-bit BARs at the top of the
	# physical address space, and with 40 bits that is inside the range
	# QEMU reserves in e820 for AMD's HyperTransport hole, where Linux
	# refuses to place the BAR again after a remove and rescan.
	# pdpe1gb: 1 GiB pages, for huge mappings of the shared memory.
	in_suite "$QEMU_SUITE" timeout "$GUEST_TIMEOUT" qemu-system-x86_64 -machine q35 -accel "$ACCEL" \
		-cpu qemu64,phys-bits=39,pdpe1gb=on -m 512 -smp 1 -nodefaults -display none -no-reboot \
		-kernel "$VMLINUZ" -initrd "$INITRD" \
		-append "console=ttyS0 loglevel=7 panic=-1 $append" \
		-chardev file,id=console,append=on,path="$logs/console.log" -serial chardev:console \
		-chardev file,id=ktap,append=on,path="$logs/ktap.log" -serial chardev:ktap \
		"$@" >>"$dir/qemu.log" 2>&1
	echo $? >"$dir/qemu.status"
}

# qemu_opt_value VALUE: VALUE as one value of a QEMU option list, where a
# comma is written twice.
qemu_opt_value() {
	echo "${1//,/,,}"
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
	local name=$1 dir=$LOGS/$RUN/$1 log
	local pattern='\b(BUG|WARNING|Oops|KASAN|UBSAN)\b|lockdep|leak'
	local banners='RCU lockdep checking is enabled|kmemleak: Kernel memory leak detector initialized'
	log=$dir/console.checked
	without_known_reports <"$dir/console.log" >"$log"
	if ! cmp -s "$dir/console.log" "$log"; then
		note "$RUN/$name: pciehp's own lockdep report (README, \"Known limits\") set aside; lockdep is off after it"
	fi
	if grep -E "$pattern" "$log" | grep -qvE "$banners"; then
		result fail "$RUN/$name/kernel_log_clean" "see $dir/console.log"
		grep -E "$pattern" "$log" | grep -vE "$banners" | head -n 1 |
			sed 's/^/# console: /'
		grep -vE "$banners" "$log" | grep -E -A 20 "$pattern" | head -n 60 |
			sed 's/^/# console: /'
	else
		result ok "$RUN/$name/kernel_log_clean"
	fi
}

# without_known_reports: the kernel log on stdin, less the one upstream
# report the suite cannot avoid, matched whole and by its exact locks and
# functions: pciehp_unconfigure_device() drops and retakes ctrl->reset_lock
# under pci_rescan_remove_lock, which lockdep reports as a circular
# dependency on the first removal through pciehp, in every kernel of the
# matrix (6.1, 6.12 and 7.2 have the same code).  No ivshmem lock is in it.
# Any other report, or this one with another lock in its chain, stays.
without_known_reports() {
	awk '
	function flush(known) {
		if (!known)
			printf "%s", block
		block = ""; inblock = 0
	}
	/WARNING: possible circular locking dependency detected/ {
		if (inblock) flush(0)
		inblock = 1; block = ""; trying = holding = other = 0
	}
	inblock {
		block = block $0 "\n"
		if ($0 ~ /is trying to acquire lock:/) { want = "trying"; next }
		if ($0 ~ /but task is already holding lock:/) { want = "holding"; next }
		if (want == "trying") {
			trying = $0 ~ /\(&ctrl->reset_lock\)\{[^}]*\}-\{[^}]*\}, at: pciehp_unconfigure_device\+/
			want = ""
		} else if (want == "holding") {
			holding = $0 ~ /\(pci_rescan_remove_lock\)\{[^}]*\}-\{[^}]*\}, at: pci_lock_rescan_remove\+/
			want = ""
		}
		# The chain lists exactly these two locks, nothing of ours.
		if ($0 ~ /-> #[0-9]+ \(/ && $0 !~ /\((&ctrl->reset_lock|pci_rescan_remove_lock)\)/)
			other = 1
		if ($0 ~ /ivshmem_[a-z_]*\+|\[ivshmem\]/)
			other = 1
		if ($0 ~ /<\/TASK>/)
			flush(trying && holding && !other)
		next
	}
	{ print }
	END { if (inblock) flush(0) }'
}

# start_server NAME MEMFILE [N]: an ivshmem-server for N vectors (default
# VECTORS) backing its memory with MEMFILE, which it creates anew and leaves
# behind.  What new_memfile put into a MEMFILE that exists already (the
# host's pattern) is carried over into the new one.
start_server() {
	local name=$1 mem=$2 dir=$LOGS/$RUN/$1
	mkdir -p "$dir"
	SOCK=$(new_socket server) || exit 1
	echo "$SOCK" >"$dir/server.sock-path"
	[ -e "$mem" ] && mv "$mem" "$mem.prepared"
	# Ended with the shell that started it, and after a while regardless.
	setpriv --pdeathsig TERM timeout $((GUEST_TIMEOUT + 120)) \
		"$BUILD/ivshmem-server" -F -S "$SOCK" -m "$mem" -l $SHM_SIZE -n "${3:-$VECTORS}" --keep-shm \
		>"$dir/server.log" 2>&1 &
	SERVER_PID=$!
	wait_until test -S "$SOCK" ||
		die "ivshmem-server for $name did not start: $(cat "$dir/server.log")"
	if [ -e "$mem.prepared" ]; then
		dd if="$mem.prepared" of="$mem" bs=4096 skip=$((HOST_OFF / 4096)) \
			seek=$((HOST_OFF / 4096)) count=$((XFER / 4096)) conv=notrunc status=none ||
			die "cannot copy the host pattern into $mem"
		rm -f "$mem.prepared"
	fi
}

# new_socket NAME: a path for a new UNIX socket NAME, in a private directory
# of its own under $SOCKETS: short, wherever the checkout is (a socket's
# path has at most 107 bytes; run.sh checks $SOCKETS leaves room).
new_socket() {
	local dir
	dir=$(mktemp -d "$SOCKETS/XXXXXX") || die "cannot make a socket directory in $SOCKETS"
	echo "$dir/$1"
}

# wait_until CMD...: retry CMD every 50 ms for up to 5 s; 0 once it succeeds.
wait_until() {
	for _ in $(seq 100); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# start_host_peer NAME: host/peer_echo joins the server at $SOCK before the
# guest does; sets HOST_PEER_ID.
start_host_peer() {
	local dir=$LOGS/$RUN/$1
	"$BUILD/selftests/host/peer_echo" "$SOCK" "$GUEST_TIMEOUT" >"$dir/peer_echo.log" 2>&1 &
	HOST_PEER_PID=$!
	wait_until grep -q '^peer_echo: id' "$dir/peer_echo.log" ||
		die "host peer did not join: $(cat "$dir/peer_echo.log")"
	HOST_PEER_ID=$(sed -n 's/^peer_echo: id \([0-9]*\).*/\1/p' "$dir/peer_echo.log")
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
	echo "ivt_size=$SHM_SIZE ivt_huge=${HUGE_PFNMAP:-none} ivt_seed=$1 ivt_host_off=$HOST_OFF ivt_guest_off=$GUEST_OFF ivt_xfer=$XFER${SCALE_APPEND:+ $SCALE_APPEND}"
}

check_host_side() { # NAME MEMFILE SEED
	check_pattern_file "$1" "$2" $GUEST_OFF host_reads_guest_writes "$3"
}

# check_pattern_file NAME MEMFILE OFFSET TEST [SEED]: the guest's pattern
# (XFER bytes for SEED, default $seed) is at OFFSET in MEMFILE.
check_pattern_file() {
	local log=$LOGS/$RUN/$1/pattern-$4.log
	if "$BUILD/selftests/host/pattern" check "$2" "$3" $XFER "${5:-$seed}" 2>"$log"; then
		result ok "$RUN/$1/$4"
	else
		result fail "$RUN/$1/$4" "$(cat "$log")"
	fi
}

# large_devices NAME SEED: LARGE_DEVICES, the QEMU arguments of ivshmem-plain
# devices of each size of LARGE_GIB on sparse files, in slots 6 and on (so
# /dev/ivshmem2 and on, named in LARGE_NAMES), the host's pattern in their
# last page.  check_large_devices checks what the guest wrote before it.
LARGE_GIB="16 64"
large_devices() {
	local gib slot=6 file index=2
	LARGE_DEVICES=() LARGE_NAMES=
	for gib in $LARGE_GIB; do
		file=$LOGS/$RUN/$1.large$gib
		rm -f "$file"
		truncate -s "${gib}G" "$file"
		"$BUILD/selftests/host/pattern" fill "$file" $(((gib << 30) - 4096)) 4096 "$2" ||
			die "pattern fill of $file failed"
		LARGE_DEVICES+=(-object "memory-backend-file,id=large$gib,size=${gib}G,share=on,mem-path=$file"
			-device "ivshmem-plain,memdev=large$gib,addr=$slot")
		LARGE_NAMES=${LARGE_NAMES:+$LARGE_NAMES,}ivshmem$index
		slot=$((slot + 1)) index=$((index + 1))
	done
}

# reset_device NAME: RESET_DEVICE, the QEMU arguments of an ivshmem-plain
# device behind a PCIe root port, whose slot the kernel can reset; it comes
# after the large devices, as RESET_NAME.
reset_device() {
	local file=$LOGS/$RUN/$1.reset
	rm -f "$file"
	truncate -s $SHM_SIZE "$file"
	RESET_DEVICE=(-device pcie-root-port,id=rp_reset,bus=pcie.0,chassis=2,slot=2,addr=8
		-object "memory-backend-file,id=rst,size=$SHM_SIZE,share=on,mem-path=$file"
		-device ivshmem-plain,memdev=rst,bus=rp_reset)
	RESET_NAME=ivshmem$((2 + $(echo "$LARGE_GIB" | wc -w)))
}

# check_reset_device NAME: every word of the last pass of reset_test's two
# writers is in the host's file (see reset_test.c for the offsets).
check_reset_device() {
	local name=$1 file=$LOGS/$RUN/$1.reset passes off pass log=$LOGS/$RUN/$1/pattern-reset.log
	local test=$RUN/$1/host_reads_writes_made_through_resets
	passes=$(tr -d '\r' <"$LOGS/$RUN/$name/ktap.log" | sed -n 's/^# reset: passes //p')
	if [ -z "$passes" ]; then
		result fail "$test" "reset_test reported no passes"
		return
	fi
	set -- $passes
	for off in $((1 << 30)) $((64 << 20)); do
		pass=$1
		shift
		"$BUILD/selftests/host/pattern" words "$file" $off $((16 << 20)) "$pass" 2>>"$log" ||
			{ result fail "$test" "$(tail -n 1 "$log")"; return; }
	done
	result ok "$test"
}

check_large_devices() { # NAME SEED
	local gib file
	for gib in $LARGE_GIB; do
		file=$LOGS/$RUN/$1.large$gib
		if "$BUILD/selftests/host/pattern" check "$file" $(((gib << 30) - 8192)) 4096 "$2" \
			2>"$LOGS/$RUN/$1/pattern-large$gib.log"; then
			result ok "$RUN/$1/host_reads_guest_writes_${gib}g"
		else
			result fail "$RUN/$1/host_reads_guest_writes_${gib}g" \
				"$(cat "$LOGS/$RUN/$1/pattern-large$gib.log")"
		fi
		rm -f "$file"
	done
}

# small_device NAME: SMALL_DEVICE, the QEMU arguments of a small second
# device, so several devices and index reuse get exercised.
small_device() {
	truncate -s 4M "$LOGS/$RUN/$1.small"
	SMALL_DEVICE=(-object "memory-backend-file,id=small,size=4M,share=on,mem-path=$LOGS/$RUN/$1.small"
		-device ivshmem-plain,memdev=small,addr=5)
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


# story_in_step_order: the demo's lines on stdin, each "STEP PART| TEXT"
# with the step number the parts take from their shared memory, printed in
# step order as soon as every earlier step is there; at the end of the
# input, whatever is still held, in order.  Other lines pass at once.
story_in_step_order() {
	awk '
	BEGIN { next_step = 1 }
	match($0, /^ *[0-9]+ /) {
		held[$1 + 0] = $0
		while (next_step in held) {
			print held[next_step]
			delete held[next_step++]
		}
		fflush()
		next
	}
	{ print; fflush() }
	END {
		n = 0
		for (step in held)
			steps[++n] = step + 0
		for (i = 1; i <= n; i++)	# few lines: insertion sort
			for (j = i; j > 1 && steps[j - 1] > steps[j]; j--) {
				t = steps[j]; steps[j] = steps[j - 1]; steps[j - 1] = t
			}
		for (i = 1; i <= n; i++)
			print held[steps[i]]
	}'
}
