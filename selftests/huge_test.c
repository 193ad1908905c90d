// SPDX-License-Identifier: GPL-2.0
/*
 * Huge mappings of the shared memory: where the kernel can map PFNs with
 * PUD entries, touching the region takes a handful of faults, and the
 * mappings still map the right memory however they are placed, survive
 * fork, mprotect, partial munmap, mremap and mbind, and stay write-back.
 *
 * The runner says what to expect from the kernel's configuration, not from
 * the driver: ivt_huge=pud (1 GiB entries) or none (PTEs, 16 per fault).  Fault counts are deterministic, so they are asserted; times
 * are only printed ("# bench:" lines).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/pattern.h"

#define PMD_SIZE	(2UL << 20)
#define PUD_SIZE	(1UL << 30)
/* Pages one fault maps on the PTE path (IVSHMEM_FAULT_PAGES). */
#define FAULT_PAGES	16
#define PARAM		"/sys/module/ivshmem/parameters/huge_mappings"

static size_t page, size;
static unsigned long long bar_start;

struct touch_cost {
	long faults;
	double seconds;
	long pte_kib;		/* page tables the mapping added */
};

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* VmPTE of /proc/self/status, in KiB. */
static long vm_pte_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && kib < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmPTE:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read one byte of every page of @p, counting what it cost. */
static struct touch_cost touch_pages(const volatile uint8_t *p, size_t len)
{
	long faults = minor_faults(), pte = vm_pte_kib();
	double t = now_s();
	unsigned int sum = 0;

	for (size_t off = 0; off < len; off += page)
		sum += p[off];
	(void)sum;
	return (struct touch_cost){
		.faults = minor_faults() - faults,
		.seconds = now_s() - t,
		.pte_kib = vm_pte_kib() - pte,
	};
}

/* The block size the kernel under test should map with. */
static size_t expected_block(void)
{
	const char *huge = env_str("ivt_huge", "none");

	if (!strcmp(huge, "pud"))
		return PUD_SIZE;
	return FAULT_PAGES * page;
}

/* Fault in every block of @p: cheaper under emulation than every page. */
static void touch_blocks(const volatile uint8_t *p, size_t len)
{
	unsigned int sum = 0;

	for (size_t off = 0; off < len; off += PMD_SIZE)
		sum += p[off];
	(void)sum;
}

static int set_huge_mappings(bool on)
{
	return sysfs_write(PARAM, on ? "Y" : "N");
}

