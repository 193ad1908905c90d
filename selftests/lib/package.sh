# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The Debian packages of debian/: built with dpkg-buildpackage, checked with
# lintian and the man pages with mandoc, then proven in a real Debian guest
# (lib/debian-guest.sh).  Sourced by run.sh.
#
# The packages are built from the working tree in a private copy
# (debian/build-debs) into $BUILD/debs, where the Debian guest takes them;
# their debug symbols go to $BUILD/debs/dbgsym.  Results: package/NAME.

PKG_MAN_PAGES="ivshmem.4 ivshmem-ctl.8 ivshmem-server.8 libivshmem.3 ivshmem-demo.1"

# What each package must ship (dpkg-deb -c), one path a line; a package
# shipping none of them is as broken as one missing the module's source.
pkg_expected_files() { # PACKAGE
	local lib=$PKG_LIB src=usr/src/ivshmem-$PKG_VERSION f
	case $1 in
	ivshmem-dkms) printf '%s\n' "$src/dkms.conf" "$src/kernel/Makefile" "$src/kernel/Kbuild" \
		"$src/kernel/conftest.sh" "$src/uapi/linux/ivshmem.h" \
		"$(cd "$TOP" && for f in kernel/*.c kernel/*.h kernel/conftest/*.c; do
			[[ $f == */conftest.h || $f == *.mod.c ]] || echo "$src/$f"
		done)" \
		lib/udev/rules.d/60-ivshmem.rules usr/lib/sysusers.d/ivshmem.conf \
		usr/share/man/man4/ivshmem.4.gz ;;
	libivshmem0) echo "$lib/libivshmem.so.0" ;;
	libivshmem-dev) printf '%s\n' usr/include/libivshmem.h usr/include/linux/ivshmem.h \
		"$lib/libivshmem.a" "$lib/libivshmem.so" "$lib/pkgconfig/libivshmem.pc" \
		usr/share/man/man3/libivshmem.3.gz ;;
	ivshmem-tools) printf '%s\n' usr/bin/ivshmem-ctl usr/bin/ivshmem-demo \
		usr/share/bash-completion/completions/ivshmem-ctl \
		usr/share/man/man8/ivshmem-ctl.8.gz usr/share/man/man1/ivshmem-demo.1.gz ;;
	ivshmem-server) printf '%s\n' usr/bin/ivshmem-server lib/systemd/system/ivshmem-server.service \
		usr/lib/sysusers.d/ivshmem-server.conf usr/share/man/man8/ivshmem-server.8.gz ;;
	esac
}

# bounded SECONDS COMMAND...: COMMAND with a time limit, ended with the run.
bounded() {
	local secs=$1
	shift
	setpriv --pdeathsig TERM timeout "$secs" setpriv --pdeathsig TERM "$@"
}

# pkg_check NAME COMMAND...: one result, with the command's output in the
# log and its last lines as the reason when it fails.
pkg_check() {
	local name=$1 log=$LOGS/package/$1.log
	shift
	mkdir -p "$(dirname "$log")"
	if "$@" >"$log" 2>&1; then
		result ok "package/$name"
	else
		result fail "package/$name" "$(tail -n 3 "$log" | tr '\n' ' ' | cut -c1-300)"
	fi
}

