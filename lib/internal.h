/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libivshmem internals: the two kinds of handle behind struct ivshmem. */
#ifndef LIBIVSHMEM_INTERNAL_H
#define LIBIVSHMEM_INTERNAL_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>

#include "libivshmem.h"

#define IVSHMEM_EXPORT __attribute__((visibility("default")))

/* The opaque objects of libivshmem.h. */
struct ivshmem_dev_info {
	uint64_t size;
	int32_t peer_id;
	uint32_t vectors;
	uint32_t irq_mode;
	uint32_t revision;
	int32_t index;
	bool ready;
	bool doorbell;
	bool host_peer;
};

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
	uint64_t irq_counts[IVSHMEM_MAX_VECTORS];
};

struct ivshmem_dev_list {
	size_t count;
	struct ivshmem_dev_desc *descs;
};

struct ivshmem_event {
	enum ivshmem_event_type type;
	struct ivshmem_dev_desc desc;
};

struct ivshmem_server_opts {
	int vectors;		/* -1: detect */
	int timeout_ms;		/* -1: forever */
};

/* A peer of a host peer, as the server announced it. */
struct ivshmem_host_peer {
	unsigned int id;
	unsigned int nfds;
	int fds[IVSHMEM_MAX_VECTORS];	/* eventfd per vector */
};

/* A peer event not yet read. */
struct ivshmem_peer_event {
	enum ivshmem_peer_event_type type;
	unsigned int peer_id;
};

#define IVSHMEM_PEER_EVENTS_MAX	1024

struct ivshmem {
	bool host;
	int fd;				/* device node, or the server's socket */
	/* Guest: eventfds handed out by ivshmem_vector_fd(), -1 if none. */
	int vector_fds[IVSHMEM_MAX_VECTORS];
	/* Open channels waiting on each vector (atomic): channel.c's arm()
	 * must tell a caller when a doorbell it drained may be another's. */
	unsigned int chans_on_vector[IVSHMEM_MAX_VECTORS];

	/* Host peer only; the lock guards everything below. */
	pthread_mutex_t lock;
	int shm_fd;
	uint64_t size;
	int32_t id;			/* -1 once the connection is gone */
	bool gone;			/* the server closed the connection */
	/* A message received in part: its bytes so far and its fd, or -1. */
	uint8_t msg_buf[8];
	unsigned int msg_len;
	int msg_fd;
	unsigned int nvectors;
	unsigned int max_vectors;	/* own eventfds taken, the rest closed */
	int own_fds[IVSHMEM_MAX_VECTORS];
	struct ivshmem_host_peer *peers;
	size_t npeers;
	/* Peer events, a ring of IVSHMEM_PEER_EVENTS_MAX. */
	struct ivshmem_peer_event *events;
	size_t event_head, nevents;
	bool events_lost;
	/* ivshmem_peer_fd(): an epoll of the socket and of pending_fd, which
	 * is readable while events wait; both -1 until asked for. */
	int epoll_fd, pending_fd;
	/*
	 * ivshmem_wait()'s own epoll of the vectors in wait_mask and of the
	 * socket, built when one set is waited for twice in a row (last_mask),
	 * and used by one thread at a time (wait_busy): it spares poll(2)
	 * setting up its wait on every fd in every call.
	 */
	int wait_epoll;
	bool wait_busy;			/* atomic: taken by the thread using it */
	uint64_t wait_mask[IVSHMEM_VECTOR_WORDS], last_mask[IVSHMEM_VECTOR_WORDS];
	/* The eventfds of wait_mask, then the socket, and their vectors. */
	struct pollfd wait_pfds[IVSHMEM_MAX_VECTORS + 1];
	unsigned int wait_vec[IVSHMEM_MAX_VECTORS], wait_n;
};

/* device.c */
struct ivshmem *ivshmem_new_host(int sock);

/* host.c: the host-peer side of the public functions. */
int ivshmem_host_info(struct ivshmem *dev, struct ivshmem_dev_info *info);
int ivshmem_host_ring(struct ivshmem *dev, unsigned int peer_id, unsigned int vector);
int ivshmem_host_vector_fd(struct ivshmem *dev, unsigned int vector);
int ivshmem_host_wait(struct ivshmem *dev, uint64_t *vectors, int timeout_ms);
int ivshmem_host_wait_ready(struct ivshmem *dev);
void ivshmem_host_close(struct ivshmem *dev);

/* netlink.c: the errno for a libnl error code (NLE_*, either sign). */
int ivshmem_nl_errno(int nl_error);
/*
 * netlink.c: a device as one reply or event of the driver's family
 * describes it; -EPROTO if the message is not one.  Not exported.
 */
struct nlmsghdr;
int ivshmem_nl_parse_desc(struct nlmsghdr *nlh, struct ivshmem_dev_desc *d);

/* The negative errno of a failed call. */
static inline int ivshmem_neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#endif /* LIBIVSHMEM_INTERNAL_H */
