/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ivshmem: user-space ABI of the driver for QEMU's Inter-VM shared memory
 * device (PCI 1af4:1110, "ivshmem-plain" and "ivshmem-doorbell").
 *
 * Each PCI device appears as a character device /dev/ivshmemN.  It offers:
 *
 *  - mmap() of the shared memory (BAR2).  Only MAP_SHARED; the offset must
 *    be page aligned and offset + length must lie inside the region.  The
 *    mapping is write-back cacheable, unless IVSHMEM_INFO_UNCACHED says the
 *    driver could not map the BAR write-back.  Errors: EINVAL for
 *    MAP_PRIVATE, an unaligned offset or a range past the end; EACCES for a
 *    writable mapping of a file opened read-only, and for mprotect() adding
 *    PROT_EXEC; EPERM for PROT_EXEC (memory other machines write is never
 *    executable: a process with the READ_IMPLIES_EXEC personality cannot
 *    map it); ENODEV once the device is gone.  Where the kernel can map
 *    PFNs with 1 GiB entries (6.12 and later), mappings of 1 GiB and more
 *    are placed so that such blocks line up and are mapped whole; this
 *    changes no result of any call (see ivshmem(4), "Memory").  Debuggers can read and write the
 *    mapping through ptrace and /proc/PID/mem, pages faulted in or not
 *    (on architectures with CONFIG_HAVE_IOREMAP_PROT, x86 among them).
 *
 *  - poll(): EPOLLIN | EPOLLRDNORM while an interrupt has arrived, since this
 *    open file last consumed it with IVSHMEM_IOCTL_WAIT, on a vector this
 *    file has not bound an eventfd to.  Interrupts on a bound vector reach
 *    poll() neither while it is bound nor after it is unbound, so a file
 *    that uses eventfds alone never stays readable; IVSHMEM_IOCTL_WAIT
 *    reports them while the eventfd is bound.  EPOLLHUP | EPOLLERR once the
 *    device is gone.
 *
 *  - the ioctls below.  Every ioctl fails with ENOTTY when the command is
 *    unknown, EFAULT when its argument cannot be read or written, EINVAL when
 *    a flags or reserved field is not zero, and ENODEV once the PCI device
 *    has been removed (the file stays open until closed, but is dead).
 *
 * Removal of the PCI device (unbind, hot-unplug, PCI remove) first revokes
 * every mapping, so that a later access raises SIGBUS, and only then tells
 * anyone: the device node goes, netlink announces IVSHMEM_CMD_REMOVED,
 * blocked WAIT and WAIT_READY calls return ENODEV, poll() reports
 * EPOLLHUP | EPOLLERR, and every eventfd bound to a vector is signalled once
 * (SET_EVENTFD racing the removal fails with ENODEV instead).
 * So a program blocked in read() on such an eventfd wakes, and the ioctls on
 * the device file (IVSHMEM_IOCTL_GET_INFO, say) then answer ENODEV.  Whoever
 * has seen the removal can no longer reach the old memory.
 *
 * Waits and signals: IVSHMEM_IOCTL_WAIT and IVSHMEM_IOCTL_WAIT_READY sleep
 * interruptibly.  A signal that runs a handler ends them with EINTR; one
 * that does not (SIGSTOP and SIGCONT, the freezer, a ptrace attach)
 * restarts them transparently.  Either way their timeout_ms is first
 * updated to the time that was left, so a restarted call never waits longer
 * than the original one would have.
 *
 * Interrupt modes (struct ivshmem_info.irq_mode):
 *  - IVSHMEM_IRQ_NONE: ivshmem-plain, shared memory only.  Doorbells and
 *    interrupt waits fail with EOPNOTSUPP.
 *  - IVSHMEM_IRQ_MSIX: ivshmem-doorbell, one MSI-X vector per interrupt
 *    vector.  If the system grants fewer MSI-X vectors than the device offers
 *    (at most 256 are ever used, see below), the driver uses those it got and
 *    says so in the kernel log; struct ivshmem_info tells both numbers.  If it
 *    grants none (pci=nomsi, say), the device is still bound, with
 *    IVSHMEM_IRQ_NONE, so that the shared memory stays usable.
 *  - IVSHMEM_IRQ_INTX: revision 0 devices without MSI-X.  All doorbells
 *    arrive on vector 0 (the legacy interrupt cannot tell vectors apart).
 *
 * Doorbell vectors: the device decodes only the low 8 bits of the vector
 * field of its Doorbell register, so vectors 0..255 can be rung and larger
 * values are rejected with EINVAL rather than silently aliased.  A doorbell
 * to a peer that is not connected, or to a vector the peer has not set up,
 * is dropped by the device without any indication.
 */
