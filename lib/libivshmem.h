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
#include <sys/uio.h>
#include <linux/ivshmem.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ivshmem_dev_info_get_irq_mode() of a host peer: server eventfds. */
#define IVSHMEM_IRQ_HOST_EVENTFD	0x100

struct ivshmem;

/*
 * The objects below (device information, descriptions, events and the
 * options of ivshmem_open_server()) are opaque and read through getters, so
 * that they can grow without breaking callers.  Each comes with its own
 * _free() function, which accepts NULL.
 */

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

/* How ivshmem_open_server() joins. */
struct ivshmem_server_opts;

/** ivshmem_server_opts_new() - default options: vectors detected, 5 s timeout. */
int ivshmem_server_opts_new(struct ivshmem_server_opts **out);

void ivshmem_server_opts_free(struct ivshmem_server_opts *opts);

/**
 * ivshmem_server_opts_set_vectors() - the number of own vectors the server
 * gives each peer (its -n), as QEMU's ivshmem-doorbell vectors= property.
 *
 * Joining is then complete as soon as that many eventfds arrived.  Without
 * it, the vectors are detected: joining waits until the server has been
 * quiet for 200 ms.  -EINVAL above IVSHMEM_MAX_VECTORS.
 */
int ivshmem_server_opts_set_vectors(struct ivshmem_server_opts *opts, unsigned int vectors);

/**
 * ivshmem_server_opts_set_timeout() - how long connecting and the server's
 * greeting may take together, in ms (default 5000); -1 waits forever.
 * -EINVAL for 0 or less than -1.
 */
int ivshmem_server_opts_set_timeout(struct ivshmem_server_opts *opts, int timeout_ms);

/**
 * ivshmem_open_server() - join an ivshmem-server as a host peer
 * @socket_path:	the server's UNIX socket
 * @opts:		options, or NULL for the defaults
 * @out:		the new handle
 *
 * Receives the peer ID, the shared memory and the eventfds of every vector
 * of this peer and of the others.  -EPROTO if the server does not speak
 * QEMU's protocol version 0, -ECONNREFUSED/-ENOENT from connect(2), -EAGAIN
 * if the server closed the connection at once (it is full), -ETIMEDOUT if
 * connecting (a full listen backlog) or the greeting took longer than the
 * timeout, which includes a server that sends fewer vectors than stated.
 * Own eventfds beyond the stated count are closed unused, as QEMU does.
 */
int ivshmem_open_server(const char *socket_path, const struct ivshmem_server_opts *opts,
			struct ivshmem **out);

/** ivshmem_close() - release a handle; its mappings stay valid until unmapped. */
void ivshmem_close(struct ivshmem *dev);

/* What an open handle is, as of one call of ivshmem_get_info(). */
struct ivshmem_dev_info;

/** ivshmem_get_info() - what the handle is now; free with ivshmem_dev_info_free(). */
int ivshmem_get_info(struct ivshmem *dev, struct ivshmem_dev_info **info);

void ivshmem_dev_info_free(struct ivshmem_dev_info *info);
/* Bytes of shared memory. */
uint64_t ivshmem_dev_info_get_size(const struct ivshmem_dev_info *info);
/* Own peer ID; -1 while not ready, and for a host peer that lost its server. */
int32_t ivshmem_dev_info_get_peer_id(const struct ivshmem_dev_info *info);
/* Own interrupt vectors. */
uint32_t ivshmem_dev_info_get_vectors(const struct ivshmem_dev_info *info);
/* enum ivshmem_irq_mode, or IVSHMEM_IRQ_HOST_EVENTFD. */
uint32_t ivshmem_dev_info_get_irq_mode(const struct ivshmem_dev_info *info);
/* PCI revision; 0 for a host peer. */
uint32_t ivshmem_dev_info_get_revision(const struct ivshmem_dev_info *info);
/* N of /dev/ivshmemN; -1 for a host peer. */
int32_t ivshmem_dev_info_get_index(const struct ivshmem_dev_info *info);
/* The peer ID is known (and, for a host peer, the server still there). */
bool ivshmem_dev_info_is_ready(const struct ivshmem_dev_info *info);
/* Can ring and be rung. */
bool ivshmem_dev_info_has_doorbell(const struct ivshmem_dev_info *info);
/* A client of ivshmem-server rather than a guest device. */
bool ivshmem_dev_info_is_host_peer(const struct ivshmem_dev_info *info);

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

/*
 * Host peers and the server's messages: joins and leaves of other peers,
 * and the end of the connection, change which peers can be rung.  They are
 * taken in by ivshmem_wait() (which watches the server while it waits),
 * ivshmem_get_info() and ivshmem_read_peer_event().  ivshmem_ring() makes
 * no system call but the doorbell's write, and uses the peers as last taken
 * in.  Once the server closed the connection (it stopped, or dropped this
 * peer), ivshmem_ring(), ivshmem_wait(), ivshmem_vector_fd() and
 * ivshmem_wait_ready() return -ECONNRESET, and ivshmem_get_info() reports
 * not ready with peer ID -1.
 */

