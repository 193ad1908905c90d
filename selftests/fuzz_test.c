// SPDX-License-Identifier: GPL-2.0
/*
 * Random system calls against the device from several threads at once:
 * ioctls with random commands and arguments (bad pointers included), mmaps
 * of random ranges, eventfd bindings, waits, polls, opens and closes.
 * Whatever the calls return, the kernel must not complain (the runner scans
 * its log, with KASAN and lockdep on the debug kernel) and the device must
 * work afterwards.  The seed is printed so that a failure can be replayed
 * with ivt_seed.
 *
 * Rings go only to this guest's own ID or to IDs nobody has, so that the
 * other peers of the topology are not disturbed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

#define THREADS		4
#define RUN_SECONDS	8

static const unsigned long commands[] = {
	IVSHMEM_IOCTL_GET_INFO, IVSHMEM_IOCTL_RING, IVSHMEM_IOCTL_SET_EVENTFD,
	IVSHMEM_IOCTL_WAIT_READY, IVSHMEM_IOCTL_WAIT,
};

struct fuzzer {
	unsigned int seed;
	int fd;			/* shared by all threads */
	int32_t self;
	uint64_t size;
	unsigned long calls;
};

static uint64_t rnd64(unsigned int *seed)
{
	return (uint64_t)rand_r(seed) << 33 ^ (uint64_t)rand_r(seed) << 11 ^ (uint64_t)rand_r(seed);
}

/*
 * An ioctl argument: good memory with random bytes, or a bad pointer.  @buf
 * ends where an inaccessible page begins.
 */
static void *random_arg(unsigned int *seed, uint8_t *buf, size_t len)
{
	switch (rand_r(seed) % 8) {
	case 0:
		return NULL;
	case 1:		/* a wild pointer, deliberately */
		return (void *)(uintptr_t)rnd64(seed);	// NOLINT(performance-no-int-to-ptr)
	case 2:
		return buf + len - 8;	/* runs into the inaccessible page */
	default:
		for (size_t i = 0; i < len; i++)
			buf[i] = rand_r(seed) % 4 ? 0 : (uint8_t)rand_r(seed);
		return buf;
	}
}

static void fuzz_ioctl(struct fuzzer *f, unsigned int *seed, uint8_t *buf, size_t len)
{
	unsigned long cmd = commands[rand_r(seed) % 5];
	struct ivshmem_ring ring;
	struct ivshmem_wait wait;

	switch (rand_r(seed) % 6) {
	case 0:		/* a command the driver does not know */
		cmd ^= 1UL << (rand_r(seed) % 32);
		break;
	case 1:		/* a ring the other peers never see */
		ring = (struct ivshmem_ring){
			.peer_id = rand_r(seed) % 2 ? (uint32_t)f->self
						  : (uint32_t)(1000 + rand_r(seed) % 1000),
			.vector = rand_r(seed) % 300,
		};
		ioctl(f->fd, IVSHMEM_IOCTL_RING, &ring);
		return;
	case 2:		/* a short wait on random vectors */
		wait = (struct ivshmem_wait){ .timeout_ms = rand_r(seed) % 3 };
		wait.vectors[0] = rnd64(seed);
		ioctl(f->fd, IVSHMEM_IOCTL_WAIT, &wait);
		return;
	default:
		break;
	}
	/* WAIT_READY with a random timeout could sleep forever: keep it short. */
	if (cmd == IVSHMEM_IOCTL_WAIT_READY) {
		struct ivshmem_wait_ready r = { .timeout_ms = rand_r(seed) % 3 };

		ioctl(f->fd, cmd, &r);
		return;
	}
	if (cmd == IVSHMEM_IOCTL_WAIT) {
		wait = (struct ivshmem_wait){ .timeout_ms = 0, .vectors = { rnd64(seed) } };
		ioctl(f->fd, cmd, rand_r(seed) % 2 ? (void *)&wait : random_arg(seed, buf, len));
		return;
	}
	ioctl(f->fd, cmd, random_arg(seed, buf, len));
}

