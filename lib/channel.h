/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libivshmem channels: the layout in shared memory, and the hooks the fuzz
 * harness and the thread tests use to run a channel over plain memory.
 * Not installed.
 *
 * Every field is little-endian and naturally aligned; the structs have no
 * implicit padding, so any compiler of either peer sees the same bytes.
 * Shared fields are plain integers, accessed with the __atomic builtins
 * (not _Atomic types): the layout is a wire format read by peers built
 * elsewhere, and _Atomic objects have no guaranteed representation.
 */
#ifndef LIBIVSHMEM_CHANNEL_H
#define LIBIVSHMEM_CHANNEL_H

#include <stdint.h>

#include "libivshmem.h"

/* The layout is little-endian, and read in words as this host sees them. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libivshmem channels need a little-endian host"
#endif

#define CHAN_DIR_MAGIC		0x44435649u	/* "IVCD" */
#define CHAN_DIR_VERSION	1
#define CHAN_MAGIC		0x31435649u	/* "IVC1": layout version 1 */
#define CHAN_MAGIC_DELETED	0x58435649u	/* "IVCX": deleted, see ivshmem_chan_delete() */
#define CHAN_LAYOUT_VERSION	1
#define CHAN_DIR_SIZE		4096
#define CHAN_DIR_ENTRIES	63
#define CHAN_NAME_LEN		32		/* with the NUL */
#define CHAN_HDR_SIZE		256
#define CHAN_NO_PEER		0xffffffffu
#define CHAN_NO_VECTOR		0xffffu		/* a side's vector before it is there */
#define CHAN_RING_MIN		4096u
#define CHAN_RING_MAX		(1u << 30)

/*
 * An index word (head, tail): the low 16 bits of the generation it was
 * written in, over 48 bits of byte index.  One compare-exchange moves the
 * index only within its generation, and a restart stamps both words with
 * the new generation, so that an update begun before the restart fails
 * instead of landing in the new generation.
 */
#define CHAN_IDX_BITS		48
#define CHAN_IDX_MASK		((UINT64_C(1) << CHAN_IDX_BITS) - 1)
#define CHAN_IDX_GEN(w)		((uint16_t)((w) >> CHAN_IDX_BITS))
#define CHAN_IDX_POS(w)		((w) & CHAN_IDX_MASK)
#define CHAN_IDX(gen, pos)	((uint64_t)(uint16_t)(gen) << CHAN_IDX_BITS | ((pos) & CHAN_IDX_MASK))

/* Feature bits of the header. */
#define CHAN_FEAT_LARGE		0x1u	/* max_message, FIRST, PART and ABORT records */
#define CHAN_FEAT_POOL		0x2u	/* pool_size, BUF records */
/* A side that lacks one of these must not attach. */
#define CHAN_FEAT_INCOMPAT_KNOWN	(CHAN_FEAT_LARGE | CHAN_FEAT_POOL)
#define CHAN_LARGE_MAX		(1u << 30)	/* the largest max_message */

/* Records of the ring: 8-byte header, payload, padded to 8 bytes. */
#define CHAN_REC_MSG		1
#define CHAN_REC_PAD		2	/* skip to the ring's start */
#define CHAN_REC_FIRST		3	/* the first part of a large message */
#define CHAN_REC_ABORT		4	/* the large message begun is abandoned */
#define CHAN_REC_PART		5	/* a later part of a large message */
#define CHAN_REC_BUF		6	/* a message in the pool: struct chan_buf */

/* The payload of a BUF record: where the message lies in the pool. */
struct chan_buf {
	uint64_t offset;		/* from the pool's start */
	uint64_t len;
};

struct chan_rec {
	uint32_t len;			/* payload bytes; skipped bytes (PAD); 0 (ABORT) */
	uint32_t kind;
};

/* A channel as the directory lists it: 64 bytes. */
struct chan_dir_entry {
	char name[CHAN_NAME_LEN];	/* NUL-terminated */
	uint64_t offset;		/* of the channel's header in the region */
	uint64_t size;			/* header, ring and pool, page-aligned */
	uint32_t producer;		/* peer IDs, CHAN_NO_PEER if unknown */
	uint32_t consumer;
	uint32_t state;			/* enum ivshmem_chan_state */
	uint32_t reserved;
};

