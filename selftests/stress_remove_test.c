// SPDX-License-Identifier: GPL-2.0
/*
 * Removal in the middle of everything: worker threads keep opening the
 * device, calling every ioctl, faulting mappings (catching SIGBUS), polling,
 * binding and unbinding eventfds and querying netlink, while the main
 * thread unbinds and binds it, removes it from PCI and rescans, and unloads
 * and reloads the module whenever the workers have closed everything.  Only
 * the documented errors and SIGBUS may come back, and nothing may hang (the
 * harness's timeout).  Runs on a doorbell device (ivshmem0) with a second
 * device (ivshmem1) beside it; rings go only to this guest's own ID.  A
 * module reload may give the doorbell device index 1 (after a rescan it
 * comes last on the bus), so the workers follow it by its PCI address.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/genl_util.h"
#include "lib/ivshmem_test.h"

#define WORKERS		4
#define CYCLES		30	/* a third each of unbind, PCI remove, rmmod */
#define DRIVER_DIR	"/sys/bus/pci/drivers/ivshmem"
#define BACK_MS		10000

static atomic_bool stop, pause_wanted;
static atomic_int paused, exited, unexpected;
static atomic_int dev_index;	/* N of the doorbell device's /dev/ivshmemN */
static atomic_long calls, sigbus;
static size_t page;

/* volatile: set around the faulting reads, which the compiler must not move. */
static __thread sigjmp_buf *volatile fault_jump;

static void on_sigbus(int sig)
{
	(void)sig;
	if (fault_jump)
		siglongjmp(*fault_jump, 1);
	_exit(99);
}

/* A result outside what the ABI documents for a device that may be gone. */
static void check(const char *what, long ret, const int *allowed)
{
	atomic_fetch_add(&calls, 1);
	if (ret >= 0)
		return;
	for (; *allowed; allowed++)
		if (errno == *allowed)
			return;
	if (atomic_fetch_add(&unexpected, 1) < 10)
		TH_LOG("%s: unexpected errno %d (%s)", what, errno, strerror(errno));
}

static const int gone[] = { ENODEV, 0 };
static const int gone_or_timeout[] = { ENODEV, ETIMEDOUT, 0 };
static const int gone_or_not_ready[] = { ENODEV, EAGAIN, 0 };
/* Opening races the node's removal and creation. */
static const int open_errors[] = { ENOENT, ENODEV, ENXIO, 0 };

/* Map a few pages somewhere and touch them; SIGBUS is the documented end. */
static void touch_mapping(int fd, uint64_t size, unsigned int *seed)
{
	size_t len = (1 + rand_r(seed) % 4) * page;
	off_t off = (off_t)((rand_r(seed) % (size / page - 4)) * page);
	volatile uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	sigjmp_buf jump;

	check("mmap", p == MAP_FAILED ? -1 : 0, gone);
	if (p == MAP_FAILED)
		return;
	if (sigsetjmp(jump, 1) == 0) {
		fault_jump = &jump;
		for (size_t i = 0; i < len; i += page)
			(void)p[i];	/* reads only: the memory is others' too */
	} else {
		atomic_fetch_add(&sigbus, 1);
	}
	fault_jump = NULL;
	munmap((void *)p, len);
}

static void one_call(int fd, struct ivshmem_info *info, int efd, struct nl_sock *sk,
		     int family, unsigned int *seed)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct ivshmem_wait_ready ready = { .timeout_ms = 0 };
	uint64_t mask = 1ULL << (rand_r(seed) % 4);
	int ret;

	switch (rand_r(seed) % 9) {
	case 0:
		check("GET_INFO", ioctl(fd, IVSHMEM_IOCTL_GET_INFO, info), gone);
		break;
	case 1:
		if (info->peer_id >= 0)
			check("RING", dev_ring(fd, (uint32_t)info->peer_id, rand_r(seed) % 4),
			      gone_or_not_ready);
		break;
	case 2:
		check("SET_EVENTFD", dev_set_eventfd(fd, rand_r(seed) % 4,
						     rand_r(seed) % 2 ? efd : -1), gone);
		break;
	case 3:
		check("WAIT", dev_wait(fd, &mask, rand_r(seed) % 5), gone_or_timeout);
		break;
	case 4:
		check("WAIT_READY", ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, &ready), gone);
		break;
	case 5:
		check("poll", poll(&pfd, 1, rand_r(seed) % 5), gone);
		break;
	case 6:
		if (info->size >= 8 * page)
			touch_mapping(fd, info->size, seed);
		break;
	case 7:
		/* A dump skips a device that goes; it never fails. */
		ret = genl_test_request(sk, family, IVSHMEM_CMD_GET, 0, NLM_F_DUMP);
		errno = EIO;
		check("netlink dump", ret ? -1 : 0, gone);
		break;
	default:
		/* The device at index 0 may be gone: ENODEV, as documented. */
		ret = genl_test_request(sk, family, IVSHMEM_CMD_GET, 0, 0);
		errno = ret == -NLE_NODEV || ret == -NLE_OBJ_NOTFOUND ? ENODEV : EIO;
		check("netlink get", ret ? -1 : 0, gone);
		break;
	}
}