static uint8_t *map_shm(int fd, size_t len, int prot, off_t off)
{
	uint8_t *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * The cost of touching the whole region: huge mappings, small ones (the
 * module parameter off) and anonymous memory.  Only the fault counts are
 * asserted.
 */
TEST_TIMEOUT(touching_the_region_takes_few_faults, 240)
{
	int fd = dev_open(O_RDONLY);
	size_t block = expected_block();
	long bound = (long)(size / block) + 32;	/* and the program's own */
	struct touch_cost huge, small = { 0 }, anon;
	uint8_t *p;

	p = map_shm(fd, size, PROT_READ, 0);
	ASSERT_TRUE(p);
	if (block > FAULT_PAGES * page)
		EXPECT_EQ(((uintptr_t)p - bar_start) % block, 0);
	huge = touch_pages(p, size);
	munmap(p, size);
	TH_LOG("%zu MiB: %ld faults (bound %ld), %ld KiB of page tables",
	       size >> 20, huge.faults, bound, huge.pte_kib);
	EXPECT_TRUE(huge.faults <= bound);
	if (block == PUD_SIZE)	/* the goal: 256 times fewer than PTEs */
		EXPECT_TRUE(huge.faults <= (long)(size / page / 256));

	ASSERT_OK(set_huge_mappings(false));
	p = map_shm(fd, size, PROT_READ, 0);
	if (p) {
		small = touch_pages(p, size);
		munmap(p, size);
	}
	ASSERT_OK(set_huge_mappings(true));
	ASSERT_TRUE(p);
	/* The parameter really gives the PTE path. */
	EXPECT_TRUE(small.faults >= (long)(size / (FAULT_PAGES * page)) - 8);

	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	anon = touch_pages(p, size);
	munmap(p, size);

	printf("# bench: touch %zu MiB, small mappings: %ld faults, %.3f s, VmPTE +%ld KiB (baseline)\n",
	       size >> 20, small.faults, small.seconds, small.pte_kib);
	printf("# bench: touch %zu MiB, huge mappings (%s): %ld faults, %.3f s, VmPTE +%ld KiB; "
	       "fewer faults x%.0f, time ratio %.3f\n", size >> 20, env_str("ivt_huge", "none"),
	       huge.faults, huge.seconds, huge.pte_kib,
	       (double)small.faults / (double)(huge.faults ? huge.faults : 1),
	       huge.seconds / small.seconds);
	printf("# bench: touch %zu MiB, anonymous memory (read, zero page): %ld faults, %.3f s, "
	       "VmPTE +%ld KiB; huge/anonymous time ratio %.3f\n", size >> 20, anon.faults,
	       anon.seconds, anon.pte_kib, huge.seconds / anon.seconds);
	close(fd);
}

#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"

/*
 * Faults to touch the first 1 GiB block of a fresh whole-region mapping,
 * after @advice (madvise(), or 0 for none) on it.
 */
static long faults_to_touch_a_block(int fd, int advice)
{
	uint8_t *p = map_shm(fd, size, PROT_READ, 0);
	long faults;

	if (!p)
		return -1;
	if (advice && madvise(p, size, advice)) {
		munmap(p, size);
		return -2;
	}
	faults = minor_faults();
	touch_blocks(p, PUD_SIZE);
	faults = minor_faults() - faults;
	munmap(p, size);
	return faults;
}

/* The same in a child that has called prctl(PR_SET_THP_DISABLE). */
static long faults_without_thp(int fd)
{
	long *shared = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long faults = -1;
	pid_t pid;

	if (shared == MAP_FAILED)
		return -1;
	*shared = -1;
	pid = fork();
	if (pid == 0) {
		alarm(60);
		if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0)
			*shared = faults_to_touch_a_block(fd, 0);
		_exit(0);
	}
	if (pid > 0 && waitpid(pid, NULL, 0) == pid)
		faults = *shared;
	munmap(shared, sizeof(long));
	return faults;
}

/*
 * Which entries a fault maps, under every THP policy and opt-out: the
 * core trusts ->huge_fault() handlers whatever transparent_hugepage/enabled
 * says, while a VMA marked MADV_NOHUGEPAGE and a process that disabled
 * THP with prctl() get 4 KiB entries (README, "Huge mappings").  Counts
 * are for the first 1 GiB block, touched every 2 MiB: one fault with 1 GiB
 * entries, one per touch with 4 KiB ones.
 */
