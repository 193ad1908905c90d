// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-ctl: inspect and drive ivshmem devices from a guest, or take part
 * as a host peer of an ivshmem-server (--server).
 *
 * Exit status: 0 success, 1 failure (including a failed write to stdout),
 * 2 bad usage, 3 timed out.  Numbers are decimal or 0x hexadecimal.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libivshmem.h"
#include "../common/json.h"
#include "../common/number.h"

#define EXIT_USAGE	2
#define EXIT_TIMEOUT	3

/* Options shared by every subcommand. */
struct ctl {
	const char *device;	/* path, index or PCI address */
	const char *server;	/* host peer of this server socket instead */
	int vectors;		/* the server's vectors per peer, -1 to detect */
	bool json;
};

struct subcommand {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct ctl *ctl, int argc, char **argv);
	bool json;		/* has a JSON output */
};

static const struct subcommand subcommands[];

static int fail(const char *what, int err)
{
	fprintf(stderr, "ivshmem-ctl: %s: %s\n", what, strerror(-err));
	return err == -ETIMEDOUT ? EXIT_TIMEOUT : EXIT_FAILURE;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ivshmem-ctl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'ivshmem-ctl --help'.\n");
	return EXIT_USAGE;
}

/* A size or offset: a number with an optional K, M, G or T suffix. */
static bool parse_size(const char *s, uint64_t *out)
{
	return ivs_parse_size(s, out) == 0;
}

/* A number from 0 to @max; timeouts also take -1 (forever) when @minus_one. */
static bool parse_int(const char *s, uint64_t max, bool minus_one, long *out)
{
	uint64_t v;

	if (minus_one && !strcmp(s, "-1")) {
		*out = -1;
		return true;
	}
	if (ivs_parse_u64(s, max, &v))
		return false;
	*out = (long)v;
	return true;
}

static int open_device(struct ctl *ctl, struct ivshmem **dev)
{
	const char *d = ctl->device ? ctl->device : "0";
	struct ivshmem_server_opts *opts;
	long index;
	int ret;

	if (ctl->server) {
		ret = ivshmem_server_opts_new(&opts);
		if (!ret && ctl->vectors >= 0)
			ret = ivshmem_server_opts_set_vectors(opts, (unsigned int)ctl->vectors);
		if (!ret)
			ret = ivshmem_open_server(ctl->server, opts, dev);
		ivshmem_server_opts_free(opts);
	} else if (strchr(d, '/')) {
		ret = ivshmem_open(d, dev);
	} else if (parse_int(d, INT32_MAX, false, &index)) {
		ret = ivshmem_open_index((unsigned int)index, dev);
	}
	else {
		ret = ivshmem_open_pci(d, dev);
	}
	if (ret) {
		fprintf(stderr, "ivshmem-ctl: cannot open %s: %s\n",
			ctl->server ? ctl->server : d, strerror(-ret));
		return EXIT_FAILURE;
	}
	return 0;
}

static void print_desc_json(const struct ivshmem_dev_desc *d)
{
	uint32_t vectors = ivshmem_dev_desc_get_vectors(d);

	printf("{\"index\":%" PRIu32 ",\"name\":", ivshmem_dev_desc_get_index(d));
	ivs_json_string(stdout, ivshmem_dev_desc_get_name(d));
	printf(",\"pci_addr\":");
	ivs_json_string(stdout, ivshmem_dev_desc_get_pci_addr(d));
	printf(",\"revision\":%" PRIu32 ",\"irq_mode\":\"%s\",\"size\":%" PRIu64
	       ",\"peer_id\":%" PRId32 ",\"vectors\":%" PRIu32 ",\"ready\":%s"
	       ",\"doorbells_sent\":%" PRIu64 ",\"interrupts\":[",
	       ivshmem_dev_desc_get_revision(d),
	       ivshmem_irq_mode_name(ivshmem_dev_desc_get_irq_mode(d)),
	       ivshmem_dev_desc_get_size(d), ivshmem_dev_desc_get_peer_id(d), vectors,
	       ivshmem_dev_desc_is_ready(d) ? "true" : "false",
	       ivshmem_dev_desc_get_doorbells_sent(d));
	for (uint32_t v = 0; v < vectors; v++)
		printf("%s%" PRIu64, v ? "," : "", ivshmem_dev_desc_get_irq_count(d, v));
	printf("]}");
}