/* The directory: one page at the directory offset (default 0). */
struct chan_dir {
	uint32_t magic;
	uint16_t version;
	uint16_t entries;		/* CHAN_DIR_ENTRIES */
	uint64_t alloc_end;		/* end of the last area handed out, 0 at first */
	uint8_t reserved[48];
	struct chan_dir_entry entry[CHAN_DIR_ENTRIES];
};

/* A side's state, in its half of the header. */
#define CHAN_SIDE_NONE		0	/* nobody since the layout */
#define CHAN_SIDE_OPEN		1
#define CHAN_SIDE_CLOSED	2	/* hung up: the other side gets -EPIPE */

/*
 * One side's half of the header, a cache line of its own: written by that
 * side only, except @waiting, which the other side takes back with an
 * exchange when it rings.
 */
struct chan_side {
	uint64_t index;			/* CHAN_IDX(): producer's head, consumer's tail */
	uint64_t session;		/* the handle that holds the side, 0 for none */
	uint32_t peer;			/* peer ID, CHAN_NO_PEER if unknown */
	uint16_t vector;		/* the vector this side waits on */
	uint8_t state;			/* CHAN_SIDE_* */
	uint8_t waiting;		/* 1: ring me when the other index moves */
	uint64_t heartbeat;		/* bumped by ivshmem_chan_heartbeat() */
	uint64_t msgs;			/* messages sent or received */
	uint64_t doorbells;		/* doorbells rung to the other side */
	uint64_t quiet;			/* publications the other side did not wait for */
	uint64_t wakeups;		/* sleeps that ended in a doorbell */
};

/* A channel's header, CHAN_HDR_SIZE bytes before its ring. */
struct chan_hdr {
	/* Line 0: written by the creator when it lays the channel out. */
	uint32_t magic;
	uint16_t version;
	uint16_t flags;			/* CHAN_F_* */
	uint32_t generation;		/* bumped by each (re)start of a side */
	uint32_t ring_size;		/* bytes, a power of two */
	uint32_t features_incompat;	/* CHAN_FEAT_INCOMPAT_* */
	uint32_t features_compat;	/* may be ignored */
	uint32_t max_message;		/* with CHAN_FEAT_LARGE: the largest message */
	uint32_t pool_size;		/* with CHAN_FEAT_POOL: bytes after the ring */
	uint8_t reserved0[32];
	struct chan_side producer;	/* line 1 */
	struct chan_side consumer;	/* line 2 */
	/*
	 * Line 3: event thresholds, positions of the other side's index
	 * (CHAN_IDX_POS) from which a side that set its flag wants its
	 * doorbell, each written by that side before it sets its flag.
	 */
	uint64_t producer_wake_at;	/* the tail at which a message fits */
	uint64_t consumer_wake_at;	/* the head at which a record is there */
	uint8_t reserved[48];
};

#define CHAN_F_CREATOR_RECEIVES	0x1	/* the creating side is the consumer */

_Static_assert(sizeof(struct chan_dir_entry) == 64, "directory entry");
_Static_assert(sizeof(struct chan_dir) == CHAN_DIR_SIZE, "directory");
_Static_assert(sizeof(struct chan_side) == 64, "a side's half of the header");
_Static_assert(sizeof(struct chan_hdr) == CHAN_HDR_SIZE, "channel header");

/*
 * For the fuzz harness and the thread tests: a channel over @area (a
 * header and a ring, @len bytes, not necessarily valid), without a device;
 * waits then sleep-poll.  @sender picks the side.  -EPROTO as attach would.
 */
int ivshmem_chan_over_memory(void *area, size_t len, bool sender, struct ivshmem_chan **out);
/* The generation this side adopted at its last attach or reset. */
uint32_t ivshmem_chan_adopted_generation(const struct ivshmem_chan *ch);
/* A restart of this side, as attach does it: a new generation, what is in flight dropped. */
int ivshmem_chan_restart_memory(struct ivshmem_chan *ch);
/*
 * Lay out a fresh channel over @area with a ring of @ring_size bytes,
 * large messages up to @max_msg bytes if that is more than a record holds,
 * and a pool of @pool bytes after the ring if not 0.
 */
int ivshmem_chan_format_memory(void *area, size_t len, uint32_t ring_size, uint32_t max_msg,
			       uint32_t pool);
/* The directory reader over a copy of a directory page. */
int ivshmem_chan_parse_dir(const void *page, uint64_t region_size, uint64_t dir_offset,
			   struct ivshmem_chan_list **out);

#endif /* LIBIVSHMEM_CHANNEL_H */
