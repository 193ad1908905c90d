// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-ctl: inspect and drive ivshmem devices from a guest, or take part
 * as a host peer of an ivshmem-server (--server).
 *
 * Exit status: 0 success, 1 failure, 2 bad usage, 3 timed out.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libivshmem.h"
#include "../common/number.h"

#define EXIT_USAGE	2
#define EXIT_TIMEOUT	3

/* Options shared by every subcommand. */
struct ctl {
	const char *device;	/* path, index or PCI address */
	const char *server;	/* host peer of this server socket instead */
	bool json;
};

struct subcommand {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct ctl *ctl, int argc, char **argv);
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

static bool parse_u64(const char *s, uint64_t *out)
{
	return ivs_parse_size(s, out) == 0;
}

static bool parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int open_device(struct ctl *ctl, struct ivshmem **dev)
{
	const char *d = ctl->device ? ctl->device : "0";
	long index;
	int ret;

	if (ctl->server)
		ret = ivshmem_open_server(ctl->server, dev);
	else if (strchr(d, '/'))
		ret = ivshmem_open(d, dev);
	else if (parse_int(d, 0, INT32_MAX, &index))
		ret = ivshmem_open_index((unsigned int)index, dev);
	else
		ret = ivshmem_open_pci(d, dev);
	if (ret) {
		fprintf(stderr, "ivshmem-ctl: cannot open %s: %s\n",
			ctl->server ? ctl->server : d, strerror(-ret));
		return EXIT_FAILURE;
	}
	return 0;
}

/* JSON strings here are device names and PCI addresses: escape anyway. */
static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_desc_json(const struct ivshmem_dev_desc *d)
{
	printf("{\"index\":%" PRIu32 ",\"name\":", d->index);
	json_string(d->name);
	printf(",\"pci_addr\":");
	json_string(d->pci_addr);
	printf(",\"revision\":%" PRIu32 ",\"irq_mode\":\"%s\",\"size\":%" PRIu64
	       ",\"peer_id\":%" PRId32 ",\"vectors\":%" PRIu32 ",\"ready\":%s"
	       ",\"doorbells_sent\":%" PRIu64 ",\"interrupts\":[",
	       d->revision, ivshmem_irq_mode_name(d->irq_mode), d->size, d->peer_id,
	       d->vectors, d->ready ? "true" : "false", d->doorbells_sent);
	for (uint32_t v = 0; v < d->vectors && v < IVSHMEM_MAX_VECTORS; v++)
		printf("%s%" PRIu64, v ? "," : "", d->irq_counts[v]);
	printf("]}");
}

static int cmd_list(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem_dev_desc *descs;
	size_t n;
	int ret;

	(void)argv;
	if (argc > 1)
		return usage_error("list takes no arguments%s", "");
	ret = ivshmem_list(&descs, &n);
	if (ret)
		return fail("cannot list devices", ret);
	if (ctl->json) {
		putchar('[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar(',');
			print_desc_json(&descs[i]);
		}
		printf("]\n");
	} else {
		printf("%-10s %-13s %3s %-5s %10s %7s %7s %s\n", "DEVICE", "PCI", "REV",
		       "IRQ", "SIZE", "PEER", "VECTORS", "READY");
		for (size_t i = 0; i < n; i++)
			printf("%-10s %-13s %3" PRIu32 " %-5s %9" PRIu64 "M %7" PRId32
			       " %7" PRIu32 " %s\n", descs[i].name, descs[i].pci_addr,
			       descs[i].revision, ivshmem_irq_mode_name(descs[i].irq_mode),
			       descs[i].size >> 20, descs[i].peer_id, descs[i].vectors,
			       descs[i].ready ? "yes" : "no");
	}
	free(descs);
	return 0;
}

