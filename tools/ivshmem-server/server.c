// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-server event loop.
 *
 * Every socket is non-blocking and every message to a client goes through
 * that client's queue, so a client that does not read can never stall the
 * server: once it lags more than queue_limit messages behind it is dropped.
 * Queued messages own a duplicate of their fd, so a peer that leaves (and
 * closes its eventfds) cannot invalidate what is still queued for others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "server-proto.h"

struct ivs_msg {
	int64_t value;
	int fd;				/* owned; -1 for none */
};

struct ivs_client {
	int sock;
	unsigned int id;
	pid_t pid;
	uid_t uid;
	int *eventfds;			/* one per vector: interrupts this client */
	struct ivs_msg *queue;		/* ring buffer */
	size_t head, len, cap, max;
	bool want_out;			/* EPOLLOUT is armed */
	bool doomed;			/* drop at the next reap */
};

struct ivs_server {
	struct ivs_config cfg;
	int listen_fd;
	int epoll_fd;
	int shm_fd;
	char *shm_file;			/* file to remove at exit, or NULL */
	unsigned int nclients;
	unsigned int ndoomed;
	struct ivs_client *clients[IVSHMEM_PROTO_MAX_ID + 1];	/* by ID */
};

void ivs_log(const struct ivs_config *cfg, int priority, const char *fmt, ...)
{
	va_list ap;

	if (priority == LOG_DEBUG && !cfg->verbose)
		return;
	va_start(ap, fmt);
	if (cfg->use_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		fputs("ivshmem-server: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

#define LOG(srv, prio, ...) ivs_log(&(srv)->cfg, prio, __VA_ARGS__)

static void ivs_doom(struct ivs_server *srv, struct ivs_client *c)
{
	if (!c->doomed) {
		c->doomed = true;
		srv->ndoomed++;
	}
}

static int ivs_epoll_set(struct ivs_server *srv, int op, int fd, uint32_t events,
			 void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(srv->epoll_fd, op, fd, &ev);
}

static void ivs_client_arm(struct ivs_server *srv, struct ivs_client *c, bool out)
{
	if (c->want_out == out)
		return;
	c->want_out = out;
	if (ivs_epoll_set(srv, EPOLL_CTL_MOD, c->sock, EPOLLIN | (out ? EPOLLOUT : 0), c))
		ivs_doom(srv, c);
}

/* Send what the socket takes now; arm EPOLLOUT for the rest. */
static void ivs_client_flush(struct ivs_server *srv, struct ivs_client *c)
{
	while (c->len && !c->doomed) {
		struct ivs_msg *m = &c->queue[c->head];

		if (ivshmem_proto_send(c->sock, m->value, m->fd) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			LOG(srv, LOG_INFO, "client %u: send failed: %s; dropping it",
			    c->id, strerror(errno));
			ivs_doom(srv, c);
			return;
		}
		if (m->fd >= 0)
			close(m->fd);
		c->head = (c->head + 1) % c->cap;
		c->len--;
	}
	ivs_client_arm(srv, c, c->len > 0);
}

/* Queue one message; @fd is duplicated.  A client past its limit is doomed. */
static void ivs_client_queue(struct ivs_server *srv, struct ivs_client *c,
			     int64_t value, int fd)
{
	struct ivs_msg *m;

	if (c->doomed)
		return;
	if (c->len == c->max) {
		LOG(srv, LOG_WARNING, "client %u (pid %d) lags %zu messages behind; dropping it",
		    c->id, (int)c->pid, c->len);
		ivs_doom(srv, c);
		return;
	}
	if (c->len == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64, i;
		struct ivs_msg *q;

		if (cap > c->max)
			cap = c->max;
		q = calloc(cap, sizeof(*q));
		if (!q) {
			ivs_doom(srv, c);
			return;
		}
		for (i = 0; i < c->len; i++)
			q[i] = c->queue[(c->head + i) % c->cap];
		free(c->queue);
		c->queue = q;
		c->cap = cap;
		c->head = 0;
	}
	m = &c->queue[(c->head + c->len) % c->cap];
	m->value = value;
	m->fd = -1;
	if (fd >= 0) {
		m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (m->fd < 0) {
			LOG(srv, LOG_ERR, "client %u: cannot duplicate fd: %s; dropping it",
			    c->id, strerror(errno));
			ivs_doom(srv, c);
			return;
		}
	}
	c->len++;
}

static void ivs_client_free(struct ivs_client *c, unsigned int vectors)
{
	for (; c->len; c->len--, c->head = (c->head + 1) % c->cap)
		if (c->queue[c->head].fd >= 0)
			close(c->queue[c->head].fd);
	free(c->queue);
	if (c->eventfds)
		for (unsigned int v = 0; v < vectors; v++)
			if (c->eventfds[v] >= 0)
				close(c->eventfds[v]);
	free(c->eventfds);
	if (c->sock >= 0)
		close(c->sock);
	free(c);
}

/* Drop one client and tell the others it left (which may doom them too). */
static void ivs_client_drop(struct ivs_server *srv, struct ivs_client *c)
{
	unsigned int id;

	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->sock, NULL);
	srv->clients[c->id] = NULL;
	srv->nclients--;
	srv->ndoomed--;
	LOG(srv, LOG_INFO, "client %u (pid %d) disconnected", c->id, (int)c->pid);

	for (id = 0; id <= IVSHMEM_PROTO_MAX_ID; id++) {
		struct ivs_client *peer = srv->clients[id];

		if (peer) {
			ivs_client_queue(srv, peer, c->id, -1);
			ivs_client_flush(srv, peer);
		}
	}
	ivs_client_free(c, srv->cfg.vectors);
}

static void ivs_reap(struct ivs_server *srv)
{
	unsigned int id;

	/* Dropping a client can doom others (their queues overflow). */
	while (srv->ndoomed)
		for (id = 0; id <= IVSHMEM_PROTO_MAX_ID; id++)
			if (srv->clients[id] && srv->clients[id]->doomed)
				ivs_client_drop(srv, srv->clients[id]);
}

static int ivs_lowest_free_id(struct ivs_server *srv)
{
	unsigned int id;

	for (id = 0; id <= IVSHMEM_PROTO_MAX_ID; id++)
		if (!srv->clients[id])
			return (int)id;
	return -1;
}

static void ivs_accept(struct ivs_server *srv)
{
	unsigned int vectors = srv->cfg.vectors, v, id;
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1 };
	socklen_t len = sizeof(cred);
	struct ivs_client *c;
	int sock, free_id;

	sock = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sock < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			LOG(srv, LOG_WARNING, "accept: %s", strerror(errno));
		return;
	}
	getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len);

	free_id = ivs_lowest_free_id(srv);
	if (srv->nclients >= srv->cfg.max_clients || free_id < 0) {
		LOG(srv, LOG_WARNING, "refusing client pid %d uid %u: all %u IDs are in use",
		    (int)cred.pid, (unsigned int)cred.uid, srv->cfg.max_clients);
		close(sock);
		return;
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		close(sock);
		return;
	}
	c->sock = sock;
	c->id = (unsigned int)free_id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	/* Everything it must receive on connect, plus the lag it is allowed. */
	c->max = 3 + (size_t)(srv->nclients + 1) * vectors + srv->cfg.queue_limit;
	c->eventfds = malloc(vectors * sizeof(int));
	if (!c->eventfds)
		goto fail;
	for (v = 0; v < vectors; v++)
		c->eventfds[v] = -1;
	for (v = 0; v < vectors; v++) {
		c->eventfds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (c->eventfds[v] < 0) {
			LOG(srv, LOG_ERR, "refusing client pid %d: eventfd: %s",
			    (int)cred.pid, strerror(errno));
			goto fail;
		}
	}
	if (ivs_epoll_set(srv, EPOLL_CTL_ADD, sock, EPOLLIN, c)) {
		LOG(srv, LOG_ERR, "refusing client pid %d: epoll: %s",
		    (int)cred.pid, strerror(errno));
		goto fail;
	}
	srv->clients[c->id] = c;
	srv->nclients++;
	LOG(srv, LOG_INFO, "client %u connected: pid %d uid %u",
	    c->id, (int)cred.pid, (unsigned int)cred.uid);

	ivs_client_queue(srv, c, IVSHMEM_PROTOCOL_VERSION, -1);
	ivs_client_queue(srv, c, c->id, -1);
	ivs_client_queue(srv, c, IVSHMEM_PROTO_SHM_MSG, srv->shm_fd);
	for (id = 0; id <= IVSHMEM_PROTO_MAX_ID; id++) {
		struct ivs_client *peer = srv->clients[id];

		if (!peer || peer == c)
			continue;
		for (v = 0; v < vectors; v++) {
			ivs_client_queue(srv, c, peer->id, peer->eventfds[v]);
			ivs_client_queue(srv, peer, c->id, c->eventfds[v]);
		}
		ivs_client_flush(srv, peer);
	}
	for (v = 0; v < vectors; v++)
		ivs_client_queue(srv, c, c->id, c->eventfds[v]);
	ivs_client_flush(srv, c);
	return;

