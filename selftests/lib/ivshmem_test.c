// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem_test.h"

const char *env_str(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

long long env_long(const char *name, long long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoll(v, NULL, 0) : def;
}

const char *dev_name(void)
{
	return env_str("ivt_dev", "ivshmem0");
}

const char *dev_path(void)
{
	static char path[64];

	snprintf(path, sizeof(path), "/dev/%s", dev_name());
	return path;
}

int dev_open(int flags)
{
	int fd = open(dev_path(), flags | O_CLOEXEC);

	__CHECK(fd >= 0, true, "open %s: %s", dev_path(), strerror(errno));
	return fd;
}

void dev_get_info(int fd, struct ivshmem_info *info)
{
	memset(info, 0xa5, sizeof(*info));
	ASSERT_OK(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, info));
}

int sysfs_attr(const char *name, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/misc/%s/%s", name, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

long long sysfs_attr_long(const char *name, const char *attr)
{
	char buf[64];

	__CHECK(sysfs_attr(name, attr, buf, sizeof(buf)) == 0, true,
		"cannot read %s/%s", name, attr);
	return strtoll(buf, NULL, 0);
}

int dev_pci_addr(const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/misc/%s/device", name);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = 0;
	snprintf(buf, len, "%s", basename(target));
	return 0;
}

/* Parse "START-END" or "START END" of two hex numbers; false if malformed. */
static bool parse_range(const char *s, unsigned long long *start,
			unsigned long long *end)
{
	char *p;

	errno = 0;
	*start = strtoull(s, &p, 16);
	if (p == s || (*p != '-' && *p != ' '))
		return false;
	s = p + 1;
	*end = strtoull(s, &p, 16);
	return p != s && !errno;
}

int dev_bar2(const char *name, unsigned long long *start, unsigned long long *end)
{
	return dev_bar(name, 2, start, end);
}

int dev_bar(const char *name, int n, unsigned long long *start, unsigned long long *end)
{
	char addr[32], path[128], line[256];
	bool ok = true;
	FILE *f;

	if (dev_pci_addr(name, addr, sizeof(addr)))
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", addr);
	f = fopen(path, "re");
	if (!f)
		return -1;
	/* One line per BAR, from BAR0. */
	for (int bar = 0; bar <= n && ok; bar++)
		ok = fgets(line, sizeof(line), f);
	fclose(f);
	return ok && parse_range(line, start, end) ? 0 : -1;
}

int phys_memtype(unsigned long long start, unsigned long long end, char *type, size_t len)
{
	static const char pat_prefix[] = "PAT: [mem ";
	unsigned long long s, e;
	char line[256], *t;
	int ret = -1;
	FILE *f;

	f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "re");
	if (!f)
		return -ENOENT;
	while (ret && fgets(line, sizeof(line), f)) {
		if (strncmp(line, pat_prefix, strlen(pat_prefix)) != 0 ||
		    !parse_range(line + strlen(pat_prefix), &s, &e) ||
		    s > start || e < end + 1)
			continue;
		/* "PAT: [mem 0x...-0x...] write-back" */
		t = strchr(line, ']');
		if (!t)
			continue;
		t += strspn(t + 1, " ") + 1;
		t[strcspn(t, "\n")] = 0;
		snprintf(type, len, "%s", t);
		ret = 0;
	}
	fclose(f);
	return ret;
}

int pt_memtype(const char *space, unsigned long long addr, char *type, size_t len)
{
	int fd = open("/sys/kernel/debug/ivt_ptattr", O_RDWR | O_CLOEXEC);
	char req[64];
	ssize_t n;

	if (fd < 0)
		return -ENOENT;
	snprintf(req, sizeof(req), "%s %llx", space, addr);
	n = write(fd, req, strlen(req));
	if (n == (ssize_t)strlen(req))
		n = pread(fd, type, len - 1, 0);
	close(fd);
	if (n <= 0)
		return -1;
	type[n] = 0;
	type[strcspn(type, "\n")] = 0;
	return 0;
}

int kernel_mapping_of(unsigned long long phys, unsigned long long *addr)
{
	unsigned long long start, end, p, page = (unsigned long long)sysconf(_SC_PAGESIZE);
	char line[512], *at, *num_end;
	int ret = -1;
	FILE *f;

	/* Real addresses for root, not hashed ones (kptr_restrict 1). */
	sysfs_write("/proc/sys/kernel/kptr_restrict", "1");
	f = fopen("/proc/vmallocinfo", "re");
	if (!f)
		return -1;
	while (ret && fgets(line, sizeof(line), f)) {
		at = strstr(line, " phys=");
		if (!at)
			continue;
		at += strlen(" phys=");
		p = strtoull(at, &num_end, 16);
		/* The area's pages, and its guard page, from phys's page. */
		if (num_end == at || !parse_range(line, &start, &end) || phys < p ||
		    phys - p >= end - start - page)
			continue;
		*addr = start + (phys - p);
		ret = 0;
	}
	fclose(f);
	return ret;
}

int bar2_memtype(const char *name, char *type, size_t len)
{
	unsigned long long start, end;

	if (dev_bar2(name, &start, &end))
		return -1;
	return phys_memtype(start, end, type, len);
}

int sysfs_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

int wait_path(const char *path, bool exist, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if ((access(path, F_OK) == 0) == exist)
			return 0;
		usleep(10000);
	}
	return -1;
}

#define MODULE_NAME	"ivshmem"
#define MODULE_PATH	"/lib/modules/ivshmem.ko"

int module_unload(void)
{
	return (int)syscall(SYS_delete_module, MODULE_NAME, O_NONBLOCK);
}

int module_load(void)
{
	int mod = open(MODULE_PATH, O_RDONLY | O_CLOEXEC), ret = -1;

	if (mod < 0)
		return -1;
	/*
	 * With CONFIG_DEBUG_KOBJECT_RELEASE the old driver's sysfs directory
	 * lingers for up to a few seconds after unloading: EEXIST until then,
	 * and EBUSY while the failed load before is still going away.
	 */
	for (int tries = 0; tries < 100; tries++) {
		ret = (int)syscall(SYS_finit_module, mod, "", 0);
		if (ret == 0 || (errno != EEXIST && errno != EBUSY))
			break;
		usleep(100 * 1000);
	}
	close(mod);
	return ret;
}

int dev_ring(int fd, uint32_t peer, uint32_t vector)
{
	struct ivshmem_ring ring = { .peer_id = peer, .vector = vector };

	return ioctl(fd, IVSHMEM_IOCTL_RING, &ring);
}

int dev_set_eventfd(int fd, uint32_t vector, int efd)
{
	struct ivshmem_eventfd req = { .vector = vector, .fd = efd };

	return ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &req);
}

int dev_wait(int fd, uint64_t *mask, int timeout_ms)
{
	struct ivshmem_wait req = { .timeout_ms = timeout_ms };
	int ret;

	req.vectors[0] = *mask;
	ret = ioctl(fd, IVSHMEM_IOCTL_WAIT, &req);
	*mask = req.vectors[0];
	return ret;
}

bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}
