// SPDX-License-Identifier: GPL-2.0
/*
 * Host-peer benchmarks against a real ivshmem-server: how long joining
 * takes with the vector count stated and detected, and the round trip of
 * ivshmem_ring() + ivshmem_wait() against a raw eventfd round trip on the
 * same eventfds, in alternating runs in one process.
 *
 * Prints "# bench: ..." lines only.  Never fails on speed: exit status 0
 * unless something did not work at all.
 *
 * usage: host_bench PATH-TO-ivshmem-server
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libivshmem.h"
#include "lib/clock.h"

#define ROUNDS		20000
#define PAIRS		21
#define OPENS		20

static int64_t median(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_i64);
	return v[n / 2];
}

static int die(const char *what, int err)
{
	fprintf(stderr, "host_bench: %s: %s\n", what, strerror(-err));
	return 1;
}

/* The echoing side: B answers every doorbell on its vector 0 by ringing A. */
struct echo {
	struct ivshmem *b;
	unsigned int a_id;
	int a_fd, b_fd;		/* own vector 0 of each, for the raw runs */
	bool raw, raw_blocking;
	int rounds;
};

static uint64_t efd_wait(int fd, bool blocking)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count = 0;

	if (!blocking && poll(&pfd, 1, -1) != 1)
		return 0;
	if (read(fd, &count, sizeof(count)) != sizeof(count))
		return 0;
	return count;
}

static void *echo_run(void *arg)
{
	struct echo *e = arg;
	const uint64_t one = 1;
	uint64_t set[IVSHMEM_VECTOR_WORDS];

	for (int i = 0; i < e->rounds; i++) {
		if (e->raw) {
			efd_wait(e->b_fd, e->raw_blocking);
			if (write(e->a_fd, &one, sizeof(one)) != sizeof(one))
				break;
		} else {
			memset(set, 0, sizeof(set));
			set[0] = 1;
			if (ivshmem_wait(e->b, set, -1) || ivshmem_ring(e->b, e->a_id, 0))
				break;
		}
	}
	return NULL;
}

/* Nanoseconds per round trip, A to B and back. */
static int64_t round_trips(struct ivshmem *a, unsigned int b_id, struct echo *e, bool raw)
{
	const uint64_t one = 1;
	uint64_t set[IVSHMEM_VECTOR_WORDS];
	pthread_t t;
	int64_t t0;

	e->raw = raw;
	e->rounds = ROUNDS;
	pthread_create(&t, NULL, echo_run, e);
	t0 = now_ns();
	for (int i = 0; i < ROUNDS; i++) {
		if (raw) {
			if (write(e->b_fd, &one, sizeof(one)) != sizeof(one))
				break;
			efd_wait(e->a_fd, e->raw_blocking);
		} else {
			memset(set, 0, sizeof(set));
			set[0] = 1;
			if (ivshmem_ring(a, b_id, 0) || ivshmem_wait(a, set, -1))
				break;
		}
	}
	t0 = now_ns() - t0;
	pthread_join(t, NULL);
	return t0 / ROUNDS;
}

static int open_with(const char *sock, int vectors, struct ivshmem **dev)
{
	struct ivshmem_server_opts *opts;
	int ret;

	ret = ivshmem_server_opts_new(&opts);
	if (!ret && vectors >= 0)
		ret = ivshmem_server_opts_set_vectors(opts, (unsigned int)vectors);
	if (!ret)
		ret = ivshmem_open_server(sock, opts, dev);
	ivshmem_server_opts_free(opts);
	return ret;
}

/* Median microseconds to join and leave, with @vectors stated or detected (-1). */
static int64_t open_time(const char *sock, int vectors, int n)
{
	int64_t t[OPENS], t0;
	struct ivshmem *dev;

	for (int i = 0; i < n; i++) {
		t0 = now_ns();
		if (open_with(sock, vectors, &dev))
			return -1;
		t[i] = (now_ns() - t0) / 1000;
		ivshmem_close(dev);
	}
	return median(t, n);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/ivs-bench.XXXXXX", sock[64], mem[64];
	int64_t raw[PAIRS], lib[PAIRS], ratio[PAIRS];
	struct ivshmem_dev_info *info;
	struct ivshmem *a, *b;
	struct echo e = { 0 };
	pid_t server, parent = getpid();
	unsigned int a_id, b_id, peer;
	int ret, flags;

	if (argc != 2) {
		fprintf(stderr, "usage: host_bench PATH-TO-ivshmem-server\n");
		return 2;
	}
	if (!mkdtemp(dir))
		return die("mkdtemp", -errno);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	snprintf(mem, sizeof(mem), "%s/mem", dir);
	server = fork();
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		alarm(300);
		dup2(null, 2);
		execl(argv[1], argv[1], "-F", "-S", sock, "-m", mem, "-l", "1M", "-n", "2",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock, F_OK); i++)
		usleep(10000);

	printf("# bench: join with 2 vectors stated: %lld us (median of %d)\n",
	       (long long)open_time(sock, 2, OPENS), OPENS);
	printf("# bench: join with vectors detected: %lld us (median of %d)\n",
	       (long long)open_time(sock, -1, 5), 5);

	ret = open_with(sock, 2, &a);
	if (!ret)
		ret = open_with(sock, 2, &b);
	if (ret)
		return die("join", ret);
	ivshmem_get_info(a, &info);
	a_id = (unsigned int)ivshmem_dev_info_get_peer_id(info);
	ivshmem_dev_info_free(info);
	ivshmem_get_info(b, &info);
	b_id = (unsigned int)ivshmem_dev_info_get_peer_id(info);
	ivshmem_dev_info_free(info);
	/* a must know b before ringing it; earlier peers may still be leaving. */
	do {
		ret = ivshmem_read_peer_event(a, &peer, 5000);
		if (ret < 0)
			return die("peer event", ret);
	} while (ret != IVSHMEM_PEER_JOINED || peer != b_id);
	e.b = b;
	e.a_id = a_id;
	e.a_fd = ivshmem_vector_fd(a, 0);
	e.b_fd = ivshmem_vector_fd(b, 0);
	/* The raw round trip blocks in read(2) if the eventfds allow it. */
	flags = fcntl(e.a_fd, F_GETFL);
	e.raw_blocking = flags >= 0 && !(flags & O_NONBLOCK);

	round_trips(a, b_id, &e, true);		/* warm up */
	/* Pairs in alternating order, so that neither side always goes first. */
	for (int i = 0; i < PAIRS; i++) {
		if (i % 2) {
			lib[i] = round_trips(a, b_id, &e, false);
			raw[i] = round_trips(a, b_id, &e, true);
		} else {
			raw[i] = round_trips(a, b_id, &e, true);
			lib[i] = round_trips(a, b_id, &e, false);
		}
		ratio[i] = lib[i] * 1000 / (raw[i] ? raw[i] : 1);
	}
	printf("# bench: round trip, raw eventfd (%s): %lld ns (median of %d x %d)\n",
	       e.raw_blocking ? "blocking read" : "poll + read", (long long)median(raw, PAIRS),
	       PAIRS, ROUNDS);
	printf("# bench: round trip, ivshmem_ring + ivshmem_wait: %lld ns\n",
	       (long long)median(lib, PAIRS));
	printf("# bench: round-trip ratio libivshmem / raw eventfd: %.3f (median of %d pairs; "
	       "goal <= 1.05)\n", (double)median(ratio, PAIRS) / 1000, PAIRS);

	ivshmem_close(a);
	ivshmem_close(b);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	unlink(mem);
	unlink(sock);
	return rmdir(dir) ? 1 : 0;
}
