// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host peers: libivshmem handles that are clients of an ivshmem-server, as
 * QEMU's ivshmem-doorbell device is.  The server's messages (see
 * server-proto.h) are read when the peer joins and then whenever the handle
 * is used, so the table of peers stays current without a thread.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "server-proto.h"

/* How long joining waits for the server's greeting, and for more of it. */
#define HOST_GREETING_MS	5000
#define HOST_GREETING_GAP_MS	200

static struct ivshmem_host_peer *host_find_peer(struct ivshmem *dev, unsigned int id)
{
	for (size_t i = 0; i < dev->npeers; i++)
		if (dev->peers[i].id == id)
			return &dev->peers[i];
	return NULL;
}

static void host_drop_peer(struct ivshmem *dev, struct ivshmem_host_peer *peer)
{
	for (unsigned int v = 0; v < peer->nfds; v++)
		close(peer->fds[v]);
	*peer = dev->peers[--dev->npeers];
}

/* Take in one server message; the handle owns @fd afterwards. */
static int host_handle(struct ivshmem *dev, int64_t value, int fd)
{
	struct ivshmem_host_peer *peer, *grown;

	if (value < 0 || value > IVSHMEM_PROTO_MAX_ID) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	if (value == dev->id) {
		if (fd < 0 || dev->nvectors == IVSHMEM_MAX_VECTORS) {
			if (fd >= 0)
				close(fd);
			return -EPROTO;
		}
		dev->own_fds[dev->nvectors++] = fd;
		return 0;
	}
	peer = host_find_peer(dev, (unsigned int)value);
	if (fd < 0) {			/* the peer left */
		if (peer)
			host_drop_peer(dev, peer);
		return 0;
	}
	if (!peer) {
		grown = realloc(dev->peers, (dev->npeers + 1) * sizeof(*grown));
		if (!grown) {
			close(fd);
			return -ENOMEM;
		}
		dev->peers = grown;
		peer = &dev->peers[dev->npeers++];
		peer->id = (unsigned int)value;
		peer->nfds = 0;
	}
	if (peer->nfds == IVSHMEM_MAX_VECTORS) {
		close(fd);
		return -EPROTO;
	}
	peer->fds[peer->nfds++] = fd;
	return 0;
}

/* Handle the next message if one arrives within @timeout_ms: 1 if it did. */
static int host_handle_next(struct ivshmem *dev, int timeout_ms)
{
	struct pollfd pfd = { .fd = dev->fd, .events = POLLIN };
	int64_t value;
	int fd, ret;

	ret = poll(&pfd, 1, timeout_ms);
	if (ret <= 0)
		return ret < 0 ? ivshmem_neg_errno() : 0;
	if (ivshmem_proto_recv(dev->fd, &value, &fd) < 0)
		return ivshmem_neg_errno();
	ret = host_handle(dev, value, fd);
	return ret ? ret : 1;
}

/* Handle messages for as long as each arrives within @timeout_ms. */
static int host_drain(struct ivshmem *dev, int timeout_ms)
{
	int ret;

	while ((ret = host_handle_next(dev, timeout_ms)) == 1)
		;
	return ret;
}

/* Expect one message without an fd, or with one if @want_fd. */
static int host_expect(int sock, int64_t *value, int *fd, bool want_fd)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	if (poll(&pfd, 1, HOST_GREETING_MS) != 1)
		return -ETIMEDOUT;
	if (ivshmem_proto_recv(sock, value, fd) < 0)
		return ivshmem_neg_errno();
	if ((*fd >= 0) != want_fd) {
		if (*fd >= 0)
			close(*fd);
		return -EPROTO;
	}
	return 0;
}

static int host_join(struct ivshmem *dev)
{
	struct stat st;
	int64_t value;
	int fd, ret;

	ret = host_expect(dev->fd, &value, &fd, false);
	/* A full server closes new connections at once. */
	if (ret == -ECONNRESET)
		return -EAGAIN;
	if (ret)
		return ret;
	if (value != IVSHMEM_PROTOCOL_VERSION)
		return -EPROTO;
	ret = host_expect(dev->fd, &value, &fd, false);
	if (ret)
		return ret;
	if (value < 0 || value > IVSHMEM_PROTO_MAX_ID)
		return -EPROTO;
	dev->id = (int32_t)value;
	ret = host_expect(dev->fd, &value, &dev->shm_fd, true);
	if (ret)
		return ret;
	if (value != IVSHMEM_PROTO_SHM_MSG || fstat(dev->shm_fd, &st) < 0)
		return -EPROTO;
	dev->size = (uint64_t)st.st_size;

	/*
	 * Then the other peers' eventfds and our own, which end the greeting.
	 * The vector count is not announced: take what arrives together.
	 */
	while (!dev->nvectors) {
		ret = host_handle_next(dev, HOST_GREETING_MS);
		if (ret <= 0)
			return ret ? ret : -ETIMEDOUT;
	}
	return host_drain(dev, HOST_GREETING_GAP_MS);
}

