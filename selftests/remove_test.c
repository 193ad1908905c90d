// SPDX-License-Identifier: GPL-2.0
/*
 * The PCI device going away under an open, mapped and waiting file, and
 * coming back.  Runs on a doorbell device (ivshmem0) with a second device
 * (ivshmem1) beside it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/pattern.h"

#define DRIVER_DIR	"/sys/bus/pci/drivers/ivshmem"
#define GONE_MS		5000

static size_t page;

/* Run @fn in a child; return its wait status. */
static pid_t spawn(void (*fn)(int), int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn(fd);
		_exit(0);
	}
	return pid;
}

static void waiter(int fd)
{
	uint64_t mask = 1;

	_exit(dev_wait(fd, &mask, -1) == -1 && errno == ENODEV ? 0 : 1);
}

static void poller(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	_exit(poll(&pfd, 1, -1) == 1 && pfd.revents == (POLLHUP | POLLERR) ? 0 : 1);
}

static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static void touch(void *p)
{
	(void)*(volatile uint8_t *)p;
}

TEST_TIMEOUT(unbind_while_open_mapped_and_waiting, 60)
{
	int fd = dev_open(O_RDWR), efd = eventfd(0, EFD_CLOEXEC), status;
	struct ivshmem_info info;
	char addr[32];
	uint8_t *p;
	pid_t w, pl, t;
	uint64_t mask = 1;

	ASSERT_OK(dev_pci_addr(dev_name(), addr, sizeof(addr)));
	p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	pattern_fill(p, 4 * page, 99, 0);	/* the PTEs now exist */
	ASSERT_OK(dev_set_eventfd(fd, 0, efd));

	w = spawn(waiter, fd);
	pl = spawn(poller, fd);
	usleep(300 * 1000);	/* let both block */
	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	EXPECT_EQ(wait_path(dev_path(), false, GONE_MS), 0);

	status = child_status(w);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	status = child_status(pl);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info), ENODEV);
	EXPECT_ERRNO(dev_ring(fd, 0, 0), ENODEV);
	EXPECT_ERRNO(dev_set_eventfd(fd, 0, efd), ENODEV);
	EXPECT_ERRNO(dev_wait(fd, &mask, 0), ENODEV);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY,
			   &(struct ivshmem_wait_ready){ .timeout_ms = 0 }), ENODEV);
	EXPECT_ERRNO((long)mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0), ENODEV);

	/* The old mapping is revoked: both present and never-touched pages. */
	for (int i = 0; i < 4; i += 3) {
		t = fork();
		if (t == 0) {
			touch(p + i * page);
			_exit(0);
		}
		status = child_status(t);
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
	}
	munmap(p, 4 * page);
	close(efd);
	close(fd);

	/* Binding again brings the device, and the memory, back. */
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	ASSERT_EQ(wait_path(dev_path(), true, GONE_MS), 0);
	fd = dev_open(O_RDWR);
	dev_get_info(fd, &info);
	p = mmap(NULL, 4 * page, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	EXPECT_EQ(pattern_check(p, 4 * page, 99, 0), (size_t)-1);
	munmap(p, 4 * page);
	close(fd);
}

/*
 * The same revocation for a mapping of the whole region, whose faults map
 * PMD or PUD entries where the kernel can (huge_test): zapping them leaves
 * no block of the old memory reachable.
 */
TEST_TIMEOUT(unbind_revokes_a_huge_mapping, 120)
{
	int fd = dev_open(O_RDWR), status;
	struct ivshmem_info info;
	size_t size, at[3];
	char addr[32];
	uint8_t *p;
	pid_t t;

	ASSERT_OK(dev_pci_addr(dev_name(), addr, sizeof(addr)));
	dev_get_info(fd, &info);
	size = (size_t)info.size;
	at[0] = 0;
	at[1] = size / 2 + 3 * page;
	at[2] = size - page;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	for (size_t off = 0; off < size; off += 2 << 20)
		touch(p + off);
	for (int i = 0; i < 3; i++)
		pattern_fill(p + at[i], 64, 98, at[i]);

	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	EXPECT_EQ(wait_path(dev_path(), false, GONE_MS), 0);
	for (int i = 0; i < 3; i++) {
		t = fork();
		if (t == 0) {
			touch(p + at[i]);
			_exit(0);
		}
		status = child_status(t);
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
	}
	munmap(p, size);
	close(fd);

	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	ASSERT_EQ(wait_path(dev_path(), true, GONE_MS), 0);
	fd = dev_open(O_RDONLY);
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(pattern_check(p + at[i], 64, 98, at[i]), (size_t)-1);
	munmap(p, size);
	close(fd);
}