/**
 * ivshmem_ring() - interrupt @vector of peer @peer_id (which may be oneself)
 *
 * -EINVAL for peer IDs above 65535 or vectors above 255, -EOPNOTSUPP
 * without interrupts, -EAGAIN while not ready.  A guest cannot know whether
 * the peer exists; a host peer can, and returns -ENXIO if it does not or
 * has no such vector, and -ECONNRESET once its server is gone.
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
 * empty set or a vector out of range, -ECONNRESET for a host peer whose
 * server closed the connection.  A host peer's interrupts are the server's
 * eventfds themselves, which this reads: use either ivshmem_wait() or
 * ivshmem_vector_fd() for a vector, not both.
 */
int ivshmem_wait(struct ivshmem *dev, uint64_t vectors[IVSHMEM_VECTOR_WORDS],
		 int timeout_ms);

/**
 * ivshmem_wait_ready() - wait until the peer ID is known; -ETIMEDOUT.
 * A host peer is ready from the moment it joined until -ECONNRESET.
 */
int ivshmem_wait_ready(struct ivshmem *dev, int timeout_ms);

/* What ivshmem_read_peer_event() reports. */
enum ivshmem_peer_event_type {
	IVSHMEM_PEER_JOINED = 1,	/* a new peer: its eventfds are known */
	IVSHMEM_PEER_LEFT,		/* a peer left: it can no longer be rung */
	IVSHMEM_PEER_DISCONNECTED,	/* the server closed our connection */
};

/**
 * ivshmem_peer_fd() - for poll(): readable when server messages or peer
 * events wait for ivshmem_read_peer_event().
 *
 * Host peers only (-EOPNOTSUPP for a guest device).  The handle owns the fd.
 * After IVSHMEM_PEER_DISCONNECTED has been read it never becomes readable
 * again.
 */
int ivshmem_peer_fd(struct ivshmem *dev);

/**
 * ivshmem_read_peer_event() - take in the server's messages and return the
 * next peer event (enum ivshmem_peer_event_type, > 0)
 * @peer_id:	the peer concerned (own former ID for DISCONNECTED)
 * @timeout_ms:	0 only checks, -1 waits forever
 *
 * Events since the handle was opened are kept, the oldest first, up to
 * 1024 of them: -ENOBUFS tells once that later ones were dropped.
 * -ETIMEDOUT if none came in time, -ECONNRESET after DISCONNECTED,
 * -EOPNOTSUPP for a guest device.
 */
int ivshmem_read_peer_event(struct ivshmem *dev, unsigned int *peer_id, int timeout_ms);

/** ivshmem_peer_event_name() - "joined", "left", "disconnected" or "unknown". */
const char *ivshmem_peer_event_name(enum ivshmem_peer_event_type type);

/* A guest device as the driver's netlink family describes it. */
struct ivshmem_dev_desc;

uint32_t ivshmem_dev_desc_get_index(const struct ivshmem_dev_desc *desc);
/* "ivshmemN" */
const char *ivshmem_dev_desc_get_name(const struct ivshmem_dev_desc *desc);
/* "0000:00:04.0", or "" if unknown */
const char *ivshmem_dev_desc_get_pci_addr(const struct ivshmem_dev_desc *desc);
uint32_t ivshmem_dev_desc_get_revision(const struct ivshmem_dev_desc *desc);
uint32_t ivshmem_dev_desc_get_irq_mode(const struct ivshmem_dev_desc *desc);
uint64_t ivshmem_dev_desc_get_size(const struct ivshmem_dev_desc *desc);
/* -1 while not ready */
int32_t ivshmem_dev_desc_get_peer_id(const struct ivshmem_dev_desc *desc);
uint32_t ivshmem_dev_desc_get_vectors(const struct ivshmem_dev_desc *desc);
bool ivshmem_dev_desc_is_ready(const struct ivshmem_dev_desc *desc);
uint64_t ivshmem_dev_desc_get_doorbells_sent(const struct ivshmem_dev_desc *desc);
/* Interrupts counted on own vector @vector; 0 for vectors it does not have. */
uint64_t ivshmem_dev_desc_get_irq_count(const struct ivshmem_dev_desc *desc,
					unsigned int vector);
void ivshmem_dev_desc_free(struct ivshmem_dev_desc *desc);

/* Every device of the driver, in index order. */
struct ivshmem_dev_list;

/**
 * ivshmem_list() - every device of the driver, in index order; free the
 * list with ivshmem_dev_list_free().  -ENOENT if the driver is not loaded.
 */
int ivshmem_list(struct ivshmem_dev_list **list);

size_t ivshmem_dev_list_count(const struct ivshmem_dev_list *list);
/* The @i-th device, owned by the list; NULL past the end. */
const struct ivshmem_dev_desc *ivshmem_dev_list_get(const struct ivshmem_dev_list *list,
						    size_t i);
