// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem and the driver's generic netlink family, in a guest with a
 * doorbell device (ivshmem0) and a plain one (ivshmem1).  The host runs a
 * host peer (ID $ivt_host_peer) that answers a message in the shared
 * memory: see selftests/host/peer_echo.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "libivshmem.h"
#include "lib/ivshmem_test.h"
#include "lib/peer_echo.h"

#define DRIVER_DIR	"/sys/bus/pci/drivers/ivshmem"
#define EVENT_MS	5000

TEST(list_agrees_with_ioctl_info)
{
	struct ivshmem_dev_desc *descs;
	struct ivshmem_dev_info info;
	struct ivshmem *dev;
	size_t n;

	ASSERT_EQ(ivshmem_list(&descs, &n), 0);
	ASSERT_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		EXPECT_EQ(descs[i].index, i);
		ASSERT_EQ(ivshmem_open_index(descs[i].index, &dev), 0);
		ASSERT_EQ(ivshmem_info(dev, &info), 0);
		EXPECT_EQ(descs[i].size, info.size);
		EXPECT_EQ(descs[i].peer_id, info.peer_id);
		EXPECT_EQ(descs[i].vectors, info.vectors);
		EXPECT_EQ(descs[i].irq_mode, info.irq_mode);
		EXPECT_EQ(descs[i].revision, info.revision);
		EXPECT_EQ(descs[i].ready, info.ready);
		EXPECT_EQ(sysfs_attr_long(descs[i].name, "size"), (long)info.size);
		ivshmem_close(dev);
	}
	EXPECT_EQ(descs[0].irq_mode, IVSHMEM_IRQ_MSIX);
	EXPECT_EQ(descs[1].irq_mode, IVSHMEM_IRQ_NONE);
	free(descs);
}

TEST(describe_one_device_and_unknown_index)
{
	struct ivshmem_dev_desc desc;
	char addr[32];

	ASSERT_EQ(ivshmem_describe(1, &desc), 0);
	EXPECT_EQ(desc.index, 1);
	EXPECT_TRUE(!strcmp(desc.name, "ivshmem1"));
	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	EXPECT_TRUE(!strcmp(desc.pci_addr, addr));
	EXPECT_EQ(ivshmem_describe(7, &desc), -ENODEV);
}

TEST(open_by_path_index_and_pci_address)
{
	struct ivshmem_dev_info info;
	struct ivshmem *dev;
	char addr[32];

	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	ASSERT_EQ(ivshmem_open_pci(addr, &dev), 0);
	ASSERT_EQ(ivshmem_info(dev, &info), 0);
	EXPECT_EQ(info.index, 1);
	ivshmem_close(dev);
	/* The domain may be left out. */
	ASSERT_EQ(ivshmem_open_pci(addr + 5, &dev), 0);
	ivshmem_close(dev);
	ASSERT_EQ(ivshmem_open("/dev/ivshmem0", &dev), 0);
	ASSERT_EQ(ivshmem_info(dev, &info), 0);
	EXPECT_EQ(info.index, 0);
	EXPECT_TRUE(!info.host_peer);
	ivshmem_close(dev);
}

TEST(open_errors)
{
	struct ivshmem *dev;

	EXPECT_EQ(ivshmem_open("/dev/null", &dev), -ENOTTY);
	EXPECT_EQ(ivshmem_open("/dev/ivshmem9", &dev), -ENOENT);
	EXPECT_EQ(ivshmem_open_index(9, &dev), -ENOENT);
	EXPECT_EQ(ivshmem_open_pci("0000:00:1f.0", &dev), -ENODEV);
	EXPECT_EQ(ivshmem_open_pci("../../x", &dev), -EINVAL);
	EXPECT_EQ(ivshmem_open_server("/nonexistent.sock", &dev), -ENOENT);
}

TEST(map_whole_and_part)
{
	struct ivshmem_dev_info info;
	struct ivshmem *dev;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *whole, *part;

	ASSERT_EQ(ivshmem_open_index(1, &dev), 0);
	ASSERT_EQ(ivshmem_info(dev, &info), 0);
	ASSERT_EQ(ivshmem_map(dev, 0, 0, PROT_READ | PROT_WRITE, (void **)&whole), 0);
	ASSERT_EQ(ivshmem_map(dev, page, page, PROT_READ, (void **)&part), 0);
	whole[page + 5] = 0x5a;
	EXPECT_EQ(part[5], 0x5a);
	EXPECT_EQ(ivshmem_map(dev, 1, page, PROT_READ, (void **)&part), -EINVAL);
	EXPECT_EQ(ivshmem_map(dev, info.size, page, PROT_READ, (void **)&part), -EINVAL);
	EXPECT_EQ(ivshmem_map(dev, 0, info.size + page, PROT_READ, (void **)&part), -EINVAL);
	EXPECT_EQ(ivshmem_unmap(whole, info.size), 0);
	ivshmem_close(dev);
}