TEST_TIMEOUT(thp_policy_and_opt_outs_decide_the_entries, 240)
{
	static const char *const policies[] = { "always", "madvise", "never" };
	bool huge = expected_block() == PUD_SIZE;
	long pte = (long)(PUD_SIZE / PMD_SIZE), faults;	/* one touch per 2 MiB */
	char saved[128] = "", *open_b, *close_b;
	int fd = dev_open(O_RDONLY), sysfs;

	/* Few faults: 1 GiB entries; about one per touch: PTEs. */
#define IS_HUGE(n)	((n) >= 1 && (n) <= 8)
#define IS_PTE(n)	((n) >= pte - 8 && (n) <= pte + 64)
	sysfs = open(THP_ENABLED, O_RDWR | O_CLOEXEC);
	if (sysfs >= 0) {
		ssize_t n = read(sysfs, saved, sizeof(saved) - 1);

		saved[n > 0 ? n : 0] = 0;
	}
	open_b = strchr(saved, '[');
	close_b = open_b ? strchr(open_b, ']') : NULL;
	for (unsigned int i = 0; sysfs >= 0 && open_b && close_b && i < 3; i++) {
		ASSERT_OK(sysfs_write(THP_ENABLED, policies[i]));
		faults = faults_to_touch_a_block(fd, 0);
		TH_LOG("transparent_hugepage/enabled %s: %ld faults", policies[i], faults);
		EXPECT_TRUE(huge ? IS_HUGE(faults) : IS_PTE(faults));
	}
	if (open_b && close_b) {
		*close_b = 0;
		ASSERT_OK(sysfs_write(THP_ENABLED, open_b + 1));
	} else {
		TH_LOG("no %s: policies not tried", THP_ENABLED);
	}
	if (sysfs >= 0)
		close(sysfs);

	faults = faults_to_touch_a_block(fd, MADV_NOHUGEPAGE);
	TH_LOG("MADV_NOHUGEPAGE: %ld faults", faults);
	EXPECT_TRUE(IS_PTE(faults));
	faults = faults_without_thp(fd);
	TH_LOG("PR_SET_THP_DISABLE: %ld faults", faults);
	EXPECT_TRUE(IS_PTE(faults));
	/* MADV_HUGEPAGE changes nothing. */
	faults = faults_to_touch_a_block(fd, MADV_HUGEPAGE);
	TH_LOG("MADV_HUGEPAGE: %ld faults", faults);
	EXPECT_TRUE(huge ? IS_HUGE(faults) : IS_PTE(faults));
#undef IS_HUGE
#undef IS_PTE
	close(fd);
}

/* The first address from @p on that is a multiple of @align. */
static uint8_t *align_up(uint8_t *p, size_t align)
{
	return p + (align - (uintptr_t)p % align) % align;
}

/* Scratch area of these tests, clear of the host's and the other tests'. */
static off_t scratch(void)
{
	return (off_t)(size / 4 * 3);
}

#define WINDOW	(8UL << 20)

/*
 * A mapping whose addresses disagree with the physical ones modulo 1 GiB
 * cannot hold a PUD entry: a fault must fall back to PTEs rather than map
 * the aligned block around the physical address.
 */
