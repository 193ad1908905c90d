/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libivshmem: QEMU's Inter-VM shared memory from user space.
 *
 * One handle, struct ivshmem, stands for either
 *  - a device of the ivshmem driver inside a guest (/dev/ivshmemN), or
 *  - a host peer: a client of an ivshmem-server on the host, which maps the
 *    same shared memory as the guests and rings and is rung through the
 *    server's eventfds,
 * so one program runs unchanged in a guest or on the host.  Enumeration and
 * events (ivshmem_list(), struct ivshmem_monitor) use the driver's generic
 * netlink family and only exist in guests.
 *
 * Errors: every function that returns int returns 0 (or the documented
 * non-negative value) on success and a negative errno value on failure.
 * errno itself is not part of the interface.
 *
 * Threads: distinct handles are independent.  One struct ivshmem may be
 * used by several threads at once.  A struct ivshmem_monitor must be used
 * by one thread at a time.  The library has no global state.
 */
#ifndef LIBIVSHMEM_H
#define LIBIVSHMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/ivshmem.h>

#ifdef __cplusplus
extern "C" {
#endif

/* struct ivshmem_dev_info.irq_mode of a host peer: server eventfds. */
#define IVSHMEM_IRQ_HOST_EVENTFD	0x100

struct ivshmem;

/* What an open handle is. */
struct ivshmem_dev_info {
	uint64_t size;		/* bytes of shared memory */
	int32_t peer_id;	/* own peer ID, -1 while not ready */
	uint32_t vectors;	/* own interrupt vectors */
	uint32_t irq_mode;	/* enum ivshmem_irq_mode or IVSHMEM_IRQ_HOST_EVENTFD */
	uint32_t revision;	/* PCI revision; 0 for a host peer */
	int32_t index;		/* N of /dev/ivshmemN; -1 for a host peer */
	bool ready;		/* peer_id is known */
	bool doorbell;		/* can ring and be rung */
	bool host_peer;		/* a client of ivshmem-server */
};

/**
 * ivshmem_open() - open a guest device by path, e.g. "/dev/ivshmem0"
 * @path:	device node
 * @out:	the new handle, to be released with ivshmem_close()
 *
 * Opened read-write.  Returns -ENOTTY if @path is not an ivshmem device,
 * -ENODEV if its PCI device has been removed, or the errno of open(2).
 */
int ivshmem_open(const char *path, struct ivshmem **out);

/** ivshmem_open_index() - open /dev/ivshmem@index.  Errors as ivshmem_open(). */
int ivshmem_open_index(unsigned int index, struct ivshmem **out);

/**
 * ivshmem_open_pci() - open the device at PCI address @pci_addr
 * ("0000:00:04.0"; the domain may be left out).  -ENODEV if the driver has
 * no device there.
 */
int ivshmem_open_pci(const char *pci_addr, struct ivshmem **out);

/**
 * ivshmem_open_server() - join an ivshmem-server as a host peer
 * @socket_path:	the server's UNIX socket
 * @out:		the new handle
 *
 * Receives the peer ID, the shared memory and the eventfds of every vector
 * of this peer and of the others.  -EPROTO if the server does not speak
 * QEMU's protocol version 0, -ECONNREFUSED/-ENOENT from connect(2), -EAGAIN
 * if the server closed the connection at once (it is full).
 */
int ivshmem_open_server(const char *socket_path, struct ivshmem **out);

/** ivshmem_close() - release a handle; its mappings stay valid until unmapped. */
void ivshmem_close(struct ivshmem *dev);

/** ivshmem_info() - what the handle is. */
int ivshmem_info(struct ivshmem *dev, struct ivshmem_dev_info *info);

/**
 * ivshmem_map() - map part of the shared memory
 * @offset:	page-aligned start in the shared memory
 * @length:	bytes, 0 for "up to the end"
 * @prot:	PROT_READ, optionally | PROT_WRITE
 * @addr:	the mapping, to be released with ivshmem_unmap()
 *
 * -EINVAL for an unaligned offset or a range past the end.
 */
int ivshmem_map(struct ivshmem *dev, uint64_t offset, size_t length, int prot,
		void **addr);

/** ivshmem_unmap() - release a mapping of @length bytes made by ivshmem_map(). */
int ivshmem_unmap(void *addr, size_t length);

/**
 * ivshmem_ring() - interrupt @vector of peer @peer_id (which may be oneself)
 *
 * -EINVAL for peer IDs above 65535 or vectors above 255, -EOPNOTSUPP
 * without interrupts, -EAGAIN while not ready.  A guest cannot know whether
 * the peer exists; a host peer can, and returns -ENXIO if it does not or
 * has no such vector.
 */
int ivshmem_ring(struct ivshmem *dev, unsigned int peer_id, unsigned int vector);

/**
 * ivshmem_vector_fd() - an eventfd that becomes readable on each interrupt
 * of own vector @vector; returns the fd (>= 0).
 *
 * The handle owns the fd: do not close it.  Read it (8 bytes) to consume
 * the interrupts it counted.  -EINVAL for a vector out of range.
 */
int ivshmem_vector_fd(struct ivshmem *dev, unsigned int vector);

/**
 * ivshmem_wait() - wait until one of a set of own vectors fires
 * @vectors:	in: bitmap of vectors to wait for (bit v of word v / 64);
 *		out: those that fired, now consumed
 * @timeout_ms:	0 only checks, -1 waits forever
 *
 * -ETIMEDOUT if none fired in time, -EINTR on a signal, -EINVAL for an
 * empty set or a vector out of range.  A host peer's interrupts are the
 * server's eventfds themselves, which this reads: use either ivshmem_wait()
 * or ivshmem_vector_fd() for a vector, not both.
 */
int ivshmem_wait(struct ivshmem *dev, uint64_t vectors[IVSHMEM_VECTOR_WORDS],
		 int timeout_ms);

/** ivshmem_wait_ready() - wait until the peer ID is known; -ETIMEDOUT. */
int ivshmem_wait_ready(struct ivshmem *dev, int timeout_ms);

/* Guest devices as the driver's netlink family describes them. */
struct ivshmem_dev_desc {
	uint32_t index;
	char name[16];
	char pci_addr[16];
	uint32_t revision;
	uint32_t irq_mode;
	uint64_t size;
	int32_t peer_id;
	uint32_t vectors;
	bool ready;
	uint64_t doorbells_sent;
	uint64_t irq_counts[IVSHMEM_MAX_VECTORS];	/* per own vector */
};

/**
 * ivshmem_list() - every device of the driver, in index order
 * @descs:	a malloc'ed array, to be released with free()
 * @count:	its length
 *
 * -ENOENT if the driver is not loaded.
 */
int ivshmem_list(struct ivshmem_dev_desc **descs, size_t *count);

/**
 * ivshmem_describe() - one device by index; -ENODEV if there is none,
 * -ENOENT if the driver is not loaded.
 */
int ivshmem_describe(unsigned int index, struct ivshmem_dev_desc *desc);

/**
 * ivshmem_reset_stats() - zero a device's counters (doorbells sent and the
 * interrupt counts of IVSHMEM_ATTR_IRQ_COUNTS); -EPERM without
 * CAP_NET_ADMIN, -ENODEV for an unknown index, -ENOENT without the driver.
 */
int ivshmem_reset_stats(unsigned int index);

enum ivshmem_event_type {
	IVSHMEM_EVENT_ADDED = 1,
	IVSHMEM_EVENT_READY,
	IVSHMEM_EVENT_REMOVED,
};

struct ivshmem_event {
	enum ivshmem_event_type type;
	struct ivshmem_dev_desc dev;	/* the device as it was then */
};

struct ivshmem_monitor;

/**
 * ivshmem_monitor_open() - follow devices being added, ready and removed;
 * -ENOENT if the driver is not loaded.  Only events after this call are seen.
 */
int ivshmem_monitor_open(struct ivshmem_monitor **out);

/** ivshmem_monitor_fd() - readable when an event is waiting (for poll()). */
int ivshmem_monitor_fd(struct ivshmem_monitor *mon);

/**
 * ivshmem_monitor_read() - the next event
 * @timeout_ms:	0 only checks, -1 waits forever
 *
 * -ETIMEDOUT if none came in time, -ENOBUFS if events were lost because
 * they were not read fast enough.
 */
int ivshmem_monitor_read(struct ivshmem_monitor *mon, struct ivshmem_event *event,
			 int timeout_ms);

void ivshmem_monitor_close(struct ivshmem_monitor *mon);

/** ivshmem_irq_mode_name() - "none", "msix", "intx", "host-eventfd" or "unknown". */
const char *ivshmem_irq_mode_name(uint32_t irq_mode);

/** ivshmem_event_name() - "added", "ready", "removed" or "unknown". */
const char *ivshmem_event_name(enum ivshmem_event_type type);

#ifdef __cplusplus
}
#endif

#endif /* LIBIVSHMEM_H */