TEST(ring_self_wakes_vector_fd_and_wait_and_counts)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 }, count;
	struct ivshmem_dev_desc before, after;
	struct ivshmem_dev_info info;
	struct ivshmem *dev;
	int efd;

	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_wait_ready(dev, 1000), 0);
	ASSERT_EQ(ivshmem_info(dev, &info), 0);
	ASSERT_EQ(ivshmem_describe(0, &before), 0);
	efd = ivshmem_vector_fd(dev, 2);
	ASSERT_GE(efd, 0);
	EXPECT_EQ(ivshmem_vector_fd(dev, 2), efd);
	EXPECT_EQ(ivshmem_vector_fd(dev, info.vectors), -EINVAL);

	ASSERT_EQ(ivshmem_ring(dev, (unsigned int)info.peer_id, 2), 0);
	ASSERT_TRUE(fd_readable(efd, EVENT_MS));
	ASSERT_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	set[0] = 1 << 2 | 1 << 1;
	ASSERT_EQ(ivshmem_wait(dev, set, EVENT_MS), 0);
	EXPECT_EQ(set[0], 1 << 2);

	ASSERT_EQ(ivshmem_describe(0, &after), 0);
	EXPECT_EQ(after.irq_counts[2], before.irq_counts[2] + 1);
	EXPECT_EQ(after.doorbells_sent, before.doorbells_sent + 1);

	set[0] = 1;
	EXPECT_EQ(ivshmem_wait(dev, set, 50), -ETIMEDOUT);
	set[0] = 0;
	EXPECT_EQ(ivshmem_wait(dev, set, 50), -EINVAL);
	EXPECT_EQ(ivshmem_ring(dev, 65536, 0), -EINVAL);
	EXPECT_EQ(ivshmem_ring(dev, 0, 256), -EINVAL);
	ivshmem_close(dev);
}

TEST(plain_device_refuses_doorbells)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 };
	struct ivshmem *dev;

	ASSERT_EQ(ivshmem_open_index(1, &dev), 0);
	EXPECT_EQ(ivshmem_ring(dev, 0, 0), -EOPNOTSUPP);
	EXPECT_EQ(ivshmem_wait(dev, set, 0), -EOPNOTSUPP);
	EXPECT_EQ(ivshmem_vector_fd(dev, 0), -EOPNOTSUPP);
	ivshmem_close(dev);
}

TEST(reset_stats_zeroes_counters_for_admin_only)
{
	struct ivshmem_dev_desc desc;
	struct ivshmem *dev;
	int status;
	pid_t pid;

	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_ring(dev, 9, 0), 0);		/* nobody: only counted */
	ivshmem_close(dev);
	ASSERT_EQ(ivshmem_describe(0, &desc), 0);
	ASSERT_GE(desc.doorbells_sent, 1);

	/* Without CAP_NET_ADMIN: refused, counters kept. */
	pid = fork();
	if (pid == 0)
		_exit(setuid(65534) == 0 && ivshmem_reset_stats(0) == -EPERM ? 0 : 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EQ(status, 0);
	ASSERT_EQ(ivshmem_describe(0, &desc), 0);
	EXPECT_GE(desc.doorbells_sent, 1);

	ASSERT_EQ(ivshmem_reset_stats(0), 0);
	ASSERT_EQ(ivshmem_describe(0, &desc), 0);
	EXPECT_EQ(desc.doorbells_sent, 0);
	for (unsigned int v = 0; v < desc.vectors; v++)
		EXPECT_EQ(desc.irq_counts[v], 0);
	EXPECT_EQ(ivshmem_reset_stats(7), -ENODEV);
}

