// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks, not tests: they print numbers and their ratio to a baseline
 * measured in the same run, and fail only if they cannot measure.
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

TEST_TIMEOUT(shared_memory_bandwidth, 300)
{
	struct ivshmem_info info;
	double shm, anon;
	uint64_t *p, *q;
	int fd = dev_open(O_RDWR);

	dev_get_info(fd, &info);
	ASSERT_TRUE(info.size >= BW_BYTES);
	p = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	q = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED && q != MAP_FAILED);
	anon = bandwidth(q, BW_BYTES);
	shm = bandwidth(p, BW_BYTES);
	TH_LOG("bench: anonymous memory %.0f MiB/s (baseline)", anon);
	TH_LOG("bench: shared memory    %.0f MiB/s, ratio %.2f", shm, shm / anon);
	munmap(p, BW_BYTES);
	munmap(q, BW_BYTES);
	close(fd);
}

TEST_TIMEOUT(doorbell_round_trip, 300)
{
	struct ivshmem_info info;
	struct pollfd pfd;
	double t_bell, t_efd;
	uint64_t v = 1, mask;
	int fd = dev_open(O_RDWR), efd;

	dev_get_info(fd, &info);
	if (info.irq_mode == IVSHMEM_IRQ_NONE)
		SKIP("no doorbells on this device");
	t_bell = now_s();
	for (int i = 0; i < RTT_ROUNDS; i++) {
		mask = 1;
		ASSERT_OK(dev_ring(fd, (uint32_t)info.peer_id, 0));
		ASSERT_OK(dev_wait(fd, &mask, 5000));
	}
	t_bell = (now_s() - t_bell) / RTT_ROUNDS;

	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_OK(efd);
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	t_efd = now_s();
	for (int i = 0; i < RTT_ROUNDS; i++) {
		ASSERT_EQ(write(efd, &v, sizeof(v)), sizeof(v));
		ASSERT_EQ(poll(&pfd, 1, 5000), 1);
		ASSERT_EQ(read(efd, &v, sizeof(v)), sizeof(v));
		v = 1;
	}
	t_efd = (now_s() - t_efd) / RTT_ROUNDS;
	TH_LOG("bench: eventfd write+poll+read %.1f us (baseline)", t_efd * 1e6);
	TH_LOG("bench: doorbell ring+wait      %.1f us, ratio %.1f", t_bell * 1e6,
	       t_bell / t_efd);
	close(efd);
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
