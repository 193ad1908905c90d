// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem and the driver's generic netlink family, in a guest with a
 * doorbell device (ivshmem0) and a plain one (ivshmem1).  The host runs a
 * host peer (ID $ivt_host_peer) that answers a message in the shared
 * memory: see selftests/host/peer_echo.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
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
	const struct ivshmem_dev_desc *d;
	struct ivshmem_dev_list *list;
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	size_t n;

	ASSERT_EQ(ivshmem_list(&list), 0);
	n = ivshmem_dev_list_count(list);
	ASSERT_EQ(n, 2);
	for (size_t i = 0; i < n; i++) {
		d = ivshmem_dev_list_get(list, i);
		EXPECT_EQ(ivshmem_dev_desc_get_index(d), i);
		ASSERT_EQ(ivshmem_open_index(ivshmem_dev_desc_get_index(d), &dev), 0);
		ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
		EXPECT_EQ(ivshmem_dev_desc_get_size(d), ivshmem_dev_info_get_size(info));
		EXPECT_EQ(ivshmem_dev_desc_get_peer_id(d), ivshmem_dev_info_get_peer_id(info));
		EXPECT_EQ(ivshmem_dev_desc_get_vectors(d), ivshmem_dev_info_get_vectors(info));
		EXPECT_EQ(ivshmem_dev_desc_get_irq_mode(d), ivshmem_dev_info_get_irq_mode(info));
		EXPECT_EQ(ivshmem_dev_desc_get_revision(d), ivshmem_dev_info_get_revision(info));
		EXPECT_EQ(ivshmem_dev_desc_is_ready(d), ivshmem_dev_info_is_ready(info));
		EXPECT_EQ(sysfs_attr_long(ivshmem_dev_desc_get_name(d), "size"),
			  (long)ivshmem_dev_info_get_size(info));
		ivshmem_dev_info_free(info);
		ivshmem_close(dev);
	}
	EXPECT_EQ(ivshmem_dev_desc_get_irq_mode(ivshmem_dev_list_get(list, 0)), IVSHMEM_IRQ_MSIX);
	EXPECT_EQ(ivshmem_dev_desc_get_irq_mode(ivshmem_dev_list_get(list, 1)), IVSHMEM_IRQ_NONE);
	ivshmem_dev_list_free(list);
}

TEST(describe_one_device_and_unknown_index)
{
	struct ivshmem_dev_desc *desc;
	char addr[32];

	ASSERT_EQ(ivshmem_describe(1, &desc), 0);
	EXPECT_EQ(ivshmem_dev_desc_get_index(desc), 1);
	EXPECT_TRUE(!strcmp(ivshmem_dev_desc_get_name(desc), "ivshmem1"));
	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	EXPECT_TRUE(!strcmp(ivshmem_dev_desc_get_pci_addr(desc), addr));
	ivshmem_dev_desc_free(desc);
	EXPECT_EQ(ivshmem_describe(7, &desc), -ENODEV);
}

TEST(open_by_path_index_and_pci_address)
{
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	char addr[32];

	ASSERT_OK(dev_pci_addr("ivshmem1", addr, sizeof(addr)));
	ASSERT_EQ(ivshmem_open_pci(addr, &dev), 0);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_index(info), 1);
	ivshmem_dev_info_free(info);
	ivshmem_close(dev);
	/* The domain may be left out. */
	ASSERT_EQ(ivshmem_open_pci(addr + 5, &dev), 0);
	ivshmem_close(dev);
	ASSERT_EQ(ivshmem_open("/dev/ivshmem0", &dev), 0);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_index(info), 0);
	EXPECT_TRUE(!ivshmem_dev_info_is_host_peer(info));
	ivshmem_dev_info_free(info);
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
	EXPECT_EQ(ivshmem_open_server("/nonexistent.sock", NULL, &dev), -ENOENT);
}