static void *worker(void *arg)
{
	unsigned int seed = *(unsigned int *)arg;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), family;
	struct nl_sock *sk = genl_test_open(&family);

	if (!sk || efd < 0) {
		atomic_fetch_add(&unexpected, 1);
		return NULL;
	}
	while (!atomic_load(&stop)) {
		struct ivshmem_info info = { .peer_id = -1 };
		char path[32];
		int fd;

		if (atomic_load(&pause_wanted)) {
			/* Everything closed: the module may go. */
			atomic_fetch_add(&paused, 1);
			while (atomic_load(&pause_wanted) && !atomic_load(&stop))
				usleep(1000);
			atomic_fetch_sub(&paused, 1);
			/* A reloaded module registers its family anew, under a new ID. */
			nl_socket_free(sk);
			sk = genl_test_open(&family);
			if (!sk) {
				atomic_fetch_add(&unexpected, 1);
				break;
			}
			continue;
		}
		snprintf(path, sizeof(path), "/dev/ivshmem%d", atomic_load(&dev_index));
		fd = open(path, O_RDWR | O_CLOEXEC);
		check("open", fd, open_errors);
		if (fd < 0) {
			usleep(1000);
			continue;
		}
		if (ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info))
			info.peer_id = -1;
		else if (!(info.flags & IVSHMEM_INFO_DOORBELL)) {
			/* The neighbour took the index for a moment. */
			close(fd);
			continue;
		}
		for (int n = 1 + rand_r(&seed) % 16; n; n--)
			one_call(fd, &info, efd, sk, family, &seed);
		close(fd);
	}
	nl_socket_free(sk);
	close(efd);
	atomic_fetch_add(&exited, 1);
	return NULL;
}

/* Wait for the device at @addr to be bound again; its index, or -1. */
static int find_device(const char *addr)
{
	char name[16], found[32];

	for (int waited = 0; waited < BACK_MS; waited += 10) {
		for (int i = 0; i < 4; i++) {
			snprintf(name, sizeof(name), "ivshmem%d", i);
			if (dev_pci_addr(name, found, sizeof(found)) == 0 && !strcmp(found, addr))
				return i;
		}
		usleep(10 * 1000);
	}
	return -1;
}

TEST_TIMEOUT(calls_race_unbind_pci_remove_and_rmmod, 600)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	char addr[32], other[32], path[128];
	static unsigned int seeds[WORKERS];
	pthread_t threads[WORKERS];
	int done[3] = { 0 }, index;

	ASSERT_OK(dev_pci_addr("ivshmem0", addr, sizeof(addr)));
	ASSERT_OK(dev_pci_addr("ivshmem1", other, sizeof(other)));
	ASSERT_OK(sigaction(SIGBUS, &sa, NULL));
	for (int i = 0; i < WORKERS; i++) {
		seeds[i] = (unsigned int)(env_long("ivt_seed", 1) + i);
		ASSERT_EQ(pthread_create(&threads[i], NULL, worker, &seeds[i]), 0);
	}

	for (int cycle = 0; cycle < CYCLES; cycle++) {
		usleep(50 * 1000 + cycle % 5 * 20 * 1000);	/* calls in flight */
		switch (cycle % 3) {
		case 0:
			ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
			ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
			break;
		case 1:
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/remove", addr);
			ASSERT_OK(sysfs_write(path, "1"));
			ASSERT_OK(sysfs_write("/sys/bus/pci/rescan", "1"));
			break;
		default:
			atomic_store(&pause_wanted, true);
			while (atomic_load(&paused) + atomic_load(&exited) < WORKERS)
				usleep(1000);
			EXPECT_EQ(module_unload() || module_load(), 0);
			atomic_store(&pause_wanted, false);
			break;
		}
		index = find_device(addr);
		ASSERT_GE(index, 0);
		atomic_store(&dev_index, index);
		done[cycle % 3]++;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(threads[i], NULL);

	TH_LOG("%d unbinds, %d PCI removes, %d module reloads; %ld calls, %ld SIGBUS",
	       done[0], done[1], done[2], atomic_load(&calls), atomic_load(&sigbus));
	EXPECT_EQ(atomic_load(&unexpected), 0);
	EXPECT_GE(atomic_load(&calls), 1000);
	/* The device works afterwards; put it back at index 0 for what follows. */
	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", other));
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", other));
	ASSERT_EQ(find_device(addr), 0);
	int fd = dev_open(O_RDWR);
	struct ivshmem_info info;

	dev_get_info(fd, &info);
	EXPECT_EQ(info.index, 0);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_DOORBELL);
	close(fd);
}

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	return harness_main(argc, argv);
}