static int cmd_list(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem_dev_list *list;
	const struct ivshmem_dev_desc *d;
	size_t n;
	int ret;

	(void)argv;
	if (argc > 1)
		return usage_error("list takes no arguments%s", "");
	ret = ivshmem_list(&list);
	if (ret)
		return fail("cannot list devices", ret);
	n = ivshmem_dev_list_count(list);
	if (ctl->json) {
		putchar('[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			print_desc_json(ivshmem_dev_list_get(list, i));
		}
		printf("]\n");
	} else {
		printf("%-10s %-13s %3s %-5s %10s %7s %7s %s\n", "DEVICE", "PCI", "REV",
		       "IRQ", "SIZE", "PEER", "VECTORS", "READY");
		for (size_t i = 0; i < n; i++) {
			d = ivshmem_dev_list_get(list, i);
			printf("%-10s %-13s %3" PRIu32 " %-5s %9" PRIu64 "M %7" PRId32
			       " %7" PRIu32 " %s\n", ivshmem_dev_desc_get_name(d),
			       ivshmem_dev_desc_get_pci_addr(d), ivshmem_dev_desc_get_revision(d),
			       ivshmem_irq_mode_name(ivshmem_dev_desc_get_irq_mode(d)),
			       ivshmem_dev_desc_get_size(d) >> 20, ivshmem_dev_desc_get_peer_id(d),
			       ivshmem_dev_desc_get_vectors(d),
			       ivshmem_dev_desc_is_ready(d) ? "yes" : "no");
		}
	}
	ivshmem_dev_list_free(list);
	return 0;
}

static int cmd_info(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	bool host_peer;
	int ret;

	(void)argv;
	if (argc > 1)
		return usage_error("info takes no arguments%s", "");
	ret = open_device(ctl, &dev);
	if (ret)
		return ret;
	ret = ivshmem_get_info(dev, &info);
	ivshmem_close(dev);
	if (ret)
		return fail("info", ret);
	host_peer = ivshmem_dev_info_is_host_peer(info);
	if (ctl->json) {
		printf("{\"host_peer\":%s,\"index\":%" PRId32 ",\"size\":%" PRIu64
		       ",\"peer_id\":%" PRId32 ",\"vectors\":%" PRIu32 ",\"irq_mode\":\"%s\""
		       ",\"revision\":%" PRIu32 ",\"ready\":%s,\"doorbell\":%s}\n",
		       host_peer ? "true" : "false", ivshmem_dev_info_get_index(info),
		       ivshmem_dev_info_get_size(info), ivshmem_dev_info_get_peer_id(info),
		       ivshmem_dev_info_get_vectors(info),
		       ivshmem_irq_mode_name(ivshmem_dev_info_get_irq_mode(info)),
		       ivshmem_dev_info_get_revision(info),
		       ivshmem_dev_info_is_ready(info) ? "true" : "false",
		       ivshmem_dev_info_has_doorbell(info) ? "true" : "false");
	} else {
		printf("kind:      %s\n", host_peer ? "host peer" : "guest device");
		if (!host_peer)
			printf("device:    /dev/ivshmem%" PRId32 "\n",
			       ivshmem_dev_info_get_index(info));
		printf("size:      %" PRIu64 " bytes\n", ivshmem_dev_info_get_size(info));
		printf("peer id:   %" PRId32 "\n", ivshmem_dev_info_get_peer_id(info));
		printf("vectors:   %" PRIu32 "\n", ivshmem_dev_info_get_vectors(info));
		printf("irq mode:  %s\n",
		       ivshmem_irq_mode_name(ivshmem_dev_info_get_irq_mode(info)));
		printf("revision:  %" PRIu32 "\n", ivshmem_dev_info_get_revision(info));
		printf("ready:     %s\n", ivshmem_dev_info_is_ready(info) ? "yes" : "no");
	}
	ivshmem_dev_info_free(info);
	return 0;
}

static int cmd_ring(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem *dev;
	long peer, vector;
	int ret;

	if (argc != 3)
		return usage_error("ring needs PEER and VECTOR%s", "");
	if (!parse_int(argv[1], IVSHMEM_MAX_PEER_ID, false, &peer))
		return usage_error("bad peer ID '%s' (0..65535)", argv[1]);
	if (!parse_int(argv[2], IVSHMEM_MAX_VECTORS - 1, false, &vector))
		return usage_error("bad vector '%s' (0..255)", argv[2]);
	ret = open_device(ctl, &dev);
	if (ret)
		return ret;
	ret = ivshmem_ring(dev, (unsigned int)peer, (unsigned int)vector);
	ivshmem_close(dev);
	return ret ? fail("ring", ret) : 0;
}

