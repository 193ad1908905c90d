/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the guest test programs. */
#ifndef IVSHMEM_TEST_H
#define IVSHMEM_TEST_H

#include <stdint.h>
#include <linux/ivshmem.h>

#include "harness.h"

/*
 * The runner passes settings on the kernel command line (ivt_NAME=VALUE),
 * which the kernel hands to init, and so to us, as environment variables.
 */
const char *env_str(const char *name, const char *def);
/* 64 bits wide in 32-bit test programs too: sizes reach 2 GiB and more. */
long long env_long(const char *name, long long def);

/* /dev/ivshmemN of the device under test: $ivt_dev, default ivshmem0. */
const char *dev_name(void);
const char *dev_path(void);

/* Open the device under test; the test fails if it cannot. */
int dev_open(int flags);
void dev_get_info(int fd, struct ivshmem_info *info);
/* A sysfs attribute of /sys/class/misc/@name, as text or number. */
int sysfs_attr(const char *name, const char *attr, char *buf, size_t len);
long long sysfs_attr_long(const char *name, const char *attr);
/* PCI address ("0000:00:03.0") of /dev/@name, or -1. */
int dev_pci_addr(const char *name, char *buf, size_t len);

/* Physical address of BAR2 (or BAR@n) of /dev/@name; 0 or -1. */
int dev_bar2(const char *name, unsigned long long *start, unsigned long long *end);
int dev_bar(const char *name, int n, unsigned long long *start, unsigned long long *end);
/*
 * The PAT memory type ("write-back", "uncached-minus"...) of the reservation
 * covering BAR2 of /dev/@name, from /sys/kernel/debug/x86/pat_memtype_list:
 * 0, -ENOENT without that list, or -1 if BAR2 is not in it.
 */
int bar2_memtype(const char *name, char *type, size_t len);
/* The same for the physical range @start..@end (inclusive). */
int phys_memtype(unsigned long long start, unsigned long long end, char *type, size_t len);
/*
 * arm64: "LEVEL TYPE" ("pte normal"...) of the page table entry mapping
 * @addr in this process (@space "user") or in the kernel ("kernel"), read
 * by the test module ivt_ptattr (selftests/kmod): 0, or -ENOENT without it.
 */
int pt_memtype(const char *space, unsigned long long addr, char *type, size_t len);
/* The start of the kernel's mapping of physical @phys in /proc/vmallocinfo. */
int kernel_mapping_of(unsigned long long phys, unsigned long long *addr);

/* Write @value to a sysfs file, such as a driver's bind or unbind. */
int sysfs_write(const char *path, const char *value);
/* Wait up to @timeout_ms for @path to exist (or not); 0 or -1. */
int wait_path(const char *path, bool exist, int timeout_ms);

/* The module in the initramfs: unload it (O_NONBLOCK) or load it again. */
int module_unload(void);
int module_load(void);

/* The ioctls, returning 0 or -1 with errno like any system call. */
int dev_ring(int fd, uint32_t peer, uint32_t vector);
int dev_set_eventfd(int fd, uint32_t vector, int efd);
/* Wait for the vectors in @mask (bit v); on return @mask holds those that fired. */
int dev_wait(int fd, uint64_t *mask, int timeout_ms);

/* Is @fd readable within @timeout_ms? */
bool fd_readable(int fd, int timeout_ms);

#endif /* IVSHMEM_TEST_H */
