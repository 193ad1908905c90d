/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libivshmem internals: the two kinds of handle behind struct ivshmem. */
#ifndef LIBIVSHMEM_INTERNAL_H
#define LIBIVSHMEM_INTERNAL_H

#include <errno.h>
#include <pthread.h>

#include "libivshmem.h"

#define IVSHMEM_EXPORT __attribute__((visibility("default")))

/* A peer of a host peer, as the server announced it. */
struct ivshmem_host_peer {
	unsigned int id;
	unsigned int nfds;
	int fds[IVSHMEM_MAX_VECTORS];	/* eventfd per vector */
};

struct ivshmem {
	bool host;
	int fd;				/* device node, or the server's socket */
	/* Guest: eventfds handed out by ivshmem_vector_fd(), -1 if none. */
	int vector_fds[IVSHMEM_MAX_VECTORS];

	/* Host peer only; the lock guards everything below. */
	pthread_mutex_t lock;
	int shm_fd;
	uint64_t size;
	int32_t id;
	unsigned int nvectors;
	int own_fds[IVSHMEM_MAX_VECTORS];
	struct ivshmem_host_peer *peers;
	size_t npeers;
};

/* device.c */
struct ivshmem *ivshmem_new_host(int sock);

/* host.c: the host-peer side of the public functions. */
int ivshmem_host_info(struct ivshmem *dev, struct ivshmem_dev_info *info);
int ivshmem_host_ring(struct ivshmem *dev, unsigned int peer_id, unsigned int vector);
int ivshmem_host_vector_fd(struct ivshmem *dev, unsigned int vector);
int ivshmem_host_wait(struct ivshmem *dev, uint64_t *vectors, int timeout_ms);
void ivshmem_host_close(struct ivshmem *dev);

/* The negative errno of a failed call. */
static inline int ivshmem_neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#endif /* LIBIVSHMEM_INTERNAL_H */
