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
	/* Replies and events are taken as they come; acks only when asked. */
	nl_socket_disable_seq_check(sk);
	nl_socket_disable_auto_ack(sk);
	return sk;
}

static int request_done(struct nl_msg *msg, void *arg)
{
	(void)msg;
	*(bool *)arg = true;
	return NL_STOP;
}

int genl_test_request(struct nl_sock *sk, int family, uint8_t cmd, uint32_t index,
		      int flags)
{
	struct nl_msg *msg = nlmsg_alloc();
	bool done = false;
	int ret = -NLE_NOMEM;

	if (!msg)
		return ret;
	/*
	 * A request ends with its ack, a dump with its NLMSG_DONE: read up to
	 * there, so that nothing of this request is left for the next one.
	 */
	if (!(flags & NLM_F_DUMP))
		flags |= NLM_F_ACK;
	nl_socket_modify_cb(sk, NL_CB_ACK, NL_CB_CUSTOM, request_done, &done);
	nl_socket_modify_cb(sk, NL_CB_FINISH, NL_CB_CUSTOM, request_done, &done);
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, cmd,
			 IVSHMEM_GENL_VERSION) ||
	    (!(flags & NLM_F_DUMP) && nla_put_u32(msg, IVSHMEM_ATTR_INDEX, index)))
		goto out;
	ret = nl_send_auto(sk, msg);
	while (ret >= 0 && !done)
		ret = nl_recvmsgs_default(sk);
out:
	nlmsg_free(msg);
	return ret < 0 ? ret : 0;
}