static int cmd_wait(struct ctl *ctl, int argc, char **argv)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 };
	long timeout = -1, v;
	struct ivshmem *dev;
	int opt, ret;
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+t:", opts, NULL)) != -1) {
		if (opt != 't' || !parse_int(optarg, INT32_MAX, true, &timeout))
			return usage_error("bad wait option%s", "");
	}
	if (optind == argc)
		return usage_error("wait needs at least one VECTOR%s", "");
	for (int i = optind; i < argc; i++) {
		if (!parse_int(argv[i], IVSHMEM_MAX_VECTORS - 1, false, &v))
			return usage_error("bad vector '%s' (0..255)", argv[i]);
		set[v / 64] |= 1ULL << (v % 64);
	}
	ret = open_device(ctl, &dev);
	if (ret)
		return ret;
	ret = ivshmem_wait(dev, set, (int)timeout);
	ivshmem_close(dev);
	if (ret)
		return fail("wait", ret);
	if (ctl->json)
		putchar('[');
	for (v = 0, opt = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		if (set[v / 64] & (1ULL << (v % 64)))
			printf("%s%ld", opt++ ? (ctl->json ? "," : " ") : "", v);
	}
	printf(ctl->json ? "]\n" : "\n");
	return 0;
}

static int cmd_monitor(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem_monitor *mon;
	const struct ivshmem_dev_desc *d;
	struct ivshmem_event *ev;
	long count = -1, timeout = -1;
	int opt, ret;
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+n:t:", opts, NULL)) != -1) {
		if (!((opt == 'n' && parse_int(optarg, INT32_MAX, false, &count) && count) ||
		      (opt == 't' && parse_int(optarg, INT32_MAX, true, &timeout))))
			return usage_error("bad monitor option%s", "");
	}
	if (optind != argc)
		return usage_error("monitor takes no arguments%s", "");
	ret = ivshmem_monitor_open(&mon);
	if (ret)
		return fail("cannot monitor devices", ret);
	/* Tell a script that events from now on will be seen. */
	fprintf(stderr, "monitoring ivshmem devices\n");
	for (long seen = 0; count < 0 || seen < count; seen++) {
		ret = ivshmem_monitor_read(mon, &ev, (int)timeout);
		if (ret)
			break;
		d = ivshmem_event_get_desc(ev);
		if (ctl->json) {
			printf("{\"event\":\"%s\",\"device\":",
			       ivshmem_event_name(ivshmem_event_get_type(ev)));
			print_desc_json(d);
			printf("}\n");
		} else {
			printf("%-8s %s %s peer %" PRId32 "\n",
			       ivshmem_event_name(ivshmem_event_get_type(ev)),
			       ivshmem_dev_desc_get_name(d), ivshmem_dev_desc_get_pci_addr(d),
			       ivshmem_dev_desc_get_peer_id(d));
		}
		ivshmem_event_free(ev);
		if (fflush(stdout)) {
			ret = -errno;
			break;
		}
	}
	ivshmem_monitor_close(mon);
	return ret ? fail("monitor", ret) : 0;
}

/* A mapped range [offset, offset + length) of the shared memory. */
struct range {
	struct ivshmem *dev;
	uint64_t offset, length;
	uint8_t *data;		/* at offset */
	void *base;		/* the page-aligned mapping */
	size_t maplen;
};

/* Open the device and learn its size; the range is checked against it later. */
static int open_range(struct ctl *ctl, struct range *r, uint64_t *size)
{
	struct ivshmem_dev_info *info;
	int ret;

	ret = open_device(ctl, &r->dev);
	if (ret)
		return ret;
	ret = ivshmem_get_info(r->dev, &info);
	if (ret) {
		ivshmem_close(r->dev);
		return fail("info", ret);
	}
	*size = ivshmem_dev_info_get_size(info);
	ivshmem_dev_info_free(info);
	return 0;
}

static int past_end(struct range *r, uint64_t size)
{
	fprintf(stderr, "ivshmem-ctl: %" PRIu64 " bytes at %" PRIu64 " go past the end of the "
		"shared memory (%" PRIu64 " bytes)\n", r->length, r->offset, size);
	ivshmem_close(r->dev);
	return EXIT_FAILURE;
}

