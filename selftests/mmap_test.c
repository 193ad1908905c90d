// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping the shared memory: what may be mapped and how, the memory type,
 * and bytes crossing between the host's backing file and the guest.
 *
 * Environment: ivt_size; ivt_seed, ivt_host_off (the host wrote the pattern
 * there before boot), ivt_guest_off (we write the pattern there for the
 * host to check after we exit); ivt_xfer, the length of both.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/pattern.h"

static size_t page;

static size_t shm_size(void)
{
	return (size_t)env_long("ivt_size", 0);
}

static void *map(int fd, size_t len, int prot, int flags, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	__CHECK(p != MAP_FAILED, true, "mmap len %zu off %jd: %s", len, (intmax_t)off,
		strerror(errno));
	return p;
}

TEST(map_whole_region_read_write)
{
	int fd = dev_open(O_RDWR);
	size_t size = shm_size();
	volatile uint8_t *p = map(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);

	/* The first and last page of the region are both reachable. */
	p[0] = 0x11;
	p[size - 1] = 0x22;
	EXPECT_EQ(p[0], 0x11);
	EXPECT_EQ(p[size - 1], 0x22);
	munmap((void *)p, size);
	close(fd);
}

TEST(partial_mapping_at_offset_aliases_region)
{
	int fd = dev_open(O_RDWR);
	size_t size = shm_size(), off = size / 4 + 3 * page;
	uint8_t *whole = map(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	uint8_t *part = map(fd, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, (off_t)off);

	pattern_fill(part, 2 * page, 7, off);
	EXPECT_EQ(pattern_check(whole + off, 2 * page, 7, off), (size_t)-1);
	whole[off + page] ^= 0xff;
	EXPECT_EQ(part[page], (uint8_t)(pattern_byte(7, off + page) ^ 0xff));
	munmap(part, 2 * page);
	munmap(whole, size);
	close(fd);
}

TEST(private_mapping_is_einval)
{
	int fd = dev_open(O_RDWR);

	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL);
	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0),
		     EINVAL);
	close(fd);
}

TEST(mapping_past_end_is_einval)
{
	int fd = dev_open(O_RDWR);
	size_t size = shm_size();

	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)size), EINVAL);
	EXPECT_ERRNO((long)mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd,
				(off_t)(size - page)), EINVAL);
	EXPECT_ERRNO((long)mmap(NULL, size + page, PROT_READ, MAP_SHARED, fd, 0), EINVAL);
	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ, MAP_SHARED, fd, (off_t)1 << 52),
		     EINVAL);
	/* The kernel itself refuses an offset that is not page aligned. */
	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 100), EINVAL);
	close(fd);
}

TEST(read_only_open_cannot_map_writable)
{
	int fd = dev_open(O_RDONLY);
	void *p;

	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
		     EACCES);
	p = map(fd, page, PROT_READ, MAP_SHARED, 0);
	(void)*(volatile uint8_t *)p;
	EXPECT_ERRNO(mprotect(p, page, PROT_READ | PROT_WRITE), EACCES);
	munmap(p, page);
	close(fd);
}

/*
 * Memory that other machines write is never executable: PROT_EXEC is
 * refused, and mprotect() cannot add it later.
 */
TEST(executable_mapping_is_refused)
{
	int fd = dev_open(O_RDWR);
	void *p;

	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0), EPERM);
	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED, fd, 0),
		     EPERM);
	p = map(fd, page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	(void)*(volatile uint8_t *)p;
	EXPECT_ERRNO(mprotect(p, page, PROT_READ | PROT_EXEC), EACCES);
	/* What mmap() gave stays usable. */
	EXPECT_EQ(mprotect(p, page, PROT_READ), 0);
	munmap(p, page);
	close(fd);
}

#if defined(__aarch64__)
/*
 * arm64 has no PAT: the type is in each entry's MAIR index, read back from
 * the page tables (selftests/kmod/ivt_ptattr.c).  The user mapping and the
 * kernel's are Normal write-back, as the host's RAM behind BAR2 is.
 */
