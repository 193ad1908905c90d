// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Channels: rings of messages in the shared memory, one producer and one
 * consumer, with a directory of one page (layout in channel.h).
 *
 * Memory ordering: the producer writes a record, then publishes head with
 * a release (seq_cst) write; the consumer reads head with an acquire load before it
 * reads the record.  The consumer hands space back the same way through
 * tail.  Doorbells are suppressed as with virtio's event index: the
 * sleeping side sets its flag and checks the index again before it
 * sleeps; the other side publishes its index and rings only if it then
 * sees the flag (which it takes back with an exchange, so that one
 * doorbell serves a sleep).  These four accesses are seq_cst, so they have
 * one total order: either the sleeper sees the publication or the
 * publisher sees the flag, and no wakeup is lost.  (seq_cst accesses
 * rather than fences: ThreadSanitizer understands them; on x86 the index
 * is published with a locked compare-exchange, see publish(), which is a
 * full barrier anyway, and the loads stay plain moves.)
 *
 * Trust: the other side owns half of the header and all it writes into the
 * ring.  Each side keeps its own index privately and only publishes it;
 * every value read from the shared memory is read once into a local and
 * checked before it is used, and the ring's size is taken once, at
 * attach or reset, and checked against the mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "internal.h"

#define PAGE		4096u
#define REC_HDR		((uint32_t)sizeof(struct chan_rec))
#define DEFAULT_RING	(64u << 10)
/* Bytes of a large message's parts that one receive takes past its deadline. */
#define PARTS_PAST_DEADLINE	(1u << 20)

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define STORE_REL(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD_SC(p)	__atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_SC(p, v)	__atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

struct ivshmem_chan_opts {
	uint64_t dir_offset;
	uint32_t ring_size;
	unsigned int vector;
	bool vector_set;		/* by ivshmem_chan_opts_set_vector() */
	int timeout_ms;
	unsigned int spin_us;
	uint32_t max_msg;		/* of a channel created; 0: what a record holds */
	uint32_t pool_size;		/* of a channel created; 0: no pool */
};

struct ivshmem_chan_info {
	char name[CHAN_NAME_LEN];
	uint64_t offset, size;
	enum ivshmem_chan_state state;
	int32_t producer, consumer;
	bool valid;
	uint32_t generation, ring_size, max_msg;
	uint64_t used, msgs_sent, msgs_received, notify_sent, notify_suppressed, wakeups;
};

struct ivshmem_chan_list {
	size_t count;
	struct ivshmem_chan_info *infos;
};

struct ivshmem_chan {
	struct ivshmem *dev;		/* NULL over plain memory */
	struct chan_dir *dir;		/* mapped page, NULL over plain memory */
	void *area;			/* header and ring */
	size_t area_len;
	uint64_t area_offset;		/* in the region */
	struct chan_hdr *hdr;
	uint8_t *ring;
	uint64_t session;		/* written into its side: who holds it */
	/* Own index: the producer's head (committed, maybe unpublished) or
	 * the consumer's tail (released); the shared copy is only published. */
	uint64_t pos, published;
	int64_t reserved;		/* payload bytes reserved, -1 if none */
	/* A large message being put together from its parts (consumer):
	 * @large_len bytes in all, @large_got of them here; @large_peeked
	 * once it is whole and handed out by peek(). */
	uint8_t *large;
	size_t large_cap;
	/* The pool after the ring (CHAN_FEAT_POOL), pool_size bytes.  The
	 * producer hands it out in order, from @pool_head; a buffer is free
	 * again once the tail passes its BUF record, which @pool_q tracks
	 * (the oldest at @pool_q_first).  After a restart nothing of the
	 * pool is handed out until the tail reaches @pool_barrier, the head
	 * then: records in flight may still point into it. */
	uint8_t *pool;
	uint64_t pool_head, pool_tail, pool_barrier;
	struct pool_out {
		uint64_t ring_end;	/* the tail that frees it */
		uint64_t pool_end;	/* pool_tail once it is free */
	} *pool_q;
	size_t pool_q_first, pool_q_len, pool_q_cap;
	uint64_t pool_res_off, pool_res_end, pool_res_len;	/* the buffer reserved */
	uint64_t msgs, doorbells, quiet, wakeups, heartbeat;
	char name[CHAN_NAME_LEN];
	unsigned int slot;
	/* How long the next wait spins before it sleeps: at most spin_us,
	 * halved by a spin that found nothing, raised after a sleep that a
	 * spin that long would have caught (spin_adapt()). */
	unsigned int spin_budget;
	uint32_t ring_size, max_msg, gen;
	/* The largest message send() takes: max_msg, or the header's
	 * max_message with CHAN_FEAT_LARGE; and the payload of its parts. */
	uint32_t max_large, frag_max;
	uint32_t pool_size;
	unsigned int vector, spin_us;
	/* Whom to ring (learn_peer): CHAN_NO_PEER and CHAN_NO_VECTOR until
	 * known. */
	uint32_t peer, peer_vector;
	int fd;				/* the vector's eventfd, -1 until needed */
	uint32_t peeked;		/* record bytes peeked, 0 if none */
	uint32_t peeked_msgs;		/* and how many messages they hold */
	uint32_t large_len, large_got;
	uint16_t layout_flags;		/* the header's flags, as adopted */
	bool own_mappings;
	bool sender, creator, failed;
	bool placed;			/* this handle took its side (take_place) */
	bool large_peeked;
	bool pool_reserved;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* A random session cookie, never 0 (0 is "nobody"). */
static uint64_t new_session(const void *salt)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint64_t)now_us() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32 ^
		    (uint64_t)(uintptr_t)salt;
	return v ? v : 1;
}

/* Bytes between two positions of an index, modulo the index's width. */
static uint64_t idx_sub(uint64_t a, uint64_t b)
{
	return (a - b) & CHAN_IDX_MASK;
}

/* Generation @a is newer than @b, as 16-bit serial numbers. */
static bool gen_newer(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(a - b) > 0;
}

static uint32_t rec_size(uint32_t len)
{
	return REC_HDR + ((len + 7u) & ~7u);
}

/*
 * Copy @len bytes out of the shared memory with one load each, so that
 * the compiler cannot read any of them twice and see two values.
 */
static void load_bytes(void *dst, const void *shared, size_t len)
{
	const uint8_t *src = shared;
	uint8_t *d = dst;

	for (size_t i = 0; i < len; i++)
		d[i] = LOAD(&src[i]);
}

static bool name_ok(const char *name, size_t max)
{
	size_t n = name ? strnlen(name, max + 1) : 0;

	return n > 0 && n <= max;
}

/* ---- options ---- */

IVSHMEM_EXPORT int ivshmem_chan_opts_new(struct ivshmem_chan_opts **out)
{
	struct ivshmem_chan_opts *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->ring_size = DEFAULT_RING;
	o->timeout_ms = 5000;
	*out = o;
	return 0;
}

