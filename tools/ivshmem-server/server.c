// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-server event loop.
 *
 * Every socket is non-blocking, so a client that does not read can never
 * stall the server.  Nothing is copied per message: what a client still has
 * to hear is its position in one list of all clients in the order they
 * joined (a cursor), plus a short queue of departures.
 *
 * - A newcomer's cursor starts at the head.  Walking the list sends it the
 *   vectors of every peer before it, then its own (as QEMU's protocol
 *   orders the greeting), then those of every peer that joins later.  The
 *   eventfds sent are the peer's own: one per peer vector, whoever needs it.
 * - A departed peer's node stays in the list, closed and skipped, only while
 *   some cursor rests on it.  A client that never got to it never hears of
 *   the peer at all; one that did gets its ID in the departure queue.
 *
 * So a stalled client costs the server nothing per event, and only a client
 * with more than queue_limit departures unread is dropped.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server.h"
#include "server-proto.h"

/* Greeting messages before the vectors: version, ID, shared memory. */
#define GREETING_HEAD	3
/* Descriptors kept free: syslog, sd_notify, a refused connection, slack. */
#define FD_RESERVE	8
/* How long accepting pauses after it ran out of descriptors. */
#define ACCEPT_PAUSE_MS	1000
/* Retry after the kernel refused more fds in flight (ETOOMANYREFS). */
#define RETRY_MS	50
/*
 * Send buffer of a client socket: about 40 messages.  Descriptors sent but
 * not yet read count against our user's RLIMIT_NOFILE (unless privileged),
 * so a client that never reads may hold only this many.
 */
#define CLIENT_SNDBUF	16384

struct ivs_node {
	struct ivs_node *prev, *next;
	uint64_t seq;			/* join order; 0 is the head */
	unsigned int id;
	unsigned int refs;		/* its client, and the cursors on it */
	bool dead;			/* the client left: skipped, fds closed */
	int *eventfds;			/* one per vector: interrupts the client */
};

struct ivs_client {
	struct ivs_client *prev, *next;		/* all clients */
	struct ivs_client *next_doomed, *next_retry;
	int sock;
	unsigned int id;
	pid_t pid;
	uid_t uid;
	struct ivs_node *node;		/* its own place in the join order */
	unsigned int head_sent;		/* of the GREETING_HEAD messages */
	struct ivs_node *cursor;	/* last node sent in full (a reference) */
	unsigned int vec_sent;		/* vectors of the node after it sent */
	uint16_t *gone;			/* ring of departed IDs to tell it */
	size_t gone_head, gone_len, gone_cap;
	bool want_out;			/* EPOLLOUT is armed */
	bool doomed;			/* drop at the next reap */
	bool retry;			/* on the retry list */
};

/* At most `burst` lines per `interval`, then a count of those suppressed. */
struct ivs_ratelimit {
	const char *what;
	int64_t start_ms;
	unsigned int count;
	unsigned long suppressed;
};

#define RL_INTERVAL_MS	5000
#define RL_BURST	10

struct ivs_server {
	struct ivs_config cfg;
	int listen_fd;
	int epoll_fd;
	int shm_fd;
	char *sock_abs;			/* for unlink at exit, even after chdir */
	dev_t sock_dev;
	ino_t sock_ino;
	char *shm_file;			/* file we created, to remove at exit */
	dev_t shm_dev;
	ino_t shm_ino;
	bool shm_created;		/* the shm object is ours to remove */
	bool serving;			/* set up in full: --keep-shm applies */
	unsigned int nclients;
	unsigned int base_fds;		/* fds held besides the clients' */
	unsigned int next_id;
	uint64_t next_seq;
	struct ivs_node head;		/* sentinel of the join order */
	struct ivs_node *tail;
	struct ivs_client clients;	/* sentinel of the client list */
	struct ivs_client *doomed;
	struct ivs_client *retry;
	int64_t retry_at;		/* 0: nothing to retry */
	bool accept_paused;
	int64_t accept_resume_at;
	struct ivs_ratelimit rl_conn, rl_refuse, rl_accept, rl_drop;
	struct ivs_client *by_id[IVSHMEM_PROTO_MAX_ID + 1];
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* May a line limited by @rl be logged now?  -v logs them all. */
static bool ivs_ratelimit(struct ivs_server *srv, struct ivs_ratelimit *rl)
{
	int64_t now = now_ms();

	if (srv->cfg.verbose)
		return true;
	if (now - rl->start_ms >= RL_INTERVAL_MS) {
		if (rl->suppressed)
			LOG(srv, LOG_INFO, "%lu %s messages suppressed", rl->suppressed, rl->what);
		rl->start_ms = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < RL_BURST) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}

#define LOG_RL(srv, rl, prio, ...) do {					\
	if (ivs_ratelimit(srv, &(srv)->rl))				\
		LOG(srv, prio, __VA_ARGS__);				\
} while (0)

