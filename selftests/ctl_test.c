// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem-ctl in a guest with a doorbell device (ivshmem0) and a plain one
 * (ivshmem1): every subcommand, its exit codes and its --json output.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libivshmem.h"
#include "lib/ivshmem_test.h"
#include "lib/json.h"
#include "lib/spawn.h"

#define CTL		"/bin/ivshmem-ctl"
#define DRIVER_DIR	"/sys/bus/pci/drivers/ivshmem"

/* Start ivshmem-ctl with the space-separated @args, feeding it @input. */
static void ctl_start(struct spawn *r, const char *input, const char *args)
{
	ASSERT_OK(spawn_start(r, CTL, input, args));
}

/* Wait for ivshmem-ctl; its exit status, its stdout in @out. */
static int ctl_finish(struct spawn *r, char *out, size_t len)
{
	char err[1024];
	int status = spawn_finish(r, out, len, err, sizeof(err));

	if (err[0])
		TH_LOG("stderr: %s", err);
	return status;
}

static char output[65536];

/* Run ivshmem-ctl to completion; its exit status, its stdout in output. */
static int ctl(const char *input, const char *fmt, ...)
{
	char args[512];
	struct spawn r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	ctl_start(&r, input, args);
	return ctl_finish(&r, output, sizeof(output));
}

TEST(help_and_usage_errors)
{
	static const char *const cmds[] = {
		"list", "info", "ring", "wait", "monitor", "dump", "read", "write", "reset-stats",
	};

	EXPECT_EQ(ctl(NULL, "--help"), 0);
	EXPECT_TRUE(strstr(output, "Usage: ivshmem-ctl"));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_EQ(ctl(NULL, "%s --help", cmds[i]), 0);
		EXPECT_TRUE(strstr(output, cmds[i]));
	}
	EXPECT_EQ(ctl(NULL, "frobnicate"), 2);
	EXPECT_EQ(ctl(NULL, ""), 2);
	EXPECT_EQ(ctl(NULL, "ring"), 2);
	EXPECT_EQ(ctl(NULL, "ring 65536 0"), 2);
	EXPECT_EQ(ctl(NULL, "ring 0 256"), 2);
	EXPECT_EQ(ctl(NULL, "wait"), 2);
	EXPECT_EQ(ctl(NULL, "dump 0"), 2);
	EXPECT_EQ(ctl(NULL, "-d 9 info"), 1);
}

TEST(list_json_agrees_with_the_driver)
{
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	struct json *j;

	ASSERT_EQ(ctl(NULL, "--json list"), 0);
	j = json_parse(output);
	ASSERT_TRUE(j && j->type == JSON_ARRAY);
	ASSERT_EQ(j->n, 2);
	for (size_t i = 0; i < j->n; i++) {
		const struct json *d = j->items[i];

		ASSERT_EQ(ivshmem_open_index((unsigned int)i, &dev), 0);
		ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
		ivshmem_close(dev);
		EXPECT_EQ(json_num(d, "index"), i);
		EXPECT_EQ(json_num(d, "size"), ivshmem_dev_info_get_size(info));
		EXPECT_EQ(json_num(d, "peer_id"), ivshmem_dev_info_get_peer_id(info));
		EXPECT_EQ(json_num(d, "vectors"), ivshmem_dev_info_get_vectors(info));
		EXPECT_EQ(json_num(d, "revision"), ivshmem_dev_info_get_revision(info));
		EXPECT_TRUE(!strcmp(json_str(d, "irq_mode"),
				    ivshmem_irq_mode_name(ivshmem_dev_info_get_irq_mode(info))));
		EXPECT_TRUE(json_get(d, "interrupts") &&
			    json_get(d, "interrupts")->n == ivshmem_dev_info_get_vectors(info));
		ivshmem_dev_info_free(info);
	}
	json_free(j);
	/* The table has a header and a line per device. */
	ASSERT_EQ(ctl(NULL, "list"), 0);
	EXPECT_TRUE(strstr(output, "ivshmem0") && strstr(output, "ivshmem1"));
}

