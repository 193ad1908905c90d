// SPDX-License-Identifier: GPL-2.0
/*
 * Real hot-unplug: the host removes the device through QMP (device_del)
 * while this guest holds it open and mapped, with calls blocked in WAIT,
 * poll() and read() on a bound eventfd, then adds it again (device_add).
 * Every cycle, once everything is in place, we print "# hotplug: ready N"
 * on the KTAP line; the host's driver (selftests/lib/qmp-hotplug) waits for
 * that before it removes the device.  We record what each blocked call
 * returned and how long the removal took to reach all of them.
 *
 * Environment: ivt_cycles (default 50), ivt_mode ("msix" or "none").
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

#define BLOCK_MS	120000	/* the host may be slow to act, but acts */
#define APPEAR_MS	120000
#define MAP_LEN		((size_t)4 * 4096)

struct blocked {
	int fd, efd;
	long ret;		/* what the call returned: 0 when as documented */
	long woke_ms;
};

/* The device node's inode number: devtmpfs makes a new node for a new device. */
static ino_t node_ino(void)
{
	struct stat st;

	return stat(dev_path(), &st) ? 0 : st.st_ino;
}

/* Wait until the node of the removed device is gone, or replaced already. */
static bool node_replaced(ino_t old, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (node_ino() != old)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *wait_call(void *arg)
{
	struct blocked *b = arg;
	uint64_t mask = 1;

	b->ret = dev_wait(b->fd, &mask, BLOCK_MS) == -1 && errno == ENODEV ? 0 : 1;
	b->woke_ms = now_ms();
	return NULL;
}

static void *poll_call(void *arg)
{
	struct blocked *b = arg;
	struct pollfd pfd = { .fd = b->fd, .events = POLLIN };

	b->ret = poll(&pfd, 1, BLOCK_MS) == 1 && pfd.revents == (POLLHUP | POLLERR) ? 0 : 1;
	b->woke_ms = now_ms();
	return NULL;
}

/* What a user of ivshmem_vector_fd() does: sleep in read(). */
static void *read_call(void *arg)
{
	struct blocked *b = arg;
	struct pollfd pfd = { .fd = b->efd, .events = POLLIN };
	struct ivshmem_info info;
	uint64_t count;

	b->ret = 1;
	/* poll() first only to bound the wait; the read() then cannot block. */
	if (poll(&pfd, 1, BLOCK_MS) == 1 && read(b->efd, &count, sizeof(count)) == sizeof(count))
		b->ret = ioctl(b->fd, IVSHMEM_IOCTL_GET_INFO, &info) == -1 && errno == ENODEV ? 0 : 2;
	b->woke_ms = now_ms();
	return NULL;
}

/* Touching the old mapping raises SIGBUS. */
static bool revoked(volatile uint8_t *p)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		p[0] = 1;
		_exit(0);
	}
	return waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
	       WTERMSIG(status) == SIGBUS;
}

TEST_TIMEOUT(unplug_while_open_mapped_and_blocked, 3600)
{
	bool doorbell = strcmp(env_str("ivt_mode", "msix"), "none") != 0;
	long cycles = env_long("ivt_cycles", 50), worst = 0, total = 0;
	void *(*calls[])(void *) = { poll_call, wait_call, read_call };
	const char *names[] = { "poll", "WAIT", "read(eventfd)" };
	int ncalls = doorbell ? 3 : 1, bad[3] = { 0 }, not_revoked = 0;

	for (long cycle = 1; cycle <= cycles; cycle++) {
		struct blocked b[3];
		pthread_t threads[3];
		volatile uint8_t *p;
		long start, took = 0;
		int fd, efd = -1;
		ino_t ino;

		__CHECK(wait_path(dev_path(), true, APPEAR_MS) == 0, true,
			"cycle %ld: the device never came back", cycle);
		ino = node_ino();
		fd = dev_open(O_RDWR);
		p = mmap(NULL, MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_TRUE(p != MAP_FAILED);
		p[0] = (uint8_t)cycle;	/* a mapping with its PTEs in place */
		if (doorbell) {
			efd = eventfd(0, EFD_CLOEXEC);
			ASSERT_OK(dev_set_eventfd(fd, 0, efd));
		}
		for (int i = 0; i < ncalls; i++) {
			b[i] = (struct blocked){ .fd = fd, .efd = efd, .ret = -1 };
			ASSERT_EQ(pthread_create(&threads[i], NULL, calls[i], &b[i]), 0);
		}
		usleep(100 * 1000);	/* let them block */
		printf("# hotplug: ready %ld\n", cycle);
		fflush(stdout);
		start = now_ms();
		for (int i = 0; i < ncalls; i++) {
			pthread_join(threads[i], NULL);
			if (b[i].ret && bad[i]++ < 3)
				TH_LOG("cycle %ld: %s returned %ld", cycle, names[i], b[i].ret);
			if (b[i].woke_ms - start > took)
				took = b[i].woke_ms - start;
		}
		if (!revoked(p))
			not_revoked++;
		munmap((void *)p, MAP_LEN);
		if (efd >= 0)
			close(efd);
		close(fd);
		total += took;
		if (took > worst)
			worst = took;
		__CHECK(node_replaced(ino, APPEAR_MS), true,
			"cycle %ld: the device node stayed", cycle);
	}
	TH_LOG("%ld cycles: removal reached every blocked call in %ld ms on average, %ld ms at worst",
	       cycles, total / cycles, worst);
	for (int i = 0; i < ncalls; i++)
		EXPECT_EQ(bad[i], 0);
	EXPECT_EQ(not_revoked, 0);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
