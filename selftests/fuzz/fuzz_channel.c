// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: libivshmem's channels against a hostile peer.  The
 * input is a channel's header and ring as the peer left them, operations
 * of the consumer and of the producer on them (with the peer's writes to
 * its indices in between), and a directory page for the directory reader.
 * The area lies between inaccessible pages, so that any access outside it
 * faults; every call has a timeout of 0, so none may block.  With mode bit
 * 3 the peer also races the calls, attaching included: a thread of its
 * own rewrites the fields the peer may write, and the ring, all the while
 * they run, so that a value read twice, or checked and then read again,
 * shows.
 *
 * Input: mode (1 byte), operations (32 bytes), the area (header and ring),
 * then the directory page (the rest, zero-padded).
 *   mode bit 0: the header's magic and layout version made valid
 *   mode bit 1: a ring of 8192 bytes instead of 4096
 *   mode bit 2: the directory's magic and version made valid
 *   mode bit 3: a racing peer thread, its values taken from the operations
 *   mode bit 4: large messages (up to LARGE_MAX bytes, in parts)
 *   mode bit 5: a pool of POOL bytes after the ring (messages in place)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "channel.h"

#define OPS		32
#define RING_MAX	8192
#define LARGE_MAX	65536
#define POOL		1024

static uint8_t *area;		/* RING_MAX + header, guard pages around */
static uint8_t *dir_page;
static size_t page;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t len;
	uint8_t *p;

	(void)argc;
	(void)argv;
	page = (size_t)sysconf(_SC_PAGESIZE);
	/* guard | header and ring, ending on the guard | guard | dir | guard */
	len = 8 * page + 2 * ((CHAN_HDR_SIZE + RING_MAX + page - 1) / page * page);
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();
	area = p + page;
	if (mprotect(area, 3 * page, PROT_READ | PROT_WRITE))
		abort();
	dir_page = p + 5 * page;
	if (mprotect(dir_page, page, PROT_READ | PROT_WRITE))
		abort();
	return 0;
}

/* The racing peer: what it writes, where, until told to stop. */
struct racer {
	struct chan_hdr *h;
	uint8_t *ring;
	size_t ring_len;
	const uint8_t *vals;	/* OPS bytes */
	bool stop;
};

#define RACE_STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)

static void *race(void *arg)
{
	struct racer *r = arg;

	for (uint64_t i = 0; !__atomic_load_n(&r->stop, __ATOMIC_RELAXED); i++) {
		uint32_t gen;
		uint64_t v = r->vals[i % OPS] * 0x0101010101010101ull ^ (i * 0x9e3779b97f4a7c15ull);

		switch (i % 8) {
		case 0:
		case 1:
			/* Mostly in the generation the sides are in. */
			gen = __atomic_load_n(&r->h->generation, __ATOMIC_RELAXED);
			RACE_STORE(i % 8 ? &r->h->consumer.index : &r->h->producer.index,
				   v % 5 ? CHAN_IDX(gen, v % 3 ? v & ~7ull : v) : v);
			break;
		case 2:
			/* Now and then only: every change is a retry of a snapshot. */
			if (i % 64 == 2)
				RACE_STORE(&r->h->generation, (uint32_t)v);
			break;
		case 3:
			if (i % 64 == 3)
				RACE_STORE(&r->h->ring_size, (uint32_t)(v >> 8));
			else if (i % 64 == 11)
				RACE_STORE(&r->h->max_message, (uint32_t)(v >> 16));
			else if (i % 64 == 19)
				RACE_STORE(&r->h->features_incompat, (uint32_t)v & 3);
			else if (i % 64 == 27)
				RACE_STORE(&r->h->pool_size, (uint32_t)(v >> 20) & 0x1ff8);
			break;
		case 4:
			RACE_STORE(v & 1 ? &r->h->consumer.waiting : &r->h->producer.waiting,
				   (uint8_t)v);
			break;
		case 5:
			if (v & 2)
				RACE_STORE(v & 1 ? &r->h->consumer.peer : &r->h->producer.peer,
					   (uint32_t)(v >> 2));
			else if (v & 4)
				RACE_STORE(v & 1 ? &r->h->consumer.vector : &r->h->producer.vector,
					   (uint16_t)(v >> 3));
			else
				RACE_STORE(v & 1 ? &r->h->consumer.state : &r->h->producer.state,
					   (uint8_t)(v >> 3));
			break;
		case 6:
			/* A record header anywhere in the ring, of any kind there is. */
			RACE_STORE((uint64_t *)(void *)(r->ring + (v >> 16) % (r->ring_len / 8) * 8),
				   v & 4 ? (uint64_t)(v % 7) << 32 | (uint32_t)(v >> 40) : v);
			break;
		default:
			RACE_STORE(&r->ring[(v >> 8) % r->ring_len], (uint8_t)v);
			break;
		}
	}
	return NULL;
}

/* The area that ends right at the guard page after it. */
static uint8_t *place(size_t len)
{
	return area + 3 * page - len;
}

