// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family under stress, spoken directly through libnl
 * rather than libivshmem: event order while devices come and go
 * concurrently, and counters read while they are reset.  Runs on a doorbell
 * device (ivshmem0) with a second device (ivshmem1) beside it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/genl_util.h"
#include "lib/ivshmem_test.h"

#define DRIVER_DIR	"/sys/bus/pci/drivers/ivshmem"
#define CYCLES		200
#define MAX_EVENTS	(8 * CYCLES)

struct event {
	uint8_t cmd;
	uint32_t index;
};

struct event_log {
	struct event ev[MAX_EVENTS];
	int count;
	bool overflow;
};

static int family;

static struct nl_sock *genl_open(void)
{
	struct nl_sock *sk = genl_test_open(&family);

	__CHECK(sk, true, "no generic netlink family %s", IVSHMEM_GENL_NAME);
	return sk;
}

static int record_event(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *attrs[IVSHMEM_ATTR_MAX + 1];
	struct event_log *log = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, attrs, IVSHMEM_ATTR_MAX, NULL) ||
	    !attrs[IVSHMEM_ATTR_INDEX])
		return NL_SKIP;
	if (gh->cmd != IVSHMEM_CMD_ADDED && gh->cmd != IVSHMEM_CMD_REMOVED)
		return NL_OK;
	if (log->count == MAX_EVENTS) {
		log->overflow = true;
		return NL_OK;
	}
	log->ev[log->count].cmd = gh->cmd;
	log->ev[log->count++].index = nla_get_u32(attrs[IVSHMEM_ATTR_INDEX]);
	return NL_OK;
}

/* Unbind and bind the device at @addr @cycles times, then exit. */
static void cycle_device(const char *addr, int cycles)
{
	for (int i = 0; i < cycles; i++)
		if (sysfs_write(DRIVER_DIR "/unbind", addr) ||
		    sysfs_write(DRIVER_DIR "/bind", addr))
			_exit(1);
	_exit(0);
}

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, value, strlen(value)) < 0)
			TH_LOG("cannot write %s", path);
		close(fd);
	}
}

TEST_TIMEOUT(events_alternate_per_index_under_concurrent_rebind, 600)
{
	static struct event_log log;
	char addr[2][32], now[32];
	/* Both devices are bound to start with: REMOVED comes first. */
	bool bound[2] = { true, true };
	int bad = 0, children = 2, status;
	struct nl_sock *sk;
	pid_t pid[2];

	ASSERT_OK(dev_pci_addr("ivshmem0", addr[0], sizeof(addr[0])));
	ASSERT_OK(dev_pci_addr("ivshmem1", addr[1], sizeof(addr[1])));
	/* Room for every event even if we fall behind for a while. */
	write_file("/proc/sys/net/core/rmem_max", "16777216");
	sk = genl_open();
	ASSERT_OK(nl_socket_set_buffer_size(sk, 16 << 20, 0));
	ASSERT_EQ(nl_socket_add_membership(sk, genl_ctrl_resolve_grp(sk, IVSHMEM_GENL_NAME,
			IVSHMEM_GENL_MCGRP_EVENTS)), 0);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, record_event, &log);
	ASSERT_OK(nl_socket_set_nonblocking(sk));

	for (int d = 0; d < 2; d++) {
		pid[d] = fork();
		ASSERT_OK(pid[d]);
		if (pid[d] == 0)
			cycle_device(addr[d], CYCLES);
	}
	while (children) {
		while (nl_recvmsgs_default(sk) >= 0)
			;
		for (int d = 0; d < 2; d++)
			if (pid[d] > 0 && waitpid(pid[d], &status, WNOHANG) == pid[d]) {
				EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
				pid[d] = 0;
				children--;
			}
		usleep(1000);
	}
	usleep(100 * 1000);
	while (nl_recvmsgs_default(sk) >= 0)
		;
	nl_socket_free(sk);

	/* Per index: REMOVED, ADDED, REMOVED, ... strictly alternating. */
	for (int i = 0; i < log.count; i++) {
		struct event *ev = &log.ev[i];
		bool ok = ev->index < 2 &&
			  ev->cmd == (bound[ev->index] ? IVSHMEM_CMD_REMOVED : IVSHMEM_CMD_ADDED);

		if (ev->index < 2)
			bound[ev->index] = ev->cmd == IVSHMEM_CMD_ADDED;
		if (!ok && bad++ < 5)
			TH_LOG("event %d: %s for index %u out of turn", i,
			       ev->cmd == IVSHMEM_CMD_ADDED ? "ADDED" : "REMOVED", ev->index);
	}
	TH_LOG("%d events, %d out of turn", log.count, bad);
	EXPECT_TRUE(!log.overflow);
	EXPECT_EQ(log.count, 4 * CYCLES);
	EXPECT_EQ(bad, 0);

	/* Put the devices back in their order: the doorbell one is ivshmem0. */
	for (int d = 0; d < 2; d++)
		ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr[d]));
	for (int d = 0; d < 2; d++)
		ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr[d]));
	ASSERT_EQ(wait_path("/dev/ivshmem1", true, 5000), 0);
	ASSERT_OK(dev_pci_addr("ivshmem0", now, sizeof(now)));
	EXPECT_TRUE(strcmp(now, addr[0]) == 0);
}

/* Every vector count of device 0, from IVSHMEM_CMD_GET. */
struct counts {
	uint64_t max;
	int vectors;
};

static int parse_counts(struct nl_msg *msg, void *arg)
{
	struct nlattr *attrs[IVSHMEM_ATTR_MAX + 1], *nest;
	struct counts *c = arg;
	int rem;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, attrs, IVSHMEM_ATTR_MAX, NULL) ||
	    !attrs[IVSHMEM_ATTR_IRQ_COUNTS])
		return NL_SKIP;
	nla_for_each_nested(nest, attrs[IVSHMEM_ATTR_IRQ_COUNTS], rem) {
		uint64_t v = nla_get_u64(nest);

		if (v > c->max)
			c->max = v;
		c->vectors++;
	}
	return NL_OK;
}

TEST_TIMEOUT(counters_never_underflow_under_reset, 120)
{
	struct nl_sock *sk = genl_open();
	struct counts c = { 0 };
	pid_t pid;
	int fd = dev_open(O_RDWR);
	struct ivshmem_info info;

	dev_get_info(fd, &info);
	ASSERT_GE(info.peer_id, 0);
	/* A child rings vector 0 of its own guest as fast as it can. */
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		for (;;)
			dev_ring(fd, info.peer_id, 0);
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, parse_counts, &c);
	for (int i = 0; i < 2000; i++) {
		EXPECT_EQ(genl_test_request(sk, family, IVSHMEM_CMD_RESET_STATS, 0, 0), 0);
		EXPECT_EQ(genl_test_request(sk, family, IVSHMEM_CMD_GET, 0, 0), 0);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	TH_LOG("largest count read right after a reset: %llu", (unsigned long long)c.max);
	EXPECT_GE(c.vectors, 1);
	EXPECT_TRUE(c.max < (1ULL << 32));
	nl_socket_free(sk);
	close(fd);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
