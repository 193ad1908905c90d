// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem as a host peer of a real ivshmem-server (and of scripted fake
 * servers), ivshmem-ctl --server, and the library's error paths that need
 * no guest.  Runs under valgrind and, built again, under ASan and UBSan.
 *
 * Every server and ivshmem-ctl started here lives in a private temporary
 * directory, dies with the test (PR_SET_PDEATHSIG) and has a deadline.
 *
 * usage: lib_host_test PATH-TO-ivshmem-server PATH-TO-ivshmem-ctl
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <netlink/errno.h>

#include "libivshmem.h"
#include "server-proto.h"
#include "lib/harness.h"
#include "lib/json.h"
#include "lib/tmpdir.h"

/* lib/netlink.c, hidden from the shared library but in the static one. */
int ivshmem_nl_errno(int nl_error);

static const char *server_path, *ctl_path;

/* A private temporary directory; removed with what is in it. */
static void tmpdir_make(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, len, "%s/ivs-libtest.XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(dir));
}

static void tmpdir_remove(const char *dir)
{
	if (tmpdir_remove_tree(dir))
		TH_LOG("could not remove %s", dir);
}

/* In a child: die with the parent, and after @timeout_s at the latest. */
static void child_limits(pid_t parent, unsigned int timeout_s)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	alarm(timeout_s);	/* kept across execve(): SIGALRM ends the program */
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct server {
	pid_t pid;
	char dir[64], sock[96], mem[96];
};

/* An ivshmem-server with 1 MiB in a file, 2 vectors, plus @extra options. */
static void server_start(struct server *s, const char *const *extra)
{
	const char *argv[24] = {
		server_path, "-F", "-S", s->sock, "-m", s->mem, "-l", "1M", "-n", "2",
	};
	pid_t parent = getpid();
	int argc = 10;

	tmpdir_make(s->dir, sizeof(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->mem, sizeof(s->mem), "%s/mem", s->dir);
	for (; extra && *extra && argc < 23; extra++)
		argv[argc++] = *extra;
	s->pid = fork();
	ASSERT_TRUE(s->pid >= 0);
	if (s->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		child_limits(parent, 120);
		dup2(null, 2);
		execv(server_path, (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(s->sock, F_OK); i++)
		usleep(10000);
	ASSERT_EQ(access(s->sock, F_OK), 0);
}

static void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	tmpdir_remove(s->dir);
}

static struct ivshmem_server_opts *opts_vectors(int vectors, int timeout_ms)
{
	struct ivshmem_server_opts *opts;

	ASSERT_EQ(ivshmem_server_opts_new(&opts), 0);
	if (vectors >= 0)
		ASSERT_EQ(ivshmem_server_opts_set_vectors(opts, (unsigned int)vectors), 0);
	if (timeout_ms)
		ASSERT_EQ(ivshmem_server_opts_set_timeout(opts, timeout_ms), 0);
	return opts;
}

/* Join with the 2 vectors stated; the peer ID, checked if @expect_id >= 0. */
static int join(struct server *s, struct ivshmem **dev, int expect_id)
{
	struct ivshmem_server_opts *opts = opts_vectors(2, 0);
	struct ivshmem_dev_info *info;
	int id;

	ASSERT_EQ(ivshmem_open_server(s->sock, opts, dev), 0);
	ivshmem_server_opts_free(opts);
	ASSERT_EQ(ivshmem_get_info(*dev, &info), 0);
	id = ivshmem_dev_info_get_peer_id(info);
	if (expect_id >= 0)
		EXPECT_EQ(id, expect_id);
	EXPECT_EQ(ivshmem_dev_info_get_vectors(info), 2);
	EXPECT_EQ(ivshmem_dev_info_get_size(info), 1 << 20);
	EXPECT_EQ(ivshmem_dev_info_get_irq_mode(info), IVSHMEM_IRQ_HOST_EVENTFD);
	EXPECT_TRUE(ivshmem_dev_info_is_host_peer(info) && ivshmem_dev_info_is_ready(info) &&
		    ivshmem_dev_info_has_doorbell(info));
	EXPECT_EQ(ivshmem_dev_info_get_index(info), -1);
	ivshmem_dev_info_free(info);
	return id;
}

static void expect_gone(struct ivshmem *dev)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 };
	struct ivshmem_dev_info *info;

	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	EXPECT_TRUE(!ivshmem_dev_info_is_ready(info));
	EXPECT_EQ(ivshmem_dev_info_get_peer_id(info), -1);
	ivshmem_dev_info_free(info);
	EXPECT_EQ(ivshmem_ring(dev, 0, 0), -ECONNRESET);
	EXPECT_EQ(ivshmem_wait(dev, set, 100), -ECONNRESET);
	EXPECT_EQ(ivshmem_wait_ready(dev, 100), -ECONNRESET);
	EXPECT_EQ(ivshmem_vector_fd(dev, 0), -ECONNRESET);
}

