# SPDX-License-Identifier: GPL-2.0
#
#   make                 the module (for the running kernel, or KDIR=) and
#                        all user space, into kernel/ and build/
#   make userspace       user space only (no kernel headers needed)
#   make demo            two guests and a host peer talk (installs what it
#                        lacks, as root)
#   make test            the whole test suite (installs what it lacks, as
#                        root): static checks, host tests, guest matrix, demo
#   make install         library, tools, headers, unit file and man pages
#                        under PREFIX
#   make deb             the Debian packages, into build/debs (README, Install)
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
	install -D -m 755 build/ivshmem-demo $(DESTDIR)$(PREFIX)/bin/ivshmem-demo
	install -D -m 644 uapi/linux/ivshmem.h $(DESTDIR)$(PREFIX)/include/linux/ivshmem.h
	$(MAKE) -C lib install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	mkdir -p $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/|$(PREFIX)/|g' tools/ivshmem-server/ivshmem-server.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/ivshmem-server.service
	install -D -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/ivshmem/README.md
	for page in man/*.[1-8]; do \
		install -D -m 644 $$page $(DESTDIR)$(PREFIX)/share/man/man$${page##*.}/$${page#man/} || exit 1; \
	done
	install -D -m 644 tools/ivshmem-ctl/bash-completion \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/ivshmem-ctl

# Built from the working tree in a private copy (debian/build-debs).
deb:
	debian/build-debs build/debs
	@echo "packages in build/debs: apt install ./build/debs/*.deb"

clean:
	-test -d "$(KDIR)" && $(MAKE) -C kernel KDIR=$(KDIR) clean
	rm -f kernel/conftest.h
	rm -rf build

.PHONY: all module userspace demo test check install deb clean