/* Map [r->offset, r->offset + r->length), which must lie within @size bytes. */
static int map_range(struct range *r, uint64_t size, int prot)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start = r->offset & ~(page - 1);
	int ret;

	if (r->offset >= size || r->length > size - r->offset)
		return past_end(r, size);
	r->maplen = (size_t)(r->offset + r->length - start);
	ret = ivshmem_map(r->dev, start, r->maplen, prot, &r->base);
	if (ret) {
		ivshmem_close(r->dev);
		return fail("cannot map range", ret);
	}
	r->data = (uint8_t *)r->base + (r->offset - start);
	return 0;
}

static void unmap_range(struct range *r)
{
	ivshmem_unmap(r->base, r->maplen);
	ivshmem_close(r->dev);
}

/* "OFFSET LENGTH" arguments, mapped for reading. */
static int map_range_args(struct ctl *ctl, int argc, char **argv, struct range *r)
{
	uint64_t size;
	int ret;

	if (argc != 3 || !parse_size(argv[1], &r->offset) || !parse_size(argv[2], &r->length) ||
	    !r->length)
		return usage_error("needs OFFSET and LENGTH (suffixes K, M, G, T)%s", "");
	ret = open_range(ctl, r, &size);
	return ret ? ret : map_range(r, size, PROT_READ);
}

static int cmd_dump(struct ctl *ctl, int argc, char **argv)
{
	struct range r;
	int ret;

	ret = map_range_args(ctl, argc, argv, &r);
	if (ret)
		return ret;
	for (uint64_t i = 0; i < r.length; i += 16) {
		printf("%08" PRIx64 "  ", r.offset + i);
		for (uint64_t j = i; j < i + 16; j++)
			printf(j < r.length ? "%02x " : "   ", j < r.length ? r.data[j] : 0);
		printf(" |");
		for (uint64_t j = i; j < i + 16 && j < r.length; j++)
			putchar(isprint(r.data[j]) ? r.data[j] : '.');
		printf("|\n");
	}
	unmap_range(&r);
	return 0;
}

static int cmd_read(struct ctl *ctl, int argc, char **argv)
{
	struct range r;
	int ret;

	ret = map_range_args(ctl, argc, argv, &r);
	if (ret)
		return ret;
	ret = fwrite(r.data, 1, (size_t)r.length, stdout) == r.length ? 0 : EXIT_FAILURE;
	unmap_range(&r);
	return ret;
}

/* Read stdin straight into @buf, at most @len bytes; the count, or -errno. */
static int64_t read_stdin(uint8_t *buf, uint64_t len)
{
	uint64_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(STDIN_FILENO, buf + got, len - got > (1 << 20) ? (1 << 20) : len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		got += (uint64_t)n;
	}
	return (int64_t)got;
}

