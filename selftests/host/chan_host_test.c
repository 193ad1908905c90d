// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem channels: over plain memory in one process (threads), and
 * between host peers of a real ivshmem-server in separate processes:
 * order, wrap-around, full and empty, the largest message, 10^7 messages
 * with checksums, a producer killed between reserve and commit and its
 * restart, a hostile peer, attach errors, notification suppression, the
 * pollable fd, and ivshmem-ctl's chan subcommands.  Runs under valgrind,
 * ASan/UBSan and ThreadSanitizer (with fewer messages under the first and
 * the last).
 *
 * Every server, child and ivshmem-ctl started here lives in a private
 * temporary directory, dies with the test and has a deadline.
 *
 * usage: chan_host_test PATH-TO-ivshmem-server PATH-TO-ivshmem-ctl
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libivshmem.h"
#include "channel.h"
#include "lib/harness.h"
#include "lib/json.h"
#include "lib/spawn.h"
#include "lib/tmpdir.h"

static const char *server_path, *ctl_path;

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif
#ifndef TSAN
#define TSAN 0
#endif
#define SLOW TSAN

/* valgrind and ThreadSanitizer: a tenth, or a hundredth, of the messages. */
static long scaled(long n)
{
	const char *preload = getenv("LD_PRELOAD");

	if (preload && strstr(preload, "vgpreload"))
		return n / 100;
	return SLOW ? n / 10 : n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A message's bytes from its sequence number, and their checksum. */
static void fill(uint8_t *p, size_t len, uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + len;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static bool check(const uint8_t *p, size_t len, uint64_t seq)
{
	uint8_t want[4096];

	if (len > sizeof(want))
		return false;
	fill(want, len, seq);
	return !memcmp(p, want, len);
}

/* Sizes that wrap the ring at every offset: 0..300 bytes, varied. */
static size_t size_of(uint64_t seq, size_t max)
{
	size_t n = (size_t)((seq * 37) % 301);

	return n < max ? n : max;
}

/* ---- over plain memory ---- */

struct mem {
	void *area;
	size_t len;
	struct ivshmem_chan *tx, *rx;
};

/*
 * Over a ring of @ring bytes, with large messages up to @max_msg bytes and
 * a pool of @pool bytes.
 */
static void mem_setup_all(struct mem *m, uint32_t ring, uint32_t max_msg, uint32_t pool)
{
	m->len = CHAN_HDR_SIZE + ring + pool;
	m->area = aligned_alloc(4096, (m->len + 4095) / 4096 * 4096);
	ASSERT_TRUE(m->area);
	memset(m->area, 0, m->len);
	ASSERT_EQ(ivshmem_chan_format_memory(m->area, m->len, ring, max_msg, pool), 0);
	ASSERT_EQ(ivshmem_chan_over_memory(m->area, m->len, true, &m->tx), 0);
	ASSERT_EQ(ivshmem_chan_over_memory(m->area, m->len, false, &m->rx), 0);
}

static void mem_setup_large(struct mem *m, uint32_t ring, uint32_t max_msg)
{
	mem_setup_all(m, ring, max_msg, 0);
}

static void mem_setup(struct mem *m, uint32_t ring)
{
	mem_setup_all(m, ring, 0, 0);
}

static void mem_teardown(struct mem *m)
{
	ivshmem_chan_close(m->tx);
	ivshmem_chan_close(m->rx);
	free(m->area);
}

TEST(memory_empty_full_order_wrap)
{
	uint8_t buf[4096], out[4096];
	const void *data;
	struct mem m;
	size_t len, max;
	int sent = 0;
	void *p;

	mem_setup(&m, 4096);
	max = ivshmem_chan_max_msg(m.tx);
	EXPECT_EQ(max, 2048 - 8);
	/* Empty. */
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	EXPECT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 10), -ETIMEDOUT);
	/* Wrong side. */
	EXPECT_EQ(ivshmem_chan_send(m.rx, buf, 1, 0, 0), -EPERM);
	EXPECT_EQ(ivshmem_chan_recv(m.tx, out, sizeof(out), 0), -EPERM);
	/* Full: 64-byte messages take 72 bytes of 4096. */
	fill(buf, 64, 0);
	while (ivshmem_chan_send(m.tx, buf, 64, 0, 0) == 0)
		sent++;
	EXPECT_EQ(sent, 4096 / 72);
	EXPECT_EQ(ivshmem_chan_send(m.tx, buf, 64, 0, 0), -ETIMEDOUT);
	EXPECT_EQ(ivshmem_chan_reserve(m.tx, 64, &p, 5), -ETIMEDOUT);
	for (int i = 0; i < sent; i++)
		ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 64);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	/* The largest message fits an empty ring wherever it stands. */
	for (int i = 0; i < 40; i++) {
		size_t n = i % 2 ? max : (size_t)(i * 8 + 1);

		fill(buf, n, (uint64_t)i);
		ASSERT_EQ(ivshmem_chan_send(m.tx, buf, n, 0, 0), 0);
		ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), (int)n);
		ASSERT_TRUE(check(out, n, (uint64_t)i));
	}
	EXPECT_EQ(ivshmem_chan_send(m.tx, buf, max + 1, 0, 0), -EMSGSIZE);
	/* Order across many wraps, several in flight. */
	for (uint64_t seq = 0, got = 0; got < 5000;) {
		size_t n = size_of(seq, max);

		fill(buf, n, seq);
		if (seq < 5000 && ivshmem_chan_send(m.tx, buf, n, 0, 0) == 0) {
			seq++;
			if (seq % 3)
				continue;
		}
		ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
		ASSERT_EQ(len, size_of(got, max));
		ASSERT_TRUE(check(data, len, got));
		/* Peeking again gives the same message. */
		ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
		ASSERT_EQ(len, size_of(got, max));
		ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
		got++;
	}
	/* A receive buffer too small leaves the message. */
	ASSERT_EQ(ivshmem_chan_send(m.tx, buf, 100, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, 99, 0), -EMSGSIZE);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, 100, 0), 100);
	EXPECT_EQ(ivshmem_chan_release(m.rx), -EINVAL);
	mem_teardown(&m);
}

TEST(memory_reserve_commit_batch)
{
	struct ivshmem_chan_info *info;
	uint8_t out[64];
	struct mem m;
	void *p;

	mem_setup(&m, 4096);
	EXPECT_EQ(ivshmem_chan_commit(m.tx, 1, 0), -EINVAL);
	ASSERT_EQ(ivshmem_chan_reserve(m.tx, 32, &p, 0), 0);
	EXPECT_EQ(ivshmem_chan_reserve(m.tx, 32, &p, 0), -EBUSY);
	EXPECT_EQ(ivshmem_chan_commit(m.tx, 33, 0), -EINVAL);
	memcpy(p, "partial", 7);
	/* Not visible before the commit. */
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_commit(m.tx, 7, IVSHMEM_CHAN_MORE), 0);
	ASSERT_EQ(ivshmem_chan_send(m.tx, "second", 6, IVSHMEM_CHAN_MORE, 0), 0);
	/* A batch is not published before the flush. */
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_flush(m.tx), 0);
	ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 7);
	EXPECT_TRUE(!memcmp(out, "partial", 7));
	ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 6);
	EXPECT_TRUE(!memcmp(out, "second", 6));
	/* Nobody slept: one publication, no doorbell. */
	ASSERT_EQ(ivshmem_chan_get_info(m.tx, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_msgs_sent(info), 2);
	EXPECT_EQ(ivshmem_chan_info_get_msgs_received(info), 2);
	EXPECT_EQ(ivshmem_chan_info_get_notify_sent(info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_notify_suppressed(info), 1);
	EXPECT_EQ(ivshmem_chan_info_get_used(info), 0);
	ivshmem_chan_info_free(info);
	mem_teardown(&m);
}

/* Only -1 waits forever: another negative timeout is refused, not a hang. */
TEST_TIMEOUT(memory_bad_timeout, 10)
{
	uint8_t out[64];
	const void *data;
	struct mem m;
	size_t len;
	void *p;

	mem_setup(&m, 4096);
	EXPECT_EQ(ivshmem_chan_peek(m.rx, &data, &len, -2), -EINVAL);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), INT32_MIN), -EINVAL);
	ASSERT_EQ(ivshmem_chan_send(m.tx, "x", 1, 0, 0), 0);
	while (ivshmem_chan_send(m.tx, out, 64, 0, 0) == 0)
		;
	EXPECT_EQ(ivshmem_chan_reserve(m.tx, 64, &p, -5), -EINVAL);
	EXPECT_EQ(ivshmem_chan_send(m.tx, out, 64, 0, -2), -EINVAL);
	/* Nothing was dropped on the way. */
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 1);
	mem_teardown(&m);
}

/* A receive in a thread of its own, timed. */
struct sleeper {
	struct ivshmem_chan *ch;
	int timeout_ms;
	int ret;
	int64_t waited_ms;
};

static void *sleep_recv(void *arg)
{
	struct sleeper *s = arg;
	int64_t t0 = now_ms();
	char buf[16];

	s->ret = ivshmem_chan_recv(s->ch, buf, sizeof(buf), s->timeout_ms);
	s->waited_ms = now_ms() - t0;
	return NULL;
}

/*
 * A timeout is one deadline for the whole call: a pad record published
 * alone (the producer flushed between reserve and commit) in the middle of
 * a wait must not start the wait over.
 */