void ivshmem_dev_list_free(struct ivshmem_dev_list *list);

/**
 * ivshmem_describe() - one device by index, to be freed with
 * ivshmem_dev_desc_free(); -ENODEV if there is none, -ENOENT if the driver
 * is not loaded.
 */
int ivshmem_describe(unsigned int index, struct ivshmem_dev_desc **desc);

/**
 * ivshmem_reset_stats() - zero a device's counters (doorbells sent and the
 * interrupt counts of IVSHMEM_ATTR_IRQ_COUNTS); -EPERM without
 * CAP_NET_ADMIN, -ENODEV for an unknown index, -ENOENT without the driver.
 *
 * Netlink failures of these functions keep their meaning: -ENOMEM,
 * -EPERM/-EACCES, -EAGAIN, -EINTR, -EBUSY, -EPROTO for malformed messages,
 * and so on; -EIO only for failures libnl does not explain.
 */
int ivshmem_reset_stats(unsigned int index);

enum ivshmem_event_type {
	IVSHMEM_EVENT_ADDED = 1,
	IVSHMEM_EVENT_READY,
	IVSHMEM_EVENT_REMOVED,
};

/* A device being added, ready or removed. */
struct ivshmem_event;

enum ivshmem_event_type ivshmem_event_get_type(const struct ivshmem_event *event);
/* The device as it was then, owned by the event. */
const struct ivshmem_dev_desc *ivshmem_event_get_desc(const struct ivshmem_event *event);
void ivshmem_event_free(struct ivshmem_event *event);

struct ivshmem_monitor;

/**
 * ivshmem_monitor_open() - follow devices being added, ready and removed;
 * -ENOENT if the driver is not loaded.  Only events after this call are seen.
 */
int ivshmem_monitor_open(struct ivshmem_monitor **out);

/** ivshmem_monitor_fd() - readable when an event is waiting (for poll()). */
int ivshmem_monitor_fd(struct ivshmem_monitor *mon);

/**
 * ivshmem_monitor_read() - the next event, to be freed with ivshmem_event_free()
 * @timeout_ms:	0 only checks, -1 waits forever
 *
 * -ETIMEDOUT if none came in time, -ENOBUFS if events were lost because
 * they were not read fast enough.
 */
int ivshmem_monitor_read(struct ivshmem_monitor *mon, struct ivshmem_event **event,
			 int timeout_ms);

void ivshmem_monitor_close(struct ivshmem_monitor *mon);

/** ivshmem_irq_mode_name() - "none", "msix", "intx", "host-eventfd" or "unknown". */
const char *ivshmem_irq_mode_name(uint32_t irq_mode);

/** ivshmem_event_name() - "added", "ready", "removed" or "unknown". */
const char *ivshmem_event_name(enum ivshmem_event_type type);

/*
 * Channels (LIBIVSHMEM_0.2): message passing over the shared memory.
 *
 * A channel is a named area of the shared memory holding a ring of
 * variable-size messages from one producer (the sender) to one consumer
 * (the receiver).  A directory of one page, at offset 0 of the region
 * unless the options name another page-aligned offset, lists the channels:
 * name, place, the two peer IDs and state.  One side creates a channel
 * (ivshmem_chan_create()), the other attaches to it by name
 * (ivshmem_chan_attach()); the same calls work on a guest device and on a
 * host peer.  A side waits on one own vector (default 0); the other side
 * rings it only when it has said it is about to sleep.
 *
 * The peer may be hostile: whatever it writes into the shared memory can
 * make a channel fail (-EPROTO) but not make the library read or write
 * outside the channel, loop without end or crash.  A payload handed out
 * by ivshmem_chan_peek() or ivshmem_chan_reserve() lies in the shared
 * memory: a hostile peer can change it while it is read, so copy what
 * must be validated (ivshmem_chan_recv() does).
 *
 * The layout in the shared memory (layout version 1) is specified in
 * lib/channel-layout.md of the source; a peer built from that text
 * interoperates.
 *
 * Errors common to the calls on an open channel:
 *  -ECONNRESET	the other side restarted (a new generation in the header),
 *		or the channel was deleted: call ivshmem_chan_reset() to go
 *		on with the new generation;
 *  -EPIPE	the other side closed its end (ivshmem_chan_close()): a
 *		sender gets it at once, a receiver once it has received
 *		what was sent before; it lasts until the other side comes
 *		back (-ECONNRESET then);
 *  -ESTALE	another handle took this side (a create or attach of the
 *		same name and side, a restarted process): this handle can
 *		only be closed (since 0.4);
 *  -EPROTO	the header or the ring holds something impossible (a bad
 *		peer, or a layout of another version): the channel stays
 *		failed until ivshmem_chan_reset();
 *  -ETIMEDOUT	nothing came in time (also for a timeout of 0);
 *  -EINVAL	a timeout below -1.
 * A channel is used by one thread at a time.  Channels whose sides wait on
 * the same vector of one handle must not be waited on by several threads
 * at once: each wait consumes the vector's doorbells.
 */
