#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The tests of the Debian guest (lib/debian-guest.sh), run at boot by
# ivshmem-guest-test.service as root.  DIR holds the .debs; the guest has
# no network, so apt must find every dependency installed.  Prints KTAP,
# then the kernel log as "# dmesg: " lines and "# ivt: done".
#
# usage: test.sh DIR
set -u
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

SRC=$1
WORK=/var/tmp/ivshmem-guest-test
LOG=$WORK/step.log
n=0
failures=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { # NAME REASON [OUTPUT]: OUTPUT's last lines follow as comments
	n=$((n + 1)) failures=$((failures + 1))
	echo "not ok $n $1${2:+ # $2}"
	[ -s "${3:-}" ] && tail -n 25 "$3" | sed 's/^/# | /'
}
# check NAME CMD...: CMD's status is the test's; its output goes to $LOG.
check() {
	local name=$1
	shift
	if "$@" >"$LOG" 2>&1; then ok "$name"; else not_ok "$name" "exit status $?" "$LOG"; fi
}
# expect NAME DESCRIPTION CONDITION...: a test whose CONDITION is a command;
# DESCRIPTION says what was expected when it fails.
expect() {
	local name=$1 what=$2
	shift 2
	if "$@"; then ok "$name"; else not_ok "$name" "$what"; fi
}
settle() { udevadm settle -t 60; }
step_time() { echo "# time: $1 $((SECONDS - $2)) s"; }

mkdir -p "$WORK/debs"
echo "TAP version 13"
echo "# boot: $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r)"

# ---- install -------------------------------------------------------------
cp "$SRC"/*.deb "$WORK/debs/"
chmod -R a+rX "$WORK"
packages=()
for deb in "$WORK"/debs/*.deb; do
	packages+=("$(dpkg-deb -f "$deb" Package)")
done
echo "# packages: ${packages[*]}"
start=$SECONDS
# As the README says, from the directory the packages are in.
check apt_install sh -c 'cd "$1" && apt install -y -q ./*.deb' sh "$WORK/debs"
step_time apt_install $start
grep -E '^(Building|Installing|DKMS|depmod)' "$LOG" | head -n 5 | sed 's/^/# /'
# How long of that DKMS took to build the module: its log starts with the
# date and keeps the time of its last line.
for f in /var/lib/dkms/ivshmem/*/"$(uname -r)"/*/log/make.log; do
	[ -f "$f" ] && echo "# dkms build: $(($(stat -c %Y "$f") - $(date -d "$(sed -n 2p "$f")" +%s))) s"
done 2>/dev/null

kver=$(uname -r)
dkms status ivshmem >"$LOG" 2>&1
expect dkms_built_for_running_kernel "dkms status shows ivshmem installed for $kver: $(cat "$LOG")" \
	grep -q "$kver.*installed" "$LOG"
mod=$(modinfo -n ivshmem 2>/dev/null)
from_dkms() { [ -f "$mod" ] && [[ $mod == /lib/modules/$kver/updates/* || $mod == /usr/lib/modules/$kver/updates/* ]]; }
expect module_file_from_dkms "ivshmem.ko for $kver under updates/, found: ${mod:-none}" from_dkms

# The device was there at boot, before the module existed.  What loads the
# module at boot is udev's coldplug asking modprobe for the device's
# modalias, so unload it (the package may have loaded it) and replay that.
settle
[ -d /sys/module/ivshmem ] && echo "# the module was loaded by the installation"
modprobe -r ivshmem 2>/dev/null
expect module_unloaded_before_coldplug "ivshmem could not be unloaded" test ! -d /sys/module/ivshmem
udevadm trigger --action=add --subsystem-match=pci
settle
expect module_loaded_by_modalias "no /sys/module/ivshmem after udev's coldplug" \
	test -d /sys/module/ivshmem
settle

# ---- udev ----------------------------------------------------------------
node=/dev/ivshmem0
expect udev_node_group_mode "$node as group ivshmem, mode 660; got $(stat -c '%G %a' $node 2>&1)" \
	test "$(stat -c '%G %a' $node 2>/dev/null)" = "ivshmem 660"
addr=$(basename "$(readlink -f /sys/class/misc/ivshmem0/device 2>/dev/null)")
expect udev_device_at_expected_address "ivshmem0 at 0000:00:04.0, found at $addr" \
	test "$addr" = 0000:00:04.0
link=/dev/ivshmem/by-path/pci-$addr
expect udev_by_path_link "$link -> $node; found: $(ls -l /dev/ivshmem/by-path 2>&1 | tail -n +2 | tr '\n' ' ')" \
	test "$(readlink -f "$link")" = $node

# ---- an unprivileged user in the group, and one outside it --------------
useradd -M -s /bin/sh -G ivshmem member >/dev/null 2>&1
useradd -M -s /bin/sh outsider >/dev/null 2>&1
as() { local user=$1; shift; runuser -u "$user" -- "$@"; }
check member_info as member ivshmem-ctl info
sed 's/^/# /' "$LOG"
peer=$(as member ivshmem-ctl --json info 2>/dev/null | sed -n 's/.*"peer_id": *\([0-9-]*\).*/\1/p')
echo "# own peer id: ${peer:-unknown}"
# Ring itself: a wait for vector 0 started first ends with the doorbell.
# Doorbells rung before the wait began are not counted, so ring until it
# returns.
as member timeout 60 ivshmem-ctl wait -t 30000 0 >"$WORK/wait.log" 2>&1 &
waiter=$!
rang=1
for _ in $(seq 20); do
	sleep 0.5
	kill -0 $waiter 2>/dev/null || break
	as member ivshmem-ctl ring "${peer:-0}" 0 >"$LOG" 2>&1 || { rang=0; break; }
