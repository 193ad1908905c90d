// SPDX-License-Identifier: GPL-2.0
/*
 * Pins the ABI of <linux/ivshmem.h>.  This file is only compiled, never run:
 * once as C11 and once as C++17, both with -Wall -Wextra -pedantic -Werror.
 * A change to any size, offset or ioctl number below breaks existing
 * binaries and must never be made; add fields only by consuming padding
 * and documenting them as zero-checked inputs or zeroed outputs.
 */
#include <assert.h>
#include <stddef.h>
#include <linux/ivshmem.h>

#define PIN_SIZE(type, size) \
	static_assert(sizeof(type) == (size), "size of " #type)
#define PIN_OFFSET(type, field, off) \
	static_assert(offsetof(type, field) == (off), "offset of " #type "." #field)
/* The last field, which must end exactly where the struct does. */
#define PIN_LAST(type, field, off) \
	PIN_OFFSET(type, field, off); \
	static_assert((off) + sizeof(((type *)0)->field) == sizeof(type), \
		      #type "." #field " leaves tail padding")
#define PIN_VALUE(expr, value) \
	static_assert((expr) == (value), #expr)

PIN_SIZE(struct ivshmem_info, 64);
PIN_OFFSET(struct ivshmem_info, size, 0);
PIN_OFFSET(struct ivshmem_info, flags, 8);
PIN_OFFSET(struct ivshmem_info, peer_id, 16);
PIN_OFFSET(struct ivshmem_info, vectors, 20);
PIN_OFFSET(struct ivshmem_info, irq_mode, 24);
PIN_OFFSET(struct ivshmem_info, revision, 28);
PIN_OFFSET(struct ivshmem_info, index, 32);
PIN_OFFSET(struct ivshmem_info, device_vectors, 36);
PIN_LAST(struct ivshmem_info, padding, 40);

PIN_SIZE(struct ivshmem_ring, 16);
PIN_OFFSET(struct ivshmem_ring, peer_id, 0);
PIN_OFFSET(struct ivshmem_ring, vector, 4);
PIN_OFFSET(struct ivshmem_ring, flags, 8);
PIN_LAST(struct ivshmem_ring, padding, 12);

PIN_SIZE(struct ivshmem_eventfd, 16);
PIN_OFFSET(struct ivshmem_eventfd, vector, 0);
PIN_OFFSET(struct ivshmem_eventfd, fd, 4);
PIN_OFFSET(struct ivshmem_eventfd, flags, 8);
PIN_LAST(struct ivshmem_eventfd, padding, 12);

PIN_SIZE(struct ivshmem_wait_ready, 16);
PIN_OFFSET(struct ivshmem_wait_ready, timeout_ms, 0);
PIN_OFFSET(struct ivshmem_wait_ready, flags, 4);
PIN_LAST(struct ivshmem_wait_ready, padding, 8);

PIN_SIZE(struct ivshmem_wait, 48);
PIN_OFFSET(struct ivshmem_wait, vectors, 0);
PIN_OFFSET(struct ivshmem_wait, timeout_ms, 32);
PIN_OFFSET(struct ivshmem_wait, flags, 36);
PIN_LAST(struct ivshmem_wait, padding, 40);

/*
 * Offsets pinned field by field and no tail padding mean no implicit padding
 * anywhere, so i386 (where __u64 is only 4-aligned) and compat ioctls see the
 * same layout as x86-64.
 */

PIN_VALUE(IVSHMEM_IOCTL_GET_INFO, 0x8040b900u);
PIN_VALUE(IVSHMEM_IOCTL_RING, 0x4010b901u);
PIN_VALUE(IVSHMEM_IOCTL_SET_EVENTFD, 0x4010b902u);
PIN_VALUE(IVSHMEM_IOCTL_WAIT_READY, 0xc010b903u);
PIN_VALUE(IVSHMEM_IOCTL_WAIT, 0xc030b904u);

PIN_VALUE(IVSHMEM_MAX_PEER_ID, 65535);
PIN_VALUE(IVSHMEM_MAX_VECTORS, 256);
PIN_VALUE(IVSHMEM_INFO_READY, 1ull);
PIN_VALUE(IVSHMEM_INFO_DOORBELL, 2ull);
PIN_VALUE(IVSHMEM_INFO_UNCACHED, 4ull);
PIN_VALUE(IVSHMEM_IRQ_NONE, 0);
PIN_VALUE(IVSHMEM_IRQ_MSIX, 1);
PIN_VALUE(IVSHMEM_IRQ_INTX, 2);

/* The generic netlink family: commands, attributes and names. */
PIN_VALUE(IVSHMEM_GENL_VERSION, 1);
PIN_VALUE(IVSHMEM_CMD_GET, 1);
PIN_VALUE(IVSHMEM_CMD_RESET_STATS, 2);
PIN_VALUE(IVSHMEM_CMD_ADDED, 3);
PIN_VALUE(IVSHMEM_CMD_REMOVED, 4);
PIN_VALUE(IVSHMEM_CMD_READY, 5);
PIN_VALUE(IVSHMEM_ATTR_INDEX, 1);
PIN_VALUE(IVSHMEM_ATTR_NAME, 2);
PIN_VALUE(IVSHMEM_ATTR_PCI_ADDR, 3);
PIN_VALUE(IVSHMEM_ATTR_REVISION, 4);
PIN_VALUE(IVSHMEM_ATTR_IRQ_MODE, 5);
PIN_VALUE(IVSHMEM_ATTR_SIZE, 6);
PIN_VALUE(IVSHMEM_ATTR_PEER_ID, 7);
PIN_VALUE(IVSHMEM_ATTR_VECTORS, 8);
PIN_VALUE(IVSHMEM_ATTR_READY, 9);
PIN_VALUE(IVSHMEM_ATTR_IRQ_COUNTS, 10);
PIN_VALUE(IVSHMEM_ATTR_DOORBELLS_SENT, 11);
PIN_VALUE(IVSHMEM_ATTR_PAD, 12);
PIN_VALUE(IVSHMEM_VECTOR_ATTR_COUNT, 1);
PIN_VALUE(IVSHMEM_VECTOR_ATTR_PAD, 2);
PIN_VALUE(sizeof(IVSHMEM_GENL_NAME), sizeof("ivshmem"));
PIN_VALUE(sizeof(IVSHMEM_GENL_MCGRP_EVENTS), sizeof("events"));
