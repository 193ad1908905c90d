/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Doorbell latency for the benchmarks: the three ways a guest program waits
 * for a vector, and percentiles of a set of samples.
 */
#ifndef IVSHMEM_LATENCY_H
#define IVSHMEM_LATENCY_H

#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem_test.h"

enum wait_way { WAIT_EVENTFD, WAIT_IOCTL, WAIT_POLL, WAIT_WAYS };

static const char *const wait_way_name[WAIT_WAYS] = {
	[WAIT_EVENTFD] = "eventfd",
	[WAIT_IOCTL] = "WAIT ioctl",
	[WAIT_POLL] = "poll",
};

static inline double latency_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/*
 * Wait up to @timeout_ms for vector 0 of @fd, the way @way says; @efd is the
 * eventfd bound to it for WAIT_EVENTFD.  Each way consumes the interrupt.
 * 0, or -1 on timeout or error.
 */
static inline int wait_vector0(enum wait_way way, int fd, int efd, int timeout_ms)
{
	struct pollfd pfd = { .events = POLLIN };
	uint64_t mask = 1, count;

	switch (way) {
	case WAIT_EVENTFD:
		pfd.fd = efd;
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		return read(efd, &count, sizeof(count)) == sizeof(count) ? 0 : -1;
	case WAIT_IOCTL:
		return dev_wait(fd, &mask, timeout_ms);
	case WAIT_POLL:
		pfd.fd = fd;
		if (poll(&pfd, 1, timeout_ms) != 1)
			return -1;
		return dev_wait(fd, &mask, 0);
	default:
		return -1;
	}
}

static inline int latency_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct percentiles {
	double p50, p99, p999;
};

/* Sorts @us in place. */
static inline struct percentiles percentiles(double *us, size_t n)
{
	qsort(us, n, sizeof(*us), latency_cmp);
	return (struct percentiles){
		.p50 = us[n / 2],
		.p99 = us[n * 99 / 100],
		.p999 = us[n * 999 / 1000],
	};
}

#endif /* IVSHMEM_LATENCY_H */