TEST(host_peers_ring_each_other)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 << 1 }, count;
	struct ivshmem *a, *b;
	struct server s;
	int efd, ida, idb;

	server_start(&s, NULL);
	ida = join(&s, &a, -1);
	idb = join(&s, &b, -1);
	EXPECT_NE(ida, idb);
	/* a learns of b from the server's notification, taken in by info. */
	ASSERT_EQ(ivshmem_read_peer_event(a, &(unsigned int){ 0 }, 5000), IVSHMEM_PEER_JOINED);
	ASSERT_EQ(ivshmem_ring(a, (unsigned int)idb, 1), 0);
	ASSERT_EQ(ivshmem_wait(b, set, 5000), 0);
	EXPECT_EQ(set[0], 1 << 1);

	efd = ivshmem_vector_fd(a, 0);
	ASSERT_GE(efd, 0);
	ASSERT_EQ(ivshmem_ring(b, (unsigned int)ida, 0), 0);
	ASSERT_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	EXPECT_EQ(count, 1);
	/* Ringing oneself works too. */
	set[0] = 1;
	ASSERT_EQ(ivshmem_ring(b, (unsigned int)idb, 0), 0);
	ASSERT_EQ(ivshmem_wait(b, set, 5000), 0);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

TEST(peer_events_follow_the_server)
{
	struct ivshmem *a, *b, *c;
	struct pollfd pfd;
	unsigned int peer;
	struct server s;
	int idb, idc;

	server_start(&s, NULL);
	join(&s, &a, -1);
	pfd = (struct pollfd){ .fd = ivshmem_peer_fd(a), .events = POLLIN };
	ASSERT_GE(pfd.fd, 0);
	EXPECT_EQ(ivshmem_peer_fd(a), pfd.fd);
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	EXPECT_EQ(ivshmem_read_peer_event(a, &peer, 0), -ETIMEDOUT);

	idb = join(&s, &b, -1);
	ASSERT_EQ(poll(&pfd, 1, 5000), 1);
	ASSERT_EQ(ivshmem_read_peer_event(a, &peer, 0), IVSHMEM_PEER_JOINED);
	EXPECT_EQ(peer, idb);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)idb, 1), 0);
	ivshmem_close(b);
	ASSERT_EQ(ivshmem_read_peer_event(a, &peer, 5000), IVSHMEM_PEER_LEFT);
	EXPECT_EQ(peer, idb);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)idb, 1), -ENXIO);
	EXPECT_EQ(ivshmem_read_peer_event(a, &peer, 0), -ETIMEDOUT);

	/* ivshmem_wait() takes the join in; the fd still says an event waits. */
	idc = join(&s, &c, -1);
	usleep(100000);
	ASSERT_EQ(ivshmem_wait(a, (uint64_t[IVSHMEM_VECTOR_WORDS]){ 1 }, 200), -ETIMEDOUT);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)idc, 0), 0);
	EXPECT_EQ(poll(&pfd, 1, 0), 1);
	ASSERT_EQ(ivshmem_read_peer_event(a, &peer, 0), IVSHMEM_PEER_JOINED);
	EXPECT_EQ(peer, idc);
	EXPECT_EQ(poll(&pfd, 1, 0), 0);

	/* The server dies: one DISCONNECTED, then nothing more to poll for. */
	kill(s.pid, SIGKILL);
	ASSERT_EQ(poll(&pfd, 1, 5000), 1);
	ASSERT_EQ(ivshmem_read_peer_event(a, &peer, 0), IVSHMEM_PEER_DISCONNECTED);
	EXPECT_EQ(ivshmem_read_peer_event(a, &peer, 0), -ECONNRESET);
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	expect_gone(a);
	EXPECT_TRUE(!strcmp(ivshmem_peer_event_name(IVSHMEM_PEER_LEFT), "left"));
	ivshmem_close(a);
	ivshmem_close(c);
	server_stop(&s);
}

struct waiter {
	struct ivshmem *dev;
	unsigned int vector;
	int woken;
};

static void *wait_often(void *arg)
{
	struct waiter *w = arg;
	uint64_t set[IVSHMEM_VECTOR_WORDS];

	for (int i = 0; i < 200; i++) {
		memset(set, 0, sizeof(set));
		set[0] = 1ULL << w->vector;
		if (ivshmem_wait(w->dev, set, 5000) || set[0] != 1ULL << w->vector)
			break;
		w->woken++;
	}
	return NULL;
}

