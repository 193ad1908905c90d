# SPDX-License-Identifier: GPL-2.0
#
#   make                 the module (for the running kernel, or KDIR=) and
#                        all user space, into kernel/ and build/
#   make userspace       user space only (no kernel headers needed)
#   make demo            two guests and a host peer talk (installs what it
#                        lacks, as root)
#   make test            the whole test suite (installs what it lacks, as
#                        root): static checks, host tests, guest matrix, demo
#   make install         library, tools, headers and unit file under PREFIX
#   make clean
KDIR ?= /lib/modules/$(shell uname -r)/build
PREFIX ?= /usr/local
DESTDIR ?=

all: module userspace

module:
	@test -d "$(KDIR)" || { \
		echo "no kernel build tree at $(KDIR): install the headers of the" \
		     "running kernel, or pass KDIR=/path/to/kernel/build" >&2; exit 1; }
	$(MAKE) -C kernel KDIR=$(KDIR)

userspace:
	$(MAKE) -C lib
	$(MAKE) -C tools
	$(MAKE) -C selftests

demo:
	bash selftests/run.sh demo

test check:
	bash selftests/run.sh

install: userspace
	install -D -m 755 build/ivshmem-server $(DESTDIR)$(PREFIX)/bin/ivshmem-server
	install -D -m 755 build/ivshmem-ctl $(DESTDIR)$(PREFIX)/bin/ivshmem-ctl
	install -D -m 644 uapi/linux/ivshmem.h $(DESTDIR)$(PREFIX)/include/linux/ivshmem.h
	$(MAKE) -C lib install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/|$(PREFIX)/|g' tools/ivshmem-server/ivshmem-server.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/ivshmem-server.service
	install -D -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/ivshmem/README.md

clean:
	-test -d "$(KDIR)" && $(MAKE) -C kernel KDIR=$(KDIR) clean
	rm -f kernel/conftest.h
	rm -rf build

.PHONY: all module userspace demo test check install clean
