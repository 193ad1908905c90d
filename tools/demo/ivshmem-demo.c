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
 * They talk through libivshmem's channels: one per sender and receiver
 * ("a>b", "host>a", ...), created by the receiver and attached to by the
 * sender, listed in the channel directory at the start of the shared
 * memory.  A message is published in the channel, then the receiver is
 * rung on vector 0 if it sleeps.  `ivshmem-ctl chan list` shows them.
 *
 * Every line a part prints starts with its step number, taken from a
 * counter all parts share in the last page of the shared memory, before
 * the step happens: a message is numbered before its receipt, so sorting
 * the lines of all parts by number tells the story in the order it
 * happened, whatever order their outputs arrive in.
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

#define TIMEOUT_MS	120000
#define STEP_MS		1000
#define STEP_PAGE	4096UL	/* the last page of the shared memory */

enum part { HOST, GUEST_A, GUEST_B, NPARTS };

static const char *const part_names[NPARTS] = { "host", "guest A", "guest B" };
static const char *const part_tags[NPARTS] = { "host", "a", "b" };

struct demo {
	enum part me;
	struct ivshmem *dev;
	struct ivshmem_dev_info *info;
	struct ivshmem_chan_opts *opts;
	struct ivshmem_chan *in[NPARTS];	/* from each part, once created */
	struct ivshmem_chan *out[NPARTS];	/* to each part, once attached */
	uint32_t *steps;	/* the shared step counter, once mapped */
};

static void say(const struct demo *d, const char *fmt, ...)
{
	unsigned int step = 0;
	va_list ap;

	if (d->steps)
		step = __atomic_add_fetch(d->steps, 1, __ATOMIC_SEQ_CST);
	printf("%4u %-8s| ", step, part_names[d->me]);
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

/* The channel from @from to @to: "a>b", "host>a", ... */
static const char *chan_name(enum part from, enum part to, char *buf, size_t len)
{
	snprintf(buf, len, "%s>%s", part_tags[from], part_tags[to]);
	return buf;
}

static int send_to(struct demo *d, enum part to, const char *text)
{
	char name[16];
	int ret;

	chan_name(d->me, to, name, sizeof(name));
	if (!d->out[to]) {
		/* The receiver creates it; it may still be starting. */
		ret = ivshmem_chan_attach(d->dev, name, d->opts, &d->out[to]);
		if (ret)
			return die(d, name, ret);
	}
	/* A pause per step, so that a person can follow the story. */
	sleep_ms(STEP_MS);
	say(d, "sends \"%s\" to %s on channel %s", text, part_names[to], name);
	ret = ivshmem_chan_send(d->out[to], text, strlen(text), 0, TIMEOUT_MS);
	return ret ? die(d, "send", ret) : 0;
}

static int receive(struct demo *d, enum part from)
{
	char name[16], text[256];
	int n;

	say(d, "waiting for a message on channel %s", chan_name(from, d->me, name, sizeof(name)));
	n = ivshmem_chan_recv(d->in[from], text, sizeof(text) - 1, TIMEOUT_MS);
	if (n < 0)
		return die(d, "receive", n);
	text[n] = 0;
	say(d, "doorbell! my mailbox says: \"%s\"", text);
	return 0;
}

/* Create the channels this part receives on: from every other part. */
static int join(struct demo *d)
{
	char name[16];
	int ret;

	for (enum part from = HOST; from < NPARTS; from++) {
		if (from == d->me)
			continue;
		chan_name(from, d->me, name, sizeof(name));
		ret = ivshmem_chan_create(d->dev, name, IVSHMEM_CHAN_RECV, -1, d->opts,
					  &d->in[from]);
		if (ret)
			return die(d, name, ret);
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
		return join(d) || receive(d, GUEST_A) ||
		       send_to(d, GUEST_A, "greetings from the host") ||
		       send_to(d, GUEST_B, "greetings from the host");
	case GUEST_A:
		return join(d) || send_to(d, GUEST_B, "hello B, this is guest A") ||
		       receive(d, GUEST_B) || send_to(d, HOST, "host, A and B say hello") ||
		       receive(d, HOST);
	case GUEST_B:
		return join(d) || receive(d, GUEST_A) ||
		       send_to(d, GUEST_A, "hi A, B here: got your message") ||
		       receive(d, HOST);
	default:
		return 1;
	}
}

int main(int argc, char **argv)
{
	const char *server = NULL, *device = "/dev/ivshmem0", *role;
	struct demo d = { 0 };
	void *steps = NULL;
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
	if (!ret && ivshmem_dev_info_get_size(d.info) < 2 * STEP_PAGE)
		ret = -ENOSPC;
	if (!ret)
		ret = ivshmem_map(d.dev, ivshmem_dev_info_get_size(d.info) - STEP_PAGE, STEP_PAGE,
				  PROT_READ | PROT_WRITE, &steps);
	if (!ret) {
		d.steps = steps;
		ret = ivshmem_chan_opts_new(&d.opts);
	}
	if (!ret)
		ret = ivshmem_chan_opts_set_ring_size(d.opts, 4096);
	if (!ret)
		ret = ivshmem_chan_opts_set_timeout(d.opts, TIMEOUT_MS);
	if (ret)
		return die(&d, "set-up", ret);

	ret = play(&d);
	if (!ret)
		say(&d, "done");
	for (enum part p = HOST; p < NPARTS; p++) {
		ivshmem_chan_close(d.in[p]);
		ivshmem_chan_close(d.out[p]);
	}
	ivshmem_chan_opts_free(d.opts);
	if (steps)
		ivshmem_unmap(steps, STEP_PAGE);
	ivshmem_dev_info_free(d.info);
	ivshmem_close(d.dev);
	return ret;
}