#ifndef _UAPI_LINUX_IVSHMEM_H
#define _UAPI_LINUX_IVSHMEM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/* Peer IDs are 16 bits wide in the Doorbell register. */
#define IVSHMEM_MAX_PEER_ID	65535
/* Vectors the Doorbell register can address (see above). */
#define IVSHMEM_MAX_VECTORS	256

enum ivshmem_irq_mode {
	IVSHMEM_IRQ_NONE = 0,
	IVSHMEM_IRQ_MSIX = 1,
	IVSHMEM_IRQ_INTX = 2,
};

/* struct ivshmem_info.flags */
/* The device has its peer ID and shared memory: see IVSHMEM_IOCTL_WAIT_READY. */
#define IVSHMEM_INFO_READY		_BITULL(0)
/* The device can ring and receive doorbells (irq_mode != IVSHMEM_IRQ_NONE). */
#define IVSHMEM_INFO_DOORBELL		_BITULL(1)
/*
 * The shared memory is mapped uncached: the BAR could not be mapped
 * write-back (see the README, "Memory type").  Correct, but much slower.
 */
#define IVSHMEM_INFO_UNCACHED		_BITULL(2)

/**
 * struct ivshmem_info - what the device is (IVSHMEM_IOCTL_GET_INFO)
 * @size:	size of the shared memory in bytes (BAR2)
 * @flags:	IVSHMEM_INFO_* bits
 * @peer_id:	own peer ID (IVPosition), 0..65535, or -1 while not ready
 * @vectors:	interrupt vectors in use (0 without interrupts, 1 for INTx)
 * @irq_mode:	enum ivshmem_irq_mode
 * @revision:	PCI revision of the device (0 or 1)
 * @index:	N of /dev/ivshmemN
 * @device_vectors: interrupt vectors the device offers (its MSI-X table
 *		size; 1 for INTx; 0 for a device that has none); more than
 *		@vectors when the system granted fewer (none at all: irq_mode
 *		IVSHMEM_IRQ_NONE), or the device offers more than 256
 * @padding:	always zero
 *
 * All fields are outputs.
 */
struct ivshmem_info {
	__u64 size;
	__u64 flags;
	__s32 peer_id;
	__u32 vectors;
	__u32 irq_mode;
	__u32 revision;
	__u32 index;
	__u32 device_vectors;
	__u32 padding[6];
};

/**
 * struct ivshmem_ring - ring a peer's doorbell (IVSHMEM_IOCTL_RING)
 * @peer_id:	peer to interrupt, 0..IVSHMEM_MAX_PEER_ID; may be one's own ID
 * @vector:	vector to raise at the peer, 0..IVSHMEM_MAX_VECTORS - 1
 * @flags:	must be zero
 * @padding:	must be zero
 *
 * All fields are inputs.  Errors: EBADF when the file was not opened for
 * writing (a read-only open may watch and receive, never interrupt other
 * machines); EINVAL for an out-of-range peer_id or vector; EOPNOTSUPP on a
 * device without interrupts; EAGAIN while the device is not ready (its peer
 * ID is not yet known).
 */
struct ivshmem_ring {
	__u32 peer_id;
	__u32 vector;
	__u32 flags;
	__u32 padding;
};

/**
 * struct ivshmem_eventfd - bind an eventfd to a vector (IVSHMEM_IOCTL_SET_EVENTFD)
 * @vector:	own interrupt vector, 0..vectors - 1
 * @fd:		eventfd to signal on each interrupt, or -1 to unbind
 * @flags:	must be zero
 * @padding:	must be zero
 *
 * All fields are inputs.  An open file holds at most one eventfd per vector:
 * binding again replaces the previous one.  Several open files may bind the
 * same vector; each is signalled.  Unbinding consumes, for this file's
 * IVSHMEM_IOCTL_WAIT and poll(), the interrupts the eventfd delivered (those
 * that arrived while it was bound) and nothing else: an interrupt pending
 * when it was bound stays pending, and unbinding a vector that has no
 * eventfd changes nothing.  The bindings of a file end when it is
 * closed, so a file holds at most one binding per vector in use (256).  The
 * binding's memory is charged to the caller's memory cgroup.  Errors:
 * EINVAL for an out-of-range vector or an fd that is not an eventfd (EBADF
 * if it is not an open fd at all); EOPNOTSUPP on a device without
 * interrupts; ENODEV once the device is gone; ENOMEM.
 */
