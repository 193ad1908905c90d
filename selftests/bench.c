// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks, not tests: they print "# bench:" lines with numbers and their
 * ratio to a baseline measured in the same run, and count as no test case.
 * The exit status is 2 only if they cannot measure at all.
 *
 *  - bandwidth of the shared-memory mapping against anonymous memory: the
 *    ratio shows whether the mapping is cached (near 1) or not (far below);
 *  - doorbell latency (ring oneself, wake by eventfd, WAIT or poll) as
 *    p50, p99 and p99.9, against an eventfd written and polled in one thread;
 *  - BAR2 mapped through sysfs with uio_pci_generic bound, uncached and
 *    write-combining, against our mapping: bandwidth and memory type.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>

#include "lib/ivshmem_test.h"
#include "lib/latency.h"

#define BW_BYTES	(16u << 20)
#define BW_ROUNDS	8
#define LAT_ROUNDS	2000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MiB/s of writing then reading @len bytes at @p, best of BW_ROUNDS. */
static double bandwidth(volatile uint64_t *p, size_t len)
{
	double best = 0;

	for (int r = 0; r < BW_ROUNDS; r++) {
		uint64_t sum = 0;
		double t = now_s();

		for (size_t i = 0; i < len / 8; i++)
			p[i] = i;
		for (size_t i = 0; i < len / 8; i++)
			sum += p[i];
		t = now_s() - t;
		if (sum && 2.0 * (double)len / t > best)
			best = 2.0 * (double)len / t;
	}
	return best / (1 << 20);
}

static int cannot(const char *what)
{
	printf("# bench: cannot measure: %s: %s\n", what, strerror(errno));
	return 2;
}

static int bench_bandwidth(int fd, const struct ivshmem_info *info, double *shm_mibs)
{
	double shm, anon;
	uint64_t *p, *q;

	if (info->size < BW_BYTES)
		return 0;
	p = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	q = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || q == MAP_FAILED)
		return cannot("mmap");
	anon = bandwidth(q, BW_BYTES);
	shm = bandwidth(p, BW_BYTES);
	printf("# bench: anonymous memory %.0f MiB/s (baseline)\n", anon);
	printf("# bench: shared memory    %.0f MiB/s, ratio %.2f\n", shm, shm / anon);
	munmap(p, BW_BYTES);
	munmap(q, BW_BYTES);
	*shm_mibs = shm;
	return 0;
}

/*
 * Ring oneself on vector 0 and wake, LAT_ROUNDS times for each way of
 * waiting: p50, p99 and p99.9 against an eventfd written and polled by the
 * same thread (no device at all).
 */
static int bench_latency(int fd, const struct ivshmem_info *info)
{
	static double us[LAT_ROUNDS];
	struct percentiles base, pc;
	struct pollfd pfd;
	uint64_t v = 1;
	int efd;

	if (info->irq_mode == IVSHMEM_IRQ_NONE)
		return 0;
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		return cannot("eventfd");
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	for (int i = 0; i < LAT_ROUNDS; i++) {
		double t = latency_now_us();

		if (write(efd, &v, sizeof(v)) != sizeof(v) || poll(&pfd, 1, 5000) != 1 ||
		    read(efd, &v, sizeof(v)) != sizeof(v))
			return cannot("eventfd");
		us[i] = latency_now_us() - t;
	}
	base = percentiles(us, LAT_ROUNDS);
	printf("# bench: eventfd write+poll+read: p50 %.1f us, p99 %.1f us, p99.9 %.1f us (baseline)\n",
	       base.p50, base.p99, base.p999);

	for (enum wait_way way = 0; way < WAIT_WAYS; way++) {
		if (dev_set_eventfd(fd, 0, way == WAIT_EVENTFD ? efd : -1))
			return cannot("IVSHMEM_IOCTL_SET_EVENTFD");
		for (int i = 0; i < LAT_ROUNDS; i++) {
			double t = latency_now_us();

			if (dev_ring(fd, (uint32_t)info->peer_id, 0) ||
			    wait_vector0(way, fd, efd, 5000))
				return cannot(wait_way_name[way]);
			us[i] = latency_now_us() - t;
		}
		pc = percentiles(us, LAT_ROUNDS);
		printf("# bench: ring oneself, wake by %s: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, p50 ratio %.1f\n",
		       wait_way_name[way], pc.p50, pc.p99, pc.p999, pc.p50 / base.p50);
	}
	dev_set_eventfd(fd, 0, -1);
	close(efd);
	return 0;
}