TEST_TIMEOUT(memory_pad_record_does_not_restart_the_timeout, 20)
{
	struct sleeper pp;
	uint8_t buf[2048] = { 0 };
	pthread_t thread;
	struct mem m;
	void *p;

	mem_setup(&m, 4096);
	/* The next record of 2048 bytes would cross the ring's end at 3056. */
	ASSERT_EQ(ivshmem_chan_send(m.tx, buf, 2040, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_recv(m.rx, buf, sizeof(buf), 0), 2040);
	ASSERT_EQ(ivshmem_chan_send(m.tx, buf, 1000, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_recv(m.rx, buf, sizeof(buf), 0), 1000);
	pp = (struct sleeper){ .ch = m.rx, .timeout_ms = 1000 };
	ASSERT_EQ(pthread_create(&thread, NULL, sleep_recv, &pp), 0);
	usleep(600000);
	ASSERT_EQ(ivshmem_chan_reserve(m.tx, 2040, &p, 0), 0);
	ASSERT_EQ(ivshmem_chan_flush(m.tx), 0);
	pthread_join(thread, NULL);
	EXPECT_EQ(pp.ret, -ETIMEDOUT);
	TH_LOG("recv(1000 ms) with a pad record published after 600 ms: %lld ms",
	       (long long)pp.waited_ms);
	EXPECT_TRUE(pp.waited_ms < 1400);
	ASSERT_EQ(ivshmem_chan_commit(m.tx, 10, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, buf, sizeof(buf), 0), 10);
	mem_teardown(&m);
}

struct relayout {
	void *area;
	size_t len;
	long rounds;
	bool stop;
};

/*
 * A creator restarting over and over, with 4 and 8 KiB rings in turn,
 * until told to stop: bursts of 1,024 layouts back to back, each burst's last
 * left in place for a moment.  Without the pause a reader may never find
 * a finished layout, and gives up with -EPROTO after about 100 ms by
 * design (a peer can rewrite the header for ever); with it, every reset
 * must succeed.
 */
static void *relayout_thread(void *arg)
{
	struct relayout *r = arg;

	for (long i = 0; !__atomic_load_n(&r->stop, __ATOMIC_RELAXED); i++) {
		ivshmem_chan_format_memory(r->area, r->len, i % 2 ? 4096 : 8192, 0, 0);
		__atomic_store_n(&r->rounds, i + 1, __ATOMIC_RELAXED);
		if (i % 1024 == 1023)
			usleep(20);
	}
	return NULL;
}

/* Ends a layout left half done (the magic at 0) after 20 ms. */
static void *finish_layout(void *arg)
{
	struct chan_hdr *h = arg;

	usleep(20000);
	__atomic_store_n(&h->magic, CHAN_MAGIC, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A side that resets while the header is laid out again reads it as one
 * snapshot: it waits out a layout in progress (the magic at 0) rather
 * than failing with -EPROTO, and under a storm of layouts never fails and
 * always adopts a ring size that some layout had.
 */
TEST_TIMEOUT(memory_reset_waits_out_a_relayout, 60)
{
	struct relayout r = { 0 };
	struct ivshmem_chan *ch;
	long resets = 0, eproto = 0, odd = 0;
	pthread_t thread;
	uint32_t gen;
	size_t max;

	r.len = CHAN_HDR_SIZE + 8192;
	r.area = aligned_alloc(4096, (size_t)3 * 4096);
	ASSERT_TRUE(r.area);
	memset(r.area, 0, (size_t)3 * 4096);
	ASSERT_EQ(ivshmem_chan_format_memory(r.area, r.len, 8192, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_over_memory(r.area, r.len, false, &ch), 0);
	__atomic_store_n(&((struct chan_hdr *)r.area)->magic, 0, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_create(&thread, NULL, finish_layout, r.area), 0);
	EXPECT_EQ(ivshmem_chan_reset(ch), 0);
	pthread_join(thread, NULL);
	ASSERT_EQ(pthread_create(&thread, NULL, relayout_thread, &r), 0);
	while (__atomic_load_n(&r.rounds, __ATOMIC_RELAXED) == 0)
		sched_yield();
	for (; resets < scaled(100000); resets++) {
		int ret = ivshmem_chan_reset(ch);

		if (ret == -EPROTO)
			eproto++;
		max = ivshmem_chan_max_msg(ch);
		/* Layout n (generation n + 1 here) has 8 KiB if n is even. */
		gen = ivshmem_chan_adopted_generation(ch);
		if (!ret && gen > 1 && max != (gen % 2 ? 2048u : 4096u) - 8)
			odd++;
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	TH_LOG("%ld resets during %ld re-layouts: %ld -EPROTO, %ld ring sizes of another layout", resets,
	       r.rounds, eproto, odd);
	EXPECT_EQ(eproto, 0);
	EXPECT_EQ(odd, 0);
	ivshmem_chan_close(ch);
	free(r.area);
}

/*
 * sendv gathers its pieces into one message; peek_batch shows the
 * messages published, across a pad at the ring's end, and one release
 * drops them all.
 */
TEST(memory_sendv_and_peek_batch)
{
	struct iovec iov[4] = { { "ab", 2 }, { NULL, 0 }, { "cde", 3 }, { "f", 1 } };
	struct ivshmem_chan_msg batch[8];
	struct ivshmem_chan_info *info;
	uint8_t out[256], msg[200];
	struct mem m;

	mem_setup(&m, 4096);
	ASSERT_EQ(ivshmem_chan_sendv(m.tx, iov, 4, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 6);
	EXPECT_TRUE(!memcmp(out, "abcdef", 6));
	EXPECT_EQ(ivshmem_chan_sendv(m.tx, iov, -1, 0, 0), -EINVAL);
	EXPECT_EQ(ivshmem_chan_sendv(m.tx, &(struct iovec){ out, 4096 }, 1, 0, 0), -EMSGSIZE);
	EXPECT_EQ(ivshmem_chan_peek_batch(m.rx, batch, 0, 0), -EINVAL);
	EXPECT_EQ(ivshmem_chan_peek_batch(m.rx, batch, 8, 0), -ETIMEDOUT);
	/* To 8 + 15 * 208 bytes, then 5 more: the last after a pad. */
	for (int i = 0; i < 15; i++) {
		ASSERT_EQ(ivshmem_chan_send(m.tx, msg, sizeof(msg), 0, 0), 0);
		ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), (int)sizeof(msg));
	}
	for (int i = 0; i < 5; i++) {
		memset(msg, 'a' + i, sizeof(msg));
		ASSERT_EQ(ivshmem_chan_send(m.tx, msg, sizeof(msg), IVSHMEM_CHAN_MORE, 0), 0);
	}
	ASSERT_EQ(ivshmem_chan_flush(m.tx), 0);
	ASSERT_EQ(ivshmem_chan_peek_batch(m.rx, batch, 2, 0), 2);
	EXPECT_EQ(((const uint8_t *)batch[1].data)[0], 'b');
	ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
	ASSERT_EQ(ivshmem_chan_peek_batch(m.rx, batch, 8, 0), 3);
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(batch[i].len, sizeof(msg));
		EXPECT_EQ(((const uint8_t *)batch[i].data)[199], 'c' + i);
	}
	ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
	EXPECT_EQ(ivshmem_chan_release(m.rx), -EINVAL);
	EXPECT_EQ(ivshmem_chan_peek_batch(m.rx, batch, 8, 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_get_info(m.rx, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_used(info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_msgs_received(info), 21);
	ivshmem_chan_info_free(info);
	mem_teardown(&m);
}

/* The producer's and consumer's index words, and their positions. */
#define HEAD(h)	(&(h)->producer.index)
#define TAIL(h)	(&(h)->consumer.index)

/* Writes position @pos into index word @word, in its generation, as a peer would. */
static void set_pos(uint64_t *word, uint64_t pos)
{
	__atomic_store_n(word, CHAN_IDX(CHAN_IDX_GEN(*word), pos), __ATOMIC_SEQ_CST);
}

static uint64_t pos_of(const uint64_t *word)
{
	return CHAN_IDX_POS(__atomic_load_n(word, __ATOMIC_SEQ_CST));
}

/* Writes into the header or ring as a hostile peer would. */
TEST(memory_hostile_peer)
{
	struct chan_hdr *h;
	struct chan_rec rec;
	uint8_t out[4096];
	struct mem m;
	uint8_t *ring;

	mem_setup(&m, 4096);
	h = m.area;
	ring = (uint8_t *)m.area + CHAN_HDR_SIZE;
	/* head far beyond the ring. */
	set_pos(HEAD(h), 1 << 20);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	/* Failed until reset; the reset takes head as it is. */
	set_pos(HEAD(h), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	ASSERT_EQ(ivshmem_chan_reset(m.rx), 0);
	ASSERT_EQ(ivshmem_chan_reset(m.tx), 0);
	/* A record longer than the ring, or than what was published. */
	rec = (struct chan_rec){ .len = 100000, .kind = CHAN_REC_MSG };
	memcpy(ring, &rec, sizeof(rec));
	set_pos(HEAD(h), 64);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	ASSERT_EQ(ivshmem_chan_reset(m.rx), 0);
	rec = (struct chan_rec){ .len = 100, .kind = CHAN_REC_MSG };
	memcpy(ring, &rec, sizeof(rec));
	set_pos(HEAD(h), 16);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	ASSERT_EQ(ivshmem_chan_reset(m.rx), 0);
	/* A pad at the ring's start, an unknown kind, an unaligned head. */
	rec = (struct chan_rec){ .len = 4096 - 8, .kind = CHAN_REC_PAD };
	set_pos(TAIL(h), (uint64_t)4096 * 3);
	set_pos(HEAD(h), (uint64_t)4096 * 3);
	ASSERT_EQ(ivshmem_chan_reset(m.rx), 0);
	memcpy(ring, &rec, sizeof(rec));
	set_pos(HEAD(h), pos_of(HEAD(h)) + 4096);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	ASSERT_EQ(ivshmem_chan_reset(m.rx), 0);
	rec = (struct chan_rec){ .len = 0, .kind = 77 };
	memcpy(ring, &rec, sizeof(rec));
	set_pos(HEAD(h), pos_of(TAIL(h)) + 8);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	set_pos(TAIL(h), pos_of(TAIL(h)) + 3);
	EXPECT_EQ(ivshmem_chan_reset(m.rx), -EPROTO);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	/* A tail ahead of head, as the producer sees it. */
	set_pos(TAIL(h), pos_of(HEAD(h)) + 4096);
	EXPECT_EQ(ivshmem_chan_send(m.tx, out, 8, 0, 0), -EPROTO);
	/* A new generation: -ECONNRESET, then a reset goes on. */
	ASSERT_EQ(ivshmem_chan_reset(m.tx), 0);
	h->generation++;
	EXPECT_EQ(ivshmem_chan_send(m.tx, out, 8, 0, 0), -ECONNRESET);
	/* Another magic, or layout version: -EPROTO, also for a reset. */
	h->version = CHAN_LAYOUT_VERSION + 1;
	EXPECT_EQ(ivshmem_chan_reset(m.tx), -EPROTO);
	h->version = CHAN_LAYOUT_VERSION;
	h->ring_size = 8192;	/* larger than the area */
	EXPECT_EQ(ivshmem_chan_reset(m.tx), -EPROTO);
	mem_teardown(&m);
}

/* ---- large messages: in parts, through a ring smaller than they are ---- */

#define LARGE_MAX	(1u << 20)

/* Sizes around every boundary: a record's, the ring's, the maximum. */
static const size_t large_sizes[] = {
	0, 1, 2040, 2041, 4096, 5000, 65536, 100, LARGE_MAX, 300001, 2040 + 1016, 7,
};

static bool check_large(const uint8_t *p, size_t len, uint64_t seq)
{
	uint8_t *want = malloc(len ? len : 1);
	bool ok;

	if (!want)
		return false;
	fill(want, len, seq);
	ok = !memcmp(p, want, len);
	free(want);
	return ok;
}

struct large_stream {
	struct ivshmem_chan *ch;
	int ret;
};

/* Every size of large_sizes, numbered; the odd ones in three pieces. */
static void *large_send(void *arg)
{
	struct large_stream *s = arg;
	uint8_t *buf = malloc(LARGE_MAX);

	for (size_t i = 0; buf && i < sizeof(large_sizes) / sizeof(large_sizes[0]); i++) {
		size_t len = large_sizes[i], third = len / 3;
		struct iovec iov[3] = {
			{ buf, third }, { buf + third, third }, { buf + 2 * third, len - 2 * third },
		};

		fill(buf, len, i);
		s->ret = i % 2 ? ivshmem_chan_sendv(s->ch, iov, 3, 0, 10000) :
				 ivshmem_chan_send(s->ch, buf, len, 0, 10000);
		if (s->ret)
			break;
	}
	free(buf);
	return NULL;
}

TEST_TIMEOUT(memory_large_messages, 60)
{
	struct large_stream tx = { 0 };
	struct ivshmem_chan_info *info;
	uint8_t small[100], *buf;
	pthread_t thread;
	const void *data;
	struct mem m;
	void *room;
	size_t len;

	mem_setup_large(&m, 4096, LARGE_MAX);
	buf = malloc(LARGE_MAX + 1);
	ASSERT_TRUE(buf);
	EXPECT_EQ(ivshmem_chan_max_msg(m.tx), LARGE_MAX);
	EXPECT_EQ(ivshmem_chan_max_reserve(m.tx), 2040);
	EXPECT_EQ(ivshmem_chan_reserve(m.tx, 2041, &room, 0), -EMSGSIZE);
	EXPECT_EQ(ivshmem_chan_send(m.tx, buf, LARGE_MAX + 1, 0, 0), -EMSGSIZE);
	ASSERT_EQ(ivshmem_chan_get_info(m.rx, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_max_msg(info), LARGE_MAX);
	ivshmem_chan_info_free(info);
	tx.ch = m.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, large_send, &tx), 0);
	for (size_t i = 0; i < sizeof(large_sizes) / sizeof(large_sizes[0]); i++) {
		size_t want = large_sizes[i];

		if (want > sizeof(small)) {
			/* Too small a buffer: it stays, whole, for peek. */
			EXPECT_EQ(ivshmem_chan_recv(m.rx, small, sizeof(small), 10000), -EMSGSIZE);
			ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
			EXPECT_EQ(len, want);
			EXPECT_TRUE(check_large(data, len, i));
			if (i % 3 == 0) {
				ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
				continue;
			}
		}
		ASSERT_EQ(ivshmem_chan_recv(m.rx, buf, LARGE_MAX, 10000), (int)want);
		EXPECT_TRUE(check_large(buf, want, i));
	}
	pthread_join(thread, NULL);
	EXPECT_EQ(tx.ret, 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, buf, LARGE_MAX, 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_get_info(m.rx, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_msgs_received(info),
		  sizeof(large_sizes) / sizeof(large_sizes[0]));
	EXPECT_EQ(ivshmem_chan_info_get_used(info), 0);
	ivshmem_chan_info_free(info);
	free(buf);
	mem_teardown(&m);

	/* Without large messages, what a record holds is the limit. */
	mem_setup(&m, 4096);
	EXPECT_EQ(ivshmem_chan_max_msg(m.tx), 2040);
	EXPECT_EQ(ivshmem_chan_send(m.tx, small, 2041, 0, 0), -EMSGSIZE);
	mem_teardown(&m);
}

struct slow_large {
	struct ivshmem_chan *ch;
	size_t len;
	int ret;
};

static void *slow_large_send(void *arg)
{
	struct slow_large *s = arg;
	uint8_t *buf = malloc(s->len);

	if (!buf)
		return NULL;
	fill(buf, s->len, 42);
	s->ret = ivshmem_chan_send(s->ch, buf, s->len, 0, 20000);
	free(buf);
	return NULL;
}

/*
 * A send cut short by its timeout delivers nothing of its message, and
 * the channel goes on; a receive cut short keeps the parts it took.
 */
TEST_TIMEOUT(memory_large_message_cut_short, 60)
{
	struct slow_large s = { .len = 256 << 10 };
	uint8_t buf[4096], *big;
	pthread_t thread;
	int ret, timeouts = 0;
	int64_t start;

	struct mem m;

	mem_setup_large(&m, 4096, LARGE_MAX);
	big = malloc(LARGE_MAX);
	ASSERT_TRUE(big);
	/* Nobody consumes: the first parts fill the ring, then the timeout. */
	start = now_ms();
	EXPECT_EQ(ivshmem_chan_send(m.tx, big, 65536, 0, 50), -ETIMEDOUT);
	EXPECT_GE(now_ms() - start, 50);
	/* The consumer drops those parts: no message. */
	EXPECT_EQ(ivshmem_chan_recv(m.rx, buf, sizeof(buf), 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_send(m.tx, "after", 5, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, buf, sizeof(buf), 0), 5);
	EXPECT_TRUE(!memcmp(buf, "after", 5));
	/* A consumer that looks without waiting, while the parts come. */
	s.ch = m.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, slow_large_send, &s), 0);
	while ((ret = ivshmem_chan_recv(m.rx, big, LARGE_MAX, 0)) == -ETIMEDOUT) {
		timeouts++;
		usleep(100);
	}
	pthread_join(thread, NULL);
	TH_LOG("256 KiB through a 4 KiB ring, received with a timeout of 0: %d timeouts", timeouts);
	EXPECT_EQ(s.ret, 0);
	ASSERT_EQ(ret, (int)s.len);
	EXPECT_TRUE(check_large(big, s.len, 42));
	EXPECT_GE(timeouts, 1);
	free(big);
	mem_teardown(&m);
}

/* A record header @kind, @len at ring offset @off, then head moved past it. */
static void put_record(struct chan_hdr *h, uint32_t off, uint32_t kind, uint32_t len,
		       uint64_t first_word)
{
	uint8_t *ring = (uint8_t *)h + CHAN_HDR_SIZE;
	struct chan_rec rec = { .len = len, .kind = kind };

	memcpy(ring + off, &rec, sizeof(rec));
	if (len >= 8)
		memcpy(ring + off + 8, &first_word, sizeof(first_word));
}

/*
 * Each of the @n values in @bad written into header field @field makes a
 * reset -EPROTO; the value it had makes it work again.
 */
static void expect_header_field(struct mem *m, uint32_t *field, const uint32_t *bad, size_t n)
{
	uint32_t good = *field;

	for (size_t i = 0; i < n; i++) {
		*field = bad[i];
		EXPECT_EQ(ivshmem_chan_reset(m->rx), -EPROTO);
	}
	*field = good;
	EXPECT_EQ(ivshmem_chan_reset(m->rx), 0);
}

/* Records a producer left in the ring, and what the consumer's first receive gives. */
struct records_case {
	const char *what;
	uint32_t kind[3], len[3];
	uint64_t word[3];	/* a FIRST's length */
	int want;
};

/*
 * Lay @c's records out from the ring's start and publish them: the first
 * receive gives c->want; after a message, nothing more, and every record
 * was taken.
 */
static void expect_records(const struct records_case *c)
{
	uint8_t out[8192];
	struct chan_hdr *h;
	uint32_t off = 0;
	struct mem m;

	mem_setup_large(&m, 4096, LARGE_MAX);
	h = m.area;
	for (int r = 0; r < 3 && c->kind[r]; r++) {
		put_record(h, off, c->kind[r], c->len[r], c->word[r]);
		off += 8 + (c->len[r] + 7) / 8 * 8;
	}
	set_pos(HEAD(h), off);
	TH_LOG("%s", c->what);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), c->want);
	if (c->want >= 0) {
		EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
		EXPECT_EQ(pos_of(TAIL(h)), off);
	}
	mem_teardown(&m);
}

/* A hostile producer's parts: each breaks one rule, each is -EPROTO. */
TEST(memory_large_hostile_parts)
{
	static const struct records_case cases[] = {
		{ "a first part of a message a record holds", { CHAN_REC_FIRST }, { 64 }, { 2040 },
		  -EPROTO },
		{ "a first part above the maximum", { CHAN_REC_FIRST }, { 64 }, { LARGE_MAX + 1 },
		  -EPROTO },
		{ "a first part too short for the length", { CHAN_REC_FIRST }, { 4 }, { 0 },
		  -EPROTO },
		{ "a first part with no data", { CHAN_REC_FIRST }, { 8 }, { 5000 }, -EPROTO },
		{ "an abort with a payload", { CHAN_REC_FIRST, CHAN_REC_ABORT }, { 64, 8 },
		  { 5000 }, -EPROTO },
		{ "parts past the length", { CHAN_REC_FIRST, CHAN_REC_PART }, { 64, 1016 },
		  { 1000 + 56 }, -EPROTO },
		{ "an empty part", { CHAN_REC_FIRST, CHAN_REC_PART }, { 64, 0 }, { 5000 }, -EPROTO },
		{ "a kind nobody defined", { 7 }, { 8 }, { 0 }, -EPROTO },
	};
	uint8_t out[4096];
	struct mem m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_records(&cases[i]);
	/* Parts, or an abort, on a channel without large messages. */
	for (uint32_t kind = CHAN_REC_FIRST; kind <= CHAN_REC_PART; kind++) {
		mem_setup(&m, 4096);
		put_record(m.area, 0, kind, kind == CHAN_REC_ABORT ? 0 : 64, 5000);
		set_pos(HEAD((struct chan_hdr *)m.area), kind == CHAN_REC_ABORT ? 8 : 72);
		EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
		mem_teardown(&m);
	}
	/* A maximum a record holds, or above 1 GiB, with the feature bit. */
	mem_setup_large(&m, 4096, LARGE_MAX);
	expect_header_field(&m, &((struct chan_hdr *)m.area)->max_message,
			    (const uint32_t[]){ 2040, CHAN_LARGE_MAX + 1 }, 2);
	mem_teardown(&m);
}

/*
 * What a consumer finds where a producer gave up on a message, or where
 * it starts in the middle of one: the rest of it and a stray abort are
 * skipped, and a new message (a first part, or a plain message) drops
 * the one in progress.  Nothing of an unfinished message is delivered,
 * and what follows is.
 */
TEST(memory_large_orphans_and_unfinished_messages)
{
	static const struct records_case cases[] = {
		{ "an abort, then a message", { CHAN_REC_ABORT, CHAN_REC_MSG }, { 0, 8 },
		  { 0, 7 }, 8 },
		{ "the rest of a message begun before, then a message",
		  { CHAN_REC_PART, CHAN_REC_PART, CHAN_REC_MSG }, { 1016, 64, 16 }, { 1, 2, 3 }, 16 },
		{ "a message begun, then a plain message", { CHAN_REC_FIRST, CHAN_REC_MSG },
		  { 64, 24 }, { 5000, 9 }, 24 },
		{ "a message begun, then another, whole",
		  { CHAN_REC_FIRST, CHAN_REC_FIRST, CHAN_REC_PART }, { 64, 1016, 1092 },
		  { 5000, 2100, 0 }, 2100 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_records(&cases[i]);
}

/* What an attach after a clean close does to the header: a new
 * generation, both words stamped with their positions, the side open. */
static void return_attach(struct chan_hdr *h)
{
	uint32_t gen = __atomic_add_fetch(&h->generation, 1, __ATOMIC_SEQ_CST);

	__atomic_store_n(HEAD(h), CHAN_IDX(gen, pos_of(HEAD(h))), __ATOMIC_SEQ_CST);
	__atomic_store_n(TAIL(h), CHAN_IDX(gen, pos_of(TAIL(h))), __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->consumer.state, CHAN_SIDE_OPEN, __ATOMIC_SEQ_CST);
}

struct big_send {
	struct ivshmem_chan *ch;
	const uint8_t *buf;
	size_t len;
	int ret;
};

static void *big_send_thread(void *arg)
{
	struct big_send *s = arg;

	s->ret = ivshmem_chan_send(s->ch, s->buf, s->len, 0, 5000);
	return NULL;
}

/*
 * The consumer hangs up while a large message is half sent (the producer
 * gets -EPIPE, and has no room to say more), a new consumer attaches where
 * the old one stopped, the producer resets and sends the next large
 * message: the new consumer skips the rest of the first and delivers the
 * second, whole.  Then a consumer that starts after the first part of a
 * message its producer cut short (timeout) finds a working channel.
 */
TEST_TIMEOUT(memory_large_consumer_returns_mid_message, 30)
{
	static uint8_t big1[6048], big2[3000], out[16384];
	struct big_send s = { .buf = big1, .len = sizeof(big1) };
	struct ivshmem_chan *rx2;
	pthread_t thread;
	struct chan_hdr *h;
	struct mem m;

	memset(big1, 0x11, sizeof(big1));
	memset(big2, 0x22, sizeof(big2));
	mem_setup_large(&m, 4096, LARGE_MAX);
	h = m.area;
	s.ch = m.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, big_send_thread, &s), 0);
	while (pos_of(HEAD(h)) < 3072)
		usleep(100);
	__atomic_store_n(&h->consumer.state, CHAN_SIDE_CLOSED, __ATOMIC_SEQ_CST);
	pthread_join(thread, NULL);
	EXPECT_EQ(s.ret, -EPIPE);
	ivshmem_chan_close(m.rx);
	return_attach(h);
	ASSERT_EQ(ivshmem_chan_over_memory(m.area, m.len, false, &rx2), 0);
	m.rx = rx2;
	EXPECT_EQ(ivshmem_chan_send(m.tx, big2, sizeof(big2), 0, 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(m.tx), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_send(m.tx, big2, sizeof(big2), 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), (int)sizeof(big2));
	EXPECT_TRUE(out[0] == 0x22 && out[sizeof(big2) - 1] == 0x22);
	mem_teardown(&m);

	/* Cut short by its timeout, taken up to its first part. */
	mem_setup_large(&m, 4096, LARGE_MAX);
	h = m.area;
	EXPECT_EQ(ivshmem_chan_send(m.tx, out, 10000, 0, 0), -ETIMEDOUT);
	set_pos(TAIL(h), 1024);
	ivshmem_chan_close(m.rx);
	return_attach(h);
	ASSERT_EQ(ivshmem_chan_over_memory(m.area, m.len, false, &rx2), 0);
	m.rx = rx2;
	ASSERT_EQ(ivshmem_chan_reset(m.tx), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_send(m.tx, "x", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 1);
	mem_teardown(&m);
}

/*
 * A producer with parts for ever (here a ring of 32 MiB full of a first
 * part and an abort, again and again) does not hold a receive past its
 * deadline by more than PARTS_PAST_DEADLINE of parts (1 MiB).
 */
TEST_TIMEOUT(memory_large_parts_do_not_hold_the_deadline, 30)
{
	const uint32_t ring = 32u << 20;
	uint8_t out[4096];
	uint64_t off;
	struct mem m;

	mem_setup_large(&m, ring, 64u << 20);
	for (off = 0; off + 80 <= ring; off += 80) {
		put_record(m.area, (uint32_t)off, CHAN_REC_FIRST, 64, 20u << 20);
		put_record(m.area, (uint32_t)off + 72, CHAN_REC_ABORT, 0, 0);
	}
	set_pos(HEAD((struct chan_hdr *)m.area), off);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -ETIMEDOUT);
	TH_LOG("one receive with a timeout of 0 took %llu bytes of parts",
	       (unsigned long long)pos_of(TAIL((struct chan_hdr *)m.area)));
	EXPECT_TRUE(pos_of(TAIL((struct chan_hdr *)m.area)) <= (1u << 20) + 80);
	mem_teardown(&m);
}

/* ---- the pool: messages handed over in place ---- */

#define POOL_SIZE	(64u << 10)

struct pool_stream {
	struct ivshmem_chan *ch;
	long count;
	int ret;
};

/* Message @seq: through the pool, except every third through the ring. */
static size_t pool_msg_len(long seq)
{
	return seq % 3 == 2 ? (size_t)(seq % 500) : (size_t)(seq * 7919 % 20000);
}

static void *pool_send(void *arg)
{
	struct pool_stream *s = arg;
	uint8_t buf[500];

	for (long seq = 0; seq < s->count && !s->ret; seq++) {
		size_t len = pool_msg_len(seq);
		void *p;

		if (seq % 3 == 2) {
			fill(buf, len, (uint64_t)seq);
			s->ret = ivshmem_chan_send(s->ch, buf, len, 0, 10000);
			continue;
		}
		s->ret = ivshmem_chan_buf_reserve(s->ch, len, &p, 10000);
		if (s->ret)
			break;
		fill(p, len, (uint64_t)seq);
		s->ret = ivshmem_chan_buf_commit(s->ch, len, seq % 5 ? IVSHMEM_CHAN_MORE : 0);
	}
	if (!s->ret)
		s->ret = ivshmem_chan_flush(s->ch);
	return NULL;
}

TEST_TIMEOUT(memory_pool_messages, 60)
{
	struct pool_stream tx = { .count = scaled(20000) };
	uint8_t *pool, *out = malloc(POOL_SIZE);
	const void *data;
	long bad = 0;
	pthread_t thread;
	struct mem m;
	size_t len;
	void *p, *q;

	ASSERT_TRUE(out);
	mem_setup(&m, 4096);
	EXPECT_EQ(ivshmem_chan_pool_size(m.tx), 0);
	EXPECT_EQ(ivshmem_chan_buf_reserve(m.tx, 8, &p, 0), -EOPNOTSUPP);
	mem_teardown(&m);

	mem_setup_all(&m, 4096, 0, POOL_SIZE);
	pool = (uint8_t *)m.area + CHAN_HDR_SIZE + 4096;
	EXPECT_EQ(ivshmem_chan_pool_size(m.rx), POOL_SIZE);
	EXPECT_EQ(ivshmem_chan_buf_reserve(m.tx, POOL_SIZE + 1, &p, 0), -EMSGSIZE);
	EXPECT_EQ(ivshmem_chan_buf_reserve(m.rx, 8, &p, 0), -EPERM);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 8, 0), -EINVAL);
	/* In place: the consumer sees the very bytes the producer wrote. */
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 1000, &p, 0), 0);
	EXPECT_TRUE((uint8_t *)p >= pool && (uint8_t *)p + 1000 <= pool + POOL_SIZE);
	EXPECT_EQ(ivshmem_chan_reserve(m.tx, 8, &q, 0), -EBUSY);
	EXPECT_EQ(ivshmem_chan_commit(m.tx, 8, 0), -EINVAL);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 1001, 0), -EINVAL);
	memset(p, 'p', 1000);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 999, 0), 0);
	ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
	EXPECT_TRUE(data == p);
	EXPECT_EQ(len, 999);
	ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
	/* Full: the pool waits for the consumer, up to the timeout. */
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 20000, &p, 0), 0);
		ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 20000, 0), 0);
	}
	EXPECT_EQ(ivshmem_chan_buf_reserve(m.tx, 20000, &p, 50), -ETIMEDOUT);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, POOL_SIZE, 0), 20000);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 20000, &p, 0), 0);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 0, 0), 0);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(ivshmem_chan_recv(m.rx, out, POOL_SIZE, 0), i < 2 ? 20000 : 0);
	/* A stream through both, in order, every byte checked. */
	tx.ch = m.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, pool_send, &tx), 0);
	for (long seq = 0; seq < tx.count; seq++) {
		int n = ivshmem_chan_recv(m.rx, out, POOL_SIZE, 10000);

		ASSERT_EQ(n, (int)pool_msg_len(seq));
		if (n > 0 && !check_large(out, (size_t)n, (uint64_t)seq))
			bad++;
	}
	pthread_join(thread, NULL);
	EXPECT_EQ(tx.ret, 0);
	EXPECT_EQ(bad, 0);
	free(out);
	mem_teardown(&m);
}