/* Sets that change, and threads waiting for different vectors of one handle. */
TEST(waits_for_changing_sets_and_from_threads)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 };
	struct waiter w[2];
	struct ivshmem *a;
	pthread_t t[2];
	struct server s;
	int id;

	server_start(&s, NULL);
	id = join(&s, &a, -1);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(ivshmem_ring(a, (unsigned int)id, 0), 0);
		set[0] = 1;
		ASSERT_EQ(ivshmem_wait(a, set, 5000), 0);
		EXPECT_EQ(set[0], 1);
	}
	/* Another set after the same one twice: vector 0 must not satisfy it. */
	ASSERT_EQ(ivshmem_ring(a, (unsigned int)id, 0), 0);
	set[0] = 2;
	EXPECT_EQ(ivshmem_wait(a, set, 100), -ETIMEDOUT);
	set[0] = 3;
	ASSERT_EQ(ivshmem_wait(a, set, 5000), 0);
	EXPECT_EQ(set[0], 1);

	for (unsigned int i = 0; i < 2; i++) {
		w[i] = (struct waiter){ .dev = a, .vector = i };
		ASSERT_EQ(pthread_create(&t[i], NULL, wait_often, &w[i]), 0);
	}
	for (int i = 0; i < 2000 && (w[0].woken < 200 || w[1].woken < 200); i++) {
		ivshmem_ring(a, (unsigned int)id, 0);
		ivshmem_ring(a, (unsigned int)id, 1);
		usleep(1000);
	}
	for (unsigned int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(w[0].woken, 200);
	EXPECT_EQ(w[1].woken, 200);
	ivshmem_close(a);
	server_stop(&s);
}

/* A peer waiting when the server dies hears of it at once. */
TEST(server_death_ends_wait_ring_and_info)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 };
	struct ivshmem *a;
	struct server s;
	int64_t t0;
	pid_t killer, me = getpid();

	server_start(&s, NULL);
	join(&s, &a, 0);
	killer = fork();
	if (killer == 0) {
		child_limits(me, 10);
		usleep(100000);
		kill(s.pid, SIGKILL);
		_exit(0);
	}
	t0 = now_us();
	EXPECT_EQ(ivshmem_wait(a, set, 5000), -ECONNRESET);
	EXPECT_TRUE(now_us() - t0 < 3000000);
	waitpid(killer, NULL, 0);
	expect_gone(a);
	ivshmem_close(a);
	server_stop(&s);
}

/*
 * A scripted server on a socket in @dir: version 0, ID @id, 1 MiB of shm,
 * @vectors own eventfds, then it holds the connection for @hold_ms and
 * closes it.
 */
