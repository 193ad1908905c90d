/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The driver's generic netlink family spoken directly through libnl, for
 * tests that must not depend on libivshmem.
 */
#ifndef IVSHMEM_GENL_UTIL_H
#define IVSHMEM_GENL_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

/*
 * A connected socket, sequence checks and automatic acks off; *family gets
 * the family ID.
 */
struct nl_sock *genl_test_open(int *family);

/*
 * Send @cmd (with IVSHMEM_ATTR_INDEX @index unless @flags has NLM_F_DUMP)
 * and receive the replies into the socket's NL_CB_VALID callback, up to the
 * request's ack (the dump's end).  Returns 0 or a negative libnl error.
 */
int genl_test_request(struct nl_sock *sk, int family, uint8_t cmd, uint32_t index,
		      int flags);

#endif /* IVSHMEM_GENL_UTIL_H */