static void ivs_node_get(struct ivs_node *n)
{
	n->refs++;
}

static void ivs_node_put(struct ivs_server *srv, struct ivs_node *n)
{
	if (--n->refs)
		return;
	/* Only a departed client's node gets here; the head is never put. */
	n->prev->next = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		srv->tail = n->prev;
	free(n->eventfds);
	free(n);
}

/* Move @c's cursor onto @n, the next node. */
static void ivs_cursor_move(struct ivs_server *srv, struct ivs_client *c, struct ivs_node *n)
{
	struct ivs_node *old = c->cursor;

	ivs_node_get(n);
	c->cursor = n;
	c->vec_sent = 0;
	ivs_node_put(srv, old);
}

static void ivs_doom(struct ivs_server *srv, struct ivs_client *c)
{
	if (!c->doomed) {
		c->doomed = true;
		c->next_doomed = srv->doomed;
		srv->doomed = c;
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

/* 0: sent; 1: try again later; -1: the client is doomed. */
static int ivs_send(struct ivs_server *srv, struct ivs_client *c, int64_t value, int fd)
{
	if (ivshmem_proto_send(c->sock, value, fd) == 0)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		ivs_client_arm(srv, c, true);
		return 1;
	}
	if (errno == ETOOMANYREFS) {
		/* Too many fds in flight for our user: wait for readers, on a
		 * timer (the socket itself may well be writable). */
		ivs_client_arm(srv, c, false);
		if (!c->retry) {
			c->retry = true;
			c->next_retry = srv->retry;
			srv->retry = c;
		}
		if (!srv->retry_at)
			srv->retry_at = now_ms() + RETRY_MS;
		return 1;
	}
	/* A client that hung up is seen to leave; anything else is worth a line. */
	if (errno != EPIPE && errno != ECONNRESET)
		LOG_RL(srv, rl_drop, LOG_INFO, "client %u: send failed: %s; dropping it",
		       c->id, strerror(errno));
	ivs_doom(srv, c);
	return -1;
}

/* Send @c what it has not heard yet, as far as its socket takes it. */
static void ivs_client_flush(struct ivs_server *srv, struct ivs_client *c)
{
	unsigned int vectors = srv->cfg.vectors;

	if (c->doomed || c->retry)
		return;
	for (;;) {
		struct ivs_node *n;
		int r;

		if (c->head_sent < GREETING_HEAD) {
			if (c->head_sent == 0)
				r = ivs_send(srv, c, IVSHMEM_PROTOCOL_VERSION, -1);
			else if (c->head_sent == 1)
				r = ivs_send(srv, c, c->id, -1);
			else
				r = ivs_send(srv, c, IVSHMEM_PROTO_SHM_MSG, srv->shm_fd);
			if (r)
				return;
			c->head_sent++;
			continue;
		}
		/* Departures first: an ID may come back, after a wrap, as a new peer. */
		if (c->gone_len) {
			if (ivs_send(srv, c, c->gone[c->gone_head], -1))
				return;
			c->gone_head = (c->gone_head + 1) % c->gone_cap;
			c->gone_len--;
			continue;
		}
		n = c->cursor->next;
		if (!n)
			break;
		if (n->dead || c->vec_sent == vectors) {
			ivs_cursor_move(srv, c, n);
			continue;
		}
		if (ivs_send(srv, c, n->id, n->eventfds[c->vec_sent]))
			return;
		c->vec_sent++;
	}
	ivs_client_arm(srv, c, false);
}

/* Tell @c that peer @id left; a client too far behind is doomed. */
static void ivs_client_gone(struct ivs_server *srv, struct ivs_client *c, unsigned int id)
{
	if (c->gone_len == srv->cfg.queue_limit) {
		LOG_RL(srv, rl_drop, LOG_WARNING,
		       "client %u (pid %d) has %zu departures unread; dropping it",
		       c->id, (int)c->pid, c->gone_len);
		ivs_doom(srv, c);
		return;
	}
	if (c->gone_len == c->gone_cap) {
		size_t cap = c->gone_cap ? c->gone_cap * 2 : 16;
		uint16_t *q;

		if (cap > srv->cfg.queue_limit)
			cap = srv->cfg.queue_limit;
		q = malloc(cap * sizeof(*q));
		if (!q) {
			ivs_doom(srv, c);
			return;
		}
		for (size_t i = 0; i < c->gone_len; i++)
			q[i] = c->gone[(c->gone_head + i) % c->gone_cap];
		free(c->gone);
		c->gone = q;
		c->gone_cap = cap;
		c->gone_head = 0;
	}
	c->gone[(c->gone_head + c->gone_len) % c->gone_cap] = (uint16_t)id;
	c->gone_len++;
}

static void ivs_node_close(struct ivs_node *n, unsigned int vectors)
{
	for (unsigned int v = 0; v < vectors; v++) {
		if (n->eventfds[v] >= 0)
			close(n->eventfds[v]);
		n->eventfds[v] = -1;
	}
}

static void ivs_client_free(struct ivs_server *srv, struct ivs_client *c)
{
	free(c->gone);
	if (c->cursor)
		ivs_node_put(srv, c->cursor);
	if (c->node) {
		c->node->dead = true;
		ivs_node_close(c->node, srv->cfg.vectors);
		ivs_node_put(srv, c->node);
	}
	if (c->sock >= 0)
		close(c->sock);
	free(c);
}

static void ivs_accept_resume(struct ivs_server *srv)
{
	if (!srv->accept_paused)
		return;
	if (ivs_epoll_set(srv, EPOLL_CTL_MOD, srv->listen_fd, EPOLLIN, NULL) == 0)
		srv->accept_paused = false;
}

/* Drop one client and tell those who knew of it that it left. */
static void ivs_client_drop(struct ivs_server *srv, struct ivs_client *c)
{
	struct ivs_node *n = c->node;
	struct ivs_client *p;

	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->sock, NULL);
	srv->by_id[c->id] = NULL;
	c->prev->next = c->next;
	c->next->prev = c->prev;
	srv->nclients--;
	LOG_RL(srv, rl_conn, LOG_INFO, "client %u (pid %d) disconnected", c->id, (int)c->pid);

	n->dead = true;
	ivs_node_close(n, srv->cfg.vectors);
	for (p = srv->clients.next; p != &srv->clients; p = p->next) {
		if (p->doomed)
			continue;
		if (p->cursor->seq >= n->seq) {
			ivs_client_gone(srv, p, c->id);
		} else if (p->cursor->next == n && p->vec_sent) {
			/* Half announced: the rest is moot, the departure is not. */
			ivs_cursor_move(srv, p, n);
			ivs_client_gone(srv, p, c->id);
		} else {
			continue;
		}
		ivs_client_flush(srv, p);
	}
	ivs_client_free(srv, c);
	/* Descriptors were freed. */
	ivs_accept_resume(srv);
}