static int cmd_info(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem_dev_info info;
	struct ivshmem *dev;
	int ret;

	(void)argv;
	if (argc > 1)
		return usage_error("info takes no arguments%s", "");
	ret = open_device(ctl, &dev);
	if (ret)
		return ret;
	ret = ivshmem_info(dev, &info);
	ivshmem_close(dev);
	if (ret)
		return fail("info", ret);
	if (ctl->json) {
		printf("{\"host_peer\":%s,\"index\":%" PRId32 ",\"size\":%" PRIu64
		       ",\"peer_id\":%" PRId32 ",\"vectors\":%" PRIu32 ",\"irq_mode\":\"%s\""
		       ",\"revision\":%" PRIu32 ",\"ready\":%s,\"doorbell\":%s}\n",
		       info.host_peer ? "true" : "false", info.index, info.size, info.peer_id,
		       info.vectors, ivshmem_irq_mode_name(info.irq_mode), info.revision,
		       info.ready ? "true" : "false", info.doorbell ? "true" : "false");
	} else {
		printf("kind:      %s\n", info.host_peer ? "host peer" : "guest device");
		if (!info.host_peer)
			printf("device:    /dev/ivshmem%" PRId32 "\n", info.index);
		printf("size:      %" PRIu64 " bytes\n", info.size);
		printf("peer id:   %" PRId32 "\n", info.peer_id);
		printf("vectors:   %" PRIu32 "\n", info.vectors);
		printf("irq mode:  %s\n", ivshmem_irq_mode_name(info.irq_mode));
		printf("revision:  %" PRIu32 "\n", info.revision);
		printf("ready:     %s\n", info.ready ? "yes" : "no");
	}
	return 0;
}

