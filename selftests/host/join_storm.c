// SPDX-License-Identifier: GPL-2.0
/*
 * The host-peer join storm: N peers join a fresh server as fast as one
 * process can connect them, on our ivshmem-server and on QEMU's
 * contrib/ivshmem-server, for N = 50, 200, 500 with 1 and 8 vectors.
 *
 * The peers speak the protocol themselves (docs/specs/ivshmem-spec.txt)
 * rather than through libivshmem: the library joins one peer at a time and
 * keeps every eventfd, which would be N * N * vectors descriptors in this
 * process.  Here one event loop connects and reads all N connections at
 * once and closes what it has counted.  A peer has joined when it has its
 * ID, the shared memory and its own eventfds; the storm is over when every
 * peer also holds the eventfds of every other, N * (N - 1) * vectors in
 * all.  Two peers, the first and the last, keep the eventfds of the others
 * and ring each of them on every vector, so that an eventfd handed out for
 * the wrong peer or vector is caught too.
 *
 * Measured per server: the time until the storm is over, the server's
 * peak descriptors (/proc/PID/fd, sampled every 10 ms) and its CPU time
 * (each thread's /proc/PID/task/TID/schedstat, in nanoseconds where
 * utime + stime of /proc/PID/stat count 10 ms ticks).  Printed as
 * "# bench:" lines with the ratio ours / QEMU's, medians of several storms
 * for the smaller sizes; speed never fails a test.  Our server not
 * delivering every eventfd, or dying, is a "not ok".  QEMU's server cannot
 * cope with every size (it select()s, so a descriptor past FD_SETSIZE
 * aborts it, and it drops a message that a full socket does not take at
 * once): what goes wrong there is printed, not failed.
 *
 * Both servers run in a private directory with RLIMIT_NOFILE raised, die
 * with the test and have a deadline; each storm gives up after
 * JOIN_STORM_TIMEOUT seconds (default 30), or after 5 s without progress.
 *
 * usage: join_storm OUR-ivshmem-server QEMU-ivshmem-server
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/harness.h"
#include "lib/tmpdir.h"

#define MAX_VECTORS	8
#define MAX_ID		65535
#define SHM_SIZE	(1 << 20)
#define BATCH		64		/* messages per recvmmsg() */
#define CONNECT_BURST	16		/* connections between two reads */
#define SAMPLE_NS	10000000LL	/* /proc/PID/fd every 10 ms */
#define STALL_NS	5000000000LL
#define SERVER_FDS	65536		/* RLIMIT_NOFILE of both servers */

static const char *server_path[2];
static const char *const server_name[2] = { "ours", "qemu" };

enum outcome { DONE, TIMED_OUT, STALLED, CRASHED, DROPPED, BROKEN };

struct kept {
	int id;
	unsigned int vector;
	int fd;
};

struct conn {
	int fd;
	int id;				/* own peer ID, -1 until received */
	unsigned int msgs;		/* messages received */
	unsigned int own;		/* own eventfds received */
	unsigned int peer_fds;		/* eventfds of other peers received */
	int own_fd[MAX_VECTORS];
	uint8_t buf[8];			/* a message read in part */
	unsigned int have;
	int pending_fd;
	bool complete;
	struct kept *kept;		/* the first and last peer keep all */
	unsigned int nkept;
};

struct storm {
	unsigned int n, vectors;
	pid_t server;
	char dir[80], sock[96];
	struct conn *conns;
	unsigned int connected, joined, complete;
	unsigned long long peer_fds;	/* of all peers together */
	uint8_t *counts;		/* n x (MAX_ID + 1): eventfds per peer ID */
	int *by_id;			/* peer ID -> connection, or -1 */
	int64_t t0, last_progress, last_msg;
	long peak_fds;
	enum outcome outcome;
	char why[160];
};