TEST_TIMEOUT(misaligned_mapping_maps_the_right_memory, 120)
{
	int fd = dev_open(O_RDWR);
	off_t off = scratch();
	uint8_t *p, *area, *q;
	long faults;

	p = map_shm(fd, WINDOW, PROT_READ | PROT_WRITE, off);
	ASSERT_TRUE(p);
	pattern_fill(p, WINDOW, 41, (uint64_t)off);
	munmap(p, WINDOW);

	area = mmap(NULL, size + 2 * PUD_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(area != MAP_FAILED);
	q = align_up(area, PUD_SIZE) + (bar_start & (PUD_SIZE - 1)) + page;
	ASSERT_TRUE(mmap(q, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == q);
	faults = minor_faults();
	EXPECT_EQ(pattern_check(q + off, WINDOW, 41, (uint64_t)off), (size_t)-1);
	faults = minor_faults() - faults;
	TH_LOG("%ld faults for %lu MiB", faults, WINDOW >> 20);
	EXPECT_TRUE(faults >= (long)(WINDOW / (FAULT_PAGES * page)) - 2);
	munmap(area, size + 2 * PUD_SIZE);
	close(fd);
}

/*
 * An offset that is not block aligned: the kernel places the mapping so
 * that the block inside it still lines up, and every byte is the right one.
 * A mapping from the second page to the end holds the second 1 GiB block.
 */
TEST_TIMEOUT(offset_mapping_is_placed_for_huge_entries, 120)
{
	int fd = dev_open(O_RDWR);
	off_t off = (off_t)page;
	size_t len = size - page, second = PUD_SIZE - page;
	off_t window[2] = { (off_t)(size / 4), scratch() };
	struct touch_cost cost;
	uint8_t *p;

	/* One window in each block: the first gets PTEs, the second not. */
	for (int i = 0; i < 2; i++) {
		p = map_shm(fd, WINDOW, PROT_READ | PROT_WRITE, window[i]);
		ASSERT_TRUE(p);
		pattern_fill(p, WINDOW, 43, (uint64_t)window[i]);
		munmap(p, WINDOW);
	}

	p = map_shm(fd, len, PROT_READ, off);
	ASSERT_TRUE(p);
	EXPECT_EQ(pattern_check(p + window[0] - off, WINDOW, 43, (uint64_t)window[0]),
		  (size_t)-1);
	cost = touch_pages(p + second, len - second);
	EXPECT_EQ(pattern_check(p + window[1] - off, WINDOW, 43, (uint64_t)window[1]),
		  (size_t)-1);
	TH_LOG("%ld faults for the second GiB of a mapping at offset %#llx", cost.faults,
	       (unsigned long long)off);
	if (expected_block() == PUD_SIZE) {
		EXPECT_EQ(((uintptr_t)p - bar_start - (uintptr_t)off) % PUD_SIZE, 0);
		EXPECT_TRUE(cost.faults <= 32);
	}
	munmap(p, len);
	close(fd);
}

/* Run @fn in a child and return its wait status. */
static int in_child(void (*fn)(uint8_t *), uint8_t *p)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		alarm(20);
		fn(p);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	return status;
}

static void write_byte(uint8_t *p)
{
	*(volatile uint8_t *)p = 0x5a;
}

static void check_and_write(uint8_t *p)
{
	if (*(volatile uint8_t *)p != 0xa5)
		_exit(3);
	p[8] = 0x3c;
}

/*
 * A whole-region mapping with huge entries in place: fork shares them,
 * mprotect() and munmap() of one page in the middle split them, and the
 * rest keeps mapping the same memory.
 */
TEST_TIMEOUT(fork_mprotect_and_munmap_split_huge_entries, 120)
{
	int fd = dev_open(O_RDWR), status;
	size_t off = (size_t)scratch() + 3 * PMD_SIZE + 5 * page;
	uint8_t *p;

	p = map_shm(fd, size, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(p);
	touch_blocks(p, size);
	p[off] = 0xa5;

	status = in_child(check_and_write, p + off);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(p[off + 8], 0x3c);

	ASSERT_OK(mprotect(p + off - off % page, page, PROT_READ));
	status = in_child(write_byte, p + off);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	status = in_child(write_byte, p + off + page);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(p[off + page], 0x5a);
	EXPECT_EQ(p[off], 0xa5);

	ASSERT_OK(munmap(p + off - off % page + 2 * page, page));
	p[off + 3 * page] = 0x77;
	EXPECT_EQ(p[off + 3 * page], 0x77);
	EXPECT_EQ(p[off + page], 0x5a);
	status = in_child(write_byte, p + off + 2 * page);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	munmap(p, size);
	close(fd);
}

/* Reset this process's soft-dirty bits, as CRIU does; 0 or -1. */
static int clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? write(fd, "4", 1) : -1;

	if (fd >= 0)
		close(fd);
	return n == 1 ? 0 : -1;
}

/*
 * Soft-dirty tracking (clear_refs, as CRIU's pre-dump and garbage
 * collectors use it) write-protects the mapping's protection, so entries
 * are then inserted read-only and fork keeps them so: a write to such a 1
 * GiB entry must make it writable, not fault for ever.  In a child, with
 * no read of the block first, a read before clear_refs, and one after.
 */
TEST_TIMEOUT(write_after_clear_refs_finishes, 120)
{
	static const char *const orders[] = { "no read first", "read, clear_refs",
					      "clear_refs, read" };
	int fd = dev_open(O_RDWR), status;
	size_t off = (size_t)scratch() + 7 * page;
	uint8_t *p;

	for (int order = 0; order < 3; order++) {
		p = map_shm(fd, size, PROT_READ | PROT_WRITE, 0);
		ASSERT_TRUE(p);
		if (order == 1)
			(void)*(volatile uint8_t *)(p + off);
		if (clear_soft_dirty()) {
			munmap(p, size);
			SKIP("no soft-dirty tracking (clear_refs 4)");
		}
		if (order == 2)
			(void)*(volatile uint8_t *)(p + off);
		status = in_child(write_byte, p + off);
		__CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, true,
			"%s: the child's write did not finish (status 0x%x)", orders[order], status);
		EXPECT_EQ(p[off], 0x5a);
		p[off] = 0;
		munmap(p, size);
	}
	close(fd);
}