/*
 * After a restart of the producer, messages in flight may still point
 * into the pool: nothing of it is handed out until the consumer is past
 * them.
 */
TEST(memory_pool_waits_out_a_restart)
{
	const void *data;
	struct mem m;
	size_t len;
	void *p;

	mem_setup_all(&m, 4096, 0, POOL_SIZE);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 100, &p, 0), 0);
	memset(p, 'a', 100);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 100, 0), 0);
	ASSERT_EQ(ivshmem_chan_reset(m.tx), 0);
	ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
	EXPECT_EQ(ivshmem_chan_buf_reserve(m.tx, 100, &p, 0), -ETIMEDOUT);
	EXPECT_EQ(((const uint8_t *)data)[99], 'a');
	ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 100, &p, 0), 0);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 100, 0), 0);
	mem_teardown(&m);
}

/*
 * A commit longer than the buffer reserved is refused, also once the pool
 * wrapped (where it would cover a buffer still in flight), and by a byte.
 */
TEST(memory_pool_commit_within_the_reservation)
{
	uint8_t out[1024];
	const void *data;
	struct mem m;
	size_t len;
	void *a, *b, *c;

	mem_setup_all(&m, 4096, 0, 4096);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 2048, &a, 0), 0);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 2048, 0), 0);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 1024, &b, 0), 0);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 1024, 0), 0);
	ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
	ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
	/* The first back, the second in flight: the pool wraps to 0. */
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 2048, &c, 0), 0);
	EXPECT_TRUE(c == a);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 4000, 0), -EINVAL);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 6000, 0), -EINVAL);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 2049, 0), -EINVAL);
	ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 1024);
	EXPECT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 2048, 0), 0);
	EXPECT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
	EXPECT_TRUE(data == a && len == 2048);
	mem_teardown(&m);
	/* Rounded up to 8 in the pool, but 5 reserved is 5. */
	mem_setup_all(&m, 4096, 0, 4096);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 5, &a, 0), 0);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 6, 0), -EINVAL);
	EXPECT_EQ(ivshmem_chan_buf_commit(m.tx, 5, 0), 0);
	mem_teardown(&m);
}

/*
 * Positions the pool remembers (the restart barrier, the records that
 * free its buffers) are compared with the tail as 48-bit serial numbers:
 * after 2^47 bytes of ring traffic without a pool message they must still
 * count as passed, not as far ahead (the pool was never handed out again).
 */
TEST_TIMEOUT(memory_pool_after_2_to_the_47_bytes, 60)
{
	const uint32_t ring = 64u << 20, rec = ring / 2;
	uint8_t out[64];
	const void *data;
	struct mem m;
	size_t len;
	void *p;

	if (scaled(100) < 100)
		SKIP("4 million messages: minutes under valgrind and ThreadSanitizer");
	mem_setup_all(&m, ring, 0, 4096);
	ASSERT_EQ(ivshmem_chan_buf_reserve(m.tx, 64, &p, 0), 0);
	ASSERT_EQ(ivshmem_chan_buf_commit(m.tx, 64, 0), 0);
	ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 64);
	/* Reserved, committed and released in place: no copying. */
	for (uint64_t n = 0; n < (UINT64_C(1) << 47) / rec + 4; n++) {
		ASSERT_EQ(ivshmem_chan_reserve(m.tx, rec - 8, &p, 0), 0);
		ASSERT_EQ(ivshmem_chan_commit(m.tx, rec - 8, 0), 0);
		ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
		ASSERT_EQ(ivshmem_chan_release(m.rx), 0);
	}
	EXPECT_EQ(ivshmem_chan_buf_reserve(m.tx, 64, &p, 200), 0);
	mem_teardown(&m);
}

/* A hostile producer's descriptors, and pool headers: -EPROTO. */
TEST(memory_pool_hostile_descriptors)
{
	struct {
		const char *what;
		uint32_t len;
		uint64_t offset, size;
	} cases[] = {
		{ "a descriptor of 8 bytes", 8, 0, 0 },
		{ "an offset past the pool", 16, POOL_SIZE + 8, 0 },
		{ "a length past the pool", 16, 8, POOL_SIZE },
		{ "a length that wraps", 16, 8, UINT64_MAX - 4 },
	};
	uint8_t out[64];
	struct mem m;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct chan_buf desc = { cases[i].offset, cases[i].size };
		uint8_t *ring;

		mem_setup_all(&m, 4096, 0, POOL_SIZE);
		ring = (uint8_t *)m.area + CHAN_HDR_SIZE;
		put_record(m.area, 0, CHAN_REC_BUF, cases[i].len, 0);
		memcpy(ring + 8, &desc, cases[i].len < sizeof(desc) ? cases[i].len : sizeof(desc));
		set_pos(HEAD((struct chan_hdr *)m.area), 8 + (cases[i].len + 7) / 8 * 8);
		TH_LOG("%s", cases[i].what);
		EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
		mem_teardown(&m);
	}
	/* A descriptor on a channel without a pool. */
	mem_setup(&m, 4096);
	put_record(m.area, 0, CHAN_REC_BUF, 16, 0);
	set_pos(HEAD((struct chan_hdr *)m.area), 24);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), -EPROTO);
	mem_teardown(&m);
	/* Pool sizes of 0, not a multiple of 8, or past the area. */
	mem_setup_all(&m, 4096, 0, POOL_SIZE);
	expect_header_field(&m, &((struct chan_hdr *)m.area)->pool_size,
			    (const uint32_t[]){ 0, 12, POOL_SIZE + 8 }, 3);
	mem_teardown(&m);
}

/*
 * A side still of the old generation must not publish its index into a
 * header laid out again: the new other side would fail (-EPROTO) or take
 * what the ring still holds for a message.
 */
