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
 * this program on the host); ivt_storm_messages (the restart storm's
 * messages, default 100000; 0 skips it).  Between two guests, also large
 * messages through a small ring, and a restart storm.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

/* ---- the restart storm: both sides killed and restarted at random ---- */

#define STORM_DIR	(80ull << 20)	/* clear of the exchange's directory */
#define STORM_NAME	"ivt-storm"
#define STORM_MAX	256
#define STORM_LIVES	30	/* of the consumer at least, whatever the rate */

/* Message @seq of producer life @life: both, then bytes derived from them. */
static size_t storm_fill(uint8_t *p, uint64_t life, uint64_t seq)
{
	size_t len = 16 + (size_t)((seq * 131 + life) % (STORM_MAX - 15));

	memcpy(p, &life, 8);
	memcpy(p + 8, &seq, 8);
	xchg_fill_bytes(p, 16, len, seq * 0x9e3779b97f4a7c15ull + life * 0xbf58476d1ce4e5b9ull + 1);
	return len;
}

/* The device, or the server of ivt_chan_server as a host peer. */
static int storm_open(struct ivshmem **d)
{
	const char *server = env_str("ivt_chan_server", "");

	return *server ? ivshmem_open_server(server, NULL, d) : ivshmem_open(dev_path(), d);
}

static struct ivshmem_chan_opts *storm_opts(int timeout_ms)
{
	struct ivshmem_chan_opts *o;

	if (ivshmem_chan_opts_new(&o))
		return NULL;
	if (ivshmem_chan_opts_set_dir_offset(o, STORM_DIR) ||
	    ivshmem_chan_opts_set_ring_size(o, 16384) ||
	    ivshmem_chan_opts_set_timeout(o, timeout_ms)) {
		ivshmem_chan_opts_free(o);
		return NULL;
	}
	return o;
}

/* A line to the supervisor, in one write (atomic below PIPE_BUF). */
static void storm_report(int fd, const char *fmt, long a, long b, long c)
{
	char line[128];
	int n = snprintf(line, sizeof(line), fmt, a, b, c);

	if (write(fd, line, (size_t)n) != n)
		_exit(1);
}

/*
 * One life of the producer: attach (a restart after the first), send
 * numbered messages until killed.  Exit 0 once the channel is deleted
 * (the consumer has seen enough), 3 if it is gone, 1 on an error.
 */
static int storm_producer(uint64_t life, int meet_ms, int report)
{
	struct ivshmem_chan_opts *o = storm_opts(meet_ms);
	struct ivshmem_chan *out;
	struct ivshmem *d;
	uint8_t buf[STORM_MAX];
	int ret;

	if (!o || storm_open(&d))
		return 1;
	ret = ivshmem_chan_attach_as(d, STORM_NAME, IVSHMEM_CHAN_SEND, o, &out);
	if (ret)
		return ret == -ETIMEDOUT || ret == -ENOENT ? 3 : 1;
	storm_report(report, "r %ld %ld %ld\n", 0, 0, 0);
	for (uint64_t seq = 0;;) {
		ret = ivshmem_chan_send(out, buf, storm_fill(buf, life, seq), 0, 5000);
		if (!ret) {
			seq++;
		} else if (ret == -ECONNRESET) {
			ret = ivshmem_chan_reset(out);
			if (ret == -EIDRM)
				return 0;
			if (ret)
				return 1;
		} else if (ret == -EPIPE || ret == -ETIMEDOUT) {
			usleep(1000);	/* the consumer between two lives */
		} else {
			return 1;
		}
	}
}

/*
 * One life of the consumer: create the channel again (a restart of the
 * creator after the first life), receive until killed.  Within this life,
 * every message must check; each producer life's messages must come in
 * order without a gap or a repeat, and one that starts after this life
 * began must start at its first message (a producer restart drops what it
 * had in flight, never what it sends afterwards).  Reports "n COUNT" every
 * 200 messages and "bad ..." on the first fault.
 */