static int cmd_ring(struct ctl *ctl, int argc, char **argv)
{
	struct ivshmem *dev;
	long peer, vector;
	int ret;

	if (argc != 3)
		return usage_error("ring needs PEER and VECTOR%s", "");
	if (!parse_int(argv[1], 0, IVSHMEM_MAX_PEER_ID, &peer))
		return usage_error("bad peer ID '%s' (0..65535)", argv[1]);
	if (!parse_int(argv[2], 0, IVSHMEM_MAX_VECTORS - 1, &vector))
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
		if (opt != 't' || !parse_int(optarg, -1, INT32_MAX, &timeout))
			return usage_error("bad wait option%s", "");
	}
	if (optind == argc)
		return usage_error("wait needs at least one VECTOR%s", "");
	for (int i = optind; i < argc; i++) {
		if (!parse_int(argv[i], 0, IVSHMEM_MAX_VECTORS - 1, &v))
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
	struct ivshmem_event ev;
	long count = -1, timeout = -1;
	int opt, ret;
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+n:t:", opts, NULL)) != -1) {
		if (!((opt == 'n' && parse_int(optarg, 1, INT32_MAX, &count)) ||
		      (opt == 't' && parse_int(optarg, -1, INT32_MAX, &timeout))))
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
		if (ctl->json) {
			printf("{\"event\":\"%s\",\"device\":", ivshmem_event_name(ev.type));
			print_desc_json(&ev.dev);
			printf("}\n");
		} else {
			printf("%-8s %s %s peer %" PRId32 "\n", ivshmem_event_name(ev.type),
			       ev.dev.name, ev.dev.pci_addr, ev.dev.peer_id);
		}
		fflush(stdout);
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

static int map_range(struct ctl *ctl, struct range *r, int prot)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start = r->offset & ~(page - 1);
	struct ivshmem_dev_info info;
	int ret;

	ret = open_device(ctl, &r->dev);
	if (ret)
		return ret;
	ret = ivshmem_info(r->dev, &info);
	if (!ret && (r->offset > info.size || r->length > info.size - r->offset))
		ret = -EINVAL;
	r->maplen = (size_t)(r->offset + r->length - start);
	if (!ret)
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
	if (argc != 3 || !parse_u64(argv[1], &r->offset) || !parse_u64(argv[2], &r->length) ||
	    !r->length)
		return usage_error("needs OFFSET and LENGTH (suffixes K, M, G)%s", "");
	return map_range(ctl, r, PROT_READ);
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

static int cmd_write(struct ctl *ctl, int argc, char **argv)
{
	uint64_t offset, length = 0, fill = 0;
	bool use_fill = false;
	size_t got = 0, n;
	struct range r;
	uint8_t *buf;
	int opt, ret;
	static const struct option opts[] = {
		{ "fill", required_argument, NULL, 'f' },
		{ "length", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+f:l:", opts, NULL)) != -1) {
		if (opt == 'f' && parse_u64(optarg, &fill) && fill <= 0xff)
			use_fill = true;
		else if (!(opt == 'l' && parse_u64(optarg, &length)))
			return usage_error("bad write option%s", "");
	}
	if (optind != argc - 1 || !parse_u64(argv[optind], &offset))
		return usage_error("write needs OFFSET%s", "");
	if (use_fill && !length)
		return usage_error("--fill needs --length%s", "");

	if (use_fill) {
		buf = malloc(length ? length : 1);
		if (buf)
			memset(buf, (int)fill, length);
	} else {
		/* All of stdin (up to --length), then one copy into the memory. */
		size_t cap = length ? length : 65536;

		buf = malloc(cap);
		while (buf && (n = fread(buf + got, 1, cap - got, stdin)) > 0) {
			got += n;
			if (got == cap && !length) {
				uint8_t *grown = realloc(buf, cap * 2);

				if (!grown) {
					free(buf);
					buf = NULL;
					break;
				}
				buf = grown;
				cap *= 2;
			}
			if (length && got == length)
				break;
		}
		length = got;
	}
	if (!buf)
		return fail("write", -ENOMEM);
	if (!length) {
		free(buf);
		return 0;
	}
	r = (struct range){ .offset = offset, .length = length };
	ret = map_range(ctl, &r, PROT_READ | PROT_WRITE);
	if (!ret) {
		memcpy(r.data, buf, (size_t)length);
		unmap_range(&r);
	}
	free(buf);
	return ret;
}

static int cmd_reset_stats(struct ctl *ctl, int argc, char **argv)
{
	long index;
	int ret;

	(void)ctl;
	if (argc != 2 || !parse_int(argv[1], 0, INT32_MAX, &index))
		return usage_error("reset-stats needs a device INDEX%s", "");
	ret = ivshmem_reset_stats((unsigned int)index);
	return ret ? fail("reset-stats", ret) : 0;
}

static const struct subcommand subcommands[] = {
	{ "list", "", "list the guest's devices (netlink)", cmd_list },
	{ "info", "", "describe the device or host peer", cmd_info },
	{ "ring", "PEER VECTOR", "interrupt VECTOR of peer PEER", cmd_ring },
	{ "wait", "[-t MS] VECTOR...", "wait for one of own VECTORs; print those that fired",
	  cmd_wait },
	{ "monitor", "[-n COUNT] [-t MS]", "print devices being added, ready and removed",
	  cmd_monitor },
	{ "dump", "OFFSET LENGTH", "hex dump of the shared memory", cmd_dump },
	{ "read", "OFFSET LENGTH", "copy the shared memory to stdout", cmd_read },
	{ "write", "[-f BYTE -l LENGTH] OFFSET", "copy stdin (or a fill byte) to the memory",
	  cmd_write },
	{ "reset-stats", "INDEX", "zero a device's counters (needs CAP_NET_ADMIN)",
	  cmd_reset_stats },
	{ NULL, NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ivshmem-ctl [OPTION]... COMMAND [ARG]...\n"
		"Inspect and drive QEMU ivshmem devices.\n\n"
		"Options:\n"
		"  -d, --device DEV      /dev path, index or PCI address (default 0)\n"
		"  -s, --server SOCKET   act as a host peer of this ivshmem-server\n"
		"  -j, --json            machine-readable output (list, info, wait, monitor)\n"
		"  -h, --help            show this help, or COMMAND --help\n\n"
		"Commands:\n");
	for (const struct subcommand *c = subcommands; c->name; c++)
		fprintf(out, "  %-12s %-26s %s\n", c->name, c->args, c->help);
	fprintf(out, "\nExit status: 0 success, 1 failure, 2 bad usage, 3 timed out.\n");
}

int main(int argc, char **argv)
{
	struct ctl ctl = { 0 };
	int opt;
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "server", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "+d:s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': ctl.device = optarg; break;
		case 's': ctl.server = optarg; break;
		case 'j': ctl.json = true; break;
		case 'h': usage(stdout); return 0;
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
				return 0;
			}
			if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0) {
				ctl.json = true;
				memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
				argc--;
				i--;
			}
		}
		optind = 0;	/* restart getopt for the subcommand's options */
		return c->run(&ctl, argc, argv);
	}
	return usage_error("unknown command '%s'", argv[optind]);
}