struct ivshmem_chan;

/* How channels are created and attached. */
struct ivshmem_chan_opts;

enum ivshmem_chan_role {
	IVSHMEM_CHAN_SEND = 1,		/* the creator is the producer */
	IVSHMEM_CHAN_RECV,		/* the creator is the consumer */
};

enum ivshmem_chan_state {
	IVSHMEM_CHAN_FREE = 0,		/* no channel in this directory slot */
	IVSHMEM_CHAN_CLAIMED,		/* being created */
	IVSHMEM_CHAN_CREATED,		/* waiting for the other side */
	IVSHMEM_CHAN_ATTACHED,		/* both sides there */
};

/* ivshmem_chan_commit() and ivshmem_chan_send(): more follows, do not publish yet. */
#define IVSHMEM_CHAN_MORE	0x1

/**
 * ivshmem_chan_opts_new() - default options: directory at offset 0, a ring
 * of 64 KiB, vector 0, attach timeout 5000 ms, no spinning.
 */
int ivshmem_chan_opts_new(struct ivshmem_chan_opts **out);

void ivshmem_chan_opts_free(struct ivshmem_chan_opts *opts);

/** ivshmem_chan_opts_set_dir_offset() - the directory's page; -EINVAL if unaligned. */
int ivshmem_chan_opts_set_dir_offset(struct ivshmem_chan_opts *opts, uint64_t offset);

/**
 * ivshmem_chan_opts_set_ring_size() - ring bytes of a channel created: a
 * power of two from 4 KiB to 1 GiB, else -EINVAL.  A record holds half
 * the ring less 8 bytes: the largest message, unless
 * ivshmem_chan_opts_set_max_msg() allows larger ones.
 */
int ivshmem_chan_opts_set_ring_size(struct ivshmem_chan_opts *opts, uint32_t bytes);

/** ivshmem_chan_opts_set_vector() - own vector to wait on; -EINVAL above 255. */
int ivshmem_chan_opts_set_vector(struct ivshmem_chan_opts *opts, unsigned int vector);

/**
 * ivshmem_chan_opts_set_timeout() - how long ivshmem_chan_attach() waits
 * for the channel to appear, in ms; 0 looks once, -1 waits forever.
 */
int ivshmem_chan_opts_set_timeout(struct ivshmem_chan_opts *opts, int timeout_ms);

/**
 * ivshmem_chan_opts_set_spin() - before sleeping, poll the ring for up to
 * @spin_us microseconds (at most 1000000): lower latency for a busy CPU.
 * The spin adapts, within the call's deadline: one that finds nothing
 * halves the next (down to 1/64 of @spin_us), and a sleep that a doorbell
 * ended sooner than half of @spin_us raises the next to twice that sleep.
 */
int ivshmem_chan_opts_set_spin(struct ivshmem_chan_opts *opts, unsigned int spin_us);

/**
 * ivshmem_chan_opts_set_max_msg() - the largest message of a channel
 * created, up to 1 GiB (else -EINVAL); 0, the default, or anything up to
 * what a record holds, means what a record holds.  Larger messages travel
 * in parts through the ring, so they may be larger than the ring; the
 * channel then needs a side of libivshmem 0.4 or later (an older one
 * cannot attach).  The attaching side takes the creator's value.
 * Since 0.4.
 */
int ivshmem_chan_opts_set_max_msg(struct ivshmem_chan_opts *opts, uint32_t bytes);

/**
 * ivshmem_chan_opts_set_pool_size() - a pool of @bytes (a multiple of 8,
 * up to 1 GiB, else -EINVAL; 0, the default, for none) after the ring of
 * a channel created, in which messages are handed over in place
 * (ivshmem_chan_buf_reserve()).  As with large messages, such a channel
 * needs libivshmem 0.4 or later on both sides.  Since 0.4.
 */
int ivshmem_chan_opts_set_pool_size(struct ivshmem_chan_opts *opts, uint32_t bytes);

/**
 * ivshmem_chan_create() - create channel @name, or take over the one of
 * that name after a restart
 * @name:	1 to 31 bytes
 * @role:	whether this side sends or receives
 * @peer_id:	the other side's expected peer ID, or -1 if unknown
 * @opts:	options, or NULL for the defaults
 *
 * Doorbells go to the peer ID and vector the other side wrote into the
 * header when it took its place (@peer_id stands there until then), read
 * at the first doorbell it asks for and kept until ivshmem_chan_reset(),
 * whatever the header says later.
 *
 * Writes the directory (formatting a region of zeros), places the channel
 * after the areas handed out so far and lays out an empty ring with a new
 * generation; an existing channel of that name is reset in place, so that
 * its other side sees -ECONNRESET.  -EINVAL for a bad name, -EPROTO if the
 * directory page holds something else, -ENOSPC if the region or the
 * directory is full, -EEXIST if the existing channel is too small for the
 * ring and pool asked for, -EAGAIN if the directory's end of the areas kept
 * changing under it (a peer rewriting it) or the channel was deleted
 * while it was laid out again; errors of ivshmem_map() and
 * ivshmem_get_info().  Since 0.4 a deleted channel's slot and area are
 * reused, and an existing channel's other side keeps its peer ID and
 * vector while it is open (@peer_id names only a side yet to come).
 */
