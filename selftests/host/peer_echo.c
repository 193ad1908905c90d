// SPDX-License-Identifier: GPL-2.0
/*
 * A host peer for lib_test: joins an ivshmem-server through libivshmem,
 * prints its peer ID, then answers one "ping from ID" in the mailbox with
 * "pong to ID" and a doorbell on the sender's vector 1.
 *
 * usage: peer_echo SOCKET TIMEOUT_S
 * Exit status 0 once it has answered, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "libivshmem.h"
#include "lib/peer_echo.h"

static int fail(const char *what, int err)
{
	fprintf(stderr, "peer_echo: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 };
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;
	char *mbox;
	int ret, from;

	if (argc != 3) {
		fprintf(stderr, "usage: peer_echo SOCKET TIMEOUT_S\n");
		return 2;
	}
	ret = ivshmem_open_server(argv[1], NULL, &dev);
	if (ret)
		return fail("join", ret);
	ret = ivshmem_get_info(dev, &info);
	if (ret)
		return fail("info", ret);
	printf("peer_echo: id %d, %u vectors\n", ivshmem_dev_info_get_peer_id(info),
	       ivshmem_dev_info_get_vectors(info));
	ivshmem_dev_info_free(info);
	fflush(stdout);

	ret = ivshmem_map(dev, PEER_ECHO_OFFSET, PEER_ECHO_SIZE, PROT_READ | PROT_WRITE,
			  (void **)&mbox);
	if (ret)
		return fail("map", ret);
	ret = ivshmem_wait(dev, set, (int)strtol(argv[2], NULL, 10) * 1000);
	if (ret)
		return fail("wait", ret);
	if (strncmp(mbox, "ping from ", 10) != 0)
		return fail("mailbox holds no ping", -EPROTO);
	from = (int)strtol(mbox + 10, NULL, 10);
	printf("peer_echo: got \"%.32s\"\n", mbox);
	snprintf(mbox, PEER_ECHO_SIZE, "pong to %d", from);
	ret = ivshmem_ring(dev, (unsigned int)from, 1);
	if (ret)
		return fail("ring", ret);
	ivshmem_unmap(mbox, PEER_ECHO_SIZE);
	ivshmem_close(dev);
	return 0;
}
