#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run inside the freshly debootstrapped root filesystem of the Debian guest
# (lib/debian-guest.sh): install PACKAGE..., keep only what a test boot
# needs, and enable the unit that runs the tests at boot.
#
# usage: setup-image.sh PACKAGE...
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

# A small initramfs: the root disk is virtio-blk and ext4, nothing else.
mkdir -p /etc/initramfs-tools/conf.d
printf 'MODULES=list\nCOMPRESS=gzip\n' >/etc/initramfs-tools/conf.d/ivshmem-guest.conf
printf '%s\n' virtio_pci virtio_blk crc32c_generic ext4 >>/etc/initramfs-tools/modules

# man-db's index is not needed to show a page, and rebuilding it under
# emulation after every install costs minutes.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
# Minimal images may exclude manual pages from being unpacked.
rm -f /etc/dpkg/dpkg.cfg.d/excludes

apt-get install -y -q --no-install-recommends "$@"

# Each boot is a snapshot of this image: never a first boot that prompts.
systemd-machine-id-setup >/dev/null
echo debian-guest >/etc/hostname
echo '/dev/vda / ext4 rw,relatime 0 1' >/etc/fstab

# Nothing runs at boot that the tests do not need.
for unit in getty@tty1.service serial-getty@ttyS0.service getty.target \
	apt-daily.timer apt-daily-upgrade.timer man-db.timer dpkg-db-backup.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service \
	systemd-tmpfiles-clean.timer systemd-firstboot.service \
	systemd-networkd-wait-online.service systemd-pstore.service; do
	ln -sf /dev/null "/etc/systemd/system/$unit"
done
systemctl enable ivshmem-guest-test.service

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /usr/sbin/policy-rc.d