static int cmd_write(struct ctl *ctl, int argc, char **argv)
{
	uint64_t length = 0, fill = 0, size;
	bool use_fill = false, use_length = false;
	struct range r = { 0 };
	int64_t got;
	uint8_t more;
	int opt, ret;
	static const struct option opts[] = {
		{ "fill", required_argument, NULL, 'f' },
		{ "length", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+f:l:", opts, NULL)) != -1) {
		if (opt == 'f' && !ivs_parse_u64(optarg, 0xff, &fill))
			use_fill = true;
		else if (opt == 'l' && parse_size(optarg, &length))
			use_length = true;
		else
			return usage_error("bad write option%s", "");
	}
	if (optind != argc - 1 || !parse_size(argv[optind], &r.offset))
		return usage_error("write needs OFFSET%s", "");
	if (use_fill && !use_length)
		return usage_error("--fill needs --length%s", "");

	/* The device first: it bounds what is read, and nothing is buffered. */
	ret = open_range(ctl, &r, &size);
	if (ret)
		return ret;
	r.length = use_length ? length : r.offset < size ? size - r.offset : 0;
	if (r.offset >= size || r.length > size - r.offset)
		return past_end(&r, size);
	if (!r.length) {
		ivshmem_close(r.dev);
		return 0;
	}
	ret = map_range(&r, size, PROT_READ | PROT_WRITE);
	if (ret)
		return ret;
	if (use_fill) {
		memset(r.data, (int)fill, (size_t)r.length);
	} else {
		got = read_stdin(r.data, r.length);
		if (got < 0) {
			ret = fail("reading stdin", (int)got);
		} else if (!use_length && (uint64_t)got == r.length &&
			   read_stdin(&more, 1) != 0) {
			/* What fitted is written; the rest has no room. */
			fprintf(stderr, "ivshmem-ctl: input longer than the %" PRIu64 " bytes from "
				"%" PRIu64 " to the end of the shared memory\n", r.length, r.offset);
			ret = EXIT_FAILURE;
		}
	}
	unmap_range(&r);
	return ret;
}

static int cmd_reset_stats(struct ctl *ctl, int argc, char **argv)
{
	long index;
	int ret;

	(void)ctl;
	if (argc != 2 || !parse_int(argv[1], INT32_MAX, false, &index))
		return usage_error("reset-stats needs a device INDEX%s", "");
	ret = ivshmem_reset_stats((unsigned int)index);
	return ret ? fail("reset-stats", ret) : 0;
}

/* ---- channels ---- */

static void print_chan_json(const struct ivshmem_chan_info *ci)
{
	printf("{\"name\":");
	ivs_json_string(stdout, ivshmem_chan_info_get_name(ci));
	printf(",\"state\":\"%s\",\"offset\":%" PRIu64 ",\"size\":%" PRIu64
	       ",\"producer\":%" PRId32 ",\"consumer\":%" PRId32 ",\"valid\":%s"
	       ",\"generation\":%" PRIu32 ",\"ring_size\":%" PRIu32 ",\"max_message\":%" PRIu32
	       ",\"used\":%" PRIu64
	       ",\"messages_sent\":%" PRIu64 ",\"messages_received\":%" PRIu64
	       ",\"notifications_sent\":%" PRIu64 ",\"notifications_suppressed\":%" PRIu64
	       ",\"wakeups\":%" PRIu64 "}",
	       ivshmem_chan_state_name(ivshmem_chan_info_get_state(ci)),
	       ivshmem_chan_info_get_offset(ci), ivshmem_chan_info_get_size(ci),
	       ivshmem_chan_info_get_producer(ci), ivshmem_chan_info_get_consumer(ci),
	       ivshmem_chan_info_is_valid(ci) ? "true" : "false",
	       ivshmem_chan_info_get_generation(ci), ivshmem_chan_info_get_ring_size(ci),
	       ivshmem_chan_info_get_max_msg(ci),
	       ivshmem_chan_info_get_used(ci), ivshmem_chan_info_get_msgs_sent(ci),
	       ivshmem_chan_info_get_msgs_received(ci), ivshmem_chan_info_get_notify_sent(ci),
	       ivshmem_chan_info_get_notify_suppressed(ci), ivshmem_chan_info_get_wakeups(ci));
}

static void print_chan_row(const struct ivshmem_chan_info *ci)
{
	char name[32];

	/* The name is what any peer wrote: no control bytes to the terminal. */
	snprintf(name, sizeof(name), "%s", ivshmem_chan_info_get_name(ci));
	for (char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	printf("%-31s %-8s %5" PRId32 " %5" PRId32 " %9" PRIu32 " %9" PRIu64 " %11" PRIu64
	       " %11" PRIu64 " %9" PRIu64 " %10" PRIu64 "\n", name,
	       ivshmem_chan_info_is_valid(ci) ?
	       ivshmem_chan_state_name(ivshmem_chan_info_get_state(ci)) : "invalid",
	       ivshmem_chan_info_get_producer(ci), ivshmem_chan_info_get_consumer(ci),
	       ivshmem_chan_info_get_ring_size(ci), ivshmem_chan_info_get_used(ci),
	       ivshmem_chan_info_get_msgs_sent(ci), ivshmem_chan_info_get_msgs_received(ci),
	       ivshmem_chan_info_get_notify_sent(ci),
	       ivshmem_chan_info_get_notify_suppressed(ci));
}

static void print_chan_header(void)
{
	printf("%-31s %-8s %5s %5s %9s %9s %11s %11s %9s %10s\n", "NAME", "STATE", "PROD",
	       "CONS", "RING", "USED", "SENT", "RECEIVED", "DOORBELLS", "SUPPRESSED");
}

/* chan list / chan stat NAME: the directory, read without joining a channel. */
static int chan_show(struct ctl *ctl, struct ivshmem *dev, uint64_t dir, const char *name)
{
	const struct ivshmem_chan_info *ci;
	struct ivshmem_chan_list *list;
	bool found = false;
	size_t n;
	int ret;

	ret = ivshmem_chan_list(dev, dir, &list);
	if (ret)
		return fail("channel directory", ret);
	n = ivshmem_chan_list_count(list);
	if (!name && ctl->json)
		putchar('[');
	else if (!ctl->json)
		print_chan_header();
	for (size_t i = 0; i < n; i++) {
		ci = ivshmem_chan_list_get(list, i);
		if (name && strcmp(name, ivshmem_chan_info_get_name(ci)) != 0)
			continue;
		if (ctl->json) {
			if (!name && found)
				putchar(',');
			print_chan_json(ci);
		} else {
			print_chan_row(ci);
		}
		found = true;
		if (name)
			break;
	}
	if (!name && ctl->json)
		printf("]\n");
	else if (ctl->json && found)
		putchar('\n');
	ivshmem_chan_list_free(list);
	if (name && !found) {
		fprintf(stderr, "ivshmem-ctl: no channel '%s'\n", name);
		return EXIT_FAILURE;
	}
	return 0;
}

/* chan send NAME: each line of stdin a message, or with -w all of it as one. */
static int chan_send(struct ctl *ctl, struct ivshmem_chan *ch, bool whole, int timeout_ms)
{
	size_t cap = 0, max = ivshmem_chan_max_msg(ch);
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char *line = NULL;
	uint64_t sent = 0;
	ssize_t n;
	int ret = 0;

	if (whole) {
		/* Straight into the ring when a record takes it, else in parts. */
		bool parts = max > ivshmem_chan_max_reserve(ch);
		void *buf = NULL;
		int64_t got;

		ret = parts ? (buf = malloc(max)) ? 0 : -ENOMEM :
			      ivshmem_chan_reserve(ch, max, &buf, timeout_ms);
		if (ret)
			return fail("send", ret);
		/* One byte more tells input that does not fit. */
		got = read_stdin(buf, max);
		if (got >= 0 && (uint64_t)got == max && read_stdin((uint8_t *)&n, 1) > 0) {
			fprintf(stderr, "ivshmem-ctl: input longer than the largest message (%zu "
				"bytes)\n", max);
			if (parts)
				free(buf);
			return EXIT_FAILURE;
		}
		if (got < 0) {
			if (parts)
				free(buf);
			return fail("reading stdin", (int)got);
		}
		ret = parts ? ivshmem_chan_send(ch, buf, (size_t)got, 0, timeout_ms) :
			      ivshmem_chan_commit(ch, (size_t)got, 0);
		if (parts)
			free(buf);
		sent = 1;
	} else {
		while ((n = getline(&line, &cap, stdin)) >= 0) {
			if (n && line[n - 1] == '\n')
				n--;
			/* A batch: published when stdin has nothing more at once (a
			 * line still in stdio's buffer only costs an early flush). */
			ret = ivshmem_chan_send(ch, line, (size_t)n, IVSHMEM_CHAN_MORE, timeout_ms);
			if (ret)
				break;
			sent++;
			if (poll(&pfd, 1, 0) != 1) {
				ret = ivshmem_chan_flush(ch);
				if (ret)
					break;
			}
		}
		free(line);
		if (!ret)
			ret = ivshmem_chan_flush(ch);
	}
	if (ret == -EMSGSIZE) {
		fprintf(stderr, "ivshmem-ctl: message %" PRIu64 " longer than the largest (%zu "
			"bytes)\n", sent + 1, max);
		return EXIT_FAILURE;
	}
	if (ret)
		return fail("send", ret);
	if (ctl->json)
		printf("{\"sent\":%" PRIu64 "}\n", sent);
	return 0;
}

/* chan recv NAME: COUNT messages (0: until the timeout), each on a line. */
static int chan_recv(struct ctl *ctl, struct ivshmem_chan *ch, long count, int timeout_ms)
{
	for (long i = 0; !count || i < count; i++) {
		const void *data;
		size_t len;
		int ret;

		ret = ivshmem_chan_peek(ch, &data, &len, timeout_ms);
		/* Until the timeout, or the sender's hang-up. */
		if (!count && (ret == -EPIPE || (ret == -ETIMEDOUT && i)))
			return 0;
		if (ret)
			return fail("receive", ret);
		if (ctl->json) {
			char *text = malloc(len ? len : 1);

			if (!text)
				return fail("receive", -ENOMEM);
			/* Copied first: the other side could change it under us. */
			memcpy(text, data, len);
			printf("{\"length\":%zu,\"data\":", len);
			/* All of it: a NUL in a message is data, not its end. */
			ivs_json_mem(stdout, text, len);
			printf("}\n");
			free(text);
		} else {
			fwrite(data, 1, len, stdout);
			putchar('\n');
		}
		if (fflush(stdout))
			return EXIT_FAILURE;
		ret = ivshmem_chan_release(ch);
		if (ret)
			return fail("receive", ret);
	}
	return 0;
}

static int cmd_chan(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem_chan_opts *opts;
	const char *action = argc > 1 ? argv[1] : "";
	bool whole = false, force = false, attach, sending;
	uint64_t dir = 0, v;
	long timeout = -1, count = 1;
	struct ivshmem_chan *ch;
	struct ivshmem *dev;
	int opt, ret;
	static const struct option lopts[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "timeout", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ "whole", no_argument, NULL, 'w' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};

	if (strcmp(action, "list") != 0 && strcmp(action, "stat") != 0 &&
	    strcmp(action, "send") != 0 && strcmp(action, "recv") != 0 &&
	    strcmp(action, "delete") != 0)
		return usage_error("chan needs list, stat, send, recv or delete%s", "");
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "+D:t:c:wf", lopts, NULL)) != -1) {
		if (opt == 'D' && parse_size(optarg, &dir) && !(dir % 4096))
			continue;
		if (opt == 't' && parse_int(optarg, INT32_MAX, true, &timeout))
			continue;
		if (opt == 'c' && !ivs_parse_u64(optarg, INT32_MAX, &v)) {
			count = (long)v;
			continue;
		}
		if (opt == 'w') {
			whole = true;
			continue;
		}
		if (opt == 'f' && !strcmp(action, "delete")) {
			force = true;
			continue;
		}
		return usage_error("bad chan option%s", "");
	}
	attach = !strcmp(action, "send") || !strcmp(action, "recv");
	sending = !strcmp(action, "send");
	if (optind != argc - (strcmp(action, "list") != 0 ? 1 : 0))
		return usage_error("chan %s: wrong arguments", action);
	ret = open_device(ctl, &dev);
	if (ret)
		return ret;
	if (!strcmp(action, "delete")) {
		ret = ivshmem_chan_delete(dev, argv[optind], dir, force ? IVSHMEM_CHAN_FORCE : 0);
		ivshmem_close(dev);
		if (ret == -EBUSY)
			fprintf(stderr, "ivshmem-ctl: channel %s: a side is open (--force deletes "
				"it anyway)\n", argv[optind]);
		else if (ret)
			fprintf(stderr, "ivshmem-ctl: channel %s: %s\n", argv[optind], strerror(-ret));
		return ret ? EXIT_FAILURE : 0;
	}
	if (!attach) {
		ret = chan_show(ctl, dev, dir, strcmp(action, "list") != 0 ? argv[optind] : NULL);
		ivshmem_close(dev);
		return ret;
	}
	ret = ivshmem_chan_opts_new(&opts);
	if (!ret)
		ret = ivshmem_chan_opts_set_dir_offset(opts, dir);
	if (!ret)
		ret = ivshmem_chan_opts_set_timeout(opts, (int)timeout);
	/* Only the side asked for: the other one is left to whoever holds it. */
	if (!ret)
		ret = ivshmem_chan_attach_as(dev, argv[optind],
					     sending ? IVSHMEM_CHAN_SEND : IVSHMEM_CHAN_RECV, opts, &ch);
	ivshmem_chan_opts_free(opts);
	if (ret == -EPROTOTYPE) {
		fprintf(stderr, "ivshmem-ctl: channel %s: its free side %s\n", argv[optind],
			sending ? "receives" : "sends");
		ivshmem_close(dev);
		return EXIT_FAILURE;
	}
	if (ret) {
		fprintf(stderr, "ivshmem-ctl: channel %s: %s\n", argv[optind], strerror(-ret));
		ivshmem_close(dev);
		return ret == -ETIMEDOUT ? EXIT_TIMEOUT : EXIT_FAILURE;
	}
	if (sending) {
		ret = chan_send(ctl, ch, whole, (int)timeout);
	} else {
		ret = chan_recv(ctl, ch, count, (int)timeout);
	}
	ivshmem_chan_close(ch);
	ivshmem_close(dev);
	return ret;
}

