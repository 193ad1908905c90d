// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks, not tests: they print "# bench:" lines with numbers and their
 * ratio to a baseline measured in the same run, and count as no test case.
 * The exit status is 2 only if they cannot measure at all.
 *
 *  - bandwidth of the shared-memory mapping against anonymous memory: the
 *    ratio shows whether the mapping is cached (near 1) or not (far below);
 *  - a doorbell round trip (ring oneself, wake from IVSHMEM_IOCTL_WAIT)
 *    against an eventfd write and poll between two threads of nothing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>

#include "lib/ivshmem_test.h"

#define BW_BYTES	(16u << 20)
#define BW_ROUNDS	8
#define RTT_ROUNDS	2000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MiB/s of writing then reading @len bytes at @p, best of BW_ROUNDS. */
static double bandwidth(volatile uint64_t *p, size_t len)
{
	double best = 0;

	for (int r = 0; r < BW_ROUNDS; r++) {
		uint64_t sum = 0;
		double t = now_s();

		for (size_t i = 0; i < len / 8; i++)
			p[i] = i;
		for (size_t i = 0; i < len / 8; i++)
			sum += p[i];
		t = now_s() - t;
		if (sum && 2.0 * (double)len / t > best)
			best = 2.0 * (double)len / t;
	}
	return best / (1 << 20);
}

static int cannot(const char *what)
{
	printf("# bench: cannot measure: %s: %s\n", what, strerror(errno));
	return 2;
}

static int bench_bandwidth(int fd, const struct ivshmem_info *info)
{
	double shm, anon;
	uint64_t *p, *q;

	if (info->size < BW_BYTES)
		return 0;
	p = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	q = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || q == MAP_FAILED)
		return cannot("mmap");
	anon = bandwidth(q, BW_BYTES);
	shm = bandwidth(p, BW_BYTES);
	printf("# bench: anonymous memory %.0f MiB/s (baseline)\n", anon);
	printf("# bench: shared memory    %.0f MiB/s, ratio %.2f\n", shm, shm / anon);
	munmap(p, BW_BYTES);
	munmap(q, BW_BYTES);
	return 0;
}

static int bench_round_trip(int fd, const struct ivshmem_info *info)
{
	struct pollfd pfd;
	double t_bell, t_efd;
	uint64_t v = 1, mask;
	int efd;

	if (info->irq_mode == IVSHMEM_IRQ_NONE)
		return 0;
	t_bell = now_s();
	for (int i = 0; i < RTT_ROUNDS; i++) {
		mask = 1;
		if (dev_ring(fd, (uint32_t)info->peer_id, 0) || dev_wait(fd, &mask, 5000))
			return cannot("doorbell");
	}
	t_bell = (now_s() - t_bell) / RTT_ROUNDS;

	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		return cannot("eventfd");
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	t_efd = now_s();
	for (int i = 0; i < RTT_ROUNDS; i++) {
		if (write(efd, &v, sizeof(v)) != sizeof(v) || poll(&pfd, 1, 5000) != 1 ||
		    read(efd, &v, sizeof(v)) != sizeof(v))
			return cannot("eventfd");
	}
	t_efd = (now_s() - t_efd) / RTT_ROUNDS;
	printf("# bench: eventfd write+poll+read %.1f us (baseline)\n", t_efd * 1e6);
	printf("# bench: doorbell ring+wait      %.1f us, ratio %.1f\n", t_bell * 1e6,
	       t_bell / t_efd);
	close(efd);
	return 0;
}

int main(void)
{
	struct ivshmem_info info;
	int fd = open(dev_path(), O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info))
		return cannot(dev_path());
	ret = bench_bandwidth(fd, &info);
	if (!ret)
		ret = bench_round_trip(fd, &info);
	close(fd);
	return ret;
}
