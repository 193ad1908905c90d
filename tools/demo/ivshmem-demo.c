// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-demo: two guests and a host peer talk through shared memory and
 * doorbells.  The same program, built on libivshmem, plays every part:
 *
 *   host     (on the host, a peer of ivshmem-server)  sets up the board
 *   guest-a  (in a guest)  writes to B and rings it; reads B's reply
 *   guest-b  (in a guest)  waits for A's doorbell and answers
 *
 * after which A writes to the host, and the host greets both guests.
 *
 * The board at the start of the shared memory holds each part's peer ID and
 * a mailbox per part; a part writes into the receiver's mailbox, then rings
 * the receiver on vector 0.
 *
 * usage: ivshmem-demo [-s SOCKET | -d DEVICE] [host|guest-a|guest-b]
 * Without a part, it is taken from $ivt_role (guests get it from the
 * kernel command line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "libivshmem.h"

#define BOARD_MAGIC	0x69767368u	/* "ivsh" */
#define TIMEOUT_MS	120000
#define STEP_MS		1000

enum part { HOST, GUEST_A, GUEST_B, NPARTS };

static const char *const part_names[NPARTS] = { "host", "guest A", "guest B" };

struct board {
	uint32_t magic;			/* written last by the host */
	uint32_t peer_plus_one[NPARTS];	/* 0 until the part has joined */
	char mailbox[NPARTS][256];	/* messages for each part */
};

struct demo {
	enum part me;
	struct ivshmem *dev;
	struct ivshmem_dev_info *info;
	struct board *board;
};

static void say(const struct demo *d, const char *fmt, ...)
{
	va_list ap;

	printf("%-8s| ", part_names[d->me]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int die(const struct demo *d, const char *what, int err)
{
	say(d, "error: %s: %s", what, strerror(-err));
	return 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Wait until @part has joined the board; its peer ID, or -1 on timeout. */
static int peer_of(const struct demo *d, enum part part)
{
	for (int waited = 0; waited < TIMEOUT_MS; waited += 20) {
		uint32_t v = __atomic_load_n(&d->board->peer_plus_one[part], __ATOMIC_ACQUIRE);

		if (__atomic_load_n(&d->board->magic, __ATOMIC_ACQUIRE) == BOARD_MAGIC && v)
			return (int)v - 1;
		sleep_ms(20);
	}
	return -1;
}

static int send_to(const struct demo *d, enum part to, const char *text)
{
	int peer = peer_of(d, to);
	int ret;

	if (peer < 0)
		return die(d, "the other part never joined", -ETIMEDOUT);
	/* A pause per step, so that a person can follow the story. */
	sleep_ms(STEP_MS);
	snprintf(d->board->mailbox[to], sizeof(d->board->mailbox[to]), "%s", text);
	say(d, "writes \"%s\" for %s and rings peer %d, vector 0", text, part_names[to], peer);
	ret = ivshmem_ring(d->dev, (unsigned int)peer, 0);
	return ret ? die(d, "ring", ret) : 0;
}

static int receive(const struct demo *d)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 };
	int ret;

	say(d, "waiting for a doorbell on vector 0");
	ret = ivshmem_wait(d->dev, set, TIMEOUT_MS);
	if (ret)
		return die(d, "wait", ret);
	say(d, "doorbell! my mailbox says: \"%s\"", d->board->mailbox[d->me]);
	return 0;
}

static int join(struct demo *d)
{
	if (d->me == HOST) {
		memset(d->board, 0, sizeof(*d->board));
		d->board->peer_plus_one[HOST] = (uint32_t)ivshmem_dev_info_get_peer_id(d->info) + 1;
		__atomic_store_n(&d->board->magic, BOARD_MAGIC, __ATOMIC_RELEASE);
	} else {
		if (peer_of(d, HOST) < 0)
			return die(d, "the host never set up the board", -ETIMEDOUT);
		__atomic_store_n(&d->board->peer_plus_one[d->me],
				 (uint32_t)ivshmem_dev_info_get_peer_id(d->info) + 1, __ATOMIC_RELEASE);
	}
	say(d, "joined as peer %d: %llu MiB of shared memory, %u vectors (%s)",
	    ivshmem_dev_info_get_peer_id(d->info),
	    (unsigned long long)(ivshmem_dev_info_get_size(d->info) >> 20),
	    ivshmem_dev_info_get_vectors(d->info),
	    ivshmem_dev_info_is_host_peer(d->info) ? "host peer of ivshmem-server" : "guest driver");
	return 0;
}

static int play(struct demo *d)
{
	switch (d->me) {
	case HOST:
		return join(d) || receive(d) ||
		       send_to(d, GUEST_A, "greetings from the host") ||
		       send_to(d, GUEST_B, "greetings from the host");
	case GUEST_A:
		return join(d) || send_to(d, GUEST_B, "hello B, this is guest A") ||
		       receive(d) || send_to(d, HOST, "host, A and B say hello") ||
		       receive(d);
	case GUEST_B:
		return join(d) || receive(d) ||
		       send_to(d, GUEST_A, "hi A, B here: got your message") ||
		       receive(d);
	default:
		return 1;
	}
}

int main(int argc, char **argv)
{
	const char *server = NULL, *device = "/dev/ivshmem0", *role;
	struct demo d = { 0 };
	int opt, ret;

	while ((opt = getopt(argc, argv, "s:d:h")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'd': device = optarg; break;
		default:
			fprintf(stderr, "usage: ivshmem-demo [-s SOCKET | -d DEVICE] "
				"[host|guest-a|guest-b]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	role = optind < argc ? argv[optind] : getenv("ivt_role");
	if (!role || (strcmp(role, "host") != 0 && strcmp(role, "guest-a") != 0 &&
		      strcmp(role, "guest-b") != 0)) {
		fprintf(stderr, "ivshmem-demo: say host, guest-a or guest-b\n");
		return 2;
	}
	d.me = !strcmp(role, "host") ? HOST : !strcmp(role, "guest-a") ? GUEST_A : GUEST_B;

	ret = server ? ivshmem_open_server(server, NULL, &d.dev) : ivshmem_open(device, &d.dev);
	if (ret)
		return die(&d, server ? server : device, ret);
	ret = ivshmem_wait_ready(d.dev, TIMEOUT_MS);
	if (!ret)
		ret = ivshmem_get_info(d.dev, &d.info);
	if (!ret)
		ret = ivshmem_map(d.dev, 0, 4096, PROT_READ | PROT_WRITE, (void **)&d.board);
	if (ret)
		return die(&d, "set-up", ret);

	ret = play(&d);
	if (!ret)
		say(&d, "done");
	ivshmem_unmap(d.board, 4096);
	ivshmem_dev_info_free(d.info);
	ivshmem_close(d.dev);
	return ret;
}