struct result {
	enum outcome outcome;
	double ms, last_ms, cpu_ms;
	long peak_fds;
	unsigned int connected, joined, complete;
	unsigned long long missing;	/* peer eventfds that never came */
	int exit_status;
	char why[160];
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The first failure ends the storm; later ones would only follow from it. */
static void storm_fail(struct storm *s, enum outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void storm_fail(struct storm *s, enum outcome o, const char *fmt, ...)
{
	va_list ap;

	if (s->outcome != DONE)
		return;
	s->outcome = o;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static long count_fds(pid_t pid)
{
	char path[64];
	struct dirent *d;
	long n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static ssize_t read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * CPU time of @pid in milliseconds, or -1: the nanoseconds on CPU of each
 * of its threads (/proc/PID/task/TID/schedstat), else utime + stime of
 * /proc/PID/stat, which counts in ticks (10 ms) and so reads 0 for a short
 * storm.
 */
static double cpu_ms(pid_t pid)
{
	unsigned long utime, stime;
	unsigned long long sum = 0;
	char path[320], buf[1024], *p, *end;
	struct dirent *d;
	bool ok = false;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, d->d_name);
		ok = read_text(path, buf, sizeof(buf)) > 0;
		if (ok) {
			sum += strtoull(buf, &end, 10);
			ok = end != buf;
		}
		if (!ok)
			break;
	}
	if (dir)
		closedir(dir);
	if (ok)
		return (double)sum / 1e6;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	/*
	 * The command name may hold anything; after its last ')': state ppid
	 * pgrp session tty tpgid flags minflt cminflt majflt cmajflt, then
	 * utime and stime.
	 */
	p = strrchr(buf, ')');
	for (int field = 0; p && field < 12; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	utime = strtoul(p + 1, &p, 10);
	stime = strtoul(p, NULL, 10);
	return (double)(utime + stime) * 1000 / (double)sysconf(_SC_CLK_TCK);
}

/* Raise our own descriptor limit to @need, the hard one too if allowed. */
static void raise_nofile(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Start server @which in @s->dir; it dies with us, and after 120 s at the latest. */
static void server_start(struct storm *s, int which)
{
	char vectors[16], log[112];
	pid_t parent = getpid();

	snprintf(vectors, sizeof(vectors), "%u", s->vectors);
	snprintf(log, sizeof(log), "%s/server.log", s->dir);
	s->server = fork();
	ASSERT_GE(s->server, 0);
	if (s->server == 0) {
		struct rlimit rl = { SERVER_FDS, SERVER_FDS };
		int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		alarm(120);	/* kept across execve() */
		/* The same limit for both; fall back to the hard one unprivileged. */
		if (setrlimit(RLIMIT_NOFILE, &rl) && !getrlimit(RLIMIT_NOFILE, &rl)) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		dup2(null, 0);
		dup2(out, 1);
		dup2(out, 2);
		execl(server_path[which], server_path[which], "-F", "-S", s->sock, "-m", s->dir,
		      "-l", "1M", "-n", vectors, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(s->sock, F_OK); i++)
		usleep(10000);
	ASSERT_EQ(access(s->sock, F_OK), 0);
}

/* The server's exit status once it has stopped (SIGTERM, then SIGKILL). */
static int server_stop(struct storm *s)
{
	int status = 0;

	kill(s->server, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(s->server, &status, WNOHANG) == s->server)
			return status;
		usleep(10000);
	}
	kill(s->server, SIGKILL);
	waitpid(s->server, &status, 0);
	return status;
}

/* Has the server died?  Describes how in @s if so. */
static bool server_died(struct storm *s, int wait_ms)
{
	int status;

	for (int i = 0; i <= wait_ms; i += 10) {
		if (waitpid(s->server, &status, WNOHANG) == s->server) {
			if (WIFSIGNALED(status))
				storm_fail(s, CRASHED, "killed by signal %d (%s)", WTERMSIG(status),
					   strsignal(WTERMSIG(status)));
			else
				storm_fail(s, CRASHED, "exited with status %d",
					   WEXITSTATUS(status));
			s->server = -1;
			return true;
		}
		if (wait_ms)
			usleep(10000);
	}
	return false;
}

static void take_fd(struct storm *s, struct conn *c, int64_t value, int fd)
{
	unsigned int idx = (unsigned int)(c - s->conns);
	uint8_t *count;

	if (value == c->id) {
		if (c->own == s->vectors) {
			storm_fail(s, BROKEN, "peer %d: more than %u own eventfds", c->id,
				   s->vectors);
			close(fd);
			return;
		}
		c->own_fd[c->own++] = fd;
		if (c->own == s->vectors)
			s->joined++;
		return;
	}
	if (value < 0 || value > MAX_ID) {
		storm_fail(s, BROKEN, "peer %d: eventfd for peer ID %" PRId64, c->id, value);
		close(fd);
		return;
	}
	count = &s->counts[(size_t)idx * (MAX_ID + 1) + (size_t)value];
	if (*count == s->vectors) {
		storm_fail(s, BROKEN, "peer %d: more than %u eventfds of peer %" PRId64, c->id,
			   s->vectors, value);
		close(fd);
		return;
	}
	if (c->kept && c->nkept < (s->n - 1) * s->vectors)
		c->kept[c->nkept++] = (struct kept){ (int)value, *count, fd };
	else
		close(fd);
	(*count)++;
	c->peer_fds++;
	s->peer_fds++;
}

/* One whole message for @c: its number and the descriptor it carried, or -1. */
static void take_msg(struct storm *s, struct conn *c, int64_t value, int fd)
{
	struct stat st;

	switch (c->msgs++) {
	case 0:
		if (value != 0 || fd >= 0)
			storm_fail(s, BROKEN, "protocol version %" PRId64 "%s", value,
				   fd >= 0 ? " with an fd" : "");
		break;
	case 1:
		if (value < 0 || value > MAX_ID || fd >= 0 || s->by_id[value] >= 0) {
			storm_fail(s, BROKEN, "own ID %" PRId64 " invalid, taken or with an fd",
				   value);
			break;
		}
		c->id = (int)value;
		s->by_id[value] = (int)(c - s->conns);
		break;
	case 2:
		if (value != -1 || fd < 0 || fstat(fd, &st) || st.st_size != SHM_SIZE)
			storm_fail(s, BROKEN, "peer %d: no 1 MiB shared memory in message 3", c->id);
		break;
	default:
		if (fd < 0) {
			/* Nobody leaves during a storm. */
			storm_fail(s, BROKEN, "peer %d: told that peer %" PRId64 " left", c->id,
				   value);
			return;
		}
		take_fd(s, c, value, fd);
		if (!c->complete && c->own == s->vectors &&
		    c->peer_fds == (s->n - 1) * s->vectors) {
			c->complete = true;
			s->complete++;
		}
		return;
	}
	if (fd >= 0)
		close(fd);
}

/* The descriptor that came with a message part, or -1; several are an error. */
static int msg_fd(struct storm *s, const struct msghdr *m)
{
	int fd = -1, n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR((struct msghdr *)m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++, n++) {
			int got;

			memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (fd >= 0)
				close(got);
			else
				fd = got;
		}
	}
	if (n > 1 || (m->msg_flags & MSG_CTRUNC)) {
		storm_fail(s, BROKEN, "a message with %d fds%s", n,
			   m->msg_flags & MSG_CTRUNC ? " (truncated)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * Bytes read from @c's stream.  A descriptor travels with the first byte
 * of its message, and a read stops after the message that carried one, so
 * it belongs to the message that holds the last byte read.
 */
static void take_bytes(struct storm *s, struct conn *c, const uint8_t *p, size_t len, int fd)
{
	int64_t le;

	for (size_t i = 0; i < len; i++) {
		c->buf[c->have++] = p[i];
		if (i == len - 1 && fd >= 0) {
			if (c->pending_fd >= 0) {
				storm_fail(s, BROKEN, "peer %d: two fds for one message", c->id);
				close(fd);
			} else {
				c->pending_fd = fd;
			}
		}
		if (c->have < 8)
			continue;
		memcpy(&le, c->buf, 8);
		c->have = 0;
		take_msg(s, c, (int64_t)le64toh((uint64_t)le), c->pending_fd);
		c->pending_fd = -1;
	}
}

/* Read what @c has, a few batches at most so that every peer gets its turn. */
static void conn_read(struct storm *s, struct conn *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl[BATCH];
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	uint64_t data[BATCH];
	int n;

	memset(ctl, 0, sizeof(ctl));
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ &data[i], sizeof(data[i]) };
			mm[i].msg_hdr = (struct msghdr){
				.msg_iov = &iov[i], .msg_iovlen = 1,
				.msg_control = ctl[i].buf, .msg_controllen = sizeof(ctl[i].buf),
			};
		}
		n = recvmmsg(c->fd, mm, BATCH, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				storm_fail(s, DROPPED, "peer %d: %s", c->id, strerror(errno));
			return;
		}
		s->last_progress = s->last_msg = now_ns();
		for (int i = 0; i < n; i++) {
			int fd = msg_fd(s, &mm[i].msg_hdr);

			if (mm[i].msg_len == 0) {
				if (fd >= 0)
					close(fd);
				if (!server_died(s, 200))
					storm_fail(s, DROPPED, "closed the connection of peer %d "
						   "(%u of %u peers connected)", c->id,
						   s->connected, s->n);
				return;
			}
			take_bytes(s, c, (const uint8_t *)&data[i], mm[i].msg_len, fd);
		}
		if (n < BATCH)
			return;
	}
}

/* 1: one more peer connected; 0: the server is not taking any now. */
static int storm_connect(struct storm *s, int ep)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct conn *c = &s->conns[s->connected];
	struct epoll_event ev = { .events = EPOLLIN };
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		storm_fail(s, BROKEN, "socket: %s", strerror(errno));
		return 0;
	}
	memcpy(addr.sun_path, s->sock, sizeof(s->sock));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		/* A full listen backlog, or not listening yet. */
		if (errno != EAGAIN && errno != ECONNREFUSED)
			storm_fail(s, BROKEN, "connect: %s", strerror(errno));
		close(fd);
		return 0;
	}
	c->fd = fd;
	ev.data.u32 = s->connected++;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		storm_fail(s, BROKEN, "epoll_ctl: %s", strerror(errno));
	s->last_progress = now_ns();
	return 1;
}