int ivshmem_chan_create(struct ivshmem *dev, const char *name, enum ivshmem_chan_role role,
			int peer_id, const struct ivshmem_chan_opts *opts,
			struct ivshmem_chan **out);

/**
 * ivshmem_chan_attach() - take the side of channel @name that its creator
 * left (the other role)
 *
 * Waits up to the options' timeout for the channel to be created.  An
 * attach of a side held before starts a new generation.  If the side is
 * still open (its holder died, or is alive: it gets -ESTALE), what is in
 * flight is dropped; after a clean close (ivshmem_chan_close()) nothing
 * is: what was sent and not yet received stays.
 * -ENOENT if there is no such channel with a timeout of 0, -ETIMEDOUT if
 * it did not appear in time, -EPROTO for a directory or channel header of
 * another magic or layout version, or out of bounds, -EPROTONOSUPPORT for
 * a channel that needs a feature this library lacks, -EIDRM if it was
 * deleted while this side took its place.
 */
int ivshmem_chan_attach(struct ivshmem *dev, const char *name,
			const struct ivshmem_chan_opts *opts, struct ivshmem_chan **out);

/**
 * ivshmem_chan_pair_create() - two channels "@name.0" (this side sends)
 * and "@name.1" (this side receives), @name at most 29 bytes.  Unless
 * the options set a vector (which then serves both), the sending channel
 * waits on vector 0 and the receiving one on vector 1 if the device has
 * two (a thread per direction then sleeps on an fd of its own).  Errors
 * as ivshmem_chan_create().
 */
int ivshmem_chan_pair_create(struct ivshmem *dev, const char *name, int peer_id,
			     const struct ivshmem_chan_opts *opts, struct ivshmem_chan **tx,
			     struct ivshmem_chan **rx);

/**
 * ivshmem_chan_pair_attach() - the other side of a pair, its vectors taken
 * as ivshmem_chan_pair_create() takes them.  Errors as ivshmem_chan_attach().
 */
int ivshmem_chan_pair_attach(struct ivshmem *dev, const char *name,
			     const struct ivshmem_chan_opts *opts, struct ivshmem_chan **tx,
			     struct ivshmem_chan **rx);

/**
 * ivshmem_chan_attach_as() - ivshmem_chan_attach() for one side only:
 * @role is this side's (IVSHMEM_CHAN_SEND: this side sends).  -EPROTOTYPE
 * if the channel's free side is the other one (nothing is taken then),
 * -EINVAL for another @role.  Since 0.4.
 */
int ivshmem_chan_attach_as(struct ivshmem *dev, const char *name, enum ivshmem_chan_role role,
			   const struct ivshmem_chan_opts *opts, struct ivshmem_chan **out);

/**
 * ivshmem_chan_close() - hang up and unmap; the channel stays in the
 * directory.  What was committed is published first; the other side then
 * gets -EPIPE (at once, if it sleeps).  A handle displaced by another
 * (-ESTALE) leaves the side to that one.  NULL is fine.
 */
void ivshmem_chan_close(struct ivshmem_chan *ch);

/** ivshmem_chan_is_sender() - this side is the producer. */
bool ivshmem_chan_is_sender(const struct ivshmem_chan *ch);

/**
 * ivshmem_chan_max_msg() - the largest message ivshmem_chan_send() takes:
 * what a record holds (half the ring less 8 bytes), or the channel's
 * larger maximum (ivshmem_chan_opts_set_max_msg()).
 */
size_t ivshmem_chan_max_msg(const struct ivshmem_chan *ch);

/**
 * ivshmem_chan_max_reserve() - the largest message ivshmem_chan_reserve()
 * takes: what one record holds.  Since 0.4.
 */
size_t ivshmem_chan_max_reserve(const struct ivshmem_chan *ch);

/**
 * ivshmem_chan_reserve() - room for a message of up to @len bytes
 * @buf:	where to write it, in the shared memory
 * @timeout_ms:	how long to wait for room; 0 does not wait, -1 forever
 *
 * Nothing is visible to the consumer before ivshmem_chan_commit().  The
 * timeout is one deadline for the call, the spin included.  Messages
 * committed with IVSHMEM_CHAN_MORE are published before it waits for room
 * (as by ivshmem_chan_flush(), whose errors it returns; ivshmem_chan_arm()
 * and ivshmem_chan_arm_for() do the same).  -ETIMEDOUT,
 * -EMSGSIZE above ivshmem_chan_max_reserve(), -EBUSY if a reservation is
 * open, -EPERM on the receiving side, -EINVAL for a timeout below -1,
 * -EINTR on a signal, other errors of poll(2), -EBADF or -EIO if the
 * vector's fd reports POLLNVAL or POLLERR; for a guest device errors
 * of ivshmem_vector_fd().
 */
