// SPDX-License-Identifier: GPL-2.0
/*
 * The ioctl ABI on any ivshmem device: GET_INFO against sysfs, readiness,
 * and the errno of every kind of rejected input.
 *
 * Environment: ivt_mode ("none" or "msix"), ivt_vectors, ivt_size.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

static bool has_irq(void)
{
	return strcmp(env_str("ivt_mode", "none"), "none") != 0;
}

TEST(info_matches_device_and_sysfs)
{
	struct ivshmem_info info;
	char mode[16];
	int fd = dev_open(O_RDWR);

	dev_get_info(fd, &info);
	EXPECT_EQ(info.size, env_long("ivt_size", 0));
	EXPECT_EQ(info.size, sysfs_attr_long(dev_name(), "size"));
	EXPECT_EQ(info.peer_id, sysfs_attr_long(dev_name(), "peer_id"));
	EXPECT_EQ(info.vectors, env_long("ivt_vectors", 0));
	EXPECT_EQ(info.vectors, sysfs_attr_long(dev_name(), "vectors"));
	EXPECT_EQ(info.revision, sysfs_attr_long(dev_name(), "revision"));
	EXPECT_EQ(info.revision, 1);
	EXPECT_EQ(info.index, strtol(dev_name() + strlen("ivshmem"), NULL, 10));
	ASSERT_OK(sysfs_attr(dev_name(), "irq_mode", mode, sizeof(mode)));
	EXPECT_TRUE(strcmp(mode, env_str("ivt_mode", "none")) == 0);
	EXPECT_EQ(info.irq_mode, has_irq() ? IVSHMEM_IRQ_MSIX : IVSHMEM_IRQ_NONE);
	EXPECT_EQ(!!(info.flags & IVSHMEM_INFO_DOORBELL), has_irq());
	/* Every vector the device offers is granted, unless told otherwise. */
	if (env_long("ivt_device_vectors", 0) >= 0)
		EXPECT_EQ(info.device_vectors, env_long("ivt_device_vectors", info.vectors));
	EXPECT_EQ(info.device_vectors, sysfs_attr_long(dev_name(), "device_vectors"));
	EXPECT_TRUE(!(info.flags & IVSHMEM_INFO_UNCACHED));
	for (unsigned int i = 0; i < 6; i++)
		EXPECT_EQ(info.padding[i], 0);
	close(fd);
}

TEST(ready_with_peer_id)
{
	struct ivshmem_wait_ready req = { .timeout_ms = 0 };
	struct ivshmem_info info;
	int fd = dev_open(O_RDWR);

	dev_get_info(fd, &info);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_READY);
	EXPECT_EQ(sysfs_attr_long(dev_name(), "ready"), 1);
	EXPECT_GE(info.peer_id, 0);
	/* ivshmem-plain reads IVPosition 0; a doorbell device its server ID. */
	if (!has_irq() && !env_long("ivt_doorbell_device", 0))
		EXPECT_EQ(info.peer_id, 0);
	EXPECT_EQ(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, &req), 0);
	req.timeout_ms = -1;
	EXPECT_EQ(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, &req), 0);
	close(fd);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = dev_open(O_RDWR);

	EXPECT_ERRNO(ioctl(fd, _IO(IVSHMEM_IOCTL_MAGIC, 0x7f)), ENOTTY);
	EXPECT_ERRNO(ioctl(fd, _IOR(IVSHMEM_IOCTL_MAGIC, 0x00, int)), ENOTTY);
	EXPECT_ERRNO(ioctl(fd, _IOR('x', 0x00, struct ivshmem_info)), ENOTTY);
	close(fd);
}

TEST(bad_pointer_is_efault)
{
	int fd = dev_open(O_RDWR);
	void *bad = (void *)16;

	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_GET_INFO, bad), EFAULT);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_RING, bad), EFAULT);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, bad), EFAULT);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, bad), EFAULT);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT, bad), EFAULT);
	close(fd);
}

TEST(nonzero_flags_or_padding_is_einval)
{
	int fd = dev_open(O_RDWR);
	struct ivshmem_ring ring = { .flags = 1 };
	struct ivshmem_eventfd efd = { .fd = -1, .padding = 1 };
	struct ivshmem_wait_ready ready = { .flags = 1 };
	struct ivshmem_wait wait = { .flags = 0x80000000 };

	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_RING, &ring), EINVAL);
	ring.flags = 0;
	ring.padding = 1;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_RING, &ring), EINVAL);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &efd), EINVAL);
	efd.padding = 0;
	efd.flags = 2;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_SET_EVENTFD, &efd), EINVAL);
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, &ready), EINVAL);
	ready.flags = 0;
	ready.padding = 1;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, &ready), EINVAL);
	ready.padding = 0;
	ready.timeout_ms = -2;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT_READY, &ready), EINVAL);
	wait.vectors[0] = 1;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT, &wait), EINVAL);
	wait.flags = 0;
	wait.padding = 1;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT, &wait), EINVAL);
	close(fd);
}

TEST(doorbell_ioctls_without_interrupts_are_eopnotsupp)
{
	int fd = dev_open(O_RDWR);
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t mask = 1;

	if (has_irq())
		SKIP("device has interrupts");
	EXPECT_ERRNO(dev_ring(fd, 0, 0), EOPNOTSUPP);
	EXPECT_ERRNO(dev_set_eventfd(fd, 0, efd), EOPNOTSUPP);
	EXPECT_ERRNO(dev_wait(fd, &mask, 0), EOPNOTSUPP);
	close(efd);
	close(fd);
}

TEST(read_only_open_allows_info)
{
	struct ivshmem_info info;
	int fd = dev_open(O_RDONLY);

	dev_get_info(fd, &info);
	EXPECT_EQ(info.size, env_long("ivt_size", 0));
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