/*
 * Seconds to cut @len bytes at @p into @windows windows by mprotect(), then
 * to unmap them one by one.
 */
struct split_cost {
	double cut, unmap;
};

static struct split_cost cut_and_unmap(uint8_t *p, size_t len, size_t windows)
{
	size_t w = len / windows / page * page;
	struct split_cost cost;
	double t = now_s();

	/* Every other window read-only: each call cuts one VMA into up to three. */
	for (size_t i = 1; i < windows; i += 2)
		if (mprotect(p + i * w, w, PROT_READ))
			return (struct split_cost){ -1, -1 };
	cost.cut = now_s() - t;
	t = now_s();
	for (size_t i = 0; i < windows; i++)
		munmap(p + i * w, w);
	munmap(p + windows * w, len - windows * w);
	cost.unmap = now_s() - t;
	return cost;
}

/*
 * Each cut of a mapping opens a VMA, which makes the driver zap what may
 * hold a PUD entry: that must cost the same whatever the number of pieces
 * already there, not a walk over all of them.  A 1 GiB mapping with its
 * entries in place is cut into 60,000 windows and unmapped one window at
 * a time; printed against anonymous memory and the PTE path.  Asserted:
 * the pieces still map the right memory.
 */
TEST_TIMEOUT(cutting_a_mapping_into_many_pieces, 900)
{
	size_t windows = (size_t)env_long("ivt_split_windows", 60000), len = PUD_SIZE;
	size_t w = len / windows / page * page, off = (size_t)scratch() - len / 2;
	/* A window in the scratch area, clear of what the host checks. */
	size_t k = (windows / 2) | 1;
	int fd = dev_open(O_RDWR);
	struct split_cost huge, small = { 0 }, anon;
	uint8_t *p;

	ASSERT_TRUE(size >= 2 * PUD_SIZE);
	p = map_shm(fd, len, PROT_READ | PROT_WRITE, (off_t)(off / PUD_SIZE * PUD_SIZE));
	ASSERT_TRUE(p);
	touch_blocks(p, len);
	pattern_fill(p + k * w, 64, 49, k * w);
	ASSERT_OK(mprotect(p + (k - 2) * w, w, PROT_READ));
	EXPECT_EQ(pattern_check(p + k * w, 64, 49, k * w), (size_t)-1);
	huge = cut_and_unmap(p, len, windows);
	ASSERT_TRUE(huge.cut >= 0);

	ASSERT_OK(set_huge_mappings(false));
	p = map_shm(fd, len, PROT_READ | PROT_WRITE, (off_t)(off / PUD_SIZE * PUD_SIZE));
	if (p) {
		touch_blocks(p, len);
		small = cut_and_unmap(p, len, windows);
	}
	ASSERT_OK(set_huge_mappings(true));
	ASSERT_TRUE(p);

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	touch_blocks(p, len);
	anon = cut_and_unmap(p, len, windows);

	printf("# bench: cut 1 GiB into %zu windows by mprotect, anonymous memory: %.3f s, "
	       "then unmapped window by window: %.3f s (baseline)\n", windows, anon.cut, anon.unmap);
	printf("# bench: the same on the shared memory, PTE path: %.3f s / %.3f s, "
	       "ratio to anonymous %.2f / %.2f\n", small.cut, small.unmap,
	       small.cut / anon.cut, small.unmap / anon.unmap);
	printf("# bench: the same on the shared memory, huge entries (%s): %.3f s / %.3f s, "
	       "ratio to anonymous %.2f / %.2f\n", env_str("ivt_huge", "none"), huge.cut, huge.unmap,
	       huge.cut / anon.cut, huge.unmap / anon.unmap);
	close(fd);
}