static const struct subcommand subcommands[] = {
	{ "list", "", "list the guest's devices (netlink)", cmd_list, true },
	{ "info", "", "describe the device or host peer", cmd_info, true },
	{ "ring", "PEER VECTOR", "interrupt VECTOR of peer PEER", cmd_ring, false },
	{ "wait", "[-t MS] VECTOR...", "wait for one of own VECTORs; print those that fired",
	  cmd_wait, true },
	{ "monitor", "[-n COUNT] [-t MS]", "print devices being added, ready and removed",
	  cmd_monitor, true },
	{ "dump", "OFFSET LENGTH", "hex dump of the shared memory", cmd_dump, false },
	{ "read", "OFFSET LENGTH", "copy the shared memory to stdout", cmd_read, false },
	{ "write", "[-f BYTE] [-l LEN] OFFSET",
	  "copy stdin (or a fill byte) to the memory, up to its end", cmd_write, false },
	{ "reset-stats", "INDEX", "zero a device's counters (needs CAP_NET_ADMIN)",
	  cmd_reset_stats, false },
	{ "chan", "list|stat|send|recv ...", "message channels (see below)", cmd_chan, true },
	{ NULL, NULL, NULL, NULL, false },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ivshmem-ctl [OPTION]... COMMAND [ARG]...\n"
		"Inspect and drive QEMU ivshmem devices.\n\n"
		"Options:\n"
		"  -d, --device DEV      /dev path, index or PCI address (default 0)\n"
		"  -s, --server SOCKET   act as a host peer of this ivshmem-server\n"
		"  -n, --vectors N       the server's vectors per peer: joins at once\n"
		"                        (without it, joining detects them in 200 ms)\n"
		"  -j, --json            machine-readable output (list, info, wait, monitor,\n"
		"                        chan; refused by the other commands)\n"
		"  -h, --help            show this help, or COMMAND --help\n\n"
		"Commands:\n");
	for (const struct subcommand *c = subcommands; c->name; c++)
		fprintf(out, "  %-12s %-26s %s\n", c->name, c->args, c->help);
	fprintf(out, "\nChannels (libivshmem's, directory at offset 0 or -D OFFSET):\n"
		"  chan list                   every channel of the directory\n"
		"  chan stat NAME              one channel: fill, messages, doorbells\n"
		"  chan send [-w] [-t MS] NAME each line of stdin a message (-w: all of it)\n"
		"  chan recv [-c N] [-t MS] NAME  N messages (default 1, 0: until -t runs\n"
		"                              out or the sender hangs up) to stdout, each\n"
		"                              on a line\n"
		"  chan delete [-f] NAME       remove a channel (-f: even with a side open)\n"
		"send and recv take the channel's free side, attaching for -t MS (default\n"
		"forever).\n");
	fprintf(out, "\nNumbers are decimal or 0x hexadecimal; sizes and offsets take a K, M,\n"
		"G or T suffix.  Exit status: 0 success, 1 failure (also a failed write\n"
		"to stdout), 2 bad usage, 3 timed out.\n");
}

