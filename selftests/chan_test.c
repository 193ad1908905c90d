// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem channels between two guests, or between a guest and a host
 * peer (host/chan_peer on the host): a channel pair, 100,000 messages with
 * checksums each way at once, none lost; then round trips for the
 * benchmark, against a UNIX socketpair inside this guest.
 *
 * Environment: ivt_role ("a" creates the pair "ivt-pair", "b" attaches to
 * it; anything else, or none, creates "ivt-host" for host/chan_peer),
 * ivt_chan_messages (default 100000), ivt_chan_dir (the channel
 * directory's offset, default 64 MiB: clear of pair_test's mailbox);
 * ivt_chan_server (a server socket: run as a host peer instead, to try
 * this program on the host).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "libivshmem.h"
#include "host/chan_exchange.h"

#define MEET_MS		120000	/* the other side may still be booting */

static struct ivshmem *dev;
static struct ivshmem_chan *tx, *rx;
static bool creator, host_mode;

static void open_pair(void)
{
	const char *role = env_str("ivt_role", "");
	uint64_t dir = (uint64_t)env_long("ivt_chan_dir", XCHG_DIR_OFFSET);
	struct ivshmem_chan_opts *o;
	const char *name;

	if (tx)
		return;
	host_mode = strcmp(role, "a") != 0 && strcmp(role, "b") != 0;
	creator = strcmp(role, "b") != 0;
	name = host_mode ? "ivt-host" : "ivt-pair";
	/* ivt_chan_server: the same program as a host peer, to try it on the host. */
	if (*env_str("ivt_chan_server", ""))
		ASSERT_EQ(ivshmem_open_server(env_str("ivt_chan_server", ""), NULL, &dev), 0);
	else
		ASSERT_EQ(ivshmem_open(dev_path(), &dev), 0);
	ASSERT_EQ(ivshmem_wait_ready(dev, 10000), 0);
	ASSERT_EQ(ivshmem_chan_opts_new(&o), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_dir_offset(o, dir), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_timeout(o, MEET_MS), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_ring_size(o, XCHG_RING_SIZE), 0);
	if (creator) {
		/* Earlier tests may have left anything there: a clean directory. */
		void *page;

		ASSERT_EQ(ivshmem_map(dev, dir, 4096, PROT_READ | PROT_WRITE, &page), 0);
		memset(page, 0, 4096);
		ivshmem_unmap(page, 4096);
		ASSERT_EQ(ivshmem_chan_pair_create(dev, name, -1, o, &tx, &rx), 0);
	} else {
		ASSERT_EQ(xchg_attach(dev, name, o, MEET_MS, &tx, &rx), 0);
	}
	ivshmem_chan_opts_free(o);
	TH_LOG("%s %s (%s)", creator ? "created" : "attached to", name,
	       host_mode ? "a host peer on the other side" : "another guest on the other side");
}

/* Messages of the socketpair baseline at most. */
#define SOCK_RATE_MAX	20000

static double sock_rate(long count);
static int sock_ping(size_t size, int64_t *p50, int64_t *p99);

/*
 * One test: the harness runs each in a process of its own, and a second
 * attach would be a restart of this side.
 */