fail:
	ivs_client_free(c, vectors);
}

/* Clients never send anything: data or end of stream ends the client. */
static void ivs_client_input(struct ivs_server *srv, struct ivs_client *c,
			     uint32_t events)
{
	char buf[64];
	ssize_t n;

	if (events & EPOLLOUT)
		ivs_client_flush(srv, c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = recv(c->sock, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0)
		LOG(srv, LOG_WARNING, "client %u (pid %d) sent data the protocol does not allow; dropping it",
		    c->id, (int)c->pid);
	ivs_doom(srv, c);
}

static int ivs_open_shm(struct ivs_server *srv)
{
	const struct ivs_config *cfg = &srv->cfg;
	struct stat st;
	int fd;

	if (cfg->shm_path && stat(cfg->shm_path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* A directory (hugetlbfs, say): an unnamed file that vanishes with us. */
		fd = open(cfg->shm_path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0) {
			size_t n = strlen(cfg->shm_path) + sizeof("/ivshmem.XXXXXX");
			char *tmpl = malloc(n);

			if (!tmpl)
				return -1;
			snprintf(tmpl, n, "%s/ivshmem.XXXXXX", cfg->shm_path);
			fd = mkostemp(tmpl, O_CLOEXEC);
			if (fd >= 0)
				unlink(tmpl);
			free(tmpl);
		}
	} else if (cfg->shm_path) {
		fd = open(cfg->shm_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0 && !cfg->keep_shm)
			srv->shm_file = strdup(cfg->shm_path);
	} else {
		fd = shm_open(cfg->shm_name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		LOG(srv, LOG_ERR, "cannot open shared memory %s: %s",
		    cfg->shm_path ? cfg->shm_path : cfg->shm_name, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)cfg->shm_size) < 0) {
		LOG(srv, LOG_ERR, "cannot size shared memory to %llu bytes: %s",
		    (unsigned long long)cfg->shm_size, strerror(errno));
		close(fd);
		return -1;
	}
	srv->shm_fd = fd;
	return 0;
}

/*
 * Listen on cfg->socket_path.  The socket is bound and set up under a
 * temporary name and renamed into place once it accepts connections, so a
 * client never finds the path before the server is ready, nor with looser
 * permissions than configured.
 */
static int ivs_listen(struct ivs_server *srv)
{
	const struct ivs_config *cfg = &srv->cfg;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int fd, ret;

	ret = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s.%d.tmp",
		       cfg->socket_path, (int)getpid());
	if (ret < 0 || (size_t)ret >= sizeof(addr.sun_path)) {
		LOG(srv, LOG_ERR, "socket path %s is too long", cfg->socket_path);
		return -1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LOG(srv, LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(addr.sun_path);
	old_umask = umask(0777);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (ret < 0 ||
	    (cfg->socket_gid != (gid_t)-1 && chown(addr.sun_path, (uid_t)-1, cfg->socket_gid) < 0) ||
	    chmod(addr.sun_path, cfg->socket_mode) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    rename(addr.sun_path, cfg->socket_path) < 0) {
		LOG(srv, LOG_ERR, "cannot listen on %s: %s", cfg->socket_path, strerror(errno));
		close(fd);
		unlink(addr.sun_path);
		return -1;
	}
	srv->listen_fd = fd;
	return 0;
}

struct ivs_server *ivs_server_new(const struct ivs_config *cfg)
{
	struct ivs_server *srv = calloc(1, sizeof(*srv));

	if (!srv) {
		ivs_log(cfg, LOG_ERR, "out of memory");
		return NULL;
	}
	srv->cfg = *cfg;
	srv->listen_fd = srv->epoll_fd = srv->shm_fd = -1;

	if (ivs_open_shm(srv) < 0)
		goto fail;
	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epoll_fd < 0) {
		LOG(srv, LOG_ERR, "epoll: %s", strerror(errno));
		goto fail;
	}
	if (ivs_listen(srv) < 0)
		goto fail;
	if (ivs_epoll_set(srv, EPOLL_CTL_ADD, srv->listen_fd, EPOLLIN, NULL) < 0) {
		LOG(srv, LOG_ERR, "epoll: %s", strerror(errno));
		goto fail;
	}
	LOG(srv, LOG_INFO, "serving %llu bytes of %s %s with %u vector(s) on %s",
	    (unsigned long long)cfg->shm_size, cfg->shm_path ? "file" : "shm object",
	    cfg->shm_path ? cfg->shm_path : cfg->shm_name, cfg->vectors, cfg->socket_path);
	return srv;

fail:
	ivs_server_free(srv);
	return NULL;
}

int ivs_server_run(struct ivs_server *srv, int signal_fd)
{
	struct epoll_event events[64];
	int sig_tag = 0;

	/* The signalfd is told apart from clients by its data pointer. */
	if (ivs_epoll_set(srv, EPOLL_CTL_ADD, signal_fd, EPOLLIN, &sig_tag) < 0) {
		LOG(srv, LOG_ERR, "epoll: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		int n = epoll_wait(srv->epoll_fd, events, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			LOG(srv, LOG_ERR, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;

			if (ptr == &sig_tag) {
				struct signalfd_siginfo si;

				if (read(signal_fd, &si, sizeof(si)) == sizeof(si)) {
					LOG(srv, LOG_INFO, "signal %u: shutting down", si.ssi_signo);
					return 0;
				}
			} else if (!ptr) {
				ivs_accept(srv);
			} else {
				ivs_client_input(srv, ptr, events[i].events);
			}
		}
		ivs_reap(srv);
	}
}

void ivs_server_free(struct ivs_server *srv)
{
	unsigned int id;

	if (!srv)
		return;
	for (id = 0; id <= IVSHMEM_PROTO_MAX_ID; id++)
		if (srv->clients[id])
			ivs_client_free(srv->clients[id], srv->cfg.vectors);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->cfg.socket_path);
	}
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	if (srv->shm_fd >= 0) {
		close(srv->shm_fd);
		if (srv->shm_file)
			unlink(srv->shm_file);
		else if (!srv->cfg.shm_path && !srv->cfg.keep_shm)
			shm_unlink(srv->cfg.shm_name);
	}
	free(srv->shm_file);
	free(srv);
}
