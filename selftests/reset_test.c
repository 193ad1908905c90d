// SPDX-License-Identifier: GPL-2.0
/*
 * A PCI reset under live mappings ($ivt_reset_dev, an ivshmem-plain device
 * behind a PCIe root port, so that the kernel can reset its slot).  The
 * reset turns memory decoding off for a while: a write to the BAR then
 * vanishes.  Writers keep writing and reading back, through a mapping of
 * the whole region (1 GiB entries where the kernel has them) and through a
 * small one (4 KiB entries), while the device is reset several times: no
 * write may be lost; a writer is held for the reset and goes on after it.
 * The host then checks the last pass of each writer in its file.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/readback.h"

#define RESETS		3
#define WINDOW		(16UL << 20)	/* what each writer writes, again and again */
#define HUGE_OFF	(1UL << 30)	/* the first writer's window, in the huge mapping */
#define SMALL_OFF	(64UL << 20)	/* the second writer's, in a small mapping */

static pid_t start_writer(struct readback_report *r, volatile uint64_t *w)
{
	pid_t pid = fork();

	if (pid == 0)
		readback_writer(r, w, WINDOW);
	return pid;
}

TEST_TIMEOUT(writes_through_a_pci_reset_are_not_lost, 300)
{
	const char *name = env_str("ivt_reset_dev", "");
	char path[64], addr[32], reset[128];
	struct readback_report *r;
	struct ivshmem_info info;
	unsigned long before;
	uint8_t *whole, *small;
	pid_t pid[2];
	int fd, status;

	if (!name[0])
		SKIP("no device behind a root port ($ivt_reset_dev)");
	snprintf(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info), 0);
	ASSERT_TRUE(info.size >= HUGE_OFF + WINDOW);
	ASSERT_OK(dev_pci_addr(name, addr, sizeof(addr)));
	snprintf(reset, sizeof(reset), "/sys/bus/pci/devices/%s/reset", addr);
	ASSERT_OK(access(reset, W_OK));

	r = mmap(NULL, 2 * sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(r != MAP_FAILED);
	memset(r, 0, 2 * sizeof(*r));
	whole = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(whole != MAP_FAILED);
	small = mmap(NULL, WINDOW, PROT_READ | PROT_WRITE, MAP_SHARED, fd, SMALL_OFF);
	ASSERT_TRUE(small != MAP_FAILED);

	pid[0] = start_writer(&r[0], (volatile uint64_t *)(whole + HUGE_OFF));
	pid[1] = start_writer(&r[1], (volatile uint64_t *)small);
	ASSERT_TRUE(pid[0] > 0 && pid[1] > 0);
	for (int i = 0; i < RESETS; i++) {
		usleep(300000);
		ASSERT_OK(sysfs_write(reset, "1"));
	}
	/* Both go on after the last reset. */
	for (int n = 0; n < 2; n++) {
		before = atomic_load(&r[n].writes);
		for (int ms = 0; ms < 20000 && atomic_load(&r[n].writes) == before; ms += 10)
			usleep(10000);
		__CHECK(atomic_load(&r[n].writes) > before, false,
			"writer %d made no progress after the resets", n);
	}
	atomic_store(&r[0].stop, true);
	atomic_store(&r[1].stop, true);
	for (int n = 0; n < 2; n++) {
		ASSERT_EQ(waitpid(pid[n], &status, 0), pid[n]);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		TH_LOG("writer %d: %lu passes of %lu MiB, %lu writes lost", n,
		       atomic_load(&r[n].passes), WINDOW >> 20, atomic_load(&r[n].lost));
		EXPECT_EQ(atomic_load(&r[n].lost), 0);
		EXPECT_GE(atomic_load(&r[n].passes), 1);
	}
	/* What the host checks: the last pass, complete, in each window. */
	printf("# reset: passes %lu %lu\n", atomic_load(&r[0].passes),
	       atomic_load(&r[1].passes));
	munmap(small, WINDOW);
	munmap(whole, info.size);
	munmap(r, 2 * sizeof(*r));
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
