# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# A real Debian guest (debootstrap, systemd, udev) in which the packages are
# installed, used and purged.  Sourced by run.sh.
#
# The guest's root filesystem is a bookworm minbase with systemd, the
# kernel and its headers, DKMS and whatever the packages depend on, made
# once into an ext4 image without loop mounts (mke2fs -d) and cached under
# $CACHE/debian-guest, keyed by the package list and the files that shape
# it.  Each run boots that image as a snapshot (the cached image is never
# written) under TCG, with a second small disk carrying the .debs and
# selftests/debian-guest/test.sh, and an ivshmem-doorbell device on our
# ivshmem-server.  A unit enabled in the image runs test.sh at boot; it
# reports KTAP on the second serial port and powers the guest off.

DEBIAN_GUEST_SUITE=bookworm
DEBIAN_GUEST_TIMEOUT=${IVSHMEM_DEBIAN_GUEST_TIMEOUT:-1500}
# What the guest needs besides the packages' own dependencies.
DEBIAN_GUEST_PACKAGES=(systemd systemd-sysv udev kmod linux-image-amd64
	linux-headers-amd64 dkms gcc make man-db apt passwd adduser util-linux
	libnl-3-200 libnl-genl-3-200 libsystemd0)

# debian_guest_deps DEB...: the packages DEBs depend on, by name (the first
# of each set of alternatives, which policy wants to be a real package),
# less the DEBs themselves.
debian_guest_deps() {
	local deb own=() name
	for deb in "$@"; do
		own+=("$(dpkg-deb -f "$deb" Package)")
	done
	for deb in "$@"; do
		dpkg-deb -f "$deb" Pre-Depends Depends
	done | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' |
		grep -v '^$' | sort -u | while read -r name; do
			[[ " ${own[*]} " == *" $name "* ]] || echo "$name"
		done
}

# debian_guest_image PACKAGE...: the cached image with PACKAGEs installed;
# print its directory (base.raw, vmlinuz, initrd.img).  A failure (say, the
# mirror out of reach) fails the Debian guest only, not the whole run.
debian_guest_image() {
	local packages key dir root log=$LOGS/debian-guest/image.log start
	mapfile -t packages < <(printf '%s\n' "$@" | sort -u)
	key=$({ echo "$DEBIAN_GUEST_SUITE ${packages[*]} "
		cat "$TOP/selftests/debian-guest/setup-image.sh" \
			"$TOP/selftests/debian-guest/ivshmem-guest-test.service"; } | md5sum | cut -c1-12)
	dir=$CACHE/debian-guest/$DEBIAN_GUEST_SUITE-$key
	if [ -f "$dir/.ivshmem-ready" ]; then
		echo "$dir"
		return 0
	fi
	need_packages debootstrap e2fsprogs eatmydata
	note "creating the Debian guest's image (once; cached in $dir)"
	start=$SECONDS
	rm -rf "$dir.tmp"
	root=$dir.tmp/root
	mkdir -p "$root"
	# eatmydata: nothing needs to survive a crash of the build, and fsync
	# is most of dpkg's time.
	eatmydata debootstrap --variant=minbase --include=eatmydata "$DEBIAN_GUEST_SUITE" \
		"$root" "$MIRROR" >"$log" 2>&1 ||
		{ note "debootstrap of the Debian guest failed: see $log"; return 1; }
	install -m 755 "$TOP/selftests/debian-guest/setup-image.sh" "$root/setup-image.sh"
	install -m 644 "$TOP/selftests/debian-guest/ivshmem-guest-test.service" \
		"$root/etc/systemd/system/ivshmem-guest-test.service"
	unshare -m --propagation private "$TOP/selftests/lib/chroot-exec" "$root" -- \
		eatmydata /setup-image.sh "${packages[@]}" >>"$log" 2>&1 ||
		{ note "setting up the Debian guest's image failed: see $log"; return 1; }
	rm -f "$root/setup-image.sh"
	cp "$root"/boot/vmlinuz-* "$dir.tmp/vmlinuz" &&
		cp "$root"/boot/initrd.img-* "$dir.tmp/initrd.img" ||
		{ note "the Debian guest's image has no kernel or initramfs"; return 1; }
	# As root, so that ownership is kept.
	mke2fs -q -t ext4 -L debian-guest -d "$root" -F "$dir.tmp/base.raw" 6G >>"$log" 2>&1 ||
		{ note "mke2fs of the Debian guest's image failed: see $log"; return 1; }
	rm -rf "$root"
	# Images of older package lists are not needed any more.
	find "$CACHE/debian-guest" -mindepth 1 -maxdepth 1 -name "$DEBIAN_GUEST_SUITE-*" \
		! -name "$DEBIAN_GUEST_SUITE-$key.tmp" -exec rm -rf {} +
	mv "$dir.tmp" "$dir"
	touch "$dir/.ivshmem-ready"
	note "Debian guest's image made in $((SECONDS - start)) s ($(du -sh "$dir/base.raw" | cut -f1) used)"
	echo "$dir"
}

