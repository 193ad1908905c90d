// SPDX-License-Identifier: GPL-2.0
/*
 * Host side of the shared-memory checks: fill or check the test pattern in
 * the file that backs a guest's ivshmem device.
 *
 * usage: pattern fill|check|words FILE OFFSET LENGTH SEED
 * "check" expects what a guest wrote: the pattern of ~SEED.  "words"
 * expects the 64-bit words a writer of reset_test leaves: word i of its
 * last pass SEED holds SEED << 32 | i.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../lib/pattern.h"

int main(int argc, char **argv)
{
	size_t off, len, bad;
	uint64_t seed;
	uint8_t *p;
	bool fill;
	int fd;

	if (argc != 6 || (strcmp(argv[1], "fill") != 0 && strcmp(argv[1], "check") != 0 &&
			  strcmp(argv[1], "words") != 0)) {
		fprintf(stderr, "usage: pattern fill|check|words FILE OFFSET LENGTH SEED\n");
		return 2;
	}
	fill = !strcmp(argv[1], "fill");
	off = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	seed = strtoull(argv[5], NULL, 0);

	fd = open(argv[2], fill ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	p = mmap(NULL, len, fill ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
		 (off_t)off);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (fill) {
		pattern_fill(p, len, seed, off);
		return msync(p, len, MS_SYNC) ? 1 : 0;
	}
	if (!strcmp(argv[1], "words")) {
		const uint64_t *w = (const uint64_t *)p;

		for (size_t i = 0; i < len / sizeof(*w); i++) {
			if (w[i] != (seed << 32 | i)) {
				fprintf(stderr, "%s: word %zu at %zu is %#llx, not %#llx\n", argv[2],
					i, off + i * sizeof(*w), (unsigned long long)w[i],
					(unsigned long long)(seed << 32 | i));
				return 1;
			}
		}
		return 0;
	}
	bad = pattern_check(p, len, ~seed, off);
	if (bad != (size_t)-1) {
		fprintf(stderr, "%s: byte %zu differs from what the guest wrote\n",
			argv[2], off + bad);
		return 1;
	}
	return 0;
}
