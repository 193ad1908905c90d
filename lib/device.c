// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libivshmem handles: guest devices through the driver's ioctls, host peers
 * handed on to host.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static struct ivshmem *ivshmem_alloc(bool host, int fd)
{
	struct ivshmem *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->host = host;
	dev->fd = fd;
	dev->shm_fd = -1;
	dev->epoll_fd = -1;
	dev->pending_fd = -1;
	dev->wait_epoll = -1;
	dev->msg_fd = -1;
	dev->id = -1;
	dev->max_vectors = IVSHMEM_MAX_VECTORS;
	for (unsigned int v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		dev->vector_fds[v] = -1;
		dev->own_fds[v] = -1;
	}
	pthread_mutex_init(&dev->lock, NULL);
	return dev;
}

struct ivshmem *ivshmem_new_host(int sock)
{
	return ivshmem_alloc(true, sock);
}

IVSHMEM_EXPORT int ivshmem_open(const char *path, struct ivshmem **out)
{
	struct ivshmem_info info;
	struct ivshmem *dev;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return ivshmem_neg_errno();
	/* Anything else answers this ioctl with ENOTTY (or worse, EINVAL). */
	if (ioctl(fd, IVSHMEM_IOCTL_GET_INFO, &info) < 0) {
		ret = errno == ENODEV ? -ENODEV : -ENOTTY;
		close(fd);
		return ret;
	}
	dev = ivshmem_alloc(false, fd);
	if (!dev) {
		close(fd);
		return -ENOMEM;
	}
	*out = dev;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_open_index(unsigned int index, struct ivshmem **out)
{
	char path[32];

	snprintf(path, sizeof(path), "/dev/ivshmem%u", index);
	return ivshmem_open(path, out);
}

/* The device node of the ivshmem device at PCI address @addr, from sysfs. */
static int ivshmem_pci_node(const char *addr, char *path, size_t len)
{
	char dir[128];
	struct dirent *e;
	DIR *d;
	int ret = -ENODEV;

	/* "00:04.0" means domain 0. */
	if (strlen(addr) < 12)
		snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/0000:%s/misc", addr);
	else
		snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/misc", addr);
	if (strchr(addr, '/'))
		return -EINVAL;
	d = opendir(dir);
	if (!d)
		return -ENODEV;
	while ((e = readdir(d))) {
		size_t name_len = strlen(e->d_name);

		if (strncmp(e->d_name, "ivshmem", 7) == 0 && name_len + sizeof("/dev/") <= len) {
			memcpy(path, "/dev/", sizeof("/dev/"));
			memcpy(path + sizeof("/dev/") - 1, e->d_name, name_len + 1);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_open_pci(const char *pci_addr, struct ivshmem **out)
{
	char path[64];
	int ret = ivshmem_pci_node(pci_addr, path, sizeof(path));

	return ret ? ret : ivshmem_open(path, out);
}

IVSHMEM_EXPORT void ivshmem_close(struct ivshmem *dev)
{
	if (!dev)
		return;
	if (dev->host)
		ivshmem_host_close(dev);
	for (unsigned int v = 0; v < IVSHMEM_MAX_VECTORS; v++)
		if (dev->vector_fds[v] >= 0)
			close(dev->vector_fds[v]);
	close(dev->fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

static int ivshmem_fill_info(struct ivshmem *dev, struct ivshmem_dev_info *info)
{
	struct ivshmem_info raw;

	memset(info, 0, sizeof(*info));
	if (dev->host)
		return ivshmem_host_info(dev, info);
	if (ioctl(dev->fd, IVSHMEM_IOCTL_GET_INFO, &raw) < 0)
		return ivshmem_neg_errno();
	info->size = raw.size;
	info->peer_id = raw.peer_id;
	info->vectors = raw.vectors;
	info->irq_mode = raw.irq_mode;
	info->revision = raw.revision;
	info->index = (int32_t)raw.index;
	info->ready = raw.flags & IVSHMEM_INFO_READY;
	info->doorbell = raw.flags & IVSHMEM_INFO_DOORBELL;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_get_info(struct ivshmem *dev, struct ivshmem_dev_info **out)
{
	struct ivshmem_dev_info *info = malloc(sizeof(*info));
	int ret;

	if (!info)
		return -ENOMEM;
	ret = ivshmem_fill_info(dev, info);
	if (ret) {
		free(info);
		return ret;
	}
	*out = info;
	return 0;
}

IVSHMEM_EXPORT void ivshmem_dev_info_free(struct ivshmem_dev_info *info)
{
	free(info);
}

IVSHMEM_EXPORT uint64_t ivshmem_dev_info_get_size(const struct ivshmem_dev_info *info)
{
	return info->size;
}

IVSHMEM_EXPORT int32_t ivshmem_dev_info_get_peer_id(const struct ivshmem_dev_info *info)
{
	return info->peer_id;
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_info_get_vectors(const struct ivshmem_dev_info *info)
{
	return info->vectors;
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_info_get_irq_mode(const struct ivshmem_dev_info *info)
{
	return info->irq_mode;
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_info_get_revision(const struct ivshmem_dev_info *info)
{
	return info->revision;
}

IVSHMEM_EXPORT int32_t ivshmem_dev_info_get_index(const struct ivshmem_dev_info *info)
{
	return info->index;
}

IVSHMEM_EXPORT bool ivshmem_dev_info_is_ready(const struct ivshmem_dev_info *info)
{
	return info->ready;
}

IVSHMEM_EXPORT bool ivshmem_dev_info_has_doorbell(const struct ivshmem_dev_info *info)
{
	return info->doorbell;
}

IVSHMEM_EXPORT bool ivshmem_dev_info_is_host_peer(const struct ivshmem_dev_info *info)
{
	return info->host_peer;
}

IVSHMEM_EXPORT int ivshmem_map(struct ivshmem *dev, uint64_t offset, size_t length,
			       int prot, void **addr)
{
	struct ivshmem_dev_info info;
	void *p;
	int ret;

	ret = ivshmem_fill_info(dev, &info);
	if (ret)
		return ret;
	if (offset >= info.size || length > info.size - offset ||
	    offset % (uint64_t)sysconf(_SC_PAGESIZE))
		return -EINVAL;
	if (!length)
		length = info.size - offset;
	p = mmap(NULL, length, prot, MAP_SHARED, dev->host ? dev->shm_fd : dev->fd,
		 (off_t)offset);
	if (p == MAP_FAILED)
		return ivshmem_neg_errno();
	*addr = p;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_unmap(void *addr, size_t length)
{
	return munmap(addr, length) ? ivshmem_neg_errno() : 0;
}

IVSHMEM_EXPORT int ivshmem_ring(struct ivshmem *dev, unsigned int peer_id,
				unsigned int vector)
{
	struct ivshmem_ring req = { .peer_id = peer_id, .vector = vector };

	if (peer_id > IVSHMEM_MAX_PEER_ID || vector >= IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	if (dev->host)
		return ivshmem_host_ring(dev, peer_id, vector);
	return ioctl(dev->fd, IVSHMEM_IOCTL_RING, &req) ? ivshmem_neg_errno() : 0;
}

IVSHMEM_EXPORT int ivshmem_vector_fd(struct ivshmem *dev, unsigned int vector)
{
	struct ivshmem_eventfd req = { .vector = vector };
	int ret;

	if (vector >= IVSHMEM_MAX_VECTORS)
		return -EINVAL;
	if (dev->host)
		return ivshmem_host_vector_fd(dev, vector);

	pthread_mutex_lock(&dev->lock);
	ret = dev->vector_fds[vector];
	if (ret < 0) {
		req.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (req.fd < 0) {
			ret = ivshmem_neg_errno();
		} else if (ioctl(dev->fd, IVSHMEM_IOCTL_SET_EVENTFD, &req) < 0) {
			ret = ivshmem_neg_errno();
			close(req.fd);
		} else {
			ret = dev->vector_fds[vector] = req.fd;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_wait(struct ivshmem *dev,
				uint64_t vectors[IVSHMEM_VECTOR_WORDS], int timeout_ms)
{
	struct ivshmem_wait req = { .timeout_ms = timeout_ms };

	if (dev->host)
		return ivshmem_host_wait(dev, vectors, timeout_ms);
	memcpy(req.vectors, vectors, sizeof(req.vectors));
	if (ioctl(dev->fd, IVSHMEM_IOCTL_WAIT, &req) < 0)
		return ivshmem_neg_errno();
	memcpy(vectors, req.vectors, sizeof(req.vectors));
	return 0;
}

IVSHMEM_EXPORT int ivshmem_wait_ready(struct ivshmem *dev, int timeout_ms)
{
	struct ivshmem_wait_ready req = { .timeout_ms = timeout_ms };

	/* A host peer has its ID from the moment it joined. */
	if (dev->host)
		return ivshmem_host_wait_ready(dev);
	return ioctl(dev->fd, IVSHMEM_IOCTL_WAIT_READY, &req) ? ivshmem_neg_errno() : 0;
}

IVSHMEM_EXPORT const char *ivshmem_irq_mode_name(uint32_t irq_mode)
{
	switch (irq_mode) {
	case IVSHMEM_IRQ_NONE:
		return "none";
	case IVSHMEM_IRQ_MSIX:
		return "msix";
	case IVSHMEM_IRQ_INTX:
		return "intx";
	case IVSHMEM_IRQ_HOST_EVENTFD:
		return "host-eventfd";
	default:
		return "unknown";
	}
}