struct ivshmem_eventfd {
	__u32 vector;
	__s32 fd;
	__u32 flags;
	__u32 padding;
};

/**
 * struct ivshmem_wait_ready - wait until the device is ready (IVSHMEM_IOCTL_WAIT_READY)
 * @timeout_ms:	in: how long to wait; 0 only checks, -1 waits forever;
 *		out: the time that was left when a signal interrupted the wait
 *		(unchanged otherwise), see "Waits and signals" above
 * @flags:	must be zero
 * @padding:	must be zero
 *
 * Returns 0 once the device has its peer ID (revision 0 doorbell devices
 * learn it from the server some time after reset; others are ready at once).
 * Errors: ETIMEDOUT when the time ran out, EINTR when a signal handler ran,
 * EINVAL for a timeout below -1.
 */
struct ivshmem_wait_ready {
	__s32 timeout_ms;
	__u32 flags;
	__u64 padding;
};

#define IVSHMEM_VECTOR_WORDS	(IVSHMEM_MAX_VECTORS / 64)

/**
 * struct ivshmem_wait - wait for interrupts (IVSHMEM_IOCTL_WAIT)
 * @vectors:	in: bitmap of own vectors to wait for (bit v of word v / 64);
 *		out: the subset of those that fired, now consumed (unchanged
 *		when a signal interrupted the wait)
 * @timeout_ms:	in: how long to wait; 0 only checks, -1 waits forever;
 *		out: the time that was left when a signal interrupted the wait
 *		(unchanged otherwise)
 * @flags:	must be zero
 * @padding:	must be zero
 *
 * Each open file sees every interrupt: an interrupt is pending for a file
 * from its arrival until that file consumes it here.  Several interrupts on
 * one vector before the wait count as one.  Returns 0 with at least one bit
 * set in @vectors.  Errors: ETIMEDOUT when none fired in time (vectors is
 * then all zero), EINTR when a signal handler ran, ENOMEM (more than four
 * vectors are waited for with memory charged to the caller), EINVAL for an
 * empty bitmap, a
 * bit at or above the vector count or a timeout below -1, EOPNOTSUPP on a
 * device without interrupts.
 */
struct ivshmem_wait {
	__u64 vectors[IVSHMEM_VECTOR_WORDS];
	__s32 timeout_ms;
	__u32 flags;
	__u64 padding;
};

/*
 * 0xB9: free in Documentation/userspace-api/ioctl/ioctl-number.rst of Linux
 * 7.2 (0xB8, used before ABI 1.0, belongs to mshv and mrvl_cn10k_dpi).
 */
#define IVSHMEM_IOCTL_MAGIC	0xB9

/* Read what the device is.  Out: struct ivshmem_info. */
#define IVSHMEM_IOCTL_GET_INFO	_IOR(IVSHMEM_IOCTL_MAGIC, 0x00, struct ivshmem_info)
/* Ring a peer's doorbell.  In: struct ivshmem_ring. */
#define IVSHMEM_IOCTL_RING	_IOW(IVSHMEM_IOCTL_MAGIC, 0x01, struct ivshmem_ring)
/* Bind or unbind an eventfd.  In: struct ivshmem_eventfd. */
#define IVSHMEM_IOCTL_SET_EVENTFD _IOW(IVSHMEM_IOCTL_MAGIC, 0x02, struct ivshmem_eventfd)
/* Wait until ready.  In/out: struct ivshmem_wait_ready. */
#define IVSHMEM_IOCTL_WAIT_READY _IOWR(IVSHMEM_IOCTL_MAGIC, 0x03, struct ivshmem_wait_ready)
/* Wait for interrupts.  In/out: struct ivshmem_wait. */
#define IVSHMEM_IOCTL_WAIT	_IOWR(IVSHMEM_IOCTL_MAGIC, 0x04, struct ivshmem_wait)