TEST(memory_old_generation_index)
{
	struct ivshmem_chan *tx2, *rx2;
	uint8_t out[64];
	const void *data;
	struct mem m;
	size_t len;

	/* The consumer releases after the producer restarted. */
	mem_setup(&m, 4096);
	for (int i = 0; i < 10; i++)
		ASSERT_EQ(ivshmem_chan_send(m.tx, "0123456789abcdef", 16, 0, 0), 0);
	for (int i = 0; i < 9; i++)
		ASSERT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 16);
	ASSERT_EQ(ivshmem_chan_peek(m.rx, &data, &len, 0), 0);
	ASSERT_EQ(ivshmem_chan_format_memory(m.area, m.len, 4096, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_over_memory(m.area, m.len, true, &tx2), 0);
	EXPECT_EQ(ivshmem_chan_release(m.rx), -ECONNRESET);
	EXPECT_EQ(ivshmem_chan_send(tx2, "x", 1, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_reset(m.rx), 0);
	EXPECT_EQ(ivshmem_chan_recv(m.rx, out, sizeof(out), 0), 1);
	ivshmem_chan_close(tx2);
	mem_teardown(&m);
	/* The producer flushes a batch after the consumer restarted. */
	mem_setup(&m, 4096);
	ASSERT_EQ(ivshmem_chan_send(m.tx, "0123456789abcdef", 16, IVSHMEM_CHAN_MORE, 0), 0);
	ASSERT_EQ(ivshmem_chan_format_memory(m.area, m.len, 4096, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_over_memory(m.area, m.len, false, &rx2), 0);
	EXPECT_EQ(ivshmem_chan_flush(m.tx), -ECONNRESET);
	EXPECT_EQ(ivshmem_chan_recv(rx2, out, sizeof(out), 0), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_reset(m.tx), 0);
	ASSERT_EQ(ivshmem_chan_send(m.tx, "y", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(rx2, out, sizeof(out), 0), 1);
	/* Its own index written by the peer: -EPROTO, left as the peer wrote it. */
	ASSERT_EQ(ivshmem_chan_send(m.tx, "z", 1, IVSHMEM_CHAN_MORE, 0), 0);
	set_pos(HEAD((struct chan_hdr *)m.area), (uint64_t)4096 * 5);
	EXPECT_EQ(ivshmem_chan_flush(m.tx), -EPROTO);
	EXPECT_EQ(pos_of(HEAD((struct chan_hdr *)m.area)), 4096 * 5);
	ivshmem_chan_close(rx2);
	mem_teardown(&m);
}

struct stream {
	struct ivshmem_chan *ch;
	long count;
	unsigned int flags_every;	/* batch: publish every Nth message */
	long errors;
	int ret;
};

static void *stream_send(void *arg)
{
	struct stream *s = arg;
	uint8_t buf[512];

	for (long seq = 0; seq < s->count; seq++) {
		size_t n = size_of((uint64_t)seq, 300);
		bool more = s->flags_every && (seq + 1) % s->flags_every && seq + 1 < s->count;
		void *p;
		int ret;

		ret = ivshmem_chan_reserve(s->ch, n, &p, 10000);
		if (ret) {
			s->ret = ret;
			return NULL;
		}
		fill(buf, n, (uint64_t)seq);
		memcpy(p, buf, n);
		ret = ivshmem_chan_commit(s->ch, n, more ? IVSHMEM_CHAN_MORE : 0);
		if (ret) {
			s->ret = ret;
			return NULL;
		}
	}
	return NULL;
}

static void stream_recv(struct stream *s)
{
	const void *data;
	size_t len;

	for (long seq = 0; seq < s->count; seq++) {
		int ret = ivshmem_chan_peek(s->ch, &data, &len, 10000);

		if (ret) {
			s->ret = ret;
			return;
		}
		if (len != size_of((uint64_t)seq, 300) || !check(data, len, (uint64_t)seq))
			s->errors++;
		ret = ivshmem_chan_release(s->ch);
		if (ret) {
			s->ret = ret;
			return;
		}
	}
}

struct restarter {
	struct ivshmem_chan *ch;
	long sent, restarts, eproto, out_of_order;
	int every;			/* restart after so many messages */
	bool stop;
};

/* Producer: numbered messages, restarting now and then, until stopped. */
static void *restarting_producer(void *arg)
{
	struct restarter *p = arg;
	uint64_t seq = 1;

	while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		int ret = ivshmem_chan_send(p->ch, &seq, sizeof(seq), 0, 0);

		if (ret == 0 && ++seq % (uint64_t)p->every == 0 && p->every > 1) {
			ivshmem_chan_restart_memory(p->ch);
			p->restarts++;
		} else if (ret == -ECONNRESET || ret == -EPROTO) {
			p->eproto += ret == -EPROTO;
			ivshmem_chan_reset(p->ch);
		}
	}
	p->sent = (long)seq - 1;
	return NULL;
}

/*
 * Each side restarts while the other streams: the consumer every 300
 * messages, the producer every 500.  A restart may drop what is in
 * flight, but an update begun in the old generation (the producer's
 * publication racing the consumer's restart, the consumer's release
 * racing the producer's) must never land in the new one: no -EPROTO, and
 * never a message delivered twice or out of order.  Under
 * ThreadSanitizer only the consumer restarts: a restarted producer writes
 * over a message the consumer may still be copying, by design (its
 * release then fails with -ECONNRESET and recv() drops the copy), which
 * is a data race to the tool.
 */
TEST_TIMEOUT(memory_restarts_race_the_other_side, 120)
{
	struct restarter prod = { .every = TSAN ? 1 : 500 }, cons = { .every = 300 };
	/* A few restarts of each side even under valgrind. */
	long rounds = scaled(20000) > 1500 ? scaled(20000) : 1500, received = 0;
	uint64_t last = 0, seq;
	pthread_t thread;
	struct mem m;

	mem_setup(&m, 4096);
	prod.ch = m.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, restarting_producer, &prod), 0);
	while (cons.restarts < rounds / 300) {
		int ret = ivshmem_chan_recv(m.rx, &seq, sizeof(seq), 0);

		if (ret == (int)sizeof(seq)) {
			if (seq <= last)
				cons.out_of_order++;
			last = seq;
			if (++received % cons.every == 0) {
				ASSERT_EQ(ivshmem_chan_restart_memory(m.rx), 0);
				cons.restarts++;
			}
		} else if (ret == -ECONNRESET || ret == -EPROTO) {
			cons.eproto += ret == -EPROTO;
			ivshmem_chan_reset(m.rx);
		} else if (ret != -ETIMEDOUT) {
			ASSERT_EQ(ret, -ETIMEDOUT);
		}
	}
	__atomic_store_n(&prod.stop, true, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	TH_LOG("%ld messages sent, %ld received; %ld and %ld restarts; -EPROTO %ld and %ld; "
	       "%ld out of order", prod.sent, received, prod.restarts, cons.restarts, prod.eproto,
	       cons.eproto, cons.out_of_order);
	EXPECT_EQ(prod.eproto, 0);
	EXPECT_EQ(cons.eproto, 0);
	EXPECT_EQ(cons.out_of_order, 0);
	EXPECT_TRUE(TSAN || prod.restarts > 0);
	mem_teardown(&m);
}

/* Two threads on one mapping: what ThreadSanitizer can see. */
TEST_TIMEOUT(memory_threads_stream, 120)
{
	struct stream tx = { .count = scaled(1000000), .flags_every = 4 };
	struct stream rx = { .count = tx.count };
	pthread_t thread;
	struct mem m;

	mem_setup(&m, 16384);
	tx.ch = m.tx;
	rx.ch = m.rx;
	ASSERT_EQ(pthread_create(&thread, NULL, stream_send, &tx), 0);
	stream_recv(&rx);
	pthread_join(thread, NULL);
	EXPECT_EQ(tx.ret, 0);
	EXPECT_EQ(rx.ret, 0);
	EXPECT_EQ(rx.errors, 0);
	mem_teardown(&m);
}

/* ---- host peers of a real server ---- */

struct server {
	pid_t pid;
	char dir[96], sock[128], mem[128];
};

/* In a child: die with the parent, and after @timeout_s at the latest. */
static void child_limits(pid_t parent, unsigned int timeout_s)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	alarm(timeout_s);
}

/* An ivshmem-server with 16 MiB in a file and 2 vectors. */
static void server_start(struct server *s)
{
	const char *base = getenv("TMPDIR");
	pid_t parent = getpid();

	snprintf(s->dir, sizeof(s->dir), "%s/ivs-chan.XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->mem, sizeof(s->mem), "%s/mem", s->dir);
	s->pid = fork();
	ASSERT_TRUE(s->pid >= 0);
	if (s->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		child_limits(parent, 300);
		dup2(null, 2);
		execl(server_path, server_path, "-F", "-S", s->sock, "-m", s->mem, "-l", "16M",
		      "-n", "2", (char *)NULL);
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
	if (tmpdir_remove_tree(s->dir))
		TH_LOG("could not remove %s", s->dir);
}

static int join(const struct server *s, struct ivshmem **dev)
{
	struct ivshmem_server_opts *opts;
	int ret;

	ret = ivshmem_server_opts_new(&opts);
	if (ret)
		return ret;
	ivshmem_server_opts_set_vectors(opts, 2);
	ret = ivshmem_open_server(s->sock, opts, dev);
	ivshmem_server_opts_free(opts);
	return ret;
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

static struct ivshmem_chan_opts *chan_opts(uint32_t ring, int timeout_ms)
{
	struct ivshmem_chan_opts *o;

	ASSERT_EQ(ivshmem_chan_opts_new(&o), 0);
	if (ring)
		ASSERT_EQ(ivshmem_chan_opts_set_ring_size(o, ring), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_timeout(o, timeout_ms), 0);
	return o;
}

/* A child process that joins, then runs @fn; its exit status is fn's. */
static pid_t child(const struct server *s, int (*fn)(struct ivshmem *, void *), void *arg)
{
	pid_t parent = getpid(), pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct ivshmem *dev;
		int status;

		child_limits(parent, 100);
		if (join(s, &dev))
			_exit(90);
		status = fn(dev, arg);
		ivshmem_close(dev);
		_exit(status);
	}
	return pid;
}

static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct send_args {
	const char *name;
	long count;
	long start;		/* first sequence number */
	bool batch;
	int stop_fd;		/* killed_mid_message: tell when reserved, then hang */
};

/* Attach to @name and send count messages (sizes and bytes from seq). */
static int send_child(struct ivshmem *dev, void *arg)
{
	struct send_args *a = arg;
	struct ivshmem_chan_opts *o = chan_opts(0, 10000);
	struct ivshmem_chan *ch;
	uint8_t buf[512];
	void *p;

	if (ivshmem_chan_attach(dev, a->name, o, &ch))
		return 91;
	ivshmem_chan_opts_free(o);
	if (!ivshmem_chan_is_sender(ch))
		return 92;
	for (long seq = a->start; seq < a->start + a->count; seq++) {
		size_t n = size_of((uint64_t)seq, 300);
		bool more = a->batch && seq % 8 != 7 && seq + 1 < a->start + a->count;

		fill(buf, n, (uint64_t)seq);
		if (ivshmem_chan_send(ch, buf, n, more ? IVSHMEM_CHAN_MORE : 0, 20000))
			return 93;
	}
	if (a->stop_fd >= 0) {
		/* Half a message, never committed; then wait to be killed. */
		if (ivshmem_chan_reserve(ch, 200, &p, 20000))
			return 94;
		memset(p, 0xee, 100);
		if (write(a->stop_fd, "r", 1) != 1)
			return 95;
		pause();
	}
	ivshmem_chan_close(ch);
	return 0;
}

static void recv_expect(struct ivshmem_chan *ch, long start, long count, int timeout_ms)
{
	long errors = 0;

	for (long seq = start; seq < start + count; seq++) {
		const void *data;
		size_t len;
		int ret = ivshmem_chan_peek(ch, &data, &len, timeout_ms);

		if (ret) {
			TH_LOG("message %ld: %s", seq, strerror(-ret));
			ASSERT_EQ(ret, 0);
		}
		if (len != size_of((uint64_t)seq, 300) || !check(data, len, (uint64_t)seq))
			errors++;
		ASSERT_EQ(ivshmem_chan_release(ch), 0);
	}
	EXPECT_EQ(errors, 0);
}

TEST_TIMEOUT(peers_order_and_largest_message, 60)
{
	struct send_args a = { .name = "order", .count = 20000, .stop_fd = -1 };
	struct ivshmem_chan_opts *o = chan_opts(8192, 5000);
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	struct server s = { 0 };
	pid_t pid;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_create(dev, "order", IVSHMEM_CHAN_RECV, -1, o, &ch), 0);
	EXPECT_TRUE(!ivshmem_chan_is_sender(ch));
	pid = child(&s, send_child, &a);
	recv_expect(ch, 0, a.count, 20000);
	EXPECT_EQ(child_status(pid), 0);
	ivshmem_chan_close(ch);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

static int ten_million_child(struct ivshmem *dev, void *arg)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 10000);
	struct ivshmem_chan *ch;
	long count = *(long *)arg;
	uint64_t sum = 0;

	if (ivshmem_chan_attach(dev, "many", o, &ch))
		return 91;
	ivshmem_chan_opts_free(o);
	for (long seq = 0; seq < count; seq++) {
		uint64_t msg[3] = { (uint64_t)seq, (uint64_t)seq * 0x9e3779b97f4a7c15ull };
		void *p;

		msg[2] = msg[0] ^ msg[1] ^ 0x5555aaaa5555aaaaull;
		sum += msg[1];
		if (ivshmem_chan_reserve(ch, sizeof(msg), &p, 20000))
			return 93;
		memcpy(p, msg, sizeof(msg));
		if (ivshmem_chan_commit(ch, sizeof(msg), seq % 16 != 15 ? IVSHMEM_CHAN_MORE : 0))
			return 94;
	}
	if (ivshmem_chan_flush(ch) || ivshmem_chan_send(ch, &sum, sizeof(sum), 0, 20000))
		return 95;
	ivshmem_chan_close(ch);
	return 0;
}

