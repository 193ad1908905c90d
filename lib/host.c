// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host peers: libivshmem handles that are clients of an ivshmem-server, as
 * QEMU's ivshmem-doorbell device is.  The server's messages (see
 * server-proto.h) are read when the peer joins and then by ivshmem_wait(),
 * ivshmem_get_info() and ivshmem_read_peer_event(), so the table of peers
 * stays current without a thread.  ivshmem_ring() reads none: a doorbell
 * costs one write(2), as on a raw eventfd.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "server-proto.h"

#define HOST_TIMEOUT_MS		5000
/* Without a stated vector count, the greeting ends when the server is quiet. */
#define HOST_GREETING_GAP_MS	200

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of @timeout_ms started at @start (-1 stays -1). */
static int time_left(int64_t start, int timeout_ms)
{
	int64_t left;

	if (timeout_ms < 0)
		return -1;
	left = start + timeout_ms - now_ms();
	return left < 0 ? 0 : (int)left;
}

IVSHMEM_EXPORT int ivshmem_server_opts_new(struct ivshmem_server_opts **out)
{
	struct ivshmem_server_opts *opts = malloc(sizeof(*opts));

	if (!opts)
		return -ENOMEM;
	opts->vectors = -1;
	opts->timeout_ms = HOST_TIMEOUT_MS;
	*out = opts;
	return 0;
}

IVSHMEM_EXPORT void ivshmem_server_opts_free(struct ivshmem_server_opts *opts)
{
	free(opts);
}

