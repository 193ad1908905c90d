// SPDX-License-Identifier: GPL-2.0
/* Unloading and reloading the module.  Run last: it reloads the driver. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

TEST(unload_refused_while_open)
{
	int fd = dev_open(O_RDWR);

	EXPECT_ERRNO(module_unload(), EWOULDBLOCK);
	close(fd);
}

TEST_TIMEOUT(unload_and_reload, 60)
{
	struct ivshmem_info info;
	int fd;

	ASSERT_OK(module_unload());
	EXPECT_EQ(access(dev_path(), F_OK), -1);
	EXPECT_EQ(access("/sys/module/ivshmem", F_OK), -1);
	ASSERT_OK(module_load());
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