int ivshmem_chan_reserve(struct ivshmem_chan *ch, size_t len, void **buf, int timeout_ms);

/**
 * ivshmem_chan_commit() - end the reservation with a message of @len bytes
 * (at most what was reserved, else -EINVAL)
 * @flags:	IVSHMEM_CHAN_MORE keeps it unpublished, to publish a batch
 *		with one doorbell at most
 *
 * When published, the consumer is rung only if it said it sleeps; a
 * doorbell to a peer that left is dropped (its restart shows as a new
 * generation).  A failed doorbell otherwise (-ECONNRESET: a host peer's
 * server is gone) is returned, but the message stays in the ring.
 * -EINVAL without a reservation.
 */
int ivshmem_chan_commit(struct ivshmem_chan *ch, size_t len, unsigned int flags);

/**
 * ivshmem_chan_send() - reserve, copy @len bytes and commit.  Errors as
 * both, -EMSGSIZE above ivshmem_chan_max_msg().
 *
 * A message larger than ivshmem_chan_max_reserve() goes in parts, each
 * published as it is written; the timeout is one deadline for them all.
 * If the call ends early (-ETIMEDOUT, -EINTR, a failed doorbell), the
 * consumer is told to drop the parts it has: nothing of the message is
 * delivered, and the messages after it are not affected; if the consumer
 * hung up or restarted meanwhile, it skips them.  With a timeout of 0 such
 * a message goes only if the ring has room for all of it at once; to wait
 * for room with poll(), ivshmem_chan_arm_for() takes at most
 * ivshmem_chan_max_reserve() bytes.
 */
int ivshmem_chan_send(struct ivshmem_chan *ch, const void *buf, size_t len, unsigned int flags,
		      int timeout_ms);

/**
 * ivshmem_chan_sendv() - ivshmem_chan_send() of the @iovcnt pieces of
 * @iov as one message.  -EINVAL for a negative @iovcnt or bad @flags,
 * -EMSGSIZE if they add up to more than ivshmem_chan_max_msg(); otherwise
 * errors as ivshmem_chan_send().  Since 0.4.
 */
int ivshmem_chan_sendv(struct ivshmem_chan *ch, const struct iovec *iov, int iovcnt,
		       unsigned int flags, int timeout_ms);

/**
 * ivshmem_chan_buf_reserve() - room for a message of up to @len bytes in
 * the channel's pool, handed over in place: written there, it is not
 * copied through the ring, which carries only where it lies
 * @buf:	where to write it, in the pool
 * @timeout_ms:	how long to wait for room in the pool and the ring
 *
 * The pool is handed out in order; a buffer is free again once the
 * consumer released its message.  After a restart of either side, the
 * pool waits until the consumer is past what was in flight.  End with
 * ivshmem_chan_buf_commit().  ivshmem_chan_arm() does not wait for room
 * in the pool: an event loop retries on a timer, or a thread waits here.
 * A pair's two channels both get the pool of the options.  -EOPNOTSUPP without a pool
 * (ivshmem_chan_opts_set_pool_size()), -EMSGSIZE above
 * ivshmem_chan_pool_size(); otherwise errors as ivshmem_chan_reserve().
 * Since 0.4.
 */
int ivshmem_chan_buf_reserve(struct ivshmem_chan *ch, size_t len, void **buf, int timeout_ms);

/**
 * ivshmem_chan_buf_commit() - ivshmem_chan_commit() for a buffer of the
 * pool: @len bytes at most what was reserved, else -EINVAL.  The consumer
 * sees the message as any other (ivshmem_chan_peek() shows it in the
 * pool), up to ivshmem_chan_pool_size() bytes long, which may be more
 * than ivshmem_chan_max_msg(); ivshmem_chan_peek_batch() ends a batch
 * before one.  Since 0.4.
 */
int ivshmem_chan_buf_commit(struct ivshmem_chan *ch, size_t len, unsigned int flags);

/** ivshmem_chan_pool_size() - bytes of the channel's pool, 0 for none.  Since 0.4. */
size_t ivshmem_chan_pool_size(const struct ivshmem_chan *ch);

/**
 * ivshmem_chan_flush() - publish what was committed with IVSHMEM_CHAN_MORE.
 * -ECONNRESET if the other side restarted since: the batch is not
 * published into the new generation (a reset drops it).
 */
int ivshmem_chan_flush(struct ivshmem_chan *ch);