static void ivs_reap(struct ivs_server *srv)
{
	/* Dropping a client can doom others (their departure queues fill). */
	while (srv->doomed) {
		struct ivs_client *c = srv->doomed;

		srv->doomed = c->next_doomed;
		if (c->retry) {
			struct ivs_client **pp;

			for (pp = &srv->retry; *pp != c; pp = &(*pp)->next_retry)
				;
			*pp = c->next_retry;
		}
		ivs_client_drop(srv, c);
	}
}

/* Count up from the last ID given, skipping live ones, within 0..65535. */
static int ivs_alloc_id(struct ivs_server *srv)
{
	for (unsigned int i = 0; i <= IVSHMEM_PROTO_MAX_ID; i++) {
		unsigned int id = srv->next_id;

		srv->next_id = (id + 1) & IVSHMEM_PROTO_MAX_ID;
		if (!srv->by_id[id])
			return (int)id;
	}
	return -1;
}

static void ivs_accept_pause(struct ivs_server *srv, int err)
{
	LOG_RL(srv, rl_accept, LOG_WARNING, "accept: %s; not accepting for %d ms",
	       strerror(err), ACCEPT_PAUSE_MS);
	if (ivs_epoll_set(srv, EPOLL_CTL_MOD, srv->listen_fd, 0, NULL) == 0)
		srv->accept_paused = true;
	srv->accept_resume_at = now_ms() + ACCEPT_PAUSE_MS;
}