TEST(shared_memory_is_write_back)
{
	unsigned long long start, end, kaddr;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int fd = dev_open(O_RDWR);
	char type[64];
	uint8_t *p;
	int ret;

	p = map(fd, page, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	(void)*(volatile uint8_t *)p;
	/* The arm64 guests always load it (selftests/guest/init): no skip. */
	ret = pt_memtype("user", (unsigned long long)(uintptr_t)p, type, sizeof(type));
	if (ret == -ENOENT)
		TH_LOG("no /sys/kernel/debug/ivt_ptattr: the ivt_ptattr test module is not loaded");
	ASSERT_EQ(ret, 0);
	TH_LOG("user mapping: %s", type);
	EXPECT_TRUE(strcmp(type, "pte normal") == 0);
	munmap(p, page);
	close(fd);

	ASSERT_EQ(dev_bar2(dev_name(), &start, &end), 0);
	ASSERT_EQ(kernel_mapping_of(start, &kaddr), 0);
	ASSERT_EQ(pt_memtype("kernel", kaddr, type, sizeof(type)), 0);
	TH_LOG("kernel mapping: %s", type);
	EXPECT_TRUE(strstr(type, " normal") && !strstr(type, "normal-"));

	/* The reader tells types apart: the registers (BAR0) are Device. */
	ASSERT_EQ(dev_bar(dev_name(), 0, &start, &end), 0);
	ASSERT_EQ(kernel_mapping_of(start, &kaddr), 0);
	ASSERT_EQ(pt_memtype("kernel", kaddr, type, sizeof(type)), 0);
	TH_LOG("registers: %s", type);
	EXPECT_TRUE(strcmp(type, "pte device-ngnre") == 0);
}
#else
/* The PAT memory type the kernel recorded for BAR2, which user PTEs inherit. */
TEST(shared_memory_is_write_back)
{
	char type[64];
	int ret = bar2_memtype(dev_name(), type, sizeof(type));

	if (ret == -ENOENT)
		SKIP("no PAT memtype list (debugfs or PAT missing)");
	ASSERT_EQ(ret, 0);
	TH_LOG("BAR2: %s", type);
	EXPECT_TRUE(strcmp(type, "write-back") == 0);
}
#endif

TEST(guest_reads_what_host_wrote)
{
	int fd = dev_open(O_RDONLY);
	size_t len = (size_t)env_long("ivt_xfer", 0), off = (size_t)env_long("ivt_host_off", 0);
	uint64_t seed = (uint64_t)env_long("ivt_seed", 0);
	uint8_t *p;
	size_t bad;

	if (!len)
		SKIP("no host data for this device");
	p = map(fd, len, PROT_READ, MAP_SHARED, (off_t)off);
	bad = pattern_check(p, len, seed, off);
	EXPECT_EQ(bad, (size_t)-1);
	munmap(p, len);
	close(fd);
}

TEST(guest_writes_for_host)
{
	int fd = dev_open(O_RDWR);
	size_t len = (size_t)env_long("ivt_xfer", 0), off = (size_t)env_long("ivt_guest_off", 0);
	uint64_t seed = (uint64_t)env_long("ivt_seed", 0);
	uint8_t *p;

	if (!len)
		SKIP("no host check for this device");
	p = map(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED, (off_t)off);
	pattern_fill(p, len, ~seed, off);
	munmap(p, len);
	close(fd);
}

/*
 * What gdb does: read and write the mapping through /proc/PID/mem, on pages
 * faulted in and on pages never touched.
 */
TEST(debugger_reads_and_writes_the_mapping)
{
	int fd = dev_open(O_RDWR), ro = dev_open(O_RDONLY);
	int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	size_t off = shm_size() / 4 + 64 * page;
	uint8_t *p = map(fd, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, (off_t)off);
	uint8_t *q = map(ro, page, PROT_READ, MAP_SHARED, (off_t)off);
	uint8_t buf[64], want[64];

	ASSERT_OK(mem);
	/* Page 0 faulted in; page 2 never touched before the debugger writes it. */
	pattern_fill(p, page, 21, off);
	ASSERT_EQ(pread(mem, buf, sizeof(buf), (off_t)(uintptr_t)(p + 100)), sizeof(buf));
	EXPECT_EQ(pattern_check(buf, sizeof(buf), 21, off + 100), (size_t)-1);
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)(i * 7 + 1);
	ASSERT_EQ(pwrite(mem, want, sizeof(want), (off_t)(uintptr_t)(p + 2 * page + 8)),
		  sizeof(want));
	EXPECT_EQ(memcmp(p + 2 * page + 8, want, sizeof(want)), 0);
	/* Page 3 never touched at all: read through the debugger first. */
	ASSERT_EQ(pread(mem, buf, sizeof(buf), (off_t)(uintptr_t)(p + 3 * page)), sizeof(buf));
	EXPECT_EQ(memcmp(buf, p + 3 * page, sizeof(buf)), 0);
	/* A read-only mapping can be read, not written. */
	ASSERT_EQ(pread(mem, buf, sizeof(buf), (off_t)(uintptr_t)(q + 100)), sizeof(buf));
	EXPECT_EQ(pattern_check(buf, sizeof(buf), 21, off + 100), (size_t)-1);
	EXPECT_TRUE(pwrite(mem, want, sizeof(want), (off_t)(uintptr_t)q) < 0);
	EXPECT_EQ(pattern_check(q, page, 21, off), (size_t)-1);
	close(mem);
	munmap(q, page);
	munmap(p, 4 * page);
	close(ro);
	close(fd);
}

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	return harness_main(argc, argv);
}