static int storm_consumer(int report)
{
	struct ivshmem_chan_opts *o = storm_opts(5000);
	uint64_t life = 0, next = 0;
	uint8_t buf[STORM_MAX], want[STORM_MAX];
	struct ivshmem_chan *in;
	struct ivshmem *d;
	long count = 0;
	int n;

	if (!o || storm_open(&d) ||
	    ivshmem_chan_create(d, STORM_NAME, IVSHMEM_CHAN_RECV, -1, o, &in))
		return 1;
	storm_report(report, "r %ld %ld %ld\n", 0, 0, 0);
	for (;;) {
		uint64_t l, seq;

		n = ivshmem_chan_recv(in, buf, sizeof(buf), 5000);
		if (n == -ECONNRESET) {
			if (ivshmem_chan_reset(in))
				return 1;
			continue;
		}
		if (n == -EPIPE || n == -ETIMEDOUT) {
			usleep(1000);	/* the producer between two lives */
			continue;
		}
		if (n < 16) {
			storm_report(report, "bad recv %ld %ld %ld\n", n, 0, 0);
			return 1;
		}
		memcpy(&l, buf, 8);
		memcpy(&seq, buf + 8, 8);
		if ((size_t)n != storm_fill(want, l, seq) || memcmp(buf, want, (size_t)n) != 0) {
			storm_report(report, "bad bytes life %ld seq %ld len %ld\n", (long)l,
				     (long)seq, n);
			return 1;
		}
		if (l < life || (l == life && seq != next) || (l > life && life && seq)) {
			storm_report(report, "bad order: life %ld seq %ld after life %ld\n",
				     (long)l, (long)seq, (long)life);
			return 1;
		}
		life = l;
		next = seq + 1;
		if (++count % 200 == 0)
			storm_report(report, "n %ld %ld %ld\n", 200, 0, 0);
	}
}