static void sample_fds(struct storm *s)
{
	long n = count_fds(s->server);

	if (n > s->peak_fds)
		s->peak_fds = n;
}

/* Nothing came for a while: name the first peer still missing something. */
static void storm_stalled(struct storm *s)
{
	for (unsigned int i = 0; i < s->connected; i++) {
		const struct conn *c = &s->conns[i];

		if (c->complete)
			continue;
		storm_fail(s, STALLED, "nothing came for %.0f s; peer %d has %u of %u own "
			   "eventfds and %u of %u of the others", (double)STALL_NS / 1e9, c->id,
			   c->own, s->vectors, c->peer_fds, (s->n - 1) * s->vectors);
		return;
	}
	storm_fail(s, STALLED, "nothing came for %.0f s; %u of %u peers connected",
		   (double)STALL_NS / 1e9, s->connected, s->n);
}

static void storm_loop(struct storm *s, int64_t deadline_ns)
{
	struct epoll_event ev[64];
	int64_t now, last_sample = 0;
	int ep, n, timeout;
	bool backlog_full;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	s->t0 = s->last_progress = now_ns();
	while (s->complete < s->n && s->outcome == DONE) {
		backlog_full = false;
		for (int i = 0; i < CONNECT_BURST && s->connected < s->n; i++) {
			if (!storm_connect(s, ep)) {
				backlog_full = true;
				break;
			}
		}
		/* Wait only when there is no connection to make. */
		timeout = s->connected < s->n ? (backlog_full ? 1 : 0) : 10;
		n = epoll_wait(ep, ev, 64, timeout);
		for (int i = 0; i < n && s->outcome == DONE; i++)
			conn_read(s, &s->conns[ev[i].data.u32]);
		now = now_ns();
		if (now - last_sample >= SAMPLE_NS) {
			last_sample = now;
			sample_fds(s);
			if (server_died(s, 0))
				break;
		}
		if (s->outcome != DONE)
			break;
		if (now - s->t0 > deadline_ns)
			storm_fail(s, TIMED_OUT, "timed out after %.0f s",
				   (double)deadline_ns / 1e9);
		else if (now - s->last_progress > STALL_NS)
			storm_stalled(s);
	}
	close(ep);
}

