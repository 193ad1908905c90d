# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The Debian packages of debian/: built with dpkg-buildpackage, checked with
# lintian and the man pages with mandoc, then proven in a real Debian guest
# (lib/debian-guest.sh).  Sourced by run.sh.

run_package_tests() {
	note "Debian packages: not yet"
}
