// SPDX-License-Identifier: GPL-2.0
/*
 * Large shared memory: ivshmem-plain devices of 16 GiB and 64 GiB on sparse
 * host files.  For each device of $ivt_large (names, comma-separated):
 * the size agrees everywhere, the whole BAR maps, the last 1 GiB block
 * takes the faults the kernel should need (one where it has 1 GiB
 * entries), the last page holds what the host wrote there, the page before
 * it carries what we write back for the host to check, and unbinding the
 * driver with the mapping in place revokes it; binding again brings the
 * device back.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/pattern.h"

#define PUD_SIZE	(1UL << 30)
#define DRIVER_DIR	"/sys/bus/pci/drivers/ivshmem"

static size_t page;

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Run one device's checks; the harness reports through the EXPECTs. */
static void check_device(const char *name, uint64_t seed)
{
	char path[64], addr[32];
	struct ivshmem_info info;
	long faults, bound;
	size_t size, last;
	int fd, status;
	uint8_t *p;
	pid_t pid;

	snprintf(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info), 0);
	size = (size_t)info.size;
	TH_LOG("%s: %zu GiB", name, size >> 30);
	EXPECT_EQ((long long)size, sysfs_attr_long(name, "size"));
	EXPECT_TRUE(size >= 16 * PUD_SIZE);
	last = size - page;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	/* The last block: one fault with 1 GiB entries, else one per 16 pages. */
	faults = minor_faults();
	for (size_t off = size - PUD_SIZE; off < size; off += 2UL << 20)
		(void)*(volatile uint8_t *)(p + off);
	faults = minor_faults() - faults;
	bound = strcmp(env_str("ivt_huge", "none"), "pud") ? (long)(PUD_SIZE / (16 * page)) + 8 : 4;
	TH_LOG("%s: %ld faults to touch the last 1 GiB (bound %ld)", name, faults, bound);
	EXPECT_TRUE(faults <= bound);
	if (!strcmp(env_str("ivt_huge", "none"), "pud"))
		EXPECT_TRUE(faults >= 1);

	EXPECT_EQ(pattern_check(p + last, page, seed, last), (size_t)-1);
	pattern_fill(p + last - page, page, ~seed, last - page);

	/* Unbound under the mapping: a child touching it gets SIGBUS. */
	ASSERT_OK(dev_pci_addr(name, addr, sizeof(addr)));
	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	pid = fork();
	if (pid == 0) {
		alarm(20);
		(void)*(volatile uint8_t *)(p + last);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
	EXPECT_EQ(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info), -1);
	munmap(p, size);
	close(fd);
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	ASSERT_OK(wait_path(path, true, 10000));

	/* Back, the same memory again. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)last);
	ASSERT_TRUE(p != MAP_FAILED);
	EXPECT_EQ(pattern_check(p, page, seed, last), (size_t)-1);
	munmap(p, page);
	close(fd);
}

TEST_TIMEOUT(large_devices_map_whole_and_come_back, 600)
{
	char list[128], *name, *save = NULL;
	uint64_t seed = (uint64_t)env_long("ivt_seed", 1);
	int n = 0;

	snprintf(list, sizeof(list), "%s", env_str("ivt_large", ""));
	if (!list[0])
		SKIP("no large device ($ivt_large)");
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save), n++)
		check_device(name, seed);
	EXPECT_GE(n, 1);
}

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	return harness_main(argc, argv);
}