/**
 * ivshmem_chan_peek() - the oldest message, left in the ring
 * @data, @len:	the payload, in the shared memory, valid until release
 * @timeout_ms:	how long to wait for one; 0 does not wait, -1 forever
 *
 * Peeking again before ivshmem_chan_release() gives the same message.
 * The timeout is one deadline for the call, the spin and a pad record on
 * the way included.  A large message (ivshmem_chan_opts_set_max_msg())
 * is put together in memory of the handle as its parts come, and handed
 * out whole from there; a timeout keeps the parts taken, and the next
 * call goes on with them (a call takes at most 1 MiB of parts past its
 * deadline).  -ENOMEM if that memory cannot grow; the receiving side
 * accepts what the creator set, up to 1 GiB.
 * -ETIMEDOUT, -EPERM on the sending side, -EINVAL for a timeout below -1,
 * -EINTR on a signal, other errors of poll(2), -EBADF or -EIO if the
 * vector's fd reports POLLNVAL or POLLERR.
 */
int ivshmem_chan_peek(struct ivshmem_chan *ch, const void **data, size_t *len, int timeout_ms);

/* A message in the ring, as ivshmem_chan_peek_batch() shows it. */
struct ivshmem_chan_msg {
	const void *data;
	size_t len;
};

/**
 * ivshmem_chan_peek_batch() - the oldest messages, up to @max, left in the
 * ring
 *
 * Waits for the first as ivshmem_chan_peek() does, then takes those
 * published already behind it without waiting; returns how many (at least
 * 1).  ivshmem_chan_release() then drops them all with one update of the
 * index (and one doorbell at most); a peek before it starts again from
 * the oldest.  A malformed record after the first ends the batch (the
 * next peek reports it), as does a large message, which comes alone.  -EINVAL for @max 0; errors as
 * ivshmem_chan_peek().  Since 0.4.
 */
int ivshmem_chan_peek_batch(struct ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t max,
			    int timeout_ms);

/** ivshmem_chan_release() - drop the message(s) peeked; -EINVAL if none. */
int ivshmem_chan_release(struct ivshmem_chan *ch);

/**
 * ivshmem_chan_recv() - copy the oldest message into @buf and drop it
 *
 * Returns its length.  -EMSGSIZE (the message stays) if it is longer than
 * @len.  Otherwise errors as ivshmem_chan_peek().
 */
int ivshmem_chan_recv(struct ivshmem_chan *ch, void *buf, size_t len, int timeout_ms);

/**
 * ivshmem_chan_fd() - for poll(): the eventfd of this side's vector
 *
 * Before sleeping in poll(), call ivshmem_chan_arm(); when the fd is
 * readable, peek or reserve with a timeout of 0.  The channel owns the fd.
 * -EOPNOTSUPP on a device without interrupts (ivshmem-plain), where the
 * blocking calls look at the ring every 200 us instead; errors of
 * ivshmem_vector_fd().
 */
int ivshmem_chan_fd(struct ivshmem_chan *ch);

/**
 * ivshmem_chan_arm() - tell the other side this one is about to sleep
 *
 * Returns 1 if there is already something to do (a message to receive, or
 * room that was waited for after a full ring), or, when other channels of
 * the handle wait on the same vector, if it emptied the fd of a doorbell
 * that may have been meant for one of them (look at each of them, then
 * arm again); 0 when armed: the fd then becomes readable when there is.
 */
int ivshmem_chan_arm(struct ivshmem_chan *ch);

/**
 * ivshmem_chan_arm_for() - ivshmem_chan_arm() for a producer that needs
 * room for a message of @len bytes, not just any room: 1 once
 * ivshmem_chan_reserve(@len) with a timeout of 0 would succeed (or, on a
 * shared vector, a doorbell was drained, as for ivshmem_chan_arm()).
 * -EPERM on the receiving side, -EBUSY with a reservation open,
 * -EMSGSIZE above ivshmem_chan_max_msg().  Since 0.3.
 */
int ivshmem_chan_arm_for(struct ivshmem_chan *ch, size_t len);

/**
 * ivshmem_chan_reset() - go on after -ECONNRESET or -EPROTO: adopt the
 * header's generation, drop this side's open reservation or message
 * peeked, and take its place again at the index it published last (what
 * the other side's restart dropped is gone; nothing else is).
 * The header is read as one snapshot: a layout in progress (the other
 * side creating the channel again) is waited out, for about 100 ms at
 * most.  -EPROTO if the header is still not valid, -EPROTONOSUPPORT if it
 * needs a feature this library lacks, -EIDRM if the channel was deleted,
 * -ESTALE if another handle took this side.
 */
int ivshmem_chan_reset(struct ivshmem_chan *ch);

/**
 * ivshmem_chan_heartbeat() - bump this side's heartbeat counter, which
 * the other side reads with ivshmem_chan_peer_heartbeat(): a side that
 * calls it periodically shows it is alive even when it has nothing to
 * send (a value that changes; a new handle starts again at 1).  -ESTALE
 * if another handle took this side.  Since 0.4.
 */