TEST(map_whole_and_part)
{
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), size;
	uint8_t *whole, *part;

	ASSERT_EQ(ivshmem_open_index(1, &dev), 0);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	size = (size_t)ivshmem_dev_info_get_size(info);
	ivshmem_dev_info_free(info);
	ASSERT_EQ(ivshmem_map(dev, 0, 0, PROT_READ | PROT_WRITE, (void **)&whole), 0);
	ASSERT_EQ(ivshmem_map(dev, page, page, PROT_READ, (void **)&part), 0);
	whole[page + 5] = 0x5a;
	EXPECT_EQ(part[5], 0x5a);
	EXPECT_EQ(ivshmem_map(dev, 1, page, PROT_READ, (void **)&part), -EINVAL);
	EXPECT_EQ(ivshmem_map(dev, size, page, PROT_READ, (void **)&part), -EINVAL);
	EXPECT_EQ(ivshmem_map(dev, 0, size + page, PROT_READ, (void **)&part), -EINVAL);
	EXPECT_EQ(ivshmem_unmap(whole, size), 0);
	ivshmem_close(dev);
}

TEST(ring_self_wakes_vector_fd_and_wait_and_counts)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 }, count;
	struct ivshmem_dev_desc *before, *after;
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	int efd;

	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_wait_ready(dev, 1000), 0);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	ASSERT_EQ(ivshmem_describe(0, &before), 0);
	efd = ivshmem_vector_fd(dev, 2);
	ASSERT_GE(efd, 0);
	EXPECT_EQ(ivshmem_vector_fd(dev, 2), efd);
	EXPECT_EQ(ivshmem_vector_fd(dev, ivshmem_dev_info_get_vectors(info)), -EINVAL);

	ASSERT_EQ(ivshmem_ring(dev, (unsigned int)ivshmem_dev_info_get_peer_id(info), 2), 0);
	ASSERT_TRUE(fd_readable(efd, EVENT_MS));
	ASSERT_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	set[0] = 1 << 2 | 1 << 1;
	ASSERT_EQ(ivshmem_wait(dev, set, EVENT_MS), 0);
	EXPECT_EQ(set[0], 1 << 2);

	ASSERT_EQ(ivshmem_describe(0, &after), 0);
	EXPECT_EQ(ivshmem_dev_desc_get_irq_count(after, 2),
		  ivshmem_dev_desc_get_irq_count(before, 2) + 1);
	EXPECT_EQ(ivshmem_dev_desc_get_doorbells_sent(after),
		  ivshmem_dev_desc_get_doorbells_sent(before) + 1);
	ivshmem_dev_desc_free(before);
	ivshmem_dev_desc_free(after);
	ivshmem_dev_info_free(info);

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
	struct ivshmem_dev_desc *desc;
	struct ivshmem *dev;
	int status;
	pid_t pid;

	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_ring(dev, 9, 0), 0);		/* nobody: only counted */
	ivshmem_close(dev);
	ASSERT_EQ(ivshmem_describe(0, &desc), 0);
	ASSERT_GE(ivshmem_dev_desc_get_doorbells_sent(desc), 1);
	ivshmem_dev_desc_free(desc);

	/* Without CAP_NET_ADMIN: refused, counters kept. */
	pid = fork();
	if (pid == 0)
		_exit(setuid(65534) == 0 && ivshmem_reset_stats(0) == -EPERM ? 0 : 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EQ(status, 0);
	ASSERT_EQ(ivshmem_describe(0, &desc), 0);
	EXPECT_GE(ivshmem_dev_desc_get_doorbells_sent(desc), 1);
	ivshmem_dev_desc_free(desc);

	ASSERT_EQ(ivshmem_reset_stats(0), 0);
	ASSERT_EQ(ivshmem_describe(0, &desc), 0);
	EXPECT_EQ(ivshmem_dev_desc_get_doorbells_sent(desc), 0);
	for (unsigned int v = 0; v < ivshmem_dev_desc_get_vectors(desc); v++)
		EXPECT_EQ(ivshmem_dev_desc_get_irq_count(desc, v), 0);
	ivshmem_dev_desc_free(desc);
	EXPECT_EQ(ivshmem_reset_stats(7), -ENODEV);
}

/*
 * Netlink's answers are public (README, "Generic netlink"): a user without
 * privilege, who cannot open the devices, lists them with the same
 * descriptions and counters root gets, and may follow the events.
 */