/*
 * mremap() moves page tables: a whole-region mapping with huge entries, to
 * an address the kernel picks and then to one misaligned by a page.
 */
TEST_TIMEOUT(mremap_moves_a_huge_mapping, 120)
{
	int fd = dev_open(O_RDWR);
	size_t off = (size_t)scratch() + PMD_SIZE + 3 * page;
	uint8_t *p, *q, *area, *r;

	p = map_shm(fd, size, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(p);
	touch_blocks(p, size);
	pattern_fill(p + off, 64, 45, off);

	q = mremap(p, size, size, MREMAP_MAYMOVE);
	ASSERT_TRUE(q != MAP_FAILED);
	EXPECT_EQ(pattern_check(q + off, 64, 45, off), (size_t)-1);
	touch_blocks(q, size);

	area = mmap(NULL, size + PUD_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_TRUE(area != MAP_FAILED);
	r = align_up(area, PUD_SIZE) + page;
	ASSERT_TRUE(mremap(q, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, r) == r);
	EXPECT_EQ(pattern_check(r + off, 64, 45, off), (size_t)-1);
	r[off + 100] = 0x11;
	EXPECT_EQ(r[off + 100], 0x11);
	munmap(area, size + PUD_SIZE);
	close(fd);
}

/*
 * mbind(MPOL_MF_STRICT) walks a mapping's page tables looking for pages
 * even where it cannot move them: over huge entries it must neither crash
 * nor change what is mapped.
 */
TEST(mbind_strict_over_a_huge_mapping)
{
	int fd = dev_open(O_RDWR);
	size_t off = (size_t)scratch() + 5 * page;
	unsigned long nodes = 1;
	uint8_t *p;
	long ret;

	p = map_shm(fd, size, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(p);
	touch_blocks(p, size);
	pattern_fill(p + off, 64, 47, off);
	/* MPOL_BIND is 2, MPOL_MF_STRICT 1 */
	ret = syscall(SYS_mbind, p, size, 2, &nodes, 8 * sizeof(nodes), 1);
	TH_LOG("mbind: %ld (%s)", ret, ret ? strerror(errno) : "ok");
	EXPECT_EQ(pattern_check(p + off, 64, 47, off), (size_t)-1);
	munmap(p, size);
	close(fd);
}

/* The memory type of BAR2, with a huge mapping of it in place. */
TEST(huge_mapping_is_write_back)
{
	int fd = dev_open(O_RDONLY);
	char type[64];
	uint8_t *p;
	int ret;

	p = map_shm(fd, size, PROT_READ, 0);
	ASSERT_TRUE(p);
	touch_blocks(p, size);
	ret = bar2_memtype(dev_name(), type, sizeof(type));
	munmap(p, size);
	close(fd);
	if (ret == -ENOENT)
		SKIP("no PAT memtype list (debugfs or PAT missing)");
	ASSERT_EQ(ret, 0);
	EXPECT_TRUE(strcmp(type, "write-back") == 0);
}

int main(int argc, char **argv)
{
	unsigned long long end;

	page = (size_t)sysconf(_SC_PAGESIZE);
	size = (size_t)env_long("ivt_size", 0);
	if (dev_bar2(dev_name(), &bar_start, &end) == 0 && !size)
		size = (size_t)(end - bar_start + 1);
	return harness_main(argc, argv);
}