static void run_ops(struct ivshmem_chan *rx, struct ivshmem_chan *tx, struct chan_hdr *h,
		    const uint8_t *ops, bool large)
{
	static uint8_t buf[LARGE_MAX];

	for (int i = 0; i < OPS; i++) {
		unsigned int op = ops[i] & 7, arg = ops[i] >> 3;
		const void *data;
		size_t len;
		void *p;

		switch (op) {
		case 0:
			if (ivshmem_chan_peek(rx, &data, &len, 0) == 0) {
				if (len > ivshmem_chan_max_msg(rx) || len > LARGE_MAX)
					abort();
				/* Touch every byte handed out. */
				memcpy(buf, data, len);
				ivshmem_chan_release(rx);
			}
			break;
		case 1: {
			size_t room = (size_t)arg * (large ? 2048 : 64);
			int n = ivshmem_chan_recv(rx, buf, room, 0);

			if (n > (int)room)
				abort();
			break;
		}
		case 2:
			ivshmem_chan_reset(i & 1 ? rx : tx);
			break;
		case 3:
			/* The peer moves its index: any value. */
			__atomic_store_n(&h->producer.index,
					 __atomic_load_n(&h->producer.index, __ATOMIC_RELAXED) +
					 arg * 8u, __ATOMIC_RELAXED);
			break;
		case 4:
			__atomic_store_n(&h->consumer.index,
					 CHAN_IDX(__atomic_load_n(&h->generation, __ATOMIC_RELAXED), (uint64_t)arg * 1000003u),
					 __ATOMIC_RELAXED);
			break;
		case 5:
			if ((arg & 2) && ivshmem_chan_buf_reserve(tx, (size_t)arg * 37, &p, 0) == 0) {
				memset(p, 0x5b, (size_t)arg * 37);
				ivshmem_chan_buf_commit(tx, (size_t)arg * 37, arg & 1 ? IVSHMEM_CHAN_MORE : 0);
			} else if (ivshmem_chan_reserve(tx, (size_t)arg * 97, &p, 0) == 0) {
				memset(p, 0x5a, (size_t)arg * 97);
				ivshmem_chan_commit(tx, (size_t)arg * 97, arg & 1 ? IVSHMEM_CHAN_MORE : 0);
			}
			break;
		case 6: {
			/* Large ones go in parts, and are cut short by the timeout. */
			size_t n = (size_t)arg * (large ? 1999 : 13);

			memset(buf, 0xa5, n);
			ivshmem_chan_send(tx, buf, n, 0, 0);
			break;
		}
		case 7:
			ivshmem_chan_flush(tx);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivshmem_chan *rx = NULL, *tx = NULL;
	struct ivshmem_chan_info *info;
	struct ivshmem_chan_list *list;
	uint8_t mode, ops[OPS] = { 0 };
	size_t ring, len, n;
	struct chan_hdr *h;
	uint8_t *a;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	n = size < OPS ? size : OPS;
	memcpy(ops, data, n);
	data += n;
	size -= n;

	ring = mode & 2 ? 8192 : 4096;
	len = CHAN_HDR_SIZE + ring + (mode & 32 ? POOL : 0);
	a = place(len);
	memset(a, 0, len);
	n = size < len ? size : len;
	memcpy(a, data, n);
	data += n;
	size -= n;
	h = (struct chan_hdr *)a;
	if (mode & 1) {
		h->magic = CHAN_MAGIC;
		h->version = CHAN_LAYOUT_VERSION;
	}
	if (mode & 48)
		h->features_incompat = (mode & 16 ? CHAN_FEAT_LARGE : 0) |
				       (mode & 32 ? CHAN_FEAT_POOL : 0);
	if (mode & 16)
		h->max_message = LARGE_MAX;
	if (mode & 32)
		h->pool_size = POOL;
	{
		struct racer r = { h, a + CHAN_HDR_SIZE, ring, ops, false };
		pthread_t t;
		bool racing = (mode & 8) && pthread_create(&t, NULL, race, &r) == 0;

		if (ivshmem_chan_over_memory(a, len, false, &rx) == 0 &&
		    ivshmem_chan_over_memory(a, len, true, &tx) == 0)
			run_ops(rx, tx, h, ops, mode & 16);
		if (racing) {
			__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
			pthread_join(t, NULL);
		}
	}
	if (rx && tx) {
		if (ivshmem_chan_get_info(rx, &info) == 0) {
			if (ivshmem_chan_info_get_used(info) > ivshmem_chan_info_get_ring_size(info))
				abort();
			ivshmem_chan_info_free(info);
		}
	}
	ivshmem_chan_close(rx);
	ivshmem_chan_close(tx);

	/* The directory reader: entries must come out inside the region. */
	memset(dir_page, 0, page);
	n = size < CHAN_DIR_SIZE ? size : CHAN_DIR_SIZE;
	memcpy(dir_page, data, n);
	if (mode & 4) {
		struct chan_dir *dir = (struct chan_dir *)dir_page;

		dir->magic = CHAN_DIR_MAGIC;
		dir->version = CHAN_LAYOUT_VERSION;
		dir->entries = CHAN_DIR_ENTRIES;
	}
	if (ivshmem_chan_parse_dir(dir_page, 1 << 24, 0, &list) == 0) {
		for (size_t i = 0; i < ivshmem_chan_list_count(list); i++) {
			const struct ivshmem_chan_info *ci = ivshmem_chan_list_get(list, i);

			if (strnlen(ivshmem_chan_info_get_name(ci), CHAN_NAME_LEN) >= CHAN_NAME_LEN ||
			    ivshmem_chan_info_get_offset(ci) < CHAN_DIR_SIZE ||
			    ivshmem_chan_info_get_offset(ci) + ivshmem_chan_info_get_size(ci) >
			    (1 << 24))
				abort();
		}
		ivshmem_chan_list_free(list);
	}
	return 0;
}