done
wait $waiter
waited=$?
expect member_ring "ring ${peer:-?} 0 and a wait for vector 0 both succeed (ring $rang, wait status $waited)" \
	test $rang = 1 -a $waited = 0
as outsider ivshmem-ctl info >"$LOG" 2>&1
status=$?
expect outsider_refused "exit status 1 and EACCES; got status $status: $(head -n 1 "$LOG")" \
	sh -c 'test "$1" = 1 && grep -q "Permission denied" "$2"' sh $status "$LOG"

# ---- manual pages --------------------------------------------------------
# The page names the program and shows its subcommands (in the C locale,
# so that groff writes hyphens as "-").
LC_ALL=C MANPAGER=cat MANWIDTH=80 man ivshmem-ctl >"$WORK/man.txt" 2>"$LOG"
man_shows_ctl() { grep -q '^NAME' "$WORK/man.txt" && grep -q 'ivshmem-ctl' "$WORK/man.txt" &&
	grep -qw 'ring' "$WORK/man.txt"; }
expect man_ivshmem_ctl "man ivshmem-ctl shows its NAME and the ring command; got: $(head -c 200 "$WORK/man.txt" | tr '\n' ' ')" \
	man_shows_ctl
for page in ivshmem ivshmem-server libivshmem; do
	check "man_$page" man -w "$page"
	echo "# $(cat "$LOG")"
done

# ---- ivshmem-server under systemd ---------------------------------------
# The unit's own command line says where its socket is and what it is
# documented to look like.
execstart=$(systemctl show -p ExecStart --value ivshmem-server.service)
arg() { # OPTION...: the value the unit's command line gives the option
	local o
	for o in "$@"; do
		echo "$execstart" | tr ' ' '\n' | grep -A1 -x -- "$o" | sed -n 2p | grep . && return
	done
}
sock=$(arg --socket -S)
sock_mode=$(arg --socket-mode)
sock_group=$(arg --socket-group)
vectors=$(arg --vectors -n)
echo "# server unit: socket ${sock:-?} mode ${sock_mode:-?} group ${sock_group:-?} vectors ${vectors:-?}"
start=$SECONDS
check server_start systemctl start ivshmem-server.service
step_time server_start $start
# Type=notify: start returned only once the server said it was ready, so
# everything below holds at once, without waiting.
expect server_active_after_start "is-active: $(systemctl is-active ivshmem-server.service)" \
	test "$(systemctl is-active ivshmem-server.service)" = active