static pid_t fake_server(const char *sock, int id, int vectors, int hold_ms,
			 const int64_t *first, size_t nfirst)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	pid_t parent = getpid(), pid;
	int lsock, c, fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(bind(lsock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ASSERT_EQ(listen(lsock, 4), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		child_limits(parent, 30);
		c = accept(lsock, NULL, NULL);
		for (size_t i = 0; i < nfirst; i++)
			ivshmem_proto_send(c, first[i], -1);
		if (!nfirst) {
			ivshmem_proto_send(c, 0, -1);
			ivshmem_proto_send(c, id, -1);
			fd = memfd_create("fake", 0);
			if (ftruncate(fd, 1 << 20))
				_exit(1);
			ivshmem_proto_send(c, -1, fd);
			for (int v = 0; v < vectors; v++)
				ivshmem_proto_send(c, id, eventfd(0, 0));
		}
		usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	close(lsock);
	return pid;
}

/* Dropped by the server: no longer ready, and rings go nowhere. */
TEST(dropped_peer_knows_it)
{
	struct ivshmem *a;
	unsigned int peer;
	char dir[64], sock[96];
	pid_t pid;

	tmpdir_make(dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	pid = fake_server(sock, 3, 2, 300, NULL, 0);
	ASSERT_EQ(ivshmem_open_server(sock, NULL, &a), 0);
	EXPECT_EQ(ivshmem_ring(a, 3, 1), 0);
	ASSERT_EQ(ivshmem_read_peer_event(a, &peer, 5000), IVSHMEM_PEER_DISCONNECTED);
	EXPECT_EQ(peer, 3);
	EXPECT_EQ(ivshmem_ring(a, 3, 1), -ECONNRESET);
	expect_gone(a);
	ivshmem_close(a);
	waitpid(pid, NULL, 0);
	tmpdir_remove(dir);
}

/* QEMU's server accepts -n 0; ours does not, so a scripted one stands in. */
TEST(server_without_vectors_can_be_joined)
{
	struct ivshmem_server_opts *opts = opts_vectors(0, 0);
	struct ivshmem_dev_info *info;
	int64_t t0, detected, stated;
	char dir[64], sock[96];
	struct ivshmem *a;
	pid_t pid;

	tmpdir_make(dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	pid = fake_server(sock, 5, 0, 3000, NULL, 0);
	t0 = now_us();
	ASSERT_EQ(ivshmem_open_server(sock, NULL, &a), 0);
	detected = now_us() - t0;
	ASSERT_EQ(ivshmem_get_info(a, &info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_vectors(info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_peer_id(info), 5);
	EXPECT_TRUE(ivshmem_dev_info_is_ready(info));
	ivshmem_dev_info_free(info);
	EXPECT_EQ(ivshmem_wait(a, (uint64_t[IVSHMEM_VECTOR_WORDS]){ 1 }, 0), -EINVAL);
	ivshmem_close(a);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(sock);

	/* Stated, joining takes no time at all. */
	pid = fake_server(sock, 6, 0, 3000, NULL, 0);
	t0 = now_us();
	ASSERT_EQ(ivshmem_open_server(sock, opts, &a), 0);
	stated = now_us() - t0;
	TH_LOG("joined with 0 vectors detected in %lld us, stated in %lld us",
	       (long long)detected, (long long)stated);
	/* Both wait for the server; only detection waits for its silence. */
	EXPECT_TRUE(stated + 100000 < detected);
	ivshmem_close(a);
	ivshmem_server_opts_free(opts);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tmpdir_remove(dir);
}

TEST(stated_vectors_join_fast)
{
	struct ivshmem_server_opts *opts;
	struct ivshmem_dev_info *info;
	struct ivshmem *a, *b;
	struct server s;
	int64_t t0, took;

	server_start(&s, NULL);
	join(&s, &a, -1);
	opts = opts_vectors(2, 0);
	t0 = now_us();
	ASSERT_EQ(ivshmem_open_server(s.sock, opts, &b), 0);
	took = now_us() - t0;
	TH_LOG("joined with 2 vectors stated in %lld us", (long long)took);
	/* 10 ms is the goal; valgrind gets room. */
	EXPECT_TRUE(took < 150000);
	ivshmem_close(b);
	ivshmem_server_opts_free(opts);

	/* Fewer than the server's: the rest are closed unused, as QEMU does. */
	opts = opts_vectors(1, 0);
	ASSERT_EQ(ivshmem_open_server(s.sock, opts, &b), 0);
	ASSERT_EQ(ivshmem_get_info(b, &info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_vectors(info), 1);
	ivshmem_dev_info_free(info);
	ivshmem_close(b);
	ivshmem_server_opts_free(opts);

	/* More than the server's: they never come. */
	opts = opts_vectors(3, 300);
	t0 = now_us();
	EXPECT_EQ(ivshmem_open_server(s.sock, opts, &b), -ETIMEDOUT);
	EXPECT_TRUE(now_us() - t0 < 2000000);
	ivshmem_server_opts_free(opts);

	/* Detected, as without options. */
	ASSERT_EQ(ivshmem_open_server(s.sock, NULL, &b), 0);
	ASSERT_EQ(ivshmem_get_info(b, &info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_vectors(info), 2);
	ivshmem_dev_info_free(info);
	ivshmem_close(b);
	ivshmem_close(a);
	server_stop(&s);
}

TEST(options_are_checked)
{
	struct ivshmem_server_opts *opts;

	ASSERT_EQ(ivshmem_server_opts_new(&opts), 0);
	EXPECT_EQ(ivshmem_server_opts_set_vectors(opts, IVSHMEM_MAX_VECTORS), 0);
	EXPECT_EQ(ivshmem_server_opts_set_vectors(opts, IVSHMEM_MAX_VECTORS + 1), -EINVAL);
	EXPECT_EQ(ivshmem_server_opts_set_timeout(opts, -1), 0);
	EXPECT_EQ(ivshmem_server_opts_set_timeout(opts, 0), -EINVAL);
	EXPECT_EQ(ivshmem_server_opts_set_timeout(opts, -2), -EINVAL);
	ivshmem_server_opts_free(opts);
	ivshmem_server_opts_free(NULL);
}

/* A listener that never accepts, with its backlog full. */
static int full_listener(const char *sock, int *fillers, int *nfillers)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lsock, c;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(bind(lsock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ASSERT_EQ(listen(lsock, 0), 0);
	for (*nfillers = 0; *nfillers < 8; (*nfillers)++) {
		c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (connect(c, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			close(c);
			break;
		}
		fillers[*nfillers] = c;
	}
	ASSERT_TRUE(*nfillers < 8);
	return lsock;
}

TEST_TIMEOUT(connect_honours_the_timeout, 60)
{
	struct ivshmem_server_opts *opts = opts_vectors(-1, 300);
	char dir[64], sock[96];
	int lsock, fillers[8], n;
	struct ivshmem *a;
	int64_t t0;

	tmpdir_make(dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	lsock = full_listener(sock, fillers, &n);
	t0 = now_us();
	EXPECT_EQ(ivshmem_open_server(sock, opts, &a), -ETIMEDOUT);
	EXPECT_TRUE(now_us() - t0 < 2000000);
	/* The default timeout, 5 s, covers connecting too. */
	t0 = now_us();
	EXPECT_EQ(ivshmem_open_server(sock, NULL, &a), -ETIMEDOUT);
	EXPECT_TRUE(now_us() - t0 < 8000000);
	ivshmem_server_opts_free(opts);
	for (int i = 0; i < n; i++)
		close(fillers[i]);
	close(lsock);
	tmpdir_remove(dir);
}

TEST(shared_memory_is_shared_with_the_file)
{
	struct ivshmem *a, *b;
	char *pa, *pb, buf[6] = { 0 };
	struct server s;
	int fd;

	server_start(&s, NULL);
	join(&s, &a, -1);
	join(&s, &b, -1);
	ASSERT_EQ(ivshmem_map(a, 4096, 4096, PROT_READ | PROT_WRITE, (void **)&pa), 0);
	ASSERT_EQ(ivshmem_map(b, 0, 0, PROT_READ, (void **)&pb), 0);
	memcpy(pa, "hello", 6);
	EXPECT_TRUE(!memcmp(pb + 4096, "hello", 5));
	fd = open(s.mem, O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(pread(fd, buf, 5, 4096), 5);
	EXPECT_TRUE(!strcmp(buf, "hello"));
	close(fd);
	EXPECT_EQ(ivshmem_map(a, 1, 4096, PROT_READ, (void **)&pa), -EINVAL);
	EXPECT_EQ(ivshmem_map(a, 1 << 20, 4096, PROT_READ, (void **)&pa), -EINVAL);
	EXPECT_EQ(ivshmem_unmap(pb, 1 << 20), 0);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

TEST(host_peer_errors)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 };
	struct ivshmem *a;
	struct server s;
	char longpath[200];
	int id;

	server_start(&s, NULL);
	id = join(&s, &a, -1);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)id + 5, 0), -ENXIO);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)id, 2), -ENXIO);
	EXPECT_EQ(ivshmem_ring(a, 0, 256), -EINVAL);
	EXPECT_EQ(ivshmem_ring(a, 70000, 0), -EINVAL);
	EXPECT_EQ(ivshmem_vector_fd(a, 2), -EINVAL);
	EXPECT_EQ(ivshmem_wait(a, set, 0), -EINVAL);
	set[0] = 1 << 2;
	EXPECT_EQ(ivshmem_wait(a, set, 0), -EINVAL);
	set[0] = 1;
	EXPECT_EQ(ivshmem_wait(a, set, 50), -ETIMEDOUT);
	EXPECT_EQ(ivshmem_wait(a, set, -2), -EINVAL);
	EXPECT_EQ(ivshmem_wait_ready(a, 0), 0);
	EXPECT_EQ(ivshmem_read_peer_event(a, &(unsigned int){ 0 }, -2), -EINVAL);
	ivshmem_close(a);
	server_stop(&s);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	EXPECT_EQ(ivshmem_open_server(longpath, NULL, &a), -ENAMETOOLONG);
	EXPECT_EQ(ivshmem_open_server("/nonexistent/sock", NULL, &a), -ENOENT);
}

TEST(full_server_refuses_with_eagain)
{
	static const char *const extra[] = { "--max-clients", "1", NULL };
	struct ivshmem *a, *b;
	struct server s;

	server_start(&s, extra);
	join(&s, &a, -1);
	EXPECT_EQ(ivshmem_open_server(s.sock, NULL, &b), -EAGAIN);
	ivshmem_close(a);
	server_stop(&s);
}

/* A socket that speaks something else: one number the protocol never sends. */
TEST(not_a_server_is_eproto)
{
	static const int64_t bogus[] = { 7 };
	char dir[64], sock[96];
	struct ivshmem *a;
	pid_t pid;

	tmpdir_make(dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	pid = fake_server(sock, 0, 0, 2000, bogus, 1);
	EXPECT_EQ(ivshmem_open_server(sock, NULL, &a), -EPROTO);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	tmpdir_remove(dir);
}

TEST(netlink_needs_the_driver)
{
	struct ivshmem_dev_list *list;
	struct ivshmem_dev_desc *desc;
	struct ivshmem_monitor *mon;

	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);

	if (nl < 0 && errno == EPROTONOSUPPORT)
		SKIP("no generic netlink sockets here (qemu-user translates a few families only)");
	if (nl >= 0)
		close(nl);
	if (!access("/sys/module/ivshmem", F_OK))
		SKIP("the ivshmem driver is loaded here");
	EXPECT_EQ(ivshmem_list(&list), -ENOENT);
	EXPECT_EQ(ivshmem_describe(0, &desc), -ENOENT);
	EXPECT_EQ(ivshmem_monitor_open(&mon), -ENOENT);
	EXPECT_TRUE(!strcmp(ivshmem_irq_mode_name(IVSHMEM_IRQ_MSIX), "msix"));
	EXPECT_TRUE(!strcmp(ivshmem_event_name(IVSHMEM_EVENT_READY), "ready"));
	ivshmem_dev_list_free(NULL);
	ivshmem_dev_desc_free(NULL);
	ivshmem_event_free(NULL);
}

/* libnl's codes keep their meaning; -EIO only where libnl says no more. */
TEST(netlink_errors_map_to_errnos)
{
	static const struct { int nle, err; } table[] = {
		{ NLE_SUCCESS, 0 }, { NLE_INTR, -EINTR }, { NLE_BAD_SOCK, -EBADF },
		{ NLE_AGAIN, -EAGAIN }, { NLE_NOMEM, -ENOMEM }, { NLE_EXIST, -EEXIST },
		{ NLE_INVAL, -EINVAL }, { NLE_RANGE, -ERANGE }, { NLE_MSGSIZE, -EMSGSIZE },
		{ NLE_OPNOTSUPP, -EOPNOTSUPP }, { NLE_AF_NOSUPPORT, -EAFNOSUPPORT },
		{ NLE_OBJ_NOTFOUND, -ENOENT }, { NLE_BUSY, -EBUSY }, { NLE_NOACCESS, -EACCES },
		{ NLE_PERM, -EPERM }, { NLE_NODEV, -ENODEV }, { NLE_SEQ_MISMATCH, -EPROTO },
		{ NLE_MSG_TOOSHORT, -EPROTO }, { NLE_PROTO_MISMATCH, -EPROTONOSUPPORT },
		{ NLE_DUMP_INTR, -EAGAIN }, { NLE_FAILURE, -EIO }, { NLE_MAX + 1, -EIO },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		EXPECT_EQ(ivshmem_nl_errno(-table[i].nle), table[i].err);
		EXPECT_EQ(ivshmem_nl_errno(table[i].nle), table[i].err);
	}
	/* Every code libnl has but NLE_FAILURE means something more than EIO. */
	for (int nle = NLE_INTR; nle <= NLE_MAX; nle++)
		EXPECT_NE(ivshmem_nl_errno(-nle), -EIO);
}

/* ivshmem-ctl's result: exit status (-1 if killed), stdout and stderr. */
struct ctl_run {
	int status;
	char out[8192], err[1024];
};

/*
 * Run ivshmem-ctl with the NULL-terminated arguments, stdin from @in_path
 * (or /dev/null) and stdout to @out_path (or captured).  It dies with us,
 * and after 20 s at the latest.
 */
static int ctl_argv(struct ctl_run *r, const char *in_path, const char *out_path,
		    const char *const *args)
{
	const char *argv[32] = { ctl_path };
	int out[2], err[2], status, argc = 1;
	pid_t parent = getpid(), pid;
	size_t got;
	ssize_t n;

	for (; *args && argc < 31; args++)
		argv[argc++] = *args;
	ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
	ASSERT_EQ(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
		int o = out_path ? open(out_path, O_WRONLY) : out[1];

		child_limits(parent, 20);
		if (in < 0 || o < 0)
			_exit(126);
		dup2(in, 0);
		dup2(o, 1);
		dup2(err[1], 2);
		execv(ctl_path, (char **)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	for (got = 0; got + 1 < sizeof(r->out) &&
	     (n = read(out[0], r->out + got, sizeof(r->out) - 1 - got)) > 0;)
		got += (size_t)n;
	r->out[got] = '\0';
	for (got = 0; got + 1 < sizeof(r->err) &&
	     (n = read(err[0], r->err + got, sizeof(r->err) - 1 - got)) > 0;)
		got += (size_t)n;
	r->err[got] = '\0';
	close(out[0]);
	close(err[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	if (r->err[0])
		TH_LOG("ivshmem-ctl %s ...: status %d: %s", argv[1], r->status, r->err);
	return r->status;
}

/* ivshmem-ctl --server SOCK with the space-separated @fmt. */
static int ctl(struct ctl_run *r, const struct server *s, const char *fmt, ...)
{
	const char *argv[32] = { "--server", s->sock };
	char line[512], *save = NULL;
	int argc = 2;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *t = strtok_r(line, " ", &save); t && argc < 31; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	return ctl_argv(r, NULL, NULL, argv);
}

TEST(ctl_as_a_host_peer)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 << 1 };
	static struct ctl_run r;
	struct ivshmem *a;
	struct server s;
	int64_t t0;

	server_start(&s, NULL);
	join(&s, &a, 0);
	ASSERT_EQ(ctl(&r, &s, "--json info"), 0);
	EXPECT_TRUE(strstr(r.out, "\"host_peer\":true"));
	EXPECT_TRUE(strstr(r.out, "\"peer_id\":1,"));
	EXPECT_TRUE(strstr(r.out, "\"size\":1048576,"));
	EXPECT_TRUE(strstr(r.out, "\"irq_mode\":\"host-eventfd\""));

	/* With the vector count given, a command joins at once. */
	t0 = now_us();
	ASSERT_EQ(ctl(&r, &s, "-n 2 info"), 0);
	TH_LOG("ivshmem-ctl -n 2 info took %lld us", (long long)(now_us() - t0));
	EXPECT_TRUE(now_us() - t0 < 150000);
	EXPECT_TRUE(strstr(r.out, "vectors:   2"));
	EXPECT_EQ(ctl(&r, &s, "-n 257 info"), 2);

	ASSERT_EQ(ctl(&r, &s, "-n 2 ring 0 1"), 0);
	ASSERT_EQ(ivshmem_wait(a, set, 5000), 0);
	EXPECT_EQ(ctl(&r, &s, "-n 2 ring 7 0"), 1);

	ASSERT_EQ(ctl(&r, &s, "-n 2 write --fill 0x41 --length 3 100"), 0);
	ASSERT_EQ(ctl(&r, &s, "-n 2 read 100 3"), 0);
	EXPECT_TRUE(!strcmp(r.out, "AAA"));
	ASSERT_EQ(ctl(&r, &s, "-n 2 dump 96 8"), 0);
	EXPECT_TRUE(strstr(r.out, "00000060  00 00 00 00 41 41 41 00"));
	EXPECT_EQ(ctl(&r, &s, "-n 2 wait -t 50 0"), 3);
	EXPECT_EQ(ctl_argv(&r, NULL, NULL,
			   (const char *const[]){ "-s", "/nonexistent", "info", NULL }), 1);
	ivshmem_close(a);
	server_stop(&s);
}

/* Peer 010 is peer 10, never 8; sizes and IDs take no sign, space or junk. */
TEST(ctl_numbers_are_decimal_or_hex)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS];
	struct ivshmem *peers[11];
	static struct ctl_run r;
	struct server s;

	server_start(&s, NULL);
	for (int i = 0; i < 11; i++)
		ASSERT_EQ(join(&s, &peers[i], -1), i);
	ASSERT_EQ(ctl(&r, &s, "-n 2 ring 010 0"), 0);
	memset(set, 0, sizeof(set));
	set[0] = 1;
	EXPECT_EQ(ivshmem_wait(peers[10], set, 5000), 0);
	set[0] = 1;
	EXPECT_EQ(ivshmem_wait(peers[8], set, 0), -ETIMEDOUT);
	ASSERT_EQ(ctl(&r, &s, "-n 0x2 ring 0xA 1"), 0);
	set[0] = 2;
	EXPECT_EQ(ivshmem_wait(peers[10], set, 5000), 0);

	EXPECT_EQ(ctl_argv(&r, NULL, NULL, (const char *const[]){
		"-s", s.sock, "ring", " 1", "0", NULL }), 2);
	EXPECT_EQ(ctl_argv(&r, NULL, NULL, (const char *const[]){
		"-s", s.sock, "ring", "1 ", "0", NULL }), 2);
	EXPECT_EQ(ctl(&r, &s, "ring -1 0"), 2);
	EXPECT_EQ(ctl(&r, &s, "ring +1 0"), 2);
	EXPECT_EQ(ctl(&r, &s, "ring 1x 0"), 2);
	EXPECT_EQ(ctl(&r, &s, "ring 65536 0"), 2);
	EXPECT_EQ(ctl(&r, &s, "ring 0 0x100"), 2);
	EXPECT_EQ(ctl(&r, &s, "wait -t 1e3 0"), 2);
	EXPECT_EQ(ctl(&r, &s, "read 0 4Q"), 2);
	EXPECT_EQ(ctl(&r, &s, "read 0 -4"), 2);
	EXPECT_EQ(ctl(&r, &s, "write -f 256 -l 1 0"), 2);
	/* A size with a suffix, an offset with a leading zero. */
	ASSERT_EQ(ctl(&r, &s, "-n 2 write -f 0x42 -l 1K 010"), 0);
	ASSERT_EQ(ctl(&r, &s, "-n 2 read 10 1"), 0);
	EXPECT_TRUE(!strcmp(r.out, "B"));
	ASSERT_EQ(ctl(&r, &s, "-n 2 read 1033 2"), 0);
	EXPECT_TRUE(!strcmp(r.out, "B"));	/* then a NUL */
	for (int i = 0; i < 11; i++)
		ivshmem_close(peers[i]);
	server_stop(&s);
}

/* What cannot reach stdout is a failure. */
TEST(ctl_fails_when_stdout_does)
{
	static struct ctl_run r;
	struct server s;

	server_start(&s, NULL);
	EXPECT_EQ(ctl_argv(&r, NULL, "/dev/full", (const char *const[]){
		"-s", s.sock, "-n", "2", "info", NULL }), 1);
	EXPECT_EQ(ctl_argv(&r, NULL, "/dev/full", (const char *const[]){
		"-s", s.sock, "-n", "2", "--json", "info", NULL }), 1);
	EXPECT_EQ(ctl_argv(&r, NULL, "/dev/full", (const char *const[]){
		"-s", s.sock, "-n", "2", "dump", "0", "64", NULL }), 1);
	EXPECT_EQ(ctl_argv(&r, NULL, "/dev/full", (const char *const[]){
		"-s", s.sock, "-n", "2", "read", "0", "64", NULL }), 1);
	EXPECT_EQ(ctl_argv(&r, NULL, "/dev/full", (const char *const[]){ "--help", NULL }), 1);
	server_stop(&s);
}

/* --json gives JSON, or is refused as bad usage: never ignored. */
TEST(ctl_json_works_or_is_refused)
{
	static const char *const refused[] = {
		"ring 0 0", "dump 0 16", "read 0 16", "write -f 1 -l 1 0", "reset-stats 0",
	};
	struct ivshmem *a;
	static struct ctl_run r;
	struct server s;
	struct json *j;
	pid_t ringer, me = getpid();

	server_start(&s, NULL);
	join(&s, &a, 0);
	ASSERT_EQ(ctl(&r, &s, "-n 2 --json info"), 0);
	j = json_parse(r.out);
	EXPECT_TRUE(j && j->type == JSON_OBJECT);
	json_free(j);

	/* Ring the waiter once it has joined. */
	ringer = fork();
	if (ringer == 0) {
		unsigned int peer = 0, last = 0;

		child_limits(me, 20);
		/* Ring the latest newcomer until killed: earlier ones may be leaving. */
		for (int i = 0; i < 500; i++) {
			if (ivshmem_read_peer_event(a, &peer, 20) == IVSHMEM_PEER_JOINED)
				last = peer;
			if (last)
				ivshmem_ring(a, last, 1);
		}
		_exit(0);
	}
	ASSERT_EQ(ctl(&r, &s, "-n 2 wait --json -t 5000 1"), 0);
	kill(ringer, SIGKILL);
	waitpid(ringer, NULL, 0);
	j = json_parse(r.out);
	EXPECT_TRUE(j && j->type == JSON_ARRAY && j->n == 1);
	json_free(j);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		EXPECT_EQ(ctl(&r, &s, "-n 2 --json %s", refused[i]), 2);
	ivshmem_close(a);
	server_stop(&s);
}

/* A file of @len bytes of @byte in @dir; its path in @path. */
static void make_input(char *path, size_t plen, const char *dir, const char *name,
		       size_t len, int byte)
{
	char buf[4096];
	int fd;

	snprintf(path, plen, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_GE(fd, 0);
	memset(buf, byte, sizeof(buf));
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		ASSERT_EQ(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
}

TEST(ctl_write_is_bounded_by_the_device)
{
	char in8k[256], hello[256], off[32];
	static struct ctl_run r;
	uint8_t *mem;
	struct ivshmem *a;
	struct server s;

	server_start(&s, NULL);
	join(&s, &a, 0);
	ASSERT_EQ(ivshmem_map(a, 0, 0, PROT_READ | PROT_WRITE, (void **)&mem), 0);
	memset(mem, 0x41, 1 << 20);

	/* An endless stdin fills up to the end, then fails. */
	ASSERT_EQ(ctl_argv(&r, "/dev/zero", NULL, (const char *const[]){
		"-s", s.sock, "-n", "2", "write", "4096", NULL }), 1);
	EXPECT_TRUE(strstr(r.err, "input longer"));
	EXPECT_EQ(mem[4095], 0x41);
	EXPECT_EQ(mem[4096], 0);
	EXPECT_EQ(mem[(1 << 20) - 1], 0);

	/* A huge fill is refused before anything is touched. */
	memset(mem, 0x41, 1 << 20);
	EXPECT_EQ(ctl(&r, &s, "-n 2 write -f 0x43 -l 1T 0"), 1);
	EXPECT_TRUE(strstr(r.err, "past the end"));
	EXPECT_EQ(mem[0], 0x41);
	EXPECT_EQ(ctl(&r, &s, "-n 2 write -f 0x43 -l 8K 1020K"), 1);
	EXPECT_EQ(mem[(1 << 20) - 1], 0x41);

	/* Empty writes at or past the end are errors too. */
	EXPECT_EQ(ctl(&r, &s, "-n 2 write 2M"), 1);
	EXPECT_EQ(ctl(&r, &s, "-n 2 write 1M"), 1);
	EXPECT_EQ(ctl(&r, &s, "-n 2 write -l 0 1M"), 1);
	EXPECT_EQ(ctl(&r, &s, "-n 2 write 1020K"), 0);	/* stdin empty */

	/* Input beyond the end: what fits is written, and the command fails. */
	make_input(in8k, sizeof(in8k), s.dir, "in8k", 8192, 0x44);
	snprintf(off, sizeof(off), "%d", (1 << 20) - 4096);
	EXPECT_EQ(ctl_argv(&r, in8k, NULL, (const char *const[]){
		"-s", s.sock, "-n", "2", "write", off, NULL }), 1);
	EXPECT_EQ(mem[(1 << 20) - 4096], 0x44);
	EXPECT_EQ(mem[(1 << 20) - 1], 0x44);
	/* Input that fits exactly is fine; --length takes only that much. */
	EXPECT_EQ(ctl_argv(&r, in8k, NULL, (const char *const[]){
		"-s", s.sock, "-n", "2", "write", "1016K", NULL }), 0);
	EXPECT_EQ(ctl_argv(&r, in8k, NULL, (const char *const[]){
		"-s", s.sock, "-n", "2", "write", "-l", "16", "0", NULL }), 0);
	EXPECT_EQ(mem[15], 0x44);
	EXPECT_EQ(mem[16], 0x41);

	make_input(hello, sizeof(hello), s.dir, "hello", 0, 0);
	EXPECT_EQ(ctl_argv(&r, hello, NULL, (const char *const[]){
		"-s", s.sock, "-n", "2", "write", "100", NULL }), 0);
	ivshmem_unmap(mem, 1 << 20);
	ivshmem_close(a);
	server_stop(&s);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: lib_host_test PATH-TO-ivshmem-server PATH-TO-ivshmem-ctl\n");
		return 2;
	}
	server_path = argv[1];
	ctl_path = argv[2];
	return harness_main_in_tmpdir("libtest", argv);
}