/* 0 once the consumer's channel is in the directory, -ETIMEDOUT. */
static int storm_wait_channel(struct ivshmem *d, int timeout_ms)
{
	for (int ms = 0; ms < timeout_ms; ms += 10) {
		struct ivshmem_chan_list *list;
		bool there = false;

		if (!ivshmem_chan_list(d, STORM_DIR, &list)) {
			for (size_t i = 0; i < ivshmem_chan_list_count(list); i++)
				there |= !strcmp(ivshmem_chan_info_get_name(
							 ivshmem_chan_list_get(list, i)), STORM_NAME);
			ivshmem_chan_list_free(list);
		}
		if (there)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

struct storm {
	long lives, received, bad, errors;
	bool ready;			/* this life took its side */
	char fault[128];
};

/* Lines of the consumer's reports, as far as they came. */
static void storm_read(int fd, struct storm *st, int ms)
{
	static char pending[4096];
	static size_t used;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *nl;

	while (poll(&pfd, 1, ms) == 1) {
		ssize_t got = read(fd, pending + used, sizeof(pending) - 1 - used);

		if (got <= 0)
			break;
		used += (size_t)got;
		pending[used] = 0;
		while ((nl = strchr(pending, '\n'))) {
			*nl = 0;
			if (!strncmp(pending, "n ", 2))
				st->received += strtol(pending + 2, NULL, 10);
			else if (!strncmp(pending, "r ", 2))
				st->ready = true;
			else if (!st->bad++)
				snprintf(st->fault, sizeof(st->fault), "%.100s", pending);
			used -= (size_t)(nl + 1 - pending);
			memmove(pending, nl + 1, used + 1);
		}
		ms = 0;
	}
}

/*
 * Both sides of a channel between the two guests are killed (SIGKILL) and
 * restarted at random, 5 to 80 ms after each life took its side, while
 * 100,000 messages (and 30 lives of the consumer at least) go from guest a
 * to guest b: within a life of the consumer none is lost between two it
 * received, repeated or corrupted, and the consumer always comes
 * back to a working channel.  Then the consumer's side deletes the
 * channel, which ends the producer.
 */
TEST_TIMEOUT(restart_storm_between_guests, 900)
{
	long target = env_long("ivt_storm_messages", 100000);
	const char *role = env_str("ivt_role", "");
	bool producer = !strcmp(role, "a");
	unsigned int seed = (unsigned int)getpid();
	struct storm st = { 0 };
	int pipefd[2] = { -1, -1 };
	struct ivshmem *d;
	int64_t t0 = xchg_now_ns();

	if ((!producer && strcmp(role, "b") != 0) || !target)
		SKIP("the storm runs between the two guests of the pair");
	ASSERT_EQ(storm_open(&d), 0);
	ASSERT_EQ(ivshmem_wait_ready(d, 10000), 0);
	if (!producer) {
		void *page;

		ASSERT_EQ(ivshmem_map(d, STORM_DIR, 4096, PROT_READ | PROT_WRITE, &page), 0);
		memset(page, 0, 4096);
		ivshmem_unmap(page, 4096);
	} else {
		/* The first life of the consumer may be a while: the other guest's
		 * exchange comes first. */
		ASSERT_EQ(storm_wait_channel(d, MEET_MS), 0);
	}
	ASSERT_EQ(pipe(pipefd), 0);
	for (uint64_t life = 1;; life++) {
		int status, live_ms = 5 + (int)(rand_r(&seed) % 76);
		pid_t pid = fork();
		int64_t end;

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			_exit(producer ? storm_producer(life, 500, pipefd[1]) :
					 storm_consumer(pipefd[1]));
		}
		st.lives++;
		/* Its time counts from when it took its side (5 s at most). */
		st.ready = false;
		for (end = xchg_now_ns() + 5000000000LL; !st.ready && xchg_now_ns() < end;)
			if (waitpid(pid, &status, WNOHANG) == pid)
				goto ended;
			else
				storm_read(pipefd[0], &st, 10);
		for (end = xchg_now_ns() + live_ms * 1000000LL; xchg_now_ns() < end;)
			if (waitpid(pid, &status, WNOHANG) == pid)
				goto ended;
			else
				storm_read(pipefd[0], &st, 5);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
ended:
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3) {
			st.errors++;
			TH_LOG("life %llu ended with status %d", (unsigned long long)life,
			       WEXITSTATUS(status));
		}
		if (producer && WIFEXITED(status) &&
		    (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3))
			break;	/* the channel was deleted: the consumer is done */
		if (!producer) {
			storm_read(pipefd[0], &st, 0);
			if ((st.received >= target && st.lives >= STORM_LIVES) || st.bad || st.errors)
				break;
		}
		if ((xchg_now_ns() - t0) / 1000000000 > 300) {
			TH_LOG("no end after 300 s");
			st.errors++;
			break;
		}
	}
	if (!producer)
		ASSERT_EQ(ivshmem_chan_delete(d, STORM_NAME, STORM_DIR, IVSHMEM_CHAN_FORCE), 0);
	TH_LOG("%s: %ld lives, %ld messages received, %ld faults%s%s in %lld ms",
	       producer ? "producer" : "consumer", st.lives, st.received, st.bad,
	       st.bad ? ": " : "", st.fault, (long long)((xchg_now_ns() - t0) / 1000000));
	EXPECT_EQ(st.bad, 0);
	EXPECT_EQ(st.errors, 0);
	if (!producer) {
		EXPECT_GE(st.received, target);
		EXPECT_GE(st.lives, STORM_LIVES);
	} else {
		EXPECT_GE(st.lives, 3);
	}
	ivshmem_close(d);
}

/* ---- large messages (MiBs through a ring of 16 KiB), and the pool ---- */

#define LARGE_DIR	(96ull << 20)	/* clear of the exchange's and the storm's */
#define LARGE_NAME	"ivt-large"
#define LARGE_MAX	(4u << 20)
#define LARGE_POOL	(1u << 20)
#define POOL_MSGS	300
static const size_t large_sizes[] = {
	(1u << 20) + 3, 5000, 8185, LARGE_MAX, 100, 300001, (2u << 20) + 7,
};