static void fuzz_mmap(struct fuzzer *f, unsigned int *seed)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint64_t off = (rnd64(seed) % (f->size / page + 2)) * page;
	size_t len = (size_t)(rand_r(seed) % 64 + 1) * page;
	int prot = rand_r(seed) % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
	int flags = rand_r(seed) % 8 ? MAP_SHARED : MAP_PRIVATE;
	volatile uint8_t *p;

	if (rand_r(seed) % 8 == 0)
		off += rand_r(seed) % page;	/* unaligned */
	p = mmap(NULL, len, prot, flags, f->fd, (off_t)off);
	if (p == MAP_FAILED)
		return;
	/*
	 * Touch only inside the region: past it, SIGBUS is the right answer.
	 * Write only to its top eighth, clear of what other tests and the host
	 * check.
	 */
	for (size_t i = 0; i < len && off + i < f->size; i += page) {
		if ((prot & PROT_WRITE) && off + i >= f->size - f->size / 8)
			p[i] = (uint8_t)i;
		else
			(void)p[i];
	}
	munmap((void *)p, len);
}

static void fuzz_eventfd(struct fuzzer *f, unsigned int *seed)
{
	struct ivshmem_eventfd req = { .vector = rand_r(seed) % 6 };
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	switch (rand_r(seed) % 4) {
	case 0: req.fd = -1; break;
	case 1: req.fd = rand_r(seed) % 64; break;	/* whatever is open there */
	default: req.fd = efd; break;
	}
	ioctl(f->fd, IVSHMEM_IOCTL_SET_EVENTFD, &req);
	/* Closing our end while bound: the binding keeps its own reference. */
	close(efd);
}

static void *fuzz_thread(void *arg)
{
	struct fuzzer *f = arg;
	unsigned int seed = f->seed;
	time_t end = time(NULL) + RUN_SECONDS;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct pollfd pfd;
	unsigned long n = 0;
	uint8_t *buf;
	int fd;

	/* A page of arguments followed by one that faults. */
	buf = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || mprotect(buf + page, page, PROT_NONE))
		return NULL;

	while (time(NULL) < end) {
		switch (rand_r(&seed) % 8) {
		case 0:
			fuzz_mmap(f, &seed);
			break;
		case 1:
			fuzz_eventfd(f, &seed);
			break;
		case 2:
			pfd = (struct pollfd){ .fd = f->fd, .events = POLLIN };
			poll(&pfd, 1, 0);
			break;
		case 3:		/* a second open file, bound and dropped */
			fd = open(dev_path(), rand_r(&seed) % 2 ? O_RDONLY : O_RDWR);
			if (fd >= 0) {
				struct ivshmem_eventfd req = { .vector = 0, .fd = eventfd(0, 0) };

				ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &req);
				close(req.fd);
				close(fd);
			}
			break;
		default:
			fuzz_ioctl(f, &seed, buf, page);
			break;
		}
		n++;
	}
	munmap(buf, 2 * page);
	f->calls = n;
	return NULL;
}

TEST_TIMEOUT(random_calls_from_several_threads, 120)
{
	struct fuzzer f[THREADS];
	pthread_t threads[THREADS];
	struct ivshmem_info info;
	unsigned int seed = (unsigned int)env_long("ivt_seed", (long)time(NULL));
	unsigned long calls = 0;
	uint64_t mask = 1;
	int fd = dev_open(O_RDWR);

	dev_get_info(fd, &info);
	TH_LOG("seed %u, %d threads for %d s", seed, THREADS, RUN_SECONDS);
	for (int i = 0; i < THREADS; i++) {
		f[i] = (struct fuzzer){ .seed = seed + (unsigned int)i, .fd = fd,
					.self = info.peer_id, .size = info.size };
		ASSERT_EQ(pthread_create(&threads[i], NULL, fuzz_thread, &f[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		calls += f[i].calls;
	}
	TH_LOG("%lu calls", calls);
	ASSERT_GE(calls, THREADS);

	/* The device still works: a fresh file is rung and wakes. */
	close(fd);
	fd = dev_open(O_RDWR);
	ASSERT_OK(dev_ring(fd, (uint32_t)info.peer_id, 0));
	ASSERT_OK(dev_wait(fd, &mask, 5000));
	EXPECT_EQ(mask, 1);
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