# Every file a package must ship is in it.
pkg_ships_its_files() { # DEB PACKAGE
	local missing
	missing=$(comm -23 <(pkg_expected_files "$2" | sort -u) \
		<(dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./||' | sort -u))
	[ -z "$missing" ] || { echo "missing from $2:"; echo "$missing"; return 1; }
}

# lintian with the default profile: no error and no warning that is not
# overridden (with its reason) in debian/*.lintian-overrides.  The
# pedantic and informational tags are logged, not counted.
pkg_lintian() { # DEB
	local out
	# Its scratch files in the stage's private directory, not left in /tmp.
	out=$(TMPDIR=$PKG_TMP bounded 300 lintian --fail-on error,warning "$1" 2>&1) ||
		{ echo "$out"; return 1; }
	TMPDIR=$PKG_TMP bounded 300 lintian -I --pedantic "$1" 2>&1 |
		grep -v 'running with root privileges' || true
}

pkg_man_lint() { # PAGE
	local page=$TOP/man/$1
	bounded 30 mandoc -Tlint -W style "$page" || return 1
	# groff's warnings go to stderr; -ww makes every kind of them count.
	local out
	out=$(bounded 30 groff -ww -man -z "$page" 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

# The symbols file is what debian/gen-symbols makes of lib/libivshmem.map,
# and dpkg-gensymbols finds the library built exactly as it says.
pkg_symbols_current() {
	diff -u "$TOP/debian/libivshmem0.symbols" <("$TOP/debian/gen-symbols" "$TOP/lib/libivshmem.map") ||
		{ echo "stale: run debian/gen-symbols >debian/libivshmem0.symbols"; return 1; }
}
pkg_gensymbols() { # EXTRACTED-libivshmem0-DIR
	bounded 60 dpkg-gensymbols -c4 -plibivshmem0 -v"$PKG_VERSION" -P"$1" \
		-I"$TOP/debian/libivshmem0.symbols" -O"$PKG_TMP/symbols.out"
}

# Every function of the map is documented in libivshmem(3), node by node.
pkg_man_documents_node() { # NODE
	local missing
	missing=$(awk -v node="$1" '
		$1 == node && /\{/ { on = 1; next }
		on && /^[[:space:]]*\}/ { on = 0 }
		on && /^[[:space:]]*ivshmem_[a-z0-9_]+;/ { sub(/;.*/, "", $1); print $1 }
	' "$TOP/lib/libivshmem.map" | while read -r f; do
		grep -q "^\.BI* \"[^\"]*[ *]$f(" "$TOP/man/libivshmem.3" || echo "$f"
	done)
	[ -z "$missing" ] || { echo "$missing"; echo "$(echo "$missing" | wc -l) functions of $1 not in man/libivshmem.3"; return 1; }
}

# The udev rule, read as udev would: the node goes to group ivshmem, mode
# 0660, and gets a by-path link named from the PCI parent's kernel name.
pkg_udev_rule() { # RULES-FILE
	local rules=$1 line
	grep -v '^[[:space:]]*\(#\|$\)' "$rules" >"$PKG_TMP/rules"
	line=$(grep 'GROUP=' "$PKG_TMP/rules") || { echo "no GROUP= rule"; return 1; }
	[[ $line == *'SUBSYSTEM=="misc"'* && $line == *'KERNEL=="ivshmem[0-9]*"'* &&
	   $line == *'GROUP="ivshmem"'* && $line == *'MODE="0660"'* ]] ||
		{ echo "group rule: $line"; return 1; }
	line=$(grep 'SYMLINK' "$PKG_TMP/rules") || { echo "no SYMLINK rule"; return 1; }
	# shellcheck disable=SC2016 # $id is udev's, not the shell's
	[[ $line == *'KERNEL=="ivshmem[0-9]*"'* && $line == *'SUBSYSTEMS=="pci"'* &&
	   $line == *'SYMLINK+="ivshmem/by-path/pci-$id"'* ]] || { echo "link rule: $line"; return 1; }
	# Assignments need a match, or they would apply to every device.
	! grep -v 'KERNEL=="ivshmem' "$PKG_TMP/rules" | grep -q '=[^=]' ||
		{ echo "a rule without KERNEL==\"ivshmem[0-9]*\""; return 1; }
	grep -qx 'g ivshmem - -' "$PKG_X/ivshmem-dkms/usr/lib/sysusers.d/ivshmem.conf" ||
		{ echo "sysusers.d does not create the group ivshmem"; return 1; }
}

# dkms.conf builds with the project's Makefile and conftest, and the
# module's source as shipped builds with dkms.conf's own MAKE command
# against the host's kernel headers, where they are installed.
pkg_dkms_conf() { # EXTRACTED-SOURCE-DIR
	local conf=$1/dkms.conf
	(
		# dkms.conf is shell; DKMS sources it the same way, with this set.
		# shellcheck disable=SC2034 # read by dkms.conf
		kernel_source_dir=/lib/modules/KVER/build
		# shellcheck disable=SC1090
		. "$conf"
		# shellcheck disable=SC2153 # MAKE is dkms.conf's
		[ "$PACKAGE_NAME" = ivshmem ] && [ "$PACKAGE_VERSION" = "$PKG_VERSION" ] &&
		[ "${BUILT_MODULE_NAME[0]}" = ivshmem ] &&
		[ "${BUILT_MODULE_LOCATION[0]}" = kernel/ ] && [ "$AUTOINSTALL" = yes ] &&
		[[ ${MAKE[0]} == "make -C kernel KDIR="* ]] ||
			{ echo "dkms.conf:"; cat "$conf"; exit 1; }
	) || return 1
	[ -x "$1/kernel/conftest.sh" ] || { echo "conftest.sh is not executable"; return 1; }
	[ ! -e "$1/kernel/conftest.h" ] || { echo "a conftest.h of the build machine is shipped"; return 1; }
}
pkg_dkms_build() { # EXTRACTED-SOURCE-DIR KERNEL-BUILD-DIR
	local src=$PKG_TMP/dkms-build make
	cp -a "$1" "$src"
	make=$(cd "$src" && kernel_source_dir=$2 bash -c '. ./dkms.conf && echo "${MAKE[0]}"')
	# As DKMS runs it: parallel, and told the kernel release.
	local kver=${2#/usr/src/linux-headers-}
	[ "$kver" != "$2" ] || kver=$(basename "$(dirname "$2")")
	make="make -j2 KERNELRELEASE=$kver ${make#make }"
	echo "+ $make"
	# shellcheck disable=SC2086
	(cd "$src" && bounded 600 $make) || return 1
	[ -f "$src/kernel/conftest.h" ] || { echo "conftest.sh did not run"; return 1; }
	if ! modinfo -F alias "$src/kernel/ivshmem.ko" | grep -qi '^pci:v00001AF4d00001110'; then
		echo "no ivshmem.ko with the modalias of 1af4:1110"
		return 1
	fi
}

# The -dev package is enough to build a program with pkg-config, which then
# runs against libivshmem0's library.
pkg_dev_builds_a_program() {
	local lib=$PKG_LIB root=$PKG_TMP/devroot flags
	mkdir -p "$root"
	dpkg-deb -x "$PKG_DEBS/libivshmem-dev_${PKG_VERSION}_"*.deb "$root"
	dpkg-deb -x "$PKG_DEBS/libivshmem0_${PKG_VERSION}_"*.deb "$root"
	grep -qx "libdir=/$lib" "$root/$lib/pkgconfig/libivshmem.pc" ||
		{ echo "libdir is not /$lib"; cat "$root/$lib/pkgconfig/libivshmem.pc"; return 1; }
	cat >"$PKG_TMP/user.c" <<-'EOF'
	#include <stdio.h>
	#include <string.h>
	#include <libivshmem.h>

	int main(void)
	{
		struct ivshmem_server_opts *opts;

		if (ivshmem_server_opts_new(&opts))
			return 1;
		ivshmem_server_opts_free(opts);
		return strcmp(ivshmem_irq_mode_name(IVSHMEM_IRQ_MSIX), "msix") != 0;
	}
	EOF
	flags=$(PKG_CONFIG_PATH=$root/$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root \
		pkg-config --cflags --libs libivshmem) || return 1
	echo "+ cc user.c $flags"
	# shellcheck disable=SC2086
	bounded 60 cc -std=c11 -Wall -Wextra -Werror -o "$PKG_TMP/user" "$PKG_TMP/user.c" $flags || return 1
	readelf -d "$PKG_TMP/user" | grep -q 'NEEDED.*\[libivshmem\.so\.0\]' || return 1
	LD_LIBRARY_PATH=$root/$lib bounded 10 "$PKG_TMP/user"
}

# The tools as shipped run against the shipped library, and each man page
# renders from where the packages put it.
pkg_tools_run() {
	local lib=$PKG_LIB x=$PKG_X
	LD_LIBRARY_PATH=$x/libivshmem0/$lib bounded 10 "$x/ivshmem-tools/usr/bin/ivshmem-ctl" --help |
		grep -q '^Usage: ivshmem-ctl' || return 1
	readelf -d "$x/ivshmem-tools/usr/bin/ivshmem-ctl" | grep -q 'NEEDED.*\[libivshmem\.so\.0\]' ||
		{ echo "ivshmem-ctl does not use libivshmem.so.0"; return 1; }
	bounded 10 "$x/ivshmem-server/usr/bin/ivshmem-server" --help | grep -q '^Usage: ivshmem-server'
}
pkg_man_installed() {
	local page
	for page in $(cd "$PKG_X" && ls */usr/share/man/man*/*.gz); do
		MANWIDTH=80 bounded 30 man -l "$PKG_X/$page" 2>&1 >/dev/null | grep . && return 1
		MANWIDTH=80 bounded 30 man -l "$PKG_X/$page" 2>/dev/null | grep -q '^NAME' ||
			{ echo "$page renders no NAME"; return 1; }
	done
	return 0
}

# The completion offers the commands, and devices after -d.
pkg_bash_completion() {
	bash -n "$1" || return 1
	bounded 30 bash -c '
		_init_completion() {
			words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
			cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
		}
		_filedir() { :; }
		. "$1"
		COMP_WORDS=(ivshmem-ctl li) COMP_CWORD=1
		_ivshmem_ctl
		[ "${COMPREPLY[*]}" = list ] || { echo "ivshmem-ctl li: ${COMPREPLY[*]}"; exit 1; }
		COMP_WORDS=(ivshmem-ctl -d 0 r) COMP_CWORD=3
		_ivshmem_ctl
		[ "${COMPREPLY[*]}" = "ring read reset-stats" ] ||
			{ echo "ivshmem-ctl -d 0 r: ${COMPREPLY[*]}"; exit 1; }
		COMP_WORDS=(ivshmem-ctl wait --t) COMP_CWORD=2
		_ivshmem_ctl
		[ "${COMPREPLY[*]}" = --timeout ] || { echo "wait --t: ${COMPREPLY[*]}"; exit 1; }
		COMP_WORDS=(ivshmem-ctl chan s) COMP_CWORD=2
		_ivshmem_ctl
		[ "${COMPREPLY[*]}" = "stat send" ] || { echo "chan s: ${COMPREPLY[*]}"; exit 1; }
	' sh "$1"
}

# The server's unit: Type=notify, the packaged binary, unprivileged, its
# socket in its runtime directory and given to kvm, as ivshmem-server(8)
# and the README say.
pkg_server_unit() { # UNIT-FILE
	local unit=$1 key
	for key in 'Type=notify' 'ExecStart=/usr/bin/ivshmem-server --foreground \' \
		'DynamicUser=yes' 'SupplementaryGroups=kvm' 'RuntimeDirectory=ivshmem' \
		'Documentation=man:ivshmem-server(8)'; do
		grep -qxF "$key" "$unit" || { echo "no '$key' in the unit"; return 1; }
	done
	grep -q -- '--socket /run/ivshmem/ivshmem.sock --socket-mode 0660 --socket-group kvm' "$unit" ||
		{ echo "the socket is not /run/ivshmem/ivshmem.sock, 0660, group kvm"; return 1; }
	! grep -q /usr/local "$unit" || { echo "the unit points into /usr/local"; return 1; }
	grep -qx 'g kvm - -' "$PKG_X/ivshmem-server/usr/lib/sysusers.d/ivshmem-server.conf" ||
		{ echo "sysusers.d does not make sure kvm exists"; return 1; }
	if command -v systemd-analyze >/dev/null; then
		# The unit's syntax; the binary path is the package's, not the host's.
		sed "s|/usr/bin/ivshmem-server|$PKG_X/ivshmem-server/usr/bin/ivshmem-server|" "$unit" \
			>"$PKG_TMP/ivshmem-server.service"
		SYSTEMD_LOG_LEVEL=warning bounded 60 systemd-analyze verify --man=no \
			"$PKG_TMP/ivshmem-server.service" 2>&1 | grep -v 'kvm' | grep . && return 1
	fi
	return 0
}

# The maintainer scripts create the group, reload udev, unload the module
# before DKMS removes it and delete the group on purge.
pkg_maintainer_scripts() {
	local ctl=$PKG_TMP/dkms-control
	dpkg-deb -e "$PKG_DEBS/ivshmem-dkms_${PKG_VERSION}_all.deb" "$ctl"
	sh -n "$ctl/postinst" && sh -n "$ctl/prerm" && sh -n "$ctl/postrm" || return 1
	grep -q 'systemd-sysusers.*ivshmem\.conf' "$ctl/postinst" &&
		grep -q 'groupadd --system ivshmem' "$ctl/postinst" &&
		grep -q 'udevadm trigger --action=add --subsystem-match=pci' "$ctl/postinst" &&
		grep -q 'common.postinst' "$ctl/postinst" || { echo "postinst:"; cat "$ctl/postinst"; return 1; }
	grep -q 'modprobe -r ivshmem' "$ctl/prerm" && grep -q 'dkms remove' "$ctl/prerm" ||
		{ echo "prerm:"; cat "$ctl/prerm"; return 1; }
	grep -q 'purge.*getent group ivshmem' "$ctl/postrm" && grep -q 'groupdel ivshmem' "$ctl/postrm" ||
		{ echo "postrm:"; cat "$ctl/postrm"; return 1; }
	# The module is built by DKMS on the target, which the package needs.
	dpkg-deb -f "$PKG_DEBS/ivshmem-dkms_${PKG_VERSION}_all.deb" Depends | grep -q '\bdkms\b'
}

run_package_tests() {
	local start=$SECONDS deb pkg page kbuild node
	local PKG_DEBS=$BUILD/debs PKG_VERSION PKG_TMP PKG_X PKG_LIB
	need_packages dpkg-dev debhelper dh-dkms dkms fakeroot lintian mandoc groff man-db \
		pkgconf libnl-3-dev libnl-genl-3-dev libsystemd-dev
	mkdir -p "$LOGS/package"
	PKG_VERSION=$(dpkg-parsechangelog -l "$TOP/debian/changelog" -S Version)
	PKG_LIB=usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	PKG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ivshmem-package.XXXXXX") || die "mktemp failed"
	PKG_X=$PKG_TMP/x

	note "Debian packages $PKG_VERSION: dpkg-buildpackage in a copy of the tree"
	pkg_check changelog_version_is_the_library_version \
		test "$PKG_VERSION" = "$(sed -n 's/^VERSION := //p' "$TOP/lib/Makefile")"
	if ! bounded 900 "$TOP/debian/build-debs" "$PKG_DEBS" "$LOGS/package/build.log"; then
		result fail package/build "see $LOGS/package/build.log: $(tail -n 2 "$LOGS/package/build.log" | tr '\n' ' ')"
		rm -rf "$PKG_TMP"
		return
	fi
	result ok package/build
	note "packages built in $((SECONDS - start)) s: $(cd "$PKG_DEBS" && echo *.deb)"

	for pkg in ivshmem-dkms libivshmem0 libivshmem-dev ivshmem-tools ivshmem-server; do
		deb=$(ls "$PKG_DEBS/${pkg}_${PKG_VERSION}_"*.deb 2>/dev/null)
		if [ -z "$deb" ]; then
			result fail "package/$pkg/built" "no $pkg .deb"
			continue
		fi
		mkdir -p "$PKG_X/$pkg"
		dpkg-deb -x "$deb" "$PKG_X/$pkg"
		pkg_check "$pkg/ships_its_files" pkg_ships_its_files "$deb" "$pkg"
		pkg_check "$pkg/lintian" pkg_lintian "$deb"
	done
	note "lintian done at $((SECONDS - start)) s"

	for page in $PKG_MAN_PAGES; do
		pkg_check "man/$page/lint" pkg_man_lint "$page"
	done
	for node in $(grep -o '^LIBIVSHMEM_[0-9.]*' "$TOP/lib/libivshmem.map"); do
		pkg_check "man/libivshmem.3/documents_$node" pkg_man_documents_node "$node"
	done
	pkg_check man/installed_pages_render pkg_man_installed

	pkg_check symbols/file_matches_the_map pkg_symbols_current
	pkg_check symbols/dpkg_gensymbols pkg_gensymbols "$PKG_X/libivshmem0"
	pkg_check libivshmem-dev/builds_a_program pkg_dev_builds_a_program
	pkg_check ivshmem-tools/run pkg_tools_run
	pkg_check ivshmem-tools/bash_completion pkg_bash_completion \
		"$PKG_X/ivshmem-tools/usr/share/bash-completion/completions/ivshmem-ctl"
	pkg_check ivshmem-dkms/udev_rule pkg_udev_rule "$PKG_X/ivshmem-dkms/lib/udev/rules.d/60-ivshmem.rules"
	pkg_check ivshmem-dkms/maintainer_scripts pkg_maintainer_scripts
	pkg_check ivshmem-dkms/dkms_conf pkg_dkms_conf "$PKG_X/ivshmem-dkms/usr/src/ivshmem-$PKG_VERSION"
	# The running kernel's headers, or else the newest Debian kernel
	# headers installed (those of the guest kernels of the matrix).
	kbuild=/lib/modules/$(uname -r)/build
	[ -d "$kbuild" ] || kbuild=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$kbuild" ] && [ -d "$kbuild" ]; then
		note "building the module as DKMS would, against $kbuild"
		pkg_check ivshmem-dkms/source_builds_with_dkms_make pkg_dkms_build \
			"$PKG_X/ivshmem-dkms/usr/src/ivshmem-$PKG_VERSION" "$kbuild"
	else
		result skip package/ivshmem-dkms/source_builds_with_dkms_make "no kernel headers installed"
	fi
	pkg_check ivshmem-server/unit pkg_server_unit "$PKG_X/ivshmem-server/lib/systemd/system/ivshmem-server.service"
	rm -rf "$PKG_TMP"
	note "package checks done in $((SECONDS - start)) s"

	if [ "${IVSHMEM_NO_DEBIAN_GUEST:-0}" = 1 ]; then
		note "Debian guest not run (IVSHMEM_NO_DEBIAN_GUEST=1)"
		return
	fi
	start=$SECONDS
	run_debian_guest "$PKG_DEBS"
	note "Debian guest: $((SECONDS - start)) s"
}