IVSHMEM_EXPORT void ivshmem_chan_opts_free(struct ivshmem_chan_opts *opts)
{
	free(opts);
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_dir_offset(struct ivshmem_chan_opts *opts,
						    uint64_t offset)
{
	if (offset % PAGE)
		return -EINVAL;
	opts->dir_offset = offset;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_ring_size(struct ivshmem_chan_opts *opts,
						   uint32_t bytes)
{
	if (bytes < CHAN_RING_MIN || bytes > CHAN_RING_MAX || (bytes & (bytes - 1)))
		return -EINVAL;
	opts->ring_size = bytes;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_vector(struct ivshmem_chan_opts *opts,
						unsigned int vector)
{
	if (vector > 255)
		return -EINVAL;
	opts->vector = vector;
	opts->vector_set = true;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_timeout(struct ivshmem_chan_opts *opts, int timeout_ms)
{
	if (timeout_ms < -1)
		return -EINVAL;
	opts->timeout_ms = timeout_ms;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_spin(struct ivshmem_chan_opts *opts,
					      unsigned int spin_us)
{
	if (spin_us > 1000000)
		return -EINVAL;
	opts->spin_us = spin_us;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_max_msg(struct ivshmem_chan_opts *opts, uint32_t bytes)
{
	if (bytes > CHAN_LARGE_MAX)
		return -EINVAL;
	opts->max_msg = bytes;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_opts_set_pool_size(struct ivshmem_chan_opts *opts,
						   uint32_t bytes)
{
	if (bytes > CHAN_LARGE_MAX || bytes % 8)
		return -EINVAL;
	opts->pool_size = bytes;
	return 0;
}

static const struct ivshmem_chan_opts default_opts = {
	.ring_size = DEFAULT_RING, .timeout_ms = 5000,
};

/* ---- the directory ---- */

/* A channel's area: in the region, clear of the directory page, whole pages. */
static bool area_ok(uint64_t offset, uint64_t size, uint64_t region_size, uint64_t dir_offset)
{
	return offset % PAGE == 0 && size % PAGE == 0 && size >= CHAN_HDR_SIZE + CHAN_RING_MIN &&
	       size <= region_size && offset <= region_size - size &&
	       (offset >= dir_offset + CHAN_DIR_SIZE || offset + size <= dir_offset);
}

/* A directory entry, read once and checked; false if it is unusable. */
static bool entry_read(struct chan_dir_entry *e, const struct chan_dir_entry *shared,
		       uint64_t region_size, uint64_t dir_offset)
{
	uint32_t state = LOAD_ACQ(&shared->state);

	if (state < IVSHMEM_CHAN_CREATED || state > IVSHMEM_CHAN_ATTACHED)
		return false;
	load_bytes(e->name, shared->name, sizeof(e->name));
	e->name[CHAN_NAME_LEN - 1] = 0;
	e->offset = LOAD(&shared->offset);
	e->size = LOAD(&shared->size);
	e->producer = LOAD(&shared->producer);
	e->consumer = LOAD(&shared->consumer);
	e->state = state;
	return area_ok(e->offset, e->size, region_size, dir_offset);
}

/* 1 if the directory is formatted, 0 if it is all zero (no magic yet). */
static int dir_check(const struct chan_dir *dir)
{
	uint32_t magic = LOAD_ACQ(&dir->magic);

	if (magic == 0)
		return 0;
	if (magic != CHAN_DIR_MAGIC || LOAD(&dir->version) != CHAN_LAYOUT_VERSION ||
	    LOAD(&dir->entries) != CHAN_DIR_ENTRIES)
		return -EPROTO;
	return 1;
}

static int dir_format(struct chan_dir *dir)
{
	uint32_t zero = 0;
	int ret = dir_check(dir);

	if (ret)
		return ret < 0 ? ret : 0;
	/* Racing formatters write the same values; the magic goes last. */
	STORE(&dir->version, CHAN_LAYOUT_VERSION);
	STORE(&dir->entries, CHAN_DIR_ENTRIES);
	__atomic_compare_exchange_n(&dir->magic, &zero, CHAN_DIR_MAGIC, false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	ret = dir_check(dir);
	return ret < 0 ? ret : 0;
}

/* The slot of channel @name, or -ENOENT; @e gets its checked entry. */
static int dir_find(const struct chan_dir *dir, const char *name, uint64_t region_size,
		    uint64_t dir_offset, struct chan_dir_entry *e)
{
	for (unsigned int i = 0; i < CHAN_DIR_ENTRIES; i++) {
		if (!entry_read(e, &dir->entry[i], region_size, dir_offset))
			continue;
		if (!strcmp(e->name, name))
			return (int)i;
	}
	return -ENOENT;
}

static int dir_map(struct ivshmem *dev, uint64_t dir_offset, uint64_t *region_size,
		   struct chan_dir **dir)
{
	struct ivshmem_dev_info *info;
	void *addr;
	int ret;

	ret = ivshmem_get_info(dev, &info);
	if (ret)
		return ret;
	*region_size = ivshmem_dev_info_get_size(info);
	ivshmem_dev_info_free(info);
	if (*region_size < CHAN_DIR_SIZE || dir_offset > *region_size - CHAN_DIR_SIZE)
		return -EINVAL;
	ret = ivshmem_map(dev, dir_offset, CHAN_DIR_SIZE, PROT_READ | PROT_WRITE, &addr);
	if (ret)
		return ret;
	*dir = addr;
	return 0;
}

/*
 * Hand out @size bytes after the areas so far: a lock-free bump allocator.
 * Each failed exchange is another creator's success, and there are at
 * most as many as entries; a peer that keeps rewriting alloc_end must not
 * keep us here, so the retries are bounded: -EAGAIN.
 */
static int dir_alloc(struct chan_dir *dir, uint64_t region_size, uint64_t dir_offset,
		     uint64_t size, uint64_t *offset)
{
	uint64_t old = LOAD(&dir->alloc_end), start, end;

	for (unsigned int tries = 0;; tries++) {
		if (tries == 64 * CHAN_DIR_ENTRIES)
			return -EAGAIN;
		start = old ? old : dir_offset + CHAN_DIR_SIZE;
		if (start % PAGE || start < dir_offset + CHAN_DIR_SIZE || start > region_size ||
		    size > region_size - start)
			return -ENOSPC;
		end = start + size;
		if (__atomic_compare_exchange_n(&dir->alloc_end, &old, end, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			break;
	}
	*offset = start;
	return 0;
}

static bool entry_claim(struct chan_dir_entry *e, const char *name)
{
	uint32_t free_state = IVSHMEM_CHAN_FREE;

	if (!__atomic_compare_exchange_n(&e->state, &free_state, IVSHMEM_CHAN_CLAIMED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return false;
	memset(e->name, 0, sizeof(e->name));
	strncpy(e->name, name, sizeof(e->name) - 1);
	STORE(&e->producer, CHAN_NO_PEER);
	STORE(&e->consumer, CHAN_NO_PEER);
	return true;
}

/*
 * A free slot for a new area: one never used first, so that the areas of
 * deleted channels (which their slots keep, dir_reuse()) are given up
 * only when nothing else is left.
 */
static int dir_claim(struct chan_dir *dir, const char *name, uint64_t offset, uint64_t size)
{
	for (unsigned int pass = 0; pass < 2; pass++) {
		for (unsigned int i = 0; i < CHAN_DIR_ENTRIES; i++) {
			struct chan_dir_entry *e = &dir->entry[i];

			if ((!pass && LOAD(&e->size)) || !entry_claim(e, name))
				continue;
			STORE(&e->offset, offset);
			STORE(&e->size, size);
			return (int)i;
		}
	}
	return -ENOSPC;
}

/*
 * Move a slot from a state in [@lo, @hi] to @to by exchange, retrying
 * while it only moves within that range (an attach marks a created
 * channel attached, which changes nothing else); false once it left it.
 */
static bool slot_move(struct chan_dir_entry *e, uint32_t lo, uint32_t hi, uint32_t to)
{
	uint32_t cur = LOAD_ACQ(&e->state);

	for (unsigned int tries = 0; tries < 64; tries++) {
		if (cur < lo || cur > hi)
			return false;
		if (__atomic_compare_exchange_n(&e->state, &cur, to, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
	}
	return false;
}

/*
 * The area of a deleted channel of at least @size bytes, with its slot:
 * the slot number, -ENOENT if there is none.
 */
static int dir_reuse(struct chan_dir *dir, const char *name, uint64_t size,
		     uint64_t region_size, uint64_t dir_offset, struct chan_dir_entry *out)
{
	for (unsigned int i = 0; i < CHAN_DIR_ENTRIES; i++) {
		struct chan_dir_entry *e = &dir->entry[i];
		uint64_t offset = LOAD(&e->offset), area = LOAD(&e->size);

		if (LOAD_ACQ(&e->state) != IVSHMEM_CHAN_FREE || area < size ||
		    !area_ok(offset, area, region_size, dir_offset) || !entry_claim(e, name))
			continue;
		/* Claimed: nobody else writes it now.  As it was when freed? */
		if (LOAD(&e->offset) != offset || LOAD(&e->size) != area) {
			STORE(&e->size, 0);
			STORE_REL(&e->state, IVSHMEM_CHAN_FREE);
			continue;
		}
		out->offset = offset;
		out->size = area;
		return (int)i;
	}
	return -ENOENT;
}

/* ---- a channel's header ---- */

static int own_peer_id(struct ivshmem *dev)
{
	struct ivshmem_dev_info *info;
	int id;

	if (!dev || ivshmem_get_info(dev, &info))
		return -1;
	id = ivshmem_dev_info_get_peer_id(info);
	ivshmem_dev_info_free(info);
	return id;
}

static struct chan_side *own_side(const struct ivshmem_chan *ch)
{
	return ch->sender ? &ch->hdr->producer : &ch->hdr->consumer;
}

static struct chan_side *other_side(const struct ivshmem_chan *ch)
{
	return ch->sender ? &ch->hdr->consumer : &ch->hdr->producer;
}

/*
 * Whom to ring: the other side's peer ID and vector, read from its half of
 * the header at the first doorbell (which it asked for by setting its
 * flag, after it took its place) and kept until a reset.  A peer that
 * rewrites them after that cannot point our doorbells at a third machine;
 * what it names before its first doorbell is what a side that attaches
 * says of itself, and is followed, so that a consumer restarted with a
 * new peer ID is rung.
 */
static void learn_peer(struct ivshmem_chan *ch)
{
	const struct chan_side *other = other_side(ch);
	uint32_t peer = LOAD(&other->peer);
	uint32_t vector = LOAD(&other->vector);

	if (peer > 65535 || vector > 255)
		return;		/* not there yet, or nonsense: nobody to ring */
	ch->peer = peer;
	ch->peer_vector = vector;
}

static void forget_peer(struct ivshmem_chan *ch)
{
	ch->peer = CHAN_NO_PEER;
	ch->peer_vector = CHAN_NO_VECTOR;
}

/*
 * Take the ring's geometry from the header, checked against the area, as
 * one snapshot: hdr_format() sets the magic to 0, then bumps the
 * generation, then writes the rest with release stores and sets the magic
 * back last.  As with a seqlock, the generation is read first, then the
 * magic, the fields, and both again: a read that saw the magic at 0, or
 * either change, is retried, @tries times at most (a peer could rewrite
 * the header for ever).  Acquire loads keep the reads in order without
 * fences, which ThreadSanitizer does not model.
 */
#define LAYOUT_TRIES	1000	/* about 100 ms */

static int hdr_adopt_tries(struct ivshmem_chan *ch, unsigned int tries_max)
{
	const struct chan_hdr *h = ch->hdr;
	uint32_t magic, gen, ring, incompat, max_message, pool;
	uint16_t version, flags;

	for (unsigned int tries = 0;; tries++) {
		if (tries == tries_max)
			return -EPROTO;
		if (tries)
			usleep(tries < 10 ? 0 : 100);
		gen = LOAD_ACQ(&h->generation);
		magic = LOAD_ACQ(&h->magic);
		version = LOAD_ACQ(&h->version);
		flags = LOAD_ACQ(&h->flags);
		ring = LOAD_ACQ(&h->ring_size);
		incompat = LOAD_ACQ(&h->features_incompat);
		max_message = LOAD_ACQ(&h->max_message);
		pool = LOAD_ACQ(&h->pool_size);
		if (magic == CHAN_MAGIC_DELETED)
			return -EIDRM;
		if (magic != CHAN_MAGIC && magic != 0)
			return -EPROTO;
		if (magic == CHAN_MAGIC && LOAD_ACQ(&h->magic) == CHAN_MAGIC &&
		    LOAD_ACQ(&h->generation) == gen)
			break;
	}
	if (version != CHAN_LAYOUT_VERSION || ring < CHAN_RING_MIN || ring > CHAN_RING_MAX ||
	    (ring & (ring - 1)) || ring > ch->area_len - CHAN_HDR_SIZE)
		return -EPROTO;
	if (incompat & ~CHAN_FEAT_INCOMPAT_KNOWN)
		return -EPROTONOSUPPORT;
	if ((incompat & CHAN_FEAT_LARGE) &&
	    (max_message <= ring / 2 - REC_HDR || max_message > CHAN_LARGE_MAX))
		return -EPROTO;
	if (!(incompat & CHAN_FEAT_POOL))
		pool = 0;
	else if (!pool || pool % 8 || pool > CHAN_LARGE_MAX ||
		 pool > ch->area_len - CHAN_HDR_SIZE - ring)
		return -EPROTO;
	ch->pool_size = pool;
	ch->pool = pool ? ch->ring + ring : NULL;
	ch->ring_size = ring;
	ch->max_msg = ring / 2 - REC_HDR;
	ch->max_large = incompat & CHAN_FEAT_LARGE ? max_message : ch->max_msg;
	/* A quarter of the ring: the consumer empties one while the next fills. */
	ch->frag_max = ring / 4 - REC_HDR;
	ch->gen = gen;
	ch->layout_flags = flags;
	return 0;
}

static int hdr_adopt(struct ivshmem_chan *ch)
{
	return hdr_adopt_tries(ch, LAYOUT_TRIES);
}

/*
 * Stamp index word @word with generation @gen, its position kept, unless
 * it has that generation or a newer one; the position in @pos.
 * -ECONNRESET if newer (a restart of the other side came in between),
 * -EPROTO if a peer keeps rewriting it.
 */
static int idx_stamp(uint64_t *word, uint16_t gen, uint64_t *pos)
{
	uint64_t w = LOAD_ACQ(word);

	for (unsigned int tries = 0; tries < 64; tries++) {
		if (gen_newer(CHAN_IDX_GEN(w), gen))
			return -ECONNRESET;
		*pos = CHAN_IDX_POS(w);
		if (CHAN_IDX_GEN(w) == gen ||
		    __atomic_compare_exchange_n(word, &w, CHAN_IDX(gen, *pos), false,
						__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
			return 0;
	}
	return -EPROTO;
}

/* Set index word @word to @pos in generation @gen, unless a newer one is there. */
static int idx_put(uint64_t *word, uint16_t gen, uint64_t pos)
{
	uint64_t w = LOAD(word);

	for (unsigned int tries = 0; tries < 64; tries++) {
		if (gen_newer(CHAN_IDX_GEN(w), gen))
			return -ECONNRESET;
		if (__atomic_compare_exchange_n(word, &w, CHAN_IDX(gen, pos), false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return 0;
	}
	return -EPROTO;
}

/* How a side takes its place (take_place()). */
enum place_how {
	PLACE_KEEP,		/* own index as published: first attach, reset, create */
	PLACE_RETURN,		/* a generation of its own, after a clean close */
	PLACE_DROP,		/* a generation of its own, what is in flight dropped */
};

/*
 * Index words into this side's generation; this side's position in @pos.
 *
 * A side that made the generation itself (PLACE_RETURN, PLACE_DROP)
 * stamps the other side's word first, its position kept: from then on an
 * update the other side began in an older generation fails its
 * compare-exchange, and this side can read what the other had published.
 * With PLACE_DROP own index := the other side's, so that what was in
 * flight is dropped; otherwise own index as published, so that nothing is
 * lost.  A side that adopted someone else's generation (PLACE_KEEP)
 * leaves the other word alone: that side may be restarting in this very
 * generation, and stamping its word would let this side read what that
 * restart is about to drop.  If the other side restarts meanwhile, its
 * newer generation wins and this side follows it.
 */
static int take_indices(struct ivshmem_chan *ch, enum place_how how, uint64_t *pos)
{
	for (unsigned int tries = 0;; tries++) {
		uint16_t gen = (uint16_t)ch->gen;
		uint64_t other_pos = 0;
		int ret = 0;

		if (how != PLACE_KEEP)
			ret = idx_stamp(&other_side(ch)->index, gen, &other_pos);
		if (!ret && how == PLACE_DROP) {
			*pos = other_pos;
			ret = idx_put(&own_side(ch)->index, gen, other_pos);
		} else if (!ret) {
			ret = idx_stamp(&own_side(ch)->index, gen, pos);
		}
		if (ret != -ECONNRESET)
			return ret;
		if (tries == 8)
			return -EPROTO;
		ret = hdr_adopt(ch);
		if (ret)
			return ret;
		how = PLACE_KEEP;
	}
}

/*
 * Take this side's place in the header: the session cookie that marks
 * the side as this handle's (a handle whose cookie is gone was displaced
 * by a later create or attach: -ESTALE), peer ID and vector, then the
 * indices (take_indices()).  -EPROTO for an unaligned index.
 */
static int take_place(struct ivshmem_chan *ch, enum place_how how)
{
	struct chan_side *me = own_side(ch);
	int id = own_peer_id(ch->dev);
	uint32_t peer = id >= 0 ? (uint32_t)id : CHAN_NO_PEER;
	uint64_t pos = 0;
	int ret;

	STORE(&me->session, ch->session);
	STORE(&me->peer, peer);
	STORE(&me->vector, (uint16_t)ch->vector);
	STORE_SC(&me->state, CHAN_SIDE_OPEN);
	ch->placed = true;
	ret = take_indices(ch, how, &pos);
	if (ret) {
		ch->failed = true;	/* until a reset: no stale position is used */
		return ret;
	}
	/* Again: a layout that came in between wrote this half. */
	STORE(&me->session, ch->session);
	STORE(&me->peer, peer);
	STORE(&me->vector, (uint16_t)ch->vector);
	STORE_SC(&me->state, CHAN_SIDE_OPEN);
	if (ch->dir) {
		struct chan_dir_entry *e = &ch->dir->entry[ch->slot];

		STORE(ch->sender ? &e->producer : &e->consumer, peer);
	}
	ch->pos = ch->published = pos;
	ch->reserved = -1;
	ch->peeked = 0;
	ch->large_len = ch->large_got = 0;
	ch->large_peeked = false;
	ch->pool_head = ch->pool_tail = 0;
	ch->pool_barrier = pos;
	ch->pool_q_first = ch->pool_q_len = 0;
	ch->pool_reserved = false;
	forget_peer(ch);
	/* Records are 8-byte aligned: any other index is the peer's doing. */
	ch->failed = pos % 8 != 0;
	return ch->failed ? -EPROTO : 0;
}

/* A side's half, emptied; its owner, peer ID and vector too unless @keep_owner. */
static void side_clear(struct chan_side *side, uint32_t gen, bool keep_owner)
{
	if (!keep_owner) {
		STORE(&side->session, 0);
		STORE(&side->peer, CHAN_NO_PEER);
		STORE(&side->vector, CHAN_NO_VECTOR);
		STORE(&side->state, CHAN_SIDE_NONE);
	}
	STORE_REL(&side->index, CHAN_IDX(gen, 0));
	STORE(&side->waiting, 0);
	STORE(&side->heartbeat, 0);
	STORE(&side->msgs, 0);
	STORE(&side->doorbells, 0);
	STORE(&side->quiet, 0);
	STORE(&side->wakeups, 0);
}

/*
 * Lay out an empty ring with a new generation, bumped by an atomic add so
 * that it is this layout's alone (an attacher bumps by exchange, a
 * deletion by add): after the old one for a channel's header, a deleted
 * one, or one whose layout was cut short (the magic at 0), so that no
 * handle mistakes the layout for one it knew; 1 for anything else.
 * Unless the area is @fresh (new, or a deleted channel's), the other
 * side's half keeps its owner and state when the header was this
 * channel's, so that a side still there resets and goes on; while it is
 * open, its peer ID, vector and doorbell request stay too (it is what it
 * said it is, and may be asleep); otherwise its peer ID becomes @peer_id
 * unless that is -1, and its vector is known only if it is the same peer.
 */
static void hdr_format(struct chan_hdr *h, uint32_t ring_size, uint32_t max_msg, uint32_t pool,
		       uint16_t flags, int peer_id, bool peer_is_consumer, bool fresh)
{
	bool large = max_msg > ring_size / 2 - REC_HDR;
	struct chan_side *own = peer_is_consumer ? &h->producer : &h->consumer;
	struct chan_side *other = peer_is_consumer ? &h->consumer : &h->producer;
	uint32_t magic = LOAD(&h->magic), gen, old_peer = CHAN_NO_PEER;
	uint16_t old_vector = CHAN_NO_VECTOR;
	bool kept = !fresh && magic == CHAN_MAGIC, open = false;
	uint8_t waiting = 0;

	if (kept) {
		old_peer = LOAD(&other->peer);
		old_vector = LOAD(&other->vector);
		open = LOAD(&other->state) == CHAN_SIDE_OPEN;
		waiting = LOAD(&other->waiting);
	}
	/* Attachers wait while the magic is 0 (hdr_adopt_tries()). */
	STORE_REL(&h->magic, 0);
	if (kept || magic == CHAN_MAGIC_DELETED || magic == 0) {
		gen = __atomic_add_fetch(&h->generation, 1, __ATOMIC_SEQ_CST);
	} else {
		gen = 1;
		STORE_REL(&h->generation, gen);
	}
	STORE_REL(&h->version, CHAN_LAYOUT_VERSION);
	STORE_REL(&h->flags, flags);
	STORE_REL(&h->ring_size, ring_size);
	STORE_REL(&h->features_incompat, (large ? CHAN_FEAT_LARGE : 0) | (pool ? CHAN_FEAT_POOL : 0));
	STORE_REL(&h->features_compat, 0);
	STORE_REL(&h->max_message, large ? max_msg : 0);
	STORE_REL(&h->pool_size, pool);
	memset(h->reserved0, 0, sizeof(h->reserved0));
	memset(h->reserved, 0, sizeof(h->reserved));
	STORE(&h->producer_wake_at, 0);
	STORE(&h->consumer_wake_at, 0);
	side_clear(own, gen, false);
	side_clear(other, gen, kept);
	if (open) {
		STORE(&other->waiting, waiting);
	} else {
		STORE(&other->peer, peer_id >= 0 ? (uint32_t)peer_id : old_peer);
		STORE(&other->vector, peer_id < 0 || (uint32_t)peer_id == old_peer ?
				      old_vector : CHAN_NO_VECTOR);
	}
	STORE_REL(&h->magic, CHAN_MAGIC);
}

/* Ring the other side (learn_peer), if it is known yet. */
static int ring_other(struct ivshmem_chan *ch)
{
	struct ivshmem_dev_info *info;
	int ret;

	if (!ch->dev)
		return 0;
	if (ch->peer_vector == CHAN_NO_VECTOR)
		learn_peer(ch);
	if (ch->peer_vector == CHAN_NO_VECTOR)
		return 0;
	ret = ivshmem_ring(ch->dev, ch->peer, ch->peer_vector);
	/* Without doorbells (ivshmem-plain) the other side naps and looks. */
	if (ret == -EOPNOTSUPP)
		return 0;
	if (ret != -ENXIO)
		return ret;
	/* A host peer rings the peers it knows of: take in recent joins. */
	ret = ivshmem_get_info(ch->dev, &info);
	if (ret)
		return ret;
	ivshmem_dev_info_free(info);
	ret = ivshmem_ring(ch->dev, ch->peer, ch->peer_vector);
	/* A peer that left: its restart will show as a new generation. */
	return ret == -ENXIO ? 0 : ret;
}

static struct ivshmem_chan *chan_new(struct ivshmem *dev, const char *name,
				     const struct ivshmem_chan_opts *opts)
{
	struct ivshmem_chan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	ch->dev = dev;
	ch->session = dev ? new_session(ch) : 0;	/* over memory: the layout's 0 */
	ch->fd = -1;
	ch->reserved = -1;
	ch->vector = opts->vector;
	ch->spin_us = ch->spin_budget = opts->spin_us;
	forget_peer(ch);
	if (dev)
		__atomic_add_fetch(&dev->chans_on_vector[ch->vector], 1, __ATOMIC_RELAXED);
	ch->own_mappings = true;
	if (name)
		strncpy(ch->name, name, sizeof(ch->name) - 1);
	return ch;
}

static int chan_map_area(struct ivshmem_chan *ch, const struct chan_dir_entry *e)
{
	void *addr;
	int ret;

	if (e->size > SIZE_MAX)
		return -EPROTO;
	ret = ivshmem_map(ch->dev, e->offset, (size_t)e->size, PROT_READ | PROT_WRITE, &addr);
	if (ret)
		return ret;
	ch->area = addr;
	ch->area_len = (size_t)e->size;
	ch->area_offset = e->offset;
	ch->hdr = addr;
	ch->ring = (uint8_t *)addr + CHAN_HDR_SIZE;
	return 0;
}

static void chan_unmap_area(struct ivshmem_chan *ch)
{
	if (ch->area)
		ivshmem_unmap(ch->area, ch->area_len);
	ch->area = NULL;
	ch->hdr = NULL;
	ch->ring = NULL;
}

static bool holds_side(const struct ivshmem_chan *ch)
{
	return ch->placed && LOAD(&own_side(ch)->session) == ch->session;
}

/* Take back the other side's flag: true if it asked for a doorbell. */
static bool other_waits(struct ivshmem_chan *ch)
{
	uint8_t *flag = &other_side(ch)->waiting;

	return LOAD_SC(flag) && __atomic_exchange_n(flag, 0, __ATOMIC_ACQ_REL);
}

static uint64_t *wake_at(const struct ivshmem_chan *ch, bool own)
{
	return ch->sender == own ? &ch->hdr->producer_wake_at : &ch->hdr->consumer_wake_at;
}

/*
 * After publishing own index: the other side's flag taken back, true, if
 * it asked for a doorbell and the index reached the threshold it set
 * (with serial arithmetic over the index's 48 bits).  Below it, the flag
 * stays for a later publication: a producer waiting for room for a large
 * message is rung once, when it fits, not at every release.
 */
static bool other_waits_for(struct ivshmem_chan *ch)
{
	uint64_t at;

	/* The flag first: the threshold was stored before it. */
	if (!LOAD_SC(&other_side(ch)->waiting))
		return false;
	at = CHAN_IDX_POS(LOAD_ACQ(wake_at(ch, false)));
	if (idx_sub(ch->published, at) > CHAN_IDX_MASK / 2)
		return false;
	return other_waits(ch);
}

/*
 * Hang up: what was committed is published, then the side is marked
 * closed and the other side woken to see it (-EPIPE there).  The same
 * exchange as a publication's: a side that armed before the state changed
 * is rung, one that arms after sees it.
 */
static void hang_up(struct ivshmem_chan *ch)
{
	if (ch->sender)
		ivshmem_chan_flush(ch);	/* an open reservation is not in it */
	STORE_SC(&own_side(ch)->state, CHAN_SIDE_CLOSED);
	if (other_waits(ch))
		ring_other(ch);
}

IVSHMEM_EXPORT void ivshmem_chan_close(struct ivshmem_chan *ch)
{
	if (!ch)
		return;
	if (ch->dev && ch->hdr && holds_side(ch))
		hang_up(ch);
	if (ch->dev)
		__atomic_sub_fetch(&ch->dev->chans_on_vector[ch->vector], 1, __ATOMIC_RELAXED);
	if (ch->own_mappings) {
		chan_unmap_area(ch);
		if (ch->dir)
			ivshmem_unmap(ch->dir, CHAN_DIR_SIZE);
	}
	free(ch->large);
	free(ch->pool_q);
	free(ch);
}

/*
 * Mark a channel's header deleted: a new generation, so that its sides
 * stop at their next call (-ECONNRESET, then -EIDRM from the reset), and
 * a doorbell for each side that sleeps.
 */
static void hdr_kill(struct ivshmem *dev, struct chan_hdr *h)
{
	struct chan_side *sides[] = { &h->producer, &h->consumer };

	STORE_REL(&h->magic, CHAN_MAGIC_DELETED);
	__atomic_add_fetch(&h->generation, 1, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < 2; i++) {
		uint32_t peer = LOAD(&sides[i]->peer), vector = LOAD(&sides[i]->vector);

		if (LOAD_SC(&sides[i]->waiting) &&
		    __atomic_exchange_n(&sides[i]->waiting, 0, __ATOMIC_ACQ_REL) &&
		    peer <= 65535 && vector <= 255)
			ivshmem_ring(dev, peer, vector);
	}
}

IVSHMEM_EXPORT int ivshmem_chan_create(struct ivshmem *dev, const char *name,
				       enum ivshmem_chan_role role, int peer_id,
				       const struct ivshmem_chan_opts *opts,
				       struct ivshmem_chan **out)
{
	bool fresh = true;
	struct chan_dir_entry e;
	struct ivshmem_chan *ch;
	uint64_t region, size, offset;
	int slot, ret;

	if (!opts)
		opts = &default_opts;
	if (!name_ok(name, CHAN_NAME_LEN - 1) || (role != IVSHMEM_CHAN_SEND &&
						   role != IVSHMEM_CHAN_RECV) ||
	    peer_id < -1 || peer_id > 65535)
		return -EINVAL;
	ch = chan_new(dev, name, opts);
	if (!ch)
		return -ENOMEM;
	ch->sender = role == IVSHMEM_CHAN_SEND;
	ch->creator = true;
	size = ((uint64_t)CHAN_HDR_SIZE + opts->ring_size + opts->pool_size + PAGE - 1) / PAGE *
	       PAGE;
	ret = dir_map(dev, opts->dir_offset, &region, &ch->dir);
	if (ret)
		goto fail;
	ret = dir_format(ch->dir);
	if (ret)
		goto fail;
	slot = dir_find(ch->dir, name, region, opts->dir_offset, &e);
	if (slot >= 0) {
		/* A restart: the same place, the same ring size. */
		if (e.size < size) {
			ret = -EEXIST;
			goto fail;
		}
		fresh = false;
	} else {
		slot = dir_reuse(ch->dir, name, size, region, opts->dir_offset, &e);
	}
	if (slot < 0) {
		ret = dir_alloc(ch->dir, region, opts->dir_offset, size, &offset);
		if (ret)
			goto fail;
		slot = dir_claim(ch->dir, name, offset, size);
		if (slot < 0) {
			ret = slot;
			goto fail;
		}
		e.offset = offset;
		e.size = size;
	}
	ch->slot = (unsigned int)slot;
	ret = chan_map_area(ch, &e);
	if (ret)
		goto fail;
	hdr_format(ch->hdr, opts->ring_size, opts->max_msg, opts->pool_size,
		   ch->sender ? 0 : CHAN_F_CREATOR_RECEIVES, peer_id, ch->sender, fresh);
	ret = hdr_adopt(ch);
	if (ret)
		goto fail;
	/* Both words are at 0 of the new generation; a side still there may
	 * have published in it already. */
	ret = take_place(ch, PLACE_KEEP);
	if (ret)
		goto fail;
	{
		struct chan_dir_entry *de = &ch->dir->entry[slot];

		STORE(ch->sender ? &de->consumer : &de->producer,
		      peer_id >= 0 ? (uint32_t)peer_id : CHAN_NO_PEER);
		/* Deleted meanwhile (the deleter kills the header). */
		if (!slot_move(de, fresh ? IVSHMEM_CHAN_CLAIMED : IVSHMEM_CHAN_CREATED,
			       fresh ? IVSHMEM_CHAN_CLAIMED : IVSHMEM_CHAN_ATTACHED,
			       IVSHMEM_CHAN_CREATED)) {
			ret = -EAGAIN;
			goto fail;
		}
	}
	/*
	 * A side still there from before sleeps: wake it, as the header kept
	 * it, to see the restart; whoever attaches next is learnt anew.
	 */
	ring_other(ch);
	forget_peer(ch);
	*out = ch;
	return 0;
fail:
	ivshmem_chan_close(ch);
	return ret;
}

/*
 * Claim this side for an attach: a side nobody held since the layout by
 * an exchange of its state (two first attaches at once: one wins, the
 * other displaces it as a restart would); a side held before by a new
 * generation, bumped by an exchange from the one adopted, so that a
 * layout or a deletion in between (which bump it too) is noticed and the
 * header read again.  The side's state as found in @state.
 */
static int claim_side(struct ivshmem_chan *ch, uint8_t *state)
{
	uint8_t *shared = &own_side(ch)->state;

	for (unsigned int tries = 0; tries < 64; tries++) {
		uint32_t gen = ch->gen;
		int ret;

		*state = LOAD_ACQ(shared);
		if (*state == CHAN_SIDE_NONE) {
			uint8_t none = CHAN_SIDE_NONE;

			if (__atomic_compare_exchange_n(shared, &none, CHAN_SIDE_OPEN, false,
							__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
				return 0;
			continue;
		}
		if (__atomic_compare_exchange_n(&ch->hdr->generation, &gen, gen + 1, false,
						__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
			ch->gen = gen + 1;
			return 0;
		}
		ret = hdr_adopt(ch);
		if (ret)
			return ret;
	}
	return -EPROTO;
}

/* Directory entry @slot still names the channel @e was read as. */
static bool entry_unchanged(const struct ivshmem_chan *ch, unsigned int slot,
			    const struct chan_dir_entry *e, uint64_t region, uint64_t dir_offset)
{
	struct chan_dir_entry now;

	return entry_read(&now, &ch->dir->entry[slot], region, dir_offset) &&
	       !strcmp(now.name, e->name) && now.offset == e->offset && now.size == e->size;
}

/*
 * Attach as @role (this side's), or as whatever side the channel leaves
 * free if @role is 0.
 */
static int chan_attach(struct ivshmem *dev, const char *name, int role,
		       const struct ivshmem_chan_opts *opts, struct ivshmem_chan **out)
{
	int64_t deadline;
	struct chan_dir_entry e;
	struct ivshmem_chan *ch;
	uint32_t state;
	uint64_t region;
	uint8_t side_state;
	int slot, ret;

	if (!opts)
		opts = &default_opts;
	if (!name_ok(name, CHAN_NAME_LEN - 1))
		return -EINVAL;
	ch = chan_new(dev, name, opts);
	if (!ch)
		return -ENOMEM;
	deadline = now_ms() + opts->timeout_ms;
	ret = dir_map(dev, opts->dir_offset, &region, &ch->dir);
	if (ret)
		goto fail;
	for (unsigned int delay_us = 100;; delay_us = delay_us < 10000 ? delay_us * 2 : 10000) {
		ret = dir_check(ch->dir);
		if (ret < 0)
			goto fail;
		slot = ret ? dir_find(ch->dir, name, region, opts->dir_offset, &e) : -ENOENT;
		if (slot >= 0) {
			ret = chan_map_area(ch, &e);
			if (ret)
				goto fail;
			/*
			 * Being laid out: wait for it.  Deleted, or the slot
			 * reused for another channel since it was read: look
			 * again.
			 */
			ch->slot = (unsigned int)slot;
			if (LOAD_ACQ(&ch->hdr->magic) != 0) {
				ret = hdr_adopt(ch);
				if (ret && ret != -EIDRM)
					goto fail;
				if (!ret && entry_unchanged(ch, ch->slot, &e, region,
							    opts->dir_offset))
					break;
			}
			chan_unmap_area(ch);
		}
		if (opts->timeout_ms >= 0 && now_ms() >= deadline) {
			ret = slot >= 0 ? -ETIMEDOUT : (opts->timeout_ms ? -ETIMEDOUT : -ENOENT);
			goto fail;
		}
		usleep(delay_us);
	}
	ch->sender = !!(ch->layout_flags & CHAN_F_CREATOR_RECEIVES);
	if (role && (role == IVSHMEM_CHAN_SEND) != ch->sender) {
		ret = -EPROTOTYPE;
		goto fail;
	}
	state = IVSHMEM_CHAN_CREATED;
	__atomic_compare_exchange_n(&ch->dir->entry[slot].state, &state, IVSHMEM_CHAN_ATTACHED,
				    false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	/*
	 * Held since the layout: a new generation, so that the other side
	 * learns whom to ring anew.  Still open (its holder died, or is
	 * displaced now), what is in flight is dropped; closed, the holder
	 * published all it sent and gave back all it took: nothing is lost.
	 */
	ret = claim_side(ch, &side_state);
	if (ret)
		goto fail;
	ret = take_place(ch, side_state == CHAN_SIDE_NONE ? PLACE_KEEP :
			     side_state == CHAN_SIDE_CLOSED ? PLACE_RETURN : PLACE_DROP);
	if (ret)
		goto fail;
	/* Deleted, or its area given to another channel, meanwhile. */
	if (!entry_unchanged(ch, ch->slot, &e, region, opts->dir_offset) ||
	    LOAD_ACQ(&ch->hdr->magic) != CHAN_MAGIC ||
	    !!(LOAD(&ch->hdr->flags) & CHAN_F_CREATOR_RECEIVES) != ch->sender) {
		ret = -EIDRM;
		goto fail;
	}
	ring_other(ch);
	*out = ch;
	return 0;
fail:
	ivshmem_chan_close(ch);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_chan_attach(struct ivshmem *dev, const char *name,
				       const struct ivshmem_chan_opts *opts,
				       struct ivshmem_chan **out)
{
	return chan_attach(dev, name, 0, opts, out);
}

IVSHMEM_EXPORT int ivshmem_chan_attach_as(struct ivshmem *dev, const char *name,
					  enum ivshmem_chan_role role,
					  const struct ivshmem_chan_opts *opts,
					  struct ivshmem_chan **out)
{
	if (role != IVSHMEM_CHAN_SEND && role != IVSHMEM_CHAN_RECV)
		return -EINVAL;
	return chan_attach(dev, name, (int)role, opts, out);
}

static int pair_name(char *buf, const char *name, char suffix)
{
	if (!name_ok(name, CHAN_NAME_LEN - 3))
		return -EINVAL;
	snprintf(buf, CHAN_NAME_LEN, "%s.%c", name, suffix);
	return 0;
}

/*
 * Without a vector set in the options, a pair's receiving channel waits on
 * vector 1 when the device has it, the sending one on 0: a thread per
 * direction then sleeps on an fd of its own, and neither can drain the
 * doorbell meant for the other.  A vector set explicitly serves both, as
 * before 0.3, so that pairs placed on vectors of their own stay apart.
 */
static void pair_rx_opts(struct ivshmem *dev, const struct ivshmem_chan_opts *opts,
			 struct ivshmem_chan_opts *rx_opts)
{
	struct ivshmem_dev_info *info;

	*rx_opts = opts ? *opts : default_opts;
	if (rx_opts->vector_set || ivshmem_get_info(dev, &info))
		return;
	if (ivshmem_dev_info_get_vectors(info) >= 2)
		rx_opts->vector = 1;
	ivshmem_dev_info_free(info);
}

IVSHMEM_EXPORT int ivshmem_chan_pair_create(struct ivshmem *dev, const char *name, int peer_id,
					    const struct ivshmem_chan_opts *opts,
					    struct ivshmem_chan **tx, struct ivshmem_chan **rx)
{
	char n0[CHAN_NAME_LEN], n1[CHAN_NAME_LEN];
	struct ivshmem_chan_opts rx_opts;
	int ret;

	if (pair_name(n0, name, '0') || pair_name(n1, name, '1'))
		return -EINVAL;
	pair_rx_opts(dev, opts, &rx_opts);
	ret = ivshmem_chan_create(dev, n0, IVSHMEM_CHAN_SEND, peer_id, opts, tx);
	if (ret)
		return ret;
	ret = ivshmem_chan_create(dev, n1, IVSHMEM_CHAN_RECV, peer_id, &rx_opts, rx);
	if (ret) {
		ivshmem_chan_close(*tx);
		*tx = NULL;
	}
	return ret;
}

IVSHMEM_EXPORT int ivshmem_chan_pair_attach(struct ivshmem *dev, const char *name,
					    const struct ivshmem_chan_opts *opts,
					    struct ivshmem_chan **tx, struct ivshmem_chan **rx)
{
	char n0[CHAN_NAME_LEN], n1[CHAN_NAME_LEN];
	struct ivshmem_chan_opts rx_opts;
	int ret;

	if (pair_name(n0, name, '0') || pair_name(n1, name, '1'))
		return -EINVAL;
	pair_rx_opts(dev, opts, &rx_opts);
	ret = chan_attach(dev, n1, IVSHMEM_CHAN_SEND, opts, tx);
	if (ret)
		return ret;
	ret = chan_attach(dev, n0, IVSHMEM_CHAN_RECV, &rx_opts, rx);
	if (ret) {
		ivshmem_chan_close(*tx);
		*tx = NULL;
	}
	return ret;
}

IVSHMEM_EXPORT bool ivshmem_chan_is_sender(const struct ivshmem_chan *ch)
{
	return ch->sender;
}

IVSHMEM_EXPORT size_t ivshmem_chan_max_msg(const struct ivshmem_chan *ch)
{
	return ch->max_large;
}

IVSHMEM_EXPORT size_t ivshmem_chan_max_reserve(const struct ivshmem_chan *ch)
{
	return ch->max_msg;
}

/*
 * Directory entry and header of this handle's channel: -EIDRM once the
 * channel was deleted (and its place perhaps given to another), -ESTALE
 * once another handle took this side.
 */
static int still_ours(struct ivshmem_chan *ch)
{
	if (ch->dir) {
		const struct chan_dir_entry *de = &ch->dir->entry[ch->slot];
		char name[CHAN_NAME_LEN];
		uint32_t state = LOAD_ACQ(&de->state);

		load_bytes(name, de->name, sizeof(name));
		name[CHAN_NAME_LEN - 1] = 0;
		if (state < IVSHMEM_CHAN_CREATED || state > IVSHMEM_CHAN_ATTACHED ||
		    strcmp(name, ch->name) != 0 || LOAD(&de->offset) != ch->area_offset)
			return -EIDRM;
	}
	if (LOAD_ACQ(&ch->hdr->magic) == CHAN_MAGIC_DELETED)
		return -EIDRM;
	return ch->placed && !holds_side(ch) ? -ESTALE : 0;
}

IVSHMEM_EXPORT int ivshmem_chan_reset(struct ivshmem_chan *ch)
{
	int ret = still_ours(ch);

	if (ret)
		return ret;
	ret = hdr_adopt(ch);
	if (ret) {
		ch->failed = true;
		return ret;
	}
	ret = take_place(ch, PLACE_KEEP);
	if (ret)
		return ret;
	if (ch->dir && !ch->creator) {
		uint32_t state = IVSHMEM_CHAN_CREATED;

		__atomic_compare_exchange_n(&ch->dir->entry[ch->slot].state, &state,
					    IVSHMEM_CHAN_ATTACHED, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
	}
	return 0;
}

/* ---- liveness and deletion ---- */

IVSHMEM_EXPORT int ivshmem_chan_heartbeat(struct ivshmem_chan *ch)
{
	if (!holds_side(ch))
		return ch->placed ? -ESTALE : -EPERM;
	STORE(&own_side(ch)->heartbeat, ++ch->heartbeat);
	return 0;
}

IVSHMEM_EXPORT uint64_t ivshmem_chan_peer_heartbeat(const struct ivshmem_chan *ch)
{
	return LOAD(&other_side(ch)->heartbeat);
}

IVSHMEM_EXPORT bool ivshmem_chan_peer_closed(const struct ivshmem_chan *ch)
{
	return LOAD_ACQ(&other_side(ch)->state) == CHAN_SIDE_CLOSED;
}

/* The slot of a channel left claimed (its creator died creating it). */
static int dir_find_claimed(const struct chan_dir *dir, const char *name)
{
	char n[CHAN_NAME_LEN];

	for (unsigned int i = 0; i < CHAN_DIR_ENTRIES; i++) {
		if (LOAD_ACQ(&dir->entry[i].state) != IVSHMEM_CHAN_CLAIMED)
			continue;
		load_bytes(n, dir->entry[i].name, sizeof(n));
		n[CHAN_NAME_LEN - 1] = 0;
		if (!strcmp(n, name))
			return (int)i;
	}
	return -ENOENT;
}

IVSHMEM_EXPORT int ivshmem_chan_delete(struct ivshmem *dev, const char *name,
				       uint64_t dir_offset, unsigned int flags)
{
	struct chan_dir_entry e;
	struct chan_dir *dir;
	struct chan_hdr *h;
	uint64_t region;
	uint32_t magic;
	void *addr;
	int slot, ret;

	if (!name_ok(name, CHAN_NAME_LEN - 1) || (flags & ~IVSHMEM_CHAN_FORCE) || dir_offset % PAGE)
		return -EINVAL;
	ret = dir_map(dev, dir_offset, &region, &dir);
	if (ret)
		return ret;
	ret = dir_check(dir);
	if (ret <= 0) {
		ret = ret ? ret : -ENOENT;
		goto out;
	}
	slot = dir_find(dir, name, region, dir_offset, &e);
	if (slot < 0 && (flags & IVSHMEM_CHAN_FORCE)) {
		/* Its area is not known for sure: let it go with the slot. */
		uint32_t claimed = IVSHMEM_CHAN_CLAIMED;

		slot = dir_find_claimed(dir, name);
		if (slot >= 0) {
			ret = __atomic_compare_exchange_n(&dir->entry[slot].state, &claimed,
							  IVSHMEM_CHAN_FREE, false, __ATOMIC_ACQ_REL,
							  __ATOMIC_RELAXED) ? 0 : -EBUSY;
			goto out;
		}
	}
	if (slot < 0) {
		ret = -ENOENT;
		goto out;
	}
	ret = ivshmem_map(dev, e.offset, PAGE, PROT_READ | PROT_WRITE, &addr);
	if (ret)
		goto out;
	h = addr;
	magic = LOAD_ACQ(&h->magic);
	/* Open sides, or a layout in progress (a creator restarting). */
	if (!(flags & IVSHMEM_CHAN_FORCE) &&
	    (magic == 0 || (magic == CHAN_MAGIC &&
			    (LOAD_SC(&h->producer.state) == CHAN_SIDE_OPEN ||
			     LOAD_SC(&h->consumer.state) == CHAN_SIDE_OPEN)))) {
		ret = -EBUSY;
	} else if (slot_move(&dir->entry[slot], IVSHMEM_CHAN_CREATED, IVSHMEM_CHAN_ATTACHED,
			     IVSHMEM_CHAN_CLAIMED)) {
		/* The slot held (claimed): nobody lays its area out meanwhile. */
		hdr_kill(dev, h);
		STORE_REL(&dir->entry[slot].state, IVSHMEM_CHAN_FREE);
	} else {
		ret = -ENOENT;	/* deleted by another meanwhile */
	}
	ivshmem_unmap(addr, PAGE);
out:
	ivshmem_unmap(dir, CHAN_DIR_SIZE);
	return ret;
}

/* ---- waiting ---- */

static int chan_check(struct ivshmem_chan *ch)
{
	if (LOAD(&own_side(ch)->session) != ch->session)
		return -ESTALE;
	if (ch->failed)
		return -EPROTO;
	/* seq_cst: after arm() sets the flag, against a deletion's bump. */
	if (LOAD_SC(&ch->hdr->generation) != ch->gen)
		return -ECONNRESET;
	return 0;
}

/*
 * The other side's index in @pos: 1, or 0 while its word is still of an
 * older generation (a restart stamping the words; a newer one shows in
 * the header first), or an error.
 */
static int other_index(struct ivshmem_chan *ch, uint64_t *pos)
{
	uint64_t w = LOAD_SC(&other_side(ch)->index);
	int ret;

	*pos = CHAN_IDX_POS(w);
	if (CHAN_IDX_GEN(w) == (uint16_t)ch->gen)
		return 1;
	ret = chan_check(ch);
	return ret ? ret : 0;
}

/* Room for @need bytes: 1, 0 if not yet, or an error. */
static int space_ready(struct ivshmem_chan *ch, uint64_t need)
{
	uint64_t tail, used;
	int ret = chan_check(ch);

	if (ret)
		return ret;
	if (LOAD_SC(&other_side(ch)->state) == CHAN_SIDE_CLOSED)
		return -EPIPE;
	ret = other_index(ch, &tail);
	if (ret <= 0)
		return ret;
	used = idx_sub(ch->pos, tail);
	if (used > ch->ring_size) {
		ch->failed = true;	/* a tail ahead of head, or too far behind */
		return -EPROTO;
	}
	return ch->ring_size - used >= need;
}

/* Published bytes to read: 1, 0 if none, or an error. */
static int data_ready(struct ivshmem_chan *ch)
{
	uint64_t head, avail;
	bool closed;
	int ret = chan_check(ch);

	if (ret)
		return ret;
	/* The state first: a producer publishes before it hangs up. */
	closed = LOAD_SC(&other_side(ch)->state) == CHAN_SIDE_CLOSED;
	ret = other_index(ch, &head);
	if (ret <= 0)
		return ret;
	avail = idx_sub(head, ch->pos);
	if (avail > ch->ring_size) {
		ch->failed = true;
		return -EPROTO;
	}
	if (!avail && closed)
		return -EPIPE;
	return avail != 0;
}

static int chan_ready(struct ivshmem_chan *ch, uint64_t need)
{
	return ch->sender ? space_ready(ch, need) : data_ready(ch);
}

IVSHMEM_EXPORT int ivshmem_chan_fd(struct ivshmem_chan *ch)
{
	int fd;

	if (ch->fd >= 0)
		return ch->fd;
	if (!ch->dev)
		return -EOPNOTSUPP;
	fd = ivshmem_vector_fd(ch->dev, ch->vector);
	if (fd >= 0)
		ch->fd = fd;
	return fd;
}

static uint8_t *sleep_flag(struct ivshmem_chan *ch)
{
	return &own_side(ch)->waiting;
}

/* Empty the vector's eventfd: true if a doorbell was there. */
static bool drain(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count;

	/* Non-blocking eventfds (ours and the server's); poll first anyway. */
	return poll(&pfd, 1, 0) == 1 && read(fd, &count, sizeof(count)) == sizeof(count) &&
	       count;
}

static int arm(struct ivshmem_chan *ch, uint64_t need)
{
	/* The other index from which there is something to do: room for
	 * @need bytes, or one record. */
	uint64_t at = ch->sender ? ch->pos + need - ch->ring_size : ch->pos + REC_HDR;
	int ret;

	STORE(wake_at(ch, true), at & CHAN_IDX_MASK);
	STORE_SC(sleep_flag(ch), 1);
	ret = chan_ready(ch, need);
	if (ret)
		STORE(sleep_flag(ch), 0);
	return ret;
}

/*
 * When other channels of the handle wait on the same vector, the doorbell
 * drained here may have been meant for one of them, armed before this
 * one: say so (1) rather than let the caller sleep on an fd that will not
 * become readable for it.  A channel alone on its vector drains quietly.
 */
static int arm_fd(struct ivshmem_chan *ch, uint64_t need)
{
	int fd = ivshmem_chan_fd(ch), ret;
	bool rung;

	if (fd < 0)
		return fd;
	/* What is committed must be published before waiting for room. */
	if (ch->sender && ch->published != ch->pos) {
		ret = ivshmem_chan_flush(ch);
		if (ret)
			return ret;
	}
	rung = drain(fd) && ch->dev &&
	       __atomic_load_n(&ch->dev->chans_on_vector[ch->vector], __ATOMIC_RELAXED) > 1;
	ret = arm(ch, need);
	if (ret == 0 && rung) {
		STORE(sleep_flag(ch), 0);
		return 1;
	}
	return ret < 0 ? ret : ret > 0;
}

IVSHMEM_EXPORT int ivshmem_chan_arm(struct ivshmem_chan *ch)
{
	return arm_fd(ch, ch->sender ? REC_HDR : 0);
}

/* Bytes of ring a message of @len needs now: its record, and a pad first
 * if it would cross the ring's end. */
static uint32_t reserve_need(const struct ivshmem_chan *ch, size_t len)
{
	uint32_t rec = rec_size((uint32_t)len), off = (uint32_t)(ch->pos & (ch->ring_size - 1));

	return off + rec > ch->ring_size ? ch->ring_size - off + rec : rec;
}

/* What rules out reserving @len bytes now, whatever the ring holds. */
static int reserve_allowed(const struct ivshmem_chan *ch, size_t len)
{
	if (!ch->sender)
		return -EPERM;
	if (ch->reserved >= 0)
		return -EBUSY;
	return len > ch->max_msg ? -EMSGSIZE : 0;
}

IVSHMEM_EXPORT int ivshmem_chan_arm_for(struct ivshmem_chan *ch, size_t len)
{
	int ret = reserve_allowed(ch, len);

	return ret ? ret : arm_fd(ch, reserve_need(ch, len));
}

/*
 * A call's deadline from its timeout: CLOCK_MONOTONIC microseconds, -1 for
 * none (-1 ms), now for 0 (look once).  -EINVAL below -1, so that -2 by
 * mistake does not hang the caller.
 */
static int deadline_of(int timeout_ms, int64_t *deadline)
{
	if (timeout_ms < -1)
		return -EINVAL;
	*deadline = timeout_ms < 0 ? -1 : now_us() + (int64_t)timeout_ms * 1000;
	return 0;
}

/*
 * The spin of the next wait, from how this one went: a spin that found
 * nothing halves it (down to a 64th of spin_us: a quiet peer costs little
 * CPU); a sleep ended after @slept_us raises it to twice that, up to
 * spin_us, since a spin that long would have caught it.
 */
static void spin_adapt(struct ivshmem_chan *ch, bool spun_in_vain, int64_t slept_us)
{
	unsigned int floor = ch->spin_us / 64 ? ch->spin_us / 64 : 1;

	if (spun_in_vain)
		ch->spin_budget = ch->spin_budget / 2 > floor ? ch->spin_budget / 2 : floor;
	if (slept_us >= 0 && slept_us < ch->spin_us / 2 &&
	    (unsigned int)slept_us * 2 > ch->spin_budget)
		ch->spin_budget = (unsigned int)slept_us * 2;
}

/*
 * Wait until chan_ready(@need) or @deadline (deadline_of): spin for
 * spin_budget at most (never past the deadline; a timeout of 0 does not
 * spin), then sleep on the vector with the flag set.  Without a doorbell
 * (plain memory, a device without interrupts) the sleep is a short nap
 * and a new look.
 */
static int chan_wait(struct ivshmem_chan *ch, uint64_t need, int64_t deadline)
{
	int64_t now, slept_from;
	int ret, fd;

	ret = chan_ready(ch, need);
	if (ret)
		return ret < 0 ? ret : 0;
	now = now_us();
	if (ch->spin_us && (deadline < 0 || deadline > now)) {
		int64_t end = now + ch->spin_budget;

		if (deadline >= 0 && end > deadline)
			end = deadline;
		do {
			for (int i = 0; i < 64; i++)
				cpu_relax();
			ret = chan_ready(ch, need);
			if (ret)
				return ret < 0 ? ret : 0;
		} while (now_us() < end);
		spin_adapt(ch, true, -1);
	}
	/* A timeout of 0 looks once, and makes no eventfd for it. */
	if (deadline >= 0 && now_us() >= deadline)
		return -ETIMEDOUT;
	fd = ivshmem_chan_fd(ch);
	if (fd < 0 && fd != -EOPNOTSUPP)
		return fd;
	slept_from = now_us();
	for (;;) {
		int wait_ms = -1;

		if (deadline >= 0) {
			now = now_us();
			if (now >= deadline)
				return -ETIMEDOUT;
			/* Rounded up: a wait never ends before the deadline. */
			wait_ms = (int)((deadline - now + 999) / 1000);
		}
		ret = arm(ch, need);
		if (ret)
			return ret < 0 ? ret : 0;
		if (fd >= 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			ret = poll(&pfd, 1, wait_ms);
			if (ret < 0 || (pfd.revents & (POLLNVAL | POLLERR))) {
				ret = ret < 0 ? ivshmem_neg_errno() :
				      (pfd.revents & POLLNVAL) ? -EBADF : -EIO;
				STORE(sleep_flag(ch), 0);
				return ret;
			}
			if (ret > 0) {
				drain(fd);
				ch->wakeups++;
				STORE(&own_side(ch)->wakeups, ch->wakeups);
			}
		} else {
			usleep(200);
		}
		STORE(sleep_flag(ch), 0);
		ret = chan_ready(ch, need);
		if (ret > 0 && ch->spin_us)
			spin_adapt(ch, false, now_us() - slept_from);
		if (ret)
			return ret < 0 ? ret : 0;
	}
}

/*
 * Publish own index (head or tail) as an exchange from the value this
 * side published last, in its generation: once a restart stamped the word
 * with a newer one, the exchange fails, and nothing of the old generation
 * lands in the new.  A seq_cst RMW is the handshake's store as well.
 */
static int publish(struct ivshmem_chan *ch)
{
	uint64_t expect = CHAN_IDX(ch->gen, ch->published);
	int ret = chan_check(ch);

	if (ret)
		return ret;
	if (!__atomic_compare_exchange_n(&own_side(ch)->index, &expect, CHAN_IDX(ch->gen, ch->pos),
					 false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		/* A restart stamps the word after the header's generation. */
		ret = chan_check(ch);
		if (ret)
			return ret;
		ch->failed = true;	/* nobody else writes this index */
		return -EPROTO;
	}
	ch->published = ch->pos;
	return 0;
}

/* Publish own index, then ring the other side if it waits for it. */
static int publish_and_notify(struct ivshmem_chan *ch)
{
	struct chan_side *me = own_side(ch);
	int ret;

	STORE(&me->msgs, ch->msgs);
	ret = publish(ch);
	if (ret)
		return ret;
	if (other_waits_for(ch)) {
		ch->doorbells++;
		STORE(&me->doorbells, ch->doorbells);
		return ring_other(ch);
	}
	ch->quiet++;
	STORE(&me->quiet, ch->quiet);
	return 0;
}

/* ---- sending ---- */

IVSHMEM_EXPORT int ivshmem_chan_flush(struct ivshmem_chan *ch)
{
	if (!ch->sender)
		return -EPERM;
	if (ch->published == ch->pos)
		return 0;
	return publish_and_notify(ch);
}

/*
 * Room for a record of @len bytes of payload, with @slack bytes to spare
 * after it, by @deadline; its payload in @buf.
 */
static int reserve_until(struct ivshmem_chan *ch, size_t len, uint32_t slack, void **buf,
			 int64_t deadline)
{
	uint32_t rec, off, need;
	int ret;

	rec = rec_size((uint32_t)len);
	off = (uint32_t)(ch->pos & (ch->ring_size - 1));
	/* A record never wraps: pad to the ring's end first if needed. */
	need = reserve_need(ch, len);
	/* What is committed must be published before waiting for room. */
	if (ch->published != ch->pos && space_ready(ch, need + slack) == 0) {
		ret = ivshmem_chan_flush(ch);
		if (ret)
			return ret;
	}
	ret = chan_wait(ch, need + slack, deadline);
	if (ret)
		return ret;
	if (need != rec) {
		struct chan_rec pad = { .len = ch->ring_size - off - REC_HDR, .kind = CHAN_REC_PAD };

		memcpy(ch->ring + off, &pad, sizeof(pad));
		ch->pos = (ch->pos + ch->ring_size - off) & CHAN_IDX_MASK;
		off = 0;
	}
	ch->reserved = (int64_t)len;
	*buf = ch->ring + off + REC_HDR;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_reserve(struct ivshmem_chan *ch, size_t len, void **buf,
					int timeout_ms)
{
	int64_t deadline;
	int ret;

	ret = reserve_allowed(ch, len);
	if (ret)
		return ret;
	ret = deadline_of(timeout_ms, &deadline);
	if (ret)
		return ret;
	return reserve_until(ch, len, 0, buf, deadline);
}

/* The record reserved, as @kind, @len bytes of payload: committed, not published. */
static void commit_record(struct ivshmem_chan *ch, uint32_t len, uint32_t kind)
{
	struct chan_rec rec = { .len = len, .kind = kind };

	memcpy(ch->ring + (ch->pos & (ch->ring_size - 1)), &rec, sizeof(rec));
	ch->pos = (ch->pos + rec_size(len)) & CHAN_IDX_MASK;
	ch->reserved = -1;
}

IVSHMEM_EXPORT int ivshmem_chan_commit(struct ivshmem_chan *ch, size_t len, unsigned int flags)
{
	struct chan_rec rec = { .len = (uint32_t)len, .kind = CHAN_REC_MSG };
	int ret;

	if (!ch->sender)
		return -EPERM;
	if (ch->reserved < 0 || ch->pool_reserved || len > (size_t)ch->reserved ||
	    (flags & ~IVSHMEM_CHAN_MORE))
		return -EINVAL;
	ret = chan_check(ch);
	if (ret)
		return ret;
	commit_record(ch, rec.len, rec.kind);
	ch->msgs++;
	return flags & IVSHMEM_CHAN_MORE ? 0 : ivshmem_chan_flush(ch);
}

/* Copy @n bytes from the @cnt pieces of @iov at (@i, @off) to @dst, moving on. */
static void iov_take(const struct iovec *iov, int cnt, int *i, size_t *off, uint8_t *dst,
		     size_t n)
{
	while (n && *i < cnt) {
		size_t k = iov[*i].iov_len - *off;

		if (k > n)
			k = n;
		if (k)
			memcpy(dst, (const uint8_t *)iov[*i].iov_base + *off, k);
		dst += k;
		n -= k;
		*off += k;
		if (*off == iov[*i].iov_len) {
			(*i)++;
			*off = 0;
		}
	}
}

/*
 * A message too large for one record, as a FIRST record (the message's
 * length in 64 bits, then its first bytes) and PART records, each of at
 * most frag_max bytes.  Each part is published at once, and leaves room
 * for one more record header, so that a send cut short (timeout, signal,
 * a failed doorbell) can always end the message with an ABORT record: the
 * consumer then drops what it has of it, and nothing of the message is
 * delivered.  Only a restart or hang-up of the consumer leaves no room
 * to say it; a consumer that starts there skips the parts it finds.
 */
static int send_large(struct ivshmem_chan *ch, const struct iovec *iov, int iovcnt, size_t len,
		      unsigned int flags, int64_t deadline)
{
	size_t done = 0, off = 0;
	bool begun = false;
	int i = 0, ret;

	while (done < len) {
		size_t head = begun ? 0 : sizeof(uint64_t);
		size_t n = len - done < ch->frag_max - head ? len - done : ch->frag_max - head;
		uint8_t *p;
		void *room;

		ret = reserve_until(ch, head + n, REC_HDR, &room, deadline);
		if (ret)
			goto cut;
		p = room;
		if (head) {
			uint64_t total = len;

			memcpy(p, &total, sizeof(total));
		}
		iov_take(iov, iovcnt, &i, &off, p + head, n);
		commit_record(ch, (uint32_t)(head + n), begun ? CHAN_REC_PART : CHAN_REC_FIRST);
		begun = true;
		done += n;
		if (done == len)
			break;
		ret = publish_and_notify(ch);
		if (ret)
			goto cut;
	}
	ch->msgs++;
	return flags & IVSHMEM_CHAN_MORE ? 0 : ivshmem_chan_flush(ch);
cut:
	/* Not after a restart, deletion or hang-up (space_ready() fails). */
	if (begun && space_ready(ch, REC_HDR) == 1) {
		commit_record(ch, 0, CHAN_REC_ABORT);
		ivshmem_chan_flush(ch);
	}
	return ret;
}

IVSHMEM_EXPORT int ivshmem_chan_sendv(struct ivshmem_chan *ch, const struct iovec *iov,
				      int iovcnt, unsigned int flags, int timeout_ms)
{
	size_t len = 0;
	int64_t deadline;
	uint8_t *dst;
	void *room;
	int ret;

	if (iovcnt < 0 || (iovcnt && !iov) || (flags & ~IVSHMEM_CHAN_MORE))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > ch->max_large - len)
			return -EMSGSIZE;
		len += iov[i].iov_len;
	}
	if (len > ch->max_msg) {
		ret = reserve_allowed(ch, 0);
		if (!ret)
			ret = deadline_of(timeout_ms, &deadline);
		return ret ? ret : send_large(ch, iov, iovcnt, len, flags, deadline);
	}
	ret = ivshmem_chan_reserve(ch, len, &room, timeout_ms);
	if (ret)
		return ret;
	dst = room;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	return ivshmem_chan_commit(ch, len, flags);
}

IVSHMEM_EXPORT int ivshmem_chan_send(struct ivshmem_chan *ch, const void *buf, size_t len,
				     unsigned int flags, int timeout_ms)
{
	void *dst;
	int ret;

	if (flags & ~IVSHMEM_CHAN_MORE)
		return -EINVAL;
	if (len > ch->max_msg) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

		return ivshmem_chan_sendv(ch, &iov, 1, flags, timeout_ms);
	}
	ret = ivshmem_chan_reserve(ch, len, &dst, timeout_ms);
	if (ret)
		return ret;
	if (len)
		memcpy(dst, buf, len);
	return ivshmem_chan_commit(ch, len, flags);
}

/* ---- the pool: messages handed over in place ---- */

/* @a at or past @b, as 48-bit positions. */
static bool idx_reached(uint64_t a, uint64_t b)
{
	return idx_sub(a, b) < (UINT64_C(1) << (CHAN_IDX_BITS - 1));
}

/* The tail @tail is at or past @b, a position at most our head: @b further
 * back than the ring holds was passed long ago. */
static bool tail_passed(const struct ivshmem_chan *ch, uint64_t tail, uint64_t b)
{
	return idx_sub(ch->pos, b) >= ch->ring_size || idx_reached(tail, b);
}

/*
 * Room for @len bytes (a multiple of 8) in the pool: 1 and its offset in
 * @off and the pool position after it in @end; 0 and in @tail the tail
 * to wait for; or an error.  Buffers go in order and never wrap: one that
 * would cross the pool's end starts again at 0, the bytes skipped held
 * with it.
 */
static int pool_room(struct ivshmem_chan *ch, uint64_t len, uint64_t *off, uint64_t *end,
		     uint64_t *tail)
{
	uint64_t ring_tail, at, skip;
	int ret = other_index(ch, &ring_tail);

	if (ret < 0)
		return ret;
	if (ret == 0) {
		/* Its word not yet of this generation: wait for an empty ring. */
		*tail = ch->pos;
		return 0;
	}
	if (!tail_passed(ch, ring_tail, ch->pool_barrier)) {
		*tail = ch->pool_barrier;
		return 0;
	}
	ch->pool_barrier = ring_tail;
	while (ch->pool_q_len && tail_passed(ch, ring_tail, ch->pool_q[ch->pool_q_first].ring_end)) {
		ch->pool_tail = ch->pool_q[ch->pool_q_first].pool_end;
		ch->pool_q_first++;
		ch->pool_q_len--;
	}
	if (!ch->pool_q_len) {
		/* All of it free: start again at its beginning. */
		ch->pool_q_first = 0;
		ch->pool_head = ch->pool_tail = 0;
	}
	at = ch->pool_head % ch->pool_size;
	skip = at + len > ch->pool_size ? ch->pool_size - at : 0;
	if (ch->pool_size - (ch->pool_head - ch->pool_tail) >= skip + len) {
		*off = skip ? 0 : at;
		*end = ch->pool_head + skip + len;
		return 1;
	}
	*tail = ch->pool_q[ch->pool_q_first].ring_end;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_buf_reserve(struct ivshmem_chan *ch, size_t len, void **buf,
					    int timeout_ms)
{
	uint64_t off, end, tail, len8 = ((uint64_t)len + 7) & ~UINT64_C(7);
	int64_t deadline;
	void *rec;
	int ret;

	ret = reserve_allowed(ch, 0);
	if (ret)
		return ret;
	if (!ch->pool_size)
		return -EOPNOTSUPP;
	if (len > ch->pool_size)
		return -EMSGSIZE;
	ret = deadline_of(timeout_ms, &deadline);
	if (ret)
		return ret;
	while ((ret = pool_room(ch, len8, &off, &end, &tail)) == 0) {
		/* The tail that frees it, as the room the ring then has. */
		uint64_t need = ch->ring_size - idx_sub(ch->pos, tail);

		if (ch->published != ch->pos) {
			ret = ivshmem_chan_flush(ch);
			if (ret)
				return ret;
		}
		ret = chan_wait(ch, need, deadline);
		if (ret)
			return ret;
	}
	if (ret < 0)
		return ret;
	ret = reserve_until(ch, sizeof(struct chan_buf), 0, &rec, deadline);
	if (ret)
		return ret;
	ch->pool_res_off = off;
	ch->pool_res_end = end;
	ch->pool_res_len = len;
	ch->pool_reserved = true;
	*buf = ch->pool + off;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_buf_commit(struct ivshmem_chan *ch, size_t len, unsigned int flags)
{
	struct chan_buf desc;
	int ret;

	if (!ch->sender)
		return -EPERM;
	if (!ch->pool_reserved || len > ch->pool_res_len ||
	    (flags & ~IVSHMEM_CHAN_MORE))
		return -EINVAL;
	ret = chan_check(ch);
	if (ret)
		return ret;
	if (ch->pool_q_first + ch->pool_q_len == ch->pool_q_cap) {
		size_t cap = ch->pool_q_cap ? ch->pool_q_cap * 2 : 64;
		struct pool_out *q;

		if (ch->pool_q_first) {
			memmove(ch->pool_q, ch->pool_q + ch->pool_q_first,
				ch->pool_q_len * sizeof(*q));
			ch->pool_q_first = 0;
		} else {
			q = realloc(ch->pool_q, cap * sizeof(*q));
			if (!q)
				return -ENOMEM;
			ch->pool_q = q;
			ch->pool_q_cap = cap;
		}
	}
	desc.offset = ch->pool_res_off;
	desc.len = len;
	memcpy(ch->ring + (ch->pos & (ch->ring_size - 1)) + REC_HDR, &desc, sizeof(desc));
	commit_record(ch, sizeof(desc), CHAN_REC_BUF);
	ch->pool_q[ch->pool_q_first + ch->pool_q_len++] = (struct pool_out){
		.ring_end = ch->pos, .pool_end = ch->pool_res_end,
	};
	ch->pool_head = ch->pool_res_end;
	ch->pool_reserved = false;
	ch->msgs++;
	return flags & IVSHMEM_CHAN_MORE ? 0 : ivshmem_chan_flush(ch);
}

IVSHMEM_EXPORT size_t ivshmem_chan_pool_size(const struct ivshmem_chan *ch)
{
	return ch->pool_size;
}

/* ---- receiving ---- */

/*
 * A FIRST or PART record of @len bytes at ring offset @off, taken into the
 * message being put together: 0, -EPROTO if it breaks the rules (a FIRST
 * opens with the message's length, more than a record holds and at most
 * max_message; no part is empty or goes past that length), or -ENOMEM.
 * A FIRST drops a message still in progress (its producer gave up without
 * a word); a PART without one is the rest of a message begun before this
 * side started, and is skipped.  The buffer grows as parts come, not as
 * the length claims.
 */
static int large_part(struct ivshmem_chan *ch, uint32_t off, uint32_t len, bool first)
{
	const uint8_t *src = ch->ring + off + REC_HDR;
	uint32_t head = 0;

	if (!first && !ch->large_len)
		return 0;
	if (first) {
		uint64_t total;

		ch->large_len = ch->large_got = 0;

		if (len < sizeof(total))
			return -EPROTO;
		total = LOAD((const uint64_t *)(const void *)src);
		if (total <= ch->max_msg || total > ch->max_large)
			return -EPROTO;
		ch->large_len = (uint32_t)total;
		head = sizeof(total);
	}
	if (len == head || len - head > ch->large_len - ch->large_got)
		return -EPROTO;
	if (ch->large_got + len - head > ch->large_cap) {
		size_t cap = ch->large_cap ? ch->large_cap * 2 : 65536;
		uint8_t *p;

		if (cap < ch->large_got + len - head)
			cap = ch->large_got + len - head;
		if (cap > ch->large_len)
			cap = ch->large_len;
		p = realloc(ch->large, cap);
		if (!p)
			return -ENOMEM;
		ch->large = p;
		ch->large_cap = cap;
	}
	load_bytes(ch->large + ch->large_got, src + head, len - head);
	ch->large_got += len - head;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_peek(struct ivshmem_chan *ch, const void **data, size_t *len,
				     int timeout_ms)
{
	uint64_t head, avail, raw;
	struct chan_rec rec;
	uint64_t taken = 0;	/* bytes of parts, for the deadline */
	int64_t deadline;
	bool after_pad = false;
	uint32_t off;
	int ret;

	if (ch->sender)
		return -EPERM;
	if (ch->failed)
		return -EPROTO;
	/* One deadline for the call, a pad record on the way included. */
	ret = deadline_of(timeout_ms, &deadline);
	if (ret)
		return ret;
	for (;;) {
		if (ch->large_peeked) {
			*data = ch->large;
			*len = ch->large_len;
			return 0;
		}
		ret = chan_wait(ch, 0, deadline);
		if (ret)
			return ret;
		if (other_index(ch, &head) != 1)
			goto bad;
		avail = idx_sub(head, ch->pos);
		if (avail > ch->ring_size || avail < REC_HDR)
			goto bad;
		off = (uint32_t)(ch->pos & (ch->ring_size - 1));
		/* The record's header, in one load (len first: little-endian). */
		raw = LOAD((const uint64_t *)(const void *)(ch->ring + off));
		rec.len = (uint32_t)raw;
		rec.kind = (uint32_t)(raw >> 32);
		if (rec.kind == CHAN_REC_PAD) {
			uint32_t skip = ch->ring_size - off;

			/* Only before a message that would not fit, never twice. */
			if (after_pad || off == 0 || skip > avail || rec.len != skip - REC_HDR)
				goto bad;
			after_pad = true;
			ch->pos = (ch->pos + skip) & CHAN_IDX_MASK;
			if (skip == avail) {
				/* Nothing after it yet: hand the room back. */
				ret = publish_and_notify(ch);
				if (ret)
					return ret;
			}
			continue;
		}
		after_pad = false;
		if (rec.len > ch->max_msg || rec_size(rec.len) > avail ||
		    off + rec_size(rec.len) > ch->ring_size)
			goto bad;
		if (rec.kind == CHAN_REC_FIRST || rec.kind == CHAN_REC_PART ||
		    rec.kind == CHAN_REC_ABORT) {
			/* Parts are handed back as they come: the ring may be
			 * smaller than the message. */
			if (ch->max_large == ch->max_msg)
				goto bad;	/* no LARGE feature */
			if (rec.kind == CHAN_REC_ABORT) {
				if (rec.len)
					goto bad;
				ch->large_len = ch->large_got = 0;
			} else {
				ret = large_part(ch, off, rec.len, rec.kind == CHAN_REC_FIRST);
				if (ret == -EPROTO)
					goto bad;
				if (ret)
					return ret;
			}
			ch->pos = (ch->pos + rec_size(rec.len)) & CHAN_IDX_MASK;
			ret = publish_and_notify(ch);
			if (ret)
				return ret;
			ch->large_peeked = ch->large_len && ch->large_got == ch->large_len;
			/* A producer with parts for ever does not hold the call. */
			taken += rec_size(rec.len);
			if (!ch->large_peeked && deadline >= 0 && taken >= PARTS_PAST_DEADLINE &&
			    now_us() >= deadline)
				return -ETIMEDOUT;
			continue;
		}
		if (rec.kind == CHAN_REC_BUF) {
			struct chan_buf desc;

			if (!ch->pool_size || rec.len != sizeof(desc))
				goto bad;
			desc.offset = LOAD((const uint64_t *)(const void *)(ch->ring + off + REC_HDR));
			desc.len = LOAD((const uint64_t *)(const void *)(ch->ring + off + REC_HDR + 8));
			if (desc.offset > ch->pool_size || desc.len > ch->pool_size - desc.offset)
				goto bad;
			ch->large_len = ch->large_got = 0;
			ch->peeked = rec_size(rec.len);
			ch->peeked_msgs = 1;
			*data = ch->pool + desc.offset;
			*len = (size_t)desc.len;
			return 0;
		}
		if (rec.kind != CHAN_REC_MSG)
			goto bad;
		/* A message in progress that its producer gave up on. */
		ch->large_len = ch->large_got = 0;
		ch->peeked = rec_size(rec.len);
		ch->peeked_msgs = 1;
		*data = ch->ring + off + REC_HDR;
		*len = rec.len;
		return 0;
	}
bad:
	/* A restart of the other side, caught in the middle. */
	if (LOAD_ACQ(&ch->hdr->generation) != ch->gen)
		return -ECONNRESET;
	ch->failed = true;
	return -EPROTO;
}

IVSHMEM_EXPORT int ivshmem_chan_release(struct ivshmem_chan *ch)
{
	if (ch->sender)
		return -EPERM;
	if (ch->large_peeked) {
		/* Its parts went back to the producer as they came. */
		ch->large_peeked = false;
		ch->large_len = ch->large_got = 0;
		/* Memory for a message of many MiB is not kept for the next. */
		if (ch->large_cap > 16u << 20) {
			free(ch->large);
			ch->large = NULL;
			ch->large_cap = 0;
		}
		STORE(&own_side(ch)->msgs, ++ch->msgs);
		return 0;
	}
	if (!ch->peeked)
		return -EINVAL;
	ch->pos = (ch->pos + ch->peeked) & CHAN_IDX_MASK;
	ch->peeked = 0;
	ch->msgs += ch->peeked_msgs;
	return publish_and_notify(ch);
}

/*
 * The message record at @pos, a pad before it skipped (its bytes in
 * @skip), with @avail bytes published from @pos: 1 and @rec, or 0 if
 * there is none, or none that checks.
 */
static int batch_record(struct ivshmem_chan *ch, uint64_t pos, uint64_t avail,
			struct chan_rec *rec, uint32_t *skip)
{
	uint32_t off = (uint32_t)(pos & (ch->ring_size - 1));
	uint64_t raw;

	*skip = 0;
	for (;;) {
		if (avail > ch->ring_size || avail < REC_HDR)
			return 0;
		raw = LOAD((const uint64_t *)(const void *)(ch->ring + off));
		rec->len = (uint32_t)raw;
		rec->kind = (uint32_t)(raw >> 32);
		if (rec->kind != CHAN_REC_PAD)
			break;
		if (*skip || off == 0 || ch->ring_size - off > avail ||
		    rec->len != ch->ring_size - off - REC_HDR)
			return 0;
		*skip = ch->ring_size - off;
		avail -= *skip;
		off = 0;
	}
	return rec->kind == CHAN_REC_MSG && rec->len <= ch->max_msg &&
	       rec_size(rec->len) <= avail && off + rec_size(rec->len) <= ch->ring_size;
}

IVSHMEM_EXPORT int ivshmem_chan_peek_batch(struct ivshmem_chan *ch, struct ivshmem_chan_msg *msgs,
					   size_t max, int timeout_ms)
{
	uint64_t head, cur;
	struct chan_rec rec;
	uint32_t skip;
	size_t n = 1;
	int ret;

	if (!max || !msgs)
		return -EINVAL;
	ret = ivshmem_chan_peek(ch, &msgs[0].data, &msgs[0].len, timeout_ms);
	if (ret)
		return ret;
	if (ch->large_peeked || other_index(ch, &head) != 1)
		return 1;
	cur = (ch->pos + ch->peeked) & CHAN_IDX_MASK;
	for (; n < max && n < INT32_MAX; n++) {
		if (!batch_record(ch, cur, idx_sub(head, cur), &rec, &skip))
			break;
		cur = (cur + skip) & CHAN_IDX_MASK;
		msgs[n].data = ch->ring + (cur & (ch->ring_size - 1)) + REC_HDR;
		msgs[n].len = rec.len;
		cur = (cur + rec_size(rec.len)) & CHAN_IDX_MASK;
		ch->peeked += skip + rec_size(rec.len);
		ch->peeked_msgs++;
	}
	return (int)n;
}

IVSHMEM_EXPORT int ivshmem_chan_recv(struct ivshmem_chan *ch, void *buf, size_t len,
				     int timeout_ms)
{
	const void *data;
	size_t n;
	int ret;

	ret = ivshmem_chan_peek(ch, &data, &n, timeout_ms);
	if (ret)
		return ret;
	if (n > len)
		return -EMSGSIZE;
	memcpy(buf, data, n);
	ret = ivshmem_chan_release(ch);
	return ret ? ret : (int)n;
}

/* ---- information ---- */

/* The header's counters, read once each; the indices checked. */
static void info_from_hdr(struct ivshmem_chan_info *info, const struct chan_hdr *h,
			  size_t area_len)
{
	uint32_t ring, producer, consumer;
	uint64_t head, tail;

	if (LOAD_ACQ(&h->magic) != CHAN_MAGIC || LOAD(&h->version) != CHAN_LAYOUT_VERSION)
		return;
	ring = LOAD(&h->ring_size);
	if (ring < CHAN_RING_MIN || ring > CHAN_RING_MAX || (ring & (ring - 1)) ||
	    ring > area_len - CHAN_HDR_SIZE)
		return;
	info->valid = true;
	info->ring_size = ring;
	info->max_msg = LOAD(&h->features_incompat) & CHAN_FEAT_LARGE ?
			LOAD(&h->max_message) : ring / 2 - REC_HDR;
	info->generation = LOAD(&h->generation);
	head = CHAN_IDX_POS(LOAD(&h->producer.index));
	tail = CHAN_IDX_POS(LOAD(&h->consumer.index));
	info->used = idx_sub(head, tail) <= ring ? idx_sub(head, tail) : 0;
	info->msgs_sent = LOAD(&h->producer.msgs);
	info->msgs_received = LOAD(&h->consumer.msgs);
	info->notify_sent = LOAD(&h->producer.doorbells);
	info->notify_suppressed = LOAD(&h->producer.quiet);
	info->wakeups = LOAD(&h->consumer.wakeups);
	producer = LOAD(&h->producer.peer);
	consumer = LOAD(&h->consumer.peer);
	info->producer = producer <= 65535 ? (int32_t)producer : -1;
	info->consumer = consumer <= 65535 ? (int32_t)consumer : -1;
}

static void info_from_entry(struct ivshmem_chan_info *info, const struct chan_dir_entry *e)
{
	memset(info, 0, sizeof(*info));
	memcpy(info->name, e->name, sizeof(info->name));
	info->offset = e->offset;
	info->size = e->size;
	info->state = (enum ivshmem_chan_state)e->state;
	info->producer = e->producer <= 65535 ? (int32_t)e->producer : -1;
	info->consumer = e->consumer <= 65535 ? (int32_t)e->consumer : -1;
}

IVSHMEM_EXPORT int ivshmem_chan_get_info(struct ivshmem_chan *ch,
					 struct ivshmem_chan_info **out)
{
	struct ivshmem_chan_info *info = calloc(1, sizeof(*info));
	struct chan_dir_entry e = { 0 };

	if (!info)
		return -ENOMEM;
	memcpy(e.name, ch->name, sizeof(e.name));
	if (ch->dir) {
		const struct chan_dir_entry *de = &ch->dir->entry[ch->slot];

		e.state = LOAD(&de->state);
		e.offset = LOAD(&de->offset);
	}
	e.size = ch->area_len;
	e.producer = e.consumer = CHAN_NO_PEER;
	info_from_entry(info, &e);
	if (info->state > IVSHMEM_CHAN_ATTACHED)
		info->state = IVSHMEM_CHAN_FREE;
	info_from_hdr(info, ch->hdr, ch->area_len);
	*out = info;
	return 0;
}

IVSHMEM_EXPORT void ivshmem_chan_info_free(struct ivshmem_chan_info *info)
{
	free(info);
}

#define GETTER(type, field)							\
IVSHMEM_EXPORT type ivshmem_chan_info_get_##field(const struct ivshmem_chan_info *info) \
{ return info->field; }

IVSHMEM_EXPORT const char *ivshmem_chan_info_get_name(const struct ivshmem_chan_info *info)
{
	return info->name;
}

GETTER(uint64_t, offset)
GETTER(uint64_t, size)
GETTER(enum ivshmem_chan_state, state)
GETTER(int32_t, producer)
GETTER(int32_t, consumer)
GETTER(uint32_t, generation)
GETTER(uint32_t, ring_size)
GETTER(uint32_t, max_msg)
GETTER(uint64_t, used)
GETTER(uint64_t, msgs_sent)
GETTER(uint64_t, msgs_received)
GETTER(uint64_t, notify_sent)
GETTER(uint64_t, notify_suppressed)
GETTER(uint64_t, wakeups)

IVSHMEM_EXPORT bool ivshmem_chan_info_is_valid(const struct ivshmem_chan_info *info)
{
	return info->valid;
}

int ivshmem_chan_parse_dir(const void *page, uint64_t region_size, uint64_t dir_offset,
			   struct ivshmem_chan_list **out)
{
	const struct chan_dir *dir = page;
	struct ivshmem_chan_list *list;
	struct chan_dir_entry e;
	int ret = dir_check(dir);

	if (ret < 0)
		return ret;
	list = calloc(1, sizeof(*list));
	if (!list)
		return -ENOMEM;
	if (ret) {
		list->infos = calloc(CHAN_DIR_ENTRIES, sizeof(*list->infos));
		if (!list->infos) {
			free(list);
			return -ENOMEM;
		}
		for (unsigned int i = 0; i < CHAN_DIR_ENTRIES; i++)
			if (entry_read(&e, &dir->entry[i], region_size, dir_offset))
				info_from_entry(&list->infos[list->count++], &e);
	}
	*out = list;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_chan_list(struct ivshmem *dev, uint64_t dir_offset,
				     struct ivshmem_chan_list **out)
{
	struct ivshmem_chan_list *list;
	struct chan_dir *dir;
	uint64_t region;
	int ret;

	if (dir_offset % PAGE)
		return -EINVAL;
	ret = dir_map(dev, dir_offset, &region, &dir);
	if (ret)
		return ret;
	ret = ivshmem_chan_parse_dir(dir, region, dir_offset, &list);
	ivshmem_unmap(dir, CHAN_DIR_SIZE);
	if (ret)
		return ret;
	/* The counters from each header; an entry checked by the parser. */
	for (size_t i = 0; i < list->count; i++) {
		struct ivshmem_chan_info *info = &list->infos[i];
		void *addr;

		if (info->size > SIZE_MAX ||
		    ivshmem_map(dev, info->offset, PAGE, PROT_READ, &addr))
			continue;
		info_from_hdr(info, addr, (size_t)info->size);
		ivshmem_unmap(addr, PAGE);
	}
	*out = list;
	return 0;
}

IVSHMEM_EXPORT size_t ivshmem_chan_list_count(const struct ivshmem_chan_list *list)
{
	return list->count;
}

IVSHMEM_EXPORT const struct ivshmem_chan_info *
ivshmem_chan_list_get(const struct ivshmem_chan_list *list, size_t i)
{
	return i < list->count ? &list->infos[i] : NULL;
}

IVSHMEM_EXPORT void ivshmem_chan_list_free(struct ivshmem_chan_list *list)
{
	if (!list)
		return;
	free(list->infos);
	free(list);
}

IVSHMEM_EXPORT const char *ivshmem_chan_state_name(enum ivshmem_chan_state state)
{
	switch (state) {
	case IVSHMEM_CHAN_FREE: return "free";
	case IVSHMEM_CHAN_CLAIMED: return "claimed";
	case IVSHMEM_CHAN_CREATED: return "created";
	case IVSHMEM_CHAN_ATTACHED: return "attached";
	}
	return "unknown";
}

/* ---- without a device: the fuzz harness and the thread tests ---- */

int ivshmem_chan_format_memory(void *area, size_t len, uint32_t ring_size, uint32_t max_msg,
			       uint32_t pool)
{
	if (len < CHAN_HDR_SIZE || ring_size > len - CHAN_HDR_SIZE || max_msg > CHAN_LARGE_MAX ||
	    pool > len - CHAN_HDR_SIZE - ring_size || pool % 8)
		return -EINVAL;
	hdr_format(area, ring_size, max_msg, pool, 0, -1, true, false);
	return 0;
}

int ivshmem_chan_restart_memory(struct ivshmem_chan *ch)
{
	int ret = hdr_adopt(ch);

	if (ret)
		return ret;
	ch->gen = __atomic_add_fetch(&ch->hdr->generation, 1, __ATOMIC_ACQ_REL);
	return take_place(ch, PLACE_DROP);
}

uint32_t ivshmem_chan_adopted_generation(const struct ivshmem_chan *ch)
{
	return ch->gen;
}

int ivshmem_chan_over_memory(void *area, size_t len, bool sender, struct ivshmem_chan **out)
{
	struct ivshmem_chan *ch;
	int ret;

	if (len < CHAN_HDR_SIZE + CHAN_RING_MIN)
		return -EINVAL;
	ch = chan_new(NULL, "memory", &default_opts);
	if (!ch)
		return -ENOMEM;
	ch->own_mappings = false;
	ch->area = area;
	ch->area_len = len;
	ch->hdr = area;
	ch->ring = (uint8_t *)area + CHAN_HDR_SIZE;
	ch->sender = sender;
	/* Laid out before, by the caller: no layout to wait out. */
	ret = hdr_adopt_tries(ch, 1);
	if (ret) {
		free(ch);
		return ret;
	}
	/* Start at the indices found, as a reset would, without writing them. */
	ch->pos = ch->published = CHAN_IDX_POS(LOAD(&own_side(ch)->index));
	ch->pool_barrier = ch->pos;
	ch->failed = ch->pos % 8 != 0;
	*out = ch;
	return 0;
}
