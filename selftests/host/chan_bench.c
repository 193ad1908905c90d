// SPDX-License-Identifier: GPL-2.0
/*
 * Channel benchmarks between two host peers of a real ivshmem-server (one
 * thread each), against a UNIX socketpair and a pipe measured in the same
 * run: for 64 B, 4 KiB and 64 KiB messages, the one-way message rate and
 * the round-trip latency (p50, p99), sleeping and with a bounded spin;
 * doorbells per message of the stream; 64 KiB messages' bytes per second
 * against memcpy() of the same bytes in this process; and both directions
 * at once with a thread per direction on each side, each direction on a
 * vector of its own.
 *
 * Prints "# bench: ..." lines only and never fails on speed: exit status
 * 0 unless something did not work at all.
 *
 * usage: chan_bench PATH-TO-ivshmem-server
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libivshmem.h"
#include "lib/clock.h"

#define ROUND_TRIPS	2000
#define SPIN_US		200u

static const size_t sizes[] = { 64, 4096, 65536 };
static const long stream_counts[] = { 200000, 50000, 5000 };

static void die(const char *what, int err)
{
	fprintf(stderr, "chan_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* ---- the two transports: a channel pair, or a pair of fds ---- */

struct side {
	struct ivshmem_chan *tx, *rx;	/* channels, or */
	int wfd, rfd;			/* fds */
};

static uint8_t *bufs[2];

static void fd_write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r <= 0)
			die("write", errno);
		p = (const char *)p + r;
		n -= (size_t)r;
	}
}

static void fd_read_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			die("read", r ? errno : EPIPE);
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

static void xsend(struct side *s, const void *p, size_t n)
{
	int ret;

	if (!s->tx) {
		fd_write_all(s->wfd, p, n);
		return;
	}
	ret = ivshmem_chan_send(s->tx, p, n, 0, 10000);
	if (ret)
		die("ivshmem_chan_send", ret);
}

static void xrecv(struct side *s, void *p, size_t n)
{
	const void *data;
	size_t len;
	int ret;

	if (!s->rx) {
		fd_read_all(s->rfd, p, n);
		return;
	}
	/* Zero-copy: a reader would look at the bytes in place. */
	ret = ivshmem_chan_peek(s->rx, &data, &len, 10000);
	if (ret || len != n)
		die("ivshmem_chan_peek", ret ? ret : EPROTO);
	ret = ivshmem_chan_release(s->rx);
	if (ret)
		die("ivshmem_chan_release", ret);
}

struct run {
	struct side *b;
	size_t size;
	long count;
	bool echo;
};

/* B: receive count messages, echoing each if asked. */
static void *b_main(void *arg)
{
	struct run *r = arg;

	for (long i = 0; i < r->count; i++) {
		xrecv(r->b, bufs[1], r->size);
		if (r->echo)
			xsend(r->b, bufs[1], r->size);
	}
	return NULL;
}

/* Messages per second, A to B. */
static double stream(struct side *a, struct side *b, size_t size, long count)
{
	struct run r = { b, size, count, false };
	pthread_t t;
	int64_t t0;

	if (pthread_create(&t, NULL, b_main, &r))
		die("pthread_create", EAGAIN);
	t0 = now_ns();
	for (long i = 0; i < count; i++)
		xsend(a, bufs[0], size);
	pthread_join(t, NULL);
	return (double)count * 1e9 / (double)(now_ns() - t0);
}

/* Round trips: p50 and p99 in microseconds. */
static void latency(struct side *a, struct side *b, size_t size, double *p50, double *p99)
{
	static int64_t v[ROUND_TRIPS];
	struct run r = { b, size, ROUND_TRIPS, true };
	int64_t mid, high;
	pthread_t t;

	if (pthread_create(&t, NULL, b_main, &r))
		die("pthread_create", EAGAIN);
	for (int i = 0; i < ROUND_TRIPS; i++) {
		int64_t t0 = now_ns();

		xsend(a, bufs[0], size);
		xrecv(a, bufs[0], size);
		v[i] = now_ns() - t0;
	}
	pthread_join(t, NULL);
	qsort(v, ROUND_TRIPS, sizeof(v[0]), cmp_i64);
	mid = v[ROUND_TRIPS / 2];
	high = v[ROUND_TRIPS * 99 / 100];
	*p50 = (double)mid / 1000.0;
	*p99 = (double)high / 1000.0;
}

static void fd_sides(struct side *a, struct side *b, bool socket)
{
	int ab[2], ba[2];

	if (socket) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, ab))
			die("socketpair", errno);
		/* One bidirectional socket: each side writes and reads its end. */
		*a = (struct side){ .wfd = ab[0], .rfd = ab[0] };
		*b = (struct side){ .wfd = ab[1], .rfd = ab[1] };
		return;
	}
	if (pipe(ab) || pipe(ba))
		die("pipe", errno);
	fcntl(ab[1], F_SETPIPE_SZ, 1 << 20);
	fcntl(ba[1], F_SETPIPE_SZ, 1 << 20);
	*a = (struct side){ .wfd = ab[1], .rfd = ba[0] };
	*b = (struct side){ .wfd = ba[1], .rfd = ab[0] };
}