/* 10^7 messages with checksums, none lost, none twice; doorbells counted. */
TEST_TIMEOUT(peers_ten_million_messages, 120)
{
	struct ivshmem_chan_opts *o = chan_opts(1 << 20, 5000);
	struct ivshmem_chan_info *info;
	long count = scaled(10000000), bad = 0;
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	uint64_t sum = 0, theirs = 0;
	struct server s = { 0 };
	int64_t t0;
	pid_t pid;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_create(dev, "many", IVSHMEM_CHAN_RECV, -1, o, &ch), 0);
	t0 = now_ms();
	pid = child(&s, ten_million_child, &count);
	for (long seq = 0; seq < count; seq++) {
		uint64_t msg[3];
		const void *data;
		size_t len;

		ASSERT_EQ(ivshmem_chan_peek(ch, &data, &len, 20000), 0);
		ASSERT_EQ(len, sizeof(msg));
		memcpy(msg, data, sizeof(msg));
		if (msg[0] != (uint64_t)seq || msg[2] != (msg[0] ^ msg[1] ^ 0x5555aaaa5555aaaaull))
			bad++;
		sum += msg[1];
		ASSERT_EQ(ivshmem_chan_release(ch), 0);
	}
	ASSERT_EQ(ivshmem_chan_recv(ch, &theirs, sizeof(theirs), 20000), (int)sizeof(theirs));
	EXPECT_EQ(bad, 0);
	EXPECT_TRUE(sum == theirs);
	/* The producer exited after its last message: hung up. */
	EXPECT_EQ(child_status(pid), 0);
	EXPECT_EQ(ivshmem_chan_recv(ch, &theirs, sizeof(theirs), 0), -EPIPE);
	ASSERT_EQ(ivshmem_chan_get_info(ch, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_msgs_received(info), count + 1);
	EXPECT_EQ(ivshmem_chan_info_get_msgs_sent(info), count + 1);
	TH_LOG("%ld messages in %lld ms, %llu doorbells, %llu publications without one",
	       count + 1, (long long)(now_ms() - t0),
	       (unsigned long long)ivshmem_chan_info_get_notify_sent(info),
	       (unsigned long long)ivshmem_chan_info_get_notify_suppressed(info));
	ivshmem_chan_info_free(info);
	ivshmem_chan_close(ch);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

/*
 * A producer killed between reserve and commit: nothing of its half
 * message arrives; a new producer attaches (a new generation), the
 * consumer sees -ECONNRESET, resets and receives what the new one sends.
 */
TEST_TIMEOUT(peers_killed_mid_message_then_restart, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(8192, 5000);
	struct send_args a = { .name = "kill", .count = 100 };
	struct ivshmem_chan_info *info;
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	uint8_t out[512];
	struct server s = { 0 };
	uint32_t gen;
	int pipefd[2];
	char c;
	pid_t pid;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_create(dev, "kill", IVSHMEM_CHAN_RECV, -1, o, &ch), 0);
	ASSERT_EQ(pipe(pipefd), 0);
	a.stop_fd = pipefd[1];
	pid = child(&s, send_child, &a);
	close(pipefd[1]);
	recv_expect(ch, 0, a.count, 20000);
	ASSERT_EQ(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	kill(pid, SIGKILL);
	EXPECT_EQ(child_status(pid), 128 + SIGKILL);
	/* The reserved half is not a message. */
	EXPECT_EQ(ivshmem_chan_recv(ch, out, sizeof(out), 200), -ETIMEDOUT);
	ASSERT_EQ(ivshmem_chan_get_info(ch, &info), 0);
	gen = ivshmem_chan_info_get_generation(info);
	EXPECT_EQ(ivshmem_chan_info_get_state(info), IVSHMEM_CHAN_ATTACHED);
	ivshmem_chan_info_free(info);
	/* The restarted producer: a new peer ID, a new generation. */
	a.stop_fd = -1;
	a.start = 1000;
	pid = child(&s, send_child, &a);
	EXPECT_EQ(ivshmem_chan_recv(ch, out, sizeof(out), 20000), -ECONNRESET);
	/* Until reset, the channel stays reset. */
	EXPECT_EQ(ivshmem_chan_recv(ch, out, sizeof(out), 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(ch), 0);
	ASSERT_EQ(ivshmem_chan_get_info(ch, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_generation(info), gen + 1);
	ivshmem_chan_info_free(info);
	recv_expect(ch, a.start, a.count, 20000);
	EXPECT_EQ(child_status(pid), 0);
	ivshmem_chan_close(ch);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

struct echo_args {
	const char *name;	/* of the pair */
	uint32_t ring;		/* 0 for the default */
	long count;
};

/* The other side of a pair: echo every message back, one thread. */
static int echo_child(struct ivshmem *dev, void *arg)
{
	struct echo_args *e = arg;
	struct ivshmem_chan_opts *o = chan_opts(e->ring, 10000);
	struct ivshmem_chan *tx, *rx;
	uint8_t buf[512];
	int n, ret;

	if (ivshmem_chan_pair_attach(dev, e->name, o, &tx, &rx))
		return 91;
	ivshmem_chan_opts_free(o);
	for (long i = 0; i < e->count; i++) {
		/*
		 * The creator hangs up and comes back on the way: wait for
		 * it (-EPIPE meanwhile), then reset and go on.
		 */
		while ((n = ivshmem_chan_recv(rx, buf, sizeof(buf), 20000)) == -ECONNRESET ||
		       n == -EPIPE) {
			if (n == -EPIPE)
				usleep(1000);
			else if (ivshmem_chan_reset(rx))
				return 92;
		}
		if (n < 0)
			return 93;
		while ((ret = ivshmem_chan_send(tx, buf, (size_t)n, 0, 20000)) == -ECONNRESET ||
		       ret == -EPIPE) {
			if (ret == -EPIPE)
				usleep(1000);
			else if (ivshmem_chan_reset(tx))
				return 94;
		}
		if (ret)
			return 95;
	}
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	return 0;
}

/* A pair; the creator restarts: the other side resets and goes on. */
TEST_TIMEOUT(peers_pair_and_creator_restart, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 5000);
	struct ivshmem_chan *tx, *rx;
	struct ivshmem *dev;
	long count = 3000;
	int64_t t0;
	uint8_t buf[512], out[512];
	struct server s = { 0 };
	pid_t pid;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "echo", -1, o, &tx, &rx), 0);
	pid = child(&s, echo_child, &(struct echo_args){ .name = "echo", .count = count });
	for (long i = 0; i < count / 2; i++) {
		size_t n = size_of((uint64_t)i, 300);

		fill(buf, n, (uint64_t)i);
		ASSERT_EQ(ivshmem_chan_send(tx, buf, n, 0, 20000), 0);
		ASSERT_EQ(ivshmem_chan_recv(rx, out, sizeof(out), 20000), (int)n);
		ASSERT_TRUE(check(out, n, (uint64_t)i));
	}
	/* Restart: the same channels laid out anew; the echo is rung to see it. */
	t0 = now_ms();
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "echo", -1, o, &tx, &rx), 0);
	for (long i = count / 2; i < count; i++) {
		size_t n = size_of((uint64_t)i, 300);

		fill(buf, n, (uint64_t)i);
		ASSERT_EQ(ivshmem_chan_send(tx, buf, n, 0, 20000), 0);
		ASSERT_EQ(ivshmem_chan_recv(rx, out, sizeof(out), 20000), (int)n);
		ASSERT_TRUE(check(out, n, (uint64_t)i));
	}
	/* Not after the echo's own timeout of 20 s. */
	EXPECT_TRUE(now_ms() - t0 < 10000);
	EXPECT_EQ(child_status(pid), 0);
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

TEST(peers_attach_errors)
{
	struct ivshmem_chan_opts *o = chan_opts(4096, 0);
	struct ivshmem_chan_list *list;
	struct ivshmem_chan *ch, *other;
	struct chan_dir *dir;
	struct chan_hdr *h;
	struct ivshmem *dev;
	struct server s = { 0 };
	int64_t t0;
	void *addr;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	/* An empty region: no channels yet. */
	ASSERT_EQ(ivshmem_chan_list(dev, 0, &list), 0);
	EXPECT_EQ(ivshmem_chan_list_count(list), 0);
	ivshmem_chan_list_free(list);
	EXPECT_EQ(ivshmem_chan_attach(dev, "nothing", o, &ch), -ENOENT);
	ASSERT_EQ(ivshmem_chan_opts_set_timeout(o, 300), 0);
	t0 = now_ms();
	EXPECT_EQ(ivshmem_chan_attach(dev, "nothing", o, &ch), -ETIMEDOUT);
	EXPECT_GE(now_ms() - t0, 300);
	EXPECT_EQ(ivshmem_chan_attach(dev, "", o, &ch), -EINVAL);
	EXPECT_EQ(ivshmem_chan_attach(dev, "a-name-longer-than-31-bytes-xxxx", o, &ch), -EINVAL);
	EXPECT_EQ(ivshmem_chan_create(dev, "x", 7, -1, o, &ch), -EINVAL);
	EXPECT_EQ(ivshmem_chan_pair_create(dev, "a-name-of-30-bytes-xxxxxxxxxxx", -1, o, &ch,
					   &other), -EINVAL);
	EXPECT_EQ(ivshmem_chan_opts_set_ring_size(o, 5000), -EINVAL);
	EXPECT_EQ(ivshmem_chan_opts_set_dir_offset(o, 100), -EINVAL);
	/* Created, attached once; bigger than it was: -EEXIST. */
	ASSERT_EQ(ivshmem_chan_create(dev, "one", IVSHMEM_CHAN_SEND, 7, o, &ch), 0);
	ASSERT_EQ(ivshmem_chan_attach(dev, "one", o, &other), 0);
	EXPECT_TRUE(!ivshmem_chan_is_sender(other));
	ivshmem_chan_close(other);
	ASSERT_EQ(ivshmem_chan_opts_set_ring_size(o, 1 << 20), 0);
	EXPECT_EQ(ivshmem_chan_create(dev, "one", IVSHMEM_CHAN_SEND, 7, o, &other), -EEXIST);
	/* The region is full: 16 MiB. */
	ASSERT_EQ(ivshmem_chan_opts_set_ring_size(o, 1 << 30), 0);
	EXPECT_EQ(ivshmem_chan_create(dev, "huge", IVSHMEM_CHAN_SEND, -1, o, &other), -ENOSPC);
	ASSERT_EQ(ivshmem_chan_list(dev, 0, &list), 0);
	ASSERT_EQ(ivshmem_chan_list_count(list), 1);
	EXPECT_TRUE(!strcmp(ivshmem_chan_info_get_name(ivshmem_chan_list_get(list, 0)), "one"));
	EXPECT_EQ(ivshmem_chan_info_get_consumer(ivshmem_chan_list_get(list, 0)), peer_id(dev));
	EXPECT_TRUE(!ivshmem_chan_list_get(list, 1));
	ivshmem_chan_list_free(list);
	ivshmem_chan_close(ch);
	/* A channel header of another layout version: -EPROTO. */
	ASSERT_EQ(ivshmem_map(dev, 0, (size_t)2 * CHAN_DIR_SIZE, PROT_READ | PROT_WRITE, &addr), 0);
	dir = addr;
	h = (struct chan_hdr *)((char *)addr + CHAN_DIR_SIZE);
	EXPECT_EQ(dir->entry[0].offset, CHAN_DIR_SIZE);
	h->version = 99;
	EXPECT_EQ(ivshmem_chan_attach(dev, "one", o, &ch), -EPROTO);
	h->version = CHAN_LAYOUT_VERSION;
	h->magic = 0x12345678;
	EXPECT_EQ(ivshmem_chan_attach(dev, "one", o, &ch), -EPROTO);
	/* A directory of another magic or version: -EPROTO, and create leaves it. */
	dir->version = 2;
	EXPECT_EQ(ivshmem_chan_attach(dev, "one", o, &ch), -EPROTO);
	EXPECT_EQ(ivshmem_chan_list(dev, 0, &list), -EPROTO);
	dir->version = CHAN_LAYOUT_VERSION;
	dir->magic = 0xdeadbeef;
	EXPECT_EQ(ivshmem_chan_create(dev, "two", IVSHMEM_CHAN_SEND, -1, NULL, &ch), -EPROTO);
	EXPECT_EQ(dir->magic, 0xdeadbeef);
	/* Entries out of the region are skipped. */
	dir->magic = CHAN_DIR_MAGIC;
	dir->entry[0].offset = 1ull << 40;
	ASSERT_EQ(ivshmem_chan_list(dev, 0, &list), 0);
	EXPECT_EQ(ivshmem_chan_list_count(list), 0);
	ivshmem_chan_list_free(list);
	ivshmem_unmap(addr, (size_t)2 * CHAN_DIR_SIZE);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

/* Numerous channels: the directory's entries all taken, the next -ENOSPC. */
TEST(peers_directory_full)
{
	struct ivshmem_chan_opts *o = chan_opts(CHAN_RING_MIN, 0);
	struct ivshmem_chan *ch[CHAN_DIR_ENTRIES + 1];
	struct ivshmem_chan_list *list;
	struct ivshmem *dev;
	struct server s = { 0 };
	char name[16];
	int i;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	for (i = 0; i < CHAN_DIR_ENTRIES; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ASSERT_EQ(ivshmem_chan_create(dev, name, IVSHMEM_CHAN_SEND, -1, o, &ch[i]), 0);
	}
	EXPECT_EQ(ivshmem_chan_create(dev, "one-too-many", IVSHMEM_CHAN_SEND, -1, o, &ch[i]),
		  -ENOSPC);
	ASSERT_EQ(ivshmem_chan_list(dev, 0, &list), 0);
	EXPECT_EQ(ivshmem_chan_list_count(list), CHAN_DIR_ENTRIES);
	ivshmem_chan_list_free(list);
	for (i = 0; i < CHAN_DIR_ENTRIES; i++)
		ivshmem_chan_close(ch[i]);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

/*
 * Doorbells only for a sleeping consumer: none while it is awake, one that
 * wakes it when it sleeps; and an event loop's arm + poll on its fd.
 */
TEST_TIMEOUT(peers_notification_suppression_and_poll, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 5000);
	struct ivshmem_chan_info *info;
	struct ivshmem_chan *tx, *rx;
	struct ivshmem *a, *b;
	struct sleeper sl;
	struct server s = { 0 };
	pthread_t thread;
	struct pollfd pfd;
	char buf[16];

	server_start(&s);
	ASSERT_EQ(join(&s, &a), 0);
	ASSERT_EQ(join(&s, &b), 0);
	ASSERT_EQ(ivshmem_chan_create(a, "bell", IVSHMEM_CHAN_SEND, peer_id(b), o, &tx), 0);
	ASSERT_EQ(ivshmem_chan_attach(b, "bell", o, &rx), 0);
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(ivshmem_chan_send(tx, "x", 1, 0, 0), 0);
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 1);
	ASSERT_EQ(ivshmem_chan_get_info(tx, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_notify_sent(info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_notify_suppressed(info), 1000);
	ivshmem_chan_info_free(info);
	/* A sleeping consumer is rung once, and wakes at once. */
	sl = (struct sleeper){ .ch = rx, .timeout_ms = 10000 };
	ASSERT_EQ(pthread_create(&thread, NULL, sleep_recv, &sl), 0);
	usleep(300000);
	ASSERT_EQ(ivshmem_chan_send(tx, "wake", 4, 0, 0), 0);
	pthread_join(thread, NULL);
	EXPECT_EQ(sl.ret, 4);
	EXPECT_TRUE(sl.waited_ms < 5000);
	ASSERT_EQ(ivshmem_chan_get_info(rx, &info), 0);
	EXPECT_EQ(ivshmem_chan_info_get_notify_sent(info), 1);
	EXPECT_GE(ivshmem_chan_info_get_wakeups(info), 1);
	ivshmem_chan_info_free(info);
	/* Event loop: armed, nothing readable; a message makes the fd readable. */
	pfd = (struct pollfd){ .fd = ivshmem_chan_fd(rx), .events = POLLIN };
	ASSERT_GE(pfd.fd, 0);
	ASSERT_EQ(ivshmem_chan_arm(rx), 0);
	EXPECT_EQ(poll(&pfd, 1, 50), 0);
	ASSERT_EQ(ivshmem_chan_send(tx, "loop", 4, 0, 0), 0);
	EXPECT_EQ(poll(&pfd, 1, 5000), 1);
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 4);
	/* Alone on its vector: the doorbell that woke it is drained quietly. */
	EXPECT_EQ(ivshmem_chan_arm(rx), 0);
	/* Something already there: arm says so instead of arming. */
	ASSERT_EQ(ivshmem_chan_send(tx, "more", 4, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_arm(rx), 1);
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 4);
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ivshmem_chan_opts_free(o);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

/* A server, peers a and b, and a channel from a (tx) to b (rx). */
struct two_peers {
	struct server s;
	struct ivshmem *a, *b;
	struct ivshmem_chan_opts *o;
	struct ivshmem_chan *tx, *rx;
};

/* @ring 0 for the default; both sides spin @spin_us before they sleep. */
static void two_peers_start(struct two_peers *t, const char *name, uint32_t ring,
			    unsigned int spin_us)
{
	memset(t, 0, sizeof(*t));
	t->o = chan_opts(ring, 5000);
	ASSERT_EQ(ivshmem_chan_opts_set_spin(t->o, spin_us), 0);
	server_start(&t->s);
	ASSERT_EQ(join(&t->s, &t->a), 0);
	ASSERT_EQ(join(&t->s, &t->b), 0);
	ASSERT_EQ(ivshmem_chan_create(t->a, name, IVSHMEM_CHAN_SEND, peer_id(t->b), t->o, &t->tx),
		  0);
	ASSERT_EQ(ivshmem_chan_attach(t->b, name, t->o, &t->rx), 0);
}

static void two_peers_end(struct two_peers *t)
{
	ivshmem_chan_close(t->tx);
	ivshmem_chan_close(t->rx);
	ivshmem_chan_opts_free(t->o);
	ivshmem_close(t->a);
	ivshmem_close(t->b);
	server_stop(&t->s);
}

/* The header of channel @name as another peer of @dev maps it. */
static struct chan_hdr *map_header(struct ivshmem *dev, const char *name)
{
	struct ivshmem_chan_list *list;
	struct chan_hdr *h = NULL;
	void *addr;

	if (ivshmem_chan_list(dev, 0, &list))
		return NULL;
	for (size_t i = 0; i < ivshmem_chan_list_count(list); i++) {
		const struct ivshmem_chan_info *info = ivshmem_chan_list_get(list, i);

		if (!strcmp(ivshmem_chan_info_get_name(info), name) &&
		    !ivshmem_map(dev, ivshmem_chan_info_get_offset(info), 4096,
				 PROT_READ | PROT_WRITE, &addr))
			h = addr;
	}
	ivshmem_chan_list_free(list);
	return h;
}

/* 1 if @fd becomes readable within @ms (and is drained), else 0. */
static int rung_within(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return read(fd, &count, sizeof(count)) == sizeof(count);
}

/*
 * Whom a producer rings is decided when the sides meet, not re-read from
 * the header at every doorbell: a consumer that afterwards writes a third
 * peer's ID (or the producer's own) and any vector into its half of the
 * header gets its own doorbells still, and nobody else one; whether the
 * producer named its peer at create or learnt it from the first doorbell
 * the consumer asked for.
 */
TEST_TIMEOUT(peers_hostile_header_cannot_redirect_doorbells, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 5000);
	struct ivshmem *a, *b, *c, *victims[2];
	struct ivshmem_chan *tx, *rx;
	struct server s = { 0 };
	struct chan_hdr *h;
	char buf[16];
	int fd_b;

	server_start(&s);
	ASSERT_EQ(join(&s, &a), 0);
	ASSERT_EQ(join(&s, &b), 0);
	ASSERT_EQ(join(&s, &c), 0);
	victims[0] = c;
	victims[1] = a;
	for (int named = 1; named >= 0; named--) {
		const char *name = named ? "redir-named" : "redir-learnt";

		ASSERT_EQ(ivshmem_chan_create(a, name, IVSHMEM_CHAN_SEND,
					      named ? peer_id(b) : -1, o, &tx), 0);
		ASSERT_EQ(ivshmem_chan_attach(b, name, o, &rx), 0);
		fd_b = ivshmem_chan_fd(rx);
		ASSERT_GE(fd_b, 0);
		h = map_header(b, name);
		ASSERT_TRUE(h);
		/* One doorbell the consumer asks for honestly. */
		while (ivshmem_chan_arm(rx) != 0)
			;
		ASSERT_EQ(ivshmem_chan_send(tx, "x", 1, 0, 0), 0);
		EXPECT_EQ(rung_within(fd_b, 5000), 1);
		EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 1);
		for (int v = 0; v < 2; v++) {
			for (int t = 0; t < 2; t++) {
				int fd_victim = ivshmem_vector_fd(victims[t], (unsigned int)v);

				ASSERT_GE(fd_victim, 0);
				rung_within(fd_victim, 0);
				__atomic_store_n(&h->consumer.peer, (uint32_t)peer_id(victims[t]),
						 __ATOMIC_SEQ_CST);
				__atomic_store_n(&h->consumer.vector, (uint16_t)v, __ATOMIC_SEQ_CST);
				__atomic_store_n(&h->consumer.waiting, 1, __ATOMIC_SEQ_CST);
				ASSERT_EQ(ivshmem_chan_send(tx, "x", 1, 0, 0), 0);
				EXPECT_EQ(rung_within(fd_b, 5000), 1);
				if (rung_within(fd_victim, 300))
					TH_LOG("%s: peer %d rung on vector %d", name,
					       peer_id(victims[t]), v), harness_fail();
				EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 1);
			}
		}
		ivshmem_unmap(h, 4096);
		ivshmem_chan_close(tx);
		ivshmem_chan_close(rx);
	}
	ivshmem_chan_opts_free(o);
	ivshmem_close(a);
	ivshmem_close(b);
	ivshmem_close(c);
	server_stop(&s);
}