/* Would one more client overrun the descriptor limit? */
static bool ivs_fds_short(struct ivs_server *srv, unsigned long *limit)
{
	unsigned long need = srv->base_fds + FD_RESERVE +
			     (unsigned long)(srv->nclients + 1) * (1 + srv->cfg.vectors);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	*limit = rl.rlim_cur;
	return need > rl.rlim_cur;
}

static void ivs_accept(struct ivs_server *srv)
{
	unsigned int vectors = srv->cfg.vectors, v;
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1 };
	socklen_t len = sizeof(cred);
	struct ivs_client *c, *p;
	unsigned long limit = 0;
	struct ivs_node *n;
	int sock, id;

	sock = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (sock < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
		    errno == ECONNABORTED)
			return;
		/* EMFILE and the like: retrying at once would only spin. */
		ivs_accept_pause(srv, errno);
		return;
	}
	getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &(int){ CLIENT_SNDBUF }, sizeof(int));

	if (srv->nclients >= srv->cfg.max_clients) {
		LOG_RL(srv, rl_refuse, LOG_WARNING,
		       "refusing client pid %d uid %u: all %u client slots are in use",
		       (int)cred.pid, (unsigned int)cred.uid, srv->cfg.max_clients);
		close(sock);
		return;
	}
	if (ivs_fds_short(srv, &limit)) {
		LOG_RL(srv, rl_refuse, LOG_WARNING,
		       "refusing client pid %d uid %u: %u clients with %u vectors use all %lu file descriptors",
		       (int)cred.pid, (unsigned int)cred.uid, srv->nclients, vectors, limit);
		close(sock);
		return;
	}
	id = ivs_alloc_id(srv);
	c = calloc(1, sizeof(*c));
	n = calloc(1, sizeof(*n));
	if (id < 0 || !c || !n || !(n->eventfds = malloc((vectors + 1) * sizeof(int)))) {
		LOG_RL(srv, rl_refuse, LOG_ERR, "refusing client pid %d: out of memory",
		       (int)cred.pid);
		free(n);
		free(c);
		close(sock);
		return;
	}
	for (v = 0; v < vectors; v++)
		n->eventfds[v] = -1;
	for (v = 0; v < vectors; v++) {
		n->eventfds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (n->eventfds[v] < 0)
			break;
	}
	if (v < vectors || ivs_epoll_set(srv, EPOLL_CTL_ADD, sock, EPOLLIN, c)) {
		LOG_RL(srv, rl_refuse, LOG_ERR, "refusing client pid %d: %s: %s",
		       (int)cred.pid, v < vectors ? "eventfd" : "epoll", strerror(errno));
		ivs_node_close(n, vectors);
		free(n->eventfds);
		free(n);
		free(c);
		close(sock);
		return;
	}

	c->sock = sock;
	c->id = (unsigned int)id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	n->id = c->id;
	n->seq = ++srv->next_seq;
	n->refs = 1;
	n->prev = srv->tail;
	srv->tail->next = n;
	srv->tail = n;
	c->node = n;
	c->cursor = &srv->head;
	ivs_node_get(&srv->head);
	c->prev = srv->clients.prev;
	c->next = &srv->clients;
	c->prev->next = c;
	srv->clients.prev = c;
	srv->by_id[c->id] = c;
	srv->nclients++;
	LOG_RL(srv, rl_conn, LOG_INFO, "client %u connected: pid %d uid %u",
	       c->id, (int)cred.pid, (unsigned int)cred.uid);

	/* Those waiting for news (not for room in their socket) hear of it now. */
	for (p = srv->clients.next; p != &srv->clients; p = p->next)
		if (!p->want_out)
			ivs_client_flush(srv, p);
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
		LOG_RL(srv, rl_drop, LOG_WARNING,
		       "client %u (pid %d) sent data the protocol does not allow; dropping it",
		       c->id, (int)c->pid);
	ivs_doom(srv, c);
}

