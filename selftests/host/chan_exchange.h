/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The channel exchange of the guest test (selftests/chan_test.c) and of its
 * host-peer counterpart (host/chan_peer.c): both sides send COUNT messages
 * with checksums on their tx channel while they receive COUNT from the
 * other on rx, then one side (the pinger) times round trips the other
 * echoes.  One thread per side; tx and rx wait on the same vector.
 */
#ifndef IVSHMEM_CHAN_EXCHANGE_H
#define IVSHMEM_CHAN_EXCHANGE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libivshmem.h"

/* The channel pair's default directory offset: clear of pair_test's mailbox. */
#define XCHG_DIR_OFFSET		(64ull << 20)
#define XCHG_MAX_LEN		512
#define XCHG_PINGS		2000
/* The round trips: XCHG_PINGS of each size, in this order. */
#define XCHG_PING_SIZES		3
#define XCHG_PING_MAX		65536
/* A ring that takes XCHG_PING_MAX. */
#define XCHG_RING_SIZE		(256u << 10)
static const size_t xchg_ping_sizes[XCHG_PING_SIZES] = { 64, 4096, 65536 };

static inline int64_t xchg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Bytes @from to @len of a message, an xorshift sequence seeded with @x. */
static inline void xchg_fill_bytes(uint8_t *p, size_t from, size_t len, uint64_t x)
{
	for (size_t i = from; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

/* Message @seq: 8 bytes of seq, then bytes derived from it; 8..XCHG_MAX_LEN long. */
static inline size_t xchg_fill(uint8_t *p, uint64_t seq, uint64_t salt)
{
	size_t len = 8 + (size_t)((seq * 131 + salt) % (XCHG_MAX_LEN - 7));

	memcpy(p, &seq, 8);
	xchg_fill_bytes(p, 8, len, seq * 0x9e3779b97f4a7c15ull + salt + 1);
	return len;
}

struct xchg_result {
	long sent, received, bad;	/* bad: wrong sequence, length or bytes */
	int error;			/* the first error, negative errno */
	int64_t ns;
};

/*
 * Send @count messages salted @tx_salt while receiving @count salted
 * @rx_salt; give up after @timeout_ms without progress.
 */
static inline void xchg_run(struct ivshmem_chan *tx, struct ivshmem_chan *rx, long count,
			    uint64_t tx_salt, uint64_t rx_salt, int timeout_ms,
			    struct xchg_result *r)
{
	uint8_t buf[XCHG_MAX_LEN], want[XCHG_MAX_LEN];
	int64_t t0 = xchg_now_ns(), idle_since = t0;

	memset(r, 0, sizeof(*r));
	while (r->sent < count || r->received < count) {
		bool progress = false;
		const void *data;
		size_t len;
		int ret = 0;

		/* A batch out, published with one doorbell at most. */
		for (int i = 0; i < 32 && r->sent < count; i++) {
			size_t n = xchg_fill(buf, (uint64_t)r->sent, tx_salt);

			ret = ivshmem_chan_send(tx, buf, n, IVSHMEM_CHAN_MORE, 0);
			if (ret)
				break;
			r->sent++;
			progress = true;
		}
		if (ret && ret != -ETIMEDOUT) {
			r->error = ret;
			break;
		}
		ret = ivshmem_chan_flush(tx);
		if (ret) {
			r->error = ret;
			break;
		}
		/*
		 * Everything in, but no more than @count: what follows belongs
		 * to the next phase.  Wait a little only if nothing moved.
		 */
		while (r->received < count) {
			ret = ivshmem_chan_peek(rx, &data, &len, progress ? 0 : 20);
			if (ret)
				break;
			if (len != xchg_fill(want, (uint64_t)r->received, rx_salt) ||
			    memcmp(data, want, len) != 0)
				r->bad++;
			ret = ivshmem_chan_release(rx);
			if (ret)
				break;
			r->received++;
			progress = true;
		}
		if (ret && ret != -ETIMEDOUT) {
			r->error = ret;
			break;
		}
		if (progress) {
			idle_since = xchg_now_ns();
		} else if (xchg_now_ns() - idle_since > (int64_t)timeout_ms * 1000000) {
			r->error = -ETIMEDOUT;
			break;
		}
	}
	r->ns = xchg_now_ns() - t0;
}

/*
 * Attach to the pair @name, waiting up to @timeout_ms: also while the
 * directory still holds what an earlier test left there (-EPROTO), until
 * the creator has cleared and written it.
 */
static inline int xchg_attach(struct ivshmem *dev, const char *name,
			      const struct ivshmem_chan_opts *opts, int timeout_ms,
			      struct ivshmem_chan **tx, struct ivshmem_chan **rx)
{
	int64_t deadline = xchg_now_ns() + (int64_t)timeout_ms * 1000000;
	struct timespec pause = { 0, 10000000 };
	int ret;

	while ((ret = ivshmem_chan_pair_attach(dev, name, opts, tx, rx)) == -EPROTO &&
	       xchg_now_ns() < deadline)
		nanosleep(&pause, NULL);
	return ret;
}

static inline int xchg_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The pinger: XCHG_PINGS round trips of @size bytes; p50 and p99 in ns. */
static inline int xchg_ping(struct ivshmem_chan *tx, struct ivshmem_chan *rx, size_t size,
			    int64_t *p50, int64_t *p99)
{
	static int64_t v[XCHG_PINGS];
	static uint8_t buf[XCHG_PING_MAX];

	for (int i = 0; i < XCHG_PINGS; i++) {
		int64_t t0 = xchg_now_ns();
		int ret = ivshmem_chan_send(tx, buf, size, 0, 10000);

		if (!ret)
			ret = ivshmem_chan_recv(rx, buf, sizeof(buf), 10000);
		if (ret < 0)
			return ret;
		v[i] = xchg_now_ns() - t0;
	}
	qsort(v, XCHG_PINGS, sizeof(v[0]), xchg_cmp);
	*p50 = v[XCHG_PINGS / 2];
	*p99 = v[XCHG_PINGS * 99 / 100];
	return 0;
}

/* The echo: the messages of every round trip back as they came. */
static inline int xchg_echo(struct ivshmem_chan *tx, struct ivshmem_chan *rx)
{
	static uint8_t buf[XCHG_PING_MAX];

	for (int i = 0; i < XCHG_PINGS * XCHG_PING_SIZES; i++) {
		int n = ivshmem_chan_recv(rx, buf, sizeof(buf), 30000);

		if (n < 0)
			return n;
		n = ivshmem_chan_send(tx, buf, (size_t)n, 0, 10000);
		if (n)
			return n;
	}
	return 0;
}

/* Doorbells per message this side rang, of what it sent. */
static inline double xchg_doorbells(struct ivshmem_chan *tx)
{
	struct ivshmem_chan_info *info;
	double d = 0;

	if (ivshmem_chan_get_info(tx, &info))
		return -1;
	if (ivshmem_chan_info_get_msgs_sent(info))
		d = (double)ivshmem_chan_info_get_notify_sent(info) /
		    (double)ivshmem_chan_info_get_msgs_sent(info);
	ivshmem_chan_info_free(info);
	return d;
}

#endif /* IVSHMEM_CHAN_EXCHANGE_H */
