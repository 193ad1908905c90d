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
 * Last, the root port above the plain device reports a fatal error
 * (injected by the host) while a writer is at work: AER recovery resets the
 * link, and no write may be lost.
 *
 * Environment: ivt_plain_dev, ivt_seed, ivt_guest_off, ivt_xfer.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
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
#include "lib/readback.h"

/* Where the host marks each phase (a 64-bit word) in both memories. */
#define MARK_OFF	8192
#define MARK_MAGIC	0x6c6966656379636cULL	/* "lifecycl" */
#define PLAIN_OFF	((size_t)1 << 20)
#define CHILD_VECTOR	1
#define HOST_MS		240000	/* the host may be slow to act, but acts */
#define AER_OFF		((size_t)64 << 20)	/* the AER phase's writer's window */
#define AER_WINDOW	((size_t)16 << 20)

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

/*
 * The kernel's verdict on the next AER recovery: 1 successful, 0 failed,
 * -1 none within timeout_ms.  @kmsg was opened before the error.
 */
static int aer_recovery_verdict(int kmsg, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	char rec[2048];

	while (now_ms() < deadline) {
		ssize_t n = read(kmsg, rec, sizeof(rec) - 1);

		if (n < 0) {
			if (errno != EAGAIN && errno != EPIPE)
				return -1;
			usleep(50 * 1000);
			continue;
		}
		rec[n] = 0;
		if (strstr(rec, "AER: device recovery successful"))
			return 1;
		if (strstr(rec, "AER: device recovery failed"))
			return 0;
	}
	return -1;
}

/* The root port above device @name handles AER: it counts fatal errors. */
static bool port_has_aer(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/misc/%s/device/../aer_rootport_total_err_fatal",
		 name);
	return access(path, F_OK) == 0;
}

/*
 * A fatal error reported by the root port above the plain device: the
 * kernel's AER recovery resets the link below it while a writer is at
 * work.  The recovery succeeds, and no write is lost: the writer is held
 * through the reset and goes on.
 */
TEST_TIMEOUT(aer_recovery_holds_writers_and_succeeds, 300)
{
	uint64_t want = MARK_MAGIC + 4;
	char reset[PATH_MAX];
	struct readback_report *w;
	struct region plain;
	unsigned long passes;
	int kmsg, verdict;
	pid_t pid;

	if (!port_has_aer(env_str("ivt_plain_dev", "ivshmem1"))) {
		/* The host waits for one word or the other. */
		printf("# lifecycle: no aer\n");
		fflush(stdout);
		SKIP("the kernel does not handle AER (no CONFIG_PCIEAER)");
	}
	/* A reset first: on 6.1 it uses up the PCI core's saved state. */
	snprintf(reset, sizeof(reset), "/sys/class/misc/%s/device/reset",
		 env_str("ivt_plain_dev", "ivshmem1"));
	ASSERT_EQ(sysfs_write(reset, "1"), 0);
	region_open(&plain, env_str("ivt_plain_dev", "ivshmem1"), 0, 0);
	ASSERT_TRUE(AER_OFF + AER_WINDOW <= plain.len);
	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(w != MAP_FAILED);
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_TRUE(kmsg >= 0);
	ASSERT_EQ(lseek(kmsg, 0, SEEK_END), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		readback_writer(w, (volatile uint64_t *)(plain.map + AER_OFF), AER_WINDOW);
	}
	while (atomic_load(&w->passes) < 1)
		usleep(10 * 1000);

	printf("# lifecycle: ready aer\n");
	fflush(stdout);
	ASSERT_TRUE(wait_mark(&plain, 1, want));
	verdict = aer_recovery_verdict(kmsg, 60000);
	passes = atomic_load(&w->passes);
	/* Two more passes: one begun after the recovery. */
	for (int i = 0; i < 3000 && atomic_load(&w->passes) < passes + 2; i++)
		usleep(10 * 1000);
	atomic_store(&w->stop, true);
	ASSERT_EQ(waitpid(pid, NULL, 0), pid);
	TH_LOG("AER recovery: %s; %lu passes, %lu writes lost",
	       verdict == 1 ? "successful" : verdict == 0 ? "failed" : "none seen",
	       atomic_load(&w->passes), atomic_load(&w->lost));
	EXPECT_EQ(verdict, 1);
	EXPECT_EQ(atomic_load(&w->lost), 0);
	EXPECT_GE(atomic_load(&w->passes), passes + 2);
	close(kmsg);
	region_close(&plain);
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