/* Every peer holds exactly its vectors' eventfds of every other peer. */
static void check_counts(struct storm *s)
{
	for (unsigned int i = 0; i < s->n; i++) {
		for (unsigned int j = 0; j < s->n; j++) {
			uint8_t got;

			if (i == j)
				continue;
			got = s->counts[(size_t)i * (MAX_ID + 1) + (size_t)s->conns[j].id];
			if (got != s->vectors) {
				storm_fail(s, BROKEN, "peer %d has %u eventfds of peer %d, not %u",
					   s->conns[i].id, got, s->conns[j].id, s->vectors);
				return;
			}
		}
	}
}

/* @c rings every peer on every vector; exactly that vector must fire. */
static void check_rings(struct storm *s, const struct conn *c)
{
	const uint64_t one = 1;
	struct pollfd pfd[MAX_VECTORS];
	uint64_t val;

	for (unsigned int k = 0; k < c->nkept; k++) {
		const struct kept *e = &c->kept[k];
		const struct conn *to = &s->conns[s->by_id[e->id]];

		if (write(e->fd, &one, sizeof(one)) != sizeof(one)) {
			storm_fail(s, BROKEN, "peer %d: ring %d/%u: %s", c->id, e->id, e->vector,
				   strerror(errno));
			return;
		}
		for (unsigned int v = 0; v < s->vectors; v++)
			pfd[v] = (struct pollfd){ .fd = to->own_fd[v], .events = POLLIN };
		poll(pfd, s->vectors, 1000);
		for (unsigned int v = 0; v < s->vectors; v++) {
			bool want = v == e->vector;

			if (!!(pfd[v].revents & POLLIN) != want) {
				storm_fail(s, BROKEN, "peer %d rang peer %d on vector %u: vector %u "
					   "%s", c->id, e->id, e->vector, v,
					   want ? "stayed quiet" : "fired");
				return;
			}
		}
		if (read(to->own_fd[e->vector], &val, sizeof(val)) != sizeof(val) || val != 1) {
			storm_fail(s, BROKEN, "peer %d: ring %d/%u: wrong count", c->id, e->id,
				   e->vector);
			return;
		}
	}
}