/* Whatever a command printed must have reached stdout. */
static int finish(int status)
{
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "ivshmem-ctl: write error on stdout: %s\n", strerror(errno));
		return status ? status : EXIT_FAILURE;
	}
	return status;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { .vectors = -1 };
	long vectors;
	int opt;
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "server", required_argument, NULL, 's' },
		{ "vectors", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+d:s:n:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': ctl.device = optarg; break;
		case 's': ctl.server = optarg; break;
		case 'n':
			if (!parse_int(optarg, IVSHMEM_MAX_VECTORS, false, &vectors))
				return usage_error("bad vector count '%s' (0..256)", optarg);
			ctl.vectors = (int)vectors;
			break;
		case 'j': ctl.json = true; break;
		case 'h': usage(stdout); return finish(0);
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (const struct subcommand *c = subcommands; c->name; c++) {
		if (strcmp(argv[optind], c->name) != 0)
			continue;
		argc -= optind;
		argv += optind;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
				printf("Usage: ivshmem-ctl [OPTION]... %s %s\n%s.\n", c->name,
				       c->args, c->help);
				return finish(0);
			}
			if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
				ctl.json = true;
				memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
				argc--;
				i--;
			}
		}
		if (ctl.json && !c->json)
			return usage_error("%s has no JSON output", c->name);
		optind = 0;	/* restart getopt for the subcommand's options */
		return finish(c->run(&ctl, argc, argv));
	}
	return usage_error("unknown command '%s'", argv[optind]);
}