TEST_TIMEOUT(remove_and_rescan_reuses_index, 60)
{
	char addr[32], path[128];
	struct ivshmem_info info;
	int fd, other;

	ASSERT_OK(dev_pci_addr(dev_name(), addr, sizeof(addr)));
	/* The neighbour stays open across the removal, untouched. */
	other = open("/dev/ivshmem1", O_RDWR | O_CLOEXEC);
	ASSERT_OK(other);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", addr);
	ASSERT_OK(sysfs_write(path, "1"));
	EXPECT_EQ(wait_path(dev_path(), false, GONE_MS), 0);
	EXPECT_EQ(access("/dev/ivshmem1", F_OK), 0);
	dev_get_info(other, &info);
	EXPECT_EQ(info.index, 1);

	ASSERT_OK(sysfs_write("/sys/bus/pci/rescan", "1"));
	ASSERT_EQ(wait_path(dev_path(), true, GONE_MS), 0);
	fd = dev_open(O_RDWR);
	dev_get_info(fd, &info);
	EXPECT_EQ(info.index, 0);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_READY);
	close(fd);
	close(other);
}

/* Wait up to @ms for @pid; its status, or -1 (and it is killed) on timeout. */
static int child_status_within(pid_t pid, int ms)
{
	int status;

	for (int waited = 0; waited < ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

TEST_TIMEOUT(eventfd_reader_wakes_on_removal, 60)
{
	int fd = dev_open(O_RDWR), efd = eventfd(0, EFD_CLOEXEC), status;
	char addr[32];
	pid_t pid;

	ASSERT_OK(dev_pci_addr(dev_name(), addr, sizeof(addr)));
	ASSERT_OK(dev_set_eventfd(fd, 1, efd));
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		struct ivshmem_info info;
		uint64_t count;

		/* What a user of ivshmem_vector_fd() does: block in read(). */
		if (read(efd, &count, sizeof(count)) != sizeof(count))
			_exit(2);
		/* Woken by the removal, the device file says it is gone. */
		_exit(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info) == -1 && errno == ENODEV ? 0 : 3);
	}
	usleep(300 * 1000);	/* let it block */
	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	status = child_status_within(pid, GONE_MS);
	EXPECT_NE(status, -1);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(efd);
	close(fd);
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	EXPECT_EQ(wait_path(dev_path(), true, GONE_MS), 0);
}

enum wake_mode { WAKE_BY_POLL, WAKE_BY_WAIT, WAKE_BY_NODE };

/*
 * Block in poll() or WAIT, or watch the device node, and the moment we learn
 * of the removal, write to the mapping.  The write must fault (SIGBUS):
 * exiting means it went through.
 */
static void write_on_wake(int fd, uint8_t *p, enum wake_mode mode)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t mask = 1;

	if (mode == WAKE_BY_POLL)
		poll(&pfd, 1, 10000);
	else if (mode == WAKE_BY_WAIT)
		dev_wait(fd, &mask, 10000);
	else
		while (access(dev_path(), F_OK) == 0)
			sched_yield();
	*(volatile uint8_t *)p = 0x5a;
	_exit(1);
}

/* ITERATIONS rounds, or ivt_removal_races of them (fewer on debug kernels). */
static void removal_race(enum wake_mode mode, int iterations)
{
	int went_through = 0, other = 0;
	char addr[32];

	iterations = (int)env_long("ivt_removal_races", iterations);
	ASSERT_OK(dev_pci_addr(dev_name(), addr, sizeof(addr)));
	for (int i = 0; i < iterations; i++) {
		int fd = dev_open(O_RDWR), status;
		uint8_t *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		pid_t pid;

		ASSERT_TRUE(p != MAP_FAILED);
		*(volatile uint8_t *)p = 0;	/* the PTE exists */
		pid = fork();
		ASSERT_OK(pid);
		if (pid == 0)
			write_on_wake(fd, p, mode);
		/* Sometimes the child is asleep, sometimes still on its way. */
		usleep((i % 4) * 2000);
		ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
		status = child_status_within(pid, GONE_MS);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
			went_through++;
		else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGBUS)
			other++;
		munmap(p, page);
		close(fd);
		ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
		ASSERT_EQ(wait_path(dev_path(), true, GONE_MS), 0);
	}
	TH_LOG("%d iterations: %d writes went through, %d other outcomes",
	       iterations, went_through, other);
	EXPECT_EQ(went_through, 0);
	EXPECT_EQ(other, 0);
}

TEST_TIMEOUT(removal_revokes_before_waking_poll, 600)
{
	removal_race(WAKE_BY_POLL, 200);
}

TEST_TIMEOUT(removal_revokes_before_waking_wait, 600)
{
	removal_race(WAKE_BY_WAIT, 200);
}

TEST_TIMEOUT(removal_revokes_before_the_node_goes, 600)
{
	removal_race(WAKE_BY_NODE, 100);
}

TEST(unbind_with_nothing_open)
{
	char addr[32];

	ASSERT_OK(dev_pci_addr(dev_name(), addr, sizeof(addr)));
	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	EXPECT_EQ(wait_path(dev_path(), false, GONE_MS), 0);
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	EXPECT_EQ(wait_path(dev_path(), true, GONE_MS), 0);
}

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	return harness_main(argc, argv);
}