IVSHMEM_EXPORT int ivshmem_open_server(const char *socket_path, struct ivshmem **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct ivshmem *dev;
	int sock, ret;

	size_t len = strlen(socket_path);

	if (len >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, socket_path, len + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return ivshmem_neg_errno();
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = ivshmem_neg_errno();
		close(sock);
		return ret;
	}
	dev = ivshmem_new_host(sock);
	if (!dev) {
		close(sock);
		return -ENOMEM;
	}
	ret = host_join(dev);
	if (ret) {
		ivshmem_close(dev);
		return ret;
	}
	*out = dev;
	return 0;
}

void ivshmem_host_close(struct ivshmem *dev)
{
	while (dev->npeers)
		host_drop_peer(dev, &dev->peers[0]);
	free(dev->peers);
	for (unsigned int v = 0; v < dev->nvectors; v++)
		close(dev->own_fds[v]);
	if (dev->shm_fd >= 0)
		close(dev->shm_fd);
}

/* Catch up with the server; a server that went away leaves things as they are. */
static void host_update(struct ivshmem *dev)
{
	host_drain(dev, 0);
}

int ivshmem_host_info(struct ivshmem *dev, struct ivshmem_dev_info *info)
{
	pthread_mutex_lock(&dev->lock);
	host_update(dev);
	info->size = dev->size;
	info->peer_id = dev->id;
	info->vectors = dev->nvectors;
	info->irq_mode = IVSHMEM_IRQ_HOST_EVENTFD;
	info->index = -1;
	info->ready = true;
	info->doorbell = true;
	info->host_peer = true;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

int ivshmem_host_ring(struct ivshmem *dev, unsigned int peer_id, unsigned int vector)
{
	const uint64_t one = 1;
	struct ivshmem_host_peer *peer;
	int fd = -1, ret = 0;

	pthread_mutex_lock(&dev->lock);
	host_update(dev);
	if (peer_id == (unsigned int)dev->id) {
		if (vector < dev->nvectors)
			fd = dev->own_fds[vector];
	} else {
		peer = host_find_peer(dev, peer_id);
		if (peer && vector < peer->nfds)
			fd = peer->fds[vector];
	}
	if (fd < 0)
		ret = -ENXIO;
	else if (write(fd, &one, sizeof(one)) != sizeof(one))
		ret = ivshmem_neg_errno();
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int ivshmem_host_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	int ret;

	pthread_mutex_lock(&dev->lock);
	host_update(dev);
	ret = vector < dev->nvectors ? dev->own_fds[vector] : -EINVAL;
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ivshmem_host_wait(struct ivshmem *dev, uint64_t *vectors, int timeout_ms)
{
	struct pollfd pfds[IVSHMEM_MAX_VECTORS + 1];
	unsigned int vec[IVSHMEM_MAX_VECTORS];
	int64_t deadline = now_ms() + timeout_ms;
	unsigned int n = 0, v;
	bool any = false;
	uint64_t count;
	int ret;

	if (timeout_ms < -1)
		return -EINVAL;
	/* Own eventfds never change once received, so poll them unlocked. */
	pthread_mutex_lock(&dev->lock);
	host_update(dev);
	for (v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		if (!(vectors[v / 64] & (1ULL << (v % 64))))
			continue;
		if (v >= dev->nvectors) {
			pthread_mutex_unlock(&dev->lock);
			return -EINVAL;
		}
		pfds[n] = (struct pollfd){ .fd = dev->own_fds[v], .events = POLLIN };
		vec[n++] = v;
	}
	pthread_mutex_unlock(&dev->lock);
	if (!n)
		return -EINVAL;
	pfds[n] = (struct pollfd){ .fd = dev->fd, .events = POLLIN };

	memset(vectors, 0, IVSHMEM_VECTOR_WORDS * sizeof(*vectors));
	for (;;) {
		int left = timeout_ms < 0 ? -1 : (int)(deadline - now_ms());

		ret = poll(pfds, n + 1, timeout_ms < 0 ? -1 : left < 0 ? 0 : left);
		if (ret < 0)
			return ivshmem_neg_errno();
		for (unsigned int i = 0; i < n; i++) {
			if (!(pfds[i].revents & POLLIN) ||
			    read(pfds[i].fd, &count, sizeof(count)) != sizeof(count))
				continue;
			vectors[vec[i] / 64] |= 1ULL << (vec[i] % 64);
			any = true;
		}
		if (any)
			return 0;
		if (pfds[n].revents & (POLLIN | POLLHUP)) {
			pthread_mutex_lock(&dev->lock);
			host_update(dev);
			pthread_mutex_unlock(&dev->lock);
			/* The server left: nothing will announce more, keep waiting. */
			if (pfds[n].revents & POLLHUP)
				pfds[n].fd = -1;
		}
		if (!ret || (timeout_ms >= 0 && now_ms() >= deadline))
			return -ETIMEDOUT;
	}
}