/* @path made absolute against the current directory, for use after chdir. */
static char *ivs_abspath(const char *path)
{
	char cwd[4096], *abs;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&abs, "%s/%s", cwd, path) < 0)
		return NULL;
	return abs;
}

/* Remove @path only if it is still the file we made. */
static void ivs_unlink_ours(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		unlink(path);
}

static int ivs_open_shm_object(struct ivs_server *srv)
{
	struct ivs_config *cfg = &srv->cfg;
	struct stat st;
	int fd;

	fd = shm_open(cfg->shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		srv->shm_created = true;
		return fd;
	}
	if (errno != EEXIST || !cfg->adopt_shm) {
		LOG(srv, LOG_ERR, errno == EEXIST ?
		    "shared memory object %s exists; remove it, or pass --adopt-shm to use it as it is" :
		    "cannot create shared memory object %s: %s",
		    cfg->shm_name, strerror(errno));
		return -1;
	}
	fd = shm_open(cfg->shm_name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) {
		LOG(srv, LOG_ERR, "cannot open shared memory object %s: %s", cfg->shm_name,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		LOG(srv, LOG_ERR, "shared memory object %s is not ours (owner uid %u); not adopting it",
		    cfg->shm_name, (unsigned int)st.st_uid);
		goto fail;
	}
	if (cfg->size_given && (uint64_t)st.st_size != cfg->shm_size) {
		LOG(srv, LOG_ERR, "shared memory object %s is %llu bytes, not %llu; not adopting it",
		    cfg->shm_name, (unsigned long long)st.st_size,
		    (unsigned long long)cfg->shm_size);
		goto fail;
	}
	if (st.st_size < 4096 || (st.st_size & (st.st_size - 1))) {
		LOG(srv, LOG_ERR, "shared memory object %s is %llu bytes: the device needs a power of two of at least 4K",
		    cfg->shm_name, (unsigned long long)st.st_size);
		goto fail;
	}
	cfg->shm_size = (uint64_t)st.st_size;
	return fd;

fail:
	close(fd);
	return -1;
}

static int ivs_open_shm(struct ivs_server *srv)
{
	const struct ivs_config *cfg = &srv->cfg;
	struct stat st;
	int fd;

	if (cfg->shm_path && stat(cfg->shm_path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* A directory (hugetlbfs, say): an unnamed file that vanishes with us. */
		fd = open(cfg->shm_path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
			char *tmpl;

			if (asprintf(&tmpl, "%s/ivshmem.XXXXXX", cfg->shm_path) < 0)
				return -1;
			fd = mkostemp(tmpl, O_CLOEXEC);
			if (fd >= 0)
				unlink(tmpl);
			free(tmpl);
		}
	} else if (cfg->shm_path) {
		/* Never someone else's file: only one we create. */
		fd = open(cfg->shm_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST) {
			LOG(srv, LOG_ERR, "%s exists; give a new file name, or a directory for an unnamed file",
			    cfg->shm_path);
			return -1;
		}
		if (fd >= 0) {
			if (fstat(fd, &st) < 0 || !(srv->shm_file = ivs_abspath(cfg->shm_path))) {
				LOG(srv, LOG_ERR, "%s: %s", cfg->shm_path, strerror(errno));
				unlink(cfg->shm_path);
				close(fd);
				return -1;
			}
			srv->shm_dev = st.st_dev;
			srv->shm_ino = st.st_ino;
		}
	} else {
		fd = ivs_open_shm_object(srv);
		if (fd < 0)
			return -1;
		if (!srv->shm_created) {
			srv->shm_fd = fd;
			return 0;	/* adopted as it is */
		}
	}
	if (fd < 0) {
		LOG(srv, LOG_ERR, "cannot open shared memory %s: %s",
		    cfg->shm_path ? cfg->shm_path : cfg->shm_name, strerror(errno));
		return -1;
	}
	srv->shm_fd = fd;
	if (ftruncate(fd, (off_t)cfg->shm_size) < 0) {
		LOG(srv, LOG_ERR, "cannot size shared memory to %llu bytes: %s",
		    (unsigned long long)cfg->shm_size, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Is a server listening on @path?  0 if the path is free or holds a stale
 * socket, else -1 with the reason logged.
 */
static int ivs_check_socket_path(struct ivs_server *srv, const struct sockaddr_un *addr)
{
	const char *path = addr->sun_path;
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		LOG(srv, LOG_ERR, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		LOG(srv, LOG_ERR, "%s exists and is not a socket; not replacing it", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LOG(srv, LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		LOG(srv, LOG_ERR, "a server is already listening on %s", path);
		ret = -1;
	} else if (errno == ECONNREFUSED || errno == ENOENT) {
		ret = 0;	/* stale: nobody listens */
	} else {
		LOG(srv, LOG_ERR, "cannot tell whether a server listens on %s: %s", path,
		    strerror(errno));
		ret = -1;
	}
	close(fd);
	return ret;
}

/* Our servers check and replace a socket path one at a time. */
static int ivs_lock_dir(struct ivs_server *srv, const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno != EWOULDBLOCK || i == 500) {
			LOG(srv, LOG_ERR, "cannot lock the directory of %s: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		usleep(10000);
	}
	return fd;
}

/*
 * Listen on cfg->socket_path.  The socket is bound and set up under a
 * temporary name and renamed into place once it accepts connections, so a
 * client never finds the path before the server is ready, nor with looser
 * permissions than configured.  Only a stale socket is ever replaced.
 */
static int ivs_listen(struct ivs_server *srv)
{
	const struct ivs_config *cfg = &srv->cfg;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct sockaddr_un tmp = { .sun_family = AF_UNIX };
	int fd, lock_fd = -1, ret;
	mode_t old_umask;
	struct stat st;

	ret = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d.tmp",
		       cfg->socket_path, (int)getpid());
	if (ret < 0 || (size_t)ret >= sizeof(tmp.sun_path)) {
		LOG(srv, LOG_ERR, "socket path %s is too long", cfg->socket_path);
		return -1;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", cfg->socket_path);
	if (ivs_check_socket_path(srv, &addr) < 0)
		return -1;
	srv->sock_abs = ivs_abspath(cfg->socket_path);
	if (!srv->sock_abs) {
		LOG(srv, LOG_ERR, "%s: %s", cfg->socket_path, strerror(errno));
		return -1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		LOG(srv, LOG_ERR, "socket: %s", strerror(errno));
		return -1;
	}
	old_umask = umask(0777);
	ret = bind(fd, (struct sockaddr *)&tmp, sizeof(tmp));
	umask(old_umask);
	if (ret < 0) {
		LOG(srv, LOG_ERR, "cannot bind %s: %s", tmp.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	if (lstat(tmp.sun_path, &st) < 0 ||
	    (cfg->socket_gid != (gid_t)-1 && chown(tmp.sun_path, (uid_t)-1, cfg->socket_gid) < 0) ||
	    chmod(tmp.sun_path, cfg->socket_mode) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		LOG(srv, LOG_ERR, "cannot listen on %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	/* A stale socket is replaced in one step; a live one never. */
	lock_fd = ivs_lock_dir(srv, cfg->socket_path);
	if (lock_fd < 0 || ivs_check_socket_path(srv, &addr) < 0)
		goto fail;
	if (rename(tmp.sun_path, cfg->socket_path) < 0) {
		LOG(srv, LOG_ERR, "cannot listen on %s: %s", cfg->socket_path, strerror(errno));
		goto fail;
	}
	close(lock_fd);
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	srv->listen_fd = fd;
	return 0;

fail:
	if (lock_fd >= 0)
		close(lock_fd);
	close(fd);
	unlink(tmp.sun_path);
	return -1;
}

/* Open descriptors now, to budget the rest for clients. */
static unsigned int ivs_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned int n = 0;

	if (!d)
		return 32;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the directory itself */
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
	srv->head.refs = 1;
	srv->tail = &srv->head;
	srv->clients.next = srv->clients.prev = &srv->clients;
	srv->rl_conn.what = "connect and disconnect";
	srv->rl_refuse.what = "refusal";
	srv->rl_accept.what = "accept error";
	srv->rl_drop.what = "client drop";

	/* Refuse a path in use before touching any memory (checked again later). */
	{
		struct sockaddr_un addr = { .sun_family = AF_UNIX };

		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", cfg->socket_path);
		if (ivs_check_socket_path(srv, &addr) < 0)
			goto fail;
	}
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
	    (unsigned long long)srv->cfg.shm_size, cfg->shm_path ? "file" : "shm object",
	    cfg->shm_path ? cfg->shm_path : cfg->shm_name, cfg->vectors, cfg->socket_path);
	srv->serving = true;
	return srv;

fail:
	ivs_server_free(srv);
	return NULL;
}

void ivs_server_use_syslog(struct ivs_server *srv)
{
	srv->cfg.use_syslog = true;
}

static void ivs_status(struct ivs_server *srv)
{
	struct rlimit rl = { 0 };

	getrlimit(RLIMIT_NOFILE, &rl);
	LOG(srv, LOG_INFO, "%u client(s) with %u vector(s); %u file descriptors open of %llu%s",
	    srv->nclients, srv->cfg.vectors, ivs_count_fds(), (unsigned long long)rl.rlim_cur,
	    srv->accept_paused ? "; not accepting" : "");
}

static void ivs_timers(struct ivs_server *srv)
{
	int64_t now = now_ms();

	if (srv->accept_paused && now >= srv->accept_resume_at)
		ivs_accept_resume(srv);
	if (srv->retry_at && now >= srv->retry_at) {
		struct ivs_client *c = srv->retry;

		srv->retry = NULL;
		srv->retry_at = 0;
		for (; c; c = c->next_retry)
			c->retry = false;
		/* Flush after the list is rebuilt: a flush may add to it. */
		for (c = srv->clients.next; c != &srv->clients; c = c->next)
			ivs_client_flush(srv, c);
	}
}

static int ivs_timeout(struct ivs_server *srv)
{
	int64_t at = INT64_MAX, now;

	if (srv->accept_paused)
		at = srv->accept_resume_at;
	if (srv->retry_at && srv->retry_at < at)
		at = srv->retry_at;
	if (at == INT64_MAX)
		return -1;
	now = now_ms();
	return at <= now ? 0 : (int)(at - now);
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
	srv->base_fds = ivs_count_fds();
	for (;;) {
		int n = epoll_wait(srv->epoll_fd, events, 64, ivs_timeout(srv));

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

				if (read(signal_fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					ivs_status(srv);
					continue;
				}
				LOG(srv, LOG_INFO, "signal %u: shutting down", si.ssi_signo);
				return 0;
			} else if (!ptr) {
				ivs_accept(srv);
			} else {
				ivs_client_input(srv, ptr, events[i].events);
			}
			/* Drop before the next event: it may be for a doomed client. */
		}
		ivs_reap(srv);
		ivs_timers(srv);
	}
}

void ivs_server_free(struct ivs_server *srv)
{
	struct ivs_client *c, *next;

	if (!srv)
		return;
	for (c = srv->clients.next; c != &srv->clients; c = next) {
		next = c->next;
		ivs_client_free(srv, c);
	}
	srv->clients.next = srv->clients.prev = &srv->clients;
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		ivs_unlink_ours(srv->sock_abs, srv->sock_dev, srv->sock_ino);
	}
	if (srv->epoll_fd >= 0)
		close(srv->epoll_fd);
	if (srv->shm_fd >= 0) {
		bool remove = !srv->cfg.keep_shm || !srv->serving;
		struct stat st;

		if (srv->shm_file && remove) {
			ivs_unlink_ours(srv->shm_file, srv->shm_dev, srv->shm_ino);
		} else if (srv->shm_created && remove && fstat(srv->shm_fd, &st) == 0) {
			char *path;

			/* Linux keeps shm objects in /dev/shm: remove only ours. */
			if (asprintf(&path, "/dev/shm/%s", srv->cfg.shm_name) >= 0) {
				ivs_unlink_ours(path, st.st_dev, st.st_ino);
				free(path);
			}
		}
		close(srv->shm_fd);
	}
	free(srv->shm_file);
	free(srv->sock_abs);
	free(srv);
}
