// SPDX-License-Identifier: GPL-2.0
/* Unloading and reloading the module.  Run last: it reloads the driver. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

#define MODULE_PATH	"/lib/modules/ivshmem.ko"

static long delete_module(const char *name, unsigned int flags)
{
	return syscall(SYS_delete_module, name, flags);
}

TEST(unload_refused_while_open)
{
	int fd = dev_open(O_RDWR);

	EXPECT_ERRNO(delete_module("ivshmem", O_NONBLOCK), EWOULDBLOCK);
	close(fd);
}

TEST_TIMEOUT(unload_and_reload, 60)
{
	struct ivshmem_info info;
	int mod, fd;
	long ret = -1;

	ASSERT_OK(delete_module("ivshmem", O_NONBLOCK));
	EXPECT_EQ(access(dev_path(), F_OK), -1);
	EXPECT_EQ(access("/sys/module/ivshmem", F_OK), -1);

	mod = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	ASSERT_OK(mod);
	/*
	 * With CONFIG_DEBUG_KOBJECT_RELEASE the old driver's sysfs directory
	 * lingers for up to a few seconds after unloading: EEXIST until then,
	 * and EBUSY while the failed load before is still going away.
	 */
	for (int tries = 0; tries < 100; tries++) {
		ret = syscall(SYS_finit_module, mod, "", 0);
		if (ret == 0 || (errno != EEXIST && errno != EBUSY))
			break;
		usleep(100 * 1000);
	}
	ASSERT_OK(ret);
	close(mod);
	ASSERT_EQ(wait_path(dev_path(), true, 5000), 0);
	fd = dev_open(O_RDWR);
	dev_get_info(fd, &info);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_READY);
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