TEST_TIMEOUT(exchange_both_ways_then_round_trips, 900)
{
	long count = env_long("ivt_chan_messages", 100000);
	int64_t p50[XCHG_PING_SIZES] = { 0 }, p99[XCHG_PING_SIZES] = { 0 }, s50 = 1, s99 = 1;
	struct xchg_result r;
	double rate, base;

	open_pair();
	/* Each direction its own salt: a message sent back would not check. */
	xchg_run(tx, rx, count, creator ? 1 : 2, creator ? 2 : 1, 60000, &r);
	TH_LOG("sent %ld, received %ld (%ld bad) in %lld ms", r.sent, r.received, r.bad,
	       (long long)(r.ns / 1000000));
	EXPECT_EQ(r.error, 0);
	EXPECT_EQ(r.sent, count);
	EXPECT_EQ(r.received, count);
	ASSERT_EQ(r.bad, 0);
	if (r.error)
		return;
	if (!creator) {
		ASSERT_EQ(xchg_echo(tx, rx), 0);
		return;
	}
	rate = (double)(r.sent + r.received) * 1e9 / (double)r.ns;
	/* The channel's round trips first: the other side echoes only so long. */
	for (int k = 0; k < XCHG_PING_SIZES; k++)
		ASSERT_EQ(xchg_ping(tx, rx, xchg_ping_sizes[k], &p50[k], &p99[k]), 0);
	/* The baseline is slow under emulation and a debug kernel: fewer. */
	base = sock_rate(count < SOCK_RATE_MAX ? count : SOCK_RATE_MAX);
	printf("# bench: channel guest-%s, both ways, 8-512 B: %.0f msg/s; socketpair in this "
	       "guest, one way, %.0f (ratio %.2f); %.4f doorbells per message\n",
	       host_mode ? "host" : "guest", rate, base, rate / base, xchg_doorbells(tx));
	for (int k = 0; k < XCHG_PING_SIZES; k++) {
		size_t size = xchg_ping_sizes[k];

		ASSERT_EQ(sock_ping(size, &s50, &s99), 0);
		printf("# bench: channel guest-%s %zu B round trip: p50 %.1f us p99 %.1f us; "
		       "socketpair in this guest p50 %.1f p99 %.1f (p50 ratio %.2f)\n",
		       host_mode ? "host" : "guest", size, (double)p50[k] / 1000,
		       (double)p99[k] / 1000, (double)s50 / 1000, (double)s99 / 1000,
		       (double)p50[k] / (double)s50);
	}
	printf("# bench: channel guest-%s, after the round trips: %.4f doorbells per message\n",
	       host_mode ? "host" : "guest", xchg_doorbells(tx));
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ivshmem_close(dev);
}

/* ---- the baseline: a socketpair between two threads of this guest ---- */

struct sock_peer {
	int fd;
	long count;
	bool echo;
};

static void *sock_peer_main(void *arg)
{
	struct sock_peer *p = arg;
	static uint8_t buf[XCHG_PING_MAX];

	for (long i = 0; i < p->count; i++) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

		if (n <= 0)
			break;
		if (p->echo && send(p->fd, buf, (size_t)n, 0) != n)
			break;
	}
	return NULL;
}

/* Messages per second, one way, of the same sizes as the exchange. */
static double sock_rate(long count)
{
	struct sock_peer p = { .count = count };
	uint8_t buf[XCHG_MAX_LEN];
	pthread_t t;
	int sv[2];
	double rate;
	int64_t t0;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return -1;
	p.fd = sv[1];
	pthread_create(&t, NULL, sock_peer_main, &p);
	t0 = xchg_now_ns();
	for (long i = 0; i < count; i++) {
		size_t n = xchg_fill(buf, (uint64_t)i, 1);

		if (send(sv[0], buf, n, 0) != (ssize_t)n)
			break;
	}
	pthread_join(t, NULL);
	rate = (double)count * 1e9 / (double)(xchg_now_ns() - t0);
	close(sv[0]);
	close(sv[1]);
	return rate;
}

static int sock_ping(size_t size, int64_t *p50, int64_t *p99)
{
	static int64_t v[XCHG_PINGS];
	static uint8_t buf[XCHG_PING_MAX];
	struct sock_peer p = { .count = XCHG_PINGS, .echo = true };
	pthread_t t;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return -errno;
	p.fd = sv[1];
	pthread_create(&t, NULL, sock_peer_main, &p);
	for (int i = 0; i < XCHG_PINGS; i++) {
		int64_t t0 = xchg_now_ns();

		if (send(sv[0], buf, size, 0) != (ssize_t)size ||
		    recv(sv[0], buf, sizeof(buf), 0) != (ssize_t)size)
			return -EIO;
		v[i] = xchg_now_ns() - t0;
	}
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	qsort(v, XCHG_PINGS, sizeof(v[0]), xchg_cmp);
	*p50 = v[XCHG_PINGS / 2];
	*p99 = v[XCHG_PINGS * 99 / 100];
	return 0;
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