/* Load a module of the initramfs; true if it is (now) loaded. */
static bool load_module(const char *name)
{
	char path[128];
	bool loaded;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	if (access(path, F_OK) == 0)
		return true;
	snprintf(path, sizeof(path), "/lib/modules/extra/%s.ko", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	loaded = syscall(SYS_finit_module, fd, "", 0) == 0;
	close(fd);
	return loaded;
}

/*
 * The memory type of the mapping at @p, which maps BW_BYTES from physical
 * @phys on: its page table entry's on arm64 (ivt_ptattr), else the PAT type
 * reserved for what it maps.
 */
static void mapping_type(const void *p, unsigned long long phys, char *type, size_t len)
{
	if (!pt_memtype("user", (unsigned long long)(uintptr_t)p, type, len))
		return;
	if (phys_memtype(phys, phys + BW_BYTES - 1, type, len))
		snprintf(type, len, "unknown");
}

/*
 * MiB/s through the sysfs BAR file @file of @addr, BAR2 at @bar; the memory
 * type of the mapping in @type.
 */
static double sysfs_bar_bandwidth(const char *addr, unsigned long long bar, const char *file,
				  char *type, size_t len)
{
	char path[128];
	double mibs = 0;
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", addr, file);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	p = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return 0;
	mibs = bandwidth(p, BW_BYTES);
	mapping_type(p, bar, type, len);
	munmap(p, BW_BYTES);
	return mibs;
}

#define PCI_DRIVERS	"/sys/bus/pci/drivers"

/* The memory type of our own mapping of BAR2 (at @bar), as mapping_type(). */
static void ours_memtype(unsigned long long bar, char *type, size_t len)
{
	int fd = open(dev_path(), O_RDWR | O_CLOEXEC);
	volatile uint8_t *p;

	if (fd < 0)
		return;
	p = mmap(NULL, BW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	(void)*p;
	mapping_type((const void *)p, bar, type, len);
	munmap((void *)p, BW_BYTES);
}

/*
 * What users pick instead of a driver: uio_pci_generic bound to the device
 * and BAR2 mapped through sysfs, uncached (resource2) and write-combining
 * (resource2_wc), side by side with ours.  The device goes back to ivshmem.
 */
static int bench_uio(const struct ivshmem_info *info, double ours)
{
	char addr[32], ours_type[64] = "unknown", type[64], wc_type[64], bound[128];
	unsigned long long bar, bar_end;
	double uc, wc;
	bool uio;

	if (info->size < BW_BYTES || dev_pci_addr(dev_name(), addr, sizeof(addr)) ||
	    dev_bar2(dev_name(), &bar, &bar_end))
		return 0;
	ours_memtype(bar, ours_type, sizeof(ours_type));
	uio = load_module("uio") && load_module("uio_pci_generic");
	if (sysfs_write(PCI_DRIVERS "/ivshmem/unbind", addr))
		return cannot("unbind ivshmem");
	/* new_id binds uio_pci_generic to every ivshmem device without a driver. */
	if (uio) {
		snprintf(bound, sizeof(bound), PCI_DRIVERS "/uio_pci_generic/%s", addr);
		uio = !sysfs_write(PCI_DRIVERS "/uio_pci_generic/new_id", "1af4 1110") &&
		      !wait_path(bound, true, 2000);
	}
	uc = sysfs_bar_bandwidth(addr, bar, "resource2", type, sizeof(type));
	wc = sysfs_bar_bandwidth(addr, bar, "resource2_wc", wc_type, sizeof(wc_type));
	if (uio) {
		sysfs_write(PCI_DRIVERS "/uio_pci_generic/remove_id", "1af4 1110");
		sysfs_write(PCI_DRIVERS "/uio_pci_generic/unbind", addr);
	}
	if (sysfs_write(PCI_DRIVERS "/ivshmem/bind", addr) ||
	    wait_path(dev_path(), true, 5000))
		return cannot("bind ivshmem again");
	printf("# bench: BAR2 through ivshmem: %.0f MiB/s, %s (baseline)\n", ours, ours_type);
	printf("# bench: BAR2 through %s sysfs resource2: %.0f MiB/s, %s, ratio %.2f\n",
	       uio ? "uio_pci_generic +" : "no driver,", uc, uc ? type : "cannot map",
	       uc / ours);
	printf("# bench: BAR2 through %s sysfs resource2_wc: %.0f MiB/s, %s, ratio %.2f\n",
	       uio ? "uio_pci_generic +" : "no driver,", wc, wc ? wc_type : "cannot map",
	       wc / ours);
	return 0;
}

int main(void)
{
	struct ivshmem_info info;
	int fd = open(dev_path(), O_RDWR | O_CLOEXEC);
	double shm = 0;
	int ret;

	if (fd < 0 || ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info))
		return cannot(dev_path());
	ret = bench_bandwidth(fd, &info, &shm);
	if (!ret)
		ret = bench_latency(fd, &info);
	close(fd);
	if (!ret && shm)
		ret = bench_uio(&info, shm);
	return ret;
}
