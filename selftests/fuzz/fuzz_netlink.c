// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: libivshmem's parser of the driver's netlink replies and
 * events.  Input: the generic netlink header and attributes of one message,
 * put behind a netlink header.  The message ends where an inaccessible page
 * begins, so that reads past it fault even in libnl, which is not built
 * with ASan.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "internal.h"

#define AREA_PAGES	16

static char *area;
static size_t area_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	(void)argc;
	(void)argv;
	area_len = AREA_PAGES * page;
	area = mmap(NULL, area_len + page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || mprotect(area + area_len, page, PROT_NONE))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivshmem_dev_desc *d;
	struct nlmsghdr *nlh;
	/* Netlink messages are 4-byte aligned; the padding is the only slack. */
	size_t len = NLMSG_HDRLEN + size, room = NLMSG_ALIGN(len);

	if (room > area_len)
		return 0;
	nlh = (struct nlmsghdr *)(area + area_len - room);
	memset(nlh, 0, room);
	memcpy((char *)nlh + NLMSG_HDRLEN, data, size);
	nlh->nlmsg_len = (uint32_t)len;
	nlh->nlmsg_type = GENL_ID_CTRL + 1;
	d = malloc(sizeof(*d));
	if (!d)
		abort();
	memset(d, 0xa5, sizeof(*d));
	if (ivshmem_nl_parse_desc(nlh, d) == 0) {
		/* What callers read: strings terminated, counts in range. */
		if (strnlen(ivshmem_dev_desc_get_name(d), sizeof(d->name)) >= sizeof(d->name) ||
		    strnlen(ivshmem_dev_desc_get_pci_addr(d), sizeof(d->pci_addr)) >=
		    sizeof(d->pci_addr))
			abort();
		for (unsigned int v = 0; v <= IVSHMEM_MAX_VECTORS; v++)
			(void)ivshmem_dev_desc_get_irq_count(d, v);
	}
	free(d);
	return 0;
}