IVSHMEM_EXPORT int ivshmem_server_opts_set_vectors(struct ivshmem_server_opts *opts,
						   unsigned int vectors)
{
	if (vectors > IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	opts->vectors = (int)vectors;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_server_opts_set_timeout(struct ivshmem_server_opts *opts,
						   int timeout_ms)
{
	if (timeout_ms == 0 || timeout_ms < -1)
		return -EINVAL;
	opts->timeout_ms = timeout_ms;
	return 0;
}

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

/* Queue a peer event; pending_fd tells poll() that one waits. */
static void host_event(struct ivshmem *dev, enum ivshmem_peer_event_type type, unsigned int id)
{
	const uint64_t one = 1;
	size_t i;

	if (!dev->events)
		dev->events = malloc(IVSHMEM_PEER_EVENTS_MAX * sizeof(*dev->events));
	if (!dev->events || dev->nevents == IVSHMEM_PEER_EVENTS_MAX) {
		dev->events_lost = true;
		return;
	}
	i = (dev->event_head + dev->nevents++) % IVSHMEM_PEER_EVENTS_MAX;
	dev->events[i] = (struct ivshmem_peer_event){ .type = type, .peer_id = id };
	if (dev->pending_fd >= 0 && dev->nevents == 1 &&
	    write(dev->pending_fd, &one, sizeof(one)) != sizeof(one))
		dev->events_lost = true;
}

/* The server closed the connection, or broke the protocol: we are out. */
static void host_gone(struct ivshmem *dev)
{
	if (dev->gone)
		return;
	host_event(dev, IVSHMEM_PEER_DISCONNECTED, (unsigned int)dev->id);
	/* Read without the lock by ivshmem_wait(). */
	__atomic_store_n(&dev->gone, true, __ATOMIC_RELEASE);
	dev->id = -1;
	while (dev->npeers)
		host_drop_peer(dev, &dev->peers[0]);
	if (dev->msg_fd >= 0)
		close(dev->msg_fd);
	dev->msg_fd = -1;
	dev->msg_len = 0;
	/* A closed socket stays readable: keep it out of ivshmem_peer_fd(). */
	if (dev->epoll_fd >= 0)
		epoll_ctl(dev->epoll_fd, EPOLL_CTL_DEL, dev->fd, NULL);
	shutdown(dev->fd, SHUT_RDWR);
}

/* Take in one server message; the handle owns @fd afterwards. */
static int host_handle(struct ivshmem *dev, int64_t value, int fd)
{
	struct ivshmem_host_peer *peer, *grown;
	struct stat st;

	/*
	 * Vectors are eventfds, anonymous inodes: a pipe or a socket could
	 * raise SIGPIPE in ivshmem_ring(), or block it, or wake a waiter forever.
	 */
	if (value < 0 || value > IVSHMEM_PROTO_MAX_ID ||
	    (fd >= 0 && (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT)))) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	if (value == dev->id) {
		if (fd < 0)
			return -EPROTO;
		/* More vectors than the device has: QEMU drops them too. */
		if (dev->nvectors == dev->max_vectors)
			close(fd);
		else
			dev->own_fds[dev->nvectors++] = fd;
		return 0;
	}
	peer = host_find_peer(dev, (unsigned int)value);
	if (fd < 0) {			/* the peer left */
		if (peer) {
			host_drop_peer(dev, peer);
			host_event(dev, IVSHMEM_PEER_LEFT, (unsigned int)value);
		}
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
		host_event(dev, IVSHMEM_PEER_JOINED, (unsigned int)value);
	}
	if (peer->nfds == IVSHMEM_MAX_VECTORS) {
		close(fd);
		return -EPROTO;
	}
	peer->fds[peer->nfds++] = fd;
	return 0;
}

/*
 * Receive the next message if it is complete within @timeout_ms: 1 if it
 * is, 0 if not (what came of it is kept for the next call), -ECONNRESET at
 * the end of the stream, -EPROTO at its end within a message or for a
 * message with several fds, or another negative errno.
 */
static int host_recv(struct ivshmem *dev, int timeout_ms, int64_t *value, int *fd)
{
	struct pollfd pfd = { .fd = dev->fd, .events = POLLIN };
	int64_t start = timeout_ms > 0 ? now_ms() : 0;
	uint64_t le;
	ssize_t n;
	int got, ret;

	while (dev->msg_len < sizeof(dev->msg_buf)) {
		ret = poll(&pfd, 1, time_left(start, timeout_ms));
		if (ret < 0)
			return ivshmem_neg_errno();
		if (!ret)
			return 0;
		n = ivshmem_proto_recv_part(dev->fd, dev->msg_buf + dev->msg_len,
					    sizeof(dev->msg_buf) - dev->msg_len, &got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return 0;
		if (n < 0)
			return ivshmem_neg_errno();
		if (!n)
			return dev->msg_len ? -EPROTO : -ECONNRESET;
		if (got >= 0 && dev->msg_fd >= 0) {
			close(got);
			return -EPROTO;
		}
		if (got >= 0)
			dev->msg_fd = got;
		dev->msg_len += (unsigned int)n;
	}
	memcpy(&le, dev->msg_buf, sizeof(le));
	*value = (int64_t)le64toh(le);
	*fd = dev->msg_fd;
	dev->msg_fd = -1;
	dev->msg_len = 0;
	return 1;
}

/*
 * Handle the next message if it arrives within @timeout_ms: 1 if it did,
 * 0 if none came.  The end of the connection or a broken message makes the
 * peer gone, and -ECONNRESET.
 */
static int host_handle_next(struct ivshmem *dev, int timeout_ms)
{
	int64_t value = 0;
	int fd = -1, ret;

	if (dev->gone)
		return -ECONNRESET;
	ret = host_recv(dev, timeout_ms, &value, &fd);
	if (ret <= 0) {
		if (ret == -ECONNRESET || ret == -EPROTO) {
			host_gone(dev);
			return -ECONNRESET;
		}
		return ret;
	}
	ret = host_handle(dev, value, fd);
	if (ret == -EPROTO) {
		host_gone(dev);
		return -ECONNRESET;
	}
	return ret ? ret : 1;
}

/* Handle every message already there. */
static int host_drain(struct ivshmem *dev)
{
	int ret;

	while ((ret = host_handle_next(dev, 0)) == 1)
		;
	return ret;
}

/* Expect one message within @timeout_ms: without an fd, or with one if @want_fd. */
static int host_expect(struct ivshmem *dev, int timeout_ms, int64_t *value, int *fd,
		       bool want_fd)
{
	int ret = host_recv(dev, timeout_ms, value, fd);

	if (ret <= 0) {
		*fd = -1;
		return ret ? ret : -ETIMEDOUT;
	}
	if ((*fd >= 0) != want_fd) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return 0;
}

static int host_join(struct ivshmem *dev, int vectors, int64_t start, int timeout_ms)
{
	struct stat st;
	int64_t value;
	int fd, ret;

	ret = host_expect(dev, time_left(start, timeout_ms), &value, &fd, false);
	/* A full server closes new connections at once. */
	if (ret == -ECONNRESET)
		return -EAGAIN;
	if (ret)
		return ret;
	if (value != IVSHMEM_PROTOCOL_VERSION)
		return -EPROTO;
	ret = host_expect(dev, time_left(start, timeout_ms), &value, &fd, false);
	if (ret)
		return ret;
	if (value < 0 || value > IVSHMEM_PROTO_MAX_ID)
		return -EPROTO;
	dev->id = (int32_t)value;
	ret = host_expect(dev, time_left(start, timeout_ms), &value, &dev->shm_fd, true);
	if (ret)
		return ret;
	if (value != IVSHMEM_PROTO_SHM_MSG || fstat(dev->shm_fd, &st) < 0)
		return -EPROTO;
	dev->size = (uint64_t)st.st_size;

	/*
	 * Then the other peers' eventfds, and our own, which end the greeting.
	 * The protocol does not announce how many vectors there are: either
	 * the caller knows, or the greeting ends when the server is quiet.
	 */
	if (vectors >= 0) {
		dev->max_vectors = (unsigned int)vectors;
		while (dev->nvectors < dev->max_vectors) {
			ret = host_handle_next(dev, time_left(start, timeout_ms));
			if (ret <= 0)
				return ret ? ret : -ETIMEDOUT;
		}
		ret = host_drain(dev);
	} else {
		int gap;

		do {
			gap = time_left(start, timeout_ms);
			if (gap < 0 || gap > HOST_GREETING_GAP_MS)
				gap = HOST_GREETING_GAP_MS;
		} while ((ret = host_handle_next(dev, gap)) == 1);
	}
	if (ret < 0)
		return ret;
	/* Peers present at joining are not news. */
	dev->nevents = 0;
	dev->events_lost = false;
	return 0;
}

/*
 * connect(2) on a UNIX socket whose listen backlog is full waits for room,
 * forever unless the socket has a send timeout; non-blocking, it fails at
 * once with EAGAIN instead of EINPROGRESS, so poll() cannot help.
 */
static int host_connect(int sock, const struct sockaddr_un *addr, int timeout_ms)
{
	struct timeval tv = { 0 };
	int ret;

	if (timeout_ms > 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
		if (!tv.tv_sec && !tv.tv_usec)
			tv.tv_usec = 1;
	}
	if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return ivshmem_neg_errno();
	ret = connect(sock, (const struct sockaddr *)addr, sizeof(*addr));
	if (ret < 0)
		return errno == EAGAIN ? -ETIMEDOUT : ivshmem_neg_errno();
	return 0;
}

IVSHMEM_EXPORT int ivshmem_open_server(const char *socket_path,
				       const struct ivshmem_server_opts *opts,
				       struct ivshmem **out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int timeout_ms = opts ? opts->timeout_ms : HOST_TIMEOUT_MS;
	int64_t start = now_ms();
	struct ivshmem *dev;
	int sock, ret;

	size_t len = strlen(socket_path);

	if (len >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, socket_path, len + 1);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return ivshmem_neg_errno();
	ret = host_connect(sock, &addr, timeout_ms);
	if (ret) {
		close(sock);
		return ret;
	}
	dev = ivshmem_new_host(sock);
	if (!dev) {
		close(sock);
		return -ENOMEM;
	}
	ret = host_join(dev, opts ? opts->vectors : -1, start, timeout_ms);
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
	free(dev->events);
	for (unsigned int v = 0; v < dev->nvectors; v++)
		close(dev->own_fds[v]);
	if (dev->shm_fd >= 0)
		close(dev->shm_fd);
	if (dev->msg_fd >= 0)
		close(dev->msg_fd);
	if (dev->epoll_fd >= 0)
		close(dev->epoll_fd);
	if (dev->pending_fd >= 0)
		close(dev->pending_fd);
	if (dev->wait_epoll >= 0)
		close(dev->wait_epoll);
}

int ivshmem_host_info(struct ivshmem *dev, struct ivshmem_dev_info *info)
{
	pthread_mutex_lock(&dev->lock);
	host_drain(dev);
	info->size = dev->size;
	info->peer_id = dev->id;
	info->vectors = dev->nvectors;
	info->irq_mode = IVSHMEM_IRQ_HOST_EVENTFD;
	info->index = -1;
	info->ready = !dev->gone;
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
	if (peer_id == (unsigned int)dev->id) {
		if (vector < dev->nvectors)
			fd = dev->own_fds[vector];
	} else {
		peer = host_find_peer(dev, peer_id);
		if (peer && vector < peer->nfds)
			fd = peer->fds[vector];
	}
	if (dev->gone)
		ret = -ECONNRESET;
	else if (fd < 0)
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
	if (dev->gone)
		ret = -ECONNRESET;
	else
		ret = vector < dev->nvectors ? dev->own_fds[vector] : -EINVAL;
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int ivshmem_host_wait_ready(struct ivshmem *dev)
{
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = dev->gone ? -ECONNRESET : 0;
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/* (Re)build ivshmem_wait()'s epoll for @pfds (n eventfds, then the socket). */
static int host_wait_epoll(struct ivshmem *dev, const struct pollfd *pfds,
			   const unsigned int *vec, unsigned int n, const uint64_t *mask)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (dev->wait_epoll >= 0)
		close(dev->wait_epoll);
	dev->wait_epoll = epoll_create1(EPOLL_CLOEXEC);
	if (dev->wait_epoll < 0)
		return -1;
	for (unsigned int i = 0; i <= n; i++) {
		ev.data.u32 = i;
		if (epoll_ctl(dev->wait_epoll, EPOLL_CTL_ADD, pfds[i].fd, &ev) < 0) {
			close(dev->wait_epoll);
			dev->wait_epoll = -1;
			return -1;
		}
	}
	memcpy(dev->wait_mask, mask, sizeof(dev->wait_mask));
	memcpy(dev->wait_pfds, pfds, (n + 1) * sizeof(*pfds));
	memcpy(dev->wait_vec, vec, n * sizeof(*vec));
	dev->wait_n = n;
	return 0;
}

/* One wait for any of @pfds: poll(2), or the prepared epoll if @ep. */
static int host_wait_once(struct ivshmem *dev, struct pollfd *pfds, unsigned int n, bool ep,
			  int timeout_ms)
{
	struct epoll_event evs[8];
	int ret;

	if (!ep)
		return poll(pfds, n + 1, timeout_ms);
	ret = epoll_wait(dev->wait_epoll, evs, 8, timeout_ms);
	if (ret <= 0)
		return ret;
	for (unsigned int i = 0; i <= n; i++)
		pfds[i].revents = 0;
	for (int i = 0; i < ret; i++)
		pfds[evs[i].data.u32].revents = (short)evs[i].events;
	return ret;
}

/* Wait for @pfds (n eventfds of vectors @vec, then the socket); see ivshmem_wait(). */
static int host_wait_loop(struct ivshmem *dev, struct pollfd *pfds, const unsigned int *vec,
			  unsigned int n, bool ep, uint64_t *vectors, int64_t start,
			  int timeout_ms)
{
	bool any = false;
	uint64_t count;
	int ret;

	memset(vectors, 0, IVSHMEM_VECTOR_WORDS * sizeof(*vectors));
	for (;;) {
		ret = host_wait_once(dev, pfds, n, ep, time_left(start, timeout_ms));
		if (ret < 0) {
			ret = ivshmem_neg_errno();
			break;
		}
		for (unsigned int i = 0; i < n && ret; i++) {
			if (!(pfds[i].revents & POLLIN) ||
			    read(pfds[i].fd, &count, sizeof(count)) != sizeof(count))
				continue;
			vectors[vec[i] / 64] |= 1ULL << (vec[i] % 64);
			any = true;
		}
		if (any) {
			ret = 0;
			break;
		}
		if (ret && pfds[n].revents) {
			pthread_mutex_lock(&dev->lock);
			ret = host_drain(dev);
			pthread_mutex_unlock(&dev->lock);
			if (ret == -ECONNRESET)
				break;
		}
		if (!time_left(start, timeout_ms)) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	if (ep)
		__atomic_store_n(&dev->wait_busy, false, __ATOMIC_RELEASE);
	return ret;
}

/*
 * One wait for the wanted eventfds and the server's socket, then a read()
 * of each that fired: the same system calls as a raw eventfd with a timeout.
 */
int ivshmem_host_wait(struct ivshmem *dev, uint64_t *vectors, int timeout_ms)
{
	struct pollfd pfds[IVSHMEM_MAX_VECTORS + 1];
	unsigned int vec[IVSHMEM_MAX_VECTORS];
	uint64_t mask[IVSHMEM_VECTOR_WORDS];
	int64_t start = 0;
	unsigned int n = 0;
	bool ep = false;

	if (timeout_ms < -1)
		return -EINVAL;
	if (timeout_ms > 0)
		start = now_ms();
	memcpy(mask, vectors, sizeof(mask));

	/*
	 * The usual case, the same set as before with its epoll free, takes
	 * no lock: only the thread holding wait_busy touches the epoll, and
	 * own eventfds never change once received.
	 */
	if (!__atomic_exchange_n(&dev->wait_busy, true, __ATOMIC_ACQUIRE)) {
		if (dev->wait_epoll >= 0 && !memcmp(mask, dev->wait_mask, sizeof(mask)) &&
		    !__atomic_load_n(&dev->gone, __ATOMIC_ACQUIRE))
			return host_wait_loop(dev, dev->wait_pfds, dev->wait_vec, dev->wait_n,
					      true, vectors, start, timeout_ms);
		__atomic_store_n(&dev->wait_busy, false, __ATOMIC_RELEASE);
	}

	pthread_mutex_lock(&dev->lock);
	if (dev->gone) {
		pthread_mutex_unlock(&dev->lock);
		return -ECONNRESET;
	}
	for (unsigned int w = 0; w < IVSHMEM_VECTOR_WORDS; w++) {
		for (uint64_t bits = mask[w]; bits; bits &= bits - 1) {
			unsigned int v = w * 64 + (unsigned int)__builtin_ctzll(bits);

			if (v >= dev->nvectors) {
				pthread_mutex_unlock(&dev->lock);
				return -EINVAL;
			}
			pfds[n] = (struct pollfd){ .fd = dev->own_fds[v], .events = POLLIN };
			vec[n++] = v;
		}
	}
	if (!n) {
		pthread_mutex_unlock(&dev->lock);
		return -EINVAL;
	}
	pfds[n] = (struct pollfd){ .fd = dev->fd, .events = POLLIN };
	/* A set asked for twice in a row gets an epoll, if no one uses it. */
	if (!memcmp(mask, dev->last_mask, sizeof(mask)) &&
	    !__atomic_exchange_n(&dev->wait_busy, true, __ATOMIC_ACQUIRE)) {
		ep = (dev->wait_epoll >= 0 && !memcmp(mask, dev->wait_mask, sizeof(mask))) ||
		     !host_wait_epoll(dev, pfds, vec, n, mask);
		if (!ep)
			__atomic_store_n(&dev->wait_busy, false, __ATOMIC_RELEASE);
	}
	memcpy(dev->last_mask, mask, sizeof(mask));
	pthread_mutex_unlock(&dev->lock);
	if (ep)
		return host_wait_loop(dev, dev->wait_pfds, dev->wait_vec, dev->wait_n, true,
				      vectors, start, timeout_ms);
	return host_wait_loop(dev, pfds, vec, n, false, vectors, start, timeout_ms);
}

IVSHMEM_EXPORT int ivshmem_peer_fd(struct ivshmem *dev)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if (!dev->host)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->lock);
	if (dev->epoll_fd < 0) {
		dev->pending_fd = eventfd(dev->nevents ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
		dev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		if (dev->pending_fd < 0 || dev->epoll_fd < 0 ||
		    epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, dev->pending_fd, &ev) < 0 ||
		    (!dev->gone && epoll_ctl(dev->epoll_fd, EPOLL_CTL_ADD, dev->fd, &ev) < 0)) {
			ret = ivshmem_neg_errno();
			if (dev->pending_fd >= 0)
				close(dev->pending_fd);
			if (dev->epoll_fd >= 0)
				close(dev->epoll_fd);
			dev->pending_fd = dev->epoll_fd = -1;
			pthread_mutex_unlock(&dev->lock);
			return ret;
		}
	}
	ret = dev->epoll_fd;
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/* The oldest event, if any: its type (> 0), or 0. */
static int host_pop_event(struct ivshmem *dev, unsigned int *peer_id)
{
	struct ivshmem_peer_event *ev;
	uint64_t count;

	if (dev->events_lost) {
		dev->events_lost = false;
		return -ENOBUFS;
	}
	if (!dev->nevents)
		return 0;
	ev = &dev->events[dev->event_head];
	dev->event_head = (dev->event_head + 1) % IVSHMEM_PEER_EVENTS_MAX;
	if (!--dev->nevents && dev->pending_fd >= 0 &&
	    read(dev->pending_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		dev->events_lost = true;
	*peer_id = ev->peer_id;
	return (int)ev->type;
}

IVSHMEM_EXPORT int ivshmem_read_peer_event(struct ivshmem *dev, unsigned int *peer_id,
					   int timeout_ms)
{
	int64_t start = timeout_ms > 0 ? now_ms() : 0;
	struct pollfd pfd = { .events = POLLIN };
	int ret;

	if (!dev->host)
		return -EOPNOTSUPP;
	if (timeout_ms < -1)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	for (;;) {
		/* Take in everything there first: a join's eventfds come together. */
		ret = host_drain(dev);
		if (ret < 0 && ret != -ECONNRESET)
			break;
		ret = host_pop_event(dev, peer_id);
		if (ret)
			break;
		if (dev->gone) {
			ret = -ECONNRESET;
			break;
		}
		if (!time_left(start, timeout_ms)) {
			ret = -ETIMEDOUT;
			break;
		}
		/* Wait for the server unlocked: ring and wait go on meanwhile. */
		pfd.fd = dev->fd;
		pthread_mutex_unlock(&dev->lock);
		ret = poll(&pfd, 1, time_left(start, timeout_ms));
		pthread_mutex_lock(&dev->lock);
		if (ret < 0) {
			ret = ivshmem_neg_errno();
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

IVSHMEM_EXPORT const char *ivshmem_peer_event_name(enum ivshmem_peer_event_type type)
{
	switch (type) {
	case IVSHMEM_PEER_JOINED:
		return "joined";
	case IVSHMEM_PEER_LEFT:
		return "left";
	case IVSHMEM_PEER_DISCONNECTED:
		return "disconnected";
	default:
		return "unknown";
	}
}