/*
 * Generic netlink family IVSHMEM_GENL_NAME: what the devices are, and events.
 *
 * IVSHMEM_CMD_GET with IVSHMEM_ATTR_INDEX replies with that device; as a dump
 * (NLM_F_DUMP) it replies with every device, in index order, and ignores
 * IVSHMEM_ATTR_INDEX.  A reply carries every IVSHMEM_ATTR_* below except
 * IVSHMEM_ATTR_PAD.
 *
 * IVSHMEM_CMD_RESET_STATS with IVSHMEM_ATTR_INDEX zeroes the counters
 * IVSHMEM_ATTR_IRQ_COUNTS and IVSHMEM_ATTR_DOORBELLS_SENT report.  It needs
 * CAP_NET_ADMIN (GENL_ADMIN_PERM), checked in the user namespace that owns
 * the network namespace, as for every generic netlink family that changes
 * state, devlink and ethtool among them: it is the capability a netlink
 * request is vetted with, and CAP_SYS_ADMIN would grant far more for a
 * statistics reset.  Reading needs no capability.
 *
 * The multicast group IVSHMEM_GENL_MCGRP_EVENTS carries IVSHMEM_CMD_ADDED
 * (a device was bound), IVSHMEM_CMD_READY (it learned its peer ID) and
 * IVSHMEM_CMD_REMOVED (it was unbound), each with the attributes of
 * IVSHMEM_CMD_GET as they were at the time.
 *
 * Every event of a device reaches the group before its index can be given
 * to another device: per index, ADDED and REMOVED strictly alternate.
 *
 * Requests are validated strictly: unknown attributes and flags are refused.
 * Errors: EINVAL (with an extended ack message) for a missing or malformed
 * attribute, ENODEV for an index no device has, EPERM without the
 * capability, EOPNOTSUPP for an unknown command, EMSGSIZE when a device's
 * description does not fit a netlink message (a dump then fails rather than
 * end early; every dump message has room for a device with 256 vectors, so
 * this does not happen).  Events are best effort: an event that cannot be
 * allocated is lost, as on every netlink multicast group.
 */
#define IVSHMEM_GENL_NAME		"ivshmem"
#define IVSHMEM_GENL_VERSION		1
#define IVSHMEM_GENL_MCGRP_EVENTS	"events"

enum ivshmem_genl_cmd {
	IVSHMEM_CMD_UNSPEC,
	IVSHMEM_CMD_GET,
	IVSHMEM_CMD_RESET_STATS,
	IVSHMEM_CMD_ADDED,
	IVSHMEM_CMD_REMOVED,
	IVSHMEM_CMD_READY,

	__IVSHMEM_CMD_MAX,
	IVSHMEM_CMD_MAX = __IVSHMEM_CMD_MAX - 1,
};

enum ivshmem_genl_attr {
	IVSHMEM_ATTR_UNSPEC,
	IVSHMEM_ATTR_INDEX,		/* u32: N of /dev/ivshmemN */
	IVSHMEM_ATTR_NAME,		/* string: "ivshmemN" */
	IVSHMEM_ATTR_PCI_ADDR,		/* string: "0000:00:04.0" */
	IVSHMEM_ATTR_REVISION,		/* u32: PCI revision */
	IVSHMEM_ATTR_IRQ_MODE,		/* u32: enum ivshmem_irq_mode */
	IVSHMEM_ATTR_SIZE,		/* u64: bytes of shared memory */
	IVSHMEM_ATTR_PEER_ID,		/* s32: own peer ID, -1 while not ready */
	IVSHMEM_ATTR_VECTORS,		/* u32: interrupt vectors */
	IVSHMEM_ATTR_READY,		/* u8: 1 once ready */
	IVSHMEM_ATTR_IRQ_COUNTS,	/* nest: IVSHMEM_ATTR_VECTOR_COUNT per vector */
	IVSHMEM_ATTR_DOORBELLS_SENT,	/* u64: doorbells rung by this guest */
	IVSHMEM_ATTR_PAD,

	__IVSHMEM_ATTR_MAX,
	IVSHMEM_ATTR_MAX = __IVSHMEM_ATTR_MAX - 1,
};

/* Inside IVSHMEM_ATTR_IRQ_COUNTS: one per vector, in vector order. */
enum ivshmem_genl_vector_attr {
	IVSHMEM_VECTOR_ATTR_UNSPEC,
	IVSHMEM_VECTOR_ATTR_COUNT,	/* u64: interrupts received */
	IVSHMEM_VECTOR_ATTR_PAD,

	__IVSHMEM_VECTOR_ATTR_MAX,
	IVSHMEM_VECTOR_ATTR_MAX = __IVSHMEM_VECTOR_ATTR_MAX - 1,
};

#endif /* _UAPI_LINUX_IVSHMEM_H */
