# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# A real Debian guest (debootstrap, systemd, udev) in which the packages are
# installed, used and purged.  Sourced by run.sh.

run_debian_guest() {
	:
}