/* Send a raw request to the family; the kernel's errno, or 0. */
static int raw_request(uint8_t cmd, int flags, int attr, const void *data, int len)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = nlmsg_alloc();
	int family, ret;

	if (!sk || !msg || genl_connect(sk) < 0)
		return -EIO;
	family = genl_ctrl_resolve(sk, IVSHMEM_GENL_NAME);
	genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags | NLM_F_ACK, cmd,
		    IVSHMEM_GENL_VERSION);
	if (attr)
		nla_put(msg, attr, len, data);
	ret = nl_send_sync(sk, msg);	/* frees msg; waits for the ACK */
	nl_socket_free(sk);
	return ret;
}

TEST(bad_netlink_requests_are_rejected)
{
	uint32_t index = 0;
	uint8_t small = 0;

	EXPECT_EQ(raw_request(IVSHMEM_CMD_GET, 0, IVSHMEM_ATTR_INDEX, &index, 4), 0);
	/* No index, a too-short index, an unknown attribute, an unknown command. */
	EXPECT_EQ(raw_request(IVSHMEM_CMD_GET, 0, 0, NULL, 0), -NLE_INVAL);
	EXPECT_EQ(raw_request(IVSHMEM_CMD_GET, 0, IVSHMEM_ATTR_INDEX, &small, 1), -NLE_INVAL);
	EXPECT_EQ(raw_request(IVSHMEM_CMD_GET, 0, IVSHMEM_ATTR_MAX + 5, &index, 4), -NLE_INVAL);
	EXPECT_EQ(raw_request(IVSHMEM_CMD_MAX + 10, 0, 0, NULL, 0), -NLE_OPNOTSUPP);
	/* Events are not requests. */
	EXPECT_EQ(raw_request(IVSHMEM_CMD_ADDED, 0, 0, NULL, 0), -NLE_OPNOTSUPP);
}

static void expect_event(struct ivshmem_monitor *mon, enum ivshmem_event_type type,
			 const char *name)
{
	struct ivshmem_event ev;

	ASSERT_EQ(ivshmem_monitor_read(mon, &ev, EVENT_MS), 0);
	TH_LOG("event %s %s %s", ivshmem_event_name(ev.type), ev.dev.name, ev.dev.pci_addr);
	EXPECT_EQ(ev.type, type);
	EXPECT_TRUE(!strcmp(ev.dev.name, name));
}

TEST(monitor_sees_unbind_and_bind)
{
	struct ivshmem_monitor *mon;
	struct ivshmem_event ev;
	char addr[32];

	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	ASSERT_EQ(ivshmem_monitor_open(&mon), 0);
	ASSERT_GE(ivshmem_monitor_fd(mon), 0);
	EXPECT_EQ(ivshmem_monitor_read(mon, &ev, 0), -ETIMEDOUT);

	ASSERT_OK(sysfs_write(DRIVER_DIR "/unbind", addr));
	expect_event(mon, IVSHMEM_EVENT_REMOVED, "ivshmem1");
	ASSERT_OK(sysfs_write(DRIVER_DIR "/bind", addr));
	expect_event(mon, IVSHMEM_EVENT_ADDED, "ivshmem1");
	expect_event(mon, IVSHMEM_EVENT_READY, "ivshmem1");
	EXPECT_EQ(ivshmem_monitor_read(mon, &ev, 100), -ETIMEDOUT);
	ivshmem_monitor_close(mon);
}

/*
 * The host peer (selftests/host/peer_echo.c) answers a message in the
 * mailbox: we ring it, it rings us back.
 */
TEST(host_peer_and_guest_ring_each_other)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 << 1 };
	long host = env_long("ivt_host_peer", -1);
	struct ivshmem_dev_info info;
	struct ivshmem *dev;
	char *mbox;

	if (host < 0)
		SKIP("no host peer in this topology");
	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_info(dev, &info), 0);
	ASSERT_EQ(ivshmem_map(dev, PEER_ECHO_OFFSET, PEER_ECHO_SIZE, PROT_READ | PROT_WRITE,
			      (void **)&mbox), 0);
	snprintf(mbox, PEER_ECHO_SIZE, "ping from %d", info.peer_id);
	ASSERT_EQ(ivshmem_ring(dev, (unsigned int)host, 0), 0);
	ASSERT_EQ(ivshmem_wait(dev, set, 20000), 0);
	TH_LOG("host peer %ld answered: %s", host, mbox);
	EXPECT_TRUE(!strncmp(mbox, "pong to ", 8));
	EXPECT_EQ(strtol(mbox + 8, NULL, 10), info.peer_id);
	ivshmem_unmap(mbox, PEER_ECHO_SIZE);
	ivshmem_close(dev);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