expect server_type_notify "Type=$(systemctl show -p Type --value ivshmem-server.service)" \
	test "$(systemctl show -p Type --value ivshmem-server.service)" = notify
expect server_socket_ready "${sock:-no socket} is a socket right after start" test -S "${sock:-/nonexistent}"
# Owned by the server's own unprivileged user (a DynamicUser has no name
# here without libnss-systemd, so the IDs are compared).
owner=$(stat -c '%u %G %a' "${sock:-/nonexistent}" 2>/dev/null)
pid=$(systemctl show -p MainPID --value ivshmem-server.service)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
echo "# socket: uid gid mode $owner; server pid $pid uid $uid"
expect server_socket_owner_mode "owner uid ${uid:-?} (not 0), group ${sock_group:-?}, mode ${sock_mode#0}; got: $owner" \
	test -n "$owner" -a -n "$uid" -a "$uid" != 0 -a "$owner" = "$uid ${sock_group:-?} ${sock_mode#0}"
# A client in the socket's group joins as a host peer, one outside is kept out.
useradd -M -s /bin/sh -G "${sock_group:-nogroup}" qemuuser >/dev/null 2>&1
check server_client_connects as qemuuser ivshmem-ctl --server "$sock" ${vectors:+-n "$vectors"} info
sed 's/^/# /' "$LOG"
as outsider ivshmem-ctl --server "$sock" ${vectors:+-n "$vectors"} info >"$LOG" 2>&1
expect server_outsider_refused "a user outside ${sock_group:-?} cannot connect" test $? != 0
check server_stop systemctl stop ivshmem-server.service
expect server_stop_removes_socket "$sock still exists after stop" test ! -e "${sock:-/nonexistent}"
expect server_stopped "is-active: $(systemctl is-active ivshmem-server.service)" \
	test "$(systemctl is-active ivshmem-server.service)" = inactive

# ---- purge ---------------------------------------------------------------
# Everything the packages installed, except directories others share.
for p in "${packages[@]}"; do
	dpkg -L "$p" 2>/dev/null
done | while read -r f; do
	[ -d "$f" ] || echo "$f"
done >"$WORK/files"
# /lib is /usr/lib in bookworm: /lib/modules covers both.
ko_before=$(find /lib/modules/ -name 'ivshmem.ko*' 2>/dev/null | wc -l)
echo "# $(wc -l <"$WORK/files") files and links, $ko_before module files before purge"
start=$SECONDS
check purge apt purge -y -q "${packages[@]}"
step_time purge $start
left=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null |
	awk '$2 != "un" && $2 != "" { print $1 }' | tr '\n' ' ')
expect purge_packages_gone "still known to dpkg: $left" test -z "$left"
left=$(while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done <"$WORK/files")
expect purge_files_gone "left: $(echo $left | head -c 300)" test -z "$left"
left=$(find /lib/modules/ -name 'ivshmem.ko*' 2>/dev/null; ls -d /var/lib/dkms/ivshmem /usr/src/ivshmem-* 2>/dev/null;
	dkms status ivshmem 2>/dev/null)
expect purge_module_gone "left: $(echo $left)" test -z "$left" -a "$ko_before" != 0
[ -d /sys/module/ivshmem ] && echo "# the module stays loaded until the next boot or rmmod"
left=$(find /lib/udev/rules.d/ /etc/udev/rules.d/ -iname '*ivshmem*' 2>/dev/null)
expect purge_udev_rule_gone "left: $left" test -z "$left"
expect purge_group_gone "group ivshmem still exists" sh -c '! getent group ivshmem >/dev/null'

echo "1..$n"
echo "# $failures failed of $n"
echo "# done: $(cut -d' ' -f1 /proc/uptime) s"
dmesg | sed 's/^/# dmesg: /'
echo "# ivt: done"
