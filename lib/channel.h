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
#define CHAN_MAGIC		0x48435649u	/* "IVCH" */
#define CHAN_LAYOUT_VERSION	1
#define CHAN_DIR_SIZE		4096
#define CHAN_DIR_ENTRIES	63
#define CHAN_NAME_LEN		32		/* with the NUL */
#define CHAN_HDR_SIZE		256
#define CHAN_NO_PEER		0xffffffffu
#define CHAN_NO_VECTOR		0xffffu		/* a side's vector before it is there */
#define CHAN_RING_MIN		4096u
#define CHAN_RING_MAX		(1u << 30)

/* Records of the ring: 8-byte header, payload, padded to 8 bytes. */
#define CHAN_REC_MSG		1
#define CHAN_REC_PAD		2	/* skip to the ring's start */

struct chan_rec {
	uint32_t len;			/* payload bytes (MSG), skipped bytes (PAD) */
	uint32_t kind;
};

/* A channel as the directory lists it: 64 bytes. */
struct chan_dir_entry {
	char name[CHAN_NAME_LEN];	/* NUL-terminated */
	uint64_t offset;		/* of the channel's header in the region */
	uint64_t size;			/* header and ring, page-aligned */
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

/*
 * A channel's header, CHAN_HDR_SIZE bytes before its ring.  What the
 * producer writes and what the consumer writes are on cache lines of their
 * own, so that neither side's stores invalidate the other's hot line.
 */
struct chan_hdr {
	/* Line 0: written when a side (re)starts. */
	uint32_t magic;
	uint16_t version;
	uint16_t flags;			/* CHAN_F_* */
	uint32_t generation;		/* bumped by each (re)start of a side */
	uint32_t ring_size;		/* bytes, a power of two */
	uint32_t producer;		/* peer IDs */
	uint32_t consumer;
	uint16_t producer_vector;	/* the vector each side waits on */
	uint16_t consumer_vector;
	uint8_t pad0[36];
	/* Line 1: the producer's. */
	uint64_t head;			/* bytes ever committed and published */
	uint32_t producer_waiting;	/* 1: ring me when space is freed */
	uint32_t pad1;
	uint64_t msgs_sent;
	uint64_t notify_sent;		/* doorbells to the consumer */
	uint64_t notify_suppressed;	/* publications it was not asleep for */
	uint8_t pad1b[24];
	/* Line 2: the consumer's. */
	uint64_t tail;			/* bytes ever released */
	uint32_t consumer_sleeping;	/* 1: ring me when a message comes */
	uint32_t pad2;
	uint64_t msgs_received;
	uint64_t wakeups;		/* sleeps that ended in a doorbell */
	uint64_t space_notify_sent;	/* doorbells to a waiting producer */
	uint8_t pad2b[24];
	uint8_t reserved[64];
};

#define CHAN_F_CREATOR_RECEIVES	0x1	/* the creating side is the consumer */

_Static_assert(sizeof(struct chan_dir_entry) == 64, "directory entry");
_Static_assert(sizeof(struct chan_dir) == CHAN_DIR_SIZE, "directory");
_Static_assert(sizeof(struct chan_hdr) == CHAN_HDR_SIZE, "channel header");

/*
 * For the fuzz harness and the thread tests: a channel over @area (a
 * header and a ring, @len bytes, not necessarily valid), without a device;
 * waits then sleep-poll.  @sender picks the side.  -EPROTO as attach would.
 */
int ivshmem_chan_over_memory(void *area, size_t len, bool sender, struct ivshmem_chan **out);
/* The generation this side adopted at its last attach or reset. */
uint32_t ivshmem_chan_adopted_generation(const struct ivshmem_chan *ch);
/* Lay out a fresh channel over @area with a ring of @ring_size bytes. */
int ivshmem_chan_format_memory(void *area, size_t len, uint32_t ring_size);
/* The directory reader over a copy of a directory page. */
int ivshmem_chan_parse_dir(const void *page, uint64_t region_size, uint64_t dir_offset,
			   struct ivshmem_chan_list **out);

#endif /* LIBIVSHMEM_CHANNEL_H */