TEST(unprivileged_user_reads_what_root_reads)
{
	const struct ivshmem_dev_desc *d, *r;
	struct ivshmem_dev_list *root, *list;
	struct ivshmem_monitor *mon;
	int status, code = 0;
	pid_t pid;

	ASSERT_EQ(ivshmem_list(&root), 0);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		if (open(dev_path(), O_RDONLY) >= 0 || errno != EACCES)
			_exit(11);	/* the test needs a device it cannot open */
		if (ivshmem_list(&list))
			_exit(12);
		if (ivshmem_dev_list_count(list) != ivshmem_dev_list_count(root))
			_exit(13);
		for (size_t i = 0; i < ivshmem_dev_list_count(list); i++) {
			d = ivshmem_dev_list_get(list, i);
			r = ivshmem_dev_list_get(root, i);
			if (ivshmem_dev_desc_get_size(d) != ivshmem_dev_desc_get_size(r) ||
			    ivshmem_dev_desc_get_peer_id(d) != ivshmem_dev_desc_get_peer_id(r) ||
			    ivshmem_dev_desc_get_vectors(d) != ivshmem_dev_desc_get_vectors(r) ||
			    strcmp(ivshmem_dev_desc_get_pci_addr(d),
				   ivshmem_dev_desc_get_pci_addr(r)) != 0)
				_exit(14);
			if (ivshmem_dev_desc_get_doorbells_sent(d) <
			    ivshmem_dev_desc_get_doorbells_sent(r))
				_exit(15);
			for (unsigned int v = 0; v < ivshmem_dev_desc_get_vectors(d); v++)
				if (ivshmem_dev_desc_get_irq_count(d, v) <
				    ivshmem_dev_desc_get_irq_count(r, v))
					_exit(16);
		}
		ivshmem_dev_list_free(list);
		if (ivshmem_monitor_open(&mon))
			_exit(17);
		ivshmem_monitor_close(mon);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	__CHECK(WIFEXITED(status) && code == 0, true, "the unprivileged child failed at step %d",
		code);
	ivshmem_dev_list_free(root);
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
	const struct ivshmem_dev_desc *d;
	struct ivshmem_event *ev;

	ASSERT_EQ(ivshmem_monitor_read(mon, &ev, EVENT_MS), 0);
	d = ivshmem_event_get_desc(ev);
	TH_LOG("event %s %s %s", ivshmem_event_name(ivshmem_event_get_type(ev)),
	       ivshmem_dev_desc_get_name(d), ivshmem_dev_desc_get_pci_addr(d));
	EXPECT_EQ(ivshmem_event_get_type(ev), type);
	EXPECT_TRUE(!strcmp(ivshmem_dev_desc_get_name(d), name));
	ivshmem_event_free(ev);
}

TEST(monitor_sees_unbind_and_bind)
{
	struct ivshmem_monitor *mon;
	struct ivshmem_event *ev;
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
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	int32_t me;
	char *mbox;

	if (host < 0)
		SKIP("no host peer in this topology");
	ASSERT_EQ(ivshmem_open_index(0, &dev), 0);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	me = ivshmem_dev_info_get_peer_id(info);
	ivshmem_dev_info_free(info);
	ASSERT_EQ(ivshmem_map(dev, PEER_ECHO_OFFSET, PEER_ECHO_SIZE, PROT_READ | PROT_WRITE,
			      (void **)&mbox), 0);
	snprintf(mbox, PEER_ECHO_SIZE, "ping from %d", me);
	ASSERT_EQ(ivshmem_ring(dev, (unsigned int)host, 0), 0);
	ASSERT_EQ(ivshmem_wait(dev, set, 20000), 0);
	TH_LOG("host peer %ld answered: %s", host, mbox);
	EXPECT_TRUE(!strncmp(mbox, "pong to ", 8));
	EXPECT_EQ(strtol(mbox + 8, NULL, 10), me);
	ivshmem_unmap(mbox, PEER_ECHO_SIZE);
	ivshmem_close(dev);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