# run_debian_guest [DEBDIR]: boot the Debian guest with the .debs of DEBDIR
# (default $BUILD/debs) and turn its report into results
# debian-guest/bookworm/NAME.
run_debian_guest() {
	local debdir=${1:-$BUILD/debs} RUN=debian-guest name=$DEBIAN_GUEST_SUITE
	local dir=$LOGS/debian-guest/$DEBIAN_GUEST_SUITE debs=() deb image work start status
	local sock server deps
	mkdir -p "$dir"
	# Debug symbols are not needed in the guest.
	for deb in "$debdir"/*.deb; do
		[[ $deb == *-dbgsym_* || ! -f $deb ]] || debs+=("$deb")
	done
	if ((${#debs[@]} == 0)); then
		result fail "debian-guest/$name/packages_built" "no .deb in $debdir"
		return
	fi
	mapfile -t deps < <(debian_guest_deps "${debs[@]}")
	if ! image=$(debian_guest_image "${DEBIAN_GUEST_PACKAGES[@]}" "${deps[@]}"); then
		result fail "debian-guest/$name/image" "see $LOGS/debian-guest/image.log"
		return
	fi
	note "Debian guest: $(basename "$image"), ${#debs[@]} packages, under TCG"

	# The packages and the test script, on a small disk of their own.  The
	# private directory is under the logs, which the next run removes even
	# if this one was killed.
	work=$(mktemp -d "$dir/work.XXXXXX") || die "mktemp failed"
	mkdir "$work/payload"
	cp "${debs[@]}" "$TOP/selftests/debian-guest/test.sh" "$work/payload/"
	mke2fs -q -t ext4 -d "$work/payload" -F "$work/payload.raw" \
		$(( $(du -sm "$work/payload" | cut -f1) + 16 ))M >"$dir/payload.log" 2>&1 ||
		die "mke2fs of the Debian guest's payload failed: $(cat "$dir/payload.log")"

	# Our server, as start_server starts it, but also ended (SIGTERM, so
	# that it removes its socket and memory file) if this shell dies.
	sock=$(new_socket server) || exit 1
	setpriv --pdeathsig TERM timeout $((DEBIAN_GUEST_TIMEOUT + 60)) \
		"$BUILD/ivshmem-server" -F -S "$sock" -m "$work/shm" -l $SHM_SIZE -n $VECTORS \
		>"$dir/server.log" 2>&1 &
	server=$!
	wait_until test -S "$sock" ||
		die "ivshmem-server for the Debian guest did not start: $(cat "$dir/server.log")"

	start=$SECONDS
	# The guest's disk is a snapshot of the cached image: QEMU writes to a
	# temporary overlay in TMPDIR, here the private directory, and need
	# not honour the guest's flushes (cache=unsafe): dpkg's fsyncs then
	# cost the guest nothing, and the overlay is thrown away.  timeout and
	# QEMU both get SIGTERM if their parent dies, so that QEMU still
	# removes the overlay.
	TMPDIR=$work setpriv --pdeathsig TERM timeout "$DEBIAN_GUEST_TIMEOUT" \
		setpriv --pdeathsig TERM qemu-system-x86_64 -machine q35 -accel tcg \
		-cpu qemu64,phys-bits=39 -m 1536 -smp 2 -nodefaults -display none -no-reboot \
		-kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0" \
		-drive file="$image/base.raw",format=raw,if=virtio,snapshot=on,cache=unsafe \
		-drive file="$work/payload.raw",format=raw,if=virtio,readonly=on \
		-serial file:"$dir/serial.log" -serial file:"$dir/ktap.log" \
		-chardev socket,id=ivs,path="$sock" \
		-device ivshmem-doorbell,chardev=ivs,vectors=$VECTORS,addr=4 \
		>"$dir/qemu.log" 2>&1
	status=$?
	stop_server $server
	rm -rf "$work"

	debian_guest_collect "$name" "$status" "$((SECONDS - start))"
}

# debian_guest_collect NAME QEMU-STATUS SECONDS: results from the guest's
# report; its kernel log (console.log) is checked as the other guests'.
debian_guest_collect() {
	local name=$1 status=$2 secs=$3 dir=$LOGS/$RUN/$1 line boot reason
	tr -d '\r' <"$dir/ktap.log" >"$dir/report.log" 2>/dev/null
	boot=$(sed -n 's/^# boot: \([0-9.]*\) s.*/\1/p' "$dir/report.log")
	note "Debian guest: booted in ${boot:-?} s, ran $secs s in all (QEMU status $status)"
	while IFS= read -r line; do
		case $line in
		"not ok "*) line=${line#not ok [0-9]* } reason=
			    [[ $line == *" # "* ]] && reason=${line#* # }
			    result fail "debian-guest/$name/${line%% # *}" "$reason" ;;
		"ok "*) result ok "debian-guest/$name/${line#ok [0-9]* }" ;;
		"# dmesg: "*|"# ivt: done") ;;
		"#"*) echo "$line" ;;
		esac
	done <"$dir/report.log"
	if grep -q '^# ivt: done' "$dir/report.log"; then
		result ok "debian-guest/$name/guest_completed"
		sed -n 's/^# dmesg: //p' "$dir/report.log" >"$dir/console.log"
	else
		result fail "debian-guest/$name/guest_completed" "QEMU status $status; see $dir"
		tail -n 30 "$dir/serial.log" 2>/dev/null | tr -d '\r' | sed 's/^/# serial: /'
		# No dmesg came: what the serial console caught is checked.
		tr -d '\r' <"$dir/serial.log" >"$dir/console.log" 2>/dev/null
	fi
	check_kernel_log "$name"
}