static void storm_free(struct storm *s)
{
	for (unsigned int i = 0; i < s->n; i++) {
		struct conn *c = &s->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		for (unsigned int v = 0; v < c->own; v++)
			close(c->own_fd[v]);
		for (unsigned int k = 0; k < c->nkept; k++)
			close(c->kept[k].fd);
		if (c->pending_fd >= 0)
			close(c->pending_fd);
		free(c->kept);
	}
	free(s->conns);
	free(s->counts);
	free(s->by_id);
}

/* The last lines the server logged, for a storm that went wrong. */
static void log_tail(const struct storm *s, int which)
{
	char line[3][256], log[112];
	unsigned int n = 0;
	FILE *f;

	snprintf(log, sizeof(log), "%s/server.log", s->dir);
	f = fopen(log, "r");
	if (!f)
		return;
	while (fgets(line[n % 3], sizeof(line[0]), f))
		n++;
	fclose(f);
	for (unsigned int i = n > 3 ? n - 3 : 0; i < n; i++)
		printf("# %s server: %s", server_name[which], line[i % 3]);
}

/* One storm of @n peers with @vectors on server @which. */
static void storm_run(int which, unsigned int n, unsigned int vectors, struct result *r)
{
	const char *base = getenv("TMPDIR"), *limit = getenv("JOIN_STORM_TIMEOUT");
	long seconds = limit ? strtol(limit, NULL, 10) : 0;
	int64_t deadline = (seconds > 0 ? seconds : 30) * 1000000000LL;
	struct storm s = { .n = n, .vectors = vectors, .outcome = DONE };
	double cpu0, cpu1;

	snprintf(s.dir, sizeof(s.dir), "%s/storm.XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(s.dir));
	snprintf(s.sock, sizeof(s.sock), "%s/sock", s.dir);
	s.conns = calloc(n, sizeof(*s.conns));
	s.counts = calloc(n, MAX_ID + 1);	/* untouched pages cost nothing */
	s.by_id = malloc((MAX_ID + 1) * sizeof(int));
	ASSERT_TRUE(s.conns && s.counts && s.by_id);
	memset(s.by_id, 0xff, (MAX_ID + 1) * sizeof(int));
	for (unsigned int i = 0; i < n; i++) {
		s.conns[i].fd = s.conns[i].id = s.conns[i].pending_fd = -1;
		if (i == 0 || i == n - 1) {
			s.conns[i].kept = calloc((size_t)(n - 1) * vectors, sizeof(struct kept));
			ASSERT_TRUE(s.conns[i].kept);
		}
	}
	/* Sockets, own eventfds and the two peers' kept ones, with room. */
	raise_nofile((rlim_t)n * (3 * vectors + 1) + 256);

	server_start(&s, which);
	cpu0 = cpu_ms(s.server);
	storm_loop(&s, deadline);
	r->ms = (double)(now_ns() - s.t0) / 1e6;
	r->last_ms = s.last_msg ? (double)(s.last_msg - s.t0) / 1e6 : 0;
	r->exit_status = -1;
	r->cpu_ms = -1;		/* unknown once the server died */
	if (s.server > 0) {
		sample_fds(&s);
		cpu1 = cpu_ms(s.server);
		r->cpu_ms = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	}
	if (s.outcome == DONE)
		check_counts(&s);
	if (s.outcome == DONE)
		check_rings(&s, &s.conns[0]);
	if (s.outcome == DONE)
		check_rings(&s, &s.conns[n - 1]);
	if (s.server > 0)
		r->exit_status = server_stop(&s);
	r->outcome = s.outcome;
	r->peak_fds = s.peak_fds;
	r->joined = s.joined;
	r->complete = s.complete;
	r->connected = s.connected;
	r->missing = (unsigned long long)s.connected * (n - 1) * vectors - s.peer_fds;
	snprintf(r->why, sizeof(r->why), "%s", s.why);
	if (s.outcome != DONE)
		log_tail(&s, which);
	storm_free(&s);
	if (tmpdir_remove_tree(s.dir))
		TH_LOG("could not remove %s", s.dir);
}

static void describe(char *buf, size_t len, const struct result *r, unsigned int n)
{
	const char *what = r->outcome == TIMED_OUT ? "" : "could not cope: ";

	if (r->outcome == DONE)
		snprintf(buf, len, "%.1f ms", r->ms);
	else
		snprintf(buf, len, "%s%s (%u of %u peers connected, %u joined, %u complete, "
			 "%llu peer eventfds missing, the last message after %.0f ms)", what,
			 r->why, r->connected, n, r->joined, r->complete, r->missing, r->last_ms);
}

static void ratio(char *buf, size_t len, double ours, double qemu)
{
	if (ours >= 0 && qemu > 0)
		snprintf(buf, len, "%.2f", ours / qemu);
	else
		snprintf(buf, len, "n/a");
}

static void cpu_text(char *buf, size_t len, double ms)
{
	if (ms >= 0)
		snprintf(buf, len, "%.1f ms", ms);
	else
		snprintf(buf, len, "n/a");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/*
 * Both servers, @runs times each in alternating order, medians printed.
 * A server's first failure is its result; it is not run again.
 */
static void storm_pair(unsigned int n, unsigned int vectors, int runs)
{
	double ms[2][5], cpu[2][5];
	struct result r[2], one;
	char a[400], b[400], q[32], ca[32], cb[32];
	int done[2] = { 0, 0 };

	memset(r, 0, sizeof(r));
	for (int run = 0; run < runs; run++) {
		for (int i = 0; i < 2; i++) {
			int which = (run + (int)vectors / 8) % 2 ? 1 - i : i;

			if (r[which].outcome != DONE)
				continue;
			memset(&one, 0, sizeof(one));
			storm_run(which, n, vectors, &one);
			if (one.peak_fds < r[which].peak_fds)
				one.peak_fds = r[which].peak_fds;
			r[which] = one;
			if (one.outcome == DONE) {
				ms[which][done[which]] = one.ms;
				cpu[which][done[which]++] = one.cpu_ms;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (r[i].outcome == DONE && done[i]) {
			r[i].ms = median(ms[i], done[i]);
			r[i].cpu_ms = median(cpu[i], done[i]);
		}
	}
	describe(a, sizeof(a), &r[0], n);
	describe(b, sizeof(b), &r[1], n);
	if (r[0].outcome == DONE && r[1].outcome == DONE)
		ratio(q, sizeof(q), r[0].ms, r[1].ms);
	else
		snprintf(q, sizeof(q), "n/a");
	printf("# bench: join-storm N=%u vectors=%u (%u peer eventfds, median of %d): ours %s, "
	       "qemu %s, ratio ours/qemu %s\n", n, vectors, n * (n - 1) * vectors, runs, a, b, q);
	ratio(q, sizeof(q), r[0].cpu_ms, r[1].cpu_ms);
	cpu_text(ca, sizeof(ca), r[0].cpu_ms);
	cpu_text(cb, sizeof(cb), r[1].cpu_ms);
	printf("# bench: join-storm N=%u vectors=%u: server peak fds ours %ld, qemu %ld; "
	       "server CPU ours %s, qemu %s, ratio ours/qemu %s\n", n, vectors,
	       r[0].peak_fds, r[1].peak_fds, ca, cb, q);

	/*
	 * Only our server is under test, and not for speed: running out of
	 * time while eventfds still flow is a number, not a failure.
	 */
	if (r[0].outcome == TIMED_OUT)
		return;
	if (r[0].outcome != DONE)
		TH_LOG("our server, N=%u vectors=%u: %s", n, vectors, a);
	EXPECT_EQ(r[0].outcome, DONE);
	EXPECT_EQ(r[0].complete, n);
	EXPECT_TRUE(WIFEXITED(r[0].exit_status) && WEXITSTATUS(r[0].exit_status) == 0);
}

TEST_TIMEOUT(join_storm_n50_v1, 60)
{
	storm_pair(50, 1, 5);
}

TEST_TIMEOUT(join_storm_n50_v8, 60)
{
	storm_pair(50, 8, 5);
}

TEST_TIMEOUT(join_storm_n200_v1, 60)
{
	storm_pair(200, 1, 3);
}

TEST_TIMEOUT(join_storm_n200_v8, 60)
{
	storm_pair(200, 8, 3);
}

TEST_TIMEOUT(join_storm_n500_v1, 90)
{
	storm_pair(500, 1, 1);
}

TEST_TIMEOUT(join_storm_n500_v8, 120)
{
	storm_pair(500, 8, 1);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: join_storm OUR-ivshmem-server QEMU-ivshmem-server\n");
		return 2;
	}
	server_path[0] = argv[1];
	server_path[1] = argv[2];
	signal(SIGPIPE, SIG_IGN);
	return harness_main_in_tmpdir("join-storm", argv);
}
