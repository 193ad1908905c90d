// SPDX-License-Identifier: GPL-2.0
/*
 * The VM's life goes on around a mapped device: the host takes a snapshot
 * and loads it again (savevm, loadvm), migrates the VM to a file and starts
 * it from there in a second QEMU, and the guest itself sleeps in S3 and
 * wakes.  Two devices, both with master=on (QEMU migrates nothing else):
 * ivshmem-doorbell (ivt_dev) and ivshmem-plain (ivt_plain_dev).
 *
 * Each phase writes a pattern through mappings of both devices, leaves a
 * child blocked in WAIT on vector 1, says "# lifecycle: ready PHASE" on the
 * KTAP line and, once the host (selftests/lib/qmp-lifecycle) has done the
 * event, waits for the host's mark in both shared memories.  Then: the
 * mark came through the old mappings (they still reach the shared memory),
 * the pattern is intact, the child is still blocked, our peer ID is what
 * it was, and a doorbell to ourselves wakes the child.  The host checks the
 * pattern in the files after the run (for the migration, in the files of
 * the destination).
 *
 * Environment: ivt_plain_dev, ivt_seed, ivt_guest_off, ivt_xfer.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/pattern.h"

/* Where the host marks each phase (a 64-bit word) in both memories. */
#define MARK_OFF	8192
#define MARK_MAGIC	0x6c6966656379636cULL	/* "lifecycl" */
#define PLAIN_OFF	((size_t)1 << 20)
#define CHILD_VECTOR	1
#define HOST_MS		240000	/* the host may be slow to act, but acts */

struct region {
	const char *name;
	int fd;
	volatile uint8_t *map;
	size_t len, pattern_off;
	uint64_t seed;
};

static void region_open(struct region *r, const char *name, size_t pattern_off, uint64_t seed)
{
	char path[64];
	struct ivshmem_info info;

	snprintf(path, sizeof(path), "/dev/%s", name);
	r->name = name;
	r->fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_TRUE(r->fd >= 0);
	dev_get_info(r->fd, &info);
	r->len = info.size;
	r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	ASSERT_TRUE(r->map != MAP_FAILED);
	r->pattern_off = pattern_off;
	r->seed = seed;
}

static void region_close(struct region *r)
{
	munmap((void *)r->map, r->len);
	close(r->fd);
}

static uint64_t mark_of(const struct region *r)
{
	return *(volatile uint64_t *)(r->map + MARK_OFF);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wait_mark(const struct region *r, int nr, uint64_t want)
{
	long deadline = now_ms() + HOST_MS;

	while (now_ms() < deadline) {
		int i;

		for (i = 0; i < nr && mark_of(&r[i]) == want; i++)
			;
		if (i == nr)
			return true;
		usleep(20 * 1000);
	}
	return false;
}

/* A child blocked in WAIT on CHILD_VECTOR: exits 0 when woken by it. */
static pid_t blocked_waiter(int fd)
{
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		uint64_t mask = 1ULL << CHILD_VECTOR;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(dev_wait(fd, &mask, HOST_MS + 60000) == 0 &&
		      (mask & (1ULL << CHILD_VECTOR)) ? 0 : 1);
	}
	return pid;
}

/* The child's exit status within timeout_ms, or -1 while it still runs. */
static int child_status(pid_t pid, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10 * 1000);
	} while (now_ms() < deadline);
	return -1;
}

static void suspend_to_ram(void)
{
	/* The RTC's alarm wakes us. */
	ASSERT_EQ(sysfs_write("/sys/class/rtc/rtc0/wakealarm", "0"), 0);
	ASSERT_EQ(sysfs_write("/sys/class/rtc/rtc0/wakealarm", "+3"), 0);
	ASSERT_EQ(sysfs_write("/sys/power/state", "mem"), 0);
}

static void lifecycle_phase(int phase, const char *event, void (*guest_event)(void))
{
	uint64_t seed = (uint64_t)env_long("ivt_seed", 1), want = MARK_MAGIC + phase;
	size_t xfer = (size_t)env_long("ivt_xfer", 65536);
	struct region r[2];
	struct ivshmem_info before, after;
	pid_t child;
	int status;

	region_open(&r[0], dev_name(), (size_t)env_long("ivt_guest_off", 0), ~seed);
	region_open(&r[1], env_str("ivt_plain_dev", "ivshmem1"), PLAIN_OFF, ~seed);
	for (int i = 0; i < 2; i++) {
		ASSERT_TRUE(r[i].pattern_off + xfer <= r[i].len);
		pattern_fill((uint8_t *)r[i].map + r[i].pattern_off, xfer, r[i].seed,
			     r[i].pattern_off);
	}
	dev_get_info(r[0].fd, &before);
	ASSERT_GE(before.peer_id, 0);

	child = blocked_waiter(r[0].fd);
	usleep(300 * 1000);
	ASSERT_EQ(child_status(child, 0), -1);
	printf("# lifecycle: ready %s\n", event);
	fflush(stdout);
	if (guest_event)
		guest_event();

	/* Through the mappings made before the event. */
	ASSERT_TRUE(wait_mark(r, 2, want));
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(pattern_check(r[i].map + r[i].pattern_off, xfer, r[i].seed,
					r[i].pattern_off), (size_t)-1);

	/* The ID is the master's, 0, on every server it has (README). */
	dev_get_info(r[0].fd, &after);
	EXPECT_EQ(after.peer_id, before.peer_id);
	EXPECT_EQ(child_status(child, 0), -1);
	ASSERT_EQ(dev_ring(r[0].fd, (uint32_t)after.peer_id, CHILD_VECTOR), 0);
	status = child_status(child, 20000);
	if (status == -1)
		kill(child, SIGKILL);
	EXPECT_EQ(status, 0);

	/* New opens and mappings see the same memory. */
	for (int i = 0; i < 2; i++) {
		struct region fresh;

		region_open(&fresh, r[i].name, r[i].pattern_off, r[i].seed);
		EXPECT_EQ(mark_of(&fresh), want);
		region_close(&fresh);
		region_close(&r[i]);
	}
}

TEST_TIMEOUT(savevm_and_loadvm_keep_mappings_and_a_blocked_wait, 400)
{
	lifecycle_phase(1, "savevm", NULL);
}

TEST_TIMEOUT(migration_keeps_mappings_a_blocked_wait_and_the_peer_id, 400)
{
	lifecycle_phase(2, "migrate", NULL);
}

TEST_TIMEOUT(suspend_to_ram_keeps_mappings_and_doorbells, 400)
{
	char states[128] = "";
	int fd = open("/sys/power/state", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = read(fd, states, sizeof(states) - 1);

		states[n > 0 ? n : 0] = 0;
		close(fd);
	}
	if (!strstr(states, "mem"))
		SKIP("the kernel cannot suspend to RAM (/sys/power/state: \"%s\")", states);
	lifecycle_phase(3, "suspend", suspend_to_ram);
}

TEST(module_reloads_after_the_lifecycle_events)
{
	struct ivshmem_info info;
	int fd;

	ASSERT_EQ(module_unload(), 0);
	ASSERT_EQ(module_load(), 0);
	ASSERT_EQ(wait_path(dev_path(), true, 10000), 0);
	fd = dev_open(O_RDWR);
	dev_get_info(fd, &info);
	EXPECT_EQ(info.irq_mode, IVSHMEM_IRQ_MSIX);
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