static void fd_close(struct side *a, struct side *b)
{
	close(a->wfd);
	if (a->rfd != a->wfd)
		close(a->rfd);
	close(b->wfd);
	if (b->rfd != b->wfd)
		close(b->rfd);
}

static int peer_id(struct ivshmem *dev)
{
	struct ivshmem_dev_info *info;
	int id;

	if (ivshmem_get_info(dev, &info))
		return -1;
	id = ivshmem_dev_info_get_peer_id(info);
	ivshmem_dev_info_free(info);
	return id;
}

/* A host peer with two vectors: a pair's directions wait on one each. */
static struct ivshmem *join(const char *sock)
{
	struct ivshmem_server_opts *opts;
	struct ivshmem *dev;
	int ret;

	if (ivshmem_server_opts_new(&opts))
		die("opts", ENOMEM);
	ivshmem_server_opts_set_vectors(opts, 2);
	ret = ivshmem_open_server(sock, opts, &dev);
	ivshmem_server_opts_free(opts);
	if (ret)
		die("ivshmem_open_server", ret);
	return dev;
}

/* A channel pair between the two peers, named @name, spinning @spin_us. */
static void chan_sides(struct ivshmem *da, struct ivshmem *db, const char *name,
		       unsigned int spin_us, struct side *a, struct side *b)
{
	struct ivshmem_chan_opts *o;
	int ret;

	if (ivshmem_chan_opts_new(&o))
		die("opts", ENOMEM);
	ivshmem_chan_opts_set_ring_size(o, 1 << 20);
	ivshmem_chan_opts_set_spin(o, spin_us);
	*a = (struct side){ 0 };
	*b = (struct side){ 0 };
	ret = ivshmem_chan_pair_create(da, name, peer_id(db), o, &a->tx, &a->rx);
	if (!ret)
		ret = ivshmem_chan_pair_attach(db, name, o, &b->tx, &b->rx);
	if (ret)
		die("channel pair", ret);
	ivshmem_chan_opts_free(o);
}

static void chan_close(struct side *a, struct side *b)
{
	ivshmem_chan_close(a->tx);
	ivshmem_chan_close(a->rx);
	ivshmem_chan_close(b->tx);
	ivshmem_chan_close(b->rx);
}

/*
 * Bytes per second of memcpy() of @count messages of @size bytes into a
 * 1 MiB buffer, one after the other as into the ring: the copy a channel
 * makes on send, without the channel.
 */
static double memcpy_rate(size_t size, long count)
{
	size_t len = 1 << 20;
	uint8_t *dst = malloc(len);
	int64_t t0;

	if (!dst)
		die("malloc", ENOMEM);
	memset(dst, 0, len);
	t0 = now_ns();
	for (long i = 0; i < count; i++) {
		memcpy(dst + (size_t)i * size % len, bufs[0], size);
		/* The copies are used: the compiler may not drop them. */
		__asm__ volatile("" : : "r"(dst) : "memory");
	}
	t0 = now_ns() - t0;
	free(dst);
	return (double)count * (double)size * 1e9 / (double)t0;
}

struct one_way {
	struct side *s;
	long count;
	bool send;
};

static void *one_way_main(void *arg)
{
	struct one_way *w = arg;
	uint8_t buf[64] = { 0 };

	for (long i = 0; i < w->count; i++) {
		if (w->send)
			xsend(w->s, buf, sizeof(buf));
		else
			xrecv(w->s, buf, sizeof(buf));
	}
	return NULL;
}

/* Doorbells the producer of @tx rang per message it sent. */
static double doorbells_per_message(struct ivshmem_chan *tx)
{
	struct ivshmem_chan_info *info;
	double bells;

	if (ivshmem_chan_get_info(tx, &info))
		die("info", ENOMEM);
	bells = (double)ivshmem_chan_info_get_notify_sent(info) /
		(double)ivshmem_chan_info_get_msgs_sent(info);
	ivshmem_chan_info_free(info);
	return bells;
}

/*
 * 64 B messages both ways at once, a thread per direction on each side
 * (four threads); each direction of the pair sleeps on a vector of its
 * own.  Messages per second each way, and doorbells per message.
 */