/*
 * The deadline bounds the spin too: a peek of 1 ms on a channel that
 * spins up to 1 s before it sleeps returns in about 1 ms.
 */
TEST_TIMEOUT(peers_spin_respects_the_timeout, 60)
{
	struct two_peers t;
	const void *data;
	int64_t t0, took;
	size_t len;

	two_peers_start(&t, "spin", 0, 1000000);
	t0 = now_ms();
	EXPECT_EQ(ivshmem_chan_peek(t.rx, &data, &len, 1), -ETIMEDOUT);
	took = now_ms() - t0;
	TH_LOG("peek(1 ms) with a spin of 1 s: %lld ms", (long long)took);
	EXPECT_TRUE(took < 300);
	two_peers_end(&t);
}

static int64_t thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct paced_sender {
	struct ivshmem_chan *ch;
	int count, gap_us, ret;
};

static void *paced_send(void *arg)
{
	struct paced_sender *p = arg;

	for (int i = 0; i < p->count && !p->ret; i++) {
		usleep((useconds_t)p->gap_us);
		p->ret = ivshmem_chan_send(p->ch, &i, sizeof(i), 0, 5000);
	}
	return NULL;
}

/*
 * The spin adapts.  On a quiet channel each spin that finds nothing halves
 * the next: 20 waits of 30 ms with a spin of 100 ms burn a fraction of the
 * 600 ms of CPU a fixed spin would.  Then a message every 5 ms: a sleep
 * that a doorbell ends that soon raises the spin, and the next messages
 * are caught spinning, without a doorbell.
 */
TEST_TIMEOUT(peers_spin_adapts, 60)
{
	struct paced_sender p = { .count = 20, .gap_us = 5000 };
	struct ivshmem_chan_info *info;
	int64_t cpu, wall, wakeups;
	struct two_peers t;
	pthread_t thread;
	const void *data;
	size_t len;

	two_peers_start(&t, "adapt", 0, 100000);
	cpu = thread_cpu_ms();
	wall = now_ms();
	for (int i = 0; i < 20; i++)
		EXPECT_EQ(ivshmem_chan_peek(t.rx, &data, &len, 30), -ETIMEDOUT);
	cpu = thread_cpu_ms() - cpu;
	wall = now_ms() - wall;
	TH_LOG("20 waits of 30 ms on a quiet channel, spinning up to 100 ms: %lld ms of CPU in "
	       "%lld ms", (long long)cpu, (long long)wall);
	EXPECT_TRUE(cpu < wall / 2);
	p.ch = t.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, paced_send, &p), 0);
	for (int i = 0; i < p.count; i++) {
		ASSERT_EQ(ivshmem_chan_peek(t.rx, &data, &len, 5000), 0);
		ASSERT_EQ(ivshmem_chan_release(t.rx), 0);
	}
	pthread_join(thread, NULL);
	EXPECT_EQ(p.ret, 0);
	ASSERT_EQ(ivshmem_chan_get_info(t.rx, &info), 0);
	wakeups = (int64_t)ivshmem_chan_info_get_wakeups(info);
	ivshmem_chan_info_free(info);
	TH_LOG("%d messages 5 ms apart: %lld of them woke the consumer from a sleep", p.count,
	       (long long)wakeups);
	EXPECT_TRUE(wakeups < p.count);
	two_peers_end(&t);
}

/*
 * One event loop, two channels on one vector: arming the full
 * sending side must not swallow the doorbell that the receiving side,
 * armed before it, was rung with.  Either arm says there is something to
 * do, or the fd is readable.
 */
TEST_TIMEOUT(peers_arm_on_a_shared_vector_loses_no_doorbell, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(4096, 5000);
	struct ivshmem_chan *atx, *arx, *btx, *brx;
	struct server s = { 0 };
	struct ivshmem *a, *b;
	struct pollfd pfd;
	char buf[64] = { 0 };
	int armed;

	server_start(&s);
	ASSERT_EQ(join(&s, &a), 0);
	ASSERT_EQ(join(&s, &b), 0);
	/* Both of a's channels on vector 0 (a pair would take two vectors). */
	ASSERT_EQ(ivshmem_chan_create(a, "loop.0", IVSHMEM_CHAN_SEND, peer_id(b), o, &atx), 0);
	ASSERT_EQ(ivshmem_chan_create(a, "loop.1", IVSHMEM_CHAN_RECV, peer_id(b), o, &arx), 0);
	ASSERT_EQ(ivshmem_chan_attach(b, "loop.0", o, &brx), 0);
	ASSERT_EQ(ivshmem_chan_attach(b, "loop.1", o, &btx), 0);
	ASSERT_EQ(ivshmem_chan_fd(atx), ivshmem_chan_fd(arx));
	/* Records of 64 bytes fill the ring to the last byte. */
	while (ivshmem_chan_send(atx, buf, 56, 0, 0) == 0)
		;
	/* As an event loop does: arm, and look again while arm says so. */
	for (int i = 0; ivshmem_chan_arm(arx) != 0; i++) {
		ASSERT_TRUE(i < 3);
		ASSERT_EQ(ivshmem_chan_recv(arx, buf, sizeof(buf), 0), -ETIMEDOUT);
	}
	ASSERT_EQ(ivshmem_chan_send(btx, "hi", 2, 0, 0), 0);
	armed = ivshmem_chan_arm(atx);
	pfd = (struct pollfd){ .fd = ivshmem_chan_fd(arx), .events = POLLIN };
	EXPECT_TRUE(armed == 1 || poll(&pfd, 1, 2000) == 1);
	EXPECT_EQ(ivshmem_chan_recv(arx, buf, sizeof(buf), 0), 2);
	ivshmem_chan_close(atx);
	ivshmem_chan_close(arx);
	ivshmem_chan_close(btx);
	ivshmem_chan_close(brx);
	ivshmem_chan_opts_free(o);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

/*
 * A producer's event loop that needs room for 256 bytes: arm() says ready
 * as soon as 8 bytes are free, and reserve(256, 0) then fails, round after
 * round; arm_for(256) waits until the room is there.
 */
TEST_TIMEOUT(peers_arm_for_waits_for_the_room_of_the_message, 60)
{
	char buf[64] = { 0 };
	struct pollfd pfd;
	struct two_peers t;
	struct ivshmem_chan *tx, *rx;
	void *p;

	two_peers_start(&t, "room", 4096, 0);
	tx = t.tx;
	rx = t.rx;
	/* Records of 64 bytes fill the ring to the last byte; free one. */
	while (ivshmem_chan_send(tx, buf, 56, 0, 0) == 0)
		;
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 56);
	EXPECT_EQ(ivshmem_chan_reserve(tx, 256, &p, 0), -ETIMEDOUT);
	/* 1 at most twice more: doorbells of the attach drained. */
	for (int i = 0; ivshmem_chan_arm_for(tx, 256) != 0; i++)
		ASSERT_TRUE(i < 2);
	EXPECT_EQ(ivshmem_chan_arm(tx), 1);
	EXPECT_EQ(ivshmem_chan_arm_for(tx, 256), 0);
	EXPECT_EQ(ivshmem_chan_arm_for(tx, ivshmem_chan_max_msg(tx) + 1), -EMSGSIZE);
	EXPECT_EQ(ivshmem_chan_arm_for(rx, 1), -EPERM);
	/* 128 free bytes: still not 264. */
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 56);
	pfd = (struct pollfd){ .fd = ivshmem_chan_fd(tx), .events = POLLIN };
	while (poll(&pfd, 1, 500) == 1 && ivshmem_chan_arm_for(tx, 256) != 0)
		;
	EXPECT_EQ(ivshmem_chan_reserve(tx, 256, &p, 0), -ETIMEDOUT);
	/* 320 free bytes: the fd wakes the producer, and the room is there. */
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 0), 56);
	EXPECT_TRUE(ivshmem_chan_arm_for(tx, 256) == 1 || poll(&pfd, 1, 5000) == 1);
	EXPECT_EQ(ivshmem_chan_reserve(tx, 256, &p, 0), 0);
	EXPECT_EQ(ivshmem_chan_arm_for(tx, 8), -EBUSY);
	EXPECT_EQ(ivshmem_chan_commit(tx, 256, 0), 0);
	two_peers_end(&t);
}

/*
 * A consumer restarted as another peer (a new peer ID, as a restarted VM
 * or host process gets) is rung after the producer's reset, even when the
 * producer named the first one at create.
 */
TEST_TIMEOUT(peers_restarted_consumer_with_a_new_id_is_rung, 60)
{
	struct two_peers t;
	struct ivshmem_chan *rx2;
	struct ivshmem *c;
	char buf[16];

	two_peers_start(&t, "again", 0, 0);
	ASSERT_EQ(join(&t.s, &c), 0);
	ivshmem_chan_close(t.rx);
	t.rx = NULL;
	ASSERT_EQ(ivshmem_chan_attach(c, "again", t.o, &rx2), 0);
	EXPECT_EQ(ivshmem_chan_send(t.tx, "x", 1, 0, 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(t.tx), 0);
	while (ivshmem_chan_arm(rx2) != 0)
		;
	ASSERT_EQ(ivshmem_chan_send(t.tx, "y", 1, 0, 0), 0);
	EXPECT_EQ(rung_within(ivshmem_chan_fd(rx2), 5000), 1);
	EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 0), 1);
	ivshmem_chan_close(rx2);
	ivshmem_close(c);
	two_peers_end(&t);
}

/*
 * A pair's directions wait on vectors 0 and 1 by default; a vector set in
 * the options serves both, so that pairs placed on vectors of their own
 * (as before 0.3) stay apart.
 */
TEST_TIMEOUT(peers_pair_vectors, 60)
{
	struct ivshmem_chan *ptx, *prx, *qtx, *qrx, *dtx, *drx;
	struct ivshmem_chan_opts *p = chan_opts(0, 5000), *q = chan_opts(0, 5000);
	struct server s = { 0 };
	struct ivshmem *dev;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_vector(p, 0), 0);
	ASSERT_EQ(ivshmem_chan_opts_set_vector(q, 1), 0);
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "p", -1, p, &ptx, &prx), 0);
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "q", -1, q, &qtx, &qrx), 0);
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "d", -1, NULL, &dtx, &drx), 0);
	EXPECT_EQ(ivshmem_chan_fd(ptx), ivshmem_chan_fd(prx));
	EXPECT_EQ(ivshmem_chan_fd(qtx), ivshmem_chan_fd(qrx));
	EXPECT_NE(ivshmem_chan_fd(ptx), ivshmem_chan_fd(qtx));
	EXPECT_EQ(ivshmem_chan_fd(dtx), ivshmem_vector_fd(dev, 0));
	EXPECT_EQ(ivshmem_chan_fd(drx), ivshmem_vector_fd(dev, 1));
	ivshmem_chan_close(ptx);
	ivshmem_chan_close(prx);
	ivshmem_chan_close(qtx);
	ivshmem_chan_close(qrx);
	ivshmem_chan_close(dtx);
	ivshmem_chan_close(drx);
	ivshmem_chan_opts_free(p);
	ivshmem_chan_opts_free(q);
	ivshmem_close(dev);
	server_stop(&s);
}

/* A message of the restart storm: its sequence number, then bytes from it. */
static size_t storm_msg(uint8_t *buf, uint64_t seq)
{
	size_t n = 8 + size_of(seq, 300);

	memcpy(buf, &seq, 8);
	fill(buf + 8, n - 8, seq);
	return n;
}

/*
 * The consumer of the storm: attaches, takes 300 messages, leaves and
 * attaches again (a restart, a new generation), @rounds times.  Every
 * message it gets must be whole, and newer than the one before.
 */
static int storm_consumer(struct ivshmem *dev, void *arg)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 10000);
	long rounds = *(long *)arg;
	uint64_t last = 0, seq;
	uint8_t buf[512];
	int n;

	for (long r = 0; r < rounds; r++) {
		struct ivshmem_chan *ch;

		if (ivshmem_chan_attach(dev, "storm", o, &ch))
			return 91;
		for (int i = 0; i < 300;) {
			n = ivshmem_chan_recv(ch, buf, sizeof(buf), 5000);
			if (n == -ECONNRESET) {
				if (ivshmem_chan_reset(ch))
					return 92;
				continue;
			}
			if (n < 8)
				return n == -EPROTO ? 93 : 94;
			memcpy(&seq, buf, 8);
			if ((size_t)n != 8 + size_of(seq, 300) || !check(buf + 8, (size_t)n - 8, seq))
				return 95;
			if (seq <= last && last)
				return 96;
			last = seq;
			i++;
		}
		ivshmem_chan_close(ch);
	}
	ivshmem_chan_opts_free(o);
	return 0;
}

