// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE	/* libnl's headers need struct addrinfo */
#include <linux/ivshmem.h>

#include "genl_util.h"

struct nl_sock *genl_test_open(int *family)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return NULL;
	if (genl_connect(sk) || (*family = genl_ctrl_resolve(sk, IVSHMEM_GENL_NAME)) <= 0) {
		nl_socket_free(sk);
		return NULL;
	}
	/* Replies, acks and events are taken as they come. */
	nl_socket_disable_seq_check(sk);
	return sk;
}

int genl_test_request(struct nl_sock *sk, int family, uint8_t cmd, uint32_t index,
		      int flags)
{
	struct nl_msg *msg = nlmsg_alloc();
	int ret = -NLE_NOMEM;

	if (!msg)
		return ret;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, cmd,
			 IVSHMEM_GENL_VERSION) ||
	    (!(flags & NLM_F_DUMP) && nla_put_u32(msg, IVSHMEM_ATTR_INDEX, index)))
		goto out;
	ret = nl_send_auto(sk, msg);
	if (ret >= 0)
		ret = nl_recvmsgs_default(sk);
out:
	nlmsg_free(msg);
	return ret < 0 ? ret : 0;
}