static void duplex(struct ivshmem *da, struct ivshmem *db, long count)
{
	struct one_way w[4];
	pthread_t t[4];
	struct side a, b;
	int64_t t0;
	double secs;

	chan_sides(da, db, "duplex", 0, &a, &b);
	w[0] = (struct one_way){ &a, count, true };
	w[1] = (struct one_way){ &b, count, false };
	w[2] = (struct one_way){ &b, count, true };
	w[3] = (struct one_way){ &a, count, false };
	t0 = now_ns();
	for (int i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, one_way_main, &w[i]))
			die("pthread_create", EAGAIN);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	secs = (double)(now_ns() - t0) / 1e9;
	printf("# bench: channel pair 64 B both ways, a thread per direction: %.0f msg/s each way; "
	       "%.4f and %.4f doorbells per message\n", (double)count / secs,
	       doorbells_per_message(a.tx), doorbells_per_message(b.tx));
	chan_close(&a, &b);
}

static const char *size_name(size_t size)
{
	return size == 64 ? "64 B" : size == 4096 ? "4 KiB" : "64 KiB";
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], sock[300];
	struct ivshmem *da, *db;
	pid_t server, parent = getpid();

	if (argc < 2) {
		fprintf(stderr, "usage: chan_bench PATH-TO-ivshmem-server\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/ivs-chanbench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(sock, sizeof(sock), "%s/sock", dir);
	server = fork();
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		alarm(600);
		dup2(open("/dev/null", O_WRONLY), 2);
		/*
		 * An unnamed file in /dev/shm (tmpfs), as QEMU users back the
		 * memory: a file on disk stalls writers in write faults while
		 * the kernel writes its pages back, hundreds of microseconds.
		 */
		execl(argv[1], argv[1], "-F", "-S", sock, "-m", "/dev/shm", "-l", "64M", "-n", "2",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock, F_OK); i++)
		usleep(10000);
	da = join(sock);
	db = join(sock);
	bufs[0] = calloc(1, 65536);
	bufs[1] = calloc(1, 65536);
	if (!bufs[0] || !bufs[1])
		die("calloc", ENOMEM);

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		long count = stream_counts[k];
		struct side a, b;
		double rate, rate_spin, rate_sock, rate_pipe, p50, p99, s50, s99, q50, q99, sp50, sp99;
		char name[16];
		double bells;

		snprintf(name, sizeof(name), "bench%zu", k);
		chan_sides(da, db, name, 0, &a, &b);
		rate = stream(&a, &b, size, count);
		bells = doorbells_per_message(a.tx);
		latency(&a, &b, size, &p50, &p99);
		chan_close(&a, &b);
		snprintf(name, sizeof(name), "spin%zu", k);
		chan_sides(da, db, name, SPIN_US, &a, &b);
		latency(&a, &b, size, &sp50, &sp99);
		rate_spin = stream(&a, &b, size, count);
		chan_close(&a, &b);

		fd_sides(&a, &b, true);
		rate_sock = stream(&a, &b, size, count);
		latency(&a, &b, size, &s50, &s99);
		fd_close(&a, &b);
		fd_sides(&a, &b, false);
		rate_pipe = stream(&a, &b, size, count);
		latency(&a, &b, size, &q50, &q99);
		fd_close(&a, &b);

		printf("# bench: channel %s: %.0f msg/s; socketpair %.0f (ratio %.2f%s), pipe %.0f (ratio %.2f)\n",
		       size_name(size), rate, rate_sock, rate / rate_sock,
		       size == 64 ? ", goal >= 5" : "", rate_pipe, rate / rate_pipe);
		printf("# bench: channel %s round trip: p50 %.1f us p99 %.1f us; socketpair p50 %.1f p99 %.1f (p50 ratio %.2f), pipe p50 %.1f p99 %.1f (p50 ratio %.2f)\n",
		       size_name(size), p50, p99, s50, s99, p50 / s50, q50, q99, p50 / q50);
		printf("# bench: channel %s round trip spinning %u us: p50 %.1f us p99 %.1f us (p50 ratio to socketpair %.2f%s)\n",
		       size_name(size), SPIN_US, sp50, sp99, sp50 / s50,
		       size == 64 ? ", goal <= 0.5" : "");
		printf("# bench: channel %s stream: %.4f doorbells per message\n", size_name(size),
		       bells);
		if (size == 65536) {
			double copy = memcpy_rate(size, count * 4);

			printf("# bench: channel 64 KiB stream: %.2f GB/s; memcpy() of the same "
			       "bytes in this process %.2f GB/s (ratio %.2f, goal >= 0.7)\n",
			       rate * (double)size / 1e9, copy / 1e9, rate * (double)size / copy);
			printf("# bench: channel 64 KiB stream spinning %u us: %.2f GB/s (ratio to "
			       "memcpy() %.2f, goal >= 0.7)\n", SPIN_US,
			       rate_spin * (double)size / 1e9, rate_spin * (double)size / copy);
		}
		fflush(stdout);
	}
	duplex(da, db, stream_counts[0]);
	ivshmem_close(da);
	ivshmem_close(db);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	unlink(sock);
	rmdir(dir);
	return 0;
}