int ivshmem_chan_heartbeat(struct ivshmem_chan *ch);

/** ivshmem_chan_peer_heartbeat() - the other side's heartbeat counter.  Since 0.4. */
uint64_t ivshmem_chan_peer_heartbeat(const struct ivshmem_chan *ch);

/** ivshmem_chan_peer_closed() - the other side has closed its end.  Since 0.4. */
bool ivshmem_chan_peer_closed(const struct ivshmem_chan *ch);

/* ivshmem_chan_delete(): also when a side is open, or left claimed. */
#define IVSHMEM_CHAN_FORCE	0x1

/**
 * ivshmem_chan_delete() - remove channel @name from the directory at
 * @dir_offset; a later create may reuse its slot and area
 *
 * Open sides stop at their next call (-ECONNRESET, then -EIDRM from
 * ivshmem_chan_reset()); sleeping ones are rung.  Without
 * IVSHMEM_CHAN_FORCE a channel with a side open (not closed since it was
 * taken) is -EBUSY: a side whose process died stays open, so its channel
 * needs the flag.  With it, a slot left claimed by a creator that died
 * creating it is freed too (with the area it recorded, if any).  -ENOENT
 * if there is no such channel (or another deletion took it first),
 * -EINVAL for bad @flags, an unaligned @dir_offset or a bad name, -EPROTO
 * for a directory of another format; errors of ivshmem_map().  Since 0.4.
 */
int ivshmem_chan_delete(struct ivshmem *dev, const char *name, uint64_t dir_offset,
			unsigned int flags);

/* A snapshot of a channel: its directory entry and its header. */
struct ivshmem_chan_info;

/** ivshmem_chan_get_info() - of an open channel; free with ivshmem_chan_info_free(). */
int ivshmem_chan_get_info(struct ivshmem_chan *ch, struct ivshmem_chan_info **info);

void ivshmem_chan_info_free(struct ivshmem_chan_info *info);
const char *ivshmem_chan_info_get_name(const struct ivshmem_chan_info *info);
/* Place and size of the area (header, ring and pool) in the shared memory. */
uint64_t ivshmem_chan_info_get_offset(const struct ivshmem_chan_info *info);
uint64_t ivshmem_chan_info_get_size(const struct ivshmem_chan_info *info);
enum ivshmem_chan_state ivshmem_chan_info_get_state(const struct ivshmem_chan_info *info);
/* Peer IDs; -1 if unknown. */
int32_t ivshmem_chan_info_get_producer(const struct ivshmem_chan_info *info);
int32_t ivshmem_chan_info_get_consumer(const struct ivshmem_chan_info *info);
/* The header has our magic and layout version; if not, the rest is 0. */
bool ivshmem_chan_info_is_valid(const struct ivshmem_chan_info *info);
uint32_t ivshmem_chan_info_get_generation(const struct ivshmem_chan_info *info);
uint32_t ivshmem_chan_info_get_ring_size(const struct ivshmem_chan_info *info);
/* The largest message the channel takes (ivshmem_chan_max_msg()).  Since 0.4. */
uint32_t ivshmem_chan_info_get_max_msg(const struct ivshmem_chan_info *info);
/* Bytes published and not yet released. */
uint64_t ivshmem_chan_info_get_used(const struct ivshmem_chan_info *info);
uint64_t ivshmem_chan_info_get_msgs_sent(const struct ivshmem_chan_info *info);
uint64_t ivshmem_chan_info_get_msgs_received(const struct ivshmem_chan_info *info);
/* Doorbells the producer rang, and publications that needed none. */
uint64_t ivshmem_chan_info_get_notify_sent(const struct ivshmem_chan_info *info);
uint64_t ivshmem_chan_info_get_notify_suppressed(const struct ivshmem_chan_info *info);
/* Sleeps of the consumer that a doorbell ended. */
uint64_t ivshmem_chan_info_get_wakeups(const struct ivshmem_chan_info *info);

/* Every channel of a directory, in slot order. */
struct ivshmem_chan_list;

/**
 * ivshmem_chan_list() - read the directory at @dir_offset (0 for the
 * default) without joining any channel.  An unformatted (zero) directory
 * gives an empty list; -EPROTO one of another magic or version.
 */
int ivshmem_chan_list(struct ivshmem *dev, uint64_t dir_offset, struct ivshmem_chan_list **list);

size_t ivshmem_chan_list_count(const struct ivshmem_chan_list *list);
/* The @i-th channel, owned by the list; NULL past the end. */
const struct ivshmem_chan_info *ivshmem_chan_list_get(const struct ivshmem_chan_list *list,
						      size_t i);
void ivshmem_chan_list_free(struct ivshmem_chan_list *list);

/** ivshmem_chan_state_name() - "free", "claimed", "created", "attached" or "unknown". */
const char *ivshmem_chan_state_name(enum ivshmem_chan_state state);

#ifdef __cplusplus
}
#endif

#endif /* LIBIVSHMEM_H */