/*
 * A streaming producer and a consumer that attaches again every 300
 * messages: each restart races the producer's publications.  Neither side
 * may end in -EPROTO (an index of the old generation written over the new
 * one), and the consumer gets only whole messages, in order.
 */
TEST_TIMEOUT(peers_consumer_restarts_under_a_stream, 120)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 5000);
	long rounds = scaled(3000) / 10 + 3, resets = 0, eproto = 0;
	struct ivshmem_chan *ch;
	struct server s = { 0 };
	struct ivshmem *dev;
	uint8_t buf[512];
	int status = -1;
	pid_t pid;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_create(dev, "storm", IVSHMEM_CHAN_SEND, -1, o, &ch), 0);
	pid = child(&s, storm_consumer, &rounds);
	for (uint64_t seq = 1;; seq++) {
		size_t n = storm_msg(buf, seq);
		int ret = ivshmem_chan_send(ch, buf, n, seq % 4 ? IVSHMEM_CHAN_MORE : 0, 200);

		if (ret == -ECONNRESET || ret == -EPROTO) {
			eproto += ret == -EPROTO;
			resets++;
			if (ivshmem_chan_reset(ch))
				eproto++;
		}
		/* Once the consumer is done, the ring fills: a send times out. */
		if ((seq % 1024 == 0 || ret == -ETIMEDOUT) && waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	TH_LOG("%ld rounds of 300 messages; the producer reset %ld times, %ld -EPROTO",
	       rounds, resets, eproto);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	EXPECT_EQ(eproto, 0);
	ivshmem_chan_close(ch);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

struct duo_sender {
	struct ivshmem_chan *tx;
	long count;
	int ret;
	int64_t worst_ms;
};

static void *duo_send(void *arg)
{
	struct duo_sender *d = arg;
	uint8_t buf[512];

	for (long i = 0; i < d->count && !d->ret; i++) {
		size_t len = 64 + size_of((uint64_t)i, 300);
		int64_t t0 = now_ms();

		fill(buf, len, (uint64_t)i);
		d->ret = ivshmem_chan_send(d->tx, buf, len, 0, 10000);
		if (now_ms() - t0 > d->worst_ms)
			d->worst_ms = now_ms() - t0;
	}
	return NULL;
}

/*
 * One thread sends and one receives on a pair, both blocking, against an
 * echo on small rings, so that both sleep often: neither may miss the
 * doorbell that ends its sleep (a lost one shows as a send or receive of
 * seconds, or a timeout).
 */
TEST_TIMEOUT(peers_pair_one_thread_per_direction, 120)
{
	struct ivshmem_chan_opts *o = chan_opts(4096, 5000);
	struct duo_sender d = { .count = scaled(20000) };
	struct ivshmem_chan *tx, *rx;
	struct server s = { 0 };
	struct ivshmem *dev;
	int64_t worst = 0, t0;
	pthread_t thread;
	uint8_t buf[512];
	pid_t pid;
	int n;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "duo", -1, o, &tx, &rx), 0);
	pid = child(&s, echo_child, &(struct echo_args){ .name = "duo", .ring = 4096,
							 .count = d.count });
	d.tx = tx;
	ASSERT_EQ(pthread_create(&thread, NULL, duo_send, &d), 0);
	for (long i = 0; i < d.count; i++) {
		t0 = now_ms();
		n = ivshmem_chan_recv(rx, buf, sizeof(buf), 10000);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
		if (n != (int)(64 + size_of((uint64_t)i, 300)) || !check(buf, (size_t)n, (uint64_t)i)) {
			TH_LOG("message %ld: %d", i, n);
			harness_fail();
			break;
		}
	}
	pthread_join(thread, NULL);
	TH_LOG("%ld messages each way; longest send %lld ms, longest receive %lld ms", d.count,
	       (long long)d.worst_ms, (long long)worst);
	EXPECT_EQ(d.ret, 0);
	EXPECT_TRUE(worst < 2000);
	EXPECT_TRUE(d.worst_ms < 2000);
	EXPECT_EQ(child_status(pid), 0);
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

/* A producer blocked on a full ring is rung when room is freed. */
/*
 * One handle per side: a second attach (or create) of the same side takes
 * it over, and the handle it displaced gets -ESTALE from every call, its
 * reset included, instead of fighting the new one over the indices; its
 * close leaves the side to the new handle.  An attach that names the
 * other role takes nothing.
 */
TEST_TIMEOUT(peers_second_handle_displaces_the_first, 60)
{
	struct ivshmem_chan *rx2, *tx2, *wrong;
	struct two_peers t;
	char buf[16];

	two_peers_start(&t, "owned", 0, 0);
	EXPECT_EQ(ivshmem_chan_attach_as(t.b, "owned", IVSHMEM_CHAN_SEND, t.o, &wrong),
		  -EPROTOTYPE);
	EXPECT_EQ(ivshmem_chan_attach_as(t.b, "owned", 9, t.o, &wrong), -EINVAL);
	ASSERT_EQ(ivshmem_chan_send(t.tx, "a", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 0), 1);
	ASSERT_EQ(ivshmem_chan_attach_as(t.b, "owned", IVSHMEM_CHAN_RECV, t.o, &rx2), 0);
	EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 0), -ESTALE);
	EXPECT_EQ(ivshmem_chan_reset(t.rx), -ESTALE);
	EXPECT_EQ(ivshmem_chan_heartbeat(t.rx), -ESTALE);
	EXPECT_EQ(ivshmem_chan_send(t.tx, "b", 1, 0, 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(t.tx), 0);
	ivshmem_chan_close(t.rx);	/* no hang-up: the side is rx2's */
	t.rx = NULL;
	EXPECT_TRUE(!ivshmem_chan_peer_closed(t.tx));
	ASSERT_EQ(ivshmem_chan_send(t.tx, "c", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 1000), 1);
	EXPECT_EQ(buf[0], 'c');
	/* A second create displaces the first creator the same way. */
	ASSERT_EQ(ivshmem_chan_create(t.a, "owned", IVSHMEM_CHAN_SEND, -1, t.o, &tx2), 0);
	EXPECT_EQ(ivshmem_chan_send(t.tx, "d", 1, 0, 0), -ESTALE);
	EXPECT_EQ(ivshmem_chan_reset(t.tx), -ESTALE);
	EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(rx2), 0);
	ASSERT_EQ(ivshmem_chan_send(tx2, "e", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 1000), 1);
	EXPECT_EQ(buf[0], 'e');
	ivshmem_chan_close(rx2);
	ivshmem_chan_close(tx2);
	two_peers_end(&t);
}

struct blocked {
	struct ivshmem_chan *ch;
	int ret;
	int64_t ms;
};

/* Receives, or sends into a full ring, until an error; how long it took. */
static void *block_until_error(void *arg)
{
	struct blocked *b = arg;
	int64_t t0 = now_ms();
	char buf[256] = { 0 };

	do {
		b->ret = ivshmem_chan_is_sender(b->ch) ?
			 ivshmem_chan_send(b->ch, buf, sizeof(buf), 0, 10000) :
			 ivshmem_chan_recv(b->ch, buf, sizeof(buf), 10000);
	} while (b->ret >= 0);
	b->ms = now_ms() - t0;
	return NULL;
}

/*
 * close() hangs up: a consumer asleep in recv() gets what was sent, then
 * -EPIPE at once (not at its 10 s timeout); a producer asleep on a full
 * ring gets -EPIPE at once when the consumer closes.  Until the closed
 * side comes back (-ECONNRESET then), -EPIPE stays.  The heartbeat of
 * each side is seen by the other.
 */
TEST_TIMEOUT(peers_close_hangs_up, 60)
{
	struct blocked blk = { 0 };
	struct ivshmem_chan *rx2;
	pthread_t thread;
	struct two_peers t;
	char buf[16], big[256];
	int full;

	two_peers_start(&t, "hangup", 4096, 0);
	EXPECT_EQ(ivshmem_chan_peer_heartbeat(t.rx), 0);
	ASSERT_EQ(ivshmem_chan_heartbeat(t.tx), 0);
	ASSERT_EQ(ivshmem_chan_heartbeat(t.tx), 0);
	EXPECT_EQ(ivshmem_chan_peer_heartbeat(t.rx), 2);
	/* The consumer sleeps; the producer sends one message and closes. */
	blk.ch = t.rx;
	ASSERT_EQ(pthread_create(&thread, NULL, block_until_error, &blk), 0);
	usleep(100000);
	ASSERT_EQ(ivshmem_chan_send(t.tx, "last", 4, IVSHMEM_CHAN_MORE, 0), 0);
	ivshmem_chan_close(t.tx);	/* publishes "last", then hangs up */
	t.tx = NULL;
	pthread_join(thread, NULL);
	EXPECT_EQ(blk.ret, -EPIPE);
	EXPECT_TRUE(blk.ms < 5000);
	TH_LOG("the consumer saw the hang-up after %lld ms", (long long)blk.ms);
	EXPECT_TRUE(ivshmem_chan_peer_closed(t.rx));
	EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 0), -EPIPE);
	/* The producer comes back: -ECONNRESET, and on. */
	ASSERT_EQ(ivshmem_chan_create(t.a, "hangup", IVSHMEM_CHAN_SEND, -1, t.o, &t.tx), 0);
	EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(t.rx), 0);
	ASSERT_EQ(ivshmem_chan_send(t.tx, "x", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 1000), 1);
	/* The producer fills the ring and sleeps; the consumer closes. */
	blk.ch = t.tx;
	ASSERT_EQ(pthread_create(&thread, NULL, block_until_error, &blk), 0);
	usleep(300000);
	ivshmem_chan_close(t.rx);
	t.rx = NULL;
	pthread_join(thread, NULL);
	EXPECT_EQ(blk.ret, -EPIPE);
	EXPECT_TRUE(blk.ms > 50 && blk.ms < 5000);	/* it slept, then woke at once */
	EXPECT_EQ(ivshmem_chan_send(t.tx, "y", 1, 0, 0), -EPIPE);
	/*
	 * A consumer attaches again: after a clean close nothing is dropped,
	 * the full ring's messages come first.
	 */
	ASSERT_EQ(ivshmem_chan_attach(t.b, "hangup", t.o, &rx2), 0);
	EXPECT_EQ(ivshmem_chan_send(t.tx, "y", 1, 0, 0), -ECONNRESET);
	ASSERT_EQ(ivshmem_chan_reset(t.tx), 0);
	ASSERT_EQ(ivshmem_chan_send(t.tx, "z", 1, 0, 0), 0);
	for (full = 0; ivshmem_chan_recv(rx2, big, sizeof(big), 1000) == (int)sizeof(big); full++)
		;
	EXPECT_EQ(full, 4096 / (256 + 8));	/* what the ring held */
	EXPECT_EQ(big[0], 'z');
	ivshmem_chan_close(rx2);
	two_peers_end(&t);
}

/*
 * A consumer that closed cleanly and attaches again gets what it left in
 * the ring, whether the producer is still there and idle (it does nothing
 * to let the consumer in) or has hung up too (then -EPIPE after the
 * last message), as "ivshmem-ctl chan recv" run twice after the sender
 * exited does.
 */
TEST_TIMEOUT(peers_return_after_close_finds_what_was_left, 60)
{
	struct ivshmem_chan *rx2;
	struct two_peers t;
	char buf[16];

	for (int producer_gone = 0; producer_gone < 2; producer_gone++) {
		two_peers_start(&t, "return", 0, 0);
		for (int c = 'a'; c <= 'c'; c++)
			ASSERT_EQ(ivshmem_chan_send(t.tx, &(char){ (char)c }, 1, 0, 0), 0);
		EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 0), 1);
		ivshmem_chan_close(t.rx);
		t.rx = NULL;
		if (producer_gone) {
			ivshmem_chan_close(t.tx);
			t.tx = NULL;
		}
		ASSERT_EQ(ivshmem_chan_attach(t.b, "return", t.o, &rx2), 0);
		EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 2000), 1);
		EXPECT_EQ(buf[0], 'b');
		EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 2000), 1);
		EXPECT_EQ(buf[0], 'c');
		EXPECT_EQ(ivshmem_chan_recv(rx2, buf, sizeof(buf), 0),
			  producer_gone ? -EPIPE : -ETIMEDOUT);
		ivshmem_chan_close(rx2);
		two_peers_end(&t);
	}
}

struct drainer {
	struct ivshmem_chan *ch;
	long count;
	unsigned int delay_us;	/* after each message */
};

static void *drain_all(void *arg)
{
	struct drainer *d = arg;
	char buf[64];

	while (ivshmem_chan_recv(d->ch, buf, sizeof(buf), 500) >= 0) {
		d->count++;
		usleep(d->delay_us);
	}
	return NULL;
}

/*
 * A producer that filled the ring with messages committed but not yet
 * published (IVSHMEM_CHAN_MORE) publishes them before it waits for room:
 * otherwise the consumer could never free any, and the wait would last
 * its whole timeout.  The producer waits for room for a large message
 * with one doorbell from the consumer, not one per message released.
 */
TEST_TIMEOUT(peers_waiting_producer_publishes_first_and_is_rung_once, 60)
{
	struct drainer d = { 0 };
	uint64_t before, rung;
	int ret;
	struct two_peers t;
	struct chan_hdr *h;
	pthread_t thread;
	long sent = 0;
	void *buf;

	two_peers_start(&t, "batch-full", 4096, 0);
	while (ivshmem_chan_send(t.tx, "0123456789abcdef", 16, IVSHMEM_CHAN_MORE, 0) == 0)
		sent++;
	d.ch = t.rx;
	ASSERT_EQ(pthread_create(&thread, NULL, drain_all, &d), 0);
	ASSERT_EQ(ivshmem_chan_reserve(t.tx, 1500, &buf, 5000), 0);
	ASSERT_EQ(ivshmem_chan_commit(t.tx, 16, 0), 0);
	pthread_join(thread, NULL);
	EXPECT_EQ(d.count, sent + 1);
	/* Full again; room for 2 KiB takes 86 releases of 24 bytes. */
	h = map_header(t.b, "batch-full");
	ASSERT_TRUE(h);
	sent = 0;
	while (ivshmem_chan_send(t.tx, "0123456789abcdef", 16, 0, 0) == 0)
		sent++;
	d.count = 0;
	d.delay_us = 300;	/* slowly: the producer sleeps between releases */
	before = __atomic_load_n(&h->consumer.doorbells, __ATOMIC_RELAXED);
	ASSERT_EQ(pthread_create(&thread, NULL, drain_all, &d), 0);
	ASSERT_EQ(ivshmem_chan_reserve(t.tx, 2040, &buf, 5000), 0);
	ASSERT_EQ(ivshmem_chan_commit(t.tx, 16, 0), 0);
	pthread_join(thread, NULL);
	EXPECT_EQ(d.count, sent + 1);
	rung = __atomic_load_n(&h->consumer.doorbells, __ATOMIC_RELAXED) - before;
	TH_LOG("%ld messages released while the producer waited for 2 KiB: %llu doorbells", sent,
	       (unsigned long long)rung);
	EXPECT_TRUE(rung <= 2);
	ivshmem_unmap(h, 4096);
	/*
	 * The same through arm_for() and poll(), as an event loop waits: a
	 * new channel filled exactly (170 records of 24 bytes), unpublished.
	 */
	ivshmem_chan_close(t.tx);
	ivshmem_chan_close(t.rx);
	ASSERT_EQ(ivshmem_chan_create(t.a, "batch-poll", IVSHMEM_CHAN_SEND, -1, t.o, &t.tx), 0);
	ASSERT_EQ(ivshmem_chan_attach(t.b, "batch-poll", t.o, &t.rx), 0);
	for (int i = 0; i < 4096 / 24; i++)
		ASSERT_EQ(ivshmem_chan_send(t.tx, "0123456789abcdef", 16, IVSHMEM_CHAN_MORE, 0), 0);
	d.ch = t.rx;
	d.delay_us = 0;
	ASSERT_EQ(pthread_create(&thread, NULL, drain_all, &d), 0);
	ret = ivshmem_chan_arm_for(t.tx, 1500);
	ASSERT_GE(ret, 0);
	if (ret == 0) {
		struct pollfd pfd = { .fd = ivshmem_chan_fd(t.tx), .events = POLLIN };

		EXPECT_EQ(poll(&pfd, 1, 3000), 1);
	}
	EXPECT_EQ(ivshmem_chan_reserve(t.tx, 1500, &buf, 0), 0);
	EXPECT_EQ(ivshmem_chan_commit(t.tx, 16, 0), 0);
	pthread_join(thread, NULL);
	two_peers_end(&t);
}