/*
 * Guest a sends messages of up to 4 MiB through a ring of 16 KiB, then
 * POOL_MSGS of up to 64 KiB written in place in the channel's pool, then
 * hangs up; guest b receives each whole, its bytes checked, then -EPIPE.
 */
TEST_TIMEOUT(large_and_pool_messages_between_guests, 600)
{
	const char *role = env_str("ivt_role", "");
	bool producer = !strcmp(role, "a");
	size_t count = sizeof(large_sizes) / sizeof(large_sizes[0]), bytes = 0;
	struct ivshmem_chan_opts *o;
	struct ivshmem_chan *ch;
	uint8_t *buf, *want;
	struct ivshmem *d;
	int64_t t0;

	if (!producer && strcmp(role, "b") != 0)
		SKIP("large messages go between the two guests of the pair");
	buf = malloc(LARGE_MAX);
	want = malloc(LARGE_MAX);
	ASSERT_TRUE(buf && want);
	ASSERT_EQ(storm_open(&d), 0);
	ASSERT_EQ(ivshmem_wait_ready(d, 10000), 0);
	ASSERT_EQ(ivshmem_chan_opts_new(&o), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_dir_offset(o, LARGE_DIR), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_ring_size(o, 16384), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_max_msg(o, LARGE_MAX), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_pool_size(o, LARGE_POOL), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_timeout(o, MEET_MS), 0);
	if (producer)
		ASSERT_EQ(ivshmem_chan_create(d, LARGE_NAME, IVSHMEM_CHAN_SEND, -1, o, &ch), 0);
	else
		ASSERT_EQ(ivshmem_chan_attach_as(d, LARGE_NAME, IVSHMEM_CHAN_RECV, o, &ch), 0);
	ivshmem_chan_opts_free(o);
	EXPECT_EQ(ivshmem_chan_max_msg(ch), LARGE_MAX);
	t0 = xchg_now_ns();
	for (size_t i = 0; i < count; i++) {
		size_t len = large_sizes[i];

		xchg_fill_bytes(producer ? buf : want, 0, len, 0x5eed + i);
		if (producer) {
			ASSERT_EQ(ivshmem_chan_send(ch, buf, len, 0, MEET_MS), 0);
		} else {
			ASSERT_EQ(ivshmem_chan_recv(ch, buf, LARGE_MAX, MEET_MS), (int)len);
			ASSERT_EQ(memcmp(buf, want, len), 0);
		}
		bytes += len;
	}
	for (size_t i = 0; i < POOL_MSGS; i++) {
		size_t len = (i * 7919) % 65536;
		void *p;

		if (producer) {
			ASSERT_EQ(ivshmem_chan_buf_reserve(ch, len, &p, MEET_MS), 0);
			xchg_fill_bytes(p, 0, len, 0xb0f + i);
			ASSERT_EQ(ivshmem_chan_buf_commit(ch, len, 0), 0);
		} else {
			xchg_fill_bytes(want, 0, len, 0xb0f + i);
			ASSERT_EQ(ivshmem_chan_recv(ch, buf, LARGE_MAX, MEET_MS), (int)len);
			ASSERT_EQ(memcmp(buf, want, len), 0);
		}
		bytes += len;
	}
	if (!producer)
		EXPECT_EQ(ivshmem_chan_recv(ch, buf, LARGE_MAX, MEET_MS), -EPIPE);
	printf("# bench: large messages guest to guest through a 16 KiB ring, then messages in "
	       "the pool: %zu messages, %.1f MiB in %lld ms\n", count + POOL_MSGS,
	       (double)bytes / (1 << 20),
	       (long long)((xchg_now_ns() - t0) / 1000000));
	ivshmem_chan_close(ch);
	ivshmem_close(d);
	free(buf);
	free(want);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