TEST(info_json_by_index_path_and_pci_address)
{
	char addr[32];
	struct json *j;

	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	ASSERT_EQ(ctl(NULL, "-d 0 info --json"), 0);
	j = json_parse(output);
	ASSERT_TRUE(j);
	EXPECT_EQ(json_num(j, "index"), 0);
	EXPECT_EQ(json_num(j, "vectors"), env_long("ivt_vectors", 4));
	EXPECT_TRUE(!strcmp(json_str(j, "irq_mode"), "msix"));
	EXPECT_TRUE(json_get(j, "ready") && json_get(j, "ready")->boolean);
	json_free(j);

	ASSERT_EQ(ctl(NULL, "--json -d /dev/ivshmem1 info"), 0);
	j = json_parse(output);
	ASSERT_TRUE(j);
	EXPECT_EQ(json_num(j, "index"), 1);
	EXPECT_TRUE(!strcmp(json_str(j, "irq_mode"), "none"));
	json_free(j);

	ASSERT_EQ(ctl(NULL, "-j -d %s info", addr), 0);
	j = json_parse(output);
	ASSERT_TRUE(j);
	EXPECT_EQ(json_num(j, "index"), 1);
	json_free(j);
}

TEST(ring_wakes_wait)
{
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	struct pollfd pfd;
	struct json *j;
	struct spawn r;
	int tries, me;

	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	me = ivshmem_dev_info_get_peer_id(info);
	ivshmem_dev_info_free(info);
	ivshmem_close(dev);

	ctl_start(&r, NULL, "--json wait -t 10000 3 1");
	/* The waiter sees interrupts from when it opened: ring until it wakes. */
	pfd = (struct pollfd){ .fd = r.out, .events = POLLIN };
	for (tries = 0; tries < 50 && poll(&pfd, 1, 100) == 0; tries++)
		ASSERT_EQ(ctl(NULL, "ring %d 3", me), 0);
	ASSERT_EQ(ctl_finish(&r, output, sizeof(output)), 0);
	j = json_parse(output);
	ASSERT_TRUE(j && j->type == JSON_ARRAY);
	ASSERT_EQ(j->n, 1);
	EXPECT_EQ(j->items[0]->number, 3);
	json_free(j);
}

TEST(wait_timeout_and_plain_device_failures)
{
	EXPECT_EQ(ctl(NULL, "wait -t 100 0"), 3);
	EXPECT_EQ(ctl(NULL, "-d 1 ring 0 0"), 1);
	EXPECT_EQ(ctl(NULL, "-d 1 wait -t 0 0"), 1);
}

TEST(write_dump_and_read)
{
	EXPECT_EQ(ctl(NULL, "-d 1 write --fill 0xab --length 32 8192"), 0);
	ASSERT_EQ(ctl(NULL, "-d 1 dump 8192 32"), 0);
	EXPECT_TRUE(strstr(output, "00002000  ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab"));
	EXPECT_TRUE(strstr(output, "00002010  ab ab"));

	EXPECT_EQ(ctl("hello, shared memory", "-d 1 write 12290"), 0);
	ASSERT_EQ(ctl(NULL, "-d 1 read 12290 20"), 0);
	EXPECT_TRUE(!strcmp(output, "hello, shared memory"));

	/* Ranges past the end of the 4 MiB device fail. */
	EXPECT_EQ(ctl(NULL, "-d 1 write -f 1 -l 8K 4092K"), 1);
	EXPECT_EQ(ctl(NULL, "-d 1 dump 4M 16"), 1);
}

TEST(monitor_json_sees_unbind_and_bind)
{
	char addr[32], err[128], *line, *save = NULL;
	const char *expect[] = { "removed", "added", "ready" };
	struct pollfd pfd;
	struct spawn r;
	int n = 0;

	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	ctl_start(&r, NULL, "--json monitor -n 3 -t 10000");
	/* "monitoring ..." on stderr: from now on events are seen. */
	pfd = (struct pollfd){ .fd = r.err, .events = POLLIN };
	ASSERT_EQ(poll(&pfd, 1, 5000), 1);
	ASSERT_GE(read(r.err, err, sizeof(err)), 1);

	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	ASSERT_EQ(ctl_finish(&r, output, sizeof(output)), 0);
	for (line = strtok_r(output, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json *j = json_parse(line);

		ASSERT_TRUE(j);
		ASSERT_TRUE(n < 3);
		EXPECT_TRUE(!strcmp(json_str(j, "event"), expect[n]));
		EXPECT_TRUE(!strcmp(json_str(json_get(j, "device"), "name"), "ivshmem1"));
		EXPECT_TRUE(!strcmp(json_str(json_get(j, "device"), "pci_addr"), addr));
		json_free(j);
		n++;
	}
	EXPECT_EQ(n, 3);
}

TEST(reset_stats)
{
	EXPECT_EQ(ctl(NULL, "reset-stats 0"), 0);
	EXPECT_EQ(ctl(NULL, "reset-stats 9"), 1);
	EXPECT_EQ(ctl(NULL, "reset-stats"), 2);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