/*
 * Deletion: refused (-EBUSY) while a side is open, forced otherwise; the
 * open sides stop (-ECONNRESET, then -EIDRM from the reset, a sleeping
 * one woken at once); the slot and the area go to the next channel; a
 * slot left claimed by a creator that died creating goes with the flag.
 * With every slot taken, deleting one makes room.
 */
TEST_TIMEOUT(peers_delete_and_reclaim, 60)
{
	struct ivshmem_chan_list *list;
	struct ivshmem_chan *ch, *again;
	struct blocked blk = { 0 };
	struct chan_dir *dir;
	pthread_t thread;
	struct two_peers t;
	char name[32];
	uint64_t first;
	void *addr;

	two_peers_start(&t, "doomed", 4096, 0);
	EXPECT_EQ(ivshmem_chan_delete(t.a, "doomed", 0, 2), -EINVAL);
	EXPECT_EQ(ivshmem_chan_delete(t.a, "nothing", 0, 0), -ENOENT);
	EXPECT_EQ(ivshmem_chan_delete(t.a, "doomed", 0, 0), -EBUSY);
	blk.ch = t.rx;
	ASSERT_EQ(pthread_create(&thread, NULL, block_until_error, &blk), 0);
	usleep(100000);
	ASSERT_EQ(ivshmem_chan_delete(t.a, "doomed", 0, IVSHMEM_CHAN_FORCE), 0);
	pthread_join(thread, NULL);
	EXPECT_EQ(blk.ret, -ECONNRESET);
	EXPECT_TRUE(blk.ms < 5000);
	EXPECT_EQ(ivshmem_chan_reset(t.rx), -EIDRM);
	EXPECT_EQ(ivshmem_chan_send(t.tx, "x", 1, 0, 0), -ECONNRESET);
	EXPECT_EQ(ivshmem_chan_reset(t.tx), -EIDRM);
	ASSERT_EQ(ivshmem_chan_list(t.a, 0, &list), 0);
	EXPECT_EQ(ivshmem_chan_list_count(list), 0);
	ivshmem_chan_list_free(list);
	ASSERT_EQ(ivshmem_chan_opts_set_timeout(t.o, 0), 0);
	ASSERT_EQ(ivshmem_chan_attach(t.b, "doomed", t.o, &again), -ENOENT);
	ASSERT_EQ(ivshmem_chan_opts_set_timeout(t.o, 5000), 0);
	/* The next channel takes the slot and the area. */
	ASSERT_EQ(ivshmem_chan_create(t.a, "reborn", IVSHMEM_CHAN_SEND, -1, t.o, &ch), 0);
	ASSERT_EQ(ivshmem_chan_list(t.a, 0, &list), 0);
	ASSERT_EQ(ivshmem_chan_list_count(list), 1);
	first = ivshmem_chan_info_get_offset(ivshmem_chan_list_get(list, 0));
	EXPECT_EQ(first, CHAN_DIR_SIZE);
	ivshmem_chan_list_free(list);
	/* The old handles stay out of it. */
	EXPECT_EQ(ivshmem_chan_reset(t.rx), -EIDRM);
	ivshmem_chan_close(t.tx);
	ivshmem_chan_close(t.rx);
	t.tx = t.rx = NULL;
	ASSERT_EQ(ivshmem_chan_attach(t.b, "reborn", t.o, &again), 0);
	ASSERT_EQ(ivshmem_chan_send(ch, "y", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(again, name, sizeof(name), 1000), 1);
	/* Both closed: deleted without the flag. */
	ivshmem_chan_close(again);
	ivshmem_chan_close(ch);
	EXPECT_EQ(ivshmem_chan_delete(t.a, "reborn", 0, 0), 0);
	/* Every slot taken; one deleted makes room for another. */
	for (int i = 0; i < CHAN_DIR_ENTRIES; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ASSERT_EQ(ivshmem_chan_create(t.a, name, IVSHMEM_CHAN_SEND, -1, t.o, &ch), 0);
		ivshmem_chan_close(ch);
	}
	EXPECT_EQ(ivshmem_chan_create(t.a, "one-more", IVSHMEM_CHAN_SEND, -1, t.o, &ch), -ENOSPC);
	ASSERT_EQ(ivshmem_chan_delete(t.a, "c17", 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_create(t.a, "one-more", IVSHMEM_CHAN_SEND, -1, t.o, &ch), 0);
	ivshmem_chan_close(ch);
	/* A slot left claimed, as by a creator killed in create(). */
	ASSERT_EQ(ivshmem_map(t.a, 0, CHAN_DIR_SIZE, PROT_READ | PROT_WRITE, &addr), 0);
	dir = addr;
	for (int i = 0; i < CHAN_DIR_ENTRIES; i++)
		if (!strcmp(dir->entry[i].name, "c20"))
			__atomic_store_n(&dir->entry[i].state, IVSHMEM_CHAN_CLAIMED,
					 __ATOMIC_SEQ_CST);
	EXPECT_EQ(ivshmem_chan_delete(t.a, "c20", 0, 0), -ENOENT);
	EXPECT_EQ(ivshmem_chan_delete(t.a, "c20", 0, IVSHMEM_CHAN_FORCE), 0);
	ASSERT_EQ(ivshmem_chan_create(t.a, "in-its-slot", IVSHMEM_CHAN_SEND, -1, t.o, &ch), 0);
	ivshmem_chan_close(ch);
	ivshmem_unmap(addr, CHAN_DIR_SIZE);
	two_peers_end(&t);
}

/*
 * Feature bits: a header that needs a feature this library lacks is
 * refused (-EPROTONOSUPPORT), at attach and at reset; one it may ignore
 * is ignored.
 */
TEST_TIMEOUT(peers_feature_bits, 60)
{
	struct ivshmem_chan *other;
	struct two_peers t;
	struct chan_hdr *h;
	char buf[16];

	two_peers_start(&t, "features", 0, 0);
	h = map_header(t.b, "features");
	ASSERT_TRUE(h);
	__atomic_store_n(&h->features_compat, 0x80000000u, __ATOMIC_SEQ_CST);
	ASSERT_EQ(ivshmem_chan_reset(t.rx), 0);
	ASSERT_EQ(ivshmem_chan_send(t.tx, "x", 1, 0, 0), 0);
	EXPECT_EQ(ivshmem_chan_recv(t.rx, buf, sizeof(buf), 1000), 1);
	__atomic_store_n(&h->features_incompat, 0x80000000u, __ATOMIC_SEQ_CST);
	EXPECT_EQ(ivshmem_chan_reset(t.rx), -EPROTONOSUPPORT);
	EXPECT_EQ(ivshmem_chan_attach(t.b, "features", t.o, &other), -EPROTONOSUPPORT);
	ivshmem_unmap(h, 4096);
	two_peers_end(&t);
}

TEST_TIMEOUT(peers_full_ring_blocks_then_wakes, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(4096, 5000);
	struct send_args a = { .name = "full", .count = 2000, .stop_fd = -1 };
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	struct server s = { 0 };
	pid_t pid;

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_create(dev, "full", IVSHMEM_CHAN_RECV, -1, o, &ch), 0);
	pid = child(&s, send_child, &a);
	/* Let it fill the ring and sleep; then take slowly. */
	usleep(300000);
	for (long i = 0; i < a.count; i += 100) {
		recv_expect(ch, i, 100, 20000);
		if (i < 500)
			usleep(20000);
	}
	EXPECT_EQ(child_status(pid), 0);
	ivshmem_chan_close(ch);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

/*
 * ivshmem-ctl as a host peer of @s with @args (space-separated, at most
 * 20), @input on its stdin; its stdout in @out.  Its exit status.
 */
static int ctl_run(const struct server *s, const char *input, char *out, size_t out_len,
		   const char *args)
{
	char line[512], *argv[32], *save = NULL;
	int in[2], pipe_out[2], argc = 0, status;
	size_t got = 0;
	pid_t parent = getpid(), pid;
	ssize_t n;

	argv[argc++] = (char *)ctl_path;
	argv[argc++] = "-s";
	argv[argc++] = (char *)s->sock;
	argv[argc++] = "-n";
	argv[argc++] = "2";
	snprintf(line, sizeof(line), "%s", args);
	for (char *t = strtok_r(line, " ", &save); t && argc < 30; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
	ASSERT_EQ(pipe2(pipe_out, O_CLOEXEC), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		child_limits(parent, 30);
		dup2(in[0], 0);
		dup2(pipe_out[1], 1);
		dup2(null, 2);
		execv(ctl_path, argv);
		_exit(127);
	}
	close(in[0]);
	close(pipe_out[1]);
	if (input && write(in[1], input, strlen(input)) != (ssize_t)strlen(input))
		TH_LOG("short write to ivshmem-ctl");
	close(in[1]);
	while (got + 1 < out_len && (n = read(pipe_out[0], out + got, out_len - got - 1)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pipe_out[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ivshmem-ctl chan list, stat, send and recv against a pair made here. */
TEST_TIMEOUT(ctl_chan_list_stat_send_recv, 60)
{
	struct ivshmem_chan_opts *o = chan_opts(0, 5000);
	struct ivshmem_chan *tx, *rx;
	struct ivshmem *dev;
	char out[4096], buf[64];
	struct server s = { 0 };

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "--json chan list"), 0);
	EXPECT_TRUE(!strcmp(out, "[]\n"));
	ASSERT_EQ(ivshmem_chan_pair_create(dev, "ctl", -1, o, &tx, &rx), 0);
	/* Each line a message, in order. */
	EXPECT_EQ(ctl_run(&s, "one\ntwo\n\nfour\n", out, sizeof(out),
			  "--json chan send -t 5000 ctl.1"), 0);
	EXPECT_TRUE(!strcmp(out, "{\"sent\":4}\n"));
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 5000), 3);
	EXPECT_TRUE(!memcmp(buf, "one", 3));
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 5000), 3);
	EXPECT_TRUE(!memcmp(buf, "two", 3));
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 5000), 0);
	EXPECT_EQ(ivshmem_chan_recv(rx, buf, sizeof(buf), 5000), 4);
	EXPECT_TRUE(!memcmp(buf, "four", 4));
	ASSERT_EQ(ivshmem_chan_send(tx, "hello \"world\"", 13, 0, 0), 0);
	ASSERT_EQ(ivshmem_chan_send(tx, "again", 5, 0, 0), 0);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "--json chan recv -c 0 -t 500 ctl.0"), 0);
	EXPECT_TRUE(!strcmp(out, "{\"length\":13,\"data\":\"hello \\\"world\\\"\"}\n"
			    "{\"length\":5,\"data\":\"again\"}\n"));
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan stat ctl.0"), 0);
	EXPECT_TRUE(strstr(out, "ctl.0") && strstr(out, "attached"));
	{
		/* -w, on a channel of larger messages than a record holds: in parts. */
		static char big[50001];
		struct ivshmem_chan *big_rx;
		char *got = malloc(1 << 20);

		ASSERT_TRUE(got);
		ASSERT_EQ(ivshmem_chan_opts_set_max_msg(o, 1 << 20), 0);
		ASSERT_EQ(ivshmem_chan_create(dev, "big", IVSHMEM_CHAN_RECV, -1, o, &big_rx), 0);
		ASSERT_EQ(ivshmem_chan_opts_set_max_msg(o, 0), 0);
		memset(big, 'b', sizeof(big) - 1);
		EXPECT_EQ(ctl_run(&s, big, out, sizeof(out), "--json chan send -w -t 5000 big"), 0);
		EXPECT_TRUE(!strcmp(out, "{\"sent\":1}\n"));
		EXPECT_EQ(ivshmem_chan_recv(big_rx, got, 1 << 20, 5000), (int)sizeof(big) - 1);
		EXPECT_TRUE(got[0] == 'b' && got[sizeof(big) - 2] == 'b');
		EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "--json chan stat big"), 0);
		EXPECT_TRUE(strstr(out, "\"max_message\":1048576"));
		ivshmem_chan_close(big_rx);
		free(got);
	}
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "--json chan list"), 0);
	EXPECT_TRUE(strstr(out, "{\"name\":\"ctl.0\",\"state\":\"attached\"") &&
		    strstr(out, "\"messages_sent\":2,\"messages_received\":2"));
	EXPECT_TRUE(strstr(out, "{\"name\":\"ctl.1\",\"state\":\"attached\"") &&
		    strstr(out, "\"messages_sent\":4,\"messages_received\":4"));
	/* Nothing there: exit status 3; no such channel, the wrong side: 1. */
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan recv -t 200 ctl.0"), 3);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan stat nothing"), 1);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan recv -t 0 nothing"), 1);
	EXPECT_EQ(ctl_run(&s, "x\n", out, sizeof(out), "chan send -t 1000 ctl.0"), 1);
	/* ... which it left to its holder. */
	EXPECT_EQ(ivshmem_chan_heartbeat(tx), 0);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan frob"), 2);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan recv"), 2);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan list -f"), 2);
	/* Delete: not with a side open, unless forced; the holder sees it go. */
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan delete ctl.0"), 1);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan delete nothing"), 1);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan delete --force ctl.0"), 0);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "--json chan list"), 0);
	EXPECT_TRUE(!strstr(out, "ctl.0") && strstr(out, "ctl.1"));
	EXPECT_EQ(ivshmem_chan_send(tx, "x", 1, 0, 0), -ECONNRESET);
	EXPECT_EQ(ivshmem_chan_reset(tx), -EIDRM);
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

/*
 * Names and messages are whatever a peer wrote: the table shows no control
 * bytes, and JSON escapes them and keeps a NUL inside a message.
 */
TEST_TIMEOUT(ctl_chan_hostile_names_and_nuls, 60)
{
	static const char name[] = "evil\x1b]0;pwned\x07\x1b[2J";
	struct ivshmem_chan_opts *o = chan_opts(0, 5000);
	struct ivshmem_chan *tx;
	struct ivshmem *dev;
	struct server s = { 0 };
	char out[4096], args[128];

	server_start(&s);
	ASSERT_EQ(join(&s, &dev), 0);
	ASSERT_EQ(ivshmem_chan_create(dev, name, IVSHMEM_CHAN_SEND, -1, o, &tx), 0);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "chan list"), 0);
	EXPECT_TRUE(strstr(out, "evil?]0;pwned??[2J") && !strchr(out, '\x1b') &&
		    !strchr(out, '\x07'));
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), "--json chan list"), 0);
	EXPECT_TRUE(strstr(out, "\"name\":\"evil\\u001b]0;pwned\\u0007\\u001b[2J\""));
	ASSERT_EQ(ivshmem_chan_send(tx, "a\0b\"", 4, 0, 0), 0);
	snprintf(args, sizeof(args), "--json chan recv -t 5000 %s", name);
	EXPECT_EQ(ctl_run(&s, NULL, out, sizeof(out), args), 0);
	EXPECT_TRUE(!strcmp(out, "{\"length\":4,\"data\":\"a\\u0000b\\\"\"}\n"));
	ivshmem_chan_close(tx);
	ivshmem_chan_opts_free(o);
	ivshmem_close(dev);
	server_stop(&s);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: chan_host_test PATH-TO-ivshmem-server PATH-TO-ivshmem-ctl\n");
		return 2;
	}
	server_path = argv[1];
	ctl_path = argv[2];
	return harness_main_in_tmpdir("chantest", argv);
}
