/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mailbox through which lib_test (in a guest) and host/peer_echo (a
 * host peer) exchange one message: "ping from ID", answered "pong to ID".
 * The guest rings the host peer on vector 0; the answer comes on vector 1.
 */
#ifndef IVSHMEM_TEST_PEER_ECHO_H
#define IVSHMEM_TEST_PEER_ECHO_H

#define PEER_ECHO_OFFSET	0x60000000ULL	/* 1.5 GiB, clear of the patterns */
#define PEER_ECHO_SIZE		4096

#endif /* IVSHMEM_TEST_PEER_ECHO_H */
